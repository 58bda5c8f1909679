"""Verified API-token callers, remembered for a few seconds.

Why: a main node drives its delegated jobs on a peer with one API token, request after
request (submit, long-poll, cancel). Verifying that token costs a signature check and five
queries per request (the issuing tenant, the user, the token's row, the site of the URL, the
user's roles on it). A caller verified once is remembered instead.

What it bounds:

- time: an entry lives `api_token_cache_s` seconds (5 by default; 0 turns the cache off),
  and never beyond its token's own expiry;
- memory: at most `MAX_ENTRIES` entries, the least recently used dropped first, so that
  many tokens cannot grow the node;
- scope: an entry is keyed by a hash of the token (the token itself is not kept), the
  tenant and site of the URL and the request's source address (the token's source filter
  depends on it). A request that differs in any of them is verified afresh and refused as
  before (`token_wrong_site`, `token_source_denied`, ...). Only API-token callers are kept: a
  login session (API or console) is verified on every request, so a logout ends it at once.

Revocation, one rule (`_note_flush`, `_note_bulk`, `_count_commit`): when an ORM session of
this process commits a change to a row a caller is built from (a tenant, a site, a user, a
site-role grant, an API token), every entry is dropped. So on this node, disabling, deleting
or changing a token, locking, changing or deleting a user, granting or revoking a role,
deleting a tenant refuse the token from the next request on, whichever service made the
change; no service has to remember to invalidate. What no session of this process sees
(another node sharing the database, SQL typed by hand or sent on a bare connection) takes
effect when the entry lapses: at most `api_token_cache_s` seconds later. A verification that
raced such a commit (it read the database before the commit and finished after) is not
remembered: the count of revoking commits is read before the first query and compared before
keeping. Everything here runs on the node's one event loop (no lock).

One verification per key at a time: requests that arrive with a token while it is being
verified wait for that verification and use what it remembered, instead of each running the
same five queries (a burst of 200 requests with one token once held the database pool with
1,000 identical queries and answered 503 to most). A waiter whose key was not remembered
(the token was refused, or a revocation raced it) verifies for itself, as before.

The caller's ORM objects never cross from one request's session to another: an entry keeps
plain column values (never the password hash) and each hit rebuilds the tenant, site and
user as persistent objects of the request's own session without SQL
(`make_transient_to_detached`, then `merge(load=False)`), as if the request had loaded them.
"""

import asyncio
import hashlib
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from itertools import chain
from typing import Any, TypeVar

from sqlalchemy import event, inspect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import ORMExecuteState, Session, make_transient_to_detached

from pamnode.db.base import Base, utcnow
from pamnode.identity.auth import Verified
from pamnode.identity.models import ApiToken, Site, SiteRoleGrant, Tenant, User
from pamnode.identity.principal import Principal
from pamnode.identity.roles import SiteRole
from pamnode.identity.signing import Claims

MAX_ENTRIES = 4096
# The rows a cached caller is built from: a committed change to any of them drops every entry.
REVOKING = (Tenant, Site, User, SiteRoleGrant, ApiToken)
# Not kept: no route reads it from the caller, and a password hash need not sit in memory.
NOT_KEPT = frozenset({"password_hash"})
# Session.info key: this transaction flushed a revoking change.
_CHANGED = "pamnode.identity.caller_cache.changed"

# (sha256 of the token, tenant, site, source address)
Key = tuple[bytes, str, str, str]
Model = TypeVar("Model", bound=Base)


class _Revocations:
    """How many revoking commits this process has seen (one count for every node's cache in
    the process: an in-process test with several nodes only forgets more)."""

    count = 0


@event.listens_for(Session, "after_flush")
def _note_flush(session: Session, _context: Any) -> None:
    changed = chain(session.new, session.dirty, session.deleted)
    if any(isinstance(row, REVOKING) for row in changed):
        session.info[_CHANGED] = True


@event.listens_for(Session, "do_orm_execute")
def _note_bulk(state: ORMExecuteState) -> None:
    """UPDATE and DELETE statements bypass the flush; none touches these tables today."""
    if not (state.is_update or state.is_delete):
        return
    mapper = state.bind_mapper
    if mapper is not None and issubclass(mapper.class_, REVOKING):
        state.session.info[_CHANGED] = True


