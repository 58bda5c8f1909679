"""An executor that runs nothing: it answers from memory, for the in-process test tier.

It records every call (so a test can assert that a job ran once, with which credential) and
answers each with what `answer` returns: a `TaskResult`, or an `ExecutionError` to raise.
`delay_s` keeps a job running long enough to cancel it or watch it change state.
"""

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from pamnode.assets.credentials import Credential
from pamnode.core.errors import ExecutionError
from pamnode.executors.specs import JobSpec, TaskResult

Answer = Callable[[JobSpec, Credential], TaskResult | ExecutionError]


def succeed(spec: JobSpec, credential: Credential) -> TaskResult:
    return TaskResult(0, f"ran {spec.task.value} on {spec.target.endpoint}\n", {"fake": True})


@dataclass
class FakeExecutor:
    answer: Answer = succeed
    delay_s: float = 0.0
    calls: list[tuple[JobSpec, Credential]] = field(default_factory=list)

    async def run(self, spec: JobSpec, credential: Credential) -> TaskResult:
        self.calls.append((spec, credential))
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        outcome = self.answer(spec, credential)
        if isinstance(outcome, ExecutionError):
            raise outcome
        return outcome
