"""A peer that carries a proxy session (an SSH-proxy channel, an RDP pass-through) and stops
answering without closing anything (frozen, or its network cut): the bytes it relays are the
user's own, and a quiet shell looks the same as a frozen peer, so the main asks the peer's API
whenever the route is quiet. The rule is the gateway's (sessions/relay.py): a peer silent
for SILENCE_S is lost. Bytes received through the route count as hearing from it; after a quiet of
KEEP_ALIVE_S (the gateway front's `nop` period) its API is asked (`GET peer/info`), waiting at
most for what is left of SILENCE_S. Bytes are looked for every KEEP_ALIVE_S, so a frozen peer
is noticed 7 to 13 s after it froze.

On loss the route's connection is closed: the session's carrier sees its route end, as when the
peer dies, and ends the row `failed` with `peer_lost` and the reason noted here.
"""

import asyncio

from pamnode.core.errors import PeerFailure
from pamnode.proxy.context import ProxyContext
from pamnode.proxy.route import Route
from pamnode.sessions.relay import KEEP_ALIVE_S, SILENCE_S


async def watch_peer(ctx: ProxyContext, route: Route) -> None:
    """Until cancelled: close the route, and note why in `route.lost`, once its peer has not
    been heard from for SILENCE_S. Returns at once for a route of this node."""
    if route.peer_api is None:
        return
    loop = asyncio.get_running_loop()
    heard, received = loop.time(), route.connection.bytes_in
    while loop.time() - heard < SILENCE_S:
        await asyncio.sleep(KEEP_ALIVE_S)
        # Bytes that came through the route are the peer's answer too (not those sent: a user
        # typing into a frozen peer is not heard from it): it is asked only in a quiet.
        if route.connection.bytes_in != received:
            heard, received = loop.time(), route.connection.bytes_in
        quiet = loop.time() - heard
        if quiet < KEEP_ALIVE_S or quiet >= SILENCE_S:
            continue
        try:
            async with asyncio.timeout(SILENCE_S - quiet):
                await ctx.peers.call(route.peer_api, "GET", "peer/info", timeout=SILENCE_S - quiet)
        except (PeerFailure, TimeoutError):
            continue
        heard = loop.time()
    route.lost = route.lost_because(f"it did not answer for {SILENCE_S:g} s")
    # At once: a TLS close would wait for the frozen peer's own close first.
    route.connection.writer.transport.abort()
