"""The tasks a job can run, what each needs of an asset, and how each is carried out."""

from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

from pamnode.core.errors import InvalidInput
from pamnode.jobs.executors import ssh, winrm
from pamnode.jobs.executors.base import Credential, Target, TaskResult


class Task(StrEnum):
    UNIX_STATUS_CHECK = "unix-status-check"
    WINDOWS_STATUS_CHECK = "windows-status-check"
    SCRIPT = "script"


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


@dataclass(frozen=True)
class JobSpec:
    """Everything a node needs to run a job, except the credential."""

    task: Task
    target: Target
    timeout_s: int
    script_type: str = ""
    script_body: str = ""

    def to_wire(self) -> dict[str, Any]:
        return {
            "task": self.task.value,
            "target": asdict(self.target),
            "timeout_s": self.timeout_s,
            "script": {"type": self.script_type, "body": self.script_body}
            if self.task is Task.SCRIPT
            else None,
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


async def perform(spec: JobSpec, credential: Credential) -> TaskResult:
    if spec.task is Task.UNIX_STATUS_CHECK:
        return await ssh.unix_status_check(spec.target, credential, spec.timeout_s)
    if spec.task is Task.WINDOWS_STATUS_CHECK:
        return await winrm.windows_status_check(spec.target, credential, spec.timeout_s)
    if spec.script_type == ScriptType.POWERSHELL:
        return await winrm.run_powershell(spec.target, credential, spec.script_body, spec.timeout_s)
    return await ssh.run_script(spec.target, credential, spec.script_body, spec.timeout_s)
