"""SSH public keys users log in to the SSH proxy with (docs/identity.md, "SSH keys").

A key is public: it is stored plain, with OpenSSH's SHA256 fingerprint. Only algorithms
that stand today are accepted: ed25519, ECDSA (NIST P-256, P-384, P-521) and RSA of at least
3072 bits. Anyone registers and removes their own keys, a directory user too; an
administrator of users lists and removes anyone's.
"""

import base64
import hashlib

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import load_ssh_public_key
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from pamnode.audit.actions import AuditAction
from pamnode.audit.service import record
from pamnode.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from pamnode.db.base import utcnow
from pamnode.identity.auth import SignedIn
from pamnode.identity.authority import require_over, require_user_admin
from pamnode.identity.external import ExternalAccounts
from pamnode.identity.models import Site, Tenant, User, UserSshKey
from pamnode.identity.principal import Principal
from pamnode.identity.roles import Permission
from pamnode.identity.tenants import find_site, find_tenant
from pamnode.identity.users import find_user, get_user

MIN_RSA_BITS = 3072
ACCEPTED = "ed25519, ECDSA (nistp256, nistp384, nistp521) or RSA of at least 3072 bits"


def fingerprint(blob: bytes) -> str:
    """OpenSSH's SHA256 fingerprint of a key's wire blob (`ssh-keygen -l`)."""
    digest = base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
    return f"SHA256:{digest}"


def parse_public_key(text: str) -> tuple[str, bytes, str]:
    """The algorithm, blob and comment of an authorized_keys line, or the refusal that
    names what is accepted (a certificate, DSA or a short RSA key is refused)."""
    fields = text.strip().split(None, 2)
    if len(fields) < 2:
        raise InvalidInput(
            "an SSH public key is one line: '<algorithm> <base64> [comment]', as in a .pub file",
            code="ssh_key_invalid",
        )
    algorithm, encoded = fields[0], fields[1]
    comment = fields[2].strip() if len(fields) == 3 else ""
    try:
        key = load_ssh_public_key(f"{algorithm} {encoded}".encode())
        blob = base64.b64decode(encoded, validate=True)
    except (ValueError, TypeError, UnicodeError, UnsupportedAlgorithm):
        raise InvalidInput(
            f"not an SSH public key this node accepts: use {ACCEPTED}", code="ssh_key_invalid"
        ) from None
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < MIN_RSA_BITS:
            raise InvalidInput(
                f"an RSA key of {key.key_size} bits is too weak: use {ACCEPTED}",
                code="ssh_key_weak",
            )
    elif not isinstance(key, ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey):
        raise InvalidInput(
            f"{algorithm} keys are not accepted: use {ACCEPTED}", code="ssh_key_weak"
        )
    return algorithm, blob, comment[:255]


async def _target(db: AsyncSession, principal: Principal, login: str | None, write: bool) -> User:
    """The caller itself, or the user `login` names if the caller administers users."""
    if login is None or login == principal.user.login:
        return principal.user
    principal.require(Permission.USERS_WRITE if write else Permission.USERS_READ)
    user = await get_user(db, principal.tenant, login)
    if write:
        # Users are the tenant's: changed from its root site, as by update_user.
        await require_user_admin(db, principal)
        await require_over(db, principal, user, "change the keys of")
    return user


async def add_key(db: AsyncSession, principal: Principal, text: str, comment: str) -> UserSshKey:
    """Register one of the caller's own keys (a key proves its holder: nobody adds keys to
    someone else's account)."""
    principal.require_login_session("registering an SSH key")
    algorithm, blob, line_comment = parse_public_key(text)
    if await registered(db, principal.user, blob) is not None:
        # The unique constraint settles two adds of one key at once; this names the common case.
        raise Conflict(f"the key {fingerprint(blob)} is registered already", code="ssh_key_exists")
    row = UserSshKey(
        user_id=principal.user.id,
        public_key=f"{algorithm} {base64.b64encode(blob).decode()}",
        algorithm=algorithm,
        fingerprint=fingerprint(blob),
        comment=(comment or line_comment)[:255],
    )
    db.add(row)
    await db.flush()
    record(
        db,
        principal.audit_scope,
        AuditAction.SSH_KEY_ADD,
        principal.user.login,
        fingerprint=row.fingerprint,
    )
    return row


