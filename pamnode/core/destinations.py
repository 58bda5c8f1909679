"""The destination policy: which addresses this node connects to on a user's behalf.

A target's host is resolved once, here; every address it resolves to is checked, and the
caller connects to the address returned (never to the name again, so a name that resolves
elsewhere a moment later changes nothing). Refused, whatever the caller:

- loopback, the unspecified address and link-local (so metadata services such as
  169.254.169.254), IPv4-mapped forms included, unless the node's administrator allows those
  networks (`PAMNODE_TARGET_ALLOW_CIDRS`);
- this node's own listeners (API, gateway front, HTTP proxy, SSH proxy, RDP pass-through
  ports, guacd) on any address of this machine, always: guacd authenticates nobody, and the
  API trusts loopback callers for /metrics.
"""

import asyncio
import errno
import socket
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network

from pamnode.core.errors import Forbidden, Unavailable
from pamnode.core.hostports import authority

Address = IPv4Address | IPv6Address
Network = IPv4Network | IPv6Network

ALLOW_SETTING = "PAMNODE_TARGET_ALLOW_CIDRS"

# What each guarded network is called in a refusal.
GUARDED: tuple[tuple[Network, str], ...] = (
    (ip_network("127.0.0.0/8"), "loopback"),
    (ip_network("::1/128"), "loopback"),
    (ip_network("0.0.0.0/8"), "the unspecified address"),
    (ip_network("::/128"), "the unspecified address"),
    (ip_network("169.254.0.0/16"), "link-local"),
    (ip_network("fe80::/10"), "link-local"),
)


class TargetRefused(Forbidden):
    code = "target_refused"

    def __init__(self, target: str, message: str) -> None:
        super().__init__(message)
        self.target = target


@dataclass(frozen=True)
class Destination:
    """A target the policy allows: the name as given (for messages, TLS and pins) and the
    address to connect to."""

    host: str
    port: int
    address: str

    @property
    def target(self) -> str:
        return authority(self.host, self.port)


def _plain(address: Address) -> Address:
    """The IPv4 address an IPv4-mapped IPv6 address stands for; any other as it is."""
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _guarded_kind(address: Address) -> str | None:
    return next((kind for net, kind in GUARDED if address in net), None)


def _is_this_machine(address: Address) -> bool:
    """Whether the address is one of this machine's (a socket can be bound to it)."""
    if _guarded_kind(address) in ("loopback", "the unspecified address"):
        return True
    family = socket.AF_INET if isinstance(address, IPv4Address) else socket.AF_INET6
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((str(address), 0))
        except OSError as exc:
            # Any other refusal (a link-local address without a scope, ...): the safe side.
            return exc.errno != errno.EADDRNOTAVAIL
    return True


@dataclass
class DestinationPolicy:
    # Guarded networks the node's administrator allows (PAMNODE_TARGET_ALLOW_CIDRS).
    allowed: Sequence[Network] = ()
    # This node's listening ports, read at every check: guacd starts on first use and RDP
    # pass-through ports come and go.
    own_ports: Callable[[], Collection[int]] = field(default=lambda: ())

    async def resolve(self, host: str, port: int) -> Destination:
        """The address to connect to for host:port; TargetRefused when the policy refuses
        any address the host resolves to, Unavailable when it does not resolve."""
        target = authority(host, port)
        addresses = await _addresses(host, port)
        for address in addresses:
            self._check(target, port, address)
        return Destination(host, port, str(addresses[0]))

    def _check(self, target: str, port: int, address: Address) -> None:
        plain = _plain(address)
        if port in self.own_ports() and _is_this_machine(plain):
            raise TargetRefused(
                target,
                f"{target} resolves to {plain}, this node's own listening port {port}, which "
                "no target may be, whatever the target policy allows",
            )
        kind = _guarded_kind(plain)
        if kind is None or any(
            plain in net for net in self.allowed if net.version == plain.version
        ):
            return
        raise TargetRefused(
            target,
            f"{target} resolves to {kind} {plain}, which this node's target policy refuses; "
            f"an administrator may allow it with {ALLOW_SETTING}",
        )


async def _addresses(host: str, port: int) -> list[Address]:
    literal = host.strip("[]")
    try:
        return [ip_address(literal)]
    except ValueError:
        pass
    try:
        found = await asyncio.get_running_loop().getaddrinfo(literal, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        reason = exc.strerror if isinstance(exc, socket.gaierror) else str(exc)
        raise Unavailable(
            f"{authority(host, port)} cannot be reached from this node: the name {host!r} "
            f"does not resolve here ({reason})",
            code="network_unreachable",
        ) from None
    addresses: list[Address] = []
    for *_, sockaddr in found:
        # A scoped IPv6 address ("fe80::1%eth0") is link-local whatever its scope.
        address = ip_address(str(sockaddr[0]).partition("%")[0])
        if address not in addresses:
            addresses.append(address)
    return addresses
