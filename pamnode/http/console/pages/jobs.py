"""Console pages of Reports > Jobs (list, details that follow a running job) and Scripts."""

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from pamnode.executors.specs import ScriptType
from pamnode.http.console.caller import Caller
from pamnode.http.console.csrf import check_same_origin
from pamnode.http.console.forms import expect_form, form_data, snapshot, validated
from pamnode.http.console.render import Pages, page, redirect, site_base
from pamnode.http.deps import DB, NodeDep
from pamnode.http.paging import Offset
from pamnode.identity.roles import Permission
from pamnode.jobs import report, scripts
from pamnode.jobs.schemas import ScriptIn, ScriptPatch
from pamnode.jobs.states import FINISHED

router = APIRouter(dependencies=[Depends(check_same_origin)], include_in_schema=False)

PAGE_SIZE = 50
Filter = Annotated[str, Query(max_length=400)]


@router.get("/jobs", response_class=HTMLResponse)
async def jobs_page(
    request: Request,
    caller: Caller,
    db: DB,
    state: Filter = "",
    node: Filter = "",
    batch_id: Filter = "",
    offset: Offset = 0,
) -> Response:
    where = report.JobFilter(state=state or None, node=node or None, batch_id=batch_id or None)
    found = await report.list_jobs(db, caller, where, PAGE_SIZE, offset)
    values = {"state": state, "node": node, "batch_id": batch_id}
    return page(
        request,
        "jobs/list.html",
        caller,
        title="Jobs",
        jobs=found.rows,
        values=values,
        pages=Pages(offset, PAGE_SIZE, found.total, values, capped=found.capped),
        finished=FINISHED,
    )


def _details(request: Request, caller: Caller, template: str, job: object) -> Response:
    return page(request, template, caller, title="Job details", job=job, finished=FINISHED)


@router.get("/jobs/{job_id}", response_class=HTMLResponse)
async def job_page(request: Request, job_id: str, caller: Caller, db: DB) -> Response:
    return _details(request, caller, "jobs/details.html", await report.get_job(db, caller, job_id))


@router.get("/jobs/{job_id}/live", response_class=HTMLResponse)
async def job_live(request: Request, job_id: str, caller: Caller, db: DB) -> Response:
    """The part of the details page that changes; polled by htmx until the job ends."""
    return _details(request, caller, "jobs/_live.html", await report.get_job(db, caller, job_id))


@router.post("/jobs/{job_id}/cancel")
async def cancel_job(
    request: Request, job_id: str, caller: Caller, db: DB, node: NodeDep
) -> Response:
    await report.cancel_job(db, node.jobs, caller, job_id)
    return redirect(request, f"{site_base(request)}/jobs/{job_id}")


# --- Management > Scripts --------------------------------------------------------------------

SCRIPT_TYPES = [(kind.value, kind.value) for kind in ScriptType]
SCRIPT_FIELDS = ("name", "description", "type", "body")


@router.get("/scripts", response_class=HTMLResponse)
async def scripts_page(request: Request, caller: Caller, db: DB) -> Response:
    found = await scripts.list_scripts(db, caller)
    return page(request, "jobs/scripts.html", caller, title="Scripts", scripts=found)


@router.get("/scripts/new", response_class=HTMLResponse)
async def script_form(request: Request, caller: Caller) -> Response:
    caller.require(Permission.SCRIPTS_WRITE)
    return page(request, "jobs/_script_form.html", caller, values={}, errors={}, types=SCRIPT_TYPES)


@router.post("/scripts")
async def add_script(request: Request, caller: Caller, db: DB) -> Response:
    data = await form_data(request)
    expect_form(request, "jobs/_script_form.html", data, types=SCRIPT_TYPES)
    body = validated(ScriptIn, {field: data.get(field, "") for field in SCRIPT_FIELDS})
    await scripts.create_script(db, caller, body)
    return redirect(request, f"{site_base(request)}/scripts")


@router.get("/scripts/{script_id}/edit", response_class=HTMLResponse)
async def edit_script_form(request: Request, script_id: str, caller: Caller, db: DB) -> Response:
    caller.require(Permission.SCRIPTS_WRITE)
    script = await scripts.read_script(db, caller, script_id)
    return page(
        request,
        "jobs/_script_form.html",
        caller,
        values=snapshot(script, *SCRIPT_FIELDS),
        errors={},
        types=SCRIPT_TYPES,
        script=snapshot(script, "id", "name"),
    )


@router.post("/scripts/{script_id}")
async def edit_script(request: Request, script_id: str, caller: Caller, db: DB) -> Response:
    data = await form_data(request)
    shown = {"id": script_id, "name": data.get("name", "")}
    expect_form(request, "jobs/_script_form.html", data, types=SCRIPT_TYPES, script=shown)
    body = validated(ScriptPatch, {field: data.get(field, "") for field in SCRIPT_FIELDS})
    await scripts.update_script(db, caller, script_id, body)
    return redirect(request, f"{site_base(request)}/scripts")


@router.post("/scripts/{script_id}/delete")
async def delete_script(request: Request, script_id: str, caller: Caller, db: DB) -> Response:
    await scripts.delete_script(db, caller, script_id)
    return redirect(request, f"{site_base(request)}/scripts")
