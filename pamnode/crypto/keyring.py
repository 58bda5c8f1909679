"""The node's key ring: per-tenant AES-256 keys and token-signing keys.

Each tenant has numbered AES key versions (the newest one encrypts; every version decrypts,
which is what lets rotation re-encrypt without downtime) and one Ed25519 signing key for its
tokens. Where the key ring is kept is its store's business (`RingStore`):

- a file (`FileStore`, the default): `keyring.json` in the data directory, never in the
  database, so a stolen database alone reveals no secret. Several main nodes sharing one
  database may share one file (`PAMNODE_KEYRING_FILE` on shared storage, docs/scale.md):
  such a `shared` ring is read again whenever the file changed on disk (a `stat` per use; a
  ring of one node's own is read once), and every change is a read-modify-write under an
  exclusive lock on the file's `.lock` sibling, so two nodes changing it at once both keep
  their change;
- the database, sealed under a key-encryption key each main reads from its environment
  (`crypto/sealed_ring.py`), for mains that share nothing but the database.

Reads are synchronous and served from memory; changes go through the store, which writes
them where every node sharing the ring reads them before they are used (`settle`).
"""

import base64
import fcntl
import json
import os
import secrets
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.ext.asyncio import AsyncSession

from pamnode.core.errors import Unavailable

Tenants = dict[str, "TenantKeys"]


class KeyRingError(Unavailable):
    """The key ring cannot serve a key: missing file, missing tenant, missing version."""


@dataclass
class TenantKeys:
    active_version: int
    aes_keys: dict[int, bytes]
    signing_key_pem: bytes
    retired: list[int] = field(default_factory=list)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def encode(tenants: Tenants) -> bytes:
    """The key ring as stored: one JSON document (in the file, or sealed in the database)."""
    data = {
        "tenants": {
            tenant_id: {
                "active_version": keys.active_version,
                "aes_keys": {str(v): _b64(k) for v, k in keys.aes_keys.items()},
                "signing_key_pem": keys.signing_key_pem.decode(),
                "retired": keys.retired,
            }
            for tenant_id, keys in tenants.items()
        }
    }
    return json.dumps(data).encode()


def decode(raw: bytes) -> Tenants:
    return {
        tenant_id: TenantKeys(
            active_version=entry["active_version"],
            aes_keys={int(v): base64.b64decode(k) for v, k in entry["aes_keys"].items()},
            signing_key_pem=entry["signing_key_pem"].encode(),
            retired=entry.get("retired", []),
        )
        for tenant_id, entry in json.loads(raw)["tenants"].items()
    }


def _public_pem(signing_key_pem: bytes) -> bytes:
    private = serialization.load_pem_private_key(signing_key_pem, None)
    return private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


class RingStore(Protocol):
    # The key ring as messages name it ("key ring /data/keyring.json").
    where: str

    def exists(self) -> bool:
        """Whether there is a key ring to read at all."""
        ...

    def tenants(self) -> Tenants:
        """The key ring as this node knows it now; KeyRingError when there is none."""
        ...

    def changing(self, db: AsyncSession | None = None) -> AbstractAsyncContextManager[Tenants]:
        """The key ring as stored now, to change: written when the block ends without error,
        with no other node changing it meanwhile; with `db`, in that transaction (a store
        that can), else at once."""
        ...

    async def settle(self) -> None:
        """Return once every node sharing the ring uses what was written (at once for a
        file every node reads on each use)."""
        ...


