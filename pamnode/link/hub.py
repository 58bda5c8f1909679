"""On the main: the links its peers keep to it, by peer node id, and what the Peer Nodes
page shows of each.

A link lives in the main it reached; another main on the same database does not hold it and
answers `link_down` for that peer (docs/peers.md).
"""

from dataclasses import dataclass
from datetime import datetime

from pamnode.core.errors import PeerFailure
from pamnode.db.base import utcnow
from pamnode.link.mux import Mux
from pamnode.link.stream import StreamTransport


@dataclass
class LinkStatus:
    connected_since: datetime
    peer_version: str
    key_sha256: str
    # The last heartbeat's answer and its round trip.
    last_heartbeat: datetime | None = None
    round_trip_ms: float | None = None


@dataclass
class _Held:
    mux: Mux
    status: LinkStatus
    # Counts the peer's links to this main: a stream opened on one ended with it if another
    # (or none) holds now.
    number: int


class LinkHub:
    def __init__(self) -> None:
        self._held: dict[str, _Held] = {}
        self._count = 0
        # Why each peer's last link ended.
        self._why: dict[str, str] = {}

    def attach(self, peer_id: str, mux: Mux, status: LinkStatus) -> None:
        """The peer's new link; one it kept before (gone without our noticing) is closed."""
        old = self._held.get(peer_id)
        if old is not None:
            old.mux.close("the peer linked again")
        self._count += 1
        self._held[peer_id] = _Held(mux, status, self._count)

    def detach(self, peer_id: str, mux: Mux) -> None:
        held = self._held.get(peer_id)
        if held is not None and held.mux is mux:
            del self._held[peer_id]
            self._why[peer_id] = mux.close_reason

    def epoch(self, peer_id: str) -> int | None:
        held = self._held.get(peer_id)
        return None if held is None or held.mux.ended else held.number

    def lost(self, peer_id: str) -> str:
        held = self._held.get(peer_id)
        if held is not None and held.mux.ended:
            return held.mux.close_reason
        return self._why.get(peer_id) or "the link closed"

    def heartbeat(self, peer_id: str, round_trip_s: float) -> None:
        held = self._held.get(peer_id)
        if held is not None:
            held.status.last_heartbeat = utcnow()
            held.status.round_trip_ms = round(round_trip_s * 1000, 1)

    def close(self, peer_id: str, reason: str) -> None:
        """Closes the peer's link at once (its enrolment was revoked, or the peer deleted)."""
        held = self._held.pop(peer_id, None)
        if held is not None:
            self._why[peer_id] = reason
            held.mux.close(reason)

    def close_all(self) -> None:
        for peer_id in list(self._held):
            self.close(peer_id, "the main node is stopping")

    def status(self, peer_id: str) -> LinkStatus | None:
        held = self._held.get(peer_id)
        return held.status if held is not None else None

    async def open(self, peer_id: str, listener: str) -> StreamTransport:
        held = self._held.get(peer_id)
        if held is None:
            raise PeerFailure(
                "the peer dials this main and has no link to it now", code="link_down"
            )
        return await held.mux.open(listener)
