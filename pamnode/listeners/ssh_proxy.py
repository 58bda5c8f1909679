"""The main's native SSH proxy: OpenSSH clients log in as `login#asset` (see
`pamnode.proxy.names`) with a registered SSH key (identity/ssh_keys.py) or their pamnode
password, then a second-factor code at a keyboard-interactive prompt when the user or the
site needs one (identity/second_factor.py); each channel they open is carried to the asset by
`listeners/ssh_channel.py`.

Only sessions are served (shell, exec, the sftp subsystem, which scp uses too). Port
forwarding, agent forwarding and X11 are refused: the proxy carries what it records, nothing
else.
"""

import asyncio
import base64
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar, cast

from sqlalchemy.ext.asyncio import AsyncSession

from pamnode.audit.actions import AuditAction
from pamnode.audit.service import AuditScope, record
from pamnode.core.errors import PamError, Throttled
from pamnode.core.hostports import authority
from pamnode.core.ssh_ciphers import SERVER_CIPHERS
from pamnode.core.ssh_library import asyncssh
from pamnode.identity import second_factor, ssh_cas, ssh_keys
from pamnode.identity.auth import SignedIn, check_password
from pamnode.identity.grants import roles_of
from pamnode.identity.login_guard import LoginGuard
from pamnode.identity.principal import Principal
from pamnode.listeners.ssh_channel import ProxiedChannel
from pamnode.proxy.context import ProxyContext
from pamnode.proxy.names import ProxyLogin, parse_proxy_login
from pamnode.proxy.ssh_carrier import MAX_PKTSIZE, WINDOW
from pamnode.proxy.ssh_transport import SlicedFeed

log = logging.getLogger("pamnode.proxy.ssh")

VIA = "ssh-proxy"
NO_FORWARDING = (
    "pamnode's SSH proxy does not forward ports or sockets: open a session on the asset "
    "(ssh, scp, sftp) or ask an administrator for access"
)
T = TypeVar("T")
CODE_PROMPT = "Second-factor code (authenticator app, or a recovery code): "


@dataclass(frozen=True)
class FirstFactor:
    """A login proven by its key or password, before any second factor."""

    signed_in: SignedIn
    # "password" or "publickey SHA256:...".
    method: str
    needs_code: bool
    # The key's fingerprint, when a key proved it.
    key_fingerprint: str | None = None


def load_host_key(path: Path) -> asyncssh.SSHKey:
    """The proxy's own host key, made on first start (clients pin it in known_hosts)."""
    if not path.exists():
        key = asyncssh.generate_private_key("ssh-ed25519")
        path.touch(mode=0o600)
        key.write_private_key(str(path))
        return key
    return asyncssh.read_private_key(str(path))


