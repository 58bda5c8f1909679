"""Rotation of a tenant's key, and a census of what is sealed under which key version.

Rotation never stops the node: a new key version becomes the one that encrypts, while every
older version still decrypts; each sealed value of the tenant is then re-encrypted in small
transactions of its own; only when a full pass finds nothing left under an older version are
the older versions dropped from the key ring.
"""

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import CursorResult, Row, Select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from pamnode.assets.secrets import ASSET_SECRETS
from pamnode.audit.actions import AuditAction
from pamnode.audit.service import record
from pamnode.core.errors import Forbidden
from pamnode.crypto.cipher import VaultError, open_sealed, sealed_version
from pamnode.crypto.keyring import KeyRing
from pamnode.crypto.sealed import SealedColumn, reseal
from pamnode.directories.registry import BIND_PASSWORDS
from pamnode.identity.api_tokens import _context as api_token_context
from pamnode.identity.models import ApiToken, Site, User, UserSecondFactor
from pamnode.identity.principal import Principal
from pamnode.identity.roles import Permission
from pamnode.identity.second_factor import seed_context
from pamnode.identity.tenants import ROOT_SITE
from pamnode.link.models import LINK_KEYS
from pamnode.peers.registry import PEER_ACCESS_TOKENS

BATCH_SIZE = 200
# A pass re-encrypts what was written under an old key while the previous pass ran; writes
# that keep racing past this many passes leave the rotation unfinished (and safe) instead.
MAX_PASSES = 5


def _api_tokens_of_tenant(query: Select[Any], tenant_id: str) -> Select[Any]:
    return query.join(Site, Site.id == ApiToken.site_id).where(Site.tenant_id == tenant_id)


API_TOKEN_JWTS = SealedColumn(
    kind="api-token jwt",
    column=ApiToken.jwt_sealed,
    key=(ApiToken.id,),
    context=api_token_context,
    of_tenant=_api_tokens_of_tenant,
)


def _second_factors_of_tenant(query: Select[Any], tenant_id: str) -> Select[Any]:
    return query.join(User, User.id == UserSecondFactor.user_id).where(User.tenant_id == tenant_id)


TOTP_SEEDS = SealedColumn(
    kind="totp seed",
    column=UserSecondFactor.seed_sealed,
    key=(UserSecondFactor.user_id,),
    context=seed_context,
    of_tenant=_second_factors_of_tenant,
)

# Every sealed column of the schema: one missing here would be left under a dropped key.
# tests/unit/test_vault_rotation.py checks that each LargeBinary column is listed.
SEALED_COLUMNS: tuple[SealedColumn, ...] = (
    API_TOKEN_JWTS,
    ASSET_SECRETS,
    BIND_PASSWORDS,
    LINK_KEYS,
    PEER_ACCESS_TOKENS,
    TOTP_SEEDS,
)

_tenant_locks: dict[str, asyncio.Lock] = {}


@dataclass
class RotationReport:
    version: int
    resealed: dict[str, int]
    passes: int
    dropped: list[int]


@dataclass
class Census:
    active_version: int
    key_versions: list[int]
    by_version: dict[int, int] = field(default_factory=dict)
    # Contexts (row and field names, never values) of what does not decrypt; verify only.
    unreadable: list[str] = field(default_factory=list)


def require_vault_admin(principal: Principal) -> None:
    principal.require(Permission.VAULT_MANAGE)
    if principal.site.name != ROOT_SITE:
        raise Forbidden(
            f"the key of tenant '{principal.tenant.name}' serves all its sites: manage the "
            f"vault from the '{ROOT_SITE}' site",
            code="vault_root_site_only",
        )


OpenDb = Callable[[], AbstractAsyncContextManager[AsyncSession]]


async def _pages(
    open_db: OpenDb, column: SealedColumn, tenant_id: str, size: int
) -> AsyncIterator[tuple[AsyncSession, Sequence[Row[Any]]]]:
    """The tenant's rows (key..., sealed) in key order, one page per `open_db()` context."""
    after: tuple[Any, ...] | None = None
    while True:
        async with open_db() as db:
            rows = (await db.execute(column.page(tenant_id, after, size))).all()
            if rows:
                yield db, rows
        if len(rows) < size:
            return
        after = tuple(rows[-1][: len(column.key)])


