"""Test Connection of a directory: connect, TLS, bind, both search bases and, given a login,
that user's account with its resolved groups; the first step that fails is the answer."""

import asyncio
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from pamnode.audit.actions import AuditAction
from pamnode.audit.service import record
from pamnode.crypto.keyring import KeyRing
from pamnode.directories import ldap
from pamnode.directories.registry import endpoint, get_directory, schema
from pamnode.identity.principal import Principal
from pamnode.identity.roles import Permission


@dataclass(frozen=True)
class Report:
    ok: bool
    code: str | None
    reason: str | None
    probe: ldap.Probe | None


async def test_connection(
    db: AsyncSession, ring: KeyRing, principal: Principal, name: str, login: str | None
) -> Report:
    principal.require(Permission.USERS_READ)
    directory = await get_directory(db, principal.tenant, name)
    try:
        probe = await asyncio.to_thread(
            ldap.probe, endpoint(ring, directory), schema(directory), login
        )
    except ldap.DirectoryFailure as exc:
        report = Report(False, exc.code, exc.message, None)
    else:
        report = Report(True, None, None, probe)
    record(
        db,
        principal.audit_scope,
        AuditAction.DIRECTORY_TEST_CONNECTION,
        name,
        "success" if report.ok else "failure",
        code=report.code,
    )
    return report
