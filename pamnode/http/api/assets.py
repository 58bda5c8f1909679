"""REST routes of the asset library: translation between HTTP and the asset services."""

from typing import Annotated

from fastapi import APIRouter, Query, status
from sqlalchemy.ext.asyncio import AsyncSession

from pamnode.app.node import Node
from pamnode.assets import grants, library
from pamnode.assets.permissions import Action, allowed_actions, require_asset
from pamnode.assets.schemas import (
    AccessOut,
    AssetIn,
    AssetOut,
    AssetPatch,
    AssetTreeOut,
    DeletionOut,
    InheritedFrom,
    PermissionIn,
    PermissionOut,
    PropertiesOut,
)
from pamnode.assets.secrets import SecretField
from pamnode.http.deps import DB, Caller, NodeDep
from pamnode.identity.principal import Principal

router = APIRouter(prefix="/assets", tags=["assets"])


def _out(view: library.AssetView) -> AssetOut:
    asset = view.asset
    return AssetOut(
        id=asset.id,
        name=asset.name,
        type=asset.type,
        parent_id=asset.parent_id,
        properties=PropertiesOut(
            host=asset.host,
            port=asset.port,
            use_https=asset.use_https,
            protocol=asset.session_protocol,
            session_port=asset.session_port,
        ),
        description=asset.description,
        tags=asset.tags,
        secrets={field.value: field.value in view.secrets for field in SecretField},
        role=view.role.value,
        created_by=asset.created_by,
        created_at=asset.created_at,
        updated_at=asset.updated_at,
    )


def _tree_out(node: library.TreeNode) -> AssetTreeOut:
    asset = node.view.asset
    return AssetTreeOut(
        id=asset.id,
        name=asset.name,
        type=asset.type,
        role=node.view.role.value,
        children=[_tree_out(child) for child in node.children],
    )


def _permission_out(view: grants.GrantView) -> PermissionOut:
    source = view.inherited_from
    return PermissionOut(
        id=view.grant.id,
        principal=view.user.login,
        role=view.grant.role,
        inherited_from=InheritedFrom(id=source.id, name=source.name) if source else None,
        created_by=view.grant.created_by,
        created_at=view.grant.created_at,
    )


async def create_from(
    body: AssetIn, caller: Principal, db: AsyncSession, node: Node
) -> library.AssetView:
    """The one translation of an AssetIn body into the service call (REST and console)."""
    return await library.create_asset(
        db,
        node.keyring,
        caller,
        name=body.name,
        type=body.type,
        parent_id=body.parent_id,
        properties=body.properties,
        description=body.description,
        tags=body.tags,
        secret_values=body.secrets.model_dump(exclude_unset=True),
    )


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_asset(body: AssetIn, caller: Caller, db: DB, node: NodeDep) -> AssetOut:
    return _out(await create_from(body, caller, db, node))


@router.get("")
async def list_assets(
    caller: Caller,
    db: DB,
    parent_id: Annotated[str | None, Query(max_length=36)] = None,
    type: Annotated[str | None, Query(max_length=32)] = None,
    tag: Annotated[str | None, Query(max_length=64)] = None,
) -> list[AssetOut]:
    views = await library.list_assets(db, caller, parent_id=parent_id, type=type, tag=tag)
    return [_out(view) for view in views]


@router.get("/tree")
async def asset_tree(caller: Caller, db: DB) -> list[AssetTreeOut]:
    return [_tree_out(root) for root in await library.asset_tree(db, caller)]


@router.get("/{asset_id}")
async def read_asset(asset_id: str, caller: Caller, db: DB) -> AssetOut:
    return _out(await library.read_asset(db, caller, asset_id))


@router.patch("/{asset_id}")
async def update_asset(
    asset_id: str, body: AssetPatch, caller: Caller, db: DB, node: NodeDep
) -> AssetOut:
    return _out(await library.update_asset(db, node.keyring, caller, asset_id, body))


@router.delete("/{asset_id}")
async def delete_asset(
    asset_id: str, caller: Caller, db: DB, recursive: bool = False
) -> DeletionOut:
    deletion = await library.delete_asset(db, caller, asset_id, recursive)
    return DeletionOut(
        name=deletion.name,
        deleted_assets=deletion.assets,
        deleted_containers=deletion.containers,
    )


@router.get("/{asset_id}/access")
async def access(asset_id: str, caller: Caller, db: DB) -> AccessOut:
    """The caller's effective permission on the asset and the actions it allows."""
    asset, role = await require_asset(db, caller, asset_id, Action.VIEW)
    actions = [action.value for action in allowed_actions(role)]
    return AccessOut(asset_id=asset.id, role=role.value, actions=actions)


@router.get("/{asset_id}/permissions")
async def list_permissions(asset_id: str, caller: Caller, db: DB) -> list[PermissionOut]:
    return [_permission_out(view) for view in await grants.list_grants(db, caller, asset_id)]


@router.post("/{asset_id}/permissions", status_code=status.HTTP_201_CREATED)
async def grant_permission(
    asset_id: str, body: PermissionIn, caller: Caller, db: DB
) -> PermissionOut:
    return _permission_out(await grants.grant(db, caller, asset_id, body.principal, body.role))


@router.delete("/{asset_id}/permissions/{grant_id}", status_code=status.HTTP_204_NO_CONTENT)
async def revoke_permission(asset_id: str, grant_id: str, caller: Caller, db: DB) -> None:
    await grants.revoke(db, caller, asset_id, grant_id)
