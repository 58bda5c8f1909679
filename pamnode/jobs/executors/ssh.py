"""SSH executor: shell scripts and the Unix status check, over asyncssh.

Host keys are pinned: on first contact (no `known_host_key`) the server's key is accepted and
returned so the caller can store it; afterwards exactly that key is accepted, and a different
one is refused before any credential is sent.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shlex
import socket
from typing import Any

import asyncssh

from pamnode.assets.credentials import Credential
from pamnode.core.errors import ExecutionError
from pamnode.jobs.executors.base import redact
from pamnode.jobs.specs import JobSpec, Target, Task, TaskResult

log = logging.getLogger("pamnode.jobs.ssh")

# The part of a job's time budget that reaching the server, key exchange and authentication
# may use; whatever is left of the budget belongs to the command.
CONNECT_TIMEOUT_S = 15.0

_SECTION = "--pamnode-section:"

# One command, one round trip: every fact in its own marked section, parsed by
# parse_unix_facts. POSIX sh and tools every Linux has (coreutils, procfs); LC_ALL=C keeps
# df's header and number format predictable.
STATUS_SCRIPT = f"""\
LC_ALL=C; export LC_ALL
section() {{ printf '\\n%s%s\\n' '{_SECTION}' "$1"; }}
section hostname; uname -n
section os-release; cat /etc/os-release 2>/dev/null || cat /usr/lib/os-release
section kernel; uname -r
section uptime; cat /proc/uptime
section loadavg; cat /proc/loadavg
section df; df -P -k /
section user; id -un 2>/dev/null || whoami
"""


async def run_script(
    target: Target, credential: Credential, script: str, timeout_s: float
) -> TaskResult:
    """Run a shell script body with `sh`; its combined stdout and stderr, and exit status."""
    return await _execute(target, credential, script, timeout_s)


async def unix_status_check(target: Target, credential: Credential, timeout_s: float) -> TaskResult:
    """Hostname, OS, kernel, uptime, load, root filesystem usage and login, in one session."""
    result = await _execute(target, credential, STATUS_SCRIPT, timeout_s)
    result.facts = parse_unix_facts(result.output)
    return result


class SshExecutor:
    """Unix hosts: the status check, or a shell script (the only script type for SSH)."""

    async def run(self, spec: JobSpec, credential: Credential) -> TaskResult:
        if spec.task is Task.UNIX_STATUS_CHECK:
            return await unix_status_check(spec.target, credential, spec.timeout_s)
        return await run_script(spec.target, credential, spec.script_body, spec.timeout_s)


def parse_unix_facts(output: str) -> dict[str, Any]:
    """Facts from STATUS_SCRIPT's output; a section that is missing or garbled is left out."""
    sections = _split_sections(output)
    facts: dict[str, Any] = {}
    if hostname := _first_line(sections.get("hostname")):
        facts["hostname"] = hostname
    facts.update(_os_release_facts(sections.get("os-release", [])))
    if kernel := _first_line(sections.get("kernel")):
        facts["kernel"] = kernel
    facts.update(_uptime_facts(_first_line(sections.get("uptime"))))
    facts.update(_load_facts(_first_line(sections.get("loadavg"))))
    facts.update(_df_facts(sections.get("df", [])))
    if user := _first_line(sections.get("user")):
        facts["user"] = user
    return facts


def _split_sections(output: str) -> dict[str, list[str]]:
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in output.splitlines():
        if line.startswith(_SECTION):
            current = sections.setdefault(line[len(_SECTION) :].strip(), [])
        elif current is not None and line.strip():
            current.append(line.strip())
    return sections


def _first_line(lines: list[str] | None) -> str:
    return lines[0] if lines else ""


def _os_release_facts(lines: list[str]) -> dict[str, Any]:
    values: dict[str, str] = {}
    for line in lines:
        key, sep, raw = line.partition("=")
        if not sep or line.startswith("#"):
            continue
        try:
            # os-release values are shell-quoted strings.
            parts = shlex.split(raw)
        except ValueError:
            continue
        values[key.strip()] = " ".join(parts)
    facts: dict[str, Any] = {}
    for fact, keys in (
        ("os_name", ("NAME",)),
        ("os_version", ("VERSION_ID", "VERSION", "BUILD_ID")),
        ("os_pretty_name", ("PRETTY_NAME",)),
        ("os_id", ("ID",)),
    ):
        value = next((values[k] for k in keys if values.get(k)), None)
        if value:
            facts[fact] = value
    return facts


def _uptime_facts(line: str) -> dict[str, Any]:
    try:
        return {"uptime_s": float(line.split()[0])}
    except (IndexError, ValueError):
        return {}


def _load_facts(line: str) -> dict[str, Any]:
    try:
        one, five, fifteen = (float(v) for v in line.split()[:3])
    except ValueError:
        return {}
    return {"load_1m": one, "load_5m": five, "load_15m": fifteen}


