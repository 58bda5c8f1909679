"""Guessing passwords: findings were 50 wrong passwords in 6 s then the right one working,
and an audit row for every anonymous refusal (200 rows in 1.3 s); then, at once, 40 wrong
passwords for one login checked 16 times against an allowance of 5 (the throttle decided
before the check and counted after it) with 24 answered 503 `node_busy` (each check held a
database connection), and an administrator's GET answered 503 during 80 logins at once."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from pamnode.core.ssh_library import asyncssh
from pamnode.lab.node_process import NodeProcess, tls_context
from pamnode.lab.ports import free_port
from tests.support.identity import PASSWORD, add_user, create_tenant, error_of, expect
from tests.support.metrics import sample

CHECKS = "pamnode_password_checks_total"

# Both backends: a login reads the user through a connection pool that differs per backend.
pytestmark = pytest.mark.databases("sqlite", "postgresql")

# Checks that cost what they cost in production: what the throttle and the bound on checks
# hold back is their CPU (the lab's nodes are otherwise `light`).
COSTLY = {"PAMNODE_PASSWORD_HASH_PROFILE": "standard"}


@pytest.fixture(scope="module")
def world(node_factory):
    # The throttle's own rules, answered at once: the pause before a refusal has its own test.
    node = node_factory("guess", env={**COSTLY, "PAMNODE_LOGIN_REFUSAL_PAUSE_S": "0"})
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


def _metrics(node: NodeProcess) -> str:
    response = httpx.get(f"{node.base_url}/metrics", verify=tls_context(node.cert_path))
    assert response.status_code == 200, response.text
    return response.text


async def _logins(node: NodeProcess, logins: list[str], password: str) -> list[httpx.Response]:
    """One login for each name, all at once, each on a connection of its own."""
    async with httpx.AsyncClient(
        base_url=node.api_url("corp"),
        verify=tls_context(node.cert_path),
        timeout=60,
        limits=httpx.Limits(max_connections=len(logins)),
    ) as client:
        bodies = [{"login": name, "password": password} for name in logins]
        return await asyncio.gather(*(client.post("auth/login", json=body) for body in bodies))


def _refusals(answers: list[httpx.Response]) -> tuple[list[str], list[str]]:
    """The codes of the answers that reached the password check, and of those turned away
    before it (each with its Retry-After); any other answer fails the test."""
    checked, turned_away = [], []
    for answer in answers:
        code = answer.json()["error"]["code"]
        if answer.status_code == 401:
            assert code in ("login_failed", "login_locked"), answer.text
            checked.append(code)
        else:
            assert answer.status_code == 429, answer.text
            assert int(answer.headers["Retry-After"]) >= 1
            turned_away.append(code)
    return checked, turned_away


def test_forty_wrong_passwords_at_once_reach_the_hash_at_most_as_often_as_the_allowance(
    node_factory,
):
    # More password checks may run at once here than the login's allowance (5): what stops
    # the sixth is the throttle, not the bound on checks.
    node = node_factory("crowd", env={**COSTLY, "PAMNODE_LOGIN_CHECKS": "8"})
    with node.client("corp", token=create_tenant(node, "corp")) as client:
        add_user(client, "nina")
    before = _metrics(node)
    answers = asyncio.run(_logins(node, ["nina"] * 40, "wrong!!!"))
    checked, turned_away = _refusals(answers)
    assert 1 <= len(checked) <= 5, checked
    assert set(turned_away) == {"login_throttled"}
    # What reached the hash, counted by the node.
    assert sample(_metrics(node), CHECKS) - sample(before, CHECKS) == len(checked)


def test_an_administrator_is_answered_during_eighty_logins_at_once(world):
    node, admin = world

    async def flood_and_ask() -> tuple[list[httpx.Response], list[int]]:
        flood = asyncio.ensure_future(
            _logins(node, [f"ghost-{index}" for index in range(80)], "guess!!!")
        )
        statuses = []
        async with httpx.AsyncClient(
            base_url=node.api_url("corp"),
            verify=tls_context(node.cert_path),
            headers={"Authorization": f"Bearer {admin}"},
            timeout=60,
        ) as client:
            while not flood.done():
                statuses.append((await client.get("users")).status_code)
                await asyncio.sleep(0.05)
        return await flood, statuses

    answers, statuses = asyncio.run(flood_and_ask())
    checked, turned_away = _refusals(answers)
    assert set(checked) <= {"login_failed"} and checked
    assert set(turned_away) <= {"login_throttled", "login_busy"}
    assert statuses and set(statuses) == {200}, statuses


def test_a_login_turned_away_is_answered_after_a_pause(node_factory):
    """A refusal before the check is answered after the node's pause (about 1 s by default,
    drawn between half and one and a half of it), so a tool that never waits is slowed to
    about a guess a second."""
    node = node_factory("paused", env=COSTLY)
    admin = create_tenant(node, "corp")
    with node.client("corp", token=admin) as client:
        add_user(client, "rita")
    with node.client("corp") as anonymous:
        for _ in range(5):
            wrong = anonymous.post("auth/login", json={"login": "rita", "password": "wrong!!!"})
            assert wrong.status_code == 401
        started = time.monotonic()
        refused = anonymous.post("auth/login", json={"login": "rita", "password": PASSWORD})
        waited = time.monotonic() - started
    assert error_of(refused, 429)["code"] == "login_throttled"
    assert waited >= 0.5, waited


async def _first_words(port: int, connections: int) -> list[bytes]:
    """What each of `connections` TCP connections opened at once to the SSH proxy reads
    before the node closes it or sends its version line (b"" for a close)."""

    async def one() -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            return await asyncio.wait_for(reader.readline(), 10)
        except ConnectionResetError:
            return b""
        finally:
            writer.close()

    return await asyncio.gather(*(one() for _ in range(connections)))


def test_ssh_connections_past_the_key_exchange_rate_are_closed_unanswered(node_factory):
    """The SSH proxy's bound on key exchanges a second closes a connection past it as it is
    accepted, before any version line, on the event loop `serve` runs (uvloop: a connection
    that was only paused there went on to its key exchange), counts it, and a login after the
    burst gets through."""
    port = free_port()
    env = {
        "PAMNODE_SSH_PROXY_PORT": str(port),
        # A burst of one, a key exchange every quarter second after it.
        "PAMNODE_SSH_PROXY_HANDSHAKES_PER_S": "4",
        "PAMNODE_LOGIN_REFUSAL_PAUSE_S": "0.2",
    }
    node = node_factory("handshakes", env=env)
    admin = create_tenant(node, "corp")
    with node.client("corp", token=admin) as client:
        add_user(client, "rita")
    words = asyncio.run(_first_words(port, 12))
    served = [word for word in words if word.startswith(b"SSH-2.0-")]
    refused = [word for word in words if word == b""]
    assert len(served) + len(refused) == 12, words
    # One of the burst, and those the rate refilled while the twelve were accepted.
    assert 1 <= len(served) <= 4 and len(refused) >= 8, words
    assert sample(_metrics(node), "pamnode_ssh_handshakes_refused_total") == len(refused)
    time.sleep(0.3)

    async def log_in() -> None:
        async with asyncssh.connect(
            "127.0.0.1",
            port,
            username="rita@corp#web-1",
            password=PASSWORD,
            known_hosts=None,
            client_keys=None,
            agent_path=None,
            preferred_auth="password",
        ):
            pass

    asyncio.run(log_in())
