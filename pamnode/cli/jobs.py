"""`pamnode jobs …`, `pamnode script …` and `pamnode asset execute`: jobs from a shell."""

import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from pamnode.cli.client import Api, request
from pamnode.cli.output import Json, Yes, confirm, console, show, table
from pamnode.cli.refs import resolve_asset

jobs_app = typer.Typer(help="Reports > Jobs.", no_args_is_help=True)
script_app = typer.Typer(help="Management > Scripts.", no_args_is_help=True)

# Every state a job can be in, in the order the progress display names them.
STATES = ["running", "dispatched", "queued", "succeeded", "failed", "timed_out", "cancelled"]
FINISHED = {"succeeded", "failed", "cancelled", "timed_out"}
UNSUCCESSFUL = ["failed", "timed_out", "cancelled"]
# The states a batch's jobs are counted in, ends first; the rest of the batch is queued.
COUNTED = ["succeeded", *UNSUCCESSFUL, "running", "dispatched"]
JOB_COLUMNS = ["id", "state", "task", "asset_name", "node_signature", "peer_node", "created_at"]

# Seconds between two looks at the jobs being followed.
POLL_S = 1.0
# Without a terminal: a line when the counts changed, at most this often …
PLAIN_EVERY_S = 5.0
# … and at least this often, so that a log shows the command is still waiting.
PLAIN_QUIET_S = 60.0
# Unsuccessful jobs a large batch's summary names; the rest are one command away.
SHOWN_FAILURES = 20
# The API's largest page.
PAGE = 1000
# Lines around a batch's table (its borders and header, the summary, the next prompt).
TABLE_MARGIN = 6

Counts = dict[str, int]


def execute(
    asset: Annotated[str, typer.Argument(help="Asset or container: its id, its path or its name.")],
    task: Annotated[str, typer.Argument(help="unix-status-check, windows-status-check, script")],
    script: Annotated[
        str | None, typer.Option(help="Script name or id, for the task 'script'.")
    ] = None,
    timeout: Annotated[int, typer.Option(help="Seconds before the job is stopped.")] = 300,
    wait: Annotated[bool, typer.Option("--wait", help="Follow the jobs until they end.")] = False,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Print the jobs as JSON and nothing else: as started, or with --wait as they "
            "ended (the progress then goes to stderr).",
        ),
    ] = False,
) -> None:
    """Execute a task on an asset, or on every asset below a container."""
    body = {"task": task, "script": script, "timeout_s": timeout}
    started = request("POST", f"assets/{resolve_asset(asset)}/execute", body=body)
    if started["skipped"]:
        typer.echo(f"skipped (task does not apply): {', '.join(started['skipped'])}")
    jobs: list[dict[str, Any]] = started["jobs"]
    batch_id: str | None = started["batch_id"]
    if as_json:
        _execute_as_json(started, wait)
        return
    if not wait:
        if batch_id is None or len(jobs) + TABLE_MARGIN <= console.height:
            table(jobs, JOB_COLUMNS)
        else:
            typer.echo(f"{len(jobs):,} jobs started in batch {batch_id}")
        if batch_id is not None:
            typer.echo(f"follow them with `{_list_command(batch_id)}`")
        return
    with Api() as api:
        if batch_id is None:
            counts = _follow_job(api, jobs[0]["id"])
        else:
            counts = _follow_batch(api, batch_id, jobs)
    if counts.get("succeeded", 0) != len(jobs):
        raise typer.Exit(1)


def _execute_as_json(started: dict[str, Any], wait: bool) -> None:
    """The API's answer as JSON; with `wait`, the jobs as they ended (progress on stderr)."""
    if not wait:
        show(started, as_json=True)
        return
    jobs, batch_id = started["jobs"], started["batch_id"]
    with Api() as api:
        if batch_id is None:
            ended = [_followed(api, jobs[0]["id"], stderr=True)[1]]
        else:
            total, resume = len(jobs), _list_command(batch_id)
            _follow(_batch_counts(api, batch_id, total), total, resume, stderr=True)
            ended = _batch_jobs(api, batch_id, None, len(jobs))
    show({"batch_id": batch_id, "jobs": ended}, as_json=True)
    if any(job["state"] != "succeeded" for job in ended):
        raise typer.Exit(1)


def _followed(api: Api, job_id: str, stderr: bool = False) -> tuple[Counts, dict[str, Any]]:
    """Follow one job (no batch) by its id to its end: its counts and its details then."""
    latest: dict[str, Any] = {}

    def poll() -> Counts:
        latest.update(api.request("GET", f"jobs/{job_id}"))
        return {latest["state"]: 1}

    return _follow(poll, 1, f"pamnode jobs show {job_id}", stderr), latest


def _follow_job(api: Api, job_id: str) -> Counts:
    """A single job (no batch) is followed by its id; its details are shown at its end."""
    counts, latest = _followed(api, job_id)
    table([latest], _columns([latest]))
    show(latest)
    return counts


