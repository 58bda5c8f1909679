"""SSH executor: shell scripts and the Unix status check, over asyncssh.

Host keys are pinned (`pamnode.assets.ssh`): the key seen on first contact is returned with
the result so the dispatcher can store it.
"""

from __future__ import annotations

import asyncio
import shlex

from pamnode.assets.credentials import Credential
from pamnode.assets.ssh import SshHost, connect_ssh
from pamnode.core.errors import ExecutionError
from pamnode.core.ssh_library import asyncssh
from pamnode.executors.specs import Facts, JobSpec, Target, Task, TaskResult

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


def parse_unix_facts(output: str) -> Facts:
    """Facts from STATUS_SCRIPT's output; a section that is missing or garbled is left out."""
    sections = _split_sections(output)
    facts: Facts = {}
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


def _os_release_facts(lines: list[str]) -> Facts:
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
    facts: Facts = {}
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


def _uptime_facts(line: str) -> Facts:
    try:
        return {"uptime_s": float(line.split()[0])}
    except (IndexError, ValueError):
        return {}


def _load_facts(line: str) -> Facts:
    try:
        one, five, fifteen = (float(v) for v in line.split()[:3])
    except ValueError:
        return {}
    return {"load_1m": one, "load_5m": five, "load_15m": fifteen}


def _df_facts(lines: list[str]) -> Facts:
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


async def _execute(
    target: Target, credential: Credential, script: str, timeout_s: float
) -> TaskResult:
    if target.protocol != "ssh":
        raise ExecutionError(
            f"the SSH executor cannot reach a {target.protocol!r} target", code="protocol_error"
        )
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    conn, presented = await connect_ssh(
        SshHost(target.host, target.port, target.known_host_key, target.address),
        credential,
        min(CONNECT_TIMEOUT_S, timeout_s),
    )
    async with conn:
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
                credential.redact(f"the SSH session with {target.endpoint} broke off: {exc}"),
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
        output=credential.redact(output),
        facts={},
        host_key=presented,
    )
