"""Local directory users of a tenant."""

import re

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from pamnode.audit.actions import AuditAction
from pamnode.audit.service import record
from pamnode.core.errors import Conflict, InvalidInput, NotFound
from pamnode.identity.authority import require_over, require_user_admin
from pamnode.identity.models import Tenant, User
from pamnode.identity.passwords import hash_password
from pamnode.identity.principal import Principal
from pamnode.identity.roles import Permission
from pamnode.identity.schemas import UserIn, UserPatch

LOGIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$")
MIN_PASSWORD = 8


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise InvalidInput(
            f"the password is too short: use at least {MIN_PASSWORD} characters",
            code="weak_password",
        )


async def add_user(
    db: AsyncSession,
    tenant: Tenant,
    *,
    login: str,
    password: str,
    first_name: str = "",
    last_name: str = "",
    mail: str = "",
    locked: bool = False,
) -> User:
    """Create a user with no permission check: callers have made theirs."""
    if not LOGIN.fullmatch(login):
        raise InvalidInput(
            f"login '{login[:80]}' is not valid: use up to 128 letters, digits, '.', '_', '@' "
            "or '-', starting with a letter or digit",
            code="invalid_login",
        )
    _check_password(password)
    if await db.scalar(select(User.id).where(User.tenant_id == tenant.id, User.login == login)):
        raise Conflict(
            f"tenant '{tenant.name}' already has a user with login '{login}'", code="user_exists"
        )
    user = User(
        tenant_id=tenant.id,
        login=login,
        first_name=first_name,
        last_name=last_name,
        mail=mail,
        locked=locked,
        password_hash=await hash_password(password),
    )
    db.add(user)
    await db.flush()
    return user


async def create_user(db: AsyncSession, principal: Principal, body: UserIn) -> User:
    principal.require(Permission.USERS_WRITE)
    await require_user_admin(db, principal)
    user = await add_user(db, principal.tenant, **body.model_dump())
    record(db, principal.audit_scope, AuditAction.USER_CREATE, user.login, locked=user.locked)
    return user


async def find_user(db: AsyncSession, tenant: Tenant, login: str) -> User | None:
    return await db.scalar(select(User).where(User.tenant_id == tenant.id, User.login == login))


async def get_user(db: AsyncSession, tenant: Tenant, login: str) -> User:
    user = await find_user(db, tenant, login)
    if user is None:
        raise NotFound(f"tenant '{tenant.name}' has no user '{login}'", code="user_not_found")
    return user


async def list_users(db: AsyncSession, principal: Principal) -> list[User]:
    principal.require(Permission.USERS_READ)
    query = select(User).where(User.tenant_id == principal.tenant.id).order_by(User.login)
    return list((await db.scalars(query)).all())


async def read_user(db: AsyncSession, principal: Principal, login: str) -> User:
    principal.require(Permission.USERS_READ)
    return await get_user(db, principal.tenant, login)


async def update_user(db: AsyncSession, principal: Principal, login: str, patch: UserPatch) -> User:
    """Change the fields the patch sets (a new password is hashed, never kept)."""
    principal.require(Permission.USERS_WRITE)
    await require_user_admin(db, principal)
    user = await get_user(db, principal.tenant, login)
    await require_over(db, principal, user, "change")
    changes = patch.model_dump(exclude_unset=True, exclude={"password"})
    password = patch.password
    if password is not None and user.directory_id is not None:
        raise InvalidInput(
            f"'{user.login}' is a directory user: its password is its directory's",
            code="directory_user_password",
        )
    if password is not None:
        _check_password(password)
        user.password_hash = await hash_password(password)
    for field, value in changes.items():
        setattr(user, field, value)
    if user.id == principal.user.id and user.locked:
        raise InvalidInput("you cannot lock your own account", code="self_lock")
    await db.flush()
    # Field names only: the new password is never written to the trail.
    changed = sorted([*changes, *(["password"] if password is not None else [])])
    record(db, principal.audit_scope, AuditAction.USER_UPDATE, login, fields=changed)
    return user


async def delete_user(db: AsyncSession, principal: Principal, login: str) -> str:
    """Delete the user; its id, for the areas above identity that hold what it owned."""
    principal.require(Permission.USERS_WRITE)
    await require_user_admin(db, principal)
    user = await get_user(db, principal.tenant, login)
    if user.id == principal.user.id:
        raise InvalidInput("you cannot delete your own account", code="self_delete")
    await require_over(db, principal, user, "delete")
    await db.delete(user)
    record(db, principal.audit_scope, AuditAction.USER_DELETE, login)
    return user.id
