"""The asset library of a site: create, list, read, change, move and delete containers and hosts."""

import re
from dataclasses import dataclass, field
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from pamnode.assets import secrets
from pamnode.assets.destinations import CONTROL, check_host
from pamnode.assets.models import Asset, AssetType
from pamnode.assets.permissions import (
    Action,
    AssetRole,
    check_site,
    require_asset,
    roles_over,
)
from pamnode.assets.schemas import AssetPatch, PropertiesIn
from pamnode.assets.ssh import forget_host_key
from pamnode.assets.tree import MAX_DEPTH, descendants, lineage
from pamnode.audit.actions import AuditAction
from pamnode.audit.service import record
from pamnode.core.errors import Conflict, InvalidInput
from pamnode.crypto.keyring import KeyRing
from pamnode.db.base import new_id
from pamnode.identity.principal import Principal
from pamnode.identity.roles import Permission

TAG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:=-]{0,63}$")
MAX_TAGS = 32


@dataclass(frozen=True)
class AssetView:
    """An asset as its caller sees it: with their role and which vault fields are set."""

    asset: Asset
    role: AssetRole
    secrets: frozenset[str]


@dataclass
class TreeNode:
    view: AssetView
    children: list["TreeNode"] = field(default_factory=list)


@dataclass(frozen=True)
class Deletion:
    name: str
    assets: int
    containers: int


def parse_type(value: str) -> AssetType:
    try:
        return AssetType(value)
    except ValueError:
        known = ", ".join(kind.value for kind in AssetType)
        raise InvalidInput(
            f"'{value[:80]}' is not an asset type; the types are: {known}",
            code="unknown_asset_type",
        ) from None


def default_port(kind: AssetType, use_https: bool) -> int:
    if kind is AssetType.WINDOWS_HOST:
        return 5986 if use_https else 5985
    return 22


class SessionProtocol(StrEnum):
    SSH = "ssh"
    RDP = "rdp"
    VNC = "vnc"


_SESSION_PORTS = {SessionProtocol.SSH: 22, SessionProtocol.RDP: 3389, SessionProtocol.VNC: 5900}


def session_endpoint(asset: Asset) -> tuple[SessionProtocol, int]:
    """The protocol and port a remote session to this host uses."""
    kind = AssetType(asset.type)
    if asset.session_protocol:
        protocol = SessionProtocol(asset.session_protocol)
    else:
        protocol = SessionProtocol.RDP if kind is AssetType.WINDOWS_HOST else SessionProtocol.SSH
    if asset.session_port is not None:
        return protocol, asset.session_port
    if protocol is SessionProtocol.SSH and kind is AssetType.UNIX_HOST and asset.port:
        # The SSH port jobs use.
        return protocol, asset.port
    return protocol, _SESSION_PORTS[protocol]


def _check_protocol(value: str) -> str:
    try:
        return SessionProtocol(value).value
    except ValueError:
        known = ", ".join(protocol.value for protocol in SessionProtocol)
        raise InvalidInput(
            f"'{value[:16]}' is not a session protocol; the protocols are: {known}",
            code="unknown_session_protocol",
        ) from None


def check_name(name: str) -> str:
    if name != name.strip() or not name or "/" in name or CONTROL.search(name):
        raise InvalidInput(
            f"asset name '{name[:80]}' is not valid: use 1 to 255 characters without '/', "
            "control characters or leading and trailing spaces",
            code="invalid_asset_name",
        )
    return name


def check_port(port: int) -> int:
    if not 1 <= port <= 65535:
        raise InvalidInput(
            f"port {port} is out of range: use a TCP port from 1 to 65535", code="invalid_port"
        )
    return port


def check_tags(tags: list[str]) -> list[str]:
    for tag in tags:
        if not TAG.fullmatch(tag):
            raise InvalidInput(
                f"tag '{tag[:80]}' is not valid: use up to 64 letters, digits or '.', '_', ':', "
                "'=', '-', starting with a letter or digit",
                code="invalid_tag",
            )
    unique = sorted(set(tags))
    if len(unique) > MAX_TAGS:
        raise InvalidInput(f"an asset carries at most {MAX_TAGS} tags", code="invalid_tag")
    return unique


def _apply_properties(asset: Asset, given_properties: PropertiesIn) -> None:
    """Set host, port and use_https, checking them against the asset's type."""
    properties = given_properties.model_dump(exclude_unset=True)
    kind = AssetType(asset.type)
    given = {key: value for key, value in properties.items() if value is not None}
    if kind is AssetType.CONTAINER:
        if given:
            raise InvalidInput(
                f"a container has no connection properties (got {', '.join(sorted(given))}); "
                "set them on the hosts inside it",
                code="container_properties",
            )
        return
    if "use_https" in given and kind is not AssetType.WINDOWS_HOST:
        raise InvalidInput(
            "use_https applies to windows-host (WinRM) only", code="invalid_property"
        )
    if "host" in properties:
        if properties["host"] is None:
            raise InvalidInput(f"a {kind} needs a host", code="host_required")
        asset.host = check_host(properties["host"])
    if "use_https" in given and given["use_https"] != asset.use_https:
        # A port left at the old transport's default follows the transport.
        if asset.port == default_port(kind, asset.use_https) and "port" not in properties:
            asset.port = None
        asset.use_https = given["use_https"]
    if "port" in properties:
        port = properties["port"]
        asset.port = default_port(kind, asset.use_https) if port is None else check_port(port)
    if "protocol" in properties:
        protocol = properties["protocol"]
        asset.session_protocol = None if protocol is None else _check_protocol(protocol)
    if "session_port" in properties:
        port = properties["session_port"]
        asset.session_port = None if port is None else check_port(port)
    if asset.host is None:
        raise InvalidInput(f"a {kind} needs a host (a DNS name or an IP address)", "host_required")
    if asset.port is None:
        asset.port = default_port(kind, asset.use_https)


