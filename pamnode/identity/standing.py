"""Whether a caller proven a while ago still stands: re-read at every use of a long-lived
login (an SSH proxy connection's channels, an RDP pass-through's connection)."""

from dataclasses import replace

from sqlalchemy.ext.asyncio import AsyncSession

from pamnode.core.errors import Forbidden, Unauthenticated
from pamnode.identity.external import ExternalAccounts
from pamnode.identity.grants import roles_of
from pamnode.identity.models import User
from pamnode.identity.principal import Principal


async def current(db: AsyncSession, principal: Principal, accounts: ExternalAccounts) -> Principal:
    """The caller as the database says now (its user, groups and roles), or the refusal that
    applies: the user was deleted, is locked, or its directory account is gone."""
    user = await db.get(User, principal.user.id)
    if user is None:
        raise Unauthenticated(
            f"user '{principal.user.login}' no longer exists", code="user_deleted"
        )
    if user.locked:
        raise Forbidden(f"user '{user.login}' is locked", code="user_locked")
    groups = await accounts.groups_of(db, user) if user.directory_id else frozenset()
    roles = await roles_of(db, principal.site, user, groups)
    return replace(principal, user=user, roles=roles, groups=groups)