class FileStore:
    """The key ring in a file; every change is written atomically."""

    def __init__(self, path: Path, shared: bool = False) -> None:
        self.path = path
        self.where = f"key ring {path}"
        self.shared = shared
        self._lock = threading.Lock()
        self._tenants: Tenants | None = None
        # The file as last read (inode, size, mtime): read again when it differs.
        self._read_as: tuple[int, int, int] | None = None

    def exists(self) -> bool:
        return self.path.exists()

    def tenants(self) -> Tenants:
        if self._tenants is not None and not self.shared:
            return self._tenants
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            raise KeyRingError(
                f"key ring file {self.path} is missing: secrets and token signing keys "
                "cannot be used until it is restored from backup"
            ) from None
        seen = (stat.st_ino, stat.st_size, stat.st_mtime_ns)
        if self._tenants is None or seen != self._read_as:
            self._tenants = decode(self.path.read_bytes())
            self._read_as = seen
        return self._tenants

    def save(self) -> None:
        assert self._tenants is not None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(encode(self._tenants))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.path)
        stat = self.path.stat()
        self._read_as = (stat.st_ino, stat.st_size, stat.st_mtime_ns)

    @contextmanager
    def changing_now(self) -> Iterator[Tenants]:
        """The key ring as on disk now, to change, with no other thread or process changing
        it meanwhile; saved when the block ends without error."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock, open(self.path.with_suffix(".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            tenants = self.tenants() if self.path.exists() else {}
            self._tenants = tenants
            yield tenants
            self.save()

    @asynccontextmanager
    async def changing(self, db: AsyncSession | None = None) -> AsyncIterator[Tenants]:
        # A file is no part of any transaction: written at once.
        with self.changing_now() as tenants:
            yield tenants

    async def settle(self) -> None:
        # A shared file is read again on each use; a file of one node's own has no reader
        # but this node.
        return


class KeyRing:
    """The keys of every tenant, as its store holds them."""

    def __init__(self, store: RingStore) -> None:
        self.store = store

    @classmethod
    def in_file(cls, path: Path, shared: bool = False) -> "KeyRing":
        return cls(FileStore(path, shared))

    @classmethod
    def create_if_missing(cls, path: Path, shared: bool = False) -> "KeyRing":
        store = FileStore(path, shared)
        with store.changing_now():
            pass
        return cls(store)

    def _tenant(self, tenant_id: str) -> TenantKeys:
        keys = self.store.tenants().get(tenant_id)
        if keys is None:
            raise KeyRingError(f"{self.store.where} has no keys for tenant {tenant_id}")
        return keys

    async def add_tenant(self, tenant_id: str, db: AsyncSession | None) -> bytes:
        """Create the tenant's first AES key and its signing key, with the tenant's rows in
        `db`'s transaction when the store is the database; return the public key PEM."""
        async with self.store.changing(db) as tenants:
            if tenant_id not in tenants:
                signing = Ed25519PrivateKey.generate()
                tenants[tenant_id] = TenantKeys(
                    active_version=1,
                    aes_keys={1: secrets.token_bytes(32)},
                    signing_key_pem=signing.private_bytes(
                        serialization.Encoding.PEM,
                        serialization.PrivateFormat.PKCS8,
                        serialization.NoEncryption(),
                    ),
                )
            keys = tenants[tenant_id]
        return _public_pem(keys.signing_key_pem)

    def public_key_pem(self, tenant_id: str) -> bytes:
        return _public_pem(self._tenant(tenant_id).signing_key_pem)

    def signing_key(self, tenant_id: str) -> Ed25519PrivateKey:
        private = serialization.load_pem_private_key(self._tenant(tenant_id).signing_key_pem, None)
        assert isinstance(private, Ed25519PrivateKey)
        return private

    def active_key(self, tenant_id: str) -> tuple[int, bytes]:
        keys = self._tenant(tenant_id)
        return keys.active_version, keys.aes_keys[keys.active_version]

    def key(self, tenant_id: str, version: int) -> bytes:
        keys = self._tenant(tenant_id)
        if version not in keys.aes_keys:
            raise KeyRingError(
                f"{self.store.where} has no key version {version} for tenant {tenant_id}"
            )
        return keys.aes_keys[version]

    def versions(self, tenant_id: str) -> list[int]:
        return sorted(self._tenant(tenant_id).aes_keys)

    @staticmethod
    def _held(tenants: Tenants, tenant_id: str, where: str) -> TenantKeys:
        keys = tenants.get(tenant_id)
        if keys is None:
            raise KeyRingError(f"{where} has no keys for tenant {tenant_id}")
        return keys

    async def add_version(self, tenant_id: str) -> int:
        """Start a rotation: a new key becomes the one that encrypts; old ones still decrypt.

        In two steps, each settled: first every node learns the new key (so each opens what
        is sealed under it), then it becomes the one that encrypts (so no node seals under an
        older key once the rotation re-encrypts)."""
        async with self.store.changing() as tenants:
            keys = self._held(tenants, tenant_id, self.store.where)
            version = max(keys.aes_keys) + 1
            keys.aes_keys[version] = secrets.token_bytes(32)
        await self.store.settle()
        async with self.store.changing() as tenants:
            self._held(tenants, tenant_id, self.store.where).active_version = version
        await self.store.settle()
        return version

    async def drop_versions_except_active(self, tenant_id: str) -> list[int]:
        """Finish a rotation once nothing is encrypted under the older versions any more."""
        async with self.store.changing() as tenants:
            keys = self._held(tenants, tenant_id, self.store.where)
            dropped = [v for v in keys.aes_keys if v != keys.active_version]
            for version in dropped:
                del keys.aes_keys[version]
            keys.retired.extend(dropped)
        return dropped