async def _check_name_free(
    db: AsyncSession, site_id: str, parent_id: str | None, name: str, moving: str | None = None
) -> None:
    same_parent = Asset.parent_id.is_(None) if parent_id is None else Asset.parent_id == parent_id
    query = select(Asset.id).where(Asset.site_id == site_id, same_parent, Asset.name == name)
    if moving is not None:
        query = query.where(Asset.id != moving)
    if await db.scalar(query):
        where = "at the top of the library" if parent_id is None else "in that container"
        raise Conflict(f"an asset named '{name}' already exists {where}", code="asset_exists")


async def _check_destination(
    db: AsyncSession, principal: Principal, parent_id: str | None, height: int = 0
) -> Asset | None:
    """The container to place an asset in (None: the top level), if the caller may edit it."""
    if parent_id is None:
        principal.require(Permission.ASSETS_MANAGE_ALL)
        return None
    parent, _ = await require_asset(db, principal, parent_id, Action.EDIT)
    if parent.type != AssetType.CONTAINER:
        raise InvalidInput(
            f"'{parent.name}' is a {parent.type}, not a container: only containers hold assets",
            code="parent_not_container",
        )
    if len(await lineage(db, parent.id)) + 1 + height > MAX_DEPTH:
        raise InvalidInput(f"containers nest at most {MAX_DEPTH} levels deep", code="tree_too_deep")
    return parent


async def _view(db: AsyncSession, asset: Asset, role: AssetRole) -> AssetView:
    fields = await secrets.fields_of(db, [asset.id])
    return AssetView(asset, role, fields.get(asset.id, frozenset()))


async def create_asset(
    db: AsyncSession,
    ring: KeyRing,
    principal: Principal,
    *,
    name: str,
    type: str,
    parent_id: str | None,
    properties: PropertiesIn,
    description: str,
    tags: list[str],
    secret_values: dict[str, str | None],
) -> AssetView:
    check_site(principal)
    kind = parse_type(type)
    check_name(name)
    await _check_destination(db, principal, parent_id)
    await _check_name_free(db, principal.site.id, parent_id, name)
    asset = Asset(
        id=new_id(),
        site_id=principal.site.id,
        parent_id=parent_id,
        name=name,
        type=kind.value,
        description=description,
        tags=check_tags(tags),
        use_https=False,
        created_by=principal.user.login,
    )
    _apply_properties(asset, properties)
    db.add(asset)
    await db.flush()
    record(
        db,
        principal.audit_scope,
        AuditAction.ASSET_CREATE,
        asset.id,
        name=name,
        type=kind.value,
        parent_id=parent_id,
        host=asset.host,
        port=asset.port,
    )
    await secrets.write_secrets(db, ring, principal, asset, secret_values)
    # The creator's role: creating needs edit rights on the parent, which the child inherits.
    _, role = await require_asset(db, principal, asset.id, Action.VIEW)
    return await _view(db, asset, role)


async def list_assets(
    db: AsyncSession,
    principal: Principal,
    *,
    parent_id: str | None = None,
    type: str | None = None,
    tag: str | None = None,
) -> list[AssetView]:
    """Every asset the caller may view, optionally only the children of one container."""
    check_site(principal)
    query = select(Asset).where(Asset.site_id == principal.site.id)
    if parent_id is not None:
        await require_asset(db, principal, parent_id, Action.VIEW)
        query = query.where(Asset.parent_id == parent_id)
    if type is not None:
        query = query.where(Asset.type == parse_type(type).value)
    roles = await roles_over(db, principal, query.with_only_columns(Asset.id, Asset.parent_id))
    views = []
    for asset in await db.scalars(query.order_by(Asset.name, Asset.id)):
        role = roles.of(asset.id)
        if role is not None and (tag is None or tag in asset.tags):
            views.append((asset, role))
    fields = await secrets.fields_of(db, query.with_only_columns(Asset.id))
    return [AssetView(a, role, fields.get(a.id, frozenset())) for a, role in views]


async def asset_tree(db: AsyncSession, principal: Principal) -> list[TreeNode]:
    """The visible library as a tree; an asset under an invisible container is a root."""
    nodes = {view.asset.id: TreeNode(view) for view in await list_assets(db, principal)}
    roots: list[TreeNode] = []
    for node in nodes.values():
        parent = nodes.get(node.view.asset.parent_id or "")
        (parent.children if parent else roots).append(node)
    return roots