def _df_facts(lines: list[str]) -> dict[str, Any]:
    # `df -P` prints one line per filesystem: name, 1024-blocks, used, available, capacity,
    # mount point. The name may hold spaces, so read from the right.
    for line in lines:
        fields = line.split()
        if len(fields) < 6 or not fields[-2].endswith("%"):
            continue
        try:
            size, used, free = (int(v) * 1024 for v in fields[-5:-2])
            percent = int(fields[-2].rstrip("%"))
        except ValueError:
            continue  # the header line
        return {
            "disk_mount": fields[-1],
            "disk_filesystem": " ".join(fields[:-5]),
            "disk_size_bytes": size,
            "disk_used_bytes": used,
            "disk_free_bytes": free,
            "disk_used_percent": percent,
        }
    return {}


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


def key_line(key: asyncssh.SSHKey) -> str:
    """The "algorithm base64" form of a public key, without a comment."""
    algorithm, blob = key.export_public_key("openssh").decode().split()[:2]
    return f"{algorithm} {blob}"


def _parse_pinned(target: Target) -> asyncssh.SSHKey | None:
    if target.known_host_key is None:
        return None
    try:
        return asyncssh.import_public_key(target.known_host_key)
    except (asyncssh.KeyImportError, ValueError) as exc:
        raise ExecutionError(
            f"the host key pinned for {target.endpoint} is not an OpenSSH public key ({exc})",
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


async def _execute(
    target: Target, credential: Credential, script: str, timeout_s: float
) -> TaskResult:
    if target.protocol != "ssh":
        raise ExecutionError(
            f"the SSH executor cannot reach a {target.protocol!r} target", code="protocol_error"
        )
    pinned = _parse_pinned(target)
    client_key = _client_key(credential)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    witness = _HostKeyWitness(accept_unknown=pinned is None)
    connect_timeout = min(CONNECT_TIMEOUT_S, timeout_s)
    try:
        conn = await asyncssh.connect(
            target.host,
            target.port,
            client_factory=lambda: witness,
            # A tuple of (trusted keys, CA keys, revoked keys): nothing from ~/.ssh/known_hosts.
            known_hosts=([pinned] if pinned else [], [], []),
            username=credential.username,
            password=credential.password,
            client_keys=[client_key] if client_key else None,
            # The node's own identity (agent, ~/.ssh keys and config) must never be offered
            # to a managed host in place of the vault's credential.
            agent_path=None,
            config=None,
            gss_auth=False,
            gss_kex=False,
            connect_timeout=connect_timeout,
        )
    except Exception as exc:
        raise _connect_failure(exc, target, credential, pinned, witness, connect_timeout) from None

    async with conn:
        presented = conn.get_server_host_key() or witness.presented
        # Run through sh explicitly: the login shell may not be a POSIX one. stderr joins
        # stdout on the host, where the order of the lines is still known.
        command = f"exec sh -c {shlex.quote(script)} 2>&1"
        remaining = max(deadline - loop.time(), 0.001)
        try:
            completed = await conn.run(
                command,
                stdin=asyncssh.DEVNULL,
                stderr=asyncssh.STDOUT,
                encoding="utf-8",
                errors="replace",
                timeout=remaining,
            )
        except asyncssh.TimeoutError:
            raise ExecutionError(
                f"the command on {target.endpoint} did not finish within {timeout_s:g} s",
                code="timeout",
            ) from None
        except (asyncssh.Error, OSError) as exc:
            raise ExecutionError(
                redact(f"the SSH session with {target.endpoint} broke off: {exc}", credential),
                code="protocol_error",
            ) from None

    output = str(completed.stdout or "")
    exit_status = completed.exit_status
    if completed.exit_signal:
        signal_name = completed.exit_signal[0]
        output += f"\n[pamnode: the command was ended by signal {signal_name}]\n"
        exit_status = None
    return TaskResult(
        exit_status=exit_status,
        output=redact(output, credential),
        facts={},
        host_key=key_line(presented) if presented else None,
    )


def _connect_failure(
    exc: Exception,
    target: Target,
    credential: Credential,
    pinned: asyncssh.SSHKey | None,
    witness: _HostKeyWitness,
    connect_timeout: float,
) -> ExecutionError:
    where = target.endpoint
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
            f"{where} cannot be reached from this node: no SSH answer within {connect_timeout:g} s",
            code="network_unreachable",
        )
    if isinstance(exc, socket.gaierror):
        return ExecutionError(
            f"{where} cannot be reached from this node: the name {target.host!r} does not "
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
            redact(f"the SSH handshake with {where} failed: {exc.reason}", credential),
            code="protocol_error",
        )
    log.exception("unexpected failure connecting to %s", where)
    return ExecutionError(
        f"the SSH connection to {where} failed ({type(exc).__name__})", code="protocol_error"
    )
