"""The peer side of the peer protocol: what a main node may ask of this node."""

from fastapi import APIRouter
from pydantic import BaseModel

from pamnode.deps import Caller, NodeDep
from pamnode.peers import serving


class PeerInfoOut(BaseModel):
    node: str
    tenant: str
    site: str
    version: str
    time: str
    capabilities: dict[str, bool]


router = APIRouter(prefix="/peer", tags=["peer protocol"])


@router.get("/info")
async def peer_info(caller: Caller, node: NodeDep) -> PeerInfoOut:
    return PeerInfoOut(**serving.describe(node, caller))
