"""WinRM executor: PowerShell scripts and the Windows status check, over pypsrp's WinRS layer.

pypsrp is blocking (requests), so each call runs in a worker thread; the thread watches a
deadline and a stop flag of its own, because a thread cannot be cancelled from asyncio.

Why WinRS and not PSRP: a WinRS shell running `powershell.exe -EncodedCommand` is the plain
WS-Management shell protocol (Create, Command, Send, Receive, Signal, Delete), which the
WS-Management test double in tests/support speaks over real HTTP. The script itself travels on
stdin, base64-encoded, read by a small bootstrap: the command line stays short whatever the
script's size (cmd.exe stops at 8191 characters) and non-ASCII text survives any code page.

Only ever exercised against that double: never verified on a real Windows host (docs/winrm.md).
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import math
import re
import threading
import time
from dataclasses import dataclass
from typing import cast
from xml.etree import ElementTree

import requests
from pypsrp.exceptions import AuthenticationError, WinRMError, WinRMTransportError, WSManFaultError
from pypsrp.shell import CommandState, Process, SignalCode, WinRS
from pypsrp.wsman import WSMan

from pamnode.assets.credentials import Credential
from pamnode.core.errors import ExecutionError
from pamnode.executors.specs import Facts, JobSpec, Target, Task, TaskResult

log = logging.getLogger("pamnode.jobs.winrm")

# The part of a job's time budget that reaching the service may use.
CONNECT_TIMEOUT_S = 15
# How long one Receive may be held open by the service when there is no output yet.
OPERATION_TIMEOUT_S = 20
# WSManFault code meaning "no output within the operation timeout": poll again.
_NO_OUTPUT_YET = 2150858793
# WSManFault code for "access denied", which a service may send instead of HTTP 401.
_ACCESS_DENIED = 5
_UTF8_CODEPAGE = 65001

# Negotiate (Kerberos, else NTLM) is what a Windows WinRM service accepts out of the box, and
# it encrypts the messages even over plain HTTP.
DEFAULT_AUTH = "negotiate"

# Reads the real script from stdin (base64 of UTF-8), runs it, and turns a terminating error
# into plain text on stderr and exit status 1 instead of PowerShell's CLIXML.
BOOTSTRAP = """\
$ProgressPreference = 'SilentlyContinue'
[Console]::OutputEncoding = New-Object System.Text.UTF8Encoding $false
$payload = [Console]::In.ReadToEnd()
$bytes = [System.Convert]::FromBase64String($payload.Trim())
$script = [System.Text.Encoding]::UTF8.GetString($bytes)
try { & ([ScriptBlock]::Create($script)) }
catch { [Console]::Error.WriteLine(($_ | Out-String)); exit 1 }
if ($null -ne $LASTEXITCODE) { exit $LASTEXITCODE }
exit 0
"""

# One round trip, one JSON object on stdout; parsed by parse_windows_facts. Needs PowerShell 3.0
# or later (Get-CimInstance, ConvertTo-Json), i.e. Windows Server 2012 / Windows 8 onwards.
STATUS_SCRIPT = """\
$ErrorActionPreference = 'Stop'
$os = Get-CimInstance -ClassName Win32_OperatingSystem
$disk = Get-CimInstance -ClassName Win32_LogicalDisk -Filter "DeviceID='$($env:SystemDrive)'"
$boot = $os.LastBootUpTime.ToUniversalTime()
$now = (Get-Date).ToUniversalTime()
[ordered]@{
    hostname = [System.Net.Dns]::GetHostName()
    os_name = $os.Caption
    os_version = $os.Version
    os_build = $os.BuildNumber
    last_boot = $boot.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'")
    uptime_s = [math]::Round(($now - $boot).TotalSeconds, 0)
    system_drive = $env:SystemDrive
    disk_size_bytes = [int64]$disk.Size
    disk_free_bytes = [int64]$disk.FreeSpace
    user = [System.Security.Principal.WindowsIdentity]::GetCurrent().Name
} | ConvertTo-Json -Compress
"""

_POWERSHELL = "powershell.exe"


def encoded_command(script: str) -> str:
    """PowerShell's -EncodedCommand form: base64 of the UTF-16LE text."""
    return base64.b64encode(script.encode("utf-16-le")).decode("ascii")


POWERSHELL_ARGS = [
    "-NoLogo",
    "-NoProfile",
    "-NonInteractive",
    "-ExecutionPolicy",
    "Bypass",
    "-EncodedCommand",
    encoded_command(BOOTSTRAP),
]


@dataclass(frozen=True)
class Options:
    """How to talk to the WinRM service; the defaults suit a stock Windows host."""

    auth: str = DEFAULT_AUTH  # basic | negotiate | ntlm | kerberos | credssp
    # True: the system trust store; a path: a CA bundle (or the host's own certificate).
    cert_validation: bool | str = True
    # Basic over plain HTTP sends the password in the clear; refused unless asked for.
    allow_cleartext: bool = False


