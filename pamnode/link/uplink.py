"""On the peer: the link each enrolled site keeps to its main — dial, prove the key, carry the
main's streams to this node's own listeners, and dial again with full-jitter exponential
backoff whenever the link ends.

The main names a listener, never an address: `Listeners` maps the three names to this node's
own API, gateway front and HTTP proxy, and a stream to anything else is refused.
"""

import asyncio
import base64
import contextlib
import logging
import random
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from pydantic import ValidationError

from pamnode.core.errors import Conflict, InvalidInput, PamError, PeerFailure
from pamnode.core.streams import Connection, SpliceEnd, splice, stream_pair
from pamnode.db.base import utcnow
from pamnode.link import keys
from pamnode.link.dialer import WebSocketChannel, open_link
from pamnode.link.mux import Mux
from pamnode.link.stream import StreamTransport
from pamnode.link.wire import Answer, Challenge, Hello, MainAddress, Verdict
from pamnode.peers.addresses import PeerSiteUrl, parse_site_url
from pamnode.peers.links import API
from pamnode.peers.trust import pinned_context

log = logging.getLogger("pamnode.link")

# The first retry waits up to this long; each failure doubles it, up to the cap.
BACKOFF_BASE_S = 1.0
VERDICT_TIMEOUT_S = 15.0


def backoff_delay(failures: int, cap_s: float, rng: random.Random) -> float:
    """Full jitter: uniform between 0 and the exponential bound, so peers that lost one main
    at once do not all come back at the same moment."""
    return rng.uniform(0, min(cap_s, BACKOFF_BASE_S * 2 ** min(failures, 30)))


# Serves a stream of the link in this process (a TLS listener's `take`).
Take = Callable[[asyncio.Transport], None]


@dataclass
class Listeners:
    """This node's own listeners a main may reach through the link, by name: its API at the
    address it listens on, and the TLS listeners that serve streams in-process once they
    start (`serve_here`). A stream to any other name is refused."""

    api: tuple[str, int]
    _here: dict[str, Take] = field(default_factory=dict)
    # Streams to the API, each spliced to a connection to it.
    _bridges: set[asyncio.Task[SpliceEnd]] = field(default_factory=set)

    def serve_here(self, name: str, take: Take) -> None:
        self._here[name] = take

    async def open(self, name: str, stream: StreamTransport) -> None:
        take = self._here.get(name)
        if take is not None:
            take(stream)
            return
        if name != API:
            raise PeerFailure(
                f"this peer has no listener '{name[:40]}'", code="link_stream_refused"
            )
        try:
            reader, writer = await asyncio.open_connection(*self.api)
        except OSError as exc:
            raise PeerFailure(
                f"this peer's {name} does not answer: {exc}", code="link_stream_refused"
            ) from exc
        bridge = asyncio.create_task(
            splice(Connection(*stream_pair(stream)), Connection(reader, writer))
        )
        self._bridges.add(bridge)
        bridge.add_done_callback(self._bridges.discard)


@dataclass(frozen=True)
class UplinkTarget:
    main: PeerSiteUrl
    main_sha256: str
    main_pem: str
    link_id: str
    private_key: bytes


@dataclass
class UplinkState:
    """What the peer's console shows of its link."""

    connected_since: datetime | None = None
    last_error: str = ""
    round_trip_ms: float | None = None


# What the peer says first, given the main's challenge.
HelloMaker = Callable[[bytes], Hello]

# How the main's refusals are told on the peer (its administrator's enrolment answers 4xx);
# any other refusal is the main's failure to link.
_REFUSALS: dict[str, type[PamError]] = {
    "enrolment_code_invalid": InvalidInput,
    "enrolment_code_expired": InvalidInput,
    "invalid_link_key": InvalidInput,
    "enrolment_code_used": Conflict,
}


async def hello_of(
    target: PeerSiteUrl, context: ssl.SSLContext, hello: HelloMaker
) -> tuple[WebSocketChannel, Verdict]:
    """Dial the main, read its challenge, send our hello, and read its verdict (a refusal
    raised as the error it names)."""
    channel = WebSocketChannel(await open_link(target, context))

    async def message() -> bytes:
        return await asyncio.wait_for(channel.receive(), VERDICT_TIMEOUT_S) or b""

    try:
        challenge = Challenge.model_validate_json(await message())
        await channel.send(hello(base64.b64decode(challenge.challenge)).model_dump_json().encode())
        verdict = Verdict.model_validate_json(await message())
    except (TimeoutError, ValidationError, ValueError, ConnectionError) as exc:
        await channel.close("no answer")
        raise PeerFailure(
            f"the main at {target.base} did not answer as a pamnode main: {exc}",
            code="link_refused",
        ) from exc
    if verdict.error is not None:
        await channel.close("refused")
        kind = _REFUSALS.get(verdict.error.code, PeerFailure)
        raise kind(f"the main refused: {verdict.error.message}", code=verdict.error.code)
    return channel, verdict


