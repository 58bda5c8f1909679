"""The request id: one per HTTP request served, and one per request sent to a peer.

Held in a context variable, so every log line written while a request is served carries it
(`RequestIdFilter`) without the code that logs knowing of HTTP. The edge of a request
(`pamnode.http.request_id`) sets it from the caller's `X-Request-ID` when that is a sane token;
the peer client sends the current one, or a new one when none is current (a background task),
so the peer's log names the same id as the main's.
"""

import asyncio
import contextvars
import logging
import re
import secrets
from collections.abc import Coroutine
from typing import Any, TypeVar

HEADER = "X-Request-ID"
# A caller's id is kept only if it is short and plain: it goes into log lines and headers.
_SANE = re.compile(r"[A-Za-z0-9._-]{1,64}")

REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "pamnode_request_id", default=None
)

T = TypeVar("T")


def new_request_id() -> str:
    return secrets.token_hex(8)


def accepted_request_id(given: str | None) -> str:
    """The caller's id if it is a sane token, else a new one."""
    if given is not None and _SANE.fullmatch(given):
        return given
    return new_request_id()


def outgoing_request_id() -> str:
    """The id to send with a request to a peer: the current one, else a new one."""
    return REQUEST_ID.get() or new_request_id()


def background_task(coro: Coroutine[Any, Any, T], name: str) -> "asyncio.Task[T]":
    """A task that outlives whoever starts it and serves others too (a writer, a peer's
    sender): it must not carry the id of the request that happened to start it."""
    context = contextvars.copy_context()
    context.run(REQUEST_ID.set, None)
    return asyncio.create_task(coro, name=name, context=context)


class RequestIdFilter(logging.Filter):
    """Adds `request_id` (None outside a request) to every record that passes."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = REQUEST_ID.get()
        return True
