"""Console pages of the Asset library: tree, add/edit, Manage > Peer Nodes, Execute."""

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from pamnode.assets import grants, library
from pamnode.assets.library import SessionProtocol, session_endpoint
from pamnode.assets.models import AssetType
from pamnode.assets.permissions import Action, AssetRole, allowed_actions, allows, require_asset
from pamnode.assets.schemas import AssetIn, AssetPatch, PermissionIn
from pamnode.executors.specs import ScriptType, Task
from pamnode.http.api.assets import create_from
from pamnode.http.console.caller import Caller
from pamnode.http.console.csrf import check_same_origin
from pamnode.http.console.forms import checked, expect_form, form_data, snapshot, validated
from pamnode.http.console.pages.directories import group_permissions_context
from pamnode.http.console.render import page, redirect, site_base
from pamnode.http.deps import DB, NodeDep
from pamnode.identity.principal import Principal
from pamnode.identity.roles import Permission
from pamnode.identity.users import list_users
from pamnode.jobs import execute as executing
from pamnode.jobs import scripts
from pamnode.jobs.schemas import ExecuteIn
from pamnode.peers import assignments
from pamnode.peers.selection import Purpose, unusable_because

router = APIRouter(dependencies=[Depends(check_same_origin)], include_in_schema=False)

# What forms show of an asset (copied out: see console.snapshot).
SHOWN = ("id", "name", "type")
# The choices of the asset form's selects.
FORM_CHOICES: dict[str, Any] = {
    "types": [(kind.value, kind.value) for kind in AssetType],
    "session_protocols": [
        ("", "default for the type"),
        *((protocol.value, protocol.value.upper()) for protocol in SessionProtocol),
    ],
}
SECRETS = ("username", "password", "private_key", "passphrase")
# Which built-in tasks and script types the Execute menu offers on each asset type.
TASKS_FOR = {
    AssetType.UNIX_HOST: ([Task.UNIX_STATUS_CHECK], {ScriptType.SHELL}),
    AssetType.WINDOWS_HOST: ([Task.WINDOWS_STATUS_CHECK], {ScriptType.POWERSHELL}),
    AssetType.CONTAINER: (
        [Task.UNIX_STATUS_CHECK, Task.WINDOWS_STATUS_CHECK],
        {ScriptType.SHELL, ScriptType.POWERSHELL},
    ),
}
TASK_LABELS = {
    Task.UNIX_STATUS_CHECK: "Unix Status Check",
    Task.WINDOWS_STATUS_CHECK: "Windows Status Check",
}


def _library_url(request: Request, asset_id: str | None = None) -> str:
    return f"{site_base(request)}/assets" + (f"/{asset_id}" if asset_id else "")


def _body(data: Mapping[str, str], kind: str) -> dict[str, Any]:
    """The REST body from the form: connection properties for hosts, secrets only if typed."""
    body: dict[str, Any] = {
        "name": data.get("name", ""),
        "description": data.get("description", ""),
        "secrets": {field: data[field] for field in SECRETS if data.get(field)},
    }
    if kind != AssetType.CONTAINER:
        port = data.get("port", "").strip()
        body["properties"] = {
            "host": data.get("host", "").strip() or None,
            "port": port or None,
            "protocol": data.get("protocol") or None,
            "session_port": data.get("session_port", "").strip() or None,
        }
        if kind == AssetType.WINDOWS_HOST:
            body["properties"]["use_https"] = checked(data, "use_https")
    return body


async def _library(caller: Principal, db: DB, asset_id: str | None) -> dict[str, Any]:
    """The tree, and the selected asset with what the caller may do on it."""
    context: dict[str, Any] = {
        "tree": await library.asset_tree(db, caller),
        "selected": None,
        "can_add_top": caller.can(Permission.ASSETS_MANAGE_ALL),
    }
    if asset_id is None:
        return context
    view = await library.read_asset(db, caller, asset_id)
    actions = set(allowed_actions(view.role))
    tasks, script_types = TASKS_FOR[AssetType(view.asset.type)]
    runnable = []
    if Action.EXECUTE in actions and caller.can(Permission.SCRIPTS_READ):
        runnable = [s for s in await scripts.list_scripts(db, caller) if s.type in script_types]
    kind = AssetType(view.asset.type)
    context.update(
        selected=view,
        actions={action.value for action in actions},
        tasks=[(task.value, TASK_LABELS[task]) for task in tasks],
        scripts=runnable,
        # Offered only for hosts whose remote sessions speak RDP: the client brings its own.
        rdp_pass_through=kind is not AssetType.CONTAINER
        and session_endpoint(view.asset)[0] is SessionProtocol.RDP,
        missing=_missing(actions) if kind is not AssetType.CONTAINER else [],
    )
    return context


