"""Login, and turning a bearer token into a Principal, with one distinct refusal per cause.

No tenant enumeration: both start from the tenant and site names of the URL, and a caller
who has not proven who they are learns nothing of whether those exist. A login to an unknown
tenant or site is refused like a wrong password (after the same password hashing); a token is
checked before the URL's tenant is looked up, so an unknown tenant refuses it as any tenant
the token was not issued by does.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from pamnode.audit.actions import AuditAction
from pamnode.audit.service import AuditScope, record
from pamnode.core.errors import Forbidden, Unauthenticated
from pamnode.crypto.keyring import KeyRing
from pamnode.db.base import new_id, utcnow
from pamnode.identity import second_factor, signing
from pamnode.identity.api_tokens import TOKEN_TYPE as API_TOKEN_TYPE
from pamnode.identity.api_tokens import source_allowed
from pamnode.identity.external import ExternalAccounts
from pamnode.identity.grants import roles_of
from pamnode.identity.login_guard import LoginGuard
from pamnode.identity.models import ApiToken, LoginSession, Site, Tenant, User
from pamnode.identity.passwords import verify_password
from pamnode.identity.principal import Principal
from pamnode.identity.tenants import find_site, find_tenant, get_site
from pamnode.identity.users import find_user

SESSION_TYPE = "session"
LEEWAY = timedelta(seconds=signing.LEEWAY_S)


@dataclass(frozen=True)
class SignedIn:
    tenant: Tenant
    site: Site
    user: User
    # The directory groups holding grants that a directory user is in (none for local ones).
    groups: frozenset[str]


async def login(
    db: AsyncSession,
    database: async_sessionmaker[AsyncSession],
    ring: KeyRing,
    tenant_name: str,
    site_name: str,
    login_name: str,
    password: str,
    source: str,
    ttl: timedelta,
    guard: LoginGuard,
    accounts: ExternalAccounts,
    code: str | None = None,
) -> tuple[str, datetime]:
    """A session token for the password (and the second-factor `code`, when the user or
    the site needs one: identity/second_factor.py)."""
    signed_in = await check_password(
        db, database, tenant_name, site_name, login_name, password, source, guard, accounts
    )
    tenant, site, user = signed_in.tenant, signed_in.site, signed_in.user
    details: dict[str, str] = {}
    session = LoginSession(id=new_id(), user_id=user.id, expires_at=utcnow() + ttl)
    claims = signing.Claims(jti=session.id, sub=user.id, typ=SESSION_TYPE)
    if await second_factor.needed(db, site, user):
        details["second_factor"] = await second_factor.verify(
            db, ring, guard.throttle, tenant, site, user, code, source
        )
        # A session proven without a code is refused by the sites that require one.
        claims["mfa"] = True
    expires_at = session.expires_at
    db.add(session)
    token = signing.sign(ring, tenant, claims, expires_at)
    record(
        db,
        AuditScope(tenant.name, site.name, user.login, source),
        AuditAction.AUTH_LOGIN,
        user.login,
        **details,
    )
    return token, expires_at


async def check_password(
    db: AsyncSession,
    database: async_sessionmaker[AsyncSession],
    tenant_name: str,
    site_name: str,
    login_name: str,
    password: str,
    source: str,
    guard: LoginGuard,
    accounts: ExternalAccounts,
) -> SignedIn:
    """The tenant, site and user whose password this is, throttled per login and per
    source; every login (the console's, the API's, the SSH proxy's) goes through here.

    A local user's password is checked here; any other login goes to the tenant's
    directories (`login` or `login@directory`), which bind as the user.

    What the check needs is read in a short transaction of its own (`database`), which ends
    before the hash is checked: a crowd of logins holds no database connection through its
    checks. `db`, the caller's transaction, is used only after the check."""
    keys = guard.throttle.keys(tenant_name, login_name, source)
    # One slot from the first read to the end of the check, whichever way the password is
    # checked: a login is turned away busy before anything is read, and the same way for a
    # login that exists or not.
    async with guard.admitted(keys) as attempt:
        async with database.begin() as reading:
            tenant = await find_tenant(reading, tenant_name)
            site = await find_site(reading, tenant, site_name) if tenant else None
            user = await find_user(reading, tenant, login_name) if tenant and site else None
            directory = bool(tenant and site and (user is None or user.directory_id is not None))
            if directory:
                assert tenant is not None
                user = await accounts.sign_in(reading, tenant, login_name, password)
        proven = directory and user is not None
        if not proven:
            # A directory's refusal takes the same time as a wrong local password.
            guard.hashing()
            checked = await verify_password(
                None if directory or user is None else user.password_hash, password
            )
            proven = checked and not directory
        if not proven:
            locks = attempt.failed()
            if locks:
                longest = max(lock.seconds for lock in locks)
                raise Unauthenticated(
                    f"invalid login or password; further attempts wait {longest} s",
                    code="login_locked",
                )
            raise Unauthenticated("invalid login or password", code="login_failed")
        attempt.succeeded()
    assert tenant is not None and site is not None and user is not None
    if user.locked:
        raise Forbidden(f"user '{user.login}' is locked", code="user_locked")
    groups = await accounts.groups_of(db, user) if user.directory_id else frozenset()
    return SignedIn(tenant, site, user, groups)


async def logout(db: AsyncSession, principal: Principal, session_id: str) -> None:
    session = await db.get(LoginSession, session_id)
    if session is not None:
        await db.delete(session)
    record(db, principal.audit_scope, AuditAction.AUTH_LOGOUT, principal.user.login)


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, or None."""
    scheme, _, value = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def bearer_value(authorization: str | None) -> str:
    token = bearer_token(authorization)
    if token is None:
        raise Unauthenticated(
            "no bearer token: log in with POST auth/login, or send an API token as "
            "'Authorization: Bearer <token>'",
            code="token_missing",
        )
    return token


@dataclass(frozen=True)
class Verified:
    """A caller whose token passed every check, with the token's claims and, for an API
    token, its row (whose expiry bounds how long the caller may be remembered)."""

    principal: Principal
    claims: signing.Claims
    api_token: ApiToken | None


async def authenticate(
    db: AsyncSession,
    tenant_name: str,
    site_name: str,
    token: str,
    source: str,
    accounts: ExternalAccounts,
) -> tuple[Principal, signing.Claims]:
    """Return the caller and the token's claims, or raise the one refusal that applies."""
    verified = await verify_caller(db, tenant_name, site_name, token, source, accounts)
    return verified.principal, verified.claims


async def verify_caller(
    db: AsyncSession,
    tenant_name: str,
    site_name: str,
    token: str,
    source: str,
    accounts: ExternalAccounts,
) -> Verified:
    """Every check of a bearer token against the database, or the one refusal that applies,
    for the tenant and site the URL names (the token's own tenant is the URL's, or it is
    refused before anything of the URL's is looked up)."""
    issuer = await db.scalar(
        select(Tenant).where(Tenant.signing_kid == signing.unverified_key_id(token))
    )
    if issuer is None:
        raise Unauthenticated(
            "the token's signature is not valid: it was signed by a key this node does not know",
            code="token_bad_signature",
        )
    claims = signing.verify(token, issuer)
    if issuer.name != tenant_name:
        raise Forbidden(
            f"the token was issued by tenant '{issuer.name}' and is not valid on tenant "
            f"'{tenant_name}'",
            code="token_wrong_tenant",
        )
    tenant = issuer
    user = await db.get(User, claims["sub"])
    api_token = None
    if claims["typ"] == API_TOKEN_TYPE:
        api_token = await _check_api_token(db, site_name, claims)
    elif claims["typ"] == SESSION_TYPE:
        await _check_session(db, claims)
    else:
        raise Unauthenticated("the token is of an unknown kind", code="token_malformed")
    if user is None:
        raise Unauthenticated("the token's owner no longer exists", code="token_revoked")
    if user.locked:
        code = "token_owner_locked" if claims["typ"] == API_TOKEN_TYPE else "user_locked"
        raise Forbidden(f"user '{user.login}' is locked", code=code)
    # A directory user's account is checked at every use (within the directory cache's
    # bound): disabled or deleted there, its sessions and tokens are refused here.
    groups = await accounts.groups_of(db, user) if user.directory_id else frozenset()
    if api_token is not None and not source_allowed(api_token.filter, source):
        raise Forbidden(
            f"requests from {source} may not use this API token: its filter allows only "
            f"{', '.join(api_token.filter)}",
            code="token_source_denied",
        )
    via = "api-token" if claims["typ"] == API_TOKEN_TYPE else "session"
    # A proven caller of this tenant may learn that a site does not exist.
    site = await get_site(db, tenant, site_name)
    if via == "session" and site.require_second_factor and not claims.get("mfa"):
        # A session is the tenant's, not one site's: one logged in where no code was asked
        # does not open a site that requires one.
        raise Unauthenticated(
            f"site '{site.name}' requires a second factor: log in to it with your code",
            code="second_factor_required",
        )
    roles = await roles_of(db, site, user, groups)
    return Verified(Principal(user, tenant, site, roles, via, source, groups), claims, api_token)


async def _check_api_token(db: AsyncSession, site_name: str, claims: signing.Claims) -> ApiToken:
    if claims.get("site") != site_name:
        raise Forbidden(
            f"the API token was issued for site '{claims.get('site')}' and is not valid on "
            f"site '{site_name}'",
            code="token_wrong_site",
        )
    row = await db.get(ApiToken, claims["jti"])
    if row is None:
        raise Unauthenticated("the API token has been revoked", code="token_revoked")
    if not row.enabled:
        raise Unauthenticated("the API token is disabled", code="token_disabled")
    if row.expires_at + LEEWAY < utcnow():
        raise Unauthenticated(
            f"the API token expired at {row.expires_at.isoformat()}", code="token_expired"
        )
    return row


async def _check_session(db: AsyncSession, claims: signing.Claims) -> None:
    session = await db.get(LoginSession, claims["jti"])
    if session is None:
        raise Unauthenticated("the session has ended: log in again", code="session_ended")
    if session.expires_at + LEEWAY < utcnow():
        raise Unauthenticated(
            f"the session expired at {session.expires_at.isoformat()}: log in again",
            code="session_expired",
        )
