"""Main node peak RSS with 10,000 queued jobs: one Execute on a container of N Unix hosts.

    .venv/bin/python -m bench.queued [--n 10000] [--parallel P] [--endpoints 4]
        [--database sqlite|postgresql] [--timeout 3600] [--out docs/benchmarks.md] [--keep]

Run it as a module from the repository root. Needs root (each
OpenSSH sshd gets its own throwaway Unix user). Everything started here is stopped at the end,
also on error. The table is printed and written to the section of docs/benchmarks.md for this
database and N; a failed run is recorded there as failed, with the reason.

What runs: a real main node (`pamnode serve`, no peers) on its default SQLite file or on a
throwaway PostgreSQL cluster (the test suite's), and `--endpoints` real OpenSSH sshd on
127.0.0.1 (bench/jobs.py's, with room for many connections). N unix-host assets are made in one
container through the API, spread over the servers, each with its server's user and ed25519
key (bench/common.py's `create_fleet`, as bench/jobs.py makes them). Then one `POST
assets/{container}/execute` of the Unix Status Check: N jobs, all queued at once, run by the
node's job slots (`PAMNODE_JOB_CONCURRENCY`: the node's default, or `--parallel`). Each job is
the first contact with its asset, so it also pins the host key (a database write).

What is measured, on the main node's process (`/proc/PID/status`; the kernel's kB are KiB):
- idle RSS: VmRSS with the N assets made, just before Execute, right after its peak was reset
  to it (`/proc/PID/clear_refs`, "5").
- peak RSS: VmHWM once every job has ended: the most memory the process held resident from
  that reset on, i.e. while making the N jobs, answering Execute with all of them, and running
  them. VmRSS is also sampled every SAMPLE_S (a thread of this process), which shows when; the
  kernel records the high-water mark only at some points (when memory is unmapped), so a
  sample can exceed VmHWM a little, and then the peak shown is that sample (the notes give both).
- wall: from just before Execute until the batch has no unfinished job. Polled every POLL_S
  cheaply: the `total` of one-row pages of `GET jobs?batch_id=&state=` (the queued ones while
  any are queued, then those dispatched or running), never the N jobs themselves.
- jobs/s: N / wall. Every job must have succeeded (the `total` of state=succeeded is N).
- notes: how long Execute took to answer and how big its answer was, the sampled VmRSS, CPU
  seconds of the main and of sshd (with its sessions), how long making the assets took.

Target (issue 13): main node peak RSS with 10,000 queued jobs ≤ 300 MB, i.e. 300 * 10^6
bytes = 286.1 MiB; judged on VmHWM, and only in a run with N = 10,000.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench.common import (
    TENANT,
    BenchError,
    Report,
    Section,
    command_line,
    count_jobs,
    create_fleet,
    create_tenant,
    expect,
    free_lines,
    is_root,
    machine,
    node_pid,
    peak_mib,
    report_options,
    reset_peak,
    rss_mib,
    run_recorded,
    unfinished_jobs,
)
from bench.jobs import CpuMeter, Lab, cpu_note, log_findings
from pamnode.app.settings import Settings
from pamnode.core.ssh_library import asyncssh

# The target: 300 MB (decimal megabytes), compared in MiB as /proc reports them.
TARGET_MB = 300
TARGET_MIB = TARGET_MB * 1e6 / 2**20
TARGET_N = 10_000
SAMPLE_S = 0.5
POLL_S = 0.5
PROGRESS_S = 10.0
# Jobs end one after another; this long without any change means the run is stuck.
STALL_S = 120.0
# Execute makes N job rows and answers with all of them.
EXECUTE_TIMEOUT_S = 600.0
STATES = ("queued", "dispatched", "running", "succeeded", "failed", "cancelled", "timed_out")


class RssSampler:
    """VmRSS of a process every `every` seconds, in a thread, until `stop`."""

    def __init__(self, pid: int, every: float) -> None:
        self.pid = pid
        self.every = every
        self.samples: list[tuple[float, float]] = []  # (seconds since start, MiB)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss sampler", daemon=True)
        self._t0 = 0.0

    def start(self) -> None:
        self._t0 = time.monotonic()
        self._thread.start()

    def _run(self) -> None:
        while True:
            try:
                self.samples.append((time.monotonic() - self._t0, rss_mib(self.pid)))
            except (OSError, BenchError):
                return  # the process is gone; the run will say why
            if self._stop.wait(self.every):
                return

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def highest(self) -> tuple[float, float]:
        """(when, MiB) of the largest sample."""
        return max(self.samples, key=lambda sample: sample[1], default=(0.0, 0.0))


@dataclass
class QueueResult:
    database: str
    n: int
    parallel: int
    idle_mib: float
    peak_mib: float
    wall_s: float
    notes: list[str] = field(default_factory=list)

    @property
    def per_s(self) -> float:
        return self.n / self.wall_s


HEADER = [
    "database",
    "jobs",
    "idle RSS MiB",
    "peak RSS (VmHWM) MiB",
    "peak ÷ idle",
    "wall s",
    "jobs/s",
]


def rows(result: QueueResult) -> list[list[str]]:
    return [
        [
            result.database,
            str(result.n),
            f"{result.idle_mib:.1f}",
            f"{result.peak_mib:.1f}",
            f"{result.peak_mib / result.idle_mib:.2f}x",
            f"{result.wall_s:.1f}",
            f"{result.per_s:.1f}",
        ]
    ]


def verdict(result: QueueResult) -> list[str]:
    peak = f"{result.peak_mib:.1f} MiB = {result.peak_mib * 2**20 / 1e6:.0f} MB"
    target = (
        f"Main node peak RSS with {TARGET_N:,} queued jobs ≤ {TARGET_MB} MB "
        f"(= {TARGET_MIB:.1f} MiB; MB = 10^6 bytes, MiB = 2^20 bytes)"
    )
    if result.n != TARGET_N:
        return [f"- {target}: not judged, this run queued {result.n:,} jobs ({peak})."]
    met = "met" if result.peak_mib <= TARGET_MIB else "MISSED"
    return [f"- {target}: {met} ({peak})."]


def job_concurrency(args: argparse.Namespace) -> int:
    """The job slots the main runs with: --parallel, or what the node reads itself."""
    if args.parallel is not None:
        return int(args.parallel)
    from_env = os.environ.get("PAMNODE_JOB_CONCURRENCY")
    if from_env:
        return int(from_env)
    return int(Settings.model_fields["job_concurrency"].default)


def state_counts(client: httpx.Client, batch_id: str) -> dict[str, int]:
    counts = {state: count_jobs(client, batch_id, state) for state in STATES}
    return {state: count for state, count in counts.items() if count}


def wait_for_batch(
    client: httpx.Client, batch_id: str, n: int, pid: int, timeout_s: float, t0: float
) -> None:
    """Poll until no job of the batch is unfinished; BenchError on a stall or the timeout."""
    left, changed_at, shown_at = -1, time.monotonic(), time.monotonic()
    print(f"waiting for {n} jobs (counted: the queued ones while any are queued, then the rest)")
    while True:
        now = unfinished_jobs(client, batch_id)
        if now == 0:
            return
        if now != left:
            left, changed_at = now, time.monotonic()
        if time.monotonic() - shown_at >= PROGRESS_S:
            shown_at = time.monotonic()
            elapsed = shown_at - t0
            print(f"  {elapsed:5.0f} s: {left} left, main VmRSS {rss_mib(pid):.0f} MiB", flush=True)
        stalled = time.monotonic() - changed_at > STALL_S
        if stalled or time.monotonic() - t0 > timeout_s:
            why = f"no job changed state for {STALL_S:.0f} s" if stalled else "run timeout"
            if not stalled:
                why += f" ({timeout_s:.0f} s, --timeout)"
            states = state_counts(client, batch_id)
            raise BenchError(f"{why}; the batch's states: {states}")
        time.sleep(POLL_S)


def bench(args: argparse.Namespace, lab: Lab) -> QueueResult:
    if args.parallel is not None:
        # Read by the node at start: its job slots.
        os.environ["PAMNODE_JOB_CONCURRENCY"] = str(args.parallel)
    parallel = job_concurrency(args)
    print(f"starting {args.endpoints} sshd and a main node on {args.database} in {lab.work}")
    servers = [lab.sshd() for _ in range(args.endpoints)]
    main = lab.node("main")
    pid = node_pid(main)
    admin = create_tenant(main)
    with main.client(TENANT, token=admin) as client:
        client.timeout = httpx.Timeout(120.0)
        print(f"creating {args.n} assets on the main")
        t_assets = time.monotonic()
        fleet_id = create_fleet(client, servers, args.n).id
        assets_s = time.monotonic() - t_assets

        reset_peak(pid)
        idle = rss_mib(pid)
        sampler = RssSampler(pid, SAMPLE_S)
        meter = CpuMeter({"main": pid}, servers)
        print(f"idle: main VmRSS {idle:.1f} MiB; executing {args.n} jobs, {parallel} at once")
        sampler.start()
        try:
            t0 = time.monotonic()
            answer = client.post(
                f"assets/{fleet_id}/execute",
                json={"task": "unix-status-check"},
                timeout=EXECUTE_TIMEOUT_S,
            )
            answered_s = time.monotonic() - t0
            started = expect(answer, 202)
            if len(started["jobs"]) != args.n:
                raise BenchError(f"execute started {len(started['jobs'])} jobs, not {args.n}")
            print(f"execute answered in {answered_s:.1f} s ({len(answer.content) / 1e6:.1f} MB)")
            batch_id = started["batch_id"]
            wait_for_batch(client, batch_id, args.n, pid, args.timeout, t0)
            wall = time.monotonic() - t0
        finally:
            sampler.stop()
        hwm = peak_mib(pid)
        end = rss_mib(pid)
        used = meter.used()
        succeeded = count_jobs(client, batch_id, "succeeded")
        if succeeded != args.n:
            states = state_counts(client, batch_id)
            params: dict[str, str | int] = {"batch_id": batch_id, "state": "failed", "limit": 5}
            failed = expect(client.get("jobs", params=params), 200)["jobs"]
            sample = [(j["asset_name"], j["error_code"], (j["error"] or "")[:200]) for j in failed]
            raise BenchError(
                f"{succeeded} of {args.n} jobs succeeded; states {states}; failed e.g. {sample}"
            )

    when, highest = sampler.highest()
    peak = max(hwm, highest)
    notes = [
        f"{parallel} job slots (PAMNODE_JOB_CONCURRENCY)",
        f"execute answered in {answered_s:.1f} s with {len(answer.content) / 1e6:.1f} MB",
        f"VmHWM {hwm:.1f} MiB; VmRSS sampled every {SAMPLE_S:g} s ({len(sampler.samples)} "
        f"samples): highest {highest:.1f} MiB at {when:.1f} s after Execute, {end:.1f} MiB once "
        "all had ended",
        # No job ran before the idle reading: the growth includes the job path's first use
        # (its modules, asyncssh's, the first connections), not only the N jobs.
        f"peak - idle: {peak - idle:.1f} MiB (no job had run before: the job path's first use "
        "included)",
        cpu_note(used),
        f"making the {args.n} assets took {assets_s:.0f} s (not measured)",
    ]
    return QueueResult(args.database, args.n, parallel, idle, peak, wall, notes)


def section(args: argparse.Namespace) -> Section:
    """This database's and N's section of docs/benchmarks.md; the machine is described as it
    is before the run (the commit and the load it started with)."""
    about = (
        f"One Execute of the Unix Status Check on a container of {args.n:,} unix-host assets "
        f"over {args.endpoints} real OpenSSH sshd on 127.0.0.1 (ed25519 key auth): {args.n:,} "
        f"jobs queued at once on one main node on {args.database} (no peers). Idle RSS = the "
        "main's VmRSS just before Execute, with the assets made; peak RSS = its VmHWM from "
        "then until every job had ended (or the highest VmRSS sampled every "
        f"{SAMPLE_S:g} s, if higher); MiB = 2^20 bytes; wall = from Execute until no job "
        "was unfinished."
    )
    return Section(
        out=args.out,
        key=f"bench/queued.py --database {args.database} --n {args.n}",
        title=f"## Main node memory with {args.n:,} queued jobs on {args.database} "
        "(`bench/queued.py`)",
        command=command_line("bench.queued"),
        machine=[*machine(f"asyncssh {asyncssh.__version__}"), *free_lines()],
        about=about,
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=TARGET_N, help=f"jobs queued ({TARGET_N})")
    parser.add_argument(
        "--parallel",
        type=int,
        default=None,
        help="PAMNODE_JOB_CONCURRENCY of the main (the node's default)",
    )
    parser.add_argument("--endpoints", type=int, default=4, help="sshd servers (4)")
    parser.add_argument(
        "--database",
        choices=["sqlite", "postgresql"],
        default="sqlite",
        help="the main's database: its default SQLite file, or a throwaway PostgreSQL (sqlite)",
    )
    parser.add_argument(
        "--timeout", type=float, default=3600.0, help="seconds the jobs may take in all (3600)"
    )
    report_options(parser)
    args = parser.parse_args(argv)
    if args.n < 1 or args.endpoints < 1 or (args.parallel is not None and args.parallel < 1):
        parser.error("--n, --parallel and --endpoints must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not is_root("bench/queued.py", "each sshd gets its own Unix user"):
        return 2
    recorded = section(args)
    started = time.monotonic()
    lab = Lab(Path(tempfile.mkdtemp(prefix="pamnode-bench-queued-")), args.database)

    def work() -> Report:
        result = bench(args, lab)
        return Report(HEADER, rows(result), verdict(result), result.notes)

    ok = run_recorded(lab, args.keep, work, recorded, lambda: log_findings(lab))
    print(f"{time.monotonic() - started:.0f} s in all")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
