"""Migration 0011 on both databases: sessions opened before it get their owner's id from the
login that opened them, in the session's own tenant, if that user still exists."""

from __future__ import annotations

from alembic import command

from pamnode.db.migrate import alembic_config
from tests.support.assets import add_asset
from tests.support.db import database_url, run_sql
from tests.support.identity import PASSWORD, add_user, create_tenant, expect
from tests.support.sessions import open_session


def _operator_session(node, login: str, asset_id: str) -> str:
    token = node.login("corp", "root", login, PASSWORD)
    with node.client("corp", token=token) as client:
        return str(open_session(client, asset_id)["id"])


def test_sessions_before_0011_get_their_owners_id(node_factory):
    node = node_factory("main")
    admin = create_tenant(node, "corp")
    other = create_tenant(node, "other")
    with node.client("other", token=other) as client:
        add_user(client, "mia")
    with node.client("corp", token=admin) as client:
        host = add_asset(client, "web")
        for login in ("mia", "leo"):
            add_user(client, login)
            body = {"principal": login, "role": "operator"}
            expect(client.post(f"assets/{host['id']}/permissions", json=body), 201)
        mine = _operator_session(node, "mia", host["id"])
        gone = _operator_session(node, "leo", host["id"])
        expect(client.delete("users/leo"), 204)
    node.stop()

    config = alembic_config(database_url(node))
    command.downgrade(config, "0010")
    command.upgrade(config, "head")

    [(mia,)] = run_sql(
        node,
        "SELECT users.id FROM users JOIN tenants ON tenants.id = users.tenant_id "
        "WHERE users.login = 'mia' AND tenants.name = 'corp'",
    )
    owners = dict(run_sql(node, "SELECT id, user_id FROM sessions"))
    assert owners == {mine: mia, gone: None}

    node.start()
    token = node.login("corp", "root", "mia", PASSWORD)
    with node.client("corp", token=token) as client:
        assert [s["id"] for s in expect(client.get("sessions"), 200)["sessions"]] == [mine]
