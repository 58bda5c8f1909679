"""The peer protocol's own route, typed once for both sides: `GET peer/info`.

Test Connection on the main reads the answer as a `PeerInfo`; the peer answers one. The job
routes are typed in `pamnode.jobs.wire`; refusals use the API's error body on every route.
"""

from datetime import datetime

from pydantic import BaseModel


class Capabilities(BaseModel):
    job_runner: bool
    gateway: bool
    http_proxy: bool


class PeerInfo(BaseModel):
    node: str
    tenant: str
    site: str
    version: str
    time: datetime
    capabilities: Capabilities
