"""One SSH channel a client opens on the main's SSH proxy (a shell, an exec or SFTP), carried
to the same kind of channel on the target, with the vault's credential, and recorded.

The client's side is a server session (`ProxiedChannel`), the target's a client session
(`_TargetSide`); bytes go between them as they come, each side pausing the other when its
send window is full. Window changes, breaks and signals go to the target; its exit status
(or signal) comes back. Each channel is one row of Reports > Sessions (SSHP:Shell, SSHP:Exec,
SSHP:SFTP) with its own route: the target connection opens when the channel does.
"""

import asyncio
import contextlib
import logging
from collections.abc import Mapping

from pamnode.assets.ssh import SshHost, pin_first_key
from pamnode.core.errors import PamError, PeerFailure
from pamnode.core.ssh_library import asyncssh
from pamnode.identity.principal import Principal
from pamnode.proxy.context import ProxyContext
from pamnode.proxy.opening import Opened, open_proxy_session
from pamnode.proxy.peer_watch import watch_peer
from pamnode.proxy.recording import CommandRecorder, Recorder, SftpRecorder, ShellRecorder
from pamnode.proxy.route import Route, link_lost, reach
from pamnode.proxy.ssh_target import ssh_over
from pamnode.sessions import lifecycle
from pamnode.sessions.live_shell import ShellFeed
from pamnode.sessions.models import Channel
from pamnode.sessions.states import End, SessionState

log = logging.getLogger("pamnode.proxy.ssh")

# What a client is told when the target never gave an exit status.
NO_STATUS = 255
# The receive window and the largest packet this node asks for on both legs (asyncssh's
# defaults: 2 MiB and 32 KiB). OpenSSH sends packets as large as its receiver allows, and each
# packet costs asyncssh the same Python steps (a decryption, a dispatch, a window count)
# whatever its size: four times fewer packets for the same bytes.
WINDOW = 8 * 1024 * 1024
MAX_PKTSIZE = 128 * 1024


class _TargetSide(asyncssh.SSHClientSession[bytes]):
    def __init__(self, front: "ProxiedChannel") -> None:
        self.front = front
        self.status: int | None = None
        self.signal: tuple[str, bool, str, str] | None = None
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def data_received(self, data: bytes, datatype: asyncssh.DataType) -> None:
        self.front.from_target(data, datatype)

    def eof_received(self) -> bool:
        self.front.target_eof()
        return True

    def exit_status_received(self, status: int) -> None:
        self.status = status

    def exit_signal_received(self, signal: str, core_dumped: bool, msg: str, lang: str) -> None:
        self.signal = (signal, core_dumped, msg, lang)

    def pause_writing(self) -> None:
        self.front.chan.pause_reading()

    def resume_writing(self) -> None:
        self.front.chan.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)


