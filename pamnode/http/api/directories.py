"""REST routes of Management > Directories: translation between HTTP and the directories
area. The bind password goes in only; no answer carries it."""

from fastapi import APIRouter, status

from pamnode.assets.models import Asset, AssetPermission
from pamnode.directories import connection, members, registry
from pamnode.directories.models import Directory, DirectoryGroup
from pamnode.directories.schemas import (
    AccountOut,
    ConnectionIn,
    ConnectionOut,
    DirectoryIn,
    DirectoryOut,
    DirectoryPatch,
    DirectoryUserIn,
    GroupAssetGrantIn,
    GroupAssetGrantOut,
    GroupGrantIn,
    GroupGrantOut,
)
from pamnode.http.deps import DB, Caller, NodeDep
from pamnode.identity.models import SiteRoleGrant
from pamnode.identity.schemas import UserOut

router = APIRouter(prefix="/directories", tags=["directories"])

# The tenant's own users: listed first, and not a row.
LOCAL_OUT = DirectoryOut(id=registry.LOCAL, name=registry.LOCAL, kind="local")


def _out(directory: Directory) -> DirectoryOut:
    out = DirectoryOut.model_validate(directory)
    out.has_ca = bool(directory.ca_pem)
    return out


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_directory(
    body: DirectoryIn, caller: Caller, db: DB, node: NodeDep
) -> DirectoryOut:
    directory = await registry.create_directory(db, node.keyring, caller, body)
    return _out(directory)


@router.get("")
async def list_directories(caller: Caller, db: DB) -> list[DirectoryOut]:
    listed = await registry.list_directories(db, caller)
    return [LOCAL_OUT, *(_out(directory) for directory in listed)]


@router.get("/{name}")
async def read_directory(name: str, caller: Caller, db: DB) -> DirectoryOut:
    return _out(await registry.read_directory(db, caller, name))


@router.patch("/{name}")
async def update_directory(
    name: str, body: DirectoryPatch, caller: Caller, db: DB, node: NodeDep
) -> DirectoryOut:
    return _out(await registry.update_directory(db, node.keyring, caller, name, body))


@router.delete("/{name}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_directory(name: str, caller: Caller, db: DB) -> None:
    await registry.delete_directory(db, caller, name)


@router.post("/{name}/test-connection")
async def test_connection(
    name: str, body: ConnectionIn, caller: Caller, db: DB, node: NodeDep
) -> ConnectionOut:
    report = await connection.test_connection(db, node.keyring, caller, name, body.user)
    probe = report.probe
    account = probe.account if probe else None
    return ConnectionOut(
        ok=report.ok,
        code=report.code,
        reason=report.reason,
        sha256=probe.sha256 if probe else None,
        users_seen=probe.users_seen if probe else None,
        groups_seen=probe.groups_seen if probe else None,
        user=AccountOut(
            dn=account.dn,
            login=account.login,
            first_name=account.first_name,
            last_name=account.last_name,
            mail=account.mail,
            disabled=account.disabled,
            groups=sorted(account.groups),
        )
        if account
        else None,
    )


@router.post("/{name}/users", status_code=status.HTTP_201_CREATED)
async def add_user(
    name: str, body: DirectoryUserIn, caller: Caller, db: DB, node: NodeDep
) -> UserOut:
    user = await members.add_user(db, node.keyring, caller, name, body.login)
    return UserOut.model_validate(user)


def _grant_out(grant: SiteRoleGrant, group: DirectoryGroup, *_: object) -> GroupGrantOut:
    return GroupGrantOut(
        id=grant.id, group=group.name, dn=group.dn, role=grant.role, created_at=grant.created_at
    )


@router.post("/{name}/group-grants", status_code=status.HTTP_201_CREATED)
async def grant_group_role(
    name: str, body: GroupGrantIn, caller: Caller, db: DB, node: NodeDep
) -> GroupGrantOut:
    grant, group = await members.grant_group_role(
        db, node.keyring, caller, name, body.group, body.role
    )
    return _grant_out(grant, group)


@router.get("/{name}/group-grants")
async def list_group_grants(name: str, caller: Caller, db: DB) -> list[GroupGrantOut]:
    return [_grant_out(*row) for row in await members.list_group_grants(db, caller, name)]


def _asset_grant_out(
    row: AssetPermission, group: DirectoryGroup, asset: Asset
) -> GroupAssetGrantOut:
    return GroupAssetGrantOut(
        id=row.id,
        group=group.name,
        dn=group.dn,
        asset_id=asset.id,
        asset=asset.name,
        role=row.role,
        created_at=row.created_at,
    )


@router.post("/{name}/asset-grants", status_code=status.HTTP_201_CREATED)
async def grant_group_asset_role(
    name: str, body: GroupAssetGrantIn, caller: Caller, db: DB, node: NodeDep
) -> GroupAssetGrantOut:
    """Revoked with DELETE assets/{asset}/permissions/{id}, as a user's grant."""
    granted = await members.grant_group_asset_role(
        db, node.keyring, caller, name, body.group, body.asset, body.role
    )
    return _asset_grant_out(*granted)


@router.get("/{name}/asset-grants")
async def list_group_asset_grants(name: str, caller: Caller, db: DB) -> list[GroupAssetGrantOut]:
    return [
        _asset_grant_out(*row) for row in await members.list_group_asset_grants(db, caller, name)
    ]