async def windows_status_check(
    target: Target, credential: Credential, timeout_s: float, options: Options | None = None
) -> TaskResult:
    """Hostname, OS caption and version, uptime, last boot and system drive usage."""
    result = await run_powershell(target, credential, STATUS_SCRIPT, timeout_s, options)
    if result.exit_status == 0:
        try:
            result.facts = parse_windows_facts(result.output)
        except ValueError as exc:
            raise ExecutionError(
                f"the status check on {target.endpoint} did not answer as expected: {exc}",
                code="protocol_error",
            ) from None
    return result


async def run_powershell(
    target: Target,
    credential: Credential,
    script: str,
    timeout_s: float,
    options: Options | None = None,
) -> TaskResult:
    """Run a PowerShell script; its stdout then stderr, and exit status."""
    options = options or Options()
    _check_target(target, credential, options)
    stop = threading.Event()
    try:
        stdout, stderr, rc = await asyncio.to_thread(
            _invoke, target, credential, script, timeout_s, options, stop
        )
    finally:
        # Cancelled (the job was cancelled or timed out above us): the thread stops at its
        # next poll and closes the remote shell.
        stop.set()
    output = stdout
    if stderr:
        output += ("" if not output or output.endswith("\n") else "\n") + stderr
    return TaskResult(exit_status=rc, output=credential.redact(output), facts={})


class WinRmExecutor:
    """Windows hosts: the status check, or a PowerShell script, with the default options."""

    async def run(self, spec: JobSpec, credential: Credential) -> TaskResult:
        if spec.task is Task.WINDOWS_STATUS_CHECK:
            return await windows_status_check(spec.target, credential, spec.timeout_s)
        return await run_powershell(spec.target, credential, spec.script_body, spec.timeout_s)


def _check_target(target: Target, credential: Credential, options: Options) -> None:
    if target.protocol not in ("winrm", "winrm-https"):
        raise ExecutionError(
            f"the WinRM executor cannot reach a {target.protocol!r} target", code="protocol_error"
        )
    if options.auth == "basic" and target.protocol == "winrm" and not options.allow_cleartext:
        raise ExecutionError(
            f"basic authentication over plain HTTP would send the password of "
            f"'{credential.username}' to {target.endpoint} in the clear; use winrm-https "
            "or negotiate authentication",
            code="protocol_error",
        )
    if not credential.password:
        raise ExecutionError(
            f"WinRM needs a password for user '{credential.username}'", code="auth_failed"
        )


class _Stopped(Exception):
    pass


def _invoke(
    target: Target,
    credential: Credential,
    script: str,
    timeout_s: float,
    options: Options,
    stop: threading.Event,
) -> tuple[str, str, int | None]:
    """The worker thread's body: every transport or protocol failure becomes an ExecutionError."""
    try:
        return _converse(target, credential, script, timeout_s, options, stop)
    except ExecutionError:
        raise
    except Exception as exc:
        raise _failure(exc, target, credential) from None


def _converse(
    target: Target,
    credential: Credential,
    script: str,
    timeout_s: float,
    options: Options,
    stop: threading.Event,
) -> tuple[str, str, int | None]:
    deadline = time.monotonic() + timeout_s
    https = target.protocol == "winrm-https"
    wsman = WSMan(
        # Over HTTPS the certificate names the host, so the name is dialled again there (the
        # policy checked what it resolved to a moment before).
        target.host if https else target.dial,
        port=target.port,
        username=credential.username,
        password=credential.password,
        ssl=https,
        auth=options.auth,
        # pypsrp hands this to requests' `verify`, which takes a CA bundle path as well.
        cert_validation=cast(bool, options.cert_validation),
        # "auto" encrypts messages over HTTP, which basic cannot; _check_target already
        # refused basic over HTTP unless cleartext was explicitly allowed.
        encryption="never" if options.auth == "basic" else "auto",
        connection_timeout=max(1, math.ceil(min(CONNECT_TIMEOUT_S, timeout_s))),
        read_timeout=OPERATION_TIMEOUT_S + 10,
        operation_timeout=OPERATION_TIMEOUT_S,
        # A proxy from the environment would sit between the node and the managed host.
        no_proxy=True,
    )
    with wsman, WinRS(wsman, codepage=_UTF8_CODEPAGE) as shell:
        process = Process(shell, _POWERSHELL, POWERSHELL_ARGS)
        process.begin_invoke()
        try:
            _send_script(process, wsman.max_payload_size, script)
            while process.state != CommandState.DONE:
                remaining = deadline - time.monotonic()
                if stop.is_set() or remaining <= 0:
                    raise _Stopped
                process.poll_invoke(timeout=max(1, min(OPERATION_TIMEOUT_S, int(remaining))))
        except _Stopped:
            _terminate(process)
            raise ExecutionError(
                f"the script on {target.endpoint} did not finish within {timeout_s:g} s",
                code="timeout",
            ) from None
    return (
        process.stdout.decode("utf-8", "replace"),
        clixml_to_text(process.stderr.decode("utf-8", "replace")),
        process.rc,
    )


