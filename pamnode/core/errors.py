"""Domain errors raised by services; the web layer maps each kind to one HTTP status.

Services stay free of HTTP: they say *what* went wrong (not found, conflict, refused) and
`pamnode.http.app` decides how that is spelled on the wire.
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
