"""Management > Directories in the console: add/edit an LDAP directory, Test Connection,
and the site roles its groups hold (docs/directories.md)."""

from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from pamnode.assets.permissions import AssetRole
from pamnode.directories import connection, members, registry
from pamnode.directories.models import Directory
from pamnode.directories.schemas import (
    ConnectionIn,
    DirectoryIn,
    DirectoryPatch,
    GroupAssetGrantIn,
    GroupGrantIn,
)
from pamnode.http.console.caller import Caller
from pamnode.http.console.csrf import check_same_origin
from pamnode.http.console.forms import checked, expect_form, form_data, validated
from pamnode.http.console.render import page, redirect, site_base
from pamnode.http.deps import DB, NodeDep
from pamnode.identity.principal import Principal
from pamnode.identity.roles import Permission, SiteRole

router = APIRouter(dependencies=[Depends(check_same_origin)], include_in_schema=False)

TEXTS = ("url", "server_sha256", "ca_pem", "bind_dn", "user_base", "group_base")
PRESETS = [("active-directory", "Active Directory"), ("openldap", "OpenLDAP (inetOrgPerson)")]
# A group never holds the service role.
GROUP_ROLES = [(role.value, role.value) for role in SiteRole if role != SiteRole.SERVICE]


def _fields(data: Mapping[str, str], *, creating: bool) -> dict[str, Any]:
    """The body from the form: empty trust fields are absent, and on edit an empty bind
    password keeps the stored one."""
    fields: dict[str, Any] = {
        key: data.get(key, "").strip() or None for key in TEXTS if data.get(key, "").strip()
    }
    fields["enabled"] = checked(data, "enabled")
    if creating:
        fields.update(name=data.get("name", ""), preset=data.get("preset", "active-directory"))
    else:
        fields.setdefault("server_sha256", None)
        fields.setdefault("ca_pem", None)
    if data.get("bind_password") or creating:
        fields["bind_password"] = data.get("bind_password", "")
    return fields


def _values(directory: Directory) -> dict[str, str]:
    values = {key: getattr(directory, key) or "" for key in TEXTS}
    values.update(name=directory.name, enabled="on" if directory.enabled else "")
    return values


@router.get("/directories", response_class=HTMLResponse)
async def directories_page(request: Request, caller: Caller, db: DB) -> Response:
    found = await registry.list_directories(db, caller)
    return page(request, "directories/list.html", caller, title="Directories", rows=found)


@router.get("/directories/new", response_class=HTMLResponse)
async def new_directory(request: Request, caller: Caller) -> Response:
    caller.require(Permission.USERS_WRITE)
    return page(
        request,
        "directories/edit.html",
        caller,
        title="Add directory",
        directory=None,
        values={"enabled": "on", "preset": "active-directory"},
        errors={},
        presets=PRESETS,
    )


@router.post("/directories")
async def add_directory(request: Request, caller: Caller, db: DB, node: NodeDep) -> Response:
    data = await form_data(request)
    expect_form(request, "directories/_form.html", data, directory=None, presets=PRESETS)
    body = validated(DirectoryIn, _fields(data, creating=True))
    directory = await registry.create_directory(db, node.keyring, caller, body)
    return redirect(request, f"{site_base(request)}/directories/{directory.name}")


async def _grants_context(db: DB, caller: Principal, name: str) -> dict[str, Any]:
    grants = (
        await members.list_group_grants(db, caller, name)
        if caller.can(Permission.ROLES_READ)
        else []
    )
    return {"grants": grants, "role_choices": GROUP_ROLES}


@router.get("/directories/{name}", response_class=HTMLResponse)
async def directory_page(request: Request, name: str, caller: Caller, db: DB) -> Response:
    directory = await registry.read_directory(db, caller, name)
    return page(
        request,
        "directories/edit.html",
        caller,
        title=f"Directory {directory.name}",
        directory=directory,
        values=_values(directory),
        errors={},
        presets=PRESETS,
        grant_values={},
        grant_errors={},
        **await _grants_context(db, caller, name),
    )


@router.post("/directories/{name}")
async def update_directory(
    request: Request, name: str, caller: Caller, db: DB, node: NodeDep
) -> Response:
    data = await form_data(request)
    directory = await registry.read_directory(db, caller, name)
    expect_form(request, "directories/_form.html", data, directory=directory, presets=PRESETS)
    body = validated(DirectoryPatch, _fields(data, creating=False))
    await registry.update_directory(db, node.keyring, caller, name, body)
    return redirect(request, f"{site_base(request)}/directories/{name}")


@router.post("/directories/{name}/delete")
async def delete_directory(request: Request, name: str, caller: Caller, db: DB) -> Response:
    await registry.delete_directory(db, caller, name)
    return redirect(request, f"{site_base(request)}/directories")


@router.post("/directories/{name}/test-connection", response_class=HTMLResponse)
async def test_connection(
    request: Request, name: str, caller: Caller, db: DB, node: NodeDep
) -> Response:
    data = await form_data(request)
    body = validated(ConnectionIn, {"user": data.get("user", "").strip() or None})
    report = await connection.test_connection(db, node.keyring, caller, name, body.user)
    return page(request, "directories/_connection.html", caller, report=report)


@router.post("/directories/{name}/group-grants")
async def grant_group_role(
    request: Request, name: str, caller: Caller, db: DB, node: NodeDep
) -> Response:
    data = await form_data(request)
    expect_form(
        request,
        "directories/_grant_form.html",
        data,
        directory_name=name,
        role_choices=GROUP_ROLES,
    )
    body = validated(GroupGrantIn, data)
    await members.grant_group_role(db, node.keyring, caller, name, body.group, body.role)
    return redirect(request, f"{site_base(request)}/directories/{name}")


# --- Manage > Permissions of an asset, for directory groups --------------------------------


async def group_permissions_context(db: DB, caller: Principal, asset_id: str) -> dict[str, Any]:
    """What the asset's permissions page shows of directory groups."""
    listed = (
        await registry.list_directories(db, caller) if caller.can(Permission.USERS_READ) else []
    )
    return {
        "group_grants": await members.list_asset_group_grants(db, caller, asset_id),
        "directory_choices": [(directory.name, directory.name) for directory in listed],
    }


@router.post("/assets/{asset_id}/group-permissions")
async def grant_group_permission(
    request: Request, asset_id: str, caller: Caller, db: DB, node: NodeDep
) -> Response:
    data = await form_data(request)
    expect_form(
        request,
        "directories/_asset_grant_form.html",
        data,
        asset={"id": asset_id},
        **(await group_permissions_context(db, caller, asset_id)),
        role_choices=[(role.value, role.value) for role in AssetRole],
    )
    fields = {"group": data.get("group"), "asset": asset_id, "role": data.get("group_role")}
    body = validated(GroupAssetGrantIn, fields)
    await members.grant_group_asset_role(
        db, node.keyring, caller, data.get("directory", ""), body.group, asset_id, body.role
    )
    return redirect(request, f"{site_base(request)}/assets/{asset_id}/permissions")
