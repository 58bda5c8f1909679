"""One session channel a client opens on the SSH proxy (a shell, an exec or the sftp
subsystem, which scp uses too): asyncssh's server-session callbacks, translated.

The requests before the channel starts (a terminal, the command, the subsystem) make its
`ChannelRequest`; when it starts, the session opens (`proxy/opening.py`) and is carried by
`proxy/carrying.py` with the SSH carrier (`proxy/ssh_carrier.py`), to which every later
callback (bytes, EOF, window changes, breaks, signals, flow control) is handed. Each channel is
one row of Reports > Sessions (SSHP:Shell, SSHP:Exec, SSHP:SFTP) with its own route.
"""

import asyncio
from collections.abc import Mapping

from pamnode.core.errors import PamError
from pamnode.core.ssh_library import asyncssh
from pamnode.identity.principal import Principal
from pamnode.proxy.carrying import carry_session
from pamnode.proxy.context import ProxyContext
from pamnode.proxy.opening import open_proxy_session
from pamnode.proxy.ssh_carrier import ChannelRequest, SshCarrier, TermSize


class ProxiedChannel(asyncssh.SSHServerSession[bytes]):
    def __init__(self, ctx: ProxyContext, principal: Principal, asset_ref: str) -> None:
        self.ctx = ctx
        self.principal = principal
        self.asset_ref = asset_ref
        self.request = ChannelRequest()
        self.carrier: SshCarrier
        self._task: asyncio.Task[None] | None = None

    # The client's requests, before the channel starts.

    def connection_made(self, chan: asyncssh.SSHServerChannel[bytes]) -> None:
        self.carrier = SshCarrier(self.ctx, chan, self.request)

    def pty_requested(
        self, term_type: str, term_size: TermSize, term_modes: Mapping[int, int]
    ) -> bool:
        self.request.term = (term_type, term_size, term_modes)
        return True

    def shell_requested(self) -> bool:
        return True

    def exec_requested(self, command: str) -> bool:
        self.request.command = command
        return True

    def subsystem_requested(self, subsystem: str) -> bool:
        self.request.sftp = subsystem == "sftp"
        return self.request.sftp

    def session_started(self) -> None:
        # Nothing more is read from the client until the target's side is open.
        self.carrier.client.pause_reading()
        self._task = asyncio.get_running_loop().create_task(self._session())

    async def _session(self) -> None:
        try:
            opened = await open_proxy_session(
                self.ctx, self.principal, self.asset_ref, self.request.channel
            )
        except PamError as exc:
            self.carrier.fail(exc.message)
            return
        outcome = await carry_session(self.ctx, opened, self.carrier)
        if outcome.has_failed:
            self.carrier.fail(outcome.error)

    # Once started: everything goes to the carrier.

    def data_received(self, data: bytes, datatype: asyncssh.DataType) -> None:
        self.carrier.from_client(data)

    def eof_received(self) -> bool:
        self.carrier.client_eof()
        return True

    def terminal_size_changed(self, width: int, height: int, pixwidth: int, pixheight: int) -> None:
        self.carrier.resized(width, height, pixwidth, pixheight)

    def break_received(self, msec: int) -> bool:
        self.carrier.send_break(msec)
        return True

    def signal_received(self, signal: str) -> None:
        self.carrier.send_signal(signal)

    def pause_writing(self) -> None:
        self.carrier.pause_target()

    def resume_writing(self) -> None:
        self.carrier.resume_target()

    def connection_lost(self, exc: Exception | None) -> None:
        # The client went away: the target's side ends with it (and the carrying records the
        # end), or, before it was open, the session's task is stopped.
        if not self.carrier.client_gone() and self._task is not None:
            self._task.cancel()
