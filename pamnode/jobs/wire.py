"""The peer protocol's job routes, typed once for both sides.

The main builds a `PeerJobIn` from its spec and the vault's credential and reads every answer
as a `PeerJobStatus`; the peer validates the same `PeerJobIn` and answers a `PeerJobStatus`
made from its job row. The fields of a job's outcome are listed here and nowhere else.

Routes for volume, which the main uses (under a site's `/api/`):
- `POST peer/jobs/batch` (PeerJobBatchIn -> 202 PeerJobBatchOut): many jobs in one request,
  each still idempotent by its id (an id the peer knows is answered, never run again);
- `GET peer/jobs/feed?after=CURSOR&wait=S&limit=N` (-> PeerJobFeed): every job of this caller
  that changed after the cursor, in the order of the changes, each with its state now; with
  nothing new it waits up to S s. The cursor is `feed_id:number`, opaque to the main, which
  stores the last one it has applied: after a lost connection or a restart of either side it
  asks again from there and misses nothing. `after=now` answers the current cursor only;
  a cursor of another feed (the peer was rebuilt) is read from the start;
- `POST peer/jobs/cancel` (PeerJobCancelIn -> PeerJobBatchOut): cancel many.

Routes for single jobs (tests, scripts): `POST peer/jobs` (PeerJobIn -> 202 PeerJobStatus),
`GET peer/jobs/{id}?wait=S&seen=STATE` (long-poll: answers at once when the state differs from
`seen`), `DELETE peer/jobs/{id}` (cancel). Refusals use the API's error body, read by
`pamnode.peers.client.refusal`.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from pamnode.assets.credentials import Credential, CredentialIn
from pamnode.assets.destinations import Host
from pamnode.core.bodies import Strict
from pamnode.executors.specs import Facts, JobSpec, ScriptType, Target, Task, TaskResult
from pamnode.jobs.states import FINISHED, JobColumns, JobState


class TargetIn(Strict):
    host: Host
    port: Annotated[int, Field(ge=1, le=65535)]
    protocol: Annotated[str, Field(pattern="^(ssh|winrm|winrm-https)$")]
    known_host_key: Annotated[str, Field(max_length=8192)] | None = None


class ScriptIn(Strict):
    type: ScriptType
    body: Annotated[str, Field(max_length=1_000_000)]


class PeerJobIn(Strict):
    """What a main sends to run one job on a peer; `id` is the main's job id."""

    id: Annotated[str, Field(min_length=1, max_length=36)]
    task: Task
    target: TargetIn
    credential: CredentialIn
    timeout_s: Annotated[int, Field(ge=1, le=86400)]
    script: ScriptIn | None = None

    @model_validator(mode="after")
    def _script_for_script_tasks(self) -> PeerJobIn:
        if (self.task is Task.SCRIPT) != (self.script is not None):
            raise ValueError("a script job carries its script, and only a script job does")
        return self

    @classmethod
    def of(cls, job_id: str, spec: JobSpec, credential: Credential) -> PeerJobIn:
        script = None
        if spec.task is Task.SCRIPT:
            script = ScriptIn(type=ScriptType(spec.script_type), body=spec.script_body)
        return cls(
            id=job_id,
            task=spec.task,
            # Named field by field: the address this node resolved is not the peer's business.
            target=TargetIn(
                host=spec.target.host,
                port=spec.target.port,
                protocol=spec.target.protocol,
                known_host_key=spec.target.known_host_key,
            ),
            credential=CredentialIn(**asdict(credential)),
            timeout_s=spec.timeout_s,
            script=script,
        )

    def spec(self) -> JobSpec:
        return JobSpec(
            task=self.task,
            target=Target(**self.target.model_dump()),
            timeout_s=self.timeout_s,
            script_type=self.script.type if self.script else "",
            script_body=self.script.body if self.script else "",
        )

    def credential_given(self) -> Credential:
        return Credential(**self.credential.model_dump())


class PeerJobStatus(BaseModel):
    """What a peer answers about a job: its state and, once finished, its outcome."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    state: JobState
    exit_status: int | None
    output: str
    facts: Facts
    error: str
    error_code: str
    started_at: datetime | None
    finished_at: datetime | None
    node_signature: str | None
    host_key: str | None

    @property
    def finished(self) -> bool:
        return self.state in FINISHED

    def outcome(self) -> JobColumns:
        """The main's job columns this answer sets: every field but the id."""
        return {
            "state": self.state,
            "exit_status": self.exit_status,
            "output": self.output,
            "facts": self.facts,
            "error": self.error,
            "error_code": self.error_code,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "node_signature": self.node_signature,
            "host_key": self.host_key,
        }

    def result(self) -> TaskResult | None:
        """The task's result when it ran to an exit status on the peer."""
        if self.state in (JobState.SUCCEEDED, JobState.FAILED) and self.exit_status is not None:
            return TaskResult(self.exit_status, self.output, self.facts, self.host_key)
        return None


# What one request may carry: a main sends at most its job concurrency at once.
BATCH_MAX = 500
FEED_MAX = 500
NOW = "now"


def _distinct(ids: list[str]) -> list[str]:
    if len(set(ids)) != len(ids):
        raise ValueError("a job id appears twice in one request")
    return ids


class PeerJobBatchIn(Strict):
    jobs: Annotated[list[PeerJobIn], Field(min_length=1, max_length=BATCH_MAX)]

    @model_validator(mode="after")
    def _ids_distinct(self) -> PeerJobBatchIn:
        _distinct([job.id for job in self.jobs])
        return self


class PeerJobCancelIn(Strict):
    ids: Annotated[
        list[Annotated[str, Field(min_length=1, max_length=36)]],
        Field(min_length=1, max_length=BATCH_MAX),
    ]

    @model_validator(mode="after")
    def _ids_distinct(self) -> PeerJobCancelIn:
        _distinct(self.ids)
        return self


class PeerJobBatchOut(BaseModel):
    """The jobs of a batch or a cancel, as they are now, in the order they were asked for."""

    jobs: list[PeerJobStatus]


class PeerJobFeed(BaseModel):
    """A page of the feed: the changed jobs, and the cursor to ask from next."""

    cursor: Annotated[str, Field(max_length=80)]
    jobs: list[PeerJobStatus]
    # More changes wait past this page: ask again at once.
    more: bool