async def _reseal_column(
    database: async_sessionmaker[AsyncSession],
    ring: KeyRing,
    tenant_id: str,
    column: SealedColumn,
    version: int,
    size: int,
) -> tuple[int, int]:
    """(values found under an older key, values re-encrypted) in one pass over the column."""
    stale = resealed = 0
    # A transaction per page: re-encryption never holds locks for long.
    async for db, rows in _pages(database.begin, column, tenant_id, size):
        for row in rows:
            *key, sealed = tuple(row)
            if sealed_version(sealed) == version:
                continue
            stale += 1
            fresh = reseal(ring, tenant_id, sealed, column.context(*key))
            # Compare-and-set: a value rewritten meanwhile is already under the new key.
            result = await db.execute(
                update(column.column.class_)
                .where(tuple_(*column.key) == tuple_(*key), column.column == sealed)
                .values({column.column.key: fresh})
                .execution_options(synchronize_session=False)
            )
            resealed += cast(CursorResult[Any], result).rowcount
    return stale, resealed


# A sealed value as the walk finds it: its column, its key, the sealed bytes.
Value = tuple[SealedColumn, tuple[Any, ...], bytes]


async def _sealed_values(open_db: OpenDb, tenant_id: str) -> AsyncIterator[Value]:
    """Every sealed value of the tenant, column by column."""
    for column in SEALED_COLUMNS:
        async for _db, rows in _pages(open_db, column, tenant_id, BATCH_SIZE):
            for row in rows:
                *key, sealed = tuple(row)
                yield column, tuple(key), sealed


def _context_of(value: Value) -> str:
    column, key, _ = value
    return column.context(*key)


def _opens(ring: KeyRing, tenant_id: str, value: Value) -> bool:
    try:
        open_sealed(ring, tenant_id, value[2], _context_of(value))
    except VaultError:
        return False
    return True


async def unreadable_values(open_db: OpenDb, ring: KeyRing, tenant_id: str) -> list[str]:
    """The contexts of the tenant's sealed values that `ring` does not open."""
    return [
        _context_of(value)
        async for value in _sealed_values(open_db, tenant_id)
        if not _opens(ring, tenant_id, value)
    ]


async def rotate_tenant_key(
    database: async_sessionmaker[AsyncSession],
    ring: KeyRing,
    tenant_id: str,
    batch_size: int = BATCH_SIZE,
) -> RotationReport:
    """Re-encrypt every sealed value of the tenant under a new key; drop the old keys."""
    async with _tenant_locks.setdefault(tenant_id, asyncio.Lock()):
        # A missing key ring is named as such, before anything is read.
        ring.active_key(tenant_id)
        # A value no key opens would stop the rotation halfway: refuse before adding a key.
        unreadable = await unreadable_values(database.begin, ring, tenant_id)
        if unreadable:
            named = ", ".join(unreadable[:5])
            raise VaultError(
                f"{len(unreadable)} sealed value(s) cannot be opened ({named}); no key was "
                "added: see POST vault/verify"
            )
        version = await ring.add_version(tenant_id)
        resealed = dict.fromkeys((c.kind for c in SEALED_COLUMNS), 0)
        passes = 0
        while True:
            passes += 1
            found = 0
            for column in SEALED_COLUMNS:
                stale, count = await _reseal_column(
                    database, ring, tenant_id, column, version, batch_size
                )
                resealed[column.kind] += count
                found += stale
            # Only a pass that saw nothing under an older key proves the old keys unused.
            if found == 0:
                break
            if passes == MAX_PASSES:
                raise VaultError(
                    f"values kept being written under older keys during {MAX_PASSES} passes; "
                    "the older keys are kept so nothing is lost: run the rotation again"
                )
        return RotationReport(
            version, resealed, passes, await ring.drop_versions_except_active(tenant_id)
        )


async def rotate(
    db: AsyncSession,
    database: async_sessionmaker[AsyncSession],
    ring: KeyRing,
    principal: Principal,
) -> RotationReport:
    require_vault_admin(principal)
    report = await rotate_tenant_key(database, ring, principal.tenant.id)
    record(
        db,
        principal.audit_scope,
        AuditAction.VAULT_ROTATE,
        principal.tenant.name,
        version=report.version,
        resealed=report.resealed,
        dropped=report.dropped,
    )
    return report


async def census(db: AsyncSession, ring: KeyRing, principal: Principal, *, verify: bool) -> Census:
    """How many values each key version seals; with `verify`, decrypt each one as well."""
    require_vault_admin(principal)
    tenant_id = principal.tenant.id
    # Fails with a clear KeyRingError when the key ring is missing, before reading anything.
    active, _ = ring.active_key(tenant_id)
    result = Census(active, ring.versions(tenant_id))
    versions: Counter[int] = Counter()
    async for value in _sealed_values(lambda: nullcontext(db), tenant_id):
        versions[sealed_version(value[2])] += 1
        if verify and not _opens(ring, tenant_id, value):
            result.unreadable.append(_context_of(value))
    result.by_version = dict(sorted(versions.items()))
    if verify:
        record(
            db,
            principal.audit_scope,
            AuditAction.VAULT_VERIFY,
            principal.tenant.name,
            checked=sum(versions.values()),
            unreadable=len(result.unreadable),
        )
    return result
