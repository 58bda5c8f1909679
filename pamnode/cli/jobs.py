"""`pamnode jobs …`, `pamnode script …` and `pamnode asset execute`: jobs from a shell."""

import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from pamnode.cli.client import request
from pamnode.cli.output import Yes, confirm, show, table

jobs_app = typer.Typer(help="Reports > Jobs.", no_args_is_help=True)
script_app = typer.Typer(help="Management > Scripts.", no_args_is_help=True)

FINISHED = {"succeeded", "failed", "cancelled", "timed_out"}
JOB_COLUMNS = ["id", "state", "task", "asset_name", "node_signature", "peer_node", "created_at"]


def execute(
    asset: Annotated[str, typer.Argument(help="Asset or container id.")],
    task: Annotated[str, typer.Argument(help="unix-status-check, windows-status-check, script")],
    script: Annotated[str | None, typer.Option(help="Script name, for the task 'script'.")] = None,
    timeout: Annotated[int, typer.Option(help="Seconds before the job is stopped.")] = 300,
    wait: Annotated[bool, typer.Option("--wait", help="Follow the jobs until they end.")] = False,
) -> None:
    """Execute a task on an asset, or on every asset below a container."""
    body = {"task": task, "script": script, "timeout_s": timeout}
    started = request("POST", f"assets/{asset}/execute", body=body)
    if started["skipped"]:
        typer.echo(f"skipped (task does not apply): {', '.join(started['skipped'])}")
    if not wait:
        table(started["jobs"], JOB_COLUMNS)
        return
    ended = _follow([job["id"] for job in started["jobs"]])
    table(ended, JOB_COLUMNS)
    if len(ended) == 1:
        show(request("GET", f"jobs/{ended[0]['id']}"))
    if any(job["state"] != "succeeded" for job in ended):
        raise typer.Exit(1)


def _follow(job_ids: list[str]) -> list[dict[str, Any]]:
    latest: dict[str, dict[str, Any]] = {}
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, transient=True) as progress:
        bar = progress.add_task("jobs running", total=len(job_ids))
        while True:
            for job_id in job_ids:
                if latest.get(job_id, {}).get("state") not in FINISHED:
                    latest[job_id] = request("GET", f"jobs/{job_id}")
            done = sum(job["state"] in FINISHED for job in latest.values())
            progress.update(bar, completed=done)
            if done == len(job_ids):
                return [latest[job_id] for job_id in job_ids]
            time.sleep(0.5)


@jobs_app.command("list")
def list_jobs(
    asset: str | None = None,
    state: str | None = None,
    task: str | None = None,
    node: Annotated[str | None, typer.Option(help="Node name or node signature.")] = None,
    limit: int = 50,
) -> None:
    params = {"asset_id": asset, "state": state, "task": task, "node": node, "limit": limit}
    page = request("GET", "jobs", params={k: v for k, v in params.items() if v is not None})
    table(page["jobs"], JOB_COLUMNS)
    typer.echo(f"{len(page['jobs'])} of {page['total']} jobs")


@jobs_app.command("show")
def show_job(job_id: str) -> None:
    """Job details, with its node signature and every attempt."""
    show(request("GET", f"jobs/{job_id}"))


@jobs_app.command("cancel")
def cancel_job(job_id: str, yes: Yes = False) -> None:
    confirm(yes, f"Cancel job {job_id}?")
    show(request("POST", f"jobs/{job_id}/cancel"))


@script_app.command("add")
def add_script(
    name: str,
    file: Annotated[Path, typer.Option(help="The script body.", exists=True)],
    type: Annotated[str, typer.Option(help="shell or powershell.")] = "shell",
    description: str = "",
) -> None:
    body = {"name": name, "type": type, "body": file.read_text(), "description": description}
    show(request("POST", "scripts", body=body))


@script_app.command("list")
def list_scripts() -> None:
    table(request("GET", "scripts"), ["name", "type", "description", "updated_at"])


@script_app.command("show")
def show_script(name: str) -> None:
    show(request("GET", f"scripts/{name}"))


@script_app.command("rm")
def rm_script(name: str, yes: Yes = False) -> None:
    confirm(yes, f"Delete script '{name}'?")
    request("DELETE", f"scripts/{name}")
    typer.echo(f"script '{name}' deleted")
