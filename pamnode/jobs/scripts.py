"""Management > Scripts: the site's script library."""

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from pamnode.audit.actions import AuditAction
from pamnode.audit.service import record
from pamnode.core.errors import Conflict, NotFound
from pamnode.identity.principal import Principal
from pamnode.identity.roles import Permission
from pamnode.identity.tenants import refuse_base_tenant
from pamnode.jobs.models import Script
from pamnode.jobs.schemas import ScriptIn, ScriptPatch


def _require(principal: Principal, permission: Permission) -> None:
    refuse_base_tenant(principal.tenant, "hold scripts")
    principal.require(permission)


async def _taken(db: AsyncSession, site_id: str, name: str, except_id: str = "") -> bool:
    query = select(Script.id).where(
        Script.site_id == site_id, Script.name == name, Script.id != except_id
    )
    return bool(await db.scalar(query))


async def find_script(db: AsyncSession, principal: Principal, name_or_id: str) -> Script:
    script = await db.scalar(
        select(Script).where(
            Script.site_id == principal.site.id,
            (Script.name == name_or_id) | (Script.id == name_or_id),
        )
    )
    if script is None:
        raise NotFound(f"this site has no script '{name_or_id[:128]}'", code="script_not_found")
    return script


async def create_script(db: AsyncSession, principal: Principal, body: ScriptIn) -> Script:
    _require(principal, Permission.SCRIPTS_WRITE)
    if await _taken(db, principal.site.id, body.name):
        raise Conflict(f"this site already has a script named '{body.name}'", "script_exists")
    script = Script(site_id=principal.site.id, created_by=principal.user.login, **body.model_dump())
    db.add(script)
    await db.flush()
    record(db, principal.audit_scope, AuditAction.SCRIPT_CREATE, script.name, type=script.type)
    return script


async def list_scripts(db: AsyncSession, principal: Principal) -> list[Script]:
    _require(principal, Permission.SCRIPTS_READ)
    query = select(Script).where(Script.site_id == principal.site.id).order_by(Script.name)
    return list((await db.scalars(query)).all())


async def read_script(db: AsyncSession, principal: Principal, name_or_id: str) -> Script:
    _require(principal, Permission.SCRIPTS_READ)
    return await find_script(db, principal, name_or_id)


async def update_script(
    db: AsyncSession, principal: Principal, name_or_id: str, patch: ScriptPatch
) -> Script:
    _require(principal, Permission.SCRIPTS_WRITE)
    script = await find_script(db, principal, name_or_id)
    if patch.name is not None and await _taken(db, script.site_id, patch.name, script.id):
        raise Conflict(f"this site already has a script named '{patch.name}'", "script_exists")
    changes = patch.changes()
    for name, value in changes.items():
        setattr(script, name, value)
    await db.flush()
    record(
        db, principal.audit_scope, AuditAction.SCRIPT_UPDATE, script.name, fields=sorted(changes)
    )
    return script


async def delete_script(db: AsyncSession, principal: Principal, name_or_id: str) -> None:
    _require(principal, Permission.SCRIPTS_WRITE)
    script = await find_script(db, principal, name_or_id)
    await db.delete(script)
    record(db, principal.audit_scope, AuditAction.SCRIPT_DELETE, script.name)
