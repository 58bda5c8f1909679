"""The SSH protocol of a proxy session (`proxy/carrying.py`'s Carrier): one channel a client
opened on the main's SSH proxy (a shell, an exec or SFTP), carried to the same kind of channel
on the target with the vault's credential, and recorded.

The client's channel is the SSH proxy's (`listeners/ssh_channel.py` hands its callbacks here);
the target's is a client session (`_TargetSide`) on a connection spoken over the route
(`proxy/ssh_target.py`). Bytes go between them as they come, each side pausing the other when
its send window is full. Window changes, breaks and signals go to the target; its exit status
(or signal) comes back.
"""

import asyncio
import contextlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from pamnode.assets.ssh import SshHost, pin_first_key
from pamnode.core.errors import ExecutionError, PeerFailure
from pamnode.core.ssh_library import asyncssh
from pamnode.proxy.carrying import Outcome
from pamnode.proxy.context import ProxyContext
from pamnode.proxy.opening import Opened
from pamnode.proxy.recording import CommandRecorder, Recorder, SftpRecorder, ShellRecorder
from pamnode.proxy.route import Route, link_lost
from pamnode.proxy.ssh_target import ssh_over
from pamnode.sessions.live_shell import ShellFeed
from pamnode.sessions.models import Channel

# What a client is told when the target never gave an exit status.
NO_STATUS = 255
# The receive window and the largest packet this node asks for on both legs (asyncssh's
# defaults: 2 MiB and 32 KiB). OpenSSH sends packets as large as its receiver allows, and each
# packet costs asyncssh the same Python steps (a decryption, a dispatch, a window count)
# whatever its size: four times fewer packets for the same bytes.
WINDOW = 8 * 1024 * 1024
MAX_PKTSIZE = 128 * 1024

TermSize = tuple[int, int, int, int]


class ClientChannel(Protocol):
    """What the carrier does to the client's channel (asyncssh's server channel is one)."""

    def write(self, data: bytes) -> None: ...

    def write_stderr(self, data: bytes) -> None: ...

    def write_eof(self) -> None: ...

    def exit(self, status: int) -> None: ...

    def exit_with_signal(
        self, signal: str, core_dumped: bool = False, msg: str = "", lang: str = ""
    ) -> None: ...

    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...


@dataclass
class ChannelRequest:
    """What the client asked for before its channel started."""

    # A terminal: its type, size and modes (None without one, as `ssh -T` or an exec).
    term: tuple[str, TermSize, Mapping[int, int]] | None = None
    command: str | None = None
    sftp: bool = False

    @property
    def channel(self) -> Channel:
        if self.sftp:
            return Channel.SSHP_SFTP
        return Channel.SSHP_EXEC if self.command is not None else Channel.SSHP_SHELL


class _TargetSide(asyncssh.SSHClientSession[bytes]):
    def __init__(self, carrier: "SshCarrier") -> None:
        self.carrier = carrier
        self.status: int | None = None
        self.signal: tuple[str, bool, str, str] | None = None
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def data_received(self, data: bytes, datatype: asyncssh.DataType) -> None:
        self.carrier.from_target(data, datatype)

    def eof_received(self) -> bool:
        self.carrier.client.write_eof()
        return True

    def exit_status_received(self, status: int) -> None:
        self.status = status

    def exit_signal_received(self, signal: str, core_dumped: bool, msg: str, lang: str) -> None:
        self.signal = (signal, core_dumped, msg, lang)

    def pause_writing(self) -> None:
        self.carrier.client.pause_reading()

    def resume_writing(self) -> None:
        self.carrier.client.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)


