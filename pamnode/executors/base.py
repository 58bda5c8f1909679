"""The executor protocol: how a node carries out a job's task on its host.

An executor takes a `JobSpec` and a `Credential` and gives back a `TaskResult`, or raises
`ExecutionError` when the task could not run at all (the host is unreachable, the credential
is refused, ...). A script that runs and exits non-zero is a result, not an error.

Implementations, side by side:

- `ssh.SshExecutor`: Unix hosts over asyncssh (status check, shell scripts).
- `winrm.WinRmExecutor`: Windows hosts over WinRM (status check, PowerShell); tested only
  against a WS-Management double (docs/winrm.md).
- `fake.FakeExecutor`: answers from memory, for the in-process test tier.

A node holds one executor per target protocol (`Executors`); tests swap the whole map.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from pamnode.assets.credentials import Credential
from pamnode.executors.specs import JobSpec, TaskResult


class Executor(Protocol):
    async def run(self, spec: JobSpec, credential: Credential) -> TaskResult:
        """Carry out the spec's task on its target; raise ExecutionError if it cannot run."""
        ...


# Target protocol ("ssh", "winrm", "winrm-https") -> the executor that speaks it.
Executors = Mapping[str, Executor]
