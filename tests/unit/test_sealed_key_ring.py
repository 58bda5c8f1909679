"""The key ring sealed in the database under a key-encryption key, in process on SQLite: two
stores on one database stand for two main nodes (tests/integration/test_sealed_key_ring.py
runs real ones on PostgreSQL)."""

from __future__ import annotations

import base64
import os

import pytest
from pydantic import SecretStr

from pamnode.app.key_ring import open_key_ring
from pamnode.app.models import Base
from pamnode.app.settings import Settings
from pamnode.crypto.cipher import VaultError, open_sealed, seal
from pamnode.crypto.kek import Kek, KekError, load_kek
from pamnode.crypto.keyring import KeyRing, KeyRingError
from pamnode.crypto.sealed_ring import SealedStore
from pamnode.db.engine import make_engine, make_sessionmaker

RAW = bytes(range(32))


def test_a_kek_is_read_as_hex_or_base64_and_named_only_by_its_id(tmp_path):
    by_hex = Kek.parse(RAW.hex().upper() + "\n")
    by_base64 = Kek.parse(base64.b64encode(RAW).decode())
    assert by_hex.id == by_base64.id and len(by_hex.id) == 16
    assert Kek(os.urandom(32)).id != by_hex.id
    for shown in (repr(by_hex), str(by_hex)):
        assert shown == f"Kek(id={by_hex.id})"
    path = tmp_path / "kek"
    path.write_text(base64.b64encode(RAW).decode())
    assert load_kek(None, path).id == by_hex.id  # type: ignore[union-attr]
    assert load_kek(None, None) is None


@pytest.mark.parametrize(
    ("text", "says"),
    [
        (base64.b64encode(RAW[:16]).decode(), "must be 32 bytes"),
        ("not a key at all, but a sentence!", "neither hex nor base64"),
        # Not hex: read as base64, 48 bytes.
        (RAW.hex()[:-2] + "zz", "it has 48"),
    ],
)
def test_a_malformed_kek_is_refused_without_being_repeated(text, says):
    with pytest.raises(KekError, match=says) as refused:
        Kek.parse(text)
    assert text not in refused.value.message
    assert refused.value.code == "kek_invalid"


def test_a_kek_given_twice_or_unreadable_is_refused(tmp_path):
    with pytest.raises(KekError, match="not both"):
        load_kek(RAW.hex(), tmp_path / "kek")
    with pytest.raises(KekError, match=r"kek cannot be read"):
        load_kek(None, tmp_path / "kek")


def test_a_sealed_value_opens_only_under_its_kek_and_context():
    kek = Kek(RAW)
    sealed = kek.seal(b"ring", "key-ring:x:1")
    assert kek.open(sealed, "key-ring:x:1") == b"ring"
    with pytest.raises(KeyRingError, match="altered in the database"):
        kek.open(sealed, "key-ring:x:2")


@pytest.fixture
async def database(tmp_path):
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'ring.db'}", 5, 30)
    async with engine.begin() as connection:
        await connection.run_sync(Base.metadata.create_all)
    yield make_sessionmaker(engine)
    await engine.dispose()


async def test_two_nodes_with_one_kek_share_the_ring_and_see_its_changes(database):
    a = KeyRing(SealedStore(database, Kek(RAW), alone=True))
    b_store = SealedStore(database, Kek(RAW), alone=True)
    b = KeyRing(b_store)
    async with database.begin() as db:
        public = await a.add_tenant("acme", db)
    await b_store.load()
    assert b.public_key_pem("acme") == public
    before = seal(a, "acme", b"s3cret", "asset:1:password")

    version = await a.add_version("acme")
    after = seal(a, "acme", b"n3w", "asset:2:password")
    # b has not looked yet: it knows version 1 only. One look at the version, and it has 2.
    with pytest.raises(VaultError, match="sealed in the database has no key version 2"):
        open_sealed(b, "acme", after, "asset:2:password")
    await b_store.refresh()
    assert (version, b.active_key("acme")[0]) == (2, 2)
    assert open_sealed(b, "acme", after, "asset:2:password") == b"n3w"
    assert open_sealed(b, "acme", before, "asset:1:password") == b"s3cret"
    assert await b.drop_versions_except_active("acme") == [1]
    await a.store.refresh()  # type: ignore[attr-defined]
    assert a.versions("acme") == [2]


async def test_a_change_rolled_back_with_its_transaction_is_not_stored(database):
    ring = KeyRing(SealedStore(database, Kek(RAW), alone=True))
    with pytest.raises(RuntimeError):
        async with database.begin() as db:
            await ring.add_tenant("acme", db)
            raise RuntimeError("the tenant's rows failed")
    other = SealedStore(database, Kek(RAW), alone=True)
    await other.load()
    assert not other.exists()


async def test_another_kek_is_refused_naming_both_ids_and_neither_key(database):
    ring = KeyRing(SealedStore(database, Kek(RAW), alone=True))
    async with database.begin() as db:
        await ring.add_tenant("acme", db)
    wrong_raw = os.urandom(32)
    wrong = SealedStore(database, Kek(wrong_raw), alone=True)
    with pytest.raises(KeyRingError) as refused:
        await wrong.load()
    message = refused.value.message
    assert f"sealed under the key-encryption key {Kek(RAW).id}" in message
    assert f"and this node's (PAMNODE_KEK or PAMNODE_KEK_FILE) is {Kek(wrong_raw).id}" in message
    for secret in (RAW, wrong_raw):
        assert secret.hex() not in message and base64.b64encode(secret).decode() not in message


async def test_a_node_opens_the_ring_its_settings_and_database_call_for(tmp_path):
    kek = SecretStr(base64.b64encode(RAW).decode())
    sealed = Settings(data_dir=tmp_path / "a", kek=kek)
    sealed.data_dir.mkdir()
    engine = make_engine(sealed.resolved_database_url, 5, 30)
    async with engine.begin() as connection:
        await connection.run_sync(Base.metadata.create_all)
    database = make_sessionmaker(engine)
    try:
        # A new database: a new ring, sealed in it; no key ring file is written.
        ring = await open_key_ring(sealed, database)
        assert isinstance(ring.store, SealedStore)
        assert not (tmp_path / "a" / "keyring.json").exists()
        assert (await open_key_ring(sealed, database)).store.exists()
        # The same database without the KEK: refused, naming what to set.
        without = Settings(data_dir=tmp_path / "a")
        with pytest.raises(
            KeyRingError, match=r"sealed in it under .* start this node with PAMNODE_KEK"
        ):
            await open_key_ring(without, database)
    finally:
        await engine.dispose()