class SshCarrier:
    """One channel's carrier, made when the client's channel starts: what the client sends
    before the target's side is open waits here."""

    def __init__(self, ctx: ProxyContext, client: ClientChannel, request: ChannelRequest) -> None:
        self.ctx = ctx
        self.client = client
        self.request = request
        self._early: list[bytes] = []
        self._early_eof = False
        self._client_gone = False
        self._session_id: str | None = None
        self._conn: asyncssh.SSHClientConnection | None = None
        # The task that watches the route for idleness (True when it ended the route).
        self._idle: asyncio.Task[bool] | None = None
        self._side: _TargetSide | None = None
        self._opening: asyncssh.SSHClientChannel[bytes] | None = None
        # The target's channel once the session started: the client's bytes go to it.
        self._target: asyncssh.SSHClientChannel[bytes] | None = None
        self._recorder: Recorder | None = None
        self._recorded: list[str] = []

    # The client's side (called by the listener's channel).

    def from_client(self, data: bytes) -> None:
        if self._target is None:
            self._early.append(data)
            return
        if self._recorder is not None:
            self._recorder.from_client(data)
        self._target.write(data)

    def client_eof(self) -> None:
        if self._target is None:
            self._early_eof = True
        else:
            self._target.write_eof()

    def resized(self, width: int, height: int, pixwidth: int, pixheight: int) -> None:
        if isinstance(self._recorder, ShellRecorder):
            self._recorder.resized(width, height)
        if self._target is not None:
            self._target.change_terminal_size(width, height, pixwidth, pixheight)
        elif (term := self.request.term) is not None:
            self.request.term = (term[0], (width, height, pixwidth, pixheight), term[2])

    def send_break(self, msec: int) -> None:
        if self._target is not None:
            self._target.send_break(msec)

    def send_signal(self, signal: str) -> None:
        if self._target is not None:
            self._target.send_signal(signal)

    def pause_target(self) -> None:
        if self._target is not None:
            self._target.pause_reading()

    def resume_target(self) -> None:
        if self._target is not None:
            self._target.resume_reading()

    def client_gone(self) -> bool:
        """The client went away: True if the target's side ends with it (and `carry` then
        records the end), False if nothing of it is open yet."""
        self._client_gone = True
        channel = self._target or self._opening
        if channel is None:
            return False
        channel.close()
        return True

    def fail(self, message: str) -> None:
        """Tell the person at the client why, and end the channel without a status."""
        self._tell(message)
        if not self._client_gone:
            self.client.exit(NO_STATUS)

    # The target's side.

    def from_target(self, data: bytes, datatype: asyncssh.DataType) -> None:
        if self._recorder is not None:
            self._recorder.from_target(data)
        if datatype == asyncssh.EXTENDED_DATA_STDERR:
            self.client.write_stderr(data)
        else:
            self.client.write(data)

    # The Carrier.

    async def connect(self, opened: Opened, route: Route) -> None:
        self._session_id = opened.session_id
        host = SshHost(opened.host, opened.port, opened.known_host_key)
        self._conn, presented, self._idle = await ssh_over(
            route, host, opened.credential, self.ctx.idle_timeout_s
        )
        if presented and opened.known_host_key is None:
            async with self.ctx.database.begin() as db:
                await pin_first_key(db, opened.asset_id, presented)
        self._recorder = self._recorder_for(opened.session_id)
        term_type, term_size, term_modes = self.request.term or (None, None, {})
        side = self._side = _TargetSide(self)
        try:
            self._opening, _ = await self._conn.create_session(
                lambda: side,
                self.request.command,
                subsystem="sftp" if self.request.sftp else None,
                request_pty=self.request.term is not None,
                term_type=term_type,
                term_size=term_size,
                term_modes=term_modes,
                encoding=None,
                window=WINDOW,
                max_pktsize=MAX_PKTSIZE,
            )
        except asyncssh.Error as exc:
            raise ExecutionError(
                f"the host refused the channel: {exc.reason}", code="remote_error"
            ) from None

    async def carry(self, route: Route) -> Outcome:
        assert self._opening is not None and self._side is not None
        self._target = self._opening
        for data in self._early:
            self.from_client(data)
        if self._early_eof:
            self._target.write_eof()
        self.client.resume_reading()
        await self._side.closed
        idle = await self._release()
        return self._ended(self._side, idle, route)

    async def close(self) -> None:
        await self._release()
        if self._recorder is not None:
            self._recorded = self._recorder.close()
            self._recorder = None

    def recordings(self) -> list[str]:
        return self._recorded

    # Inside.

    def _tell(self, message: str) -> None:
        """A line for the person at the client, on stderr (the terminal, or sftp's output)."""
        if not self._client_gone:
            # Refused once the target's EOF went to the client; the exit status still goes.
            with contextlib.suppress(OSError):
                self.client.write_stderr(f"pamnode: {message}\r\n".encode())

    def _recorder_for(self, session_id: str) -> Recorder:
        directory = self.ctx.recording_dir(session_id)
        if self.request.sftp:
            return SftpRecorder(directory)
        if self.request.command is not None:
            return CommandRecorder(directory, self.request.command)
        # A shell without a terminal (`ssh -T`) has asciicast's default size.
        term = self.request.term
        term_type, (width, height, _, _) = (term[0], term[1]) if term else (None, (80, 24, 0, 0))
        # Its live typescript, which a Monitor watches, is known from the channel's start.
        feed = ShellFeed(width, height, self._tell)
        self.ctx.shells[session_id] = feed
        return ShellRecorder(directory, width, height, term_type, feed)

    async def _release(self) -> bool:
        """Close the target's connection and end the shell's live feed (once); True if the
        route had ended for idleness."""
        if self._session_id is not None and (feed := self.ctx.shells.pop(self._session_id, None)):
            feed.end()
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self._idle is None:
            return False
        return await self._idle

    def _ended(self, target: _TargetSide, idle: bool, route: Route) -> Outcome:
        if self._recorder is not None:
            self._recorder.exited(target.status, target.signal[0] if target.signal else None)
        if idle:
            message = f"ended after {self.ctx.idle_timeout_s:g} s without traffic"
            self.fail(message)
            return Outcome(error=message, code="idle_timeout")
        if self._client_gone:
            return Outcome()
        if route.lost is not None:
            raise PeerFailure(route.lost, code="peer_lost")
        if target.signal is not None:
            self.client.exit_with_signal(*target.signal)
        elif target.status is not None:
            self.client.exit(target.status)
        elif route.peer_node is not None:
            # The host gives an exit status before it lets a channel go: without one, the
            # route broke, and through a peer that is the peer's loss (its link's, if it dials).
            raise PeerFailure(
                link_lost(self.ctx, route)
                or route.lost_because("the connection to the host through its HTTP proxy ended"),
                code="peer_lost",
            )
        else:
            self.fail("the connection to the host ended")
        return Outcome()
