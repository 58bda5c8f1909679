"""Session tickets of a gateway: one use, a short life, and a clear reason for each refusal."""

from __future__ import annotations

import pytest

from pamnode.core.errors import Unauthenticated
from pamnode.sessions.tickets import Grant, TicketBook


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


GRANT = Grant("s-1", "ssh", {"password": "secret"}, "peer::t::root", "t", "root")


def refusal(book: TicketBook, ticket: str) -> str:
    with pytest.raises(Unauthenticated) as caught:
        book.redeem(ticket)
    return caught.value.code


def test_a_ticket_opens_once():
    book = TicketBook(30, Clock())
    ticket = book.issue(GRANT)
    assert book.redeem(ticket) == GRANT
    assert refusal(book, ticket) == "ticket_used"
    assert refusal(book, "made-up") == "ticket_unknown"


def test_a_ticket_expires_and_is_then_forgotten():
    clock = Clock()
    book = TicketBook(30, clock)
    ticket = book.issue(GRANT)
    clock.now += 31
    assert refusal(book, ticket) == "ticket_expired"
    clock.now += 120
    book.issue(GRANT)  # issuing sweeps what is long gone
    assert refusal(book, ticket) == "ticket_unknown"


def test_the_credential_never_shows_in_a_grants_repr():
    assert "secret" not in repr(GRANT)
