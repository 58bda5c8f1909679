"""REST route of the audit trail: read-only, for administrators and auditors."""

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import AwareDatetime

from pamnode.audit.service import list_events
from pamnode.http.deps import DB, Caller
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
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[AuditEventOut]:
    caller.require(Permission.AUDIT_READ)
    events = await list_events(
        db,
        caller.tenant.name,
        caller.site.name,
        action=action,
        actor=actor,
        outcome=outcome,
        since=since,
        limit=limit,
        offset=offset,
    )
    return [AuditEventOut.model_validate(event) for event in events]
