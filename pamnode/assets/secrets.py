"""Vault fields of a host: sealed on write, never returned by the API, never audited in clear."""

import re
from enum import StrEnum
from typing import Any

from sqlalchemy import Select, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from pamnode.assets.destinations import check_username
from pamnode.assets.models import Asset, AssetSecret, AssetType
from pamnode.audit.actions import AuditAction
from pamnode.audit.service import record
from pamnode.core.errors import InvalidInput
from pamnode.crypto.cipher import open_sealed, seal
from pamnode.crypto.keyring import KeyRing
from pamnode.crypto.sealed import SealedColumn
from pamnode.identity.models import Site
from pamnode.identity.principal import Principal


class SecretField(StrEnum):
    USERNAME = "username"
    PASSWORD = "password"
    PRIVATE_KEY = "private_key"
    PASSPHRASE = "passphrase"


# What must be entered again when an asset's destination changes (a user name is no secret).
BOUND_TO_DESTINATION = frozenset(
    {SecretField.PASSWORD, SecretField.PRIVATE_KEY, SecretField.PASSPHRASE}
)

PRIVATE_KEY_PEM = re.compile(
    r"-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----\r?\n.+?\r?\n-----END \1PRIVATE KEY-----\s*",
    re.DOTALL,
)


def context(asset_id: str, field: str) -> str:
    return f"asset:{asset_id}:{field}"


def _of_tenant(query: Select[Any], tenant_id: str) -> Select[Any]:
    return (
        query.join(Asset, Asset.id == AssetSecret.asset_id)
        .join(Site, Site.id == Asset.site_id)
        .where(Site.tenant_id == tenant_id)
    )


ASSET_SECRETS = SealedColumn(
    kind="asset secret",
    column=AssetSecret.sealed,
    key=(AssetSecret.asset_id, AssetSecret.field),
    context=context,
    of_tenant=_of_tenant,
)


def _check(field: SecretField, value: str) -> None:
    if value == "":
        raise InvalidInput(
            f"secrets.{field} is empty: send null to clear a secret field",
            code="invalid_secret",
        )
    if field is SecretField.USERNAME:
        check_username(value)
    if field is SecretField.PRIVATE_KEY and not PRIVATE_KEY_PEM.fullmatch(value.strip() + "\n"):
        raise InvalidInput(
            "secrets.private_key is not a private key in PEM or OpenSSH form: it must run from "
            "a '-----BEGIN ... PRIVATE KEY-----' line to the matching END line",
            code="invalid_private_key",
        )


async def fields_of(db: AsyncSession, assets: Select[str] | list[str]) -> dict[str, frozenset[str]]:
    """Which vault fields each of the assets (their ids, or a query of them: a list of a whole
    library's ids would pass the databases' bound on parameters) has set, names only (values
    stay sealed); an asset that has none is left out."""
    query = select(AssetSecret.asset_id, AssetSecret.field).where(AssetSecret.asset_id.in_(assets))
    found: dict[str, set[str]] = {}
    for asset_id, field in (await db.execute(query)).all():
        found.setdefault(asset_id, set()).add(field)
    return {asset_id: frozenset(fields) for asset_id, fields in found.items()}


async def write_secrets(
    db: AsyncSession,
    ring: KeyRing,
    principal: Principal,
    asset: Asset,
    changes: dict[str, str | None],
) -> None:
    """Set (a string) or clear (None) vault fields; the caller has checked the permission."""
    if not changes:
        return
    if asset.type == AssetType.CONTAINER:
        raise InvalidInput(
            f"container '{asset.name}' holds no secrets: set them on the hosts inside it",
            code="container_secrets",
        )
    parsed = {SecretField(name): value for name, value in changes.items()}
    for field, value in parsed.items():
        if value is not None:
            _check(field, value)
    rows = {
        row.field: row
        for row in await db.scalars(select(AssetSecret).where(AssetSecret.asset_id == asset.id))
    }
    present = set(rows)
    for field, value in parsed.items():
        row = rows.get(field.value)
        if value is None:
            if row is not None:
                await db.delete(row)
            present.discard(field.value)
            continue
        sealed = seal(ring, principal.tenant.id, value.encode(), context(asset.id, field))
        if row is None:
            db.add(AssetSecret(asset_id=asset.id, field=field.value, sealed=sealed))
        else:
            row.sealed = sealed
        present.add(field.value)
    if SecretField.PASSPHRASE in present and SecretField.PRIVATE_KEY not in present:
        raise InvalidInput(
            "a passphrase only unlocks a private key: set secrets.private_key as well, "
            "or clear the passphrase",
            code="passphrase_without_key",
        )
    await db.flush()
    record(
        db,
        principal.audit_scope,
        AuditAction.ASSET_SECRETS_WRITE,
        asset.id,
        asset=asset.name,
        written=sorted(f.value for f, v in parsed.items() if v is not None),
        cleared=sorted(f.value for f, v in parsed.items() if v is None),
    )


# Built once: it runs for every job and session.
_SECRETS_OF = select(AssetSecret.field, AssetSecret.sealed).where(
    AssetSecret.asset_id == bindparam("asset_id")
)


async def open_secrets(
    db: AsyncSession, ring: KeyRing, tenant_id: str, asset_id: str
) -> dict[str, str]:
    """The asset's vault fields in clear, for the code that connects to it (never the API)."""
    rows = (await db.execute(_SECRETS_OF, {"asset_id": asset_id})).all()
    return {
        field: open_sealed(ring, tenant_id, sealed, context(asset_id, field)).decode()
        for field, sealed in rows
    }
