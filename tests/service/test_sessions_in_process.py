"""Access and Reports > Sessions in-process: who may open, see and end a session, and what an
asset's properties choose. (Sessions that really connect run in tests/integration.)"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update

from pamnode.db.base import utcnow
from pamnode.sessions.models import Session
from tests.support.identity import PASSWORD


@pytest.fixture(scope="module")
async def corp(node):
    return await node.tenant("sessions-corp")


async def _post(client, path: str, body: dict | None = None, status: int = 201) -> dict:
    response = await client.post(path, json=body)
    assert response.status_code == status, response.text
    return dict(response.json())


async def _windows_and_unix(client) -> tuple[str, str]:
    windows = await _post(
        client,
        "assets",
        {"name": "win-1", "type": "windows-host", "properties": {"host": "10.0.0.9"}},
    )
    unix = await _post(
        client,
        "assets",
        {
            "name": "vnc-1",
            "type": "unix-host",
            "properties": {"host": "10.0.0.8", "protocol": "vnc", "session_port": 5901},
        },
    )
    return windows["id"], unix["id"]


async def test_properties_choose_the_channel_and_port(node, corp):
    async with node.as_("sessions-corp", corp) as admin:
        windows, vnc = await _windows_and_unix(admin)
        rdp = await _post(admin, f"assets/{windows}/sessions")
        assert (rdp["protocol"], rdp["state"]) == ("rdp", "pending")
        assert rdp["tunnel"] == f"/ztna/sessions-corp/root/sessions/{rdp['id']}/tunnel"
        details = (await admin.get(f"sessions/{rdp['id']}")).json()
        assert details["target"] == {"host": "10.0.0.9", "port": 3389}
        assert (
            await admin.get(f"sessions/{(await _post(admin, f'assets/{vnc}/sessions'))['id']}")
        ).json()["target"]["port"] == 5901

        bad = await admin.patch(f"assets/{vnc}", json={"properties": {"protocol": "telnet"}})
        assert bad.status_code == 422 and bad.json()["error"]["code"] == "unknown_session_protocol"
        box = await _post(admin, "assets", {"name": "box", "type": "container"})
        refused = await _post(admin, f"assets/{box['id']}/sessions", status=422)
        assert refused["error"]["code"] == "session_on_container"


async def test_only_the_opener_and_readers_see_it_and_an_administrator_ends_it(node, corp):
    async with node.as_("sessions-corp", corp) as admin:
        host = await _post(
            admin, "assets", {"name": "web-9", "type": "unix-host", "properties": {"host": "h9"}}
        )
        for login in ("olga", "otto"):
            await _post(admin, "users", {"login": login, "password": PASSWORD})
            grant = {"principal": login, "role": "operator"}
            await _post(admin, f"assets/{host['id']}/permissions", grant)
    olga = await node.login("sessions-corp", "olga")
    otto = await node.login("sessions-corp", "otto")
    async with node.as_("sessions-corp", olga) as client:
        opened = await _post(client, f"assets/{host['id']}/sessions")
        mine = (await client.get("sessions")).json()
        assert [s["id"] for s in mine["sessions"]] == [opened["id"]]
    async with node.as_("sessions-corp", otto) as client:
        assert (await client.get("sessions")).json()["total"] == 0
        hidden = await client.get(f"sessions/{opened['id']}")
        assert hidden.status_code == 404
    async with node.as_("sessions-corp", corp) as admin:
        ended = await _post(admin, f"sessions/{opened['id']}/terminate", status=200)
        assert (ended["state"], ended["terminated_by"]) == ("completed", "tadmin")
        again = await _post(admin, f"sessions/{opened['id']}/terminate", status=422)
        assert again["error"]["code"] == "session_finished"
        audit = (await admin.get("audit-events", params={"action": "session.terminate"})).json()
        assert any(event["details"]["session"] == opened["id"] for event in audit)


async def test_a_session_nobody_attached_to_ends_as_failed(node, corp):
    async with node.as_("sessions-corp", corp) as admin:
        host = await _post(
            admin, "assets", {"name": "idle-1", "type": "unix-host", "properties": {"host": "h1"}}
        )
        stale = await _post(admin, f"assets/{host['id']}/sessions")
        running = node.transport.app.state.node  # type: ignore[attr-defined]
        async with running.database.begin() as db:
            an_hour_ago = utcnow() - timedelta(hours=1)
            await db.execute(
                update(Session).where(Session.id == stale["id"]).values(created_at=an_hour_ago)
            )
        await _post(admin, f"assets/{host['id']}/sessions")
        ended = (await admin.get(f"sessions/{stale['id']}")).json()
        assert (ended["state"], ended["error_code"]) == ("failed", "session_unattached")
