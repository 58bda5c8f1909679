"""Manage > Peer Nodes on containers and assets, over a real main node and two real peers.

The effective peer set of an asset is the union of the enabled assignments on it and on every
container above it, keeping only peers that are enabled and trusted (DESIGN.md, "Peer
selection"). These tests read it the way a user does, through `assets/{id}/peer-nodes`.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from pamnode.lab.served_node import ServedNode
from tests.support.assets import add_asset, add_chain
from tests.support.identity import PASSWORD, add_user, create_tenant, error_of, expect
from tests.support.peers import add_peer, check_connection, establish_trust, prepare_peer_site

TENANT = "corp"
PEER_TENANTS = {"peer-a": "edge-a", "peer-b": "edge-b"}
UNTRUSTED = "trust not established (job-runner)"
NO_GATEWAY = "peer node does not include the gateway"


class World:
    """A main node with two working peer connections (`peer-a`, `peer-b`) and some users."""

    def __init__(self, main: ServedNode, peers: dict[str, ServedNode], tokens: dict[str, str]):
        self.main = main
        self.peers = peers
        self.tokens = tokens
        self._sessions: dict[str, str] = {}

    def admin(self) -> httpx.Client:
        return self.as_user("tadmin")

    def as_user(self, login: str) -> httpx.Client:
        if login not in self._sessions:
            self._sessions[login] = self.main.login(TENANT, "root", login, PASSWORD)
        return self.main.client(TENANT, token=self._sessions[login])


@pytest.fixture(scope="module")
def world(inprocess_node_factory) -> World:
    main = inprocess_node_factory("main")
    peers = {name: inprocess_node_factory(name) for name in PEER_TENANTS}
    # Step 1 on each peer: a Service user of its own tenant and an unlocked API token.
    tokens = {name: prepare_peer_site(peers[name], tenant) for name, tenant in PEER_TENANTS.items()}
    admin = create_tenant(main, TENANT)
    world = World(main, peers, tokens)
    world._sessions["tadmin"] = admin
    with world.admin() as client:
        # Step 2 on the main: both connections are trusted and answer Test Connection.
        for name, tenant in PEER_TENANTS.items():
            created = add_peer(client, name, peers[name], tenant, tokens[name])
            establish_trust(client, created["id"])
            report = check_connection(client, created["id"])
            assert report["ok"] is True and report["node"] == name, report
        add_user(client, "ada", "administrator")
        add_user(client, "sam", "asset-manager")
        add_user(client, "aud", "auditor")
        for login in ("max", "olga", "owen", "nobody"):
            add_user(client, login)
    return world


def peer_view(client: httpx.Client, asset_id: str) -> dict[str, Any]:
    return expect(client.get(f"assets/{asset_id}/peer-nodes"), 200)


def assign(client: httpx.Client, asset_id: str, peer: str, enabled: bool = True) -> dict:
    body = {"peer_node": peer, "enabled": enabled}
    return expect(client.post(f"assets/{asset_id}/peer-nodes", json=body), 201)


def set_enabled(client: httpx.Client, asset_id: str, assignment_id: str, enabled: bool) -> dict:
    url = f"assets/{asset_id}/peer-nodes/{assignment_id}"
    return expect(client.patch(url, json={"enabled": enabled}), 200)


def rows(view: dict[str, Any]) -> list[tuple[Any, ...]]:
    """What the Manage > Peer Nodes list shows, nearest source first."""
    return [
        (a["peer_node"], a["source"]["name"], a["inherited"], a["enabled"], a["jobs_unusable"])
        for a in view["assignments"]
    ]


def jobs(client: httpx.Client, asset_id: str) -> list[str]:
    return sorted(peer_view(client, asset_id)["effective"]["jobs"])


def grant(client: httpx.Client, asset_id: str, login: str, role: str) -> None:
    body = {"principal": login, "role": role}
    expect(client.post(f"assets/{asset_id}/permissions", json=body), 201)


def test_effective_peers_three_containers_deep(world):
    with world.admin() as admin:
        dc, rack, shelf = add_chain(admin, "dc", "rack", "shelf")
        web = add_asset(admin, "web-1", parent=shelf["id"])
        # Three more connections: one disabled, one never trusted, one healthy but
        # assigned disabled. Each points at a real peer, so only the flags differ.
        off = add_peer(admin, "peer-off", world.peers["peer-a"], "edge-a", world.tokens["peer-a"])
        establish_trust(admin, off["id"])
        expect(admin.patch(f"peer-nodes/{off['id']}", json={"enabled": False}), 200)
        untrusted = add_peer(
            admin, "peer-untrusted", world.peers["peer-b"], "edge-b", world.tokens["peer-b"]
        )
        spare = add_peer(
            admin, "peer-spare", world.peers["peer-b"], "edge-b", world.tokens["peer-b"]
        )
        establish_trust(admin, spare["id"])

        on_dc = assign(admin, dc["id"], "peer-a")
        assert on_dc["enabled"] is True
        on_rack_spare = assign(admin, rack["id"], "peer-spare", enabled=False)
        assert on_rack_spare["enabled"] is False
        assign(admin, rack["id"], "peer-off")
        on_shelf = assign(admin, shelf["id"], "peer-b")
        assign(admin, web["id"], "peer-untrusted")

        view = peer_view(admin, web["id"])
        assert view["asset_id"] == web["id"]
        assert rows(view) == [
            ("peer-untrusted", "web-1", False, True, UNTRUSTED),
            ("peer-b", "shelf", True, True, None),
            ("peer-off", "rack", True, True, "peer node disabled"),
            ("peer-spare", "rack", True, False, None),
            ("peer-a", "dc", True, True, None),
        ]
        sources = {a["peer_node"]: a["source"] for a in view["assignments"]}
        assert sources["peer-a"] == {"id": dc["id"], "name": "dc", "type": "container"}
        assert sources["peer-untrusted"] == {"id": web["id"], "name": "web-1", "type": "unix-host"}
        assert sorted(view["effective"]["jobs"]) == ["peer-a", "peer-b"]
        # None of these peers includes a gateway, so sessions stay on the main node.
        assert view["effective"]["sessions"] == []
        unusable = {a["peer_node"]: a["sessions_unusable"] for a in view["assignments"]}
        assert unusable["peer-a"] == NO_GATEWAY and unusable["peer-off"] == "peer node disabled"

        # Inherited is relative to the asset looked at: on the shelf, peer-b is its own.
        assert rows(peer_view(admin, shelf["id"]))[:1] == [("peer-b", "shelf", False, True, None)]
        assert rows(peer_view(admin, dc["id"])) == [("peer-a", "dc", False, True, None)]

        # Enabling the rack's assignment adds peer-spare below it; disabling the dc's drops
        # peer-a for every asset below the dc.
        set_enabled(admin, rack["id"], on_rack_spare["id"], True)
        assert jobs(admin, web["id"]) == ["peer-a", "peer-b", "peer-spare"]
        changed = set_enabled(admin, dc["id"], on_dc["id"], False)
        assert changed == {
            "id": on_dc["id"],
            "peer_node_id": on_dc["peer_node_id"],
            "enabled": False,
        }
        assert jobs(admin, web["id"]) == ["peer-b", "peer-spare"]
        assert jobs(admin, rack["id"]) == ["peer-spare"]

        # An inherited assignment is changed on its container, not from the child.
        for refused in (
            admin.patch(f"assets/{web['id']}/peer-nodes/{on_dc['id']}", json={"enabled": True}),
            admin.delete(f"assets/{web['id']}/peer-nodes/{on_dc['id']}"),
        ):
            error = error_of(refused, 404)
            assert error["code"] == "assignment_not_found"
            assert "web-1" in error["message"] and "container" in error["message"]
        assert ("peer-a", "dc", True, False, None) in rows(peer_view(admin, web["id"]))
        set_enabled(admin, dc["id"], on_dc["id"], True)
        assert jobs(admin, web["id"]) == ["peer-a", "peer-b", "peer-spare"]

        # The peer's own state counts at once: trust it, or enable it, and it is used.
        establish_trust(admin, untrusted["id"])
        expect(admin.patch(f"peer-nodes/{off['id']}", json={"enabled": True}), 200)
        view = peer_view(admin, web["id"])
        assert all(a["jobs_unusable"] is None for a in view["assignments"])
        assert sorted(view["effective"]["jobs"]) == [
            "peer-a",
            "peer-b",
            "peer-off",
            "peer-spare",
            "peer-untrusted",
        ]

        # Removing the shelf's assignment removes peer-b below the shelf only.
        deleted = admin.delete(f"assets/{shelf['id']}/peer-nodes/{on_shelf['id']}")
        assert deleted.status_code == 204, deleted.text
        view = peer_view(admin, web["id"])
        assert "peer-b" not in [a["peer_node"] for a in view["assignments"]]
        assert "peer-b" not in view["effective"]["jobs"]
        gone = admin.delete(f"assets/{shelf['id']}/peer-nodes/{on_shelf['id']}")
        assert error_of(gone, 404)["code"] == "assignment_not_found"


def test_who_may_manage_assignments(world):
    with world.admin() as admin:
        lab, bench = add_chain(admin, "lab", "bench")
        db1 = add_asset(admin, "db-1", parent=bench["id"])
        elsewhere = add_asset(admin, "other-1")
        grant(admin, bench["id"], "max", "asset-manager")
        grant(admin, bench["id"], "owen", "owner")
        grant(admin, bench["id"], "olga", "operator")

    # Site role Administrator and site role Asset Manager: anywhere in the site.
    with world.as_user("ada") as ada:
        on_lab = assign(ada, lab["id"], "peer-a")
        set_enabled(ada, lab["id"], on_lab["id"], False)
        set_enabled(ada, lab["id"], on_lab["id"], True)
    with world.as_user("sam") as sam:
        on_other = assign(sam, elsewhere["id"], "peer-b")
        set_enabled(sam, elsewhere["id"], on_other["id"], False)
        expect(sam.delete(f"assets/{elsewhere['id']}/peer-nodes/{on_other['id']}"), 204)

    # Asset permission Asset Manager on the bench: the bench and what is below it, not above.
    with world.as_user("max") as max_:
        on_bench = assign(max_, bench["id"], "peer-b")
        on_db1 = assign(max_, db1["id"], "peer-a", enabled=False)
        set_enabled(max_, db1["id"], on_db1["id"], True)
        expect(max_.delete(f"assets/{db1['id']}/peer-nodes/{on_db1['id']}"), 204)
        for refused in (
            max_.get(f"assets/{lab['id']}/peer-nodes"),
            max_.post(f"assets/{lab['id']}/peer-nodes", json={"peer_node": "peer-b"}),
            max_.patch(f"assets/{lab['id']}/peer-nodes/{on_lab['id']}", json={"enabled": False}),
            max_.post(f"assets/{elsewhere['id']}/peer-nodes", json={"peer_node": "peer-b"}),
        ):
            assert error_of(refused, 404)["code"] == "asset_not_found"
    # Owner is higher than Asset Manager.
    with world.as_user("owen") as owen:
        on_db1 = assign(owen, db1["id"], "peer-b")

    # Operator: may look, may not change.
    with world.as_user("olga") as olga:
        assert sorted(peer_view(olga, db1["id"])["effective"]["jobs"]) == ["peer-a", "peer-b"]
        for refused in (
            olga.post(f"assets/{bench['id']}/peer-nodes", json={"peer_node": "peer-a"}),
            olga.patch(
                f"assets/{bench['id']}/peer-nodes/{on_bench['id']}", json={"enabled": False}
            ),
            olga.delete(f"assets/{db1['id']}/peer-nodes/{on_db1['id']}"),
        ):
            error = error_of(refused, 403)
            assert error["code"] == "asset_permission_denied"
            assert "olga" in error["message"] and "asset-manager" in error["message"]

    # No permission at all: the asset does not exist for them.
    with world.as_user("nobody") as nobody:
        for refused in (
            nobody.get(f"assets/{db1['id']}/peer-nodes"),
            nobody.post(f"assets/{db1['id']}/peer-nodes", json={"peer_node": "peer-a"}),
            nobody.delete(f"assets/{db1['id']}/peer-nodes/{on_db1['id']}"),
        ):
            assert error_of(refused, 404)["code"] == "asset_not_found"

    # Auditor: sees every asset's peers, changes none.
    with world.as_user("aud") as aud:
        seen = peer_view(aud, db1["id"])
        assert sorted(seen["effective"]["jobs"]) == ["peer-a", "peer-b"]
        for refused in (
            aud.post(f"assets/{db1['id']}/peer-nodes", json={"peer_node": "peer-a"}),
            aud.patch(f"assets/{db1['id']}/peer-nodes/{on_db1['id']}", json={"enabled": False}),
            aud.delete(f"assets/{db1['id']}/peer-nodes/{on_db1['id']}"),
        ):
            assert error_of(refused, 403)["code"] == "asset_permission_denied"

    # None of the refusals changed anything.
    with world.admin() as admin:
        assert rows(peer_view(admin, db1["id"])) == [
            ("peer-b", "db-1", False, True, None),
            ("peer-b", "bench", True, True, None),
            ("peer-a", "lab", True, True, None),
        ]
        assert peer_view(admin, elsewhere["id"])["assignments"] == []
        denied = expect(admin.get("audit-events", params={"outcome": "denied"}), 200)
        assert {e["actor"] for e in denied} >= {"olga", "aud"}


def test_bad_input_leaves_nothing_behind(world):
    with world.admin() as admin:
        (zone,) = add_chain(admin, "zone")
        api = add_asset(admin, "api-1", parent=zone["id"])
        assign(admin, zone["id"], "peer-a")
        before = peer_view(admin, api["id"])

        unknown = error_of(
            admin.post(f"assets/{api['id']}/peer-nodes", json={"peer_node": "no-such-peer"}), 404
        )
        assert unknown["code"] == "peer_not_found" and "no-such-peer" in unknown["message"]
        assert peer_view(admin, api["id"]) == before

        # The same peer directly on the asset as on its container is allowed (union).
        assign(admin, api["id"], "peer-a")
        twice = admin.post(
            f"assets/{api['id']}/peer-nodes", json={"peer_node": "peer-a", "enabled": False}
        )
        error = error_of(twice, 409)
        assert error["code"] == "assignment_exists"
        assert "peer-a" in error["message"] and "api-1" in error["message"]
        view = peer_view(admin, api["id"])
        assert rows(view) == [
            ("peer-a", "api-1", False, True, None),
            ("peer-a", "zone", True, True, None),
        ]
        assert view["effective"]["jobs"] == ["peer-a"]

        missing = "00000000-0000-0000-0000-000000000000"
        assert error_of(admin.get(f"assets/{missing}/peer-nodes"), 404)["code"] == "asset_not_found"
        patched = admin.patch(f"assets/{api['id']}/peer-nodes/{missing}", json={"enabled": False})
        assert error_of(patched, 404)["code"] == "assignment_not_found"
        for body in ({"peer_node": ""}, {"peer_node": "peer-b", "priority": 1}, {}):
            bad = admin.post(f"assets/{api['id']}/peer-nodes", json=body)
            assert error_of(bad, 422)["code"] == "invalid_input", body
        assert peer_view(admin, api["id"]) == view

    # A double-clicked Save: several identical requests at once make one assignment.
    def post_once(_: int) -> int:
        with world.admin() as client:
            body = {"peer_node": "peer-b"}
            return client.post(f"assets/{api['id']}/peer-nodes", json=body).status_code

    with ThreadPoolExecutor(max_workers=6) as pool:
        statuses = sorted(pool.map(post_once, range(6)))
    assert statuses == [201, 409, 409, 409, 409, 409]

    with world.admin() as admin:
        assert [r[:2] for r in rows(peer_view(admin, api["id"]))] == [
            ("peer-a", "api-1"),
            ("peer-b", "api-1"),
            ("peer-a", "zone"),
        ]
        # Only the changes that happened are in the audit trail.
        added = expect(admin.get("audit-events", params={"action": "peer-assignment.add"}), 200)
        assert sorted(e["details"]["peer"] for e in added if e["target"] == "api-1") == [
            "peer-a",
            "peer-b",
        ]


def audit_events(client: httpx.Client, action: str, target: str) -> list[dict[str, Any]]:
    found = expect(client.get("audit-events", params={"action": action, "limit": 1000}), 200)
    return [event for event in found if event["target"] == target]


def test_assignment_changes_are_audited(world):
    with world.admin() as admin:
        host = add_asset(admin, "audited-1")
    with world.as_user("sam") as sam:
        made = assign(sam, host["id"], "peer-b")
        set_enabled(sam, host["id"], made["id"], False)
        set_enabled(sam, host["id"], made["id"], True)
        expect(sam.delete(f"assets/{host['id']}/peer-nodes/{made['id']}"), 204)

    with world.as_user("aud") as aud:
        trail = {
            action: audit_events(aud, f"peer-assignment.{action}", "audited-1")
            for action in ("add", "disable", "enable", "remove")
        }
    for action, events in trail.items():
        assert len(events) == 1, (action, events)
        event = events[0]
        assert (event["actor"], event["outcome"], event["source"]) == (
            "sam",
            "success",
            "127.0.0.1",
        ), event
        assert (event["tenant"], event["site"]) == (TENANT, "root")
    assert trail["add"][0]["details"] == {"peer": "peer-b", "enabled": True}
    for action in ("disable", "enable", "remove"):
        assert trail[action][0]["details"]["assignment"] == made["id"]
    order = [trail[a][0]["id"] for a in ("add", "disable", "enable", "remove")]
    assert order == sorted(order)


def test_audit_names_the_peer_of_every_assignment_change(world):
    """After a removal the assignment id points at nothing: the trail must say which peer."""
    with world.admin() as admin:
        host = add_asset(admin, "audited-2")
        made = assign(admin, host["id"], "peer-a")
        set_enabled(admin, host["id"], made["id"], False)
        set_enabled(admin, host["id"], made["id"], True)
        expect(admin.delete(f"assets/{host['id']}/peer-nodes/{made['id']}"), 204)
        for action in ("add", "disable", "enable", "remove"):
            (event,) = audit_events(admin, f"peer-assignment.{action}", "audited-2")
            assert event["details"].get("peer") == "peer-a", (action, event)
