"""The node's key ring: per-tenant AES-256 keys and token-signing keys, in a file on disk.

The key ring lives in the data directory, never in the database, so a stolen database alone
reveals no secret. Each tenant has numbered AES key versions (the newest one encrypts; every
version decrypts, which is what lets rotation re-encrypt without downtime) and one Ed25519
signing key for its tokens.

Several main nodes sharing one database share one key ring file (`PAMNODE_KEYRING_FILE` on
shared storage, docs/scale.md): such a `shared` ring is read again whenever the file changed
on disk (a `stat` per use; a ring of one node's own is read once), so a tenant created or a
key rotated on one node is used by the others at once; and every change is a
read-modify-write under an exclusive lock on the file's `.lock` sibling, so two nodes
changing it at once both keep their change.
"""

import base64
import fcntl
import json
import os
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from pamnode.core.errors import Unavailable


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


class KeyRing:
    """Thread-safe access to the key ring file; every change is written atomically."""

    def __init__(self, path: Path, shared: bool = False) -> None:
        self.path = path
        self.shared = shared
        self._lock = threading.Lock()
        self._tenants: dict[str, TenantKeys] | None = None
        # The file as last read (inode, size, mtime): read again when it differs.
        self._read_as: tuple[int, int, int] | None = None

    @classmethod
    def create_if_missing(cls, path: Path, shared: bool = False) -> "KeyRing":
        ring = cls(path, shared)
        with ring._changing():
            if not path.exists():
                ring._save()
        return ring

    def _load(self) -> dict[str, TenantKeys]:
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
            raw = json.loads(self.path.read_text())
            self._tenants = {
                tenant_id: TenantKeys(
                    active_version=entry["active_version"],
                    aes_keys={int(v): base64.b64decode(k) for v, k in entry["aes_keys"].items()},
                    signing_key_pem=entry["signing_key_pem"].encode(),
                    retired=entry.get("retired", []),
                )
                for tenant_id, entry in raw["tenants"].items()
            }
            self._read_as = seen
        return self._tenants

    def _save(self) -> None:
        assert self._tenants is not None
        data = {
            "tenants": {
                tenant_id: {
                    "active_version": keys.active_version,
                    "aes_keys": {str(v): _b64(k) for v, k in keys.aes_keys.items()},
                    "signing_key_pem": keys.signing_key_pem.decode(),
                    "retired": keys.retired,
                }
                for tenant_id, keys in self._tenants.items()
            }
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(data, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.path)
        stat = self.path.stat()
        self._read_as = (stat.st_ino, stat.st_size, stat.st_mtime_ns)

    @contextmanager
    def _changing(self) -> Iterator[dict[str, TenantKeys]]:
        """The key ring as on disk now, to change and save, with no other thread or process
        changing it meanwhile."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock, open(self.path.with_suffix(".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            tenants = self._load() if self.path.exists() else {}
            self._tenants = tenants
            yield tenants

    def _tenant(self, tenant_id: str) -> TenantKeys:
        keys = self._load().get(tenant_id)
        if keys is None:
            raise KeyRingError(f"key ring {self.path} has no keys for tenant {tenant_id}")
        return keys

    def add_tenant(self, tenant_id: str) -> bytes:
        """Create the tenant's first AES key and its signing key; return the public key PEM."""
        with self._changing() as tenants:
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
                self._save()
            return self.public_key_pem(tenant_id)

    def remove_tenant(self, tenant_id: str) -> None:
        with self._changing() as tenants:
            if tenants.pop(tenant_id, None) is not None:
                self._save()

    def public_key_pem(self, tenant_id: str) -> bytes:
        private = serialization.load_pem_private_key(self._tenant(tenant_id).signing_key_pem, None)
        return private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

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
                f"key ring {self.path} has no key version {version} for tenant {tenant_id}"
            )
        return keys.aes_keys[version]

    def versions(self, tenant_id: str) -> list[int]:
        return sorted(self._tenant(tenant_id).aes_keys)

    def add_version(self, tenant_id: str) -> int:
        """Start a rotation: a new key becomes the one that encrypts; old ones still decrypt."""
        with self._changing():
            keys = self._tenant(tenant_id)
            version = max(keys.aes_keys) + 1
            keys.aes_keys[version] = secrets.token_bytes(32)
            keys.active_version = version
            self._save()
            return version

    def drop_versions_except_active(self, tenant_id: str) -> list[int]:
        """Finish a rotation once nothing is encrypted under the older versions any more."""
        with self._changing():
            keys = self._tenant(tenant_id)
            dropped = [v for v in keys.aes_keys if v != keys.active_version]
            for version in dropped:
                del keys.aes_keys[version]
            keys.retired.extend(dropped)
            self._save()
            return dropped
