"""Console pages of Reports > Jobs: the list, and a job's details that follow it while it runs."""

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from pamnode.deps import DB, NodeDep
from pamnode.jobs import service
from pamnode.jobs.states import FINISHED
from pamnode.web.console import Caller, check_same_origin, page, redirect, site_base

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
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Response:
    where = service.JobFilter(state=state or None, node=node or None, batch_id=batch_id or None)
    jobs, total = await service.list_jobs(db, caller, where, PAGE_SIZE, offset)
    values = {"state": state, "node": node, "batch_id": batch_id}
    return page(
        request,
        "jobs/list.html",
        caller,
        title="Jobs",
        jobs=jobs,
        total=total,
        offset=offset,
        page_size=PAGE_SIZE,
        values=values,
        finished=FINISHED,
    )


def _details(request: Request, caller: Caller, template: str, job: object) -> Response:
    return page(request, template, caller, title="Job details", job=job, finished=FINISHED)


@router.get("/jobs/{job_id}", response_class=HTMLResponse)
async def job_page(request: Request, job_id: str, caller: Caller, db: DB) -> Response:
    return _details(request, caller, "jobs/details.html", await service.get_job(db, caller, job_id))


@router.get("/jobs/{job_id}/live", response_class=HTMLResponse)
async def job_live(request: Request, job_id: str, caller: Caller, db: DB) -> Response:
    """The part of the details page that changes; polled by htmx until the job ends."""
    return _details(request, caller, "jobs/_live.html", await service.get_job(db, caller, job_id))


@router.post("/jobs/{job_id}/cancel")
async def cancel_job(
    request: Request, job_id: str, caller: Caller, db: DB, node: NodeDep
) -> Response:
    await service.cancel_job(db, node, caller, job_id)
    return redirect(request, f"{site_base(request)}/jobs/{job_id}")
