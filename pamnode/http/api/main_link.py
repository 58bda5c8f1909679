"""REST routes of a peer's enrolment at its main (Configuration > Main Link on the peer):
enrol, read the link, forget it."""

from fastapi import APIRouter, status

from pamnode.http.deps import DB, Caller, NodeDep
from pamnode.link import main_link
from pamnode.link.keys import key_fingerprint
from pamnode.link.models import MainLink
from pamnode.link.schemas import MainLinkIn, MainLinkOut
from pamnode.link.uplink import UplinkState

router = APIRouter(prefix="/main-link", tags=["main link"])


def _out(link: MainLink, state: UplinkState | None) -> MainLinkOut:
    return MainLinkOut(
        main_url=link.main_url,
        main_sha256=link.main_sha256,
        key_sha256=key_fingerprint(link.public_key),
        enrolled_by=link.enrolled_by,
        enrolled_at=link.enrolled_at,
        connected=bool(state and state.connected_since),
        connected_since=state.connected_since if state else None,
        round_trip_ms=state.round_trip_ms if state else None,
        last_error=state.last_error if state else "",
    )


@router.post("", status_code=status.HTTP_201_CREATED)
async def enrol(body: MainLinkIn, caller: Caller, db: DB, node: NodeDep) -> MainLinkOut:
    link = await main_link.enrol(
        db, node.keyring, caller, node.uplinks, body.main_url, body.code, body.fingerprint
    )
    return _out(link, None)


@router.get("")
async def read(caller: Caller, db: DB, node: NodeDep) -> MainLinkOut:
    found = await main_link.read(db, caller, node.uplinks)
    return _out(found.link, found.state)


@router.delete("", status_code=status.HTTP_204_NO_CONTENT)
async def forget(caller: Caller, db: DB, node: NodeDep) -> None:
    await main_link.forget(db, caller, node.uplinks)
