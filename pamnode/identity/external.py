"""Users of external directories, as identity sees them: the one door to them.

Identity proves local users itself; a directory user is proven by its directory, and its
account is checked at every use (disabled or deleted there: refused here). The directories
area implements this (directories/accounts.py); the node hands it to the login and to the
verification of tokens, so that identity never imports the area that builds on it.
"""

from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from pamnode.identity.models import Tenant, User


class ExternalAccounts(Protocol):
    async def sign_in(
        self, db: AsyncSession, tenant: Tenant, login: str, password: str
    ) -> User | None:
        """The directory user this login and password prove (created or refreshed in
        pamnode, never with the password), or None when no directory of the tenant knows
        the login or the password is wrong. A disabled account is refused (Forbidden)."""
        ...

    async def groups_of(self, db: AsyncSession, user: User) -> frozenset[str]:
        """The ids of the directory groups holding grants that the directory user is in
        now (within the documented cache bound); a disabled or deleted account is refused."""
        ...


class NoDirectories:
    """For callers that serve local users only (a node's own bootstrap, tests of one area)."""

    async def sign_in(
        self, db: AsyncSession, tenant: Tenant, login: str, password: str
    ) -> User | None:
        return None

    async def groups_of(self, db: AsyncSession, user: User) -> frozenset[str]:
        return frozenset()