async def read_asset(db: AsyncSession, principal: Principal, asset_id: str) -> AssetView:
    asset, role = await require_asset(db, principal, asset_id, Action.VIEW)
    return await _view(db, asset, role)


async def update_asset(
    db: AsyncSession,
    ring: KeyRing,
    principal: Principal,
    asset_id: str,
    patch: AssetPatch,
) -> AssetView:
    """Rename, move (`parent_id`), change properties, description, tags and vault fields."""
    asset, role = await require_asset(db, principal, asset_id, Action.EDIT)
    if patch.type is not None and patch.type != asset.type:
        raise InvalidInput(
            f"the type of '{asset.name}' ({asset.type}) cannot change: create a new asset instead",
            code="type_immutable",
        )
    secret_values = patch.secrets.model_dump(exclude_unset=True) if patch.secrets else {}
    if "parent_id" in patch.model_fields_set and patch.parent_id != asset.parent_id:
        await _move(db, principal, asset, patch.parent_id, patch.name)
    if patch.name is not None and patch.name != asset.name:
        await _check_name_free(db, asset.site_id, asset.parent_id, check_name(patch.name), asset.id)
        asset.name = patch.name
    if patch.properties is not None:
        before = _destination(asset)
        _apply_properties(asset, patch.properties)
        if _destination(asset) != before:
            await _rebind_secrets(db, asset, secret_values)
    if patch.tags is not None:
        asset.tags = check_tags(patch.tags)
    if patch.description is not None:
        asset.description = patch.description
    await db.flush()
    changed = sorted(patch.model_fields_set - {"type", "secrets", "parent_id"})
    if changed:
        record(
            db,
            principal.audit_scope,
            AuditAction.ASSET_UPDATE,
            asset.id,
            name=asset.name,
            fields=changed,
        )
    await secrets.write_secrets(db, ring, principal, asset, secret_values)
    # A move can change the caller's role (inherited from the new containers).
    _, role = await require_asset(db, principal, asset.id, Action.VIEW)
    return await _view(db, asset, role)


def _destination(asset: Asset) -> tuple[object, ...]:
    """Everything that decides where the vault's secrets are sent."""
    if asset.type == AssetType.CONTAINER or asset.host is None:
        return ()
    return (asset.host, asset.port, asset.use_https, *session_endpoint(asset))


async def _rebind_secrets(db: AsyncSession, asset: Asset, given: dict[str, str | None]) -> None:
    """A secret goes only to the destination it was entered for: a new destination takes the
    secrets again (or clears them) in the same change, and its host key is learnt anew."""
    held = (await secrets.fields_of(db, [asset.id])).get(asset.id, frozenset())
    missing = sorted((held & secrets.BOUND_TO_DESTINATION) - set(given))
    if missing:
        raise InvalidInput(
            f"the destination of '{asset.name}' changed (host, port, transport, session "
            f"protocol or port): enter its {' and '.join(missing)} again in the same change, "
            "or clear them; a vault secret goes only to the destination it was entered for",
            code="secrets_required",
        )
    await forget_host_key(db, asset.id)


async def _move(
    db: AsyncSession, principal: Principal, asset: Asset, parent_id: str | None, name: str | None
) -> None:
    below = await descendants(db, asset.id)
    height = max((d.depth for d in below), default=0)
    parent = await _check_destination(db, principal, parent_id, height)
    if parent is not None and asset.id in {a.id for a in await lineage(db, parent.id)}:
        raise InvalidInput(
            f"cannot move '{asset.name}' into '{parent.name}': '{parent.name}' is "
            f"{'that asset itself' if parent.id == asset.id else 'inside it'}, "
            "which would make a loop",
            code="move_loop",
        )
    await _check_name_free(db, asset.site_id, parent_id, name or asset.name, asset.id)
    record(
        db,
        principal.audit_scope,
        AuditAction.ASSET_MOVE,
        asset.id,
        name=asset.name,
        from_parent=asset.parent_id,
        to_parent=parent_id,
    )
    asset.parent_id = parent_id


async def delete_asset(
    db: AsyncSession, principal: Principal, asset_id: str, recursive: bool
) -> Deletion:
    asset, _ = await require_asset(db, principal, asset_id, Action.EDIT)
    below = await descendants(db, asset.id)
    containers = sum(1 for d in below if d.type == AssetType.CONTAINER)
    deletion = Deletion(asset.name, assets=len(below) - containers, containers=containers)
    if below and not recursive:
        raise Conflict(
            f"container '{asset.name}' is not empty: it holds {deletion.assets} assets and "
            f"{deletion.containers} containers; delete with recursive=true (CLI: --recursive) "
            "to delete them all",
            code="container_not_empty",
        )
    # Children, vault fields and grants go with it (ON DELETE CASCADE).
    await db.delete(asset)
    await db.flush()
    record(
        db,
        principal.audit_scope,
        AuditAction.ASSET_DELETE,
        asset.id,
        name=asset.name,
        type=asset.type,
        deleted_assets=deletion.assets,
        deleted_containers=deletion.containers,
    )
    return deletion
