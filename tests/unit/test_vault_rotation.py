"""Rotation of a tenant key against a real SQLite database, in process."""

from __future__ import annotations

import os
import sqlite3
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import LargeBinary, select

from pamnode.app.models import Base
from pamnode.assets.models import Asset, AssetSecret
from pamnode.assets.secrets import context, open_secrets
from pamnode.crypto.cipher import VaultError, open_sealed, seal, sealed_version
from pamnode.crypto.kek import Kek
from pamnode.crypto.keyring import KeyRing, KeyRingError
from pamnode.crypto.sealed_ring import SealedStore
from pamnode.db.base import new_id
from pamnode.db.engine import make_engine, make_sessionmaker
from pamnode.identity.models import ApiToken, Site, Tenant, User, UserSecondFactor
from pamnode.identity.second_factor import seed_context
from pamnode.identity.signing import key_id
from pamnode.vault import rotation

ASSETS = 5
FIELDS = ("username", "password")


@pytest.fixture(params=["file", "sealed in the database"])
async def world(tmp_path, request):
    """Two tenants, each with ASSETS hosts holding two vault fields, one API token and a
    user's TOTP seed; the key ring in its file, or sealed in the database under a KEK."""
    path = tmp_path / "vault.db"
    engine = make_engine(f"sqlite+aiosqlite:///{path}", pool_size=5, pool_timeout_s=30)
    async with engine.begin() as connection:
        await connection.run_sync(Base.metadata.create_all)
    database = make_sessionmaker(engine)
    if request.param == "file":
        ring = KeyRing.create_if_missing(tmp_path / "keyring.json")
    else:
        ring = KeyRing(SealedStore(database, Kek(os.urandom(32)), alone=True))
    tenants = {}
    async with database.begin() as db:
        for name in ("acme", "globex"):
            tenants[name] = await _tenant(db, ring, name)
    yield database, ring, tenants, path
    await engine.dispose()


async def _tenant(db, ring, name):
    tenant_id = new_id()
    public = await ring.add_tenant(tenant_id, db)
    tenant = Tenant(
        id=tenant_id,
        name=name,
        issuer=name,
        signing_kid=key_id(public),
        signing_public_key=public.decode(),
    )
    site = Site(id=new_id(), tenant_id=tenant_id, name="root")
    user = User(id=new_id(), tenant_id=tenant_id, login="u", password_hash="x")
    db.add_all([tenant, site, user])
    await db.flush()
    seed = seal(ring, tenant_id, f"seed-{name}".encode(), seed_context(user.id))
    db.add(UserSecondFactor(user_id=user.id, seed_sealed=seed, last_step=0))
    for i in range(ASSETS):
        asset = Asset(id=new_id(), site_id=site.id, name=f"h{i}", type="unix-host", created_by="t")
        db.add(asset)
        await db.flush()
        for field in FIELDS:
            sealed = seal(ring, tenant_id, f"{name}-{field}-{i}".encode(), context(asset.id, field))
            db.add(AssetSecret(asset_id=asset.id, field=field, sealed=sealed))
    token_id = new_id()
    jwt = seal(ring, tenant_id, f"jwt-{name}".encode(), f"api-token:{token_id}:jwt")
    expires = datetime(2100, 1, 1, tzinfo=UTC)
    db.add(
        ApiToken(
            id=token_id,
            site_id=site.id,
            user_id=user.id,
            expires_at=expires,
            jwt_sealed=jwt,
            created_by="t",
        )
    )
    return tenant_id


async def opened(database, ring, tenant_id):
    """Every sealed value of the tenant: {context: (key version, plaintext)}."""
    found = {}
    async with database() as db:
        for column in rotation.SEALED_COLUMNS:
            for *key, sealed in (await db.execute(column.page(tenant_id, None, 1000))).all():
                ctx = column.context(*key)
                plain = open_sealed(ring, tenant_id, sealed, ctx).decode()
                found[ctx] = (sealed_version(sealed), plain)
    return found


def seal_under(ring, tenant_id, version, plaintext, ctx):
    """What a writer that fetched the key just before a rotation would store."""
    nonce = os.urandom(12)
    body = AESGCM(ring.key(tenant_id, version)).encrypt(nonce, plaintext, ctx.encode())
    return version.to_bytes(4, "big") + nonce + body


