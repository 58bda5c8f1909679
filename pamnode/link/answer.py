"""On the main: one peer's WebSocket at `/ztna/<tenant>/<site>/peer-link`, from its first
message to its end. The main speaks first with a fresh challenge; the peer answers with its
enrolment (once, with the code) or with the challenge signed by its key; an accepted link is
then the peer's in the hub until it closes.
"""

import asyncio
import logging
from dataclasses import dataclass, field

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from pamnode.core.errors import PamError
from pamnode.db.base import utcnow
from pamnode.link import enrolment
from pamnode.link.hub import LinkHub, LinkStatus
from pamnode.link.keys import key_fingerprint
from pamnode.link.mains import other_mains
from pamnode.link.mux import Channel, Mux
from pamnode.link.wire import Challenge, Hello, Refusal, Verdict

log = logging.getLogger("pamnode.link")

# A peer says who it is within this long, or the WebSocket is closed.
HELLO_TIMEOUT_S = 10.0
# Links that have not yet said who they are, at once. Anyone may open one (as a login page),
# and each holds a WebSocket until its hello or HELLO_TIMEOUT_S: past this many, a new one is
# closed at once, so a crowd of silent sockets holds a bounded share of the node. Real peers
# open one link each (and one more while they re-link), and back off when turned away.
UNPROVEN_MAX = 64
BUSY = "busy: too many links are being opened at once; try again later"


class Unproven:
    """How many links are still to say who they are, within a bound."""

    def __init__(self, limit: int = UNPROVEN_MAX) -> None:
        self.limit = limit
        self.count = 0
        # Turned away since the last link taken: the log names a crowd once, not each socket.
        self.turned_away = 0

    def take(self) -> bool:
        if self.count >= self.limit:
            self.turned_away += 1
            return False
        self.count += 1
        self.turned_away = 0
        return True

    def give_back(self) -> None:
        self.count -= 1


@dataclass(frozen=True)
class MainSide:
    database: async_sessionmaker[AsyncSession]
    hub: LinkHub
    # The main's HTTPS certificate (SHA-256), which the peer pinned and binds its answer to.
    main_sha256: str
    version: str
    unproven: Unproven = field(default_factory=Unproven)


async def _verdict(channel: Channel, verdict: Verdict) -> None:
    await channel.send(verdict.model_dump_json(exclude_none=True).encode())


async def answer(side: MainSide, channel: Channel, tenant: str, site: str, source: str) -> None:
    if not side.unproven.take():
        if side.unproven.turned_away == 1:
            log.warning("links turned away, from %s first: %s", source, BUSY)
        await channel.close(BUSY)
        return
    challenge = enrolment.new_challenge()
    try:
        await channel.send(
            Challenge(challenge=enrolment.encode(challenge), version=side.version)
            .model_dump_json()
            .encode()
        )
        first = await asyncio.wait_for(channel.receive(), HELLO_TIMEOUT_S)
        hello = Hello.model_validate_json(first or b"")
    except (TimeoutError, ValidationError, ConnectionError):
        await channel.close("no valid hello")
        return
    finally:
        side.unproven.give_back()
    try:
        if hello.enrol is not None:
            async with side.database.begin() as db:
                peer = await enrolment.enrol(db, tenant, site, hello.enrol, source)
            log.info("peer node '%s' of %s/%s enrolled from %s", peer.name, tenant, site, source)
            await _verdict(channel, Verdict(link_id=peer.id))
            await channel.close("enrolled")
            return
        if hello.link is None:
            await channel.close("no valid hello")
            return
        async with side.database.begin() as db:
            peer = await enrolment.authenticate(
                db, tenant, site, hello.link, challenge, side.main_sha256
            )
            peer_id, name, key = peer.id, peer.name, peer.link_public_key or ""
            # The peer links to each of them too: this main's loss does not cut it off.
            mains = await other_mains(db, side.main_sha256)
    except PamError as exc:
        await _verdict(channel, Verdict(error=Refusal(code=exc.code, message=exc.message)))
        await channel.close(exc.code)
        return
    linked = Verdict(linked=True, mains=mains)
    await _carry(side, channel, peer_id, name, key, hello.version, source, linked)


async def _carry(
    side: MainSide,
    channel: Channel,
    peer_id: str,
    name: str,
    key: str,
    version: str,
    source: str,
    linked: Verdict,
) -> None:
    mux = Mux(channel, on_heartbeat=lambda rtt: side.hub.heartbeat(peer_id, rtt))
    # Held before the peer hears it is linked: from then on, it is linked here too.
    side.hub.attach(peer_id, mux, LinkStatus(utcnow(), version, key_fingerprint(key)))
    log.info("peer node '%s' linked from %s (version %s)", name, source, version)
    try:
        await _verdict(channel, linked)
        await mux.run()
    finally:
        side.hub.detach(peer_id, mux)
        log.info("peer node '%s' unlinked: %s", name, mux.close_reason)
