"""Console page My account: the caller's SSH keys and second factor (enrolment with a QR
code, recovery codes shown once)."""

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from pamnode.http.console.caller import Caller
from pamnode.http.console.csrf import check_same_origin
from pamnode.http.console.forms import expect_form, form_data, validated
from pamnode.http.console.qr import qr_svg
from pamnode.http.console.render import page, redirect, site_base
from pamnode.http.deps import DB, NodeDep
from pamnode.identity import second_factor, ssh_keys
from pamnode.identity.schemas import CodeIn, SshKeyIn

router = APIRouter(dependencies=[Depends(check_same_origin)], include_in_schema=False)


@router.get("/account", response_class=HTMLResponse)
async def account_page(request: Request, caller: Caller, db: DB) -> Response:
    _, keys = await ssh_keys.list_keys(db, caller)
    factor = await second_factor.status(db, caller)
    return page(
        request,
        "account/account.html",
        caller,
        title="My account",
        keys=keys,
        factor=factor,
        values={},
        errors={},
    )


@router.post("/account/ssh-keys")
async def add_key(request: Request, caller: Caller, db: DB) -> Response:
    data = await form_data(request)
    expect_form(request, "account/_key_form.html", data)
    body = validated(
        SshKeyIn, {"public_key": data.get("public_key", ""), "comment": data.get("comment", "")}
    )
    await ssh_keys.add_key(db, caller, body.public_key, body.comment)
    return redirect(request, f"{site_base(request)}/account")


@router.post("/account/ssh-keys/{key_id}/delete")
async def remove_key(request: Request, key_id: str, caller: Caller, db: DB) -> Response:
    await ssh_keys.remove_key(db, caller, key_id)
    return redirect(request, f"{site_base(request)}/account")


@router.post("/account/second-factor", response_class=HTMLResponse)
async def enrol(request: Request, caller: Caller, db: DB, node: NodeDep) -> Response:
    enrolment = await second_factor.begin_enrolment(db, node.keyring, caller)
    return page(
        request,
        "account/enrol.html",
        caller,
        title="Enrol a second factor",
        enrolment=enrolment,
        qr=qr_svg(enrolment.uri, "QR code of the second factor's seed"),
        values={},
        errors={},
    )


@router.post("/account/second-factor/confirm", response_class=HTMLResponse)
async def confirm(request: Request, caller: Caller, db: DB, node: NodeDep) -> Response:
    data = await form_data(request)
    expect_form(request, "account/_confirm_form.html", data)
    body = validated(CodeIn, {"code": data.get("code", "")})
    codes = await second_factor.confirm_enrolment(db, node.keyring, caller, body.code)
    return page(
        request, "account/recovery.html", caller, title="Recovery codes", recovery_codes=codes
    )
