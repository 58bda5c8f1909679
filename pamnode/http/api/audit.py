"""REST route of the audit trail: read-only, for administrators and auditors."""

from fastapi import APIRouter
from pydantic import AwareDatetime

from pamnode.audit.service import EventFilter, list_events
from pamnode.http.deps import DB, Caller
from pamnode.http.paging import Limit, Offset
from pamnode.identity.roles import Permission
from pamnode.identity.schemas import AuditEventOut

router = APIRouter()


@router.get("/audit-events", tags=["audit"])
async def audit_events(
    caller: Caller,
    db: DB,
    action: str | None = None,
    actor: str | None = None,
    outcome: str | None = None,
    since: AwareDatetime | None = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> list[AuditEventOut]:
    caller.require(Permission.AUDIT_READ)
    events = await list_events(
        db,
        caller.tenant.name,
        caller.site.name,
        EventFilter(action, actor, outcome, since),
        limit=limit,
        offset=offset,
    )
    return [AuditEventOut.model_validate(event) for event in events]
