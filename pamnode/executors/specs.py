"""What a job runs: its task, its target, its credential and its result.

`JobSpec` is everything a node needs to run a job except the credential. It is written to a
job row (`columns`), read back from one (`from_job`) and sent to a peer through
`pamnode.jobs.wire`; these are the only conversions, so a new field is added here once. It
lives beside the executors, which run it, below the job path, which stores and routes it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol, TypedDict

from pamnode.core.errors import InvalidInput
from pamnode.core.hostports import authority


class Task(StrEnum):
    UNIX_STATUS_CHECK = "unix-status-check"
    WINDOWS_STATUS_CHECK = "windows-status-check"
    SCRIPT = "script"


# Tasks that only read the host: a job of one, lost with the main node that ran it, is queued
# again rather than failed (`jobs/recovery.py`); a script may change the host, so it is not.
IDEMPOTENT = frozenset({Task.UNIX_STATUS_CHECK, Task.WINDOWS_STATUS_CHECK})


class ScriptType(StrEnum):
    SHELL = "shell"
    POWERSHELL = "powershell"


# Which asset type each task (or script type) runs on.
_HOST_TYPE = {
    Task.UNIX_STATUS_CHECK: "unix-host",
    Task.WINDOWS_STATUS_CHECK: "windows-host",
    ScriptType.SHELL: "unix-host",
    ScriptType.POWERSHELL: "windows-host",
}


def check_runs_on(task: Task, script_type: str, asset_type: str, asset_name: str) -> None:
    kind = ScriptType(script_type) if task is Task.SCRIPT else task
    needed = _HOST_TYPE[kind]
    if asset_type != needed:
        raise InvalidInput(
            f"'{asset_name}' is a {asset_type}; a {kind.value} runs on a {needed}",
            code="task_not_for_asset",
        )


def protocol_for(asset_type: str, use_https: bool) -> str:
    if asset_type == "windows-host":
        return "winrm-https" if use_https else "winrm"
    return "ssh"


@dataclass(frozen=True)
class Target:
    host: str
    port: int
    protocol: str  # "ssh" | "winrm" | "winrm-https"
    # OpenSSH public key line ("ssh-ed25519 AAAA..."), pinned after first contact.
    known_host_key: str | None = None
    # The address the node's destination policy resolved `host` to, set just before the task
    # runs: executors connect there, never to the name again (never stored or sent).
    address: str | None = None

    @property
    def dial(self) -> str:
        return self.address or self.host

    @property
    def endpoint(self) -> str:
        return authority(self.host, self.port)


@dataclass
class TaskResult:
    exit_status: int | None
    output: str  # raw combined output, secrets never included
    facts: Facts = field(default_factory=dict)
    host_key: str | None = None  # the key the SSH server presented (to pin on first contact)


# What a status check learns of a host (hostname, OS, uptime, load, disk), by name.
Facts = dict[str, str | int | float]


class StoredTarget(TypedDict):
    """A target as a job row holds it: never its credential, nor its pinned key."""

    host: str
    port: int
    protocol: str


class SpecRow(TypedDict):
    """The job row's columns that hold a spec."""

    task: str
    target: StoredTarget
    timeout_s: int
    script_type: str
    script_body: str


class SpecColumns(Protocol):
    """The columns a spec is stored in: a job row (`pamnode.jobs.models.Job`) has them."""

    task: str
    target: dict[str, Any]
    timeout_s: int
    script_type: str
    script_body: str


@dataclass(frozen=True)
class JobSpec:
    """Everything a node needs to run a job, except the credential."""

    task: Task
    target: Target
    timeout_s: int
    script_type: str = ""
    script_body: str = ""

    @classmethod
    def from_job(cls, job: SpecColumns, known_host_key: str | None = None) -> JobSpec:
        return cls(
            task=Task(job.task),
            target=Target(
                host=job.target["host"],
                port=job.target["port"],
                protocol=job.target["protocol"],
                known_host_key=known_host_key,
            ),
            timeout_s=job.timeout_s,
            script_type=job.script_type,
            script_body=job.script_body,
        )

    def columns(self) -> SpecRow:
        """The job row's columns that hold this spec (the pinned host key is kept apart)."""
        return {
            "task": self.task.value,
            "target": {
                "host": self.target.host,
                "port": self.target.port,
                "protocol": self.target.protocol,
            },
            "timeout_s": self.timeout_s,
            "script_type": self.script_type,
            "script_body": self.script_body,
        }