async def test_rotation_reseals_in_batches_and_keeps_every_plaintext(world):
    database, ring, tenants, _ = world
    before = {name: await opened(database, ring, t) for name, t in tenants.items()}
    assert len(before["acme"]) == ASSETS * len(FIELDS) + 2

    report = await rotation.rotate_tenant_key(database, ring, tenants["acme"], batch_size=3)

    assert report.version == 2 and report.dropped == [1] and report.passes == 2
    assert report.resealed == {
        "api-token jwt": 1,
        "asset secret": ASSETS * len(FIELDS),
        "directory bind password": 0,
        "main-link key": 0,
        "peer-node access token": 0,
        "totp seed": 1,
    }
    assert ring.versions(tenants["acme"]) == [2]
    after = await opened(database, ring, tenants["acme"])
    assert after == {ctx: (2, plain) for ctx, (_, plain) in before["acme"].items()}
    # Another tenant's values and keys are left alone.
    assert await opened(database, ring, tenants["globex"]) == before["globex"]
    assert ring.versions(tenants["globex"]) == [1]
    async with database() as db:
        asset = await db.scalar(
            select(Asset)
            .where(Asset.name == "h3")
            .join(Site)
            .where(Site.tenant_id == tenants["acme"])
        )
        assert await open_secrets(db, ring, tenants["acme"], asset.id) == {
            "username": "acme-username-3",
            "password": "acme-password-3",
        }


async def test_a_value_written_under_the_old_key_during_rotation_is_not_lost(world, monkeypatch):
    database, ring, tenants, path = world
    tenant_id = tenants["acme"]
    real_reseal = rotation.reseal
    raced = {}

    def reseal_while_someone_writes(ring_, tenant, sealed, ctx):
        if not raced and ctx.startswith("asset:"):
            # A request that took the key before the rotation commits its new value now,
            # between the rotation's read of this row and its write.
            _, asset_id, field = ctx.split(":")
            value = seal_under(ring, tenant, 1, b"changed-meanwhile", ctx)
            with sqlite3.connect(path) as db:
                db.execute(
                    "UPDATE asset_secrets SET sealed = ? WHERE asset_id = ? AND field = ?",
                    (value, asset_id, field),
                )
            raced["ctx"] = ctx
        return real_reseal(ring_, tenant, sealed, ctx)

    monkeypatch.setattr(rotation, "reseal", reseal_while_someone_writes)
    report = await rotation.rotate_tenant_key(database, ring, tenant_id, batch_size=4)

    # The compare-and-set refused to overwrite the new value; a further pass resealed it.
    assert report.passes == 3
    assert report.resealed["asset secret"] == ASSETS * len(FIELDS)
    values = await opened(database, ring, tenant_id)
    assert values[raced["ctx"]] == (2, "changed-meanwhile")
    assert {version for version, _ in values.values()} == {2}


async def test_a_value_that_does_not_open_stops_the_rotation_and_keeps_the_old_key(world):
    database, ring, tenants, path = world
    tenant_id = tenants["acme"]
    with sqlite3.connect(path) as db:
        # A value moved into another row: its context no longer matches.
        first, second = db.execute("SELECT sealed FROM asset_secrets LIMIT 2").fetchall()
        db.execute("UPDATE asset_secrets SET sealed = ? WHERE sealed = ?", (first[0], second[0]))
    with pytest.raises(VaultError, match=r"cannot be opened.*no key was added"):
        await rotation.rotate_tenant_key(database, ring, tenant_id)
    # Refused before it began: no key version is left behind by a rotation that cannot finish.
    assert ring.versions(tenant_id) == [1]


def test_every_sealed_column_of_the_schema_is_rotated():
    sealed = {
        (table.name, column.name)
        for table in Base.metadata.tables.values()
        for column in table.columns
        if isinstance(column.type, LargeBinary)
        and (column.name == "sealed" or column.name.endswith("_sealed"))
    }
    listed = {(c.column.class_.__tablename__, c.column.key) for c in rotation.SEALED_COLUMNS}
    assert sealed == listed


def test_a_missing_key_ring_file_is_named_in_the_error(tmp_path):
    ring = KeyRing.in_file(tmp_path / "keyring.json")
    with pytest.raises(KeyRingError, match=r"keyring.json is missing.*restored from backup"):
        ring.active_key("any-tenant")
    with pytest.raises(VaultError, match="is missing"):
        open_sealed(ring, "any-tenant", (1).to_bytes(4, "big") + b"\0" * 40, "asset:x:password")
