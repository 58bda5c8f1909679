"""SSH user certificate authorities of a tenant (docs/identity.md, "SSH user CAs"): an
administrator of users names a CA, and an OpenSSH user certificate it signed logs in to the
SSH proxy as its principal, a pamnode login (the user must exist and stand, as for a key).
A CA's key is public: stored plain, with its fingerprint."""

import base64

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from pamnode.audit.actions import AuditAction
from pamnode.audit.service import record
from pamnode.core.errors import Conflict, NotFound
from pamnode.identity.authority import require_user_admin
from pamnode.identity.models import SshUserCa, Tenant
from pamnode.identity.principal import Principal
from pamnode.identity.roles import Permission
from pamnode.identity.ssh_keys import fingerprint, parse_public_key

# A login that can be written in an authorized_keys `principals="…"` option as it is.
_UNQUOTABLE = frozenset('",\\\n\r')


async def add_ca(db: AsyncSession, principal: Principal, text: str, comment: str) -> SshUserCa:
    principal.require(Permission.USERS_WRITE)
    await require_user_admin(db, principal)
    algorithm, blob, line_comment = parse_public_key(text)
    print_ = fingerprint(blob)
    if await _find(db, principal.tenant, print_) is not None:
        raise Conflict(f"the CA {print_} is named already", code="ssh_key_exists")
    row = SshUserCa(
        tenant_id=principal.tenant.id,
        public_key=f"{algorithm} {base64.b64encode(blob).decode()}",
        algorithm=algorithm,
        fingerprint=print_,
        comment=(comment or line_comment)[:255],
        created_by=principal.user.login,
    )
    db.add(row)
    await db.flush()
    record(db, principal.audit_scope, AuditAction.SSH_CA_ADD, print_)
    return row


async def list_cas(db: AsyncSession, principal: Principal) -> list[SshUserCa]:
    principal.require(Permission.USERS_READ)
    return list(await _of(db, principal.tenant))


async def remove_ca(db: AsyncSession, principal: Principal, ref: str) -> None:
    """Remove a CA by its id or fingerprint: its certificates are refused from then on."""
    principal.require(Permission.USERS_WRITE)
    await require_user_admin(db, principal)
    row = await db.scalar(
        select(SshUserCa).where(
            SshUserCa.tenant_id == principal.tenant.id,
            (SshUserCa.id == ref) | (SshUserCa.fingerprint == ref),
        )
    )
    if row is None:
        raise NotFound(f"no SSH user CA '{ref}'", code="ssh_key_not_found")
    await db.delete(row)
    record(db, principal.audit_scope, AuditAction.SSH_CA_REMOVE, row.fingerprint)


async def authorized_lines(db: AsyncSession, tenant: Tenant, login: str) -> list[str]:
    """authorized_keys lines trusting the tenant's CAs for certificates whose principals
    include `login` (none for a login the option cannot hold)."""
    if _UNQUOTABLE & set(login):
        return []
    return [f'cert-authority,principals="{login}" {ca.public_key}' for ca in await _of(db, tenant)]


async def _of(db: AsyncSession, tenant: Tenant) -> list[SshUserCa]:
    rows = await db.scalars(
        select(SshUserCa).where(SshUserCa.tenant_id == tenant.id).order_by(SshUserCa.created_at)
    )
    return list(rows)


async def _find(db: AsyncSession, tenant: Tenant, print_: str) -> SshUserCa | None:
    return await db.scalar(
        select(SshUserCa).where(SshUserCa.tenant_id == tenant.id, SshUserCa.fingerprint == print_)
    )
