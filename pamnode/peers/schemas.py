"""Request and response bodies of the peer-node configuration API."""

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from pamnode.core.bodies import Patch, Strict

PeerName = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[^\s/][^/]*$")]
Url = Annotated[str, Field(min_length=1, max_length=2048)]
Token = Annotated[str, Field(min_length=1, max_length=8192)]
# server:port of a gateway or HTTP proxy.
GatewayAddress = Annotated[str, Field(max_length=300)]
Component = Literal["job-runner", "gateway", "http-proxy"]
# Who opens the connection: the main, or the peer (one link to the main; docs/peers.md).
ConnectionMode = Literal["main_dials", "peer_dials"]


class PeerNodeIn(Strict):
    name: PeerName
    job_runner: bool = True
    url: Url
    access_token: Token | None = None
    gateway: bool = False
    gateway_address: GatewayAddress = ""
    http_proxy: bool = False
    http_proxy_address: GatewayAddress = ""
    enabled: bool = True
    connection_mode: ConnectionMode = "main_dials"


class PeerNodePatch(Patch):
    name: PeerName | None = None
    job_runner: bool | None = None
    url: Url | None = None
    access_token: Token | None = None
    gateway: bool | None = None
    gateway_address: GatewayAddress | None = None
    http_proxy: bool | None = None
    http_proxy_address: GatewayAddress | None = None
    enabled: bool | None = None
    connection_mode: ConnectionMode | None = None


class PinOut(BaseModel):
    trusted: bool
    sha256: str
    not_after: datetime
    established_by: str
    established_at: datetime


class LinkOut(BaseModel):
    """A dialling Peer Node's link as this main sees it (the connection fields are None when
    the peer is not linked to this main now)."""

    enrolled: bool
    enrolled_at: datetime | None
    key_sha256: str | None
    connected: bool
    connected_since: datetime | None = None
    last_heartbeat: datetime | None = None
    round_trip_ms: float | None = None
    peer_version: str | None = None


class PeerNodeOut(BaseModel):
    id: str
    name: str
    job_runner: bool
    url: str
    has_access_token: bool
    access_token_expires_at: datetime | None
    gateway: bool
    gateway_address: str
    http_proxy: bool
    http_proxy_address: str
    enabled: bool
    connection_mode: ConnectionMode
    # Only for a peer that dials (connection mode peer_dials).
    link: LinkOut | None = None
    trust: dict[str, PinOut | None]
    warnings: list[str]
    created_at: datetime


class ComponentIn(Strict):
    component: Component = "job-runner"


class EstablishIn(ComponentIn):
    sha256: Annotated[str, Field(min_length=64, max_length=95)]


class CertificateOut(BaseModel):
    component: Component
    subject: str
    issuer: str
    sans: list[str]
    not_before: datetime
    not_after: datetime
    sha256: str
    trusted: bool
    pinned_sha256: str | None


class ComponentCheckOut(BaseModel):
    component: str
    address: str
    ok: bool
    code: str
    reason: str


class ConnectionOut(BaseModel):
    ok: bool
    code: str
    reason: str
    node: str | None = None
    tenant: str | None = None
    site: str | None = None
    version: str | None = None
    latency_ms: float | None = None
    clock_offset_ms: float | None = None
    capabilities: dict[str, bool] | None = None
    # Each component's own result: the job runner (API), and the gateway and HTTP proxy
    # where enabled.
    components: list[ComponentCheckOut] = []
