"""Asset permissions over HTTPS: inheritance down containers, roles, site roles, isolation."""

from __future__ import annotations

import pytest

from tests.support.assets import add_asset, add_chain
from tests.support.identity import PASSWORD, add_user, create_tenant, error_of, expect

VIEW_ONLY = ["view"]
OPERATE = ["view", "execute", "connect"]
MANAGE = ["view", "execute", "connect", "edit", "manage-peer-nodes"]
OWN = [*MANAGE, "grant"]


@pytest.fixture(scope="module")
def world(inprocess_node_factory):
    """acme/root: a three-level container chain with a host; users granted at the top."""
    node = inprocess_node_factory("perms")
    admin = create_tenant(node, "acme")
    with node.client("acme", token=admin) as client:
        for login in ("vic", "olga", "max", "owen", "late", "nobody"):
            add_user(client, login)
        add_user(client, "sam", "asset-manager")
        add_user(client, "aud", "auditor")
        chain = add_chain(client, "l1", "l2", "l3")
        host = add_asset(client, "deep-host", parent=chain[-1]["id"])
        side = add_asset(client, "side-host")
        for login, role in (("vic", "viewer"), ("olga", "operator"), ("max", "asset-manager")):
            grant(client, chain[0]["id"], login, role)
        grant(client, chain[0]["id"], "owen", "owner")
        expect(client.post("sites", json={"name": "east"}), 201)
    ids = {a["name"]: a["id"] for a in [*chain, host, side]}
    sessions = {}

    def as_user(login, site="root"):
        if (login, site) not in sessions:
            sessions[login, site] = node.login("acme", site, login, PASSWORD)
        return node.client("acme", site, token=sessions[login, site])

    return node, admin, ids, as_user


def grant(client, asset_id, login, role):
    body = {"principal": login, "role": role}
    return expect(client.post(f"assets/{asset_id}/permissions", json=body), 201)


def access(client, asset_id):
    return expect(client.get(f"assets/{asset_id}/access"), 200)


@pytest.mark.parametrize(
    ("login", "role", "actions"),
    [
        ("vic", "viewer", VIEW_ONLY),
        ("olga", "operator", OPERATE),
        ("max", "asset-manager", MANAGE),
        ("owen", "owner", OWN),
    ],
)
def test_a_grant_on_the_top_container_reaches_three_levels_down(world, login, role, actions):
    _, _, ids, as_user = world
    with as_user(login) as client:
        for name in ("l1", "l2", "l3", "deep-host"):
            found = access(client, ids[name])
            assert (found["role"], found["actions"]) == (role, actions), name
        seen = {a["name"]: a["role"] for a in expect(client.get("assets"), 200)}
        assert seen == dict.fromkeys(["l1", "l2", "l3", "deep-host"], role)
        tree = expect(client.get("assets/tree"), 200)
        assert [n["name"] for n in tree] == ["l1"]
        assert tree[0]["children"][0]["children"][0]["children"][0]["name"] == "deep-host"
        # Outside the granted container the same user sees nothing.
        assert error_of(client.get(f"assets/{ids['side-host']}"), 404)["code"] == "asset_not_found"


def test_a_viewer_can_neither_execute_nor_edit(world):
    _, _, ids, as_user = world
    host = ids["deep-host"]
    with as_user("vic") as vic:
        assert "execute" not in access(vic, host)["actions"]
        refused = error_of(vic.patch(f"assets/{host}", json={"description": "x"}), 403)
        assert refused["code"] == "asset_permission_denied"
        assert "vic' is viewer on unix-host 'deep-host'" in refused["message"]
        assert "needs the asset-manager asset permission" in refused["message"]
        assert vic.delete(f"assets/{host}").status_code == 403
        secret = {"secrets": {"password": "nope-1234"}}
        assert vic.patch(f"assets/{host}", json=secret).status_code == 403
        assert (
            vic.post(
                f"assets/{host}/permissions", json={"principal": "vic", "role": "owner"}
            ).status_code
            == 403
        )
        new = {"name": "x", "type": "container", "parent_id": ids["l3"]}
        assert vic.post("assets", json=new).status_code == 403
        assert vic.get(f"assets/{host}/permissions").status_code == 403


