"""The main's native SSH proxy: OpenSSH clients log in as `login#asset` (see
`pamnode.proxy.names`) with their pamnode password, and each channel they open is carried to
the asset by `pamnode.proxy.ssh_channel`.

Only sessions are served (shell, exec, the sftp subsystem, which scp uses too). Port
forwarding, agent forwarding and X11 are refused: the proxy carries what it records, nothing
else.
"""

import asyncio
import logging
from pathlib import Path

from pamnode.audit.actions import AuditAction
from pamnode.audit.service import AuditScope, record
from pamnode.core.errors import PamError, Throttled
from pamnode.core.ssh_ciphers import SERVER_CIPHERS
from pamnode.core.ssh_library import asyncssh
from pamnode.identity.auth import check_password
from pamnode.identity.grants import roles_of
from pamnode.identity.principal import Principal
from pamnode.proxy.context import ProxyContext
from pamnode.proxy.names import ProxyLogin, parse_proxy_login
from pamnode.proxy.ssh_channel import MAX_PKTSIZE, WINDOW, ProxiedChannel
from pamnode.proxy.ssh_transport import SshListener

log = logging.getLogger("pamnode.proxy.ssh")

VIA = "ssh-proxy"
NO_FORWARDING = (
    "pamnode's SSH proxy does not forward ports or sockets: open a session on the asset "
    "(ssh, scp, sftp) or ask an administrator for access"
)


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
        self.source = ""
        self._conn: asyncssh.SSHServerConnection | None = None

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self._conn = conn
        self.source = str((conn.get_extra_info("peername") or ("",))[0])
        guard = self.proxy.ctx.login_guard
        if not guard.handshakes.take():
            # Closed before the key exchange costs anything (the client reads "connection
            # closed"), as OpenSSH's MaxStartups does, after the guard's pause: a guessing
            # tool that reconnects at once is held, not served again and again.
            _hold_then_close(conn, guard.refusal_pause_s)

    def begin_auth(self, username: str) -> bool:
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

    def password_auth_supported(self) -> bool:
        return True

    async def validate_password(self, username: str, password: str) -> bool:
        if self.login is None:
            return False
        try:
            self.principal = await self.proxy.authenticate(self.login, password, self.source)
        except PamError as exc:
            log.warning("ssh proxy: login %r from %s refused: %s", username, self.source, exc.code)
            if isinstance(exc, Throttled) and self._conn is not None:
                # Refused before the password was checked: say so, or the client would
                # take it for a wrong password.
                self._conn.send_auth_banner(f"pamnode: {exc.message}\r\n")
            return False
        return True

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


def _hold_then_close(conn: asyncssh.SSHServerConnection, pause_s: float) -> None:
    """Stop reading the connection (so no key exchange starts), close it after `pause_s`."""
    # asyncssh keeps no public handle on its transport; without one, close at once.
    transport = getattr(conn, "_transport", None)
    if transport is None or pause_s <= 0:
        conn.abort()
        return
    transport.pause_reading()
    asyncio.get_running_loop().call_later(pause_s, conn.abort)


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

    @property
    def fingerprint(self) -> str:
        return str(self.host_key.get_fingerprint("sha256"))

    async def start(self, host: str, port: int) -> None:
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
            tunnel=SshListener(),
            line_editor=False,
            encryption_algs=SERVER_CIPHERS,
            window=WINDOW,
            max_pktsize=MAX_PKTSIZE,
        )
        log.info("ssh proxy on %s:%s, host key %s", host, port, self.fingerprint)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def authenticate(self, login: ProxyLogin, password: str, source: str) -> Principal:
        """The caller, or the refusal a console login would get (an unknown tenant or site
        is refused like a wrong password)."""
        async with self.ctx.sessions.begin() as db:
            signed_in = await check_password(
                db,
                self.ctx.sessions,
                login.tenant,
                login.site,
                login.login,
                password,
                source,
                self.ctx.login_guard,
                self.ctx.accounts,
            )
            tenant, site, user = signed_in.tenant, signed_in.site, signed_in.user
            roles = await roles_of(db, site, user, signed_in.groups)
            record(
                db,
                AuditScope(tenant.name, site.name, user.login, source),
                AuditAction.AUTH_LOGIN,
                user.login,
            )
            return Principal(user, tenant, site, roles, VIA, source, signed_in.groups)