async def list_keys(
    db: AsyncSession, principal: Principal, login: str | None = None
) -> tuple[User, list[UserSshKey]]:
    user = await _target(db, principal, login, write=False)
    rows = await db.scalars(
        select(UserSshKey).where(UserSshKey.user_id == user.id).order_by(UserSshKey.created_at)
    )
    return user, list(rows)


async def remove_key(
    db: AsyncSession, principal: Principal, key_ref: str, login: str | None = None
) -> None:
    """Remove a key by its id or fingerprint; its next login is refused."""
    user = await _target(db, principal, login, write=True)
    row = await db.scalar(
        select(UserSshKey).where(
            UserSshKey.user_id == user.id,
            (UserSshKey.id == key_ref) | (UserSshKey.fingerprint == key_ref),
        )
    )
    if row is None:
        raise NotFound(f"user '{user.login}' has no SSH key '{key_ref}'", code="ssh_key_not_found")
    await db.delete(row)
    record(
        db,
        principal.audit_scope,
        AuditAction.SSH_KEY_REMOVE,
        user.login,
        fingerprint=row.fingerprint,
    )


async def registered(db: AsyncSession, user: User, blob: bytes) -> UserSshKey | None:
    """The user's key with this blob, if it is registered (the SSH proxy's question)."""
    return await db.scalar(
        select(UserSshKey).where(
            UserSshKey.user_id == user.id, UserSshKey.fingerprint == fingerprint(blob)
        )
    )


async def sign_in_with_key(
    db: AsyncSession,
    tenant_name: str,
    site_name: str,
    login: str,
    blob: bytes,
    accounts: ExternalAccounts,
) -> tuple[SignedIn, str] | None:
    """The tenant, site and user whose registered key this is, and its fingerprint; None
    when the names or the key are unknown."""
    found = await find_login(db, tenant_name, site_name, login)
    if found is None:
        return None
    row = await registered(db, found[2], blob)
    if row is None:
        return None
    return await standing(db, *found, accounts), row.fingerprint


async def find_login(
    db: AsyncSession, tenant_name: str, site_name: str, login: str
) -> tuple[Tenant, Site, User] | None:
    """The tenant, site and user an SSH login names, or None."""
    tenant = await find_tenant(db, tenant_name)
    site = await find_site(db, tenant, site_name) if tenant else None
    user = await _user_named(db, tenant, login) if tenant and site else None
    if tenant is None or site is None or user is None:
        return None
    return tenant, site, user


async def standing(
    db: AsyncSession, tenant: Tenant, site: Site, user: User, accounts: ExternalAccounts
) -> SignedIn:
    """A user proven by a key or certificate stands as for a password: not locked, and a
    directory user's account still there (`accounts` refuses it otherwise)."""
    if user.locked:
        raise Forbidden(f"user '{user.login}' is locked", code="user_locked")
    groups = await accounts.groups_of(db, user) if user.directory_id else frozenset()
    return SignedIn(tenant, site, user, groups)


async def _user_named(db: AsyncSession, tenant: Tenant, login: str) -> User | None:
    """The user a key login names: its pamnode login, or a directory user's login without
    its `@directory` when only one directory of the tenant has that login (as a password
    login takes it)."""
    user = await find_user(db, tenant, login)
    if user is not None:
        return user
    found = list(
        await db.scalars(
            select(User).where(
                User.tenant_id == tenant.id,
                User.directory_id.is_not(None),
                User.login.startswith(f"{login}@", autoescape=True),
            )
        )
    )
    # `alice@corp` but not `alice@corp@other`: the rest after the login is one directory's name.
    found = [u for u in found if "@" not in u.login[len(login) + 1 :]]
    return found[0] if len(found) == 1 else None


async def mark_used(db: AsyncSession, user: User, key_fingerprint: str) -> None:
    await db.execute(
        update(UserSshKey)
        .where(UserSshKey.user_id == user.id, UserSshKey.fingerprint == key_fingerprint)
        .values(last_used_at=utcnow())
    )