def test_an_operator_can_execute_but_not_edit(world):
    _, _, ids, as_user = world
    host = ids["deep-host"]
    with as_user("olga") as olga:
        assert access(olga, host)["actions"] == OPERATE
        refused = error_of(olga.patch(f"assets/{host}", json={"name": "renamed"}), 403)
        assert "may not change it" in refused["message"]
        move = {"parent_id": ids["l1"]}
        assert olga.patch(f"assets/{host}", json=move).status_code == 403
    with as_user("max") as max_:
        assert expect(max_.get(f"assets/{host}"), 200)["name"] == "deep-host"


def test_an_asset_manager_edits_and_manages_peer_nodes_but_does_not_grant(world):
    _, _, ids, as_user = world
    with as_user("max") as max_:
        assert "manage-peer-nodes" in access(max_, ids["deep-host"])["actions"]
        changed = max_.patch(
            f"assets/{ids['deep-host']}",
            json={"description": "patched", "secrets": {"password": "mgr-pw-1"}},
        )
        assert expect(changed, 200)["description"] == "patched"
        made = add_asset(max_, "mgr-made", parent=ids["l2"])
        assert made["role"] == "asset-manager"
        listed = expect(max_.get(f"assets/{ids['deep-host']}/permissions"), 200)
        assert {(p["principal"], p["inherited_from"]["name"]) for p in listed} >= {("vic", "l1")}
        body = {"principal": "nobody", "role": "viewer"}
        refused = error_of(max_.post(f"assets/{ids['l2']}/permissions", json=body), 403)
        assert "may not grant permissions on it" in refused["message"]
        # Top level needs a site-wide role: a container grant does not reach above it.
        top = max_.post("assets", json={"name": "top-try", "type": "container"})
        assert error_of(top, 403)["code"] == "permission_denied"
        expect(max_.delete(f"assets/{made['id']}"), 200)


def test_an_owner_grants_and_revokes_below_its_container(world):
    _, _, ids, as_user = world
    with as_user("owen") as owen:
        made = grant(owen, ids["l3"], "late", "operator")
        assert made["inherited_from"] is None
        with as_user("late") as late:
            assert access(late, ids["deep-host"])["role"] == "operator"
            assert error_of(late.get(f"assets/{ids['l2']}"), 404)["code"] == "asset_not_found"
            # Its tree starts at the container it was granted.
            assert [n["name"] for n in expect(late.get("assets/tree"), 200)] == ["l3"]
        again = owen.post(
            f"assets/{ids['l3']}/permissions", json={"principal": "late", "role": "owner"}
        )
        assert error_of(again, 409)["code"] == "asset_grant_exists"
        bad = owen.post(
            f"assets/{ids['l3']}/permissions", json={"principal": "late", "role": "god"}
        )
        assert "viewer, operator, asset-manager, owner" in error_of(bad, 422)["message"]
        expect(owen.delete(f"assets/{ids['l3']}/permissions/{made['id']}"), 204)
        with as_user("late") as late:
            assert expect(late.get("assets"), 200) == []
            assert late.get(f"assets/{ids['deep-host']}").status_code == 404


def test_the_strongest_role_on_the_path_wins(world):
    node, admin, ids, as_user = world
    with node.client("acme", token=admin) as client:
        made = grant(client, ids["l3"], "vic", "operator")
    try:
        with as_user("vic") as vic:
            assert access(vic, ids["l2"])["role"] == "viewer"
            assert access(vic, ids["deep-host"])["role"] == "operator"
            listed = expect(vic.get("assets"), 200)
            assert {a["name"]: a["role"] for a in listed}["deep-host"] == "operator"
    finally:
        with node.client("acme", token=admin) as client:
            expect(client.delete(f"assets/{ids['l3']}/permissions/{made['id']}"), 204)


