"""Connecting to a managed host over SSH with its vault credential and its pinned host key.

Jobs and the main's SSH proxy both reach hosts this way. Host keys are pinned: on first contact
(no `known_host_key`) the server's key is accepted and returned so the caller can store it;
afterwards exactly that key is accepted, and a different one is refused before any credential
is sent. The node's own SSH identity (agent, ~/.ssh keys and config) is never offered.
"""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from pamnode.assets.credentials import Credential
from pamnode.assets.models import AssetHostKey
from pamnode.core.errors import ExecutionError
from pamnode.core.hostports import authority
from pamnode.core.ssh_ciphers import client_ciphers
from pamnode.core.ssh_library import asyncssh
from pamnode.db.inserts import insert_unless_present

log = logging.getLogger("pamnode.assets.ssh")


@dataclass(frozen=True)
class SshHost:
    host: str
    port: int
    # The pinned "algorithm base64" key line, or None before the first contact.
    known_host_key: str | None = None
    # The address to dial, when the destination policy resolved the host already (the key is
    # pinned by asset, so the name is needed for messages only).
    address: str | None = None

    @property
    def endpoint(self) -> str:
        return authority(self.host, self.port)


class _HostKeyWitness(asyncssh.SSHClient):
    """Sees the key the server presented when it is not the pinned one (or nothing is pinned).

    asyncssh asks this only for keys outside the trusted set, so on first contact (empty set)
    it accepts and remembers, and with a pin it remembers the impostor and refuses.
    """

    def __init__(self, accept_unknown: bool) -> None:
        self.accept_unknown = accept_unknown
        self.presented: asyncssh.SSHKey | None = None

    def validate_host_public_key(
        self, host: str, addr: str, port: int, key: asyncssh.SSHKey
    ) -> bool:
        self.presented = key
        return self.accept_unknown


async def pin_first_key(db: AsyncSession, asset_id: str, key: str) -> None:
    """Pin the key a host presented on first contact, unless a key is pinned by now (the first
    jobs on a host run at once, on one main node or on several)."""
    await insert_unless_present(db, AssetHostKey, asset_id=asset_id, key=key)


async def forget_host_key(db: AsyncSession, asset_id: str) -> None:
    """Drop the pin of a host the asset no longer points at; the next contact learns its key."""
    await db.execute(delete(AssetHostKey).where(AssetHostKey.asset_id == asset_id))


def key_line(key: asyncssh.SSHKey) -> str:
    """The "algorithm base64" form of a public key, without a comment."""
    algorithm, blob = key.export_public_key("openssh").decode().split()[:2]
    return f"{algorithm} {blob}"


def _parse_pinned(host: SshHost) -> asyncssh.SSHKey | None:
    if host.known_host_key is None:
        return None
    try:
        return asyncssh.import_public_key(host.known_host_key)
    except (asyncssh.KeyImportError, ValueError) as exc:
        raise ExecutionError(
            f"the host key pinned for {host.endpoint} is not an OpenSSH public key ({exc})",
            code="protocol_error",
        ) from None


def _client_key(credential: Credential) -> asyncssh.SSHKey | None:
    if not credential.private_key:
        return None
    try:
        return asyncssh.import_private_key(credential.private_key, credential.passphrase)
    except (asyncssh.KeyImportError, ValueError):
        # The library's reason may quote key material; say only what a person can act on.
        raise ExecutionError(
            f"the private key of user '{credential.username}' could not be loaded: "
            "it is not an OpenSSH or PEM private key, or its passphrase is wrong",
            code="auth_failed",
        ) from None


async def connect_ssh(
    host: SshHost,
    credential: Credential,
    connect_timeout_s: float,
    tunnel: object = (),
) -> tuple[asyncssh.SSHClientConnection, str | None]:
    """An authenticated connection and the host key line the server presented.

    `tunnel` is what asyncssh's option of that name takes (an object whose `create_connection`
    gives the connection its transport: a proxy route's); without it the host is dialled
    directly. Raises ExecutionError with the one reason that applies.
    """
    pinned = _parse_pinned(host)
    client_key = _client_key(credential)
    witness = _HostKeyWitness(accept_unknown=pinned is None)
    try:
        conn = await asyncssh.connect(
            host.address or host.host,
            host.port,
            tunnel=tunnel,
            client_factory=lambda: witness,
            # A tuple of (trusted keys, CA keys, revoked keys): nothing from ~/.ssh/known_hosts.
            known_hosts=([pinned] if pinned else [], [], []),
            username=credential.username,
            password=credential.password,
            client_keys=[client_key] if client_key else None,
            agent_path=None,
            config=None,
            gss_auth=False,
            gss_kex=False,
            connect_timeout=connect_timeout_s,
            encryption_algs=client_ciphers(),
        )
    except Exception as exc:
        raise _connect_failure(exc, host, credential, pinned, witness, connect_timeout_s) from None
    presented = conn.get_server_host_key() or witness.presented
    return conn, key_line(presented) if presented else None


def _connect_failure(
    exc: Exception,
    host: SshHost,
    credential: Credential,
    pinned: asyncssh.SSHKey | None,
    witness: _HostKeyWitness,
    connect_timeout_s: float,
) -> ExecutionError:
    where = host.endpoint
    if isinstance(exc, asyncssh.HostKeyNotVerifiable) and pinned is not None:
        presented = witness.presented.get_fingerprint("sha256") if witness.presented else "unknown"
        return ExecutionError(
            f"the SSH host key of {where} changed: pinned {pinned.get_fingerprint('sha256')}, "
            f"presented {presented}. No credential was sent; if the change is expected, "
            "clear the pinned key so the new one is recorded on the next contact",
            code="host_key_changed",
        )
    if isinstance(exc, asyncssh.PermissionDenied):
        methods = (
            " or ".join(
                m
                for m, have in (("password", credential.password), ("key", credential.private_key))
                if have
            )
            or "no secret"
        )
        return ExecutionError(
            f"the SSH server at {where} refused user '{credential.username}' (tried {methods})",
            code="auth_failed",
        )
    if isinstance(exc, TimeoutError):
        return ExecutionError(
            f"{where} cannot be reached from this node: "
            f"no SSH answer within {connect_timeout_s:g} s",
            code="network_unreachable",
        )
    if isinstance(exc, socket.gaierror):
        return ExecutionError(
            f"{where} cannot be reached from this node: the name {host.host!r} does not "
            f"resolve here ({exc.strerror})",
            code="network_unreachable",
        )
    if isinstance(exc, OSError):
        # asyncio words a refusal as "Connect call failed"; the errno says what happened.
        reason = os.strerror(exc.errno) if exc.errno else str(exc) or type(exc).__name__
        return ExecutionError(
            f"{where} cannot be reached from this node: {reason}", code="network_unreachable"
        )
    if isinstance(exc, asyncssh.Error):
        return ExecutionError(
            credential.redact(f"the SSH handshake with {where} failed: {exc.reason}"),
            code="protocol_error",
        )
    log.exception("unexpected failure connecting to %s", where)
    return ExecutionError(
        f"the SSH connection to {where} failed ({type(exc).__name__})", code="protocol_error"
    )
