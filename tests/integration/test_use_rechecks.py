"""Every use of a session checks its user again: attaching a browser's tunnel, and each channel
of an SSH proxy connection logged in a while ago, are refused once the user's `connect` on the
asset is revoked, the user is locked or deleted; so is an RDP pass-through's client that
arrives after the revoke. Sessions belong to the user's id: a new user
with a deleted one's login sees none of its sessions and recordings, and attaches none."""

from __future__ import annotations

import asyncio
import socket
import time

import pytest

from pamnode.core.ssh_library import asyncssh
from pamnode.lab.ports import free_port
from pamnode.lab.tunnel_client import TunnelClient, run_command
from tests.support.assets import add_asset
from tests.support.identity import PASSWORD, create_tenant, error_of, expect
from tests.support.jobs import ssh_host
from tests.support.listener import Listener
from tests.support.sessions import open_session, wait_session

COMMAND = "echo marker-$((6*7))"


@pytest.fixture(scope="module")
def db_kind() -> str:
    # What is checked is read through the same services on either database.
    return "sqlite"


@pytest.fixture(scope="module")
def lab(node_factory, sshd):
    ssh_port = free_port()
    main = node_factory("main", env={"PAMNODE_SSH_PROXY_PORT": str(ssh_port)})
    admin = create_tenant(main, "corp")
    with main.client("corp", token=admin) as client:
        host = ssh_host(client, sshd, "web")
    return {"main": main, "admin": admin, "host": host["id"], "ssh_port": ssh_port}


@pytest.fixture
def api(lab):
    with lab["main"].client("corp", token=lab["admin"]) as client:
        yield client


def _operator(api, lab, login: str, new_user: bool = True, asset: str = "") -> str:
    """The user (made if `new_user`) as an operator of the host; the grant's id."""
    if new_user:
        expect(api.post("users", json={"login": login, "password": PASSWORD}), 201)
    body = {"principal": login, "role": "operator"}
    path = f"assets/{asset or lab['host']}/permissions"
    return str(expect(api.post(path, json=body), 201)["id"])


def _revoke(api, lab, grant: str, asset: str = "") -> None:
    expect(api.delete(f"assets/{asset or lab['host']}/permissions/{grant}"), 204)


def test_a_revoked_operator_cannot_attach(lab, api):
    grant = _operator(api, lab, "olga")
    olga = lab["main"].login("corp", "root", "olga", PASSWORD)
    with lab["main"].client("corp", token=olga) as client:
        opened = open_session(client, lab["host"])
    _revoke(api, lab, grant)

    with TunnelClient(lab["main"], opened["tunnel"], olga) as tunnel:
        seen = tunnel.pump(10)
    assert seen.errors, seen
    assert "may no longer connect to 'web'" in seen.errors[0][0]
    assert seen.errors[0][1] == str(0x0303)
    # Nothing was carried: the session never left pending.
    assert wait_session(api, opened["id"], {"pending"})["started_at"] is None


async def _run(conn: asyncssh.SSHClientConnection, command: str) -> tuple[str, str]:
    done = await conn.run(command, check=False, timeout=60)
    return str(done.stdout), str(done.stderr)


def test_each_proxy_channel_checks_the_user_again(lab, api):
    grant = _operator(api, lab, "otto")

    async def scenario() -> None:
        async with asyncssh.connect(
            "127.0.0.1",
            lab["ssh_port"],
            username="otto@corp#web",
            password=PASSWORD,
            known_hosts=None,
            agent_path=None,
            config=None,
            client_keys=None,
        ) as conn:
            assert await _run(conn, "echo one") == ("one\n", "")

            await asyncio.to_thread(_revoke, api, lab, grant)
            out, err = await _run(conn, "echo two")
            assert out == "" and err.startswith("pamnode: ")

            await asyncio.to_thread(_operator, api, lab, "otto", False)
            assert await _run(conn, "echo three") == ("three\n", "")

            lock = {"locked": True}
            await asyncio.to_thread(lambda: expect(api.patch("users/otto", json=lock), 200))
            out, err = await _run(conn, "echo four")
            assert (out, err) == ("", "pamnode: user 'otto' is locked\r\n")

            unlock = {"locked": False}
            await asyncio.to_thread(lambda: expect(api.patch("users/otto", json=unlock), 200))
            # A live channel ends with its user's deletion; a later one is refused.
            live = asyncio.create_task(_run(conn, "sleep 60; echo late"))
            await asyncio.to_thread(_wait_active, api)
            started = time.monotonic()
            await asyncio.to_thread(lambda: expect(api.delete("users/otto"), 204))
            out, _ = await asyncio.wait_for(live, 30)
            assert "late" not in out and time.monotonic() - started < 30
            out, err = await _run(conn, "echo five")
            assert (out, err) == ("", "pamnode: user 'otto' no longer exists\r\n")

    asyncio.run(scenario())


