"""The key ring sealed in the database under a key-encryption key (KEK), for main nodes that
share nothing but the database (docs/scale.md).

Every main reads the same KEK from its environment (`crypto/kek.py`). The ring is one row,
sealed whole, with a version that grows at each change. A node keeps the ring in memory and
reads it again only when the version changed: it hears of a change at once through a
PostgreSQL notice sent in the changing transaction, and looks at the version every `CHECK_S`
besides (a notice sent while its listener reconnected is lost). A change is a
read-modify-write of the row under its lock; `settle` waits long enough after it for every
node to have looked, which is what lets a key rotated on one node be used by all.
"""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from pamnode.crypto.kek import Kek
from pamnode.crypto.keyring import KeyRingError, Tenants, decode, encode
from pamnode.crypto.models import RING_ROW, SealedKeyRing
from pamnode.db.commits import after_commit
from pamnode.db.notices import Listener, send

log = logging.getLogger("pamnode.crypto.sealed_ring")

CHANNEL = "pamnode_key_ring"
# How often a node looks at the ring's version when no notice came.
CHECK_S = 1.0
WHERE = "the key ring sealed in the database"


def _context(kek_id: str, version: int) -> str:
    return f"key-ring:{kek_id}:{version}"


def _unseal(row: SealedKeyRing, kek: Kek) -> Tenants:
    if row.kek_id != kek.id:
        raise KeyRingError(
            f"{WHERE} is sealed under the key-encryption key {row.kek_id}, and this node's "
            f"(PAMNODE_KEK or PAMNODE_KEK_FILE) is {kek.id}: start it with the key-encryption "
            "key every main node of this database uses"
        )
    return decode(kek.open(row.ring_under_kek, _context(row.kek_id, row.version)))


async def sealed_under(db: AsyncSession) -> str | None:
    """The id of the KEK the database's key ring is sealed under; None when it holds none."""
    return await db.scalar(select(SealedKeyRing.kek_id).where(SealedKeyRing.id == RING_ROW))


class SealedStore:
    """The `RingStore` of a key ring sealed in the database."""

    where = WHERE

    def __init__(
        self,
        database: async_sessionmaker[AsyncSession],
        kek: Kek,
        alone: bool,
        check_s: float = CHECK_S,
    ) -> None:
        self._database = database
        self._kek = kek
        self.check_s = check_s
        # A node alone on its database (SQLite) has nobody to wait for.
        self.settle_s = 0.0 if alone else 2 * check_s + 0.5
        self._tenants: Tenants | None = None
        self._version = 0
        self._lock = asyncio.Lock()

    @property
    def kek_id(self) -> str:
        return self._kek.id

    def exists(self) -> bool:
        return self._tenants is not None

    def tenants(self) -> Tenants:
        if self._tenants is None:
            raise KeyRingError(
                f"the database holds no key ring sealed under the key-encryption key "
                f"{self._kek.id}: move this database's key ring file into it with `pamnode "
                "vault keyring import`"
            )
        return self._tenants

    async def load(self) -> None:
        """Read the ring from the database (KeyRingError when the KEK is not its own)."""
        async with self._database() as db:
            row = await db.scalar(select(SealedKeyRing).where(SealedKeyRing.id == RING_ROW))
            if row is not None:
                self._adopt(_unseal(row, self._kek), row.version)

    async def refresh(self) -> None:
        """Read the ring again if its version changed since this node read it."""
        async with self._database() as db:
            version = await db.scalar(
                select(SealedKeyRing.version).where(SealedKeyRing.id == RING_ROW)
            )
        if version is not None and version != self._version:
            await self.load()

    @asynccontextmanager
    async def changing(self, db: AsyncSession | None = None) -> AsyncIterator[Tenants]:
        if db is not None:
            # The caller's transaction: the change (a new tenant's keys, the one change made
            # this way) commits, or not, with the tenant's rows, whose first secrets need the
            # keys before the commit. A rollback then leaves keys of no tenant in this node's
            # memory, never a key missing; the row's lock holds other changes off meanwhile.
            async with self._writing(db) as tenants:
                yield tenants
            self._tenants = tenants
            return
        async with self._lock, self._database.begin() as own, self._writing(own) as tenants:
            yield tenants

    @asynccontextmanager
    async def _writing(self, db: AsyncSession) -> AsyncIterator[Tenants]:
        """The ring under its row's lock in `db`'s transaction; written when the block ends."""
        row = await db.scalar(
            select(SealedKeyRing).where(SealedKeyRing.id == RING_ROW).with_for_update()
        )
        tenants = {} if row is None else _unseal(row, self._kek)
        yield tenants
        version = 1 if row is None else row.version + 1
        sealed = self._kek.seal(encode(tenants), _context(self._kek.id, version))
        if row is None:
            db.add(
                SealedKeyRing(
                    id=RING_ROW, version=version, kek_id=self._kek.id, ring_under_kek=sealed
                )
            )
        else:
            row.version, row.ring_under_kek = version, sealed
        await db.flush()
        await send(db, CHANNEL, str(version))
        # Committed, this node uses it at once; the others at the notice, or their next look.
        after_commit(db, lambda: self._adopt(tenants, version))

    def _adopt(self, tenants: Tenants, version: int) -> None:
        if version > self._version:
            self._tenants, self._version = tenants, version

    async def settle(self) -> None:
        await asyncio.sleep(self.settle_s)

    async def watch(self, database_url: str) -> None:
        """Keep this node's ring current while it serves; runs until cancelled."""
        changed = asyncio.Event()
        listener = Listener(database_url, {CHANNEL: lambda _: changed.set()}, changed.set)
        listening = asyncio.create_task(listener.run(), name="key ring changes")
        try:
            while True:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(changed.wait(), self.check_s)
                changed.clear()
                try:
                    await self.refresh()
                except (SQLAlchemyError, OSError) as exc:
                    log.warning("looking at the key ring's version failed (%s); retrying", exc)
                except KeyRingError as exc:
                    # This node goes on with the ring it has; the message says what to fix.
                    log.error("%s", exc.message)
        finally:
            listening.cancel()