class ProxiedChannel(asyncssh.SSHServerSession[bytes]):
    def __init__(self, ctx: ProxyContext, principal: Principal, asset_ref: str) -> None:
        self.ctx = ctx
        self.principal = principal
        self.asset_ref = asset_ref
        self.chan: asyncssh.SSHServerChannel[bytes]
        self._term: tuple[str, tuple[int, int, int, int], Mapping[int, int]] | None = None
        self._command: str | None = None
        self._sftp = False
        self._target: asyncssh.SSHClientChannel[bytes] | None = None
        self._recorder: Recorder | None = None
        # What the client sent before the target side was open.
        self._early: list[bytes] = []
        self._early_eof = False
        self._task: asyncio.Task[None] | None = None
        self._client_gone = False

    # The client's requests, before the channel starts.

    def connection_made(self, chan: asyncssh.SSHServerChannel[bytes]) -> None:
        self.chan = chan

    def pty_requested(
        self, term_type: str, term_size: tuple[int, int, int, int], term_modes: Mapping[int, int]
    ) -> bool:
        self._term = (term_type, term_size, term_modes)
        return True

    def shell_requested(self) -> bool:
        return True

    def exec_requested(self, command: str) -> bool:
        self._command = command
        return True

    def subsystem_requested(self, subsystem: str) -> bool:
        self._sftp = subsystem == "sftp"
        return self._sftp

    def session_started(self) -> None:
        # Nothing more is read from the client until the target side is open.
        self.chan.pause_reading()
        self._task = asyncio.get_running_loop().create_task(self._carry())

    # Traffic.

    def data_received(self, data: bytes, datatype: asyncssh.DataType) -> None:
        if self._target is None:
            self._early.append(data)
            return
        if self._recorder is not None:
            self._recorder.from_client(data)
        self._target.write(data)

    def eof_received(self) -> bool:
        if self._target is None:
            self._early_eof = True
        else:
            self._target.write_eof()
        return True

    def terminal_size_changed(self, width: int, height: int, pixwidth: int, pixheight: int) -> None:
        if isinstance(self._recorder, ShellRecorder):
            self._recorder.resized(width, height)
        if self._target is not None:
            self._target.change_terminal_size(width, height, pixwidth, pixheight)
        elif self._term is not None:
            self._term = (self._term[0], (width, height, pixwidth, pixheight), self._term[2])

    def break_received(self, msec: int) -> bool:
        if self._target is not None:
            self._target.send_break(msec)
        return True

    def signal_received(self, signal: str) -> None:
        if self._target is not None:
            self._target.send_signal(signal)

    def pause_writing(self) -> None:
        if self._target is not None:
            self._target.pause_reading()

    def resume_writing(self) -> None:
        if self._target is not None:
            self._target.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        # The client went away: the target side ends with it, and _carry records the end.
        self._client_gone = True
        if self._target is not None:
            self._target.close()
        elif self._task is not None:
            self._task.cancel()

    def from_target(self, data: bytes, datatype: asyncssh.DataType) -> None:
        if self._recorder is not None:
            self._recorder.from_target(data)
        if datatype == asyncssh.EXTENDED_DATA_STDERR:
            self.chan.write_stderr(data)
        else:
            self.chan.write(data)

    def target_eof(self) -> None:
        self.chan.write_eof()

    # The channel's life.

    @property
    def channel(self) -> Channel:
        if self._sftp:
            return Channel.SSHP_SFTP
        return Channel.SSHP_EXEC if self._command is not None else Channel.SSHP_SHELL

    def _tell(self, message: str) -> None:
        """A line for the person at the client, on stderr (the terminal, or sftp's output)."""
        if not self._client_gone:
            # Refused once the target's EOF went to the client; the exit status still goes.
            with contextlib.suppress(OSError):
                self.chan.write_stderr(f"pamnode: {message}\r\n".encode())

    def _fail(self, message: str) -> None:
        self._tell(message)
        if not self._client_gone:
            self.chan.exit(NO_STATUS)

    def _recorder_for(self, opened: Opened) -> Recorder:
        directory = self.ctx.recording_dir(opened.session_id)
        if self._sftp:
            return SftpRecorder(directory)
        if self._command is not None:
            return CommandRecorder(directory, self._command)
        # A shell without a terminal (`ssh -T`) has asciicast's default size.
        term_type, (width, height, _, _) = self._term[:2] if self._term else (None, (80, 24, 0, 0))
        # Its live typescript, which a Monitor watches, is known from the channel's start.
        feed = ShellFeed(width, height, self._tell)
        self.ctx.shells[opened.session_id] = feed
        return ShellRecorder(directory, width, height, term_type, feed)

    async def _carry(self) -> None:
        try:
            opened = await open_proxy_session(
                self.ctx, self.principal, self.asset_ref, self.channel
            )
        except PamError as exc:
            self._fail(exc.message)
            return
        scope = self.principal.audit_scope
        route: Route | None = None
        state, error, code = SessionState.COMPLETED, "", ""
        try:
            route = await reach(
                self.ctx,
                opened.session_id,
                opened.host,
                opened.port,
                opened.candidates,
                opened.here_signature,
                opened.scope,
            )
            error, code = await self._run(opened, route)
        except PamError as exc:
            state, error, code = SessionState.FAILED, exc.message, exc.code
        except asyncssh.Error as exc:
            state, code = SessionState.FAILED, "remote_error"
            error = f"the host refused the channel: {exc.reason}"
        except asyncio.CancelledError:
            error, code = "the client went away", ""
        finally:
            how = End(
                state,
                error=error,
                code=code,
                bytes_in=route.connection.bytes_in if route else 0,
                bytes_out=route.connection.bytes_out if route else 0,
                recordings=self._recorder.close() if self._recorder is not None else [],
            )
            directory = self.ctx.recording_dir(opened.session_id)
            ended = lifecycle.ended(self.ctx.database, scope, opened.session_id, how, directory)
            await asyncio.shield(ended)
        if state == SessionState.FAILED:
            self._fail(error)

    async def _run(self, opened: Opened, route: Route) -> tuple[str, str]:
        """Carry the channel to its end; the error and its code when it ended abnormally."""
        host = SshHost(opened.host, opened.port, opened.known_host_key)
        conn, presented, carrier = await ssh_over(
            route, host, opened.credential, self.ctx.idle_timeout_s
        )
        peer_watch = asyncio.create_task(watch_peer(self.ctx, route))
        try:
            if presented and opened.known_host_key is None:
                async with self.ctx.database.begin() as db:
                    await pin_first_key(db, opened.asset_id, presented)
            self._recorder = self._recorder_for(opened)
            term_type, term_size, term_modes = self._term or (None, None, {})
            target = _TargetSide(self)
            target_chan, _ = await conn.create_session(
                lambda: target,
                self._command,
                subsystem="sftp" if self._sftp else None,
                request_pty=self._term is not None,
                term_type=term_type,
                term_size=term_size,
                term_modes=term_modes,
                encoding=None,
                window=WINDOW,
                max_pktsize=MAX_PKTSIZE,
            )
            # Known before the start is: a terminate that finds the session active finds it.
            self.ctx.live[opened.session_id] = route.connection
            if not await lifecycle.started(
                self.ctx.database,
                self.principal.audit_scope,
                opened.session_id,
                route.via,
                route.peer_node,
                route.node_signature,
            ):
                # Terminated while the channel was being opened: it goes no further.
                target_chan.close()
                self._fail(lifecycle.NOT_STARTED)
                return lifecycle.NOT_STARTED, ""
            self._target = target_chan
            for data in self._early:
                self.data_received(data, None)
            if self._early_eof:
                target_chan.write_eof()
            self.chan.resume_reading()
            await target.closed
        finally:
            peer_watch.cancel()
            self.ctx.live.pop(opened.session_id, None)
            if (feed := self.ctx.shells.pop(opened.session_id, None)) is not None:
                feed.end()
            conn.close()
            idle = await carrier
        return self._ended(target, idle, route)

    def _ended(self, target: _TargetSide, idle: bool, route: Route) -> tuple[str, str]:
        if self._recorder is not None:
            self._recorder.exited(target.status, target.signal[0] if target.signal else None)
        if idle:
            code = "idle_timeout"
            message = f"ended after {self.ctx.idle_timeout_s:g} s without traffic"
            self._fail(message)
            return message, code
        if self._client_gone:
            return "", ""
        if route.lost is not None:
            raise PeerFailure(route.lost, code="peer_lost")
        if target.signal is not None:
            self.chan.exit_with_signal(*target.signal)
        elif target.status is not None:
            self.chan.exit(target.status)
        elif route.peer_node is not None:
            # The host gives an exit status before it lets a channel go: without one, the
            # route broke, and through a peer that is the peer's loss (its link's, if it dials).
            raise PeerFailure(
                link_lost(self.ctx, route)
                or route.lost_because("the connection to the host through its HTTP proxy ended"),
                code="peer_lost",
            )
        else:
            self._fail("the connection to the host ended")
        return "", ""
