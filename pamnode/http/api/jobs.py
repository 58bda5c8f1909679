"""REST routes of Execute, Reports > Jobs and Management > Scripts."""

from fastapi import APIRouter, status
from pydantic import AwareDatetime

from pamnode.http.deps import DB, Caller, NodeDep
from pamnode.http.paging import Limit, Offset
from pamnode.jobs import execute as executing
from pamnode.jobs import report, scripts
from pamnode.jobs.schemas import (
    ExecuteIn,
    ExecutionOut,
    JobDetailsOut,
    JobOut,
    JobPageOut,
    ScriptIn,
    ScriptOut,
    ScriptPatch,
)

router = APIRouter()


@router.post("/assets/{asset_id}/execute", status_code=status.HTTP_202_ACCEPTED, tags=["jobs"])
async def execute(
    asset_id: str, body: ExecuteIn, caller: Caller, db: DB, node: NodeDep
) -> ExecutionOut:
    done = await executing.execute(
        db, node.jobs, caller, asset_id, body.task, body.script, body.timeout_s
    )
    return ExecutionOut(
        batch_id=done.batch_id,
        jobs=[JobOut.model_validate(job) for job in done.jobs],
        skipped=done.skipped,
    )


@router.get("/jobs", tags=["jobs"])
async def list_jobs(
    caller: Caller,
    db: DB,
    asset_id: str | None = None,
    state: str | None = None,
    task: str | None = None,
    node: str | None = None,
    batch_id: str | None = None,
    since: AwareDatetime | None = None,
    until: AwareDatetime | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> JobPageOut:
    where = report.JobFilter(asset_id, state, task, node, batch_id, since, until)
    found = await report.list_jobs(db, caller, where, limit, offset)
    return JobPageOut(
        total=found.total,
        total_capped=found.capped,
        jobs=[JobOut.model_validate(job) for job in found.rows],
    )


@router.get("/jobs/{job_id}", tags=["jobs"])
async def job_details(job_id: str, caller: Caller, db: DB) -> JobDetailsOut:
    return JobDetailsOut.model_validate(await report.get_job(db, caller, job_id))


@router.post("/jobs/{job_id}/cancel", tags=["jobs"])
async def cancel_job(job_id: str, caller: Caller, db: DB, node: NodeDep) -> JobDetailsOut:
    return JobDetailsOut.model_validate(await report.cancel_job(db, node.jobs, caller, job_id))


@router.post("/scripts", status_code=status.HTTP_201_CREATED, tags=["scripts"])
async def create_script(body: ScriptIn, caller: Caller, db: DB) -> ScriptOut:
    return ScriptOut.model_validate(await scripts.create_script(db, caller, body))


@router.get("/scripts", tags=["scripts"])
async def list_scripts(caller: Caller, db: DB) -> list[ScriptOut]:
    return [ScriptOut.model_validate(s) for s in await scripts.list_scripts(db, caller)]


@router.get("/scripts/{script}", tags=["scripts"])
async def read_script(script: str, caller: Caller, db: DB) -> ScriptOut:
    return ScriptOut.model_validate(await scripts.read_script(db, caller, script))


@router.patch("/scripts/{script}", tags=["scripts"])
async def update_script(script: str, body: ScriptPatch, caller: Caller, db: DB) -> ScriptOut:
    return ScriptOut.model_validate(await scripts.update_script(db, caller, script, body))


@router.delete("/scripts/{script}", status_code=status.HTTP_204_NO_CONTENT, tags=["scripts"])
async def delete_script(script: str, caller: Caller, db: DB) -> None:
    await scripts.delete_script(db, caller, script)
