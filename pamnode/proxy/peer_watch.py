"""A peer that carries a proxy session (an SSH-proxy channel, an RDP pass-through) and stops
answering without closing anything (frozen, or its network cut): the bytes it relays are the
user's own, and a quiet shell looks the same as a frozen peer, so the main asks the peer's API
while the session lasts. The rule is the gateway's (sessions/relay.py): a peer silent for
SILENCE_S is lost. It is asked every KEEP_ALIVE_S (the gateway front's `nop` period), each
question waiting for what is left of SILENCE_S since its last answer, so a frozen peer is
noticed at most SILENCE_S after it froze.

On loss the route's connection is closed: the session's carrier sees its route end, as when the
peer dies, and ends the row `failed` with `peer_lost` and the reason noted here.
"""

import asyncio
import time

from pamnode.core.errors import PeerFailure
from pamnode.proxy.context import ProxyContext
from pamnode.proxy.route import Route
from pamnode.sessions.front import KEEP_ALIVE_S
from pamnode.sessions.relay import SILENCE_S


async def watch_peer(ctx: ProxyContext, route: Route) -> None:
    """Until cancelled: close the route, and note why in `route.lost`, once its peer has not
    answered for SILENCE_S. Returns at once for a route of this node."""
    if route.peer_api is None:
        return
    answered = time.monotonic()
    while time.monotonic() - answered < SILENCE_S:
        await asyncio.sleep(KEEP_ALIVE_S)
        left = SILENCE_S - (time.monotonic() - answered)
        try:
            async with asyncio.timeout(max(left, 0.1)):
                await ctx.peers.call(route.peer_api, "GET", "peer/info", timeout=max(left, 0.1))
        except (PeerFailure, TimeoutError):
            continue
        answered = time.monotonic()
    route.lost = (
        f"peer node '{route.peer_node}' was lost in the middle of the session: it did not "
        f"answer for {SILENCE_S:g} s"
    )
    # At once: a TLS close would wait for the frozen peer's own close first.
    route.connection.writer.transport.abort()
