"""One proxy session from its reach to its end, whatever its protocol: the use case an SSH-proxy
channel and an RDP pass-through share once their listener opened the session
(`proxy/opening.py`).

    reach the target (proxy/route.py: straight, or through a peer's HTTP proxy)
    → the protocol connects over the route          (Carrier.connect)
    → the row starts, unless terminated meanwhile   (sessions/lifecycle.started)
    → the protocol carries until a side ends        (Carrier.carry), the peer watched
    → the row ends with how it ended and what was recorded (sessions/lifecycle.ended)

What differs between protocols is a `Carrier`: `proxy/ssh_carrier.py` speaks SSH to the target
and records the channel; `proxy/rdp.py` splices the client's bytes as they are.
"""

import asyncio
import logging
from dataclasses import dataclass
from typing import Protocol

from pamnode.core.errors import PamError
from pamnode.proxy.context import ProxyContext
from pamnode.proxy.opening import Opened
from pamnode.proxy.peer_watch import watch_peer
from pamnode.proxy.route import Route, reach
from pamnode.sessions import lifecycle
from pamnode.sessions.states import End, SessionState

log = logging.getLogger("pamnode.proxy")


@dataclass(frozen=True)
class Outcome:
    """How a proxy session ended, for its row and its client."""

    state: SessionState = SessionState.COMPLETED
    error: str = ""
    code: str = ""

    @classmethod
    def failed(cls, error: str, code: str = "") -> "Outcome":
        return cls(SessionState.FAILED, error, code)

    @property
    def has_failed(self) -> bool:
        return self.state == SessionState.FAILED


class Carrier(Protocol):
    """One protocol's part of a proxy session."""

    async def connect(self, opened: Opened, route: Route) -> None:
        """Open the target's side over the route; a PamError says why it could not."""

    async def carry(self, route: Route) -> Outcome:
        """Carry the client to the target until either side ends, and say how it ended (a
        PamError for a failure)."""

    async def close(self) -> None:
        """Let go of everything the carrier opened, whether it carried or not (again: no-op)."""

    def recordings(self) -> list[str]:
        """The recording files written in the session's directory, once closed."""


async def carry_session(ctx: ProxyContext, opened: Opened, carrier: Carrier) -> Outcome:
    """Carry the opened session to its end and record it; returns how it ended. Cancelled
    (its client went away first), the row still ends, completed."""
    route: Route | None = None
    outcome = Outcome()
    try:
        route = await reach(
            ctx,
            opened.session_id,
            opened.host,
            opened.port,
            opened.candidates,
            opened.here_signature,
            opened.scope,
        )
        outcome = await _carry_route(ctx, opened, carrier, route)
    except PamError as exc:
        outcome = Outcome.failed(exc.message, code=exc.code)
    except asyncio.CancelledError:
        outcome = Outcome(error="the client went away")
    except Exception:
        # A fault of this node's, not of the route or the host: its row does not say completed.
        log.exception("proxy session %s broke", opened.session_id)
        outcome = Outcome.failed("the session broke inside pamnode", code="internal_error")
    finally:
        await carrier.close()
        how = End(
            outcome.state,
            error=outcome.error,
            code=outcome.code,
            bytes_in=route.connection.bytes_in if route else 0,
            bytes_out=route.connection.bytes_out if route else 0,
            recordings=carrier.recordings(),
        )
        directory = ctx.recording_dir(opened.session_id)
        await asyncio.shield(
            lifecycle.ended(ctx.database, opened.scope, opened.session_id, how, directory)
        )
    return outcome


async def _carry_route(
    ctx: ProxyContext, opened: Opened, carrier: Carrier, route: Route
) -> Outcome:
    sid = opened.session_id
    peer_watch = asyncio.create_task(watch_peer(ctx, route))
    try:
        await carrier.connect(opened, route)
        # Known before the start is: a terminate that finds the session active finds it.
        ctx.live[sid] = route.connection
        started = await lifecycle.started(
            ctx.database, opened.scope, sid, route.via, route.peer_node, route.node_signature
        )
        if not started:
            # The row keeps the end its terminate wrote; this one is for the client.
            return Outcome.failed(lifecycle.NOT_STARTED)
        return await carrier.carry(route)
    finally:
        peer_watch.cancel()
        ctx.live.pop(sid, None)


async def end_unstarted(ctx: ProxyContext, opened: Opened, outcome: Outcome) -> None:
    """End a session refused or abandoned before its target was reached (nothing carried)."""
    how = End(outcome.state, error=outcome.error, code=outcome.code)
    await lifecycle.ended(ctx.database, opened.scope, opened.session_id, how)
