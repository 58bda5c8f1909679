"""Bodies of the peer protocol's job routes: what a main sends and what a peer answers."""

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, Field, model_validator

from pamnode.core.bodies import Strict
from pamnode.jobs.specs import ScriptType, Task

Secret = Annotated[str, Field(max_length=65536)]


class TargetIn(Strict):
    host: Annotated[str, Field(min_length=1, max_length=253)]
    port: Annotated[int, Field(ge=1, le=65535)]
    protocol: Annotated[str, Field(pattern="^(ssh|winrm|winrm-https)$")]
    known_host_key: Annotated[str, Field(max_length=8192)] | None = None


class CredentialIn(Strict):
    username: Annotated[str, Field(max_length=256)]
    password: Secret | None = None
    private_key: Secret | None = None
    passphrase: Secret | None = None

    def __repr__(self) -> str:
        return f"CredentialIn(username={self.username!r}, secrets hidden)"


class ScriptIn(Strict):
    type: ScriptType
    body: Annotated[str, Field(max_length=1_000_000)]


class PeerJobIn(Strict):
    id: Annotated[str, Field(min_length=1, max_length=36)]
    task: Task
    target: TargetIn
    credential: CredentialIn
    timeout_s: Annotated[int, Field(ge=1, le=86400)]
    script: ScriptIn | None = None

    @model_validator(mode="after")
    def _script_for_script_tasks(self) -> "PeerJobIn":
        if (self.task is Task.SCRIPT) != (self.script is not None):
            raise ValueError("a script job carries its script, and only a script job does")
        return self


class PeerJobOut(BaseModel):
    id: str
    state: str
    exit_status: int | None
    output: str
    facts: dict[str, Any]
    error: str
    error_code: str
    started_at: datetime | None
    finished_at: datetime | None
    node_signature: str | None
    host_key: str | None
