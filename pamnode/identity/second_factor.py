"""A user's second factor: a TOTP seed (identity/totp.py) sealed by the vault key ring, its
recovery codes, and when a login must give a code (docs/identity.md, "Second factor").

A code is needed when the login's site requires a second factor or the user has enrolled
one. Codes are checked under the login throttle (identity/throttle.py, keys of their own
per login and the source's shared with passwords), and each is good once: the last step
accepted is kept, and a recovery code is marked used.
"""

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import CursorResult, Result, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from pamnode.audit.actions import AuditAction
from pamnode.audit.service import record
from pamnode.core.errors import Conflict, Forbidden, InvalidInput, Unauthenticated
from pamnode.crypto.cipher import open_sealed, seal
from pamnode.crypto.keyring import KeyRing
from pamnode.db.base import utcnow
from pamnode.identity import totp
from pamnode.identity.authority import require_over, require_user_admin
from pamnode.identity.models import RecoveryCode, Site, Tenant, User, UserSecondFactor
from pamnode.identity.principal import Principal
from pamnode.identity.roles import Permission
from pamnode.identity.throttle import LoginThrottle
from pamnode.identity.users import get_user

RECOVERY_CODES = 10
# 16 base32 characters: 80 bits, beyond guessing from a stolen SHA-256.
_RECOVERY_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"


def seed_context(user_id: str) -> str:
    """The associated data a user's seed is sealed with: a seed moved to another row does
    not open."""
    return f"user:{user_id}:totp-seed"


@dataclass(frozen=True)
class Enrolment:
    seed: str
    uri: str


@dataclass(frozen=True)
class FactorStatus:
    enrolled: bool
    confirmed: bool
    recovery_codes_left: int
    required_here: bool


def _hash(code: str) -> str:
    return hashlib.sha256(code.replace("-", "").strip().lower().encode()).hexdigest()


def _recovery_code() -> str:
    raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(16))
    return "-".join(raw[i : i + 4] for i in range(0, 16, 4))


async def confirmed_factor(db: AsyncSession, user: User) -> UserSecondFactor | None:
    factor = await db.get(UserSecondFactor, user.id)
    return factor if factor is not None and factor.confirmed_at is not None else None


async def needed(db: AsyncSession, site: Site, user: User) -> bool:
    """Whether a login of `user` to `site` must give a code."""
    return site.require_second_factor or await confirmed_factor(db, user) is not None


async def enrolled(db: AsyncSession, tenant: Tenant) -> set[str]:
    """The ids of the tenant's users with a confirmed factor (the Users page's reset)."""
    rows = await db.scalars(
        select(UserSecondFactor.user_id)
        .join(User, User.id == UserSecondFactor.user_id)
        .where(User.tenant_id == tenant.id, UserSecondFactor.confirmed_at.is_not(None))
    )
    return set(rows)


def not_enrolled(site: Site, user: User) -> Forbidden:
    return Forbidden(
        f"site '{site.name}' requires a second factor and user '{user.login}' has none: "
        "enrol one on a site that does not require it yet, or ask an administrator",
        code="second_factor_not_enrolled",
    )


async def status(db: AsyncSession, principal: Principal) -> FactorStatus:
    factor = await db.get(UserSecondFactor, principal.user.id)
    left = await db.scalar(
        select(func.count())
        .select_from(RecoveryCode)
        .where(RecoveryCode.user_id == principal.user.id, RecoveryCode.used_at.is_(None))
    )
    return FactorStatus(
        enrolled=factor is not None,
        confirmed=factor is not None and factor.confirmed_at is not None,
        recovery_codes_left=int(left or 0),
        required_here=principal.site.require_second_factor,
    )


async def begin_enrolment(db: AsyncSession, ring: KeyRing, principal: Principal) -> Enrolment:
    """A new seed for the caller, unconfirmed until a first code proves the app holds it
    (a confirmed factor is replaced only after an administrator's reset)."""
    principal.require_login_session("enrolling a second factor")
    user = principal.user
    factor = await db.get(UserSecondFactor, user.id)
    if factor is not None and factor.confirmed_at is not None:
        raise Conflict(
            f"user '{user.login}' has a second factor already: an administrator resets it "
            "before another is enrolled",
            code="second_factor_exists",
        )
    seed = totp.new_seed()
    sealed = seal(ring, principal.tenant.id, seed, seed_context(user.id))
    if factor is None:
        db.add(UserSecondFactor(user_id=user.id, seed_sealed=sealed, last_step=0))
    else:
        factor.seed_sealed, factor.last_step = sealed, 0
    await db.flush()
    issuer = f"pamnode {principal.tenant.name}"
    return Enrolment(totp.seed_text(seed), totp.otpauth_uri(seed, issuer, user.login))