def _missing(held: set[Action]) -> list[tuple[str, str]]:
    """What a host's page would offer with a stronger permission: (the action's button, the
    least asset role that allows it)."""
    buttons = {Action.CONNECT: "Access", Action.EXECUTE: "Execute"}
    return [
        (button, next(role.value for role in AssetRole if allows(role, action)))
        for action, button in buttons.items()
        if action not in held
    ]


@router.get("/assets", response_class=HTMLResponse)
async def library_page(request: Request, caller: Caller, db: DB) -> Response:
    context = await _library(caller, db, None)
    return page(request, "assets/library.html", caller, title="Asset library", **context)


@router.get("/assets/new", response_class=HTMLResponse)
async def new_asset(
    request: Request,
    caller: Caller,
    db: DB,
    parent: Annotated[str | None, Query(max_length=36)] = None,
    type: Annotated[str, Query(max_length=32)] = AssetType.UNIX_HOST.value,
) -> Response:
    # The form is offered only to whoever may create there (the POST checks it again).
    shown_parent = None
    if parent:
        parent_asset, _ = await require_asset(db, caller, parent, Action.EDIT)
        shown_parent = snapshot(parent_asset, "id", "name")
    else:
        caller.require(Permission.ASSETS_MANAGE_ALL)
    values = {"type": type}
    return page(
        request,
        "assets/_form.html",
        caller,
        asset=None,
        parent=shown_parent,
        values=values,
        errors={},
        **FORM_CHOICES,
    )


@router.post("/assets")
async def add_asset(request: Request, caller: Caller, db: DB, node: NodeDep) -> Response:
    data = await form_data(request)
    parent_id = data.get("parent_id") or None
    parent = (await library.read_asset(db, caller, parent_id)).asset if parent_id else None
    shown_parent = snapshot(parent, "id", "name") if parent else None
    expect_form(request, "assets/_form.html", data, asset=None, parent=shown_parent, **FORM_CHOICES)
    kind = data.get("type", "")
    body = validated(AssetIn, {**_body(data, kind), "type": kind, "parent_id": parent_id})
    view = await create_from(body, caller, db, node)
    return redirect(request, _library_url(request, view.asset.id))


@router.get("/assets/{asset_id}", response_class=HTMLResponse)
async def asset_page(request: Request, asset_id: str, caller: Caller, db: DB) -> Response:
    context = await _library(caller, db, asset_id)
    title = context["selected"].asset.name
    return page(request, "assets/library.html", caller, title=title, **context)


@router.get("/assets/{asset_id}/edit", response_class=HTMLResponse)
async def edit_asset(request: Request, asset_id: str, caller: Caller, db: DB) -> Response:
    await require_asset(db, caller, asset_id, Action.EDIT)
    view = await library.read_asset(db, caller, asset_id)
    asset = view.asset
    values = {
        "name": asset.name,
        "type": asset.type,
        "host": asset.host or "",
        "port": str(asset.port or ""),
        "use_https": "on" if asset.use_https else "",
        "protocol": asset.session_protocol or "",
        "session_port": str(asset.session_port or ""),
        "description": asset.description,
    }
    return page(
        request,
        "assets/_form.html",
        caller,
        asset=snapshot(asset, *SHOWN),
        parent=None,
        secrets_set=view.secrets,
        values=values,
        errors={},
        **FORM_CHOICES,
    )


@router.post("/assets/{asset_id}")
async def update_asset(
    request: Request, asset_id: str, caller: Caller, db: DB, node: NodeDep
) -> Response:
    data = await form_data(request)
    view = await library.read_asset(db, caller, asset_id)
    expect_form(
        request,
        "assets/_form.html",
        {**data, "type": view.asset.type},
        asset=snapshot(view.asset, *SHOWN),
        parent=None,
        secrets_set=view.secrets,
        **FORM_CHOICES,
    )
    body = validated(AssetPatch, _body(data, view.asset.type))
    await library.update_asset(db, node.keyring, caller, asset_id, body)
    return redirect(request, _library_url(request, asset_id))


@router.post("/assets/{asset_id}/delete")
async def delete_asset(request: Request, asset_id: str, caller: Caller, db: DB) -> Response:
    # The confirmation dialog names what goes with a container, so it is deleted with it.
    await library.delete_asset(db, caller, asset_id, recursive=True)
    return redirect(request, _library_url(request))


# --- Manage > Peer Nodes ---------------------------------------------------------------------


async def _assignments_context(db: DB, caller: Principal, asset_id: str) -> dict[str, Any]:
    found = await assignments.view(db, caller, asset_id)
    view = await library.read_asset(db, caller, asset_id)
    manage = Action.MANAGE_PEER_NODES in allowed_actions(view.role)
    rows = [
        (
            reach,
            unusable_because(reach.peer, Purpose.JOBS),
            unusable_because(reach.peer, Purpose.SESSIONS),
        )
        for reach in found.reaches
    ]
    return {
        "asset": snapshot(found.asset, *SHOWN),
        "rows": rows,
        "effective": found.effective,
        "manage": manage,
        "peer_choices": [
            (name, name) for name in await assignments.assignable(db, caller, asset_id)
        ]
        if manage
        else [],
    }


