"""Directory users in pamnode: sign-in by a bind as the user, and their accounts checked at
every use through a bounded cache.

The cache (`directory_cache_s`, 60 s by default; 0 asks the directory on every request)
remembers, per pamnode user, what the directory said of the account: whether it may log in
and the DNs of its groups, nested ones included. So a directory change (an account disabled
or deleted, a user taken out of a group) reaches pamnode at most `directory_cache_s` later,
plus `api_token_cache_s` for an API-token caller remembered by identity/caller_cache.py. A
sign-in always asks the directory and refreshes the entry. At most `MAX_ENTRIES` accounts
are remembered, the least recently used dropped first.

The password a user signs in with goes to the directory's bind and nowhere else: the user
row pamnode keeps has no password hash.
"""

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from pamnode.core.errors import Forbidden, Unauthenticated
from pamnode.crypto.keyring import KeyRing
from pamnode.directories import ldap
from pamnode.directories.members import materialised
from pamnode.directories.models import Directory, DirectoryGroup
from pamnode.directories.registry import endpoint, schema, tenant_directories
from pamnode.identity.models import Tenant, User

MAX_ENTRIES = 4096


@dataclass(frozen=True)
class _Known:
    account: ldap.Account | None
    until: float


def _refused(user: User, account: ldap.Account | None) -> None:
    if account is None:
        raise Unauthenticated(
            f"the directory account of '{user.login}' no longer exists",
            code="directory_account_gone",
        )
    if account.disabled:
        raise Forbidden(
            f"the directory account of '{user.login}' is disabled",
            code="directory_account_disabled",
        )


class DirectoryAccounts:
    def __init__(
        self, ring: KeyRing, ttl_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._ring = ring
        self.ttl_s = ttl_s
        self._clock = clock
        self._known: OrderedDict[str, _Known] = OrderedDict()

    async def sign_in(
        self, db: AsyncSession, tenant: Tenant, login: str, password: str
    ) -> User | None:
        directories = [d for d in await tenant_directories(db, tenant) if d.enabled]
        name, at, suffix = login.rpartition("@")
        named = [d for d in directories if at and d.name == suffix]
        failure: ldap.DirectoryFailure | None = None
        for directory in named or directories:
            wanted = name if named else login
            try:
                account = await asyncio.to_thread(
                    ldap.sign_in,
                    endpoint(self._ring, directory),
                    schema(directory),
                    wanted,
                    password,
                )
            except ldap.DirectoryFailure as exc:
                # One directory out of order keeps nobody of the others out.
                failure = failure or exc
                continue
            if account is None:
                continue
            user = await materialised(db, directory, account)
            self._remember(user.id, account)
            _refused(user, account)
            return user
        if failure is not None:
            raise failure
        return None

    def _remember(self, user_id: str, account: ldap.Account | None) -> None:
        if self.ttl_s <= 0:
            return
        self._known[user_id] = _Known(account, self._clock() + self.ttl_s)
        self._known.move_to_end(user_id)
        while len(self._known) > MAX_ENTRIES:
            self._known.popitem(last=False)

    async def _account(self, db: AsyncSession, user: User) -> ldap.Account | None:
        known = self._known.get(user.id)
        if known is not None and known.until > self._clock():
            self._known.move_to_end(user.id)
            return known.account
        directory = await db.get(Directory, user.directory_id)
        if directory is None or not directory.enabled or not user.directory_dn:
            account = None
        else:
            account = await asyncio.to_thread(
                ldap.read_account,
                endpoint(self._ring, directory),
                schema(directory),
                user.directory_dn,
            )
        self._remember(user.id, account)
        return account

    async def groups_of(self, db: AsyncSession, user: User) -> frozenset[str]:
        account = await self._account(db, user)
        _refused(user, account)
        assert account is not None
        if not account.groups:
            return frozenset()
        dns = [dn.lower() for dn in account.groups]
        query = select(DirectoryGroup.id).where(
            DirectoryGroup.directory_id == user.directory_id, func.lower(DirectoryGroup.dn).in_(dns)
        )
        return frozenset((await db.scalars(query)).all())
