"""Whether a browser's `Origin` is this node as the request reached it: scheme, host and port.

The host and port alone would take `http://node:6443` (a page served in clear, or by anyone
who can answer on that address without TLS) for the console at `https://node:6443`.
"""

from urllib.parse import urlsplit

DEFAULT_PORTS = {"http": 80, "https": 443}
# A WebSocket's scheme is the one its page was served with.
PAGE_SCHEME = {"ws": "http", "wss": "https"}


def _origin_of(scheme: str, netloc: str) -> tuple[str, str, int] | None:
    scheme = PAGE_SCHEME.get(scheme, scheme)
    try:
        parts = urlsplit(f"{scheme}://{netloc}")
        port = parts.port or DEFAULT_PORTS.get(scheme)
    except ValueError:
        return None
    if not parts.hostname or port is None:
        return None
    return scheme, parts.hostname, port


def same_origin(origin: str, scheme: str, host: str) -> bool:
    """`origin` (the header) against the request's scheme and `Host` header."""
    given = urlsplit(origin)
    mine = _origin_of(scheme, host)
    return mine is not None and _origin_of(given.scheme, given.netloc) == mine
