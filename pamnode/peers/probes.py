"""Test Connection's look at a peer's listeners: its gateway front and its HTTP proxy.

Each is reached over TLS with its own pin, then asked something it must refuse in its own
protocol (the front: an instruction that carries no ticket; the proxy: a CONNECT without
credentials). Only the listener that was meant answers that refusal, so a Gateway or HTTP Proxy
Address typed wrong — nothing there, another server, or the peer's API port, which presents
the same certificate — is named here rather than found at the first Access.
"""

import asyncio

from pamnode.core.errors import PeerFailure
from pamnode.peers.client import ListenerEndpoint, PeerClients
from pamnode.peers.models import Component

PROBE_TIMEOUT_S = 10.0
# What the main sends a gateway front: a Guacamole `nop` instruction, which is not a ticket.
_GATEWAY_PROBE = b"3.nop;"
# The front's refusal is a Guacamole `error` instruction.
_GATEWAY_REFUSAL = b"5.error,"
# A name that resolves nowhere: the proxy asks for credentials before it looks at the target.
_PROXY_PROBE = b"CONNECT probe.invalid:9 HTTP/1.1\r\nHost: probe.invalid:9\r\n\r\n"
_PROXY_REFUSAL = b'Proxy-Authenticate: Bearer realm="pamnode"'


async def answers_as(component: Component, clients: PeerClients, target: ListenerEndpoint) -> None:
    """Nothing if `component` answers at its address (or through the peer's link) over its
    pin; else a PeerFailure that says what was found there."""
    try:
        await asyncio.wait_for(_ask(component, clients, target), PROBE_TIMEOUT_S)
    except TimeoutError as exc:
        raise PeerFailure(
            f"no answer within {PROBE_TIMEOUT_S:.0f} s", code="connect_failed"
        ) from exc


async def _ask(component: Component, clients: PeerClients, target: ListenerEndpoint) -> None:
    reader, writer = await clients.open_listener(target)
    try:
        if component is Component.GATEWAY:
            writer.write(_GATEWAY_PROBE)
            answer = await reader.read(4096)
            if not answer.startswith(_GATEWAY_REFUSAL):
                raise _not_it(component, answer)
        else:
            writer.write(_PROXY_PROBE)
            answer = await reader.read(16384)
            head = answer.partition(b"\r\n\r\n")[0]
            if not head.startswith(b"HTTP/1.1 407 ") or _PROXY_REFUSAL not in head:
                raise _not_it(component, answer)
    except OSError as exc:
        raise PeerFailure(f"the connection failed: {exc}", code="connect_failed") from exc
    finally:
        writer.close()


def _not_it(component: Component, answer: bytes) -> PeerFailure:
    first = answer.split(b"\r\n", 1)[0][:80].decode("latin-1", "replace") or "nothing"
    return PeerFailure(
        f"the server there is not a pamnode {component.label} (it answered {first!r}): "
        f"check the {component.label} Address",
        code="wrong_listener",
    )