class _Client(asyncssh.SSHServer):
    """One client connection: who logged in, and to which asset."""

    def __init__(self, proxy: "SshProxy") -> None:
        self.proxy = proxy
        self.principal: Principal | None = None
        self.login: ProxyLogin | None = None
        # A first factor proven, waiting for its second-factor code.
        self.pending: FirstFactor | None = None
        self.source = ""
        self._conn: asyncssh.SSHServerConnection | None = None
        self._cas_trusted = False

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self._conn = conn
        # asyncssh asks this object only whether a key is registered, then checks the
        # signature and ends the login itself; a key that must be followed by a code needs
        # the answer after the signature, so its check is wrapped here (asyncssh's servers
        # cannot answer "partial success").
        checked = conn.validate_public_key

        async def validate(username: str, key_data: bytes, msg: bytes, signature: bytes) -> bool:
            return await self._key_signed(checked, username, key_data, msg, signature)

        conn.validate_public_key = validate  # type: ignore[method-assign]
        self.source = str((conn.get_extra_info("peername") or ("",))[0])

    def begin_auth(self, username: str) -> bool:
        # The tenant's SSH user CAs are this login's (asyncssh begins again when a client
        # changes its user name).
        self._cas_trusted = False
        try:
            self.login = parse_proxy_login(
                username, self.proxy.default_tenant, self.proxy.default_site
            )
        except PamError as exc:
            # Said as the connection ends, before any password is asked for a name that could
            # never open anything (OpenSSH prints the reason; an empty list of methods instead
            # would make it try them all, prompting each time).
            if self._conn is not None:
                self._conn.disconnect(
                    asyncssh.DISC_NO_MORE_AUTH_METHODS_AVAILABLE, f"pamnode: {exc.message}"
                )
        return True

    # Once a first factor waits for its code, only the code's prompt is offered: OpenSSH
    # then goes to it instead of asking the password again.
    def public_key_auth_supported(self) -> bool:
        return self.pending is None

    def password_auth_supported(self) -> bool:
        return self.pending is None

    def kbdint_auth_supported(self) -> bool:
        return self.pending is not None

    async def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        """Whether the key is registered to the login; asyncssh checks its signature next
        (and the wrapper of `connection_made` takes the login once it has)."""
        if self.login is None:
            return False
        first = await self._refused_as_false(
            username, self.proxy.key_login(self.login, key.public_data)
        )
        return first is not None

    async def _key_signed(
        self,
        checked: Callable[[str, bytes, bytes, bytes], Awaitable[bool]],
        username: str,
        key_data: bytes,
        msg: bytes,
        signature: bytes,
    ) -> bool:
        if _is_certificate(key_data):
            await self._trust_user_cas()
        if not await checked(username, key_data, msg, signature):
            return False
        if not msg:
            # Only offered: the client asks whether the key would do, before signing.
            return True
        assert self.login is not None
        cert = _openssh_certificate(key_data)
        if cert is None:
            return await self._proven(username, self.proxy.key_login(self.login, key_data))
        return await self._proven(username, self.proxy.certificate_login(self.login, cert))

    async def _trust_user_cas(self) -> None:
        """Have asyncssh check certificates against the tenant's SSH user CAs (their CA,
        principal and validity), read once a connection, when it first offers a certificate:
        the read is a database transaction on the event loop, which a connection that offers
        a password or a plain key (every guess of a password-guessing tool) does not need."""
        if self._cas_trusted or self.login is None or self._conn is None:
            return
        self._cas_trusted = True
        lines = await self.proxy.user_ca_lines(self.login)
        cas = asyncssh.import_authorized_keys("\n".join(lines)) if lines else None
        self._conn.set_authorized_keys(cas)

    async def validate_password(self, username: str, password: str) -> bool:
        if self.login is None:
            return False
        return await self._proven(
            username, self.proxy.password_login(self.login, password, self.source)
        )

    async def _proven(self, username: str, proving: Awaitable[FirstFactor | None]) -> bool:
        first = await self._refused_as_false(username, proving)
        if not isinstance(first, FirstFactor):
            return False
        if first.needs_code:
            # Refused for now: the client goes on to the code's prompt, the only method left.
            self.pending = first
            return False
        return await self._admitted(username, first, None)

    def get_kbdint_challenge(
        self, username: str, lang: str, submethods: str
    ) -> tuple[str, str, str, list[tuple[str, bool]]]:
        return ("pamnode", "", "", [(CODE_PROMPT, True)])

    async def validate_kbdint_response(self, username: str, responses: Sequence[str]) -> bool:
        if self.pending is None or len(responses) != 1:
            return False
        return await self._admitted(username, self.pending, responses[0])

    async def _admitted(self, username: str, first: FirstFactor, code: str | None) -> bool:
        self.principal = await self._refused_as_false(
            username, self.proxy.admit(first, code, self.source)
        )
        return self.principal is not None

    async def _refused_as_false(self, username: str, checking: Awaitable[T]) -> T | None:
        """The check's answer, or None when it refuses (logged, and said to the client when
        the client would otherwise take it for a wrong password or key)."""
        try:
            return await checking
        except PamError as exc:
            log.warning("ssh proxy: login %r from %s refused: %s", username, self.source, exc.code)
            if self._conn is not None and (
                isinstance(exc, Throttled) or exc.code.startswith("second_factor")
            ):
                self._conn.send_auth_banner(f"pamnode: {exc.message}\r\n")
            return None

    def session_requested(self) -> ProxiedChannel | bool:
        if self.principal is None or self.login is None:
            return False
        return ProxiedChannel(self.proxy.ctx, self.principal, self.login.asset)

    def connection_requested(
        self, dest_host: str, dest_port: int, orig_host: str, orig_port: int
    ) -> bool:
        raise asyncssh.ChannelOpenError(asyncssh.OPEN_ADMINISTRATIVELY_PROHIBITED, NO_FORWARDING)

    def unix_connection_requested(self, dest_path: str) -> bool:
        raise asyncssh.ChannelOpenError(asyncssh.OPEN_ADMINISTRATIVELY_PROHIBITED, NO_FORWARDING)

    def server_requested(self, listen_host: str, listen_port: int) -> bool:
        return False

    def unix_server_requested(self, listen_path: str) -> bool:
        return False