@router.get("/assets/{asset_id}/peer-nodes", response_class=HTMLResponse)
async def assignments_page(request: Request, asset_id: str, caller: Caller, db: DB) -> Response:
    context = await _assignments_context(db, caller, asset_id)
    title = f"Peer Nodes of {context['asset']['name']}"
    return page(
        request, "assets/peer_nodes.html", caller, title=title, values={}, errors={}, **context
    )


@router.post("/assets/{asset_id}/peer-nodes")
async def assign_peer(request: Request, asset_id: str, caller: Caller, db: DB) -> Response:
    data = await form_data(request)
    context = await _assignments_context(db, caller, asset_id)
    expect_form(
        request,
        "assets/_assign_form.html",
        data,
        asset=context["asset"],
        peer_choices=context["peer_choices"],
    )
    await assignments.assign(
        db, caller, asset_id, data.get("peer_node", ""), enabled=checked(data, "enabled")
    )
    return redirect(request, f"{_library_url(request, asset_id)}/peer-nodes")


@router.post("/assets/{asset_id}/peer-nodes/{assignment_id}/{change}")
async def change_assignment(
    request: Request,
    asset_id: str,
    assignment_id: str,
    change: Literal["enable", "disable", "remove"],
    caller: Caller,
    db: DB,
) -> Response:
    if change == "remove":
        await assignments.unassign(db, caller, asset_id, assignment_id)
    else:
        enabled = change == "enable"
        await assignments.set_enabled(db, caller, asset_id, assignment_id, enabled)
    return redirect(request, f"{_library_url(request, asset_id)}/peer-nodes")


# --- Manage > Permissions -------------------------------------------------------------------

ROLE_CHOICES = [(role.value, role.value) for role in AssetRole]


async def _permissions_context(db: DB, caller: Principal, asset_id: str) -> dict[str, Any]:
    found = await grants.list_grants(db, caller, asset_id)
    asset, role = await require_asset(db, caller, asset_id, Action.VIEW)
    users = None
    if caller.can(Permission.USERS_READ):
        users = [(user.login, user.login) for user in await list_users(db, caller)]
    return {
        "asset": snapshot(asset, *SHOWN),
        "grants": found,
        "can_grant": allows(role, Action.GRANT),
        "user_choices": users,
        "role_choices": ROLE_CHOICES,
        # Directory groups' grants, and the form for them (pages/directories.py).
        **await group_permissions_context(db, caller, asset_id),
    }


@router.get("/assets/{asset_id}/permissions", response_class=HTMLResponse)
async def permissions_page(request: Request, asset_id: str, caller: Caller, db: DB) -> Response:
    context = await _permissions_context(db, caller, asset_id)
    title = f"Permissions of {context['asset']['name']}"
    return page(
        request, "assets/permissions.html", caller, title=title, values={}, errors={}, **context
    )


@router.post("/assets/{asset_id}/permissions")
async def grant_permission(request: Request, asset_id: str, caller: Caller, db: DB) -> Response:
    data = await form_data(request)
    context = await _permissions_context(db, caller, asset_id)
    expect_form(
        request,
        "assets/_grant_form.html",
        data,
        fields={"user_not_found": "principal", "asset_grant_exists": "principal"},
        **{key: context[key] for key in ("asset", "user_choices", "role_choices")},
    )
    body = validated(PermissionIn, {"principal": data.get("principal"), "role": data.get("role")})
    await grants.grant(db, caller, asset_id, body.principal, body.role)
    return redirect(request, f"{_library_url(request, asset_id)}/permissions")


@router.post("/assets/{asset_id}/permissions/{grant_id}/revoke")
async def revoke_permission(
    request: Request, asset_id: str, grant_id: str, caller: Caller, db: DB
) -> Response:
    await grants.revoke(db, caller, asset_id, grant_id)
    return redirect(request, f"{_library_url(request, asset_id)}/permissions")


# --- Execute ---------------------------------------------------------------------------------


@router.post("/assets/{asset_id}/execute")
async def execute(
    request: Request, asset_id: str, caller: Caller, db: DB, node: NodeDep
) -> Response:
    data = await form_data(request)
    body = validated(ExecuteIn, {"task": data.get("task"), "script": data.get("script") or None})
    done = await executing.execute(
        db, node.jobs, caller, asset_id, body.task, body.script, body.timeout_s
    )
    base = site_base(request)
    if done.batch_id:
        return redirect(request, f"{base}/jobs?batch_id={done.batch_id}")
    return redirect(request, f"{base}/jobs/{done.jobs[0].id}")
