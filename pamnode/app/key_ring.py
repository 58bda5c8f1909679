"""Which key ring a node opens: the file of its data directory (or `PAMNODE_KEYRING_FILE`), or,
when it has a key-encryption key, the ring sealed in the database (docs/operations.md)."""

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from pamnode.app.settings import Settings
from pamnode.core.errors import Conflict, NotFound
from pamnode.crypto.kek import Kek, KekError, load_kek
from pamnode.crypto.keyring import KeyRing, KeyRingError
from pamnode.crypto.sealed_ring import SealedStore, sealed_under
from pamnode.db.engine import make_engine, make_sessionmaker
from pamnode.db.migrate import upgrade
from pamnode.identity.models import Tenant
from pamnode.identity.tenants import BASE_TENANT, check_key_ring, ensure_base_tenant, find_tenant
from pamnode.vault.rotation import unreadable_values


def settings_kek(settings: Settings) -> Kek | None:
    """The node's KEK from its settings (KekError when it is malformed, or set twice)."""
    text = settings.kek.get_secret_value() if settings.kek is not None else None
    return load_kek(text, settings.kek_file)


def is_alone(settings: Settings) -> bool:
    """A SQLite database has one serving node (`db/sole_server.py`)."""
    return make_url(settings.resolved_database_url).get_backend_name() == "sqlite"


async def open_key_ring(settings: Settings, database: async_sessionmaker[AsyncSession]) -> KeyRing:
    """The node's key ring, checked against its database before the node writes anything;
    for a new database, a new ring with the base tenant's keys."""
    kek = settings_kek(settings)
    async with database() as db:
        # A new key ring only for a new database: one that lost its key ring must say so
        # on use, not carry on with fresh keys that open nothing.
        new_database = await find_tenant(db, BASE_TENANT) is None
        sealed_kek = await sealed_under(db)
    if kek is None:
        if sealed_kek is not None:
            raise KeyRingError(
                f"this database's key ring is sealed in it under the key-encryption key "
                f"{sealed_kek}: start this node with PAMNODE_KEK or PAMNODE_KEK_FILE set to "
                "that key"
            )
        # Named apart from the data directory: other main nodes may change it (docs/scale.md).
        shared = settings.keyring_file is not None
        path = settings.resolved_keyring_file
        ring = (
            KeyRing.create_if_missing(path, shared)
            if new_database
            else KeyRing.in_file(path, shared)
        )
    else:
        store = SealedStore(database, kek, is_alone(settings))
        await store.load()
        ring = KeyRing(store)
        if not new_database and not store.exists():
            # Refused rather than served without keys: the fix is one command away.
            store.tenants()
    async with database.begin() as db:
        if new_database:
            await ensure_base_tenant(db, ring)
        else:
            await check_key_ring(db, ring)
    return ring


@dataclass(frozen=True)
class Imported:
    kek_id: str
    tenants: int
    # The database held a key ring already (under the same KEK), now replaced.
    replaced: bool


async def import_key_ring(settings: Settings, source: Path, replace: bool) -> Imported:
    """Seal the key ring file `source` into the node's database under its KEK, once it is
    shown to be this database's: each tenant's signing key, and every sealed value opens."""
    kek = settings_kek(settings)
    if kek is None:
        raise KekError(
            "no key-encryption key: set PAMNODE_KEK or PAMNODE_KEK_FILE as every main node of "
            "this database will"
        )
    if not source.is_file():
        raise NotFound(f"no key ring file at {source}")
    ring = KeyRing.in_file(source)
    engine = make_engine(settings.resolved_database_url, 2, 30)
    try:
        await upgrade(engine)
        database = make_sessionmaker(engine)
        async with database() as db:
            await check_key_ring(db, ring)
            existing = await sealed_under(db)
            tenant_ids = list(await db.scalars(select(Tenant.id).order_by(Tenant.name)))
        if existing is not None and not replace:
            raise Conflict(
                f"the database holds a key ring sealed under the key-encryption key {existing} "
                "already: give --replace to replace it with this file's",
                code="key_ring_in_database",
            )
        for tenant_id in tenant_ids:
            unreadable = await unreadable_values(database, ring, tenant_id)
            if unreadable:
                raise KeyRingError(
                    f"{ring.store.where} does not open {len(unreadable)} sealed value(s) of "
                    f"this database ({', '.join(unreadable[:5])}): it is an older key ring "
                    "than the database's; nothing was imported"
                )
        store = SealedStore(database, kek, alone=True)
        async with store.changing() as tenants:
            tenants.clear()
            tenants.update(ring.store.tenants())
        return Imported(kek.id, len(tenant_ids), existing is not None)
    finally:
        await engine.dispose()
