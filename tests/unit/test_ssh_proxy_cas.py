"""The SSH proxy reads a tenant's SSH user CAs (a database transaction) only when a connection
offers a certificate: a password or a plain key, every guess of a guessing tool, never costs
that read."""

from __future__ import annotations

from pamnode.core.ssh_library import asyncssh
from pamnode.listeners.ssh_proxy import _Client


class Connection:
    """What `_Client` uses of asyncssh's server connection."""

    def __init__(self) -> None:
        self.trusted: list[object] = []

    async def validate_public_key(
        self, username: str, key_data: bytes, msg: bytes, signature: bytes
    ) -> bool:
        return False

    def get_extra_info(self, name: str) -> object:
        return ("127.0.0.1", 2222)

    def set_authorized_keys(self, keys: object) -> None:
        self.trusted.append(keys)


class Proxy:
    default_tenant = "corp"
    default_site = "root"

    def __init__(self) -> None:
        self.reads: list[str] = []

    async def user_ca_lines(self, login) -> list[str]:
        self.reads.append(login.login)
        return []


async def test_the_cas_are_read_once_a_login_when_a_certificate_is_offered():
    proxy, conn = Proxy(), Connection()
    client = _Client(proxy)  # type: ignore[arg-type]
    client.connection_made(conn)  # type: ignore[arg-type]
    user_key = asyncssh.generate_private_key("ssh-ed25519")
    ca = asyncssh.generate_private_key("ssh-ed25519")
    cert = ca.generate_user_certificate(user_key, "kim", principals=["kim"])

    assert client.begin_auth("kim#web-1")
    await conn.validate_public_key("kim#web-1", user_key.public_data, b"", b"")
    assert proxy.reads == []

    for _ in range(2):
        await conn.validate_public_key("kim#web-1", cert.public_data, b"", b"")
    assert proxy.reads == ["kim"] and conn.trusted == [None]

    # Another user name on the same connection: that login's CAs.
    assert client.begin_auth("lee#web-1")
    await conn.validate_public_key("lee#web-1", cert.public_data, b"", b"")
    assert proxy.reads == ["kim", "lee"]