def _openssh_certificate(key_data: bytes) -> asyncssh.public_key.SSHOpenSSHCertificate | None:
    """The OpenSSH user certificate a login offered (asyncssh has checked it already), or
    None for a plain key."""
    if not _is_certificate(key_data):
        return None
    cert = asyncssh.import_certificate(_key_type(key_data) + b" " + base64.b64encode(key_data))
    return cert if isinstance(cert, asyncssh.public_key.SSHOpenSSHCertificate) else None


def _key_type(key_data: bytes) -> bytes:
    size = int.from_bytes(key_data[:4], "big")
    return key_data[4 : 4 + size]


def _is_certificate(key_data: bytes) -> bool:
    return _key_type(key_data).endswith(b"-cert-v01@openssh.com")


class _Refused(asyncio.Protocol):
    """A connection past the key-exchange rate: never answered, closed after a pause."""

    def __init__(self, pause_s: float) -> None:
        self.pause_s = pause_s

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # Held for the pause, so that a guessing tool that reconnects at once is slowed
        # instead of refused again and again at the rate it can connect. (Not by pausing
        # the reads of an asyncssh connection: uvloop starts reading only after
        # connection_made, so a pause_reading there does nothing.)
        asyncio.get_running_loop().call_later(
            self.pause_s, cast(asyncio.Transport, transport).abort
        )

    def data_received(self, data: bytes) -> None:
        pass  # the client's version and KEXINIT, dropped unread


class SshListener:
    """asyncssh's `tunnel` for listening: a TCP listener whose connections speak through a
    SlicedFeed, and the bound on key exchanges a second (`LoginGuard.handshakes`).

    A connection past the bound is refused as it is accepted, before asyncssh builds anything
    for it (its connection object, options, version line: about a third of a millisecond of
    the event loop), as OpenSSH's MaxStartups does: the client reads "connection closed"
    before any version line."""

    def __init__(self, guard: LoginGuard, refused: Callable[[], None]) -> None:
        self.guard = guard
        self.refused = refused

    async def create_server(
        self, factory: Callable[[str, int], asyncio.Protocol], host: str, port: int
    ) -> asyncio.AbstractServer:
        def accepted() -> asyncio.Protocol:
            if not self.guard.handshakes.take():
                self.refused()
                return _Refused(self.guard.refusal_pause())
            return SlicedFeed(factory("", 0))

        return await asyncio.get_running_loop().create_server(accepted, host, port)


