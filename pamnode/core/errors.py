"""Every error a person should read, in one tree; services raise them, adapters spell them.

    PamError                 code, message (codes: pamnode/core/codes.py)
    ├── InvalidInput         the request is wrong                          HTTP 422
    ├── NotFound             what it names does not exist (or is hidden)   HTTP 404
    ├── Conflict             it clashes with what exists                   HTTP 409
    ├── Unauthenticated      the caller could not be identified            HTTP 401
    ├── Forbidden            the caller is known but may not do this       HTTP 403
    ├── Throttled            too many attempts; retry_after_s              HTTP 429
    ├── Unavailable          something the node needs is missing           HTTP 503
    │   ├── VaultError       (crypto/cipher.py) a sealed value cannot be opened
    │   └── KeyRingError     (crypto/keyring.py) the key ring cannot serve a key
    ├── PeerFailure          a peer node could not be used                 HTTP 502
    └── ExecutionError       a job's task could not run on its host        (a job's error_code)

Services stay free of HTTP: they say *what* went wrong. The statuses above are one table,
`HTTP_STATUS` below, which every HTTP adapter reads (`pamnode/http/errors.py` for the API and
the console, the peer's CONNECT proxy); each adapter decides the rest of the spelling.
"""


class PamError(Exception):
    """Base of every error a person should read. `code` is stable, `message` is for people."""

    code = "error"

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code


class InvalidInput(PamError):
    code = "invalid_input"


class NotFound(PamError):
    code = "not_found"


class Conflict(PamError):
    code = "conflict"


class Unauthenticated(PamError):
    """The caller could not be identified (no, bad, expired or revoked credentials)."""

    code = "unauthenticated"


class Forbidden(PamError):
    """The caller is known but may not do this."""

    code = "forbidden"


class Throttled(PamError):
    """Too many attempts: the caller must wait `retry_after_s` seconds before the next."""

    code = "throttled"

    def __init__(self, message: str, retry_after_s: int, code: str | None = None) -> None:
        super().__init__(message, code)
        self.retry_after_s = retry_after_s


class Unavailable(PamError):
    """Something this node needs to serve the request is not available (e.g. its key ring)."""

    code = "vault_unavailable"


class PeerFailure(PamError):
    """A peer node could not be used; `code` names the layer (dns, connect, tls, token, ...)."""

    code = "peer_error"


class ExecutionError(PamError):
    """A job's task could not run at all (network, credential, host key, timeout, protocol).

    A script that runs and exits non-zero is a result, not this error.
    """

    code = "protocol_error"

    def __str__(self) -> str:
        # Logged where a job breaks: the code says which failure it was at a glance.
        return f"{self.code}: {self.message}"


# The statuses drawn above, the one table both HTTP adapters read: the REST API and the peer
# protocol (`pamnode/http/errors.py`) and the peer's HTTP CONNECT proxy (which says 401 as
# 407, proxy authentication). Most precise kind first; anything else is a 500.
HTTP_STATUS: dict[type[PamError], int] = {
    Throttled: 429,
    InvalidInput: 422,
    NotFound: 404,
    Conflict: 409,
    Unauthenticated: 401,
    Forbidden: 403,
    Unavailable: 503,
    PeerFailure: 502,
    ExecutionError: 502,
    PamError: 500,
}


def http_status(exc: PamError) -> int:
    return next(status for kind, status in HTTP_STATUS.items() if isinstance(exc, kind))
