"""A WS-Management test double: enough of a Windows WinRM service, over real HTTP, for WinRS.

It answers the shell protocol the WinRM executor uses (MS-WSMV: Create a cmd shell, Command,
Send stdin, Receive output, Signal, Delete) with SOAP envelopes like a Windows host's, behind
HTTP Basic authentication. It cannot run PowerShell: each command is handed to a `responder`
that decides its output, exit code and run time.

Why Basic over plain HTTP (or over TLS with a test certificate): Windows' default, Negotiate
(NTLM/Kerberos) with message encryption, would need an NTLM acceptor and SPNEGO wrapping in
the double, which would then test our double of Microsoft's crypto rather than the executor.
Basic keeps the double small; the executor refuses Basic over HTTP unless a caller opts in.

No Windows host was involved in making this; what it answers follows the MS-WSMV documents
and pypsrp's expectations, and is not verified against a real WinRM service.
"""

from __future__ import annotations

import base64
import ssl
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from xml.etree import ElementTree as ET

NS = {
    "s": "http://www.w3.org/2003/05/soap-envelope",
    "wsa": "http://schemas.xmlsoap.org/ws/2004/08/addressing",
    "wsman": "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd",
    "wst": "http://schemas.xmlsoap.org/ws/2004/09/transfer",
    "rsp": "http://schemas.microsoft.com/wbem/wsman/1/windows/shell",
    "wsmanfault": "http://schemas.microsoft.com/wbem/wsman/1/wsmanfault",
    "xml": "http://www.w3.org/XML/1998/namespace",
}
for _prefix, _uri in NS.items():
    if _prefix != "xml":
        ET.register_namespace(_prefix, _uri)

_TRANSFER = "http://schemas.xmlsoap.org/ws/2004/09/transfer/"
_SHELL = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/"
CMD_SHELL_URI = _SHELL + "cmd"
DONE = _SHELL + "CommandState/Done"
RUNNING = _SHELL + "CommandState/Running"
TIMED_OUT_CODE = 2150858793


def _q(prefix: str, name: str) -> str:
    return f"{{{NS[prefix]}}}{name}"


@dataclass
class Invocation:
    """One command a client started in a shell, as the double saw it."""

    executable: str
    arguments: list[str]
    stdin: bytes = b""

    @property
    def encoded_command(self) -> str | None:
        """The text of a `-EncodedCommand` argument (base64 of UTF-16LE), if there is one."""
        lowered = [a.lower() for a in self.arguments]
        for flag in ("-encodedcommand", "-enc", "-e"):
            if flag in lowered:
                value = self.arguments[lowered.index(flag) + 1]
                return base64.b64decode(value).decode("utf-16-le")
        return None

    @property
    def stdin_script(self) -> str:
        """stdin as the executor's bootstrap reads it: base64 of UTF-8 script text."""
        return base64.b64decode(self.stdin.strip()).decode("utf-8")


@dataclass
class Outcome:
    stdout: str = ""
    stderr: str = ""
    exit_code: int = 0
    duration_s: float = 0.0  # how long the command "runs" before its output is ready


Responder = Callable[[Invocation], Outcome]


@dataclass
class _Command:
    invocation: Invocation
    stdin_closed: bool = False
    outcome: Outcome | None = None
    ready_at: float = 0.0
    signals: list[str] = field(default_factory=list)
    stopped: threading.Event = field(default_factory=threading.Event)


@dataclass
class Exchange:
    """One request: its action (last path segment of wsa:Action) and raw body."""

    action: str
    user: str | None
    body: bytes


class WsmanDouble:
    def __init__(
        self,
        username: str,
        password: str,
        responder: Responder,
        tls: tuple[Path, Path] | None = None,
    ) -> None:
        self.username = username
        self.password = password
        self.responder = responder
        self.tls = tls  # (certificate, key) PEM files: serve HTTPS
        self.exchanges: list[Exchange] = []
        self.invocations: list[Invocation] = []
        self.shells: dict[str, dict[str, _Command]] = {}
        self.lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        assert self._server is not None, "double not started"
        return int(self._server.server_address[1])

    def actions(self) -> list[str]:
        return [e.action for e in self.exchanges]

    def start(self) -> WsmanDouble:
        double = self

        class Handler(_Handler):
            owner = double

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        if self.tls:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(str(self.tls[0]), str(self.tls[1]))
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="wsman-double", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        with self.lock:
            for commands in self.shells.values():
                for command in commands.values():
                    command.stopped.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def __enter__(self) -> WsmanDouble:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _envelope(action: str, relates_to: str) -> tuple[ET.Element, ET.Element]:
    envelope = ET.Element(_q("s", "Envelope"))
    header = ET.SubElement(envelope, _q("s", "Header"))
    ET.SubElement(header, _q("wsa", "Action")).text = action
    ET.SubElement(header, _q("wsa", "MessageID")).text = f"uuid:{uuid.uuid4()}".upper()
    ET.SubElement(header, _q("wsa", "RelatesTo")).text = relates_to
    body = ET.SubElement(envelope, _q("s", "Body"))
    return envelope, body


