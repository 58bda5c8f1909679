"""Linux network namespaces: isolated zones joined by veth pairs.

The demo and the tests build only the links they need, so a missing route is a real one: a
process in one namespace cannot reach an address configured only in another, unreachable one.
Only namespaces made here are ever deleted.
"""

from __future__ import annotations

import ctypes
import os
import secrets
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Self

from pamnode.lab import LabUnavailable

# setns(2)'s flag for a network namespace (<sched.h>).
_CLONE_NEWNET = 0x40000000
# How long a deleted namespace's veth may linger in the root namespace (`link`).
ADDRESS_RELEASE_S = 10


def _ip(*args: str) -> None:
    result = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
    if result.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)} exited {result.returncode}: {result.stderr}")


def _short_id() -> str:
    # Interface names are limited to 15 characters; namespace names share the prefix.
    return secrets.token_hex(3)


class Netns:
    """One network namespace, created by `create()` and removed by `delete()`."""

    def __init__(self, name: str | None = None) -> None:
        self.name = name or f"pn-{_short_id()}"
        self.created = False

    def create(self) -> Netns:
        if shutil.which("ip") is None:
            raise LabUnavailable("the `ip` tool (Debian package iproute2)")
        if os.geteuid() != 0:
            raise LabUnavailable("network namespaces need root")
        _ip("netns", "add", self.name)
        self.created = True
        _ip("-n", self.name, "link", "set", "lo", "up")
        return self

    def delete(self) -> None:
        # Deleting a namespace also destroys its veth ends, and with them their peers.
        if self.created:
            _ip("netns", "del", self.name)
            self.created = False

    def argv(self, argv: list[str]) -> list[str]:
        """`argv` as it runs inside this namespace (`ip netns exec` execs it in place)."""
        return ["ip", "netns", "exec", self.name, *argv]

    def run(self, argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        kwargs.setdefault("capture_output", True)
        kwargs.setdefault("text", True)
        kwargs.setdefault("timeout", 60)
        return subprocess.run(self.argv(argv), **kwargs)

    def sysctl(self, key: str, value: str) -> None:
        # Written through /proc as seen from inside the namespace: these sysctls are
        # per-namespace and need no procps.
        path = "/proc/sys/" + key.replace(".", "/")
        result = self.run(["sh", "-c", f"echo {value} > {path}"])
        if result.returncode != 0:
            raise RuntimeError(f"{key}={value} in {self.name}: {result.stderr}")

    def listen(self, host: str = "127.0.0.1", port: int = 0) -> socket.socket:
        """A TCP socket listening inside this namespace, served from this process.

        A socket belongs to the namespace it was made in, whichever thread later uses it, so
        a short-lived thread enters the namespace (setns(2) moves only the calling thread)
        just to make it; the rest of the process stays where it was.
        """
        made: list[socket.socket] = []
        failed: list[OSError] = []

        def make() -> None:
            libc = ctypes.CDLL(None, use_errno=True)
            with open(f"/run/netns/{self.name}") as namespace:
                if libc.setns(namespace.fileno(), _CLONE_NEWNET) != 0:
                    errno = ctypes.get_errno()
                    failed.append(OSError(errno, f"setns into {self.name}: {os.strerror(errno)}"))
                    return
            try:
                made.append(socket.create_server((host, port)))
            except OSError as exc:
                failed.append(exc)

        maker = threading.Thread(target=make, name=f"listen-in-{self.name}")
        maker.start()
        maker.join()
        if failed:
            raise failed[0]
        return made[0]

    def __enter__(self) -> Netns:
        return self.create()

    def __exit__(self, *exc_info: object) -> None:
        self.delete()


def run_in(ns: Netns | str, argv: list[str], **popen_kwargs: Any) -> subprocess.Popen[Any]:
    """Start `argv` inside namespace `ns`; the caller owns (and must reap) the process."""
    name = ns.name if isinstance(ns, Netns) else ns
    return subprocess.Popen(["ip", "netns", "exec", name, *argv], **popen_kwargs)


def link(a: Netns | None, a_addr: str, b: Netns, b_addr: str, prefix: int = 30) -> tuple[str, str]:
    """A veth pair between `a` (None: the root namespace) and `b`, each end addressed and up.

    Returns the interface names (a's end, b's end).
    """
    if a is None:
        _address_free_here(a_addr)
    suffix = _short_id()
    a_if, b_if = f"pn{suffix}a", f"pn{suffix}b"
    _ip("link", "add", a_if, "type", "veth", "peer", "name", b_if)
    try:
        _ip("link", "set", b_if, "netns", b.name)
        if a is not None:
            _ip("link", "set", a_if, "netns", a.name)
    except RuntimeError:
        # Still in the root namespace, which nothing else cleans up.
        _ip("link", "del", a_if)
        raise
    for ns, ifname, addr in ((a, a_if, a_addr), (b, b_if, b_addr)):
        scope = ["-n", ns.name] if ns is not None else []
        _ip(*scope, "addr", "add", f"{addr}/{prefix}", "dev", ifname)
        _ip(*scope, "link", "set", ifname, "up")
    return a_if, b_if


def _address_free_here(addr: str) -> None:
    """Refuse an address the root namespace already holds: two veths with one subnet route
    the root namespace's packets to whichever came first, so a lab left by a killed run
    would answer in this one's place (connection refused, or somebody else's node). The
    kernel destroys a deleted namespace's veths a moment later, so the previous module's
    lab is given a few seconds to go."""
    deadline = time.monotonic() + ADDRESS_RELEASE_S
    while True:
        found = subprocess.run(
            ["ip", "-o", "addr", "show", "to", addr], capture_output=True, text=True, timeout=30
        )
        if not found.stdout.strip():
            return
        if time.monotonic() > deadline:
            break
        time.sleep(0.1)
    ifname = found.stdout.split()[1]
    raise RuntimeError(
        f"{addr} is already on {ifname} in the root namespace, likely the veth of a "
        f"network namespace an earlier run left behind (`ip netns list`; end its "
        f"processes, `ip netns pids NAME`, then `ip netns delete NAME`)"
    )


class _Zones:
    """Namespaces deleted together, also when making them failed halfway."""

    def namespaces(self) -> tuple[Netns, ...]:
        raise NotImplementedError

    def delete(self) -> None:
        errors = []
        for ns in reversed(self.namespaces()):
            try:
                ns.delete()
            except RuntimeError as exc:
                errors.append(str(exc))
        if errors:
            raise RuntimeError("; ".join(errors))

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.delete()


def _made(count: int, wire: Callable[[list[Netns]], None]) -> list[Netns]:
    """`count` fresh namespaces, joined by `wire`, none of them forwarding; on any failure
    the ones made are deleted."""
    made: list[Netns] = []
    try:
        for _ in range(count):
            made.append(Netns().create())
        wire(made)
        # Off by default in a new namespace already; said explicitly because the whole point
        # of a topology is that no zone routes another's packets onward.
        for ns in made:
            ns.sysctl("net.ipv4.ip_forward", "0")
    except BaseException:
        for ns in reversed(made):
            ns.delete()
        raise
    return made


@dataclass
class ThreeZones(_Zones):
    """main <-> peer <-> datacenter, plus admin links from the root namespace to main and peer.

    main has no route to the datacenter, and no namespace forwards.
    """

    main: Netns
    peer: Netns
    datacenter: Netns
    main_addr: str  # main's end of main<->peer
    peer_main_addr: str  # peer's end of main<->peer: where main reaches the peer
    peer_dc_addr: str  # peer's end of peer<->datacenter
    datacenter_addr: str  # datacenter's end: where the peer reaches datacenter hosts
    # Where the administrator, in the root namespace, reaches each node's web and API. Neither
    # namespace forwards, so these links give main no way to the datacenter.
    admin_main_addr: str
    admin_peer_addr: str

    def namespaces(self) -> tuple[Netns, ...]:
        return (self.main, self.peer, self.datacenter)


def three_zone_topology() -> ThreeZones:
    """Three fresh namespaces; fixed addresses suffice because each zone has its own stack."""

    def wire(zones: list[Netns]) -> None:
        main, peer, datacenter = zones
        link(main, "10.77.1.1", peer, "10.77.1.2")
        link(peer, "10.77.2.1", datacenter, "10.77.2.2")
        link(None, "10.77.0.1", main, "10.77.0.2")
        link(None, "10.77.3.1", peer, "10.77.3.2")

    main, peer, datacenter = _made(3, wire)
    return ThreeZones(
        main=main,
        peer=peer,
        datacenter=datacenter,
        main_addr="10.77.1.1",
        peer_main_addr="10.77.1.2",
        peer_dc_addr="10.77.2.1",
        datacenter_addr="10.77.2.2",
        admin_main_addr="10.77.0.2",
        admin_peer_addr="10.77.3.2",
    )


@dataclass
class ProxiedPeerZones(_Zones):
    """A peer whose only way out is an HTTP proxy: main <-> proxy <-> peer <-> datacenter,
    plus admin links from the root namespace to main and peer. The main has no route to the
    peer or the datacenter; the peer none to the main but through the proxy. Addresses
    10.78.x.y (the three-zone lab keeps 10.77.x.y)."""

    main: Netns
    proxy: Netns
    peer: Netns
    datacenter: Netns
    main_addr: str = "10.78.1.1"  # where the proxy reaches the main
    proxy_addr: str = "10.78.4.1"  # where the peer reaches the proxy
    peer_proxy_addr: str = "10.78.4.2"  # the peer's end of proxy<->peer
    datacenter_addr: str = "10.78.2.2"  # where the peer reaches datacenter hosts
    admin_main_addr: str = "10.78.0.2"
    admin_peer_addr: str = "10.78.3.2"

    def namespaces(self) -> tuple[Netns, ...]:
        return (self.main, self.proxy, self.peer, self.datacenter)

    def cut(self, up: bool) -> None:
        """Set the peer's way to the proxy down (a cable pulled: nothing is closed, nothing
        arrives), or up again."""
        found = self.peer.run(["ip", "-o", "addr", "show", "to", self.peer_proxy_addr])
        ifname = found.stdout.split()[1]
        _ip("-n", self.peer.name, "link", "set", ifname, "up" if up else "down")


def proxied_peer_topology() -> ProxiedPeerZones:
    def wire(zones: list[Netns]) -> None:
        main, proxy, peer, datacenter = zones
        link(main, "10.78.1.1", proxy, "10.78.1.2")
        link(proxy, "10.78.4.1", peer, "10.78.4.2")
        link(peer, "10.78.2.1", datacenter, "10.78.2.2")
        link(None, "10.78.0.1", main, "10.78.0.2")
        link(None, "10.78.3.1", peer, "10.78.3.2")

    main, proxy, peer, datacenter = _made(4, wire)
    return ProxiedPeerZones(main, proxy, peer, datacenter)