def _follow_batch(api: Api, batch_id: str, started: list[dict[str, Any]]) -> Counts:
    """A batch is followed by counting its jobs in each state (one small page per state,
    whose total is the count), so a turn costs the same for 3 jobs or 2,000."""
    total = len(started)
    counts = _follow(_batch_counts(api, batch_id, total), total, _list_command(batch_id))
    if total + TABLE_MARGIN <= console.height:
        # Small enough for a screen: a row per job, in the order they were started.
        order = {job["id"]: index for index, job in enumerate(started)}
        rows = _batch_jobs(api, batch_id, None, total)
        rows.sort(key=lambda job: order.get(job["id"], total))
        table(rows, _columns(rows))
        typer.echo(_summary(batch_id, total, counts))
    else:
        typer.echo(_summary(batch_id, total, counts))
        _show_failures(api, batch_id, counts)
    return counts


def _batch_counts(api: Api, batch_id: str, total: int) -> Callable[[], Counts]:
    """A poll of the batch's jobs by state."""

    def poll() -> Counts:
        # Jobs move one way (queued, dispatched, running, an end) while the states are
        # counted one after the other: counted from the end backwards, a job that moves
        # meanwhile is missed rather than counted twice, and those missed are shown as queued
        # until the next turn, so that the counts always add up to the batch.
        counts = {state: _count(api, batch_id, state) for state in COUNTED}
        counts["queued"] = max(0, total - sum(counts.values()))
        return counts

    return poll


def _count(api: Api, batch_id: str, state: str) -> int:
    params = {"batch_id": batch_id, "state": state, "limit": 1}
    return int(api.request("GET", "jobs", params=params)["total"])


def _batch_jobs(api: Api, batch_id: str, state: str | None, wanted: int) -> list[dict[str, Any]]:
    """Up to `wanted` jobs of the batch (in `state`, if given), a page at a time."""
    rows: list[dict[str, Any]] = []
    while len(rows) < wanted:
        params: dict[str, Any] = {
            "batch_id": batch_id,
            "limit": min(PAGE, wanted - len(rows)),
            "offset": len(rows),
        }
        if state is not None:
            params["state"] = state
        page = api.request("GET", "jobs", params=params)["jobs"]
        rows.extend(page)
        if not page:
            break
    return rows


def _follow(poll: Callable[[], Counts], total: int, resume: str, stderr: bool = False) -> Counts:
    """Look at the jobs until every one has ended: a progress bar on a terminal, a plain line
    now and then otherwise (on stderr with `stderr`, when stdout is for JSON). Ctrl-C stops
    following, not the jobs."""
    screen = Console(stderr=True) if stderr else console
    try:
        if screen.is_terminal:
            return _follow_live(poll, total, screen)
        return _follow_plain(poll, total, stderr)
    except KeyboardInterrupt:
        typer.echo(
            f"\nstopped following: the jobs continue on the node; follow them with `{resume}`",
            err=True,
        )
        raise typer.Exit(130) from None


def _follow_live(poll: Callable[[], Counts], total: int, screen: Console) -> Counts:
    columns = (
        TextColumn("jobs"),
        BarColumn(),
        TextColumn("{task.completed:,.0f}/{task.total:,.0f} finished"),
        TimeElapsedColumn(),
        TextColumn("{task.fields[states]}"),
    )
    with Progress(*columns, console=screen, transient=True) as progress:
        bar = progress.add_task("jobs", total=total, states="")
        while True:
            counts = poll()
            done = _finished(counts)
            progress.update(bar, completed=done, states=_spelled(counts))
            if done >= total:
                return counts
            time.sleep(POLL_S)


def _follow_plain(poll: Callable[[], Counts], total: int, stderr: bool) -> Counts:
    said, said_at = "", float("-inf")
    while True:
        counts = poll()
        done = _finished(counts)
        if done >= total:
            return counts
        line = f"{done:,}/{total:,} finished · {_spelled(counts)}"
        now = time.monotonic()
        if (line != said and now - said_at >= PLAIN_EVERY_S) or now - said_at >= PLAIN_QUIET_S:
            typer.echo(line, err=stderr)
            said, said_at = line, now
        time.sleep(POLL_S)


def _finished(counts: Counts) -> int:
    return sum(number for state, number in counts.items() if state in FINISHED)


def _spelled(counts: Counts) -> str:
    """`running 50 · queued 1,900 · failed 3`: the states that hold any job."""
    return " · ".join(
        f"{state.replace('_', ' ')} {counts[state]:,}" for state in STATES if counts.get(state)
    )


def _columns(rows: list[dict[str, Any]]) -> list[str]:
    # The error code earns a column only when some job has one.
    failed = any(row.get("error_code") for row in rows)
    return [*JOB_COLUMNS, "error_code"] if failed else JOB_COLUMNS


def _summary(batch_id: str, total: int, counts: Counts) -> str:
    return f"{total:,} jobs of batch {batch_id}: {_spelled(counts)}"


