"""Request and response bodies of Execute, Reports > Jobs and Management > Scripts."""

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from pamnode.core.bodies import Patch, Strict
from pamnode.executors.specs import ScriptType, Task

MAX_TIMEOUT_S = 24 * 3600


class ExecuteIn(Strict):
    task: Task
    # Name or id of a script of the site's library, for the task "script".
    script: Annotated[str, Field(min_length=1, max_length=128)] | None = None
    timeout_s: Annotated[int, Field(ge=1, le=MAX_TIMEOUT_S)] = 300


class AttemptOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    number: int
    peer_node: str | None
    started_at: datetime
    finished_at: datetime | None
    outcome: str
    error: str


class JobOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    state: str
    task: str
    script_name: str
    asset_id: str | None
    asset_name: str
    batch_id: str | None
    origin: str
    requested_by: str
    target: dict[str, Any]
    timeout_s: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    node_signature: str | None
    peer_node: str | None
    # The main node that holds (or held) the job: the one that took it, or took it over.
    claimed_by: str | None
    exit_status: int | None
    error: str
    error_code: str


class JobDetailsOut(JobOut):
    output: str
    # When the site's retention removed the output; None: kept.
    output_removed_at: datetime | None
    facts: dict[str, Any]
    host_key: str | None
    attempts: list[AttemptOut]


class ExecutionOut(BaseModel):
    batch_id: str | None
    jobs: list[JobOut]
    skipped: list[str]


class JobPageOut(BaseModel):
    # How many jobs match; with `total_capped`, more do: counting stops 10,000 past `offset`
    # (a batch's jobs are always counted).
    total: int
    total_capped: bool = False
    jobs: list[JobOut]


ScriptName = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^\S(.*\S)?$")]
ScriptBody = Annotated[str, Field(min_length=1, max_length=1_000_000)]


class ScriptIn(Strict):
    name: ScriptName
    description: Annotated[str, Field(max_length=1024)] = ""
    type: ScriptType
    body: ScriptBody


class ScriptPatch(Patch):
    name: ScriptName | None = None
    description: Annotated[str, Field(max_length=1024)] | None = None
    type: ScriptType | None = None
    body: ScriptBody | None = None


class ScriptOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    name: str
    description: str
    type: str
    body: str
    created_by: str
    created_at: datetime
    updated_at: datetime
