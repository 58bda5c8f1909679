"""TCP ports for the lab's servers.

By default the kernel picks a free one. With `PAMNODE_PORT_RANGE=LOW-HIGH` (scripts/test.sh
gives each shard of the suite its own range, below the kernel's ephemeral ports) a free port
is drawn from that range instead, never the same one twice in a process: two shards running
at once then never hand out the same port, as two kernel picks could between one shard's
pick and its server's bind.
"""

import os
import random
import socket

_draw = random.SystemRandom()
_given: set[int] = set()


def _range() -> tuple[int, int] | None:
    given = os.environ.get("PAMNODE_PORT_RANGE", "")
    if not given:
        return None
    low, _, high = given.partition("-")
    return int(low), int(high)


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (the caller may still race)."""
    span = _range()
    if span is None:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            return int(sock.getsockname()[1])
    low, high = span
    if len(_given) > (high - low) // 2:
        # The oldest were given long ago; their servers have ended.
        _given.clear()
    for _ in range(1000):
        port = _draw.randint(low, high)
        if port not in _given and _bindable(port):
            _given.add(port)
            return port
    raise RuntimeError(f"no free port in PAMNODE_PORT_RANGE={low}-{high}")