def _show_failures(api: Api, batch_id: str, counts: Counts) -> None:
    """The first unsuccessful jobs by asset name and error code, and how to list them all."""
    rows: list[dict[str, Any]] = []
    for state in UNSUCCESSFUL:
        wanted = min(counts.get(state, 0), SHOWN_FAILURES - len(rows))
        if wanted > 0:
            rows.extend(_batch_jobs(api, batch_id, state, wanted))
    if not rows:
        return
    typer.echo("did not succeed:")
    width = max(len(row["asset_name"]) for row in rows)
    for row in rows:
        reason = " ".join(row["error"].split())
        reason = reason if len(reason) <= 100 else reason[:99] + "…"
        code = row["error_code"] or "-"
        typer.echo(f"  {row['asset_name']:<{width}}  {row['state']:<9}  {code}  {reason}".rstrip())
    unsuccessful = sum(counts.get(state, 0) for state in UNSUCCESSFUL)
    if unsuccessful > len(rows):
        typer.echo(f"… and {unsuccessful - len(rows):,} more. To list them all:")
    else:
        typer.echo("To list them:")
    for state in UNSUCCESSFUL:
        number = counts.get(state, 0)
        if number:
            more = f"  (then --offset {PAGE}, {2 * PAGE}, …)" if number > PAGE else ""
            typer.echo(f"  {_list_command(batch_id, state, min(number, PAGE))}{more}")


def _list_command(batch_id: str, state: str | None = None, limit: int | None = None) -> str:
    command = f"pamnode jobs list --batch {batch_id}"
    if state is not None:
        command += f" --state {state}"
    if limit is not None and limit > 50:
        command += f" --limit {limit}"
    return command


@jobs_app.command("list")
def list_jobs(
    asset: Annotated[
        str | None, typer.Option(help="Only the jobs on this asset (id, path or name).")
    ] = None,
    state: Annotated[
        str | None, typer.Option(help=f"Only the jobs in this state: {', '.join(STATES)}.")
    ] = None,
    task: Annotated[str | None, typer.Option(help="Only the jobs of this task.")] = None,
    node: Annotated[str | None, typer.Option(help="Node name or node signature.")] = None,
    batch: Annotated[
        str | None, typer.Option(help="Batch id: the jobs of one execution on a container.")
    ] = None,
    limit: Annotated[int, typer.Option(help="At most this many jobs (up to 1000).")] = 50,
    offset: Annotated[int, typer.Option(help="Skip this many jobs first (newest first).")] = 0,
    as_json: Json = False,
) -> None:
    """Reports > Jobs: the newest jobs first, filtered."""
    params = {
        "asset_id": resolve_asset(asset) if asset else None,
        "state": state,
        "task": task,
        "node": node,
        "batch_id": batch,
        "limit": limit,
        "offset": offset or None,
    }
    page = request("GET", "jobs", params={k: v for k, v in params.items() if v is not None})
    table(page["jobs"], JOB_COLUMNS, as_json, page)
    if as_json:
        return
    first, last = offset + 1, offset + len(page["jobs"])
    shown = f"{first:,} to {last:,}" if offset and page["jobs"] else f"{len(page['jobs']):,}"
    more = "more than " if page.get("total_capped") else ""
    typer.echo(f"{shown} of {more}{page['total']:,} jobs")


JobId = Annotated[str, typer.Argument(help="The job's id (jobs have no name).")]


@jobs_app.command("show")
def show_job(job_id: JobId, as_json: Json = False) -> None:
    """Job details, with its node signature and every attempt."""
    show(request("GET", f"jobs/{job_id}"), as_json)


@jobs_app.command("cancel")
def cancel_job(job_id: JobId, yes: Yes = False, as_json: Json = False) -> None:
    """Cancel a job that has not ended (on its peer node too)."""
    confirm(yes, f"Cancel job {job_id}?")
    show(request("POST", f"jobs/{job_id}/cancel"), as_json)


@script_app.command("add")
def add_script(
    name: Annotated[str, typer.Argument(help="Name, unique in the site.")],
    file: Annotated[Path, typer.Option(help="The script body.", exists=True)],
    type: Annotated[str, typer.Option(help="shell or powershell.")] = "shell",
    description: Annotated[str, typer.Option(help="Free text.")] = "",
    as_json: Json = False,
) -> None:
    """Add a script for the task 'script'."""
    body = {"name": name, "type": type, "body": file.read_text(), "description": description}
    show(request("POST", "scripts", body=body), as_json)


@script_app.command("list")
def list_scripts(as_json: Json = False) -> None:
    """The site's scripts."""
    table(request("GET", "scripts"), ["id", "name", "type", "description", "updated_at"], as_json)


# The API takes a script's name or its id.
ScriptRef = Annotated[str, typer.Argument(help="The script: its name or id.")]


@script_app.command("show")
def show_script(name: ScriptRef, as_json: Json = False) -> None:
    """A script with its body."""
    show(request("GET", f"scripts/{name}"), as_json)


@script_app.command("rm")
def rm_script(name: ScriptRef, yes: Yes = False) -> None:
    """Delete a script."""
    confirm(yes, f"Delete script '{name}'?")
    request("DELETE", f"scripts/{name}")
    typer.echo(f"script '{name}' deleted")
