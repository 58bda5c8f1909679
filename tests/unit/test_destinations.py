"""The destination policy's rule (pamnode/core/destinations.py): what a target may resolve to."""

from __future__ import annotations

import asyncio
from ipaddress import ip_network

import pytest

from pamnode.core.destinations import DestinationPolicy, TargetRefused

OWN_PORT = 6443


def resolve(host: str, port: int = 22, allowed: tuple[str, ...] = ()) -> str:
    policy = DestinationPolicy(tuple(ip_network(n) for n in allowed), lambda: {OWN_PORT})
    return asyncio.run(policy.resolve(host, port)).address


@pytest.mark.parametrize(
    ("host", "said"),
    [
        ("127.0.0.1", "loopback 127.0.0.1"),
        ("127.3.4.5", "loopback 127.3.4.5"),
        ("::1", "loopback ::1"),
        ("[::1]", "loopback ::1"),
        ("::ffff:127.0.0.1", "loopback 127.0.0.1"),
        ("localhost", "loopback"),
        ("0.0.0.0", "the unspecified address 0.0.0.0"),
        ("::", "the unspecified address ::"),
        ("169.254.169.254", "link-local 169.254.169.254"),
        ("::ffff:169.254.169.254", "link-local 169.254.169.254"),
        ("fe80::1", "link-local fe80::1"),
    ],
)
def test_loopback_unspecified_and_link_local_are_refused_by_default(host: str, said: str):
    with pytest.raises(TargetRefused) as refused:
        resolve(host)
    assert refused.value.code == "target_refused"
    assert f"resolves to {said}" in refused.value.message
    assert "PAMNODE_TARGET_ALLOW_CIDRS" in refused.value.message


def test_other_addresses_pass_and_the_address_is_what_to_connect_to():
    assert resolve("10.77.0.5") == "10.77.0.5"
    assert resolve("192.0.2.7", OWN_PORT) == "192.0.2.7"
    assert resolve("localhost", allowed=("127.0.0.0/8", "::1/128")) in ("127.0.0.1", "::1")


def test_allowed_networks_open_only_themselves():
    assert resolve("127.0.0.1", allowed=("127.0.0.0/8",)) == "127.0.0.1"
    assert resolve("::ffff:127.0.0.1", allowed=("127.0.0.0/8",)) == "::ffff:7f00:1"
    with pytest.raises(TargetRefused, match=r"link-local 169\.254\.169\.254"):
        resolve("169.254.169.254", allowed=("127.0.0.0/8",))


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "0.0.0.0", "::ffff:127.0.0.1"])
def test_the_nodes_own_ports_are_refused_whatever_is_allowed(host: str):
    with pytest.raises(TargetRefused, match=f"this node's own listening port {OWN_PORT}"):
        resolve(host, OWN_PORT, allowed=("0.0.0.0/0", "::/0"))


def test_a_name_that_does_not_resolve_is_unreachable_not_refused():
    with pytest.raises(Exception) as failed:
        resolve("no-such-host.invalid")
    assert not isinstance(failed.value, TargetRefused)
    assert getattr(failed.value, "code", "") == "network_unreachable"