@event.listens_for(Session, "after_commit")
def _count_commit(session: Session) -> None:
    # A savepoint's release is not the commit: the outer transaction's decides.
    if session.in_nested_transaction():
        return
    if session.info.pop(_CHANGED, False):
        _Revocations.count += 1


@dataclass(frozen=True)
class _Entry:
    tenant: dict[str, Any]
    site: dict[str, Any]
    user: dict[str, Any]
    roles: frozenset[SiteRole]
    groups: frozenset[str]
    via: str
    claims: Claims
    # On the cache's clock.
    until: float


def _values(row: Base) -> dict[str, Any]:
    """The row's loaded column values, as a query would hand them back."""
    state = inspect(row)
    return {
        column.key: state.dict[column.key]
        for column in state.mapper.column_attrs
        if column.key in state.dict and column.key not in NOT_KEPT
    }


async def _attached(db: AsyncSession, model: type[Model], values: dict[str, Any]) -> Model:
    """A persistent object of `db` with these values, as if loaded, without SQL."""
    row = model(**values)
    make_transient_to_detached(row)
    return await db.merge(row, load=False)


class CallerCache:
    def __init__(
        self,
        ttl_s: float,
        max_entries: int = MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl_s = ttl_s
        self._max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[Key, _Entry] = OrderedDict()
        self._seen = _Revocations.count
        # Keys being verified now, set when that verification ends (either way).
        self._verifying: dict[Key, asyncio.Event] = {}

    def __len__(self) -> int:
        return len(self._entries)

    async def caller(
        self,
        db: AsyncSession,
        token: str | None,
        tenant: str,
        site: str,
        source: str,
        verify: Callable[[], Awaitable[Verified]],
    ) -> tuple[Principal, Claims]:
        """The caller and its token's claims: remembered, or from `verify` (every check
        against the database, raising the refusal that applies) and then remembered when it
        is an API-token caller. `token` is None when the request carries no bearer token."""
        if self.ttl_s <= 0 or token is None:
            verified = await verify()
            return verified.principal, verified.claims
        key = (hashlib.sha256(token.encode()).digest(), tenant, site, source)
        under_way = self._verifying.get(key)
        if under_way is not None:
            await under_way.wait()
        entry = self._recall(key)
        if entry is not None:
            return await self._rebuild(db, entry, source), entry.claims.copy()
        # Read before verify's first query: a revoking commit in between forbids keeping.
        seen = _Revocations.count
        done = self._verifying.setdefault(key, asyncio.Event())
        try:
            verified = await verify()
            self._keep(key, seen, verified)
        finally:
            if self._verifying.get(key) is done:
                del self._verifying[key]
                done.set()
        return verified.principal, verified.claims

    def _forget_revoked(self) -> None:
        if self._seen != _Revocations.count:
            self._entries.clear()
            self._seen = _Revocations.count

    def _recall(self, key: Key) -> _Entry | None:
        self._forget_revoked()
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry.until <= self._clock():
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return entry

    def _keep(self, key: Key, seen: int, verified: Verified) -> None:
        token = verified.api_token
        if token is None or seen != _Revocations.count:
            return
        self._forget_revoked()
        # Never beyond the token's expiry (a verification in its leeway is not kept).
        lifetime = min(timedelta(seconds=self.ttl_s), token.expires_at - utcnow())
        if lifetime <= timedelta(0):
            return
        principal = verified.principal
        self._entries[key] = _Entry(
            tenant=_values(principal.tenant),
            site=_values(principal.site),
            user=_values(principal.user),
            roles=principal.roles,
            groups=principal.groups,
            via=principal.via,
            claims=verified.claims.copy(),
            until=self._clock() + lifetime.total_seconds(),
        )
        self._entries.move_to_end(key)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)

    @staticmethod
    async def _rebuild(db: AsyncSession, entry: _Entry, source: str) -> Principal:
        tenant = await _attached(db, Tenant, entry.tenant)
        site = await _attached(db, Site, entry.site)
        user = await _attached(db, User, entry.user)
        return Principal(user, tenant, site, entry.roles, entry.via, source, entry.groups)