@dataclass
class Uplinks:
    listeners: Listeners
    version: str
    backoff_cap_s: float
    rng: random.Random = field(default_factory=random.SystemRandom)
    # The link of each site to the main it enrolled at, as its console shows it.
    states: dict[str, UplinkState] = field(default_factory=dict)
    # Each site's links, by the certificate SHA-256 of the main: the one it enrolled at, and
    # every other main of that main's database it was told of (docs/peers.md, several mains).
    _links: dict[str, dict[str, asyncio.Task[None]]] = field(default_factory=dict)

    def keep(self, site_id: str, target: UplinkTarget) -> None:
        """Keep `target`'s link from now on (the links the site kept before are replaced)."""
        self.drop(site_id)
        self.states[site_id] = UplinkState()
        self._links[site_id] = {}
        self._start(site_id, target, self.states[site_id])

    def _start(self, site_id: str, target: UplinkTarget, state: UplinkState) -> None:
        self._links[site_id][target.main_sha256] = asyncio.create_task(
            self._keep(site_id, target, state), name=f"link to {target.main.base}"
        )

    def _learn(self, site_id: str, target: UplinkTarget, mains: list[MainAddress]) -> None:
        """Link to each other main `target`'s main told of, once each, with the same key: the
        main's loss then leaves the others linked. Its own pinned link vouches for them."""
        links = self._links.get(site_id)
        if links is None:
            return
        for main in mains:
            if main.sha256 in links:
                continue
            try:
                url = parse_site_url(
                    f"{main.url}/ztna/{target.main.tenant}/{target.main.site}",
                    "main URL",
                    code="invalid_main_url",
                )
            except InvalidInput as exc:
                log.warning("main %s told of a main it names wrongly: %s", target.main.base, exc)
                continue
            other = UplinkTarget(
                url, main.sha256, main.certificate_pem, target.link_id, target.private_key
            )
            log.info("main %s told of main %s: linking to it too", target.main.base, url.base)
            self._start(site_id, other, UplinkState())

    def drop(self, site_id: str) -> None:
        for task in self._links.pop(site_id, {}).values():
            task.cancel()
        self.states.pop(site_id, None)

    async def close(self) -> None:
        tasks = [task for links in self._links.values() for task in links.values()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._links.clear()

    async def _keep(self, site_id: str, target: UplinkTarget, state: UplinkState) -> None:
        failures = 0
        while True:
            try:
                await self._once(site_id, target, state)
                failures = 0
            except PamError as exc:
                state.last_error = exc.message
                failures += 1
            except (OSError, ConnectionError) as exc:
                state.last_error = str(exc) or type(exc).__name__
                failures += 1
            except Exception as exc:
                # Whatever broke this attempt, the link is dialled again: it is the only way
                # the main reaches this peer.
                log.exception("link to %s broke", target.main.base)
                state.last_error = f"{type(exc).__name__}: {exc}"
                failures += 1
            state.connected_since = None
            delay = backoff_delay(failures, self.backoff_cap_s, self.rng)
            log.info(
                "link to %s down (%s); dialling again in %.1f s",
                target.main.base,
                state.last_error or "closed",
                delay,
            )
            await asyncio.sleep(delay)

    async def _once(self, site_id: str, target: UplinkTarget, state: UplinkState) -> None:
        def signed(challenge: bytes) -> Hello:
            signature = keys.sign(
                target.private_key,
                target.main.tenant,
                target.main.site,
                target.link_id,
                target.main_sha256,
                challenge,
            )
            return Hello(
                version=self.version, link=Answer(link_id=target.link_id, signature=signature)
            )

        channel, verdict = await hello_of(target.main, pinned_context(target.main_pem), signed)
        self._learn(site_id, target, verdict.mains)

        def heard(round_trip_s: float) -> None:
            state.round_trip_ms = round(round_trip_s * 1000, 1)

        # What this node's listeners see as the source of the main's streams: the main.
        source = {"peername": (target.main.host, target.main.port)}
        mux = Mux(channel, accept=self.listeners.open, on_heartbeat=heard, extra=source)
        state.connected_since, state.last_error = utcnow(), ""
        log.info("linked to %s", target.main.base)
        try:
            await mux.run()
        finally:
            state.last_error = mux.close_reason
            with contextlib.suppress(Exception):
                await channel.close(mux.close_reason or "closed")
