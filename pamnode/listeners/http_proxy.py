"""The peer's HTTP proxy: `CONNECT host:port` over TLS, for a main's Service token and a grant.

A main that carries a proxy session through this peer first asks the peer's API for a one-time
grant for exactly one host:port (`POST peer/proxy-grants`), then sends `CONNECT` here with the
Service token (`Proxy-Authorization: Bearer`) and the grant (`Pamnode-Proxy-Grant`). A stolen
token alone reaches nothing: every tunnel needs a fresh grant for its own target. Refusals are
HTTP answers with the API's error body; every tunnel is audited with its bytes each way.
"""

import asyncio
import json
import logging
import ssl
from http import HTTPStatus

from pamnode.audit.actions import AuditAction
from pamnode.audit.service import AuditScope, Detail, record
from pamnode.audit.targets import allowed_destination
from pamnode.core.errors import Forbidden, InvalidInput, PamError, Unauthenticated, http_status
from pamnode.core.streams import Connection, splice
from pamnode.identity.auth import authenticate, bearer_value
from pamnode.identity.principal import Principal
from pamnode.listeners.tls_server import TlsServer
from pamnode.peers.serving import require_peer_caller
from pamnode.proxy.context import ProxyContext
from pamnode.proxy.grants import ProxyGrant
from pamnode.proxy.wire import GRANT_HEADER

log = logging.getLogger("pamnode.proxy")

HEAD_TIMEOUT_S = 10.0
HEAD_LIMIT_BYTES = 16384
CONNECT_TIMEOUT_S = 10.0


def _status_of(exc: PamError) -> int:
    """The API's status for the error, but a proxy asks for its own credentials with 407."""
    status = http_status(exc)
    return 407 if status == 401 else status


def _answer(status: int, code: str = "", message: str = "") -> bytes:
    reason = "Connection established" if status == 200 else HTTPStatus(status).phrase
    head = f"HTTP/1.1 {status} {reason}\r\n"
    if status == 200:
        return (head + "\r\n").encode()
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    extra = 'Proxy-Authenticate: Bearer realm="pamnode"\r\n' if status == 407 else ""
    return (
        head + extra + "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode() + body


def _authority(target: str) -> tuple[str, int]:
    host, _, port = target.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise InvalidInput(f"CONNECT needs host:port, not {target[:80]!r}", code="invalid_target")
    return host.strip("[]").lower(), int(port)


class HttpProxy:
    def __init__(self, ctx: ProxyContext, tls: ssl.SSLContext) -> None:
        self.ctx = ctx
        self.server = TlsServer(self._serve, tls, limit=HEAD_LIMIT_BYTES)

    async def start(self, host: str, port: int, advertised: str) -> None:
        await self.server.start(host, port)
        self.ctx.address = advertised

    def announce(self) -> str:
        return (
            f"HTTP proxy (proxy sessions) on {self.ctx.address}, with the same certificate: "
            "a main's HTTP Proxy Address"
        )

    async def close(self) -> None:
        await self.server.close()
        self.ctx.address = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        client = Connection(reader, writer)
        source = str((writer.get_extra_info("peername") or ("",))[0])
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), HEAD_TIMEOUT_S)
            grant, principal = await self._admit(head.decode("latin-1"), source)
        except PamError as exc:
            log.warning("proxy: refused %s: %s (%s)", source, exc.message, exc.code)
            writer.write(_answer(_status_of(exc), exc.code, exc.message))
            await client.close()
            return
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
            await client.close()
            return
        await self._tunnel(client, grant, principal)

    async def _admit(self, head: str, source: str) -> tuple[ProxyGrant, Principal]:
        request_line, *header_lines = head.split("\r\n")
        method, _, rest = request_line.partition(" ")
        if method != "CONNECT":
            raise InvalidInput("this proxy only opens tunnels: use CONNECT", code="not_connect")
        host, port = _authority(rest.partition(" ")[0])
        headers = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        token = bearer_value(headers.get("proxy-authorization"))
        grant_token = headers.get(GRANT_HEADER)
        if not grant_token:
            raise Forbidden(
                "a proxy grant is required: ask the peer's API (POST peer/proxy-grants) first",
                code="proxy_grant_missing",
            )
        try:
            grant = self.ctx.grants.peek(grant_token)
        except Unauthenticated as exc:
            raise Forbidden(exc.message, code=exc.code) from None
        async with self.ctx.database() as db, db.begin():
            principal, _ = await authenticate(
                db, grant.tenant, grant.site, token, source, self.ctx.accounts
            )
        require_peer_caller(principal)
        if (host, port) != (grant.host.lower(), grant.port):
            raise Forbidden(
                f"the grant is for {grant.target}, not {host}:{port}", code="proxy_grant_mismatch"
            )
        self.ctx.grants.redeem(grant_token)
        return grant, principal

    async def _tunnel(self, client: Connection, grant: ProxyGrant, principal: Principal) -> None:
        scope: AuditScope = principal.audit_scope
        try:
            destination = await allowed_destination(
                self.ctx.destinations,
                self.ctx.database,
                scope,
                grant.host,
                grant.port,
                via="proxy connect",
                session=grant.session_id,
            )
        except PamError as exc:
            client.writer.write(_answer(_status_of(exc), exc.code, exc.message))
            await client.close()
            return
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(destination.address, grant.port), CONNECT_TIMEOUT_S
            )
        except (OSError, TimeoutError) as exc:
            message = f"cannot connect to {grant.target}: {exc or 'no answer'}"
            client.writer.write(_answer(502, "connect_failed", message))
            await client.close()
            await self._audit(scope, grant, "failure", error=message)
            return
        client.writer.write(_answer(200))
        await client.writer.drain()
        upstream = Connection(reader, writer)
        # Written while the first bytes already flow: the SSH banners and key exchange do not
        # wait for a commit (it would add its time to every session's start).
        opened = asyncio.create_task(self._audit(scope, grant, "success", phase="open"))
        try:
            await splice(client, upstream)
        finally:
            await opened
            await self._audit(
                scope,
                grant,
                "success",
                phase="end",
                bytes_to_target=upstream.bytes_out,
                bytes_from_target=upstream.bytes_in,
            )

    async def _audit(
        self, scope: AuditScope, grant: ProxyGrant, outcome: str, **details: Detail
    ) -> None:
        async with self.ctx.database.begin() as db:
            record(
                db,
                scope,
                AuditAction.PROXY_TUNNEL,
                grant.target,
                outcome,
                session=grant.session_id,
                **details,
            )