def _send_script(process: Process, max_payload: int, script: str) -> None:
    payload = base64.b64encode(script.encode("utf-8"))
    # Each Send must fit the service's envelope size; the last one closes stdin.
    chunks = [payload[i : i + max_payload] for i in range(0, len(payload), max_payload)]
    for index, chunk in enumerate(chunks):
        process.send(chunk, end=index == len(chunks) - 1)


def _terminate(process: Process) -> None:
    try:
        process.signal(SignalCode.TERMINATE)
    except (WinRMError, requests.RequestException) as exc:
        # The shell is deleted next anyway, which ends the process with it.
        log.info("could not signal the timed-out WinRM command: %s", type(exc).__name__)


def _failure(exc: Exception, target: Target, credential: Credential) -> ExecutionError:
    where = target.endpoint
    if isinstance(exc, AuthenticationError) or (
        isinstance(exc, WSManFaultError) and exc.code == _ACCESS_DENIED
    ):
        return ExecutionError(
            f"the WinRM service at {where} refused user '{credential.username}'",
            code="auth_failed",
        )
    if isinstance(exc, requests.exceptions.SSLError):
        return ExecutionError(
            f"TLS with {where} failed (is its certificate trusted?): {_os_reason(exc)}",
            code="protocol_error",
        )
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return ExecutionError(
            f"{where} cannot be reached from this node: no answer within {CONNECT_TIMEOUT_S} s",
            code="network_unreachable",
        )
    if isinstance(exc, requests.exceptions.ConnectionError):
        return ExecutionError(
            f"{where} cannot be reached from this node: {_os_reason(exc)}",
            code="network_unreachable",
        )
    if isinstance(exc, requests.exceptions.Timeout):
        return ExecutionError(f"the WinRM service at {where} stopped answering", code="timeout")
    if isinstance(exc, WSManFaultError):
        message = f"the WinRM service at {where} refused the request: {exc.reason or exc.code}"
        return ExecutionError(credential.redact(message), code="protocol_error")
    if isinstance(exc, WinRMTransportError):
        return ExecutionError(
            f"the WinRM service at {where} answered HTTP {exc.code}", code="protocol_error"
        )
    if isinstance(exc, WinRMError | ValueError | ElementTree.ParseError):
        message = f"WinRM with {where} failed: {exc}"
        return ExecutionError(credential.redact(message), code="protocol_error")
    log.exception("unexpected WinRM failure with %s", where)
    return ExecutionError(
        f"WinRM with {where} failed ({type(exc).__name__})", code="protocol_error"
    )


_ERRNO_TEXT = re.compile(r"\[Errno -?\d+\] ([^'\")]+)")


def _os_reason(exc: Exception) -> str:
    # requests nests the socket error a few levels deep in its message; keep only its words.
    found = _ERRNO_TEXT.search(str(exc))
    return found.group(1).strip() if found else type(exc).__name__


_CLIXML_STRING = re.compile(r'<S S="Error">(.*?)</S>', re.DOTALL)
_CLIXML_ESCAPE = re.compile(r"_x([0-9A-Fa-f]{4})_")


def clixml_to_text(stderr: str) -> str:
    """PowerShell's error stream as text; non-CLIXML text is returned as it is.

    powershell.exe with redirected streams writes errors as `#< CLIXML` serialized records,
    with control characters escaped as _xHHHH_.
    """
    if not stderr.lstrip().startswith("#< CLIXML"):
        return stderr
    parts = _CLIXML_STRING.findall(stderr)
    text = "".join(_CLIXML_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), p) for p in parts)
    for entity, char in (("&lt;", "<"), ("&gt;", ">"), ("&quot;", '"'), ("&apos;", "'")):
        text = text.replace(entity, char)
    return text.replace("&amp;", "&").replace("\r\n", "\n")


def parse_windows_facts(output: str) -> Facts:
    """Facts from STATUS_SCRIPT's JSON; ValueError when there is no such object."""
    line = next((ln for ln in reversed(output.splitlines()) if ln.strip().startswith("{")), None)
    if line is None:
        raise ValueError("no JSON object in the output")
    raw = json.loads(line)
    if not isinstance(raw, dict):
        raise ValueError("the JSON is not an object")
    facts: Facts = {}
    for key in ("hostname", "os_name", "os_version", "os_build", "last_boot", "user"):
        if raw.get(key) not in (None, ""):
            facts[key] = str(raw[key])
    if isinstance(raw.get("uptime_s"), int | float):
        facts["uptime_s"] = float(raw["uptime_s"])
    if raw.get("system_drive"):
        facts["disk_mount"] = str(raw["system_drive"])
    size, free = raw.get("disk_size_bytes"), raw.get("disk_free_bytes")
    if isinstance(size, int) and isinstance(free, int) and size > 0:
        used = size - free
        facts.update(
            disk_size_bytes=size,
            disk_used_bytes=used,
            disk_free_bytes=free,
            # Rounded up, as df reports capacity.
            disk_used_percent=math.ceil(used * 100 / size),
        )
    return facts
