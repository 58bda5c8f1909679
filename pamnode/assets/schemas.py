"""Request and response bodies of the asset API; sizes bound what a request may carry."""

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field

from pamnode.core.bodies import Patch, Strict
from pamnode.identity.schemas import Login

AssetName = Annotated[str, Field(min_length=1, max_length=255)]
AssetId = Annotated[str, Field(min_length=1, max_length=36)]
Description = Annotated[str, Field(max_length=1024)]
Tags = Annotated[list[Annotated[str, Field(max_length=64)]], Field(max_length=64)]
# An RSA-8192 key in PEM is under 7 kB; anything far larger is not a key.
PRIVATE_KEY_MAX = 16384


class PropertiesIn(Strict):
    host: Annotated[str, Field(max_length=253)] | None = None
    # Range checked by the service, which says which ports are valid.
    port: int | None = None
    use_https: bool | None = None
    # Remote sessions: ssh, rdp or vnc (default: ssh on unix-host, rdp on windows-host), and
    # the port they connect to (default: the protocol's own; the SSH port of a unix-host).
    protocol: Annotated[str, Field(max_length=8)] | None = None
    session_port: int | None = None


class SecretsIn(Strict):
    """Write-only vault fields: a string sets the field, null clears it, absent keeps it."""

    username: Annotated[str, Field(max_length=256)] | None = None
    password: Annotated[str, Field(max_length=1024)] | None = None
    private_key: Annotated[str, Field(max_length=PRIVATE_KEY_MAX)] | None = None
    passphrase: Annotated[str, Field(max_length=1024)] | None = None


class AssetIn(Strict):
    name: AssetName
    type: Annotated[str, Field(max_length=32)]
    parent_id: AssetId | None = None
    properties: PropertiesIn = PropertiesIn()
    description: Description = ""
    tags: Tags = Field(default_factory=list)
    secrets: SecretsIn = SecretsIn()


class AssetPatch(Patch):
    nullable = frozenset({"parent_id"})

    name: AssetName | None = None
    # Accepted only to say clearly that a type cannot change.
    type: Annotated[str, Field(max_length=32)] | None = None
    # Moves the asset; null moves it to the top of the library.
    parent_id: AssetId | None = None
    properties: PropertiesIn | None = None
    description: Description | None = None
    tags: Tags | None = None
    secrets: SecretsIn | None = None


class PropertiesOut(BaseModel):
    host: str | None
    port: int | None
    use_https: bool
    protocol: str | None
    session_port: int | None


class AssetOut(BaseModel):
    id: str
    name: str
    type: str
    parent_id: str | None
    properties: PropertiesOut
    description: str
    tags: list[str]
    # Which vault fields are set; their values are never returned.
    secrets: dict[str, bool]
    # The caller's effective asset permission.
    role: str
    created_by: str
    created_at: datetime
    updated_at: datetime


class AssetTreeOut(BaseModel):
    id: str
    name: str
    type: str
    role: str
    children: list["AssetTreeOut"]


class DeletionOut(BaseModel):
    name: str
    deleted_assets: int
    deleted_containers: int


class AccessOut(BaseModel):
    asset_id: str
    role: str
    actions: list[str]


class PermissionIn(Strict):
    principal: Login
    role: Annotated[str, Field(max_length=32)]


class InheritedFrom(BaseModel):
    id: str
    name: str


class PermissionOut(BaseModel):
    id: str
    principal: str
    role: str
    # The container the grant comes from; null for a grant on the asset itself.
    inherited_from: InheritedFrom | None
    created_by: str
    created_at: datetime