def test_an_rdp_client_arriving_after_the_revoke_is_not_carried(lab, api):
    desk = Listener("127.0.0.1", free_port())
    try:
        properties = {"host": "127.0.0.1", "session_port": desk.server.getsockname()[1]}
        asset = add_asset(api, "desk", "windows-host", properties=properties)["id"]
        grant = _operator(api, lab, "rita", asset=asset)
        rita = lab["main"].login("corp", "root", "rita", PASSWORD)
        with lab["main"].client("corp", token=rita) as client:
            offer = expect(client.post(f"assets/{asset}/rdp-proxy"), 201)
        _revoke(api, lab, grant, asset)

        with socket.create_connection(("127.0.0.1", offer["port"]), timeout=30) as rdp_client:
            rdp_client.sendall(b"\x03\x00\x00\x13")
            assert rdp_client.recv(64) == b""
        row = wait_session(api, offer["session_id"], {"completed", "failed"})
        assert (row["state"], row["error_code"]) == ("failed", "connect_revoked")
        assert "may no longer connect to 'desk'" in row["error"]
        assert desk.connections == 0
    finally:
        desk.close()


def _wait_active(api) -> dict:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        page = expect(api.get("sessions", params={"state": "active"}), 200)
        if page["sessions"]:
            return dict(page["sessions"][0])
        time.sleep(0.2)
    raise AssertionError("no session became active")


def test_a_deleted_users_sessions_end_and_its_namesake_gets_none_of_them(lab, api):
    main = lab["main"]
    _operator(api, lab, "nina")
    nina = main.login("corp", "root", "nina", PASSWORD)
    with main.client("corp", token=nina) as client:
        carried = open_session(client, lab["host"])
        run_command(main, nina, carried["tunnel"], COMMAND)
        done = wait_session(client, carried["id"], {"completed", "failed"})
        assert "typescript" in done["recordings"], done
        pending = open_session(client, lab["host"])
        assert expect(client.get("sessions"), 200)["total"] == 2

    expect(api.delete("users/nina"), 204)
    ended = wait_session(api, pending["id"], {"completed", "failed"})
    assert (ended["state"], ended["error"]) == ("completed", "ended: its user was deleted")
    assert ended["terminated_by"] == "tadmin"

    _operator(api, lab, "nina")
    namesake = main.login("corp", "root", "nina", PASSWORD)
    with main.client("corp", token=namesake) as client:
        assert expect(client.get("sessions"), 200)["total"] == 0
        for path in (f"sessions/{carried['id']}", f"sessions/{pending['id']}"):
            assert error_of(client.get(path), 404)["code"] == "session_not_found"
        kind = {"kind": "typescript"}
        recording = client.get(f"sessions/{carried['id']}/recording", params=kind)
        assert error_of(recording, 404)["code"] == "session_not_found"
    with TunnelClient(main, pending["tunnel"], namesake) as tunnel:
        seen = tunnel.pump(10)
    assert seen.errors and "you have no session" in seen.errors[0][0]
    # The administrator still reads the old sessions, under the login that opened them.
    old = expect(api.get(f"sessions/{carried['id']}"), 200)
    assert old["requested_by"] == "nina" and old["state"] == "completed"