async def confirm_enrolment(
    db: AsyncSession, ring: KeyRing, principal: Principal, code: str
) -> list[str]:
    """Confirm the caller's new seed with its first code; the recovery codes, shown once."""
    principal.require_login_session("enrolling a second factor")
    user = principal.user
    factor = await db.get(UserSecondFactor, user.id)
    if factor is None or factor.confirmed_at is not None:
        raise Conflict(
            "no second factor is being enrolled: start an enrolment first",
            code="second_factor_not_enrolling",
        )
    seed = open_sealed(ring, principal.tenant.id, factor.seed_sealed, seed_context(user.id))
    step = totp.matching_step(seed, code.strip(), factor.last_step)
    if step is None:
        raise InvalidInput(
            "that code is not the app's current one: check the phone's clock and type the "
            "code it shows now",
            code="second_factor_code_wrong",
        )
    factor.last_step, factor.confirmed_at = step, utcnow()
    await db.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = [_recovery_code() for _ in range(RECOVERY_CODES)]
    db.add_all(RecoveryCode(user_id=user.id, code_hash=_hash(c)) for c in codes)
    record(db, principal.audit_scope, AuditAction.SECOND_FACTOR_ENROL, user.login)
    return codes


async def verify(
    db: AsyncSession,
    ring: KeyRing,
    throttle: LoginThrottle,
    tenant: Tenant,
    site: Site,
    user: User,
    code: str | None,
    source: str,
) -> str:
    """Check a login's code (`db` is the login's transaction, which records its use); what
    was used, "totp" or "recovery", or the refusal."""
    factor = await confirmed_factor(db, user)
    if factor is None:
        raise not_enrolled(site, user)
    if not code:
        raise Unauthenticated(
            "this login needs a second factor: give the code of your authenticator app, or "
            "a recovery code",
            code="second_factor_required",
        )
    keys = (f"user:{tenant.name}/{user.login.lower()}#second-factor", f"source:{source}")
    with throttle.attempt(keys) as attempt:
        used = await _use_code(db, ring, tenant, user, factor, code.strip())
        if used is None:
            locks = attempt.failed()
            wait = (
                f"; further attempts wait {max(lock.seconds for lock in locks)} s" if locks else ""
            )
            raise Unauthenticated(
                f"wrong or already used second-factor code{wait}",
                code="second_factor_failed",
            )
        attempt.succeeded()
    return used


async def _use_code(
    db: AsyncSession,
    ring: KeyRing,
    tenant: Tenant,
    user: User,
    factor: UserSecondFactor,
    code: str,
) -> str | None:
    """What the code is, once: each use is a conditional update, so two logins racing with
    one code (or one recovery code) cannot both win it."""
    if code.isdigit() and len(code) == totp.DIGITS:
        seed = open_sealed(ring, tenant.id, factor.seed_sealed, seed_context(user.id))
        step = totp.matching_step(seed, code, factor.last_step, time.time())
        if step is None:
            return None
        won = await db.execute(
            update(UserSecondFactor)
            .where(UserSecondFactor.user_id == user.id, UserSecondFactor.last_step < step)
            .values(last_step=step)
            .execution_options(synchronize_session=False)
        )
        return "totp" if _changed(won) else None
    digest = _hash(code)
    rows = await db.scalars(
        select(RecoveryCode).where(RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))
    )
    for row in list(rows):
        if hmac.compare_digest(row.code_hash, digest):
            won = await db.execute(
                update(RecoveryCode)
                .where(RecoveryCode.id == row.id, RecoveryCode.used_at.is_(None))
                .values(used_at=utcnow())
                .execution_options(synchronize_session=False)
            )
            return "recovery" if _changed(won) else None
    return None


def _changed(result: Result[Any]) -> bool:
    return cast(CursorResult[Any], result).rowcount == 1


async def reset(db: AsyncSession, principal: Principal, login: str) -> None:
    """An administrator of users removes a user's factor (a lost phone): the user enrols
    again."""
    principal.require(Permission.USERS_WRITE)
    await require_user_admin(db, principal)
    user = await get_user(db, principal.tenant, login)
    await require_over(db, principal, user, "reset the second factor of")
    await db.execute(delete(UserSecondFactor).where(UserSecondFactor.user_id == user.id))
    await db.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    record(db, principal.audit_scope, AuditAction.SECOND_FACTOR_RESET, user.login)


async def set_required(db: AsyncSession, principal: Principal, required: bool) -> None:
    """The caller's site requires a second factor of its logins, or no longer does."""
    principal.require(Permission.SITES_WRITE)
    if required and await confirmed_factor(db, principal.user) is None:
        # Or the next login of whoever turned it on would be refused.
        raise Forbidden(
            f"enrol your own second factor before site '{principal.site.name}' requires one",
            code="second_factor_not_enrolled",
        )
    site = await db.get(Site, principal.site.id)
    assert site is not None
    site.require_second_factor = required
    record(
        db,
        principal.audit_scope,
        AuditAction.SITE_SECOND_FACTOR_POLICY,
        site.name,
        required=required,
    )