def test_site_roles_act_on_every_asset(world):
    _, _, ids, as_user = world
    with as_user("sam") as sam:
        assert access(sam, ids["side-host"])["actions"] == OWN
        assert access(sam, ids["deep-host"])["role"] == "owner"
        assert {"l1", "side-host"} <= {a["name"] for a in expect(sam.get("assets"), 200)}
    with as_user("aud") as aud:
        assert access(aud, ids["side-host"])["actions"] == VIEW_ONLY
        assert aud.patch(f"assets/{ids['side-host']}", json={"description": "x"}).status_code == 403


def test_a_user_without_permission_sees_nothing_and_gets_404_everywhere(world):
    _, _, ids, as_user = world
    with as_user("nobody") as nobody:
        assert expect(nobody.get("assets"), 200) == []
        assert expect(nobody.get("assets/tree"), 200) == []
        missing = "00000000-0000-0000-0000-000000000000"
        unknown = error_of(nobody.get(f"assets/{missing}"), 404)
        hidden = error_of(nobody.get(f"assets/{ids['deep-host']}"), 404)
        # The same refusal as for an id that does not exist: nothing leaks.
        assert hidden == {
            **unknown,
            "message": unknown["message"].replace(missing, ids["deep-host"]),
        }
        host = ids["deep-host"]
        for response in (
            nobody.patch(f"assets/{host}", json={"description": "x"}),
            nobody.delete(f"assets/{host}"),
            nobody.get(f"assets/{host}/access"),
            nobody.get(f"assets/{host}/permissions"),
            nobody.post(
                f"assets/{host}/permissions", json={"principal": "nobody", "role": "owner"}
            ),
            nobody.get("assets", params={"parent_id": ids["l1"]}),
            nobody.post("assets", json={"name": "x", "type": "container", "parent_id": ids["l1"]}),
        ):
            assert error_of(response, 404)["code"] == "asset_not_found"


def test_other_sites_and_tenants_see_nothing(world):
    node, admin, ids, as_user = world
    host = ids["deep-host"]
    # The acme administrator on another site of the same tenant: that site's library only.
    east_token = node.login("acme", "east", "tadmin", PASSWORD)
    with node.client("acme", "east", token=east_token) as east:
        assert expect(east.get("assets"), 200) == []
        assert east.get(f"assets/{host}").status_code == 404
        east_host = add_asset(east, "east-host")
    with node.client("acme", token=admin) as root:
        assert east_host["id"] not in {a["id"] for a in expect(root.get("assets"), 200)}
        assert root.get(f"assets/{east_host['id']}").status_code == 404
    # A user granted on the root site holds nothing on east.
    with as_user("owen", "east") as owen:
        assert expect(owen.get("assets"), 200) == []
        assert owen.get(f"assets/{east_host['id']}").status_code == 404

    globex = create_tenant(node, "globex", admin="gadmin")
    with node.client("globex", token=globex) as other:
        assert expect(other.get("assets"), 200) == []
        assert other.get(f"assets/{host}").status_code == 404
        assert other.delete(f"assets/{host}").status_code == 404
    with node.client("globex", token=admin) as crossing:
        assert error_of(crossing.get("assets"), 403)["code"] == "token_wrong_tenant"
    with node.client("acme", token=admin) as root:
        assert expect(root.get(f"assets/{host}"), 200)["name"] == "deep-host"


def test_permission_changes_are_audited(world):
    node, admin, ids, as_user = world
    with as_user("owen") as owen:
        made = grant(owen, ids["l2"], "nobody", "viewer")
        expect(owen.delete(f"assets/{ids['l2']}/permissions/{made['id']}"), 204)
    with node.client("acme", token=admin) as client:
        found = {
            action: expect(client.get("audit-events", params={"action": action}), 200)
            for action in ("asset-permission.grant", "asset-permission.revoke")
        }
    for action, events in found.items():
        mine = [e for e in events if e["actor"] == "owen" and e["details"]["user"] == "nobody"]
        assert [(e["target"], e["details"]["role"]) for e in mine] == [(ids["l2"], "viewer")], (
            action
        )
    granted = {
        (e["details"]["user"], e["details"]["role"]) for e in found["asset-permission.grant"]
    }
    assert {("vic", "viewer"), ("owen", "owner")} <= granted