class SshProxy:
    def __init__(
        self,
        ctx: ProxyContext,
        host_key_path: Path,
        default_tenant: str | None,
        default_site: str,
    ) -> None:
        self.ctx = ctx
        self.host_key = load_host_key(host_key_path)
        self.default_tenant = default_tenant
        self.default_site = default_site
        self._server: asyncssh.SSHAcceptor | None = None
        self._address = ""

    @property
    def fingerprint(self) -> str:
        return str(self.host_key.get_fingerprint("sha256"))

    async def start(self, host: str, port: int) -> None:
        self._address = authority(host, port)
        self._server = await asyncssh.create_server(
            lambda: _Client(self),
            host,
            port,
            server_host_keys=[self.host_key],
            encoding=None,
            agent_forwarding=False,
            x11_forwarding=False,
            allow_scp=False,
            # Bytes go to the target as they come: no line editor in between (the target's
            # PTY echoes and edits), the faster cipher, larger packets (ssh_channel), and
            # reads and writes batched for asyncssh (ssh_transport).
            tunnel=SshListener(self.ctx.login_guard, self.ctx.metrics.ssh_handshakes_refused.inc),
            line_editor=False,
            encryption_algs=SERVER_CIPHERS,
            window=WINDOW,
            max_pktsize=MAX_PKTSIZE,
            kbdint_auth=True,
            # No GSS (Kerberos) logins. Left unset, asyncssh names the host for them again at
            # every login (its options are rebuilt as auth begins), with a reverse DNS lookup
            # when the host name has no dot: a thread and a lookup a connection.
            gss_host=None,
        )

    def announce(self) -> str:
        return f"SSH proxy on {self._address}, host key {self.fingerprint}"

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def password_login(self, login: ProxyLogin, password: str, source: str) -> FirstFactor:
        """The caller's first factor, or the refusal a console login would get (an unknown
        tenant or site is refused like a wrong password)."""
        async with self.ctx.database.begin() as db:
            signed_in = await check_password(
                db,
                self.ctx.database,
                login.tenant,
                login.site,
                login.login,
                password,
                source,
                self.ctx.login_guard,
                self.ctx.accounts,
            )
            return await self._first(db, signed_in, "password")

    async def key_login(self, login: ProxyLogin, key_blob: bytes) -> FirstFactor | None:
        """The first factor a registered key proves once signed, None for a key (or a
        tenant, site or login) this node does not know."""
        async with self.ctx.database.begin() as db:
            found = await ssh_keys.sign_in_with_key(
                db, login.tenant, login.site, login.login, key_blob, self.ctx.accounts
            )
            if found is None:
                return None
            signed_in, key_fingerprint = found
            return await self._first(db, signed_in, f"publickey {key_fingerprint}", key_fingerprint)

    async def user_ca_lines(self, login: ProxyLogin) -> list[str]:
        """What trusts the tenant's SSH user CAs for this login's certificates."""
        async with self.ctx.database.begin() as db:
            found = await ssh_keys.find_login(db, login.tenant, login.site, login.login)
            if found is None:
                return []
            tenant, _, user = found
            return await ssh_cas.authorized_lines(db, tenant, user.login)

    async def certificate_login(
        self, login: ProxyLogin, cert: asyncssh.public_key.SSHOpenSSHCertificate
    ) -> FirstFactor | None:
        """The first factor of a certificate asyncssh has checked against the tenant's CAs
        (signature, principal, validity)."""
        async with self.ctx.database.begin() as db:
            found = await ssh_keys.find_login(db, login.tenant, login.site, login.login)
            if found is None:
                return None
            signed_in = await ssh_keys.standing(db, *found, self.ctx.accounts)
            # The certified key and the CA that signed it.
            key = ssh_keys.fingerprint(cert.key.public_data)
            ca = ssh_keys.fingerprint(cert.signing_key.public_data)
            method = f"certificate {key} by {ca}"
            return await self._first(db, signed_in, method)

    @staticmethod
    async def _first(
        db: AsyncSession, signed_in: SignedIn, method: str, key_fingerprint: str | None = None
    ) -> FirstFactor:
        needs_code = await second_factor.needed(db, signed_in.site, signed_in.user)
        if needs_code and await second_factor.confirmed_factor(db, signed_in.user) is None:
            # Said now: no code could be given at the prompt.
            raise second_factor.not_enrolled(signed_in.site, signed_in.user)
        return FirstFactor(signed_in, method, needs_code, key_fingerprint)

    async def admit(self, first: FirstFactor, code: str | None, source: str) -> Principal:
        """The logged-in caller, once the second factor is checked when it is needed."""
        tenant, site, user = first.signed_in.tenant, first.signed_in.site, first.signed_in.user
        method = first.method
        async with self.ctx.database.begin() as db:
            if first.needs_code:
                used = await second_factor.verify(
                    db,
                    self.ctx.keyring,
                    self.ctx.login_guard.throttle,
                    tenant,
                    site,
                    user,
                    code,
                    source,
                )
                method = f"{method}+{used}"
            if first.key_fingerprint is not None:
                await ssh_keys.mark_used(db, user, first.key_fingerprint)
            roles = await roles_of(db, site, user, first.signed_in.groups)
            record(
                db,
                AuditScope(tenant.name, site.name, user.login, source),
                AuditAction.AUTH_LOGIN,
                user.login,
                method=method,
            )
            return Principal(user, tenant, site, roles, VIA, source, first.signed_in.groups, method)
