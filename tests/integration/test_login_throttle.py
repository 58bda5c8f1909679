"""Guessing passwords: findings were 50 wrong passwords in 6 s then the right one working,
and an audit row for every anonymous refusal (200 rows in 1.3 s)."""

from __future__ import annotations

import time

import pytest

from tests.support.identity import PASSWORD, add_user, create_tenant, error_of, expect

# Both backends: a login reads the user through a connection pool that differs per backend.
pytestmark = pytest.mark.databases("sqlite", "postgresql")


@pytest.fixture(scope="module")
def world(node_factory):
    node = node_factory("guess")
    admin = create_tenant(node, "corp")
    with node.client("corp", token=admin) as client:
        add_user(client, "lucy")
        add_user(client, "max")
    return node, admin


def _denied(node, admin, actor: str) -> list[dict]:
    with node.client("corp", token=admin) as client:
        events = expect(
            client.get("audit-events", params={"outcome": "denied", "actor": actor}), 200
        )
    return events


def test_fifty_wrong_passwords_lock_the_login_and_the_right_one_waits(world):
    node, admin = world
    codes = []
    with node.client("corp") as anonymous:
        for _ in range(50):
            response = anonymous.post("auth/login", json={"login": "lucy", "password": "wrong!!!"})
            codes.append(response.json()["error"]["code"])
        right = anonymous.post("auth/login", json={"login": "lucy", "password": PASSWORD})
        problem = error_of(right, 429)
        assert problem["code"] == "login_throttled"
        wait = int(right.headers["Retry-After"])
        assert 1 <= wait <= 2
        # Another login from the same address is not held back by lucy's lock.
        expect(anonymous.post("auth/login", json={"login": "max", "password": PASSWORD}), 200)
        time.sleep(wait + 0.2)
        expect(anonymous.post("auth/login", json={"login": "lucy", "password": PASSWORD}), 200)
    assert codes[:4] == ["login_failed"] * 4
    assert codes[4] == "login_locked"
    assert set(codes[5:]) == {"login_throttled"}
    trail = _denied(node, admin, "lucy")
    assert [e["details"]["code"] for e in trail].count("login_locked") == 1
    assert len(trail) <= 4, [e["details"]["code"] for e in trail]


def test_an_anonymous_flood_is_sampled_in_the_audit_trail(world):
    node, admin = world
    with node.client("corp", token="not-a-jwt") as anonymous:
        for _ in range(200):
            assert anonymous.get("users").status_code == 401
    rows = [
        e for e in _denied(node, admin, "anonymous") if e["details"]["code"] == "token_malformed"
    ]
    assert len(rows) == 1