class _Fault(Exception):
    def __init__(self, status: int, subcode: str, code: int, message: str) -> None:
        super().__init__(message)
        self.status, self.subcode, self.code, self.message = status, subcode, code, message


class _Handler(BaseHTTPRequestHandler):
    owner: WsmanDouble
    # Keep-alive, as WinRM clients reuse one connection for a whole shell.
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass  # the test output is no place for an access log

    def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if body:
            self.send_header("Content-Type", "application/soap+xml;charset=UTF-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _user(self) -> str | None:
        """The authenticated user, or None when the credentials are missing or wrong."""
        scheme, _, value = self.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            user, _, password = base64.b64decode(value).decode("utf-8").partition(":")
        except ValueError:
            return None
        owner = self.owner
        return user if (user, password) == (owner.username, owner.password) else None

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.path.rstrip("/") != "/wsman":
            self._send(404)
            return
        user = self._user()
        if user is None:
            # As Windows does: no body, and the schemes it would accept.
            self._send(401, headers={"WWW-Authenticate": 'Basic realm="WSMAN"'})
            return
        request = ET.fromstring(body)
        action = request.findtext("s:Header/wsa:Action", "", NS)
        message_id = request.findtext("s:Header/wsa:MessageID", "", NS)
        with self.owner.lock:
            self.owner.exchanges.append(Exchange(action.rsplit("/", 1)[-1], user, body))
        try:
            response = self._dispatch(action, message_id, request)
        except _Fault as fault:
            self._send(fault.status, _fault_envelope(fault, message_id))
            return
        self._send(200, ET.tostring(response, encoding="utf-8", xml_declaration=False))

    def _dispatch(self, action: str, message_id: str, request: ET.Element) -> ET.Element:
        shell_id = request.findtext("s:Header/wsman:SelectorSet/wsman:Selector", "", NS)
        handlers = {
            _TRANSFER + "Create": self._create,
            _SHELL + "Command": self._command,
            _SHELL + "Send": self._send_input,
            _SHELL + "Receive": self._receive,
            _SHELL + "Signal": self._signal,
            _TRANSFER + "Delete": self._delete,
        }
        handler = handlers.get(action)
        if handler is None:
            raise _Fault(500, "wsa:ActionNotSupported", 2150858752, f"unsupported {action}")
        response_action = action + "Response"
        envelope, body = _envelope(response_action, message_id)
        handler(shell_id, request, body)
        return envelope

    def _shell(self, shell_id: str) -> dict[str, _Command]:
        shell = self.owner.shells.get(shell_id)
        if shell is None:
            raise _Fault(500, "w:InvalidSelectors", 2150858843, "the shell does not exist")
        return shell

    def _command_of(self, shell_id: str, element: ET.Element | None) -> _Command:
        command_id = element.get("CommandId", "") if element is not None else ""
        command = self._shell(shell_id).get(command_id)
        if command is None:
            raise _Fault(500, "w:InvalidSelectors", 2150858843, "the command does not exist")
        return command

    def _create(self, _: str, request: ET.Element, body: ET.Element) -> None:
        resource = request.findtext("s:Header/wsman:ResourceURI", "", NS)
        if resource != CMD_SHELL_URI:
            raise _Fault(500, "w:InvalidResourceURI", 2150858811, f"no shell {resource}")
        shell_id = str(uuid.uuid4()).upper()
        with self.owner.lock:
            self.owner.shells[shell_id] = {}
        created = ET.SubElement(body, _q("wst", "ResourceCreated"))
        ET.SubElement(created, _q("wsa", "Address")).text = "http://127.0.0.1/wsman"
        params = ET.SubElement(created, _q("wsa", "ReferenceParameters"))
        ET.SubElement(params, _q("wsman", "ResourceURI")).text = CMD_SHELL_URI
        selectors = ET.SubElement(params, _q("wsman", "SelectorSet"))
        ET.SubElement(selectors, _q("wsman", "Selector"), Name="ShellId").text = shell_id
        shell = ET.SubElement(body, _q("rsp", "Shell"))
        for name, value in (
            ("ShellId", shell_id),
            ("ResourceUri", CMD_SHELL_URI),
            ("Owner", self.owner.username),
            ("ClientIP", self.client_address[0]),
            ("IdleTimeOut", "PT7200.000S"),
            ("InputStreams", "stdin"),
            ("OutputStreams", "stdout stderr"),
        ):
            ET.SubElement(shell, _q("rsp", name)).text = value

    def _command(self, shell_id: str, request: ET.Element, body: ET.Element) -> None:
        line = request.find("s:Body/rsp:CommandLine", NS)
        if line is None:
            raise _Fault(400, "w:SchemaValidationError", 2150858817, "no CommandLine")
        invocation = Invocation(
            executable=line.findtext("rsp:Command", "", NS),
            arguments=[a.text or "" for a in line.findall("rsp:Arguments", NS)],
        )
        command_id = str(uuid.uuid4()).upper()
        with self.owner.lock:
            self._shell(shell_id)[command_id] = _Command(invocation)
            self.owner.invocations.append(invocation)
        response = ET.SubElement(body, _q("rsp", "CommandResponse"))
        ET.SubElement(response, _q("rsp", "CommandId")).text = command_id

    def _send_input(self, shell_id: str, request: ET.Element, body: ET.Element) -> None:
        stream = request.find("s:Body/rsp:Send/rsp:Stream", NS)
        command = self._command_of(shell_id, stream)
        assert stream is not None
        command.invocation.stdin += base64.b64decode(stream.text or "")
        if stream.get("End", "").lower() == "true":
            command.stdin_closed = True
        ET.SubElement(body, _q("rsp", "SendResponse"))

    def _receive(self, shell_id: str, request: ET.Element, body: ET.Element) -> None:
        desired = request.find("s:Body/rsp:Receive/rsp:DesiredStream", NS)
        command = self._command_of(shell_id, desired)
        # The command "starts" once its input is complete, like a script that reads all of
        # stdin first. A client that never closes stdin sees it run forever.
        if command.outcome is None and command.stdin_closed:
            command.outcome = self.owner.responder(command.invocation)
            command.ready_at = time.monotonic() + command.outcome.duration_s
        wait = _seconds(request.findtext("s:Header/wsman:OperationTimeout", "PT20S", NS))
        ready = command.outcome is not None and time.monotonic() >= command.ready_at
        if not ready:
            until = command.ready_at if command.outcome else time.monotonic() + wait
            command.stopped.wait(max(0.0, min(until - time.monotonic(), wait)))
            ready = command.outcome is not None and time.monotonic() >= command.ready_at
        if not ready or command.stopped.is_set():
            raise _Fault(
                500,
                "w:TimedOut",
                TIMED_OUT_CODE,
                "The WS-Management service cannot complete the operation within the time "
                "specified in OperationTimeout.",
            )
        assert command.outcome is not None
        command_id = desired.get("CommandId", "") if desired is not None else ""
        response = ET.SubElement(body, _q("rsp", "ReceiveResponse"))
        for name, text in (("stdout", command.outcome.stdout), ("stderr", command.outcome.stderr)):
            data = text.encode("utf-8")
            if data:
                element = ET.SubElement(response, _q("rsp", "Stream"), Name=name)
                element.set("CommandId", command_id)
                element.text = base64.b64encode(data).decode("ascii")
            ET.SubElement(
                response, _q("rsp", "Stream"), Name=name, CommandId=command_id, End="true"
            )
        state = ET.SubElement(response, _q("rsp", "CommandState"), CommandId=command_id)
        state.set("State", DONE)
        ET.SubElement(state, _q("rsp", "ExitCode")).text = str(command.outcome.exit_code)

    def _signal(self, shell_id: str, request: ET.Element, body: ET.Element) -> None:
        signal = request.find("s:Body/rsp:Signal", NS)
        command = self._command_of(shell_id, signal)
        command.signals.append(request.findtext("s:Body/rsp:Signal/rsp:Code", "", NS))
        command.stopped.set()
        ET.SubElement(body, _q("rsp", "SignalResponse"))

    def _delete(self, shell_id: str, _: ET.Element, __: ET.Element) -> None:
        with self.owner.lock:
            commands = self._shell(shell_id)
            for command in commands.values():
                command.stopped.set()
            # Kept in `shells` only as far as tests look: a deleted shell has no commands.
            self.owner.shells.pop(shell_id)


def _seconds(duration: str) -> float:
    # xs:duration as WinRM clients send it: PT<seconds>S.
    try:
        return float(duration.removeprefix("PT").removesuffix("S"))
    except ValueError:
        return 20.0


def _fault_envelope(fault: _Fault, relates_to: str) -> bytes:
    envelope, body = _envelope("http://schemas.dmtf.org/wbem/wsman/1/wsman/fault", relates_to)
    element = ET.SubElement(body, _q("s", "Fault"))
    code = ET.SubElement(element, _q("s", "Code"))
    ET.SubElement(code, _q("s", "Value")).text = "s:Receiver"
    subcode = ET.SubElement(code, _q("s", "Subcode"))
    ET.SubElement(subcode, _q("s", "Value")).text = fault.subcode
    reason = ET.SubElement(element, _q("s", "Reason"))
    text = ET.SubElement(reason, _q("s", "Text"))
    text.set(_q("xml", "lang"), "en-US")
    text.text = fault.message
    detail = ET.SubElement(element, _q("s", "Detail"))
    wsman_fault = ET.SubElement(
        detail, _q("wsmanfault", "WSManFault"), Code=str(fault.code), Machine="wsman-double"
    )
    ET.SubElement(wsman_fault, _q("wsmanfault", "Message")).text = fault.message
    return ET.tostring(envelope, encoding="utf-8")
