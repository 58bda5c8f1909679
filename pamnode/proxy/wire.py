"""The peer protocol's proxy route, typed once for both sides.

`POST peer/proxy-grants` (ProxyGrantIn -> 201 ProxyGrantOut): the peer's HTTP proxy will open
one tunnel to exactly that host:port for the caller's site, once, before the grant expires.
The tunnel itself is `CONNECT host:port HTTP/1.1` to the proxy (TLS with the node's
certificate) with `Proxy-Authorization: Bearer <the same Service token>` and
`Pamnode-Proxy-Grant: <grant>`.
"""

from typing import Annotated

from pydantic import BaseModel, Field

from pamnode.assets.destinations import Host
from pamnode.core.bodies import Strict

GRANT_HEADER = "pamnode-proxy-grant"


class ProxyTargetIn(Strict):
    host: Host
    port: Annotated[int, Field(ge=1, le=65535)]


class ProxyGrantIn(Strict):
    session_id: Annotated[str, Field(min_length=1, max_length=36)]
    target: ProxyTargetIn


class ProxyGrantOut(BaseModel):
    grant: str
    expires_in_s: float
    # Where the proxy listens on the peer, and who will carry the tunnel.
    proxy: str
    node_signature: str
