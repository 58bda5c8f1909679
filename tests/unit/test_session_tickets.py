"""One-time tokens (a gateway's session tickets, the proxy's grants): one use, a short life,
and a clear reason for each refusal."""

from __future__ import annotations

import pytest

from pamnode.core.errors import Unauthenticated
from pamnode.core.once import OneTimeBook
from pamnode.sessions.tickets import Grant


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


GRANT = Grant("s-1", "ssh", {"password": "secret"}, "peer::t::root", "t", "root")


def refusal(book: OneTimeBook[Grant], ticket: str) -> str:
    with pytest.raises(Unauthenticated) as caught:
        book.redeem(ticket)
    return caught.value.code


def test_a_ticket_opens_once():
    book = OneTimeBook("session ticket", 30, Clock())
    ticket = book.issue(GRANT)
    assert book.redeem(ticket) == GRANT
    assert refusal(book, ticket) == "ticket_used"
    assert refusal(book, "made-up") == "ticket_unknown"


def test_peeking_does_not_use_a_ticket():
    book = OneTimeBook("proxy grant", 30, Clock())
    ticket = book.issue(GRANT)
    assert book.peek(ticket) == book.redeem(ticket) == GRANT


def test_a_ticket_expires_and_is_then_forgotten():
    clock = Clock()
    book = OneTimeBook("session ticket", 30, clock)
    ticket = book.issue(GRANT)
    clock.now += 31
    assert refusal(book, ticket) == "ticket_expired"
    clock.now += 120
    book.issue(GRANT)  # issuing sweeps what is long gone
    assert refusal(book, ticket) == "ticket_unknown"


def test_the_credential_never_shows_in_a_grants_repr():
    assert "secret" not in repr(GRANT)
