"""Management > Directories: a tenant's LDAP directories, with Active Directory's and
OpenLDAP's defaults ready to pick, the bind password sealed by the vault."""

from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from pamnode.audit.actions import AuditAction
from pamnode.audit.service import record
from pamnode.core.errors import Conflict, InvalidInput, NotFound
from pamnode.crypto.cipher import open_sealed, seal
from pamnode.crypto.keyring import KeyRing
from pamnode.crypto.sealed import SealedColumn
from pamnode.db.base import new_id
from pamnode.directories.ldap import Endpoint, Schema, parse_url
from pamnode.directories.models import Directory
from pamnode.directories.schemas import DirectoryIn, DirectoryPatch
from pamnode.identity.models import Tenant
from pamnode.identity.names import check_url_name
from pamnode.identity.principal import Principal
from pamnode.identity.roles import Permission

# The tenant's own users: a directory every tenant has, which is not a row.
LOCAL = "local"

PRESETS: dict[str, dict[str, Any]] = {
    "active-directory": {
        "user_filter": "(&(objectCategory=person)(objectClass=user))",
        "group_filter": "(objectClass=group)",
        "login_attributes": ["sAMAccountName", "userPrincipalName"],
        "first_name_attribute": "givenName",
        "last_name_attribute": "sn",
        "mail_attribute": "mail",
        "member_of_attribute": "memberOf",
        # ACCOUNTDISABLE, bit 2 of userAccountControl.
        "disabled_filter": "(userAccountControl:1.2.840.113556.1.4.803:=2)",
        "in_chain": True,
    },
    "openldap": {
        "user_filter": "(objectClass=inetOrgPerson)",
        "group_filter": "(objectClass=groupOfNames)",
        "login_attributes": ["uid"],
        "first_name_attribute": "givenName",
        "last_name_attribute": "sn",
        "mail_attribute": "mail",
        "member_of_attribute": "memberOf",
        # The ppolicy overlay's lock.
        "disabled_filter": "(pwdAccountLockedTime=*)",
        "in_chain": False,
    },
}


def password_context(directory_id: str) -> str:
    return f"directory:{directory_id}:bind_password"


def _of_tenant(query: Select[Any], tenant_id: str) -> Select[Any]:
    return query.where(Directory.tenant_id == tenant_id)


BIND_PASSWORDS = SealedColumn(
    kind="directory bind password",
    column=Directory.bind_password_sealed,
    key=(Directory.id,),
    context=password_context,
    of_tenant=_of_tenant,
)


def endpoint(ring: KeyRing, directory: Directory) -> Endpoint:
    password = open_sealed(
        ring, directory.tenant_id, directory.bind_password_sealed, password_context(directory.id)
    )
    return Endpoint(
        directory.url,
        starttls=not directory.url.startswith("ldaps:"),
        server_sha256=directory.server_sha256,
        ca_pem=directory.ca_pem,
        bind_dn=directory.bind_dn,
        bind_password=password.decode(),
    )


def schema(directory: Directory) -> Schema:
    return Schema(
        user_base=directory.user_base,
        user_filter=directory.user_filter,
        group_base=directory.group_base,
        group_filter=directory.group_filter,
        login_attributes=tuple(directory.login_attributes),
        first_name_attribute=directory.first_name_attribute,
        last_name_attribute=directory.last_name_attribute,
        mail_attribute=directory.mail_attribute,
        member_of_attribute=directory.member_of_attribute,
        disabled_filter=directory.disabled_filter,
        in_chain=directory.in_chain,
    )


def _check_trust(directory: Directory) -> None:
    parse_url(directory.url)
    if not directory.server_sha256 and not directory.ca_pem:
        raise InvalidInput(
            "the directory server's certificate must be trusted: give server_sha256 (its "
            "SHA-256, to pin it) or ca_pem (the CA that issued it)",
            code="directory_trust_missing",
        )
    if directory.server_sha256:
        directory.server_sha256 = directory.server_sha256.upper()


async def tenant_directories(db: AsyncSession, tenant: Tenant) -> list[Directory]:
    query = select(Directory).where(Directory.tenant_id == tenant.id).order_by(Directory.name)
    return list((await db.scalars(query)).all())


async def get_directory(db: AsyncSession, tenant: Tenant, name: str) -> Directory:
    directory = await db.scalar(
        select(Directory).where(Directory.tenant_id == tenant.id, Directory.name == name)
    )
    if directory is None:
        raise NotFound(
            f"tenant '{tenant.name}' has no directory '{name}'", code="directory_not_found"
        )
    return directory


async def create_directory(
    db: AsyncSession, ring: KeyRing, principal: Principal, body: DirectoryIn
) -> Directory:
    principal.require(Permission.USERS_WRITE)
    name = check_url_name("directory", body.name)
    if name == LOCAL or await db.scalar(
        select(Directory.id).where(
            Directory.tenant_id == principal.tenant.id, Directory.name == name
        )
    ):
        raise Conflict(
            f"tenant '{principal.tenant.name}' already has a directory '{name}'",
            code="directory_exists",
        )
    preset = PRESETS[body.preset]
    password = body.bind_password
    fields = body.model_dump(exclude={"name", "preset", "bind_password"})
    values = {
        key: fields[key] if fields.get(key) is not None else preset.get(key)
        for key in {*fields, *preset}
    }
    directory_id = new_id()
    directory = Directory(
        id=directory_id,
        tenant_id=principal.tenant.id,
        name=name,
        bind_password_sealed=seal(
            ring, principal.tenant.id, password.encode(), password_context(directory_id)
        ),
        **values,
    )
    _check_trust(directory)
    db.add(directory)
    await db.flush()
    record(db, principal.audit_scope, AuditAction.DIRECTORY_CREATE, name, url=directory.url)
    return directory


async def list_directories(db: AsyncSession, principal: Principal) -> list[Directory]:
    principal.require(Permission.USERS_READ)
    return await tenant_directories(db, principal.tenant)


async def read_directory(db: AsyncSession, principal: Principal, name: str) -> Directory:
    principal.require(Permission.USERS_READ)
    return await get_directory(db, principal.tenant, name)


async def update_directory(
    db: AsyncSession, ring: KeyRing, principal: Principal, name: str, patch: DirectoryPatch
) -> Directory:
    principal.require(Permission.USERS_WRITE)
    directory = await get_directory(db, principal.tenant, name)
    password = patch.bind_password
    changes = patch.changes("bind_password")
    if password is not None:
        directory.bind_password_sealed = seal(
            ring, principal.tenant.id, password.encode(), password_context(directory.id)
        )
    for field, value in changes.items():
        setattr(directory, field, value)
    _check_trust(directory)
    await db.flush()
    # Field names only: the bind password is never written to the trail.
    changed = sorted([*changes, *(["bind_password"] if password is not None else [])])
    record(db, principal.audit_scope, AuditAction.DIRECTORY_UPDATE, name, fields=changed)
    return directory


async def delete_directory(db: AsyncSession, principal: Principal, name: str) -> None:
    """Its users go with it (their grants and API tokens too)."""
    principal.require(Permission.USERS_WRITE)
    directory = await get_directory(db, principal.tenant, name)
    await db.delete(directory)
    record(db, principal.audit_scope, AuditAction.DIRECTORY_DELETE, name)
