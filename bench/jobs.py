"""N Unix Status Checks against real sshd endpoints: bare asyncssh (no pamnode), pamnode
direct, through one peer, through two peers, and `ansible` ad-hoc, with the same command and
the same parallelism, all in one run.

    .venv/bin/python -m bench.jobs [--n 200] [--parallel 50] [--endpoints 4] [--rounds 1]
        [--modes bare,direct,1peer,2peers,1peerlink] [--ansible-modules raw,shell]
        [--database sqlite|postgresql] [--mains 1|2] [--out docs/benchmarks.md]
        [--py-spy DIR] [--keep]

Run it as a module from the repository root (it imports `bench.common`). Needs root (each
OpenSSH sshd gets its own throwaway Unix user) and, for the ansible modes, `ansible-core`
(`pip install -e '.[bench]'`). Everything started here is stopped at the end, also on error.
Nodes are started only for the pamnode modes chosen with `--modes` (peers only for 1peer and
2peers); `--ansible-modules ''` runs no ansible. The table is printed and written to the
section of docs/benchmarks.md for this database and N (a run with other modes but the same
database and N replaces it; a run with --mains 2 has a section of its own); a failed run is
recorded there as failed, with the reason.

Modes (each with one unrecorded warm-up batch first; with --rounds, the round with the median
wall is shown):
- bare: no pamnode at all. This process runs the same command line (COMMAND, the one pamnode's
  SSH executor runs) with asyncssh, the library that executor uses, one SSH connection per job
  as pamnode opens one per job, at most --parallel at once (an asyncio.Semaphore), to the same
  endpoints with the same users and private keys (each imported once), host keys checked
  against the servers' real keys (an in-memory known_hosts), on the event loop the nodes run
  on (uvloop when it is installed, as uvicorn picks it). What SSH itself costs at this
  parallelism: the floor for every other mode.
- direct: the main node runs the checks itself.
- 1 peer, 2 peers: the container is assigned to peer `a` (and `b`); the main delegates.
- 1 peer (link): the container is assigned to peer `l`, which dials the main (connection mode
  peer_dials, docs/peers.md): enrolled with a one-time code, reached only through its link
  (its URL names no reachable host), the same jobs as 1 peer carried in the link's streams.
- 1 peer on 2 mains, 2 peers on 2 mains (--mains 2, PostgreSQL only): the same, with a second
  main node beside the first, as docs/scale.md runs several: `main-b`, a `pamnode serve` with
  the same --database-url and peers, its own node name and data directory, and the same key
  ring file (PAMNODE_KEYRING_FILE, set on both mains from the start). The container's N
  assets are then split in two sub-containers of N/2 (made so from the start, for every
  mode), and the batch is two executes sent at the same time, one sub-container to each main:
  the same N jobs as with one main (one execute of the whole container), and the same job
  slots per main (--parallel each, so twice as many jobs can wait on the peers, which still
  run at most --parallel each). Either main takes queued jobs whenever it has a free slot,
  whoever queued them. main-b runs only for these batches: it is started before each, warmed
  up with one unrecorded batch of its own, and stopped after it, so that it takes no job of
  another mode.
- ansible -m raw (the same command line over one ssh connection per host, the fair
  comparison) and ansible -m shell (a Python module on the host), `-f` = --parallel.

What is measured, per mode:
- wall: from just before the batch starts until every job is known finished (pamnode: `POST
  assets/{container}/execute`, then every POLL_S the count of the batch's unfinished jobs
  (`GET jobs?batch_id=&state=&limit=1`, its `total`), then the batch read once; bare: the
  first connection attempt to the last job's end; ansible: the `ansible` process from start
  to exit).
- jobs/s: N / wall.
- latency: pamnode: `finished_at - created_at` of each job (for a delegated job finished_at is
  the peer's); bare: from the start of the batch until that job's result (its connection
  closed); ansible: when the controller got the host's result (callback in
  bench/ansible_callbacks) minus the `ansible` start.
- ratios: wall ÷ bare and wall ÷ direct (the wall of that mode in the same run and round),
  and jobs/s ÷ bare, the throughput target's measure.
- main peak: VmHWM of the main node's process during that mode (reset before each mode through
  /proc/PID/clear_refs); with two mains the higher, and each in the table of one and two mains.
  The peers' peak likewise.
- jobs/s ÷ 1 main (--mains 2): jobs/s with two mains / jobs/s of the same mode with one, in
  the same run, each the round with the median wall.
- checks: every job succeeded (bare: exit status 0 and the status script's last section,
  `--pamnode-section:user`, in its output; ansible: every host ok and the section in the log),
  and ran where the mode says (pamnode: the node that signed it, and the main that claimed it,
  `claimed_by`: one of the mode's mains); otherwise the run fails. How many jobs each main
  claimed is shown (with two mains, in every round), not judged.
- notes: CPU seconds of each process in the mode (/proc/PID/stat; sshd with its reaped
  sessions; postgres: the PostgreSQL server with its backends, in the pamnode modes on it;
  bare: this process, getrusage(RUSAGE_SELF); ansible with its workers and ssh clients) and
  the median phases of a job.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import functools
import json
import os
import resource
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bench.common import (
    ADMIN_LOGIN,
    ADMIN_PASSWORD,
    TENANT,
    BenchError,
    PySpy,
    add_linked_peer,
    add_trusted_peer,
    batch_jobs,
    command_line,
    cpu_s,
    create_fleet,
    create_tenant,
    expect,
    failed_outcome,
    free_lines,
    is_root,
    machine,
    markdown_table,
    node_pid,
    peak_mib,
    report_options,
    reset_peak,
    run_in_lab,
    run_section,
    run_text,
    server_cpu_s,
    service_token,
    stop_each,
    text_table,
    unfinished_jobs,
    write_section,
)
from pamnode.core.ssh_library import asyncssh
from pamnode.executors.ssh import STATUS_SCRIPT
from pamnode.lab.node_process import NodeProcess
from pamnode.lab.ports import free_port
from pamnode.lab.sshd import SshServer

CALLBACKS = Path(__file__).resolve().parent / "ansible_callbacks"
FINISHED = {"succeeded", "failed", "cancelled", "timed_out"}
POLL_S = 0.2
RUN_TIMEOUT_S = 900.0
# Every job of a batch normally ends within seconds of the previous one.
STALL_S = 60.0
# The same command line as pamnode's SSH executor runs (pamnode/executors/ssh.py).
COMMAND = f"exec sh -c {shlex.quote(STATUS_SCRIPT)} 2>&1"
# What every status check prints last: a job whose output lacks it did not run the script.
LAST_SECTION = "--pamnode-section:user"
PEERS = ("a", "b")
# The peer that dials the main (1peerlink).
LINKED = "l"
# --modes: the option's names, the label in the table, and the peers each needs.
MODES = {
    "bare": "bare",
    "direct": "direct",
    "1peer": "1 peer",
    "2peers": "2 peers",
    "1peerlink": "1 peer (link)",
}
MODE_PEERS: dict[str, tuple[str, ...]] = {
    "direct": (),
    "1peer": ("a",),
    "2peers": PEERS,
    "1peerlink": (LINKED,),
}
# --mains 2: the delegated modes also run with a second main, this one.
DELEGATED = ("1peer", "2peers")
SECOND_MAIN = "main-b"
# bare: the bounds of a job in pamnode (its SSH executor's connect timeout, Execute's default
# time budget); a status check takes well under a second of either.
BARE_CONNECT_TIMEOUT_S = 15.0
BARE_RUN_TIMEOUT_S = 300.0


def two_mains(mode: str) -> str:
    """The label of a delegated --modes name run with two mains."""
    return f"{MODES[mode]} on 2 mains"


# --- real components ------------------------------------------------------------------------


class BenchSshServer(SshServer):
    """SshServer with room for many connections at once.

    sshd's default MaxStartups 10:30:100 starts dropping unauthenticated connections at random
    past 10 per server; with 50 jobs over 4 servers that would fail jobs for pamnode and ansible
    alike, and measure sshd's throttle rather than either client.
    """

    def _write_files(self) -> None:
        super()._write_files()
        assert self.dir is not None
        with (self.dir / "sshd_config").open("a") as config:
            config.write("MaxStartups 1000\nMaxSessions 100\n")


def check_peer(client: httpx.Client, name: str, peer_id: str) -> None:
    check = expect(client.post(f"peer-nodes/{peer_id}/test-connection"), 200)
    if not check.get("ok"):
        raise BenchError(f"peer {name} fails Test Connection: {check}")


# --- CPU --------------------------------------------------------------------------------------


class CpuMeter:
    """CPU seconds spent by the nodes, by the sshd servers (with their sessions) and by the
    PostgreSQL server the nodes use (`postgres`: its postmaster's PID) in a run."""

    def __init__(
        self, nodes: dict[str, int], servers: list[SshServer], postgres: int | None = None
    ) -> None:
        self.nodes = nodes
        self.sshd = [s.proc.pid for s in servers if s.proc is not None]
        self.postgres = postgres
        self.start = self._now()

    def _now(self) -> dict[str, float]:
        now = {name: cpu_s(pid) for name, pid in self.nodes.items()}
        # Each connection's sshd processes are reaped by the listener, and counted there.
        now["sshd"] = sum(cpu_s(pid, children=True) for pid in self.sshd)
        if self.postgres is not None:
            now["postgres"] = server_cpu_s(self.postgres)
        return now

    def used(self) -> dict[str, float]:
        end = self._now()
        return {name: end[name] - self.start[name] for name in end}


def cpu_note(used: dict[str, float]) -> str:
    parts = ", ".join(f"{name} {value:.1f}" for name, value in used.items())
    return f"CPU s: {parts} (total {sum(used.values()):.1f})"


# --- measurements -----------------------------------------------------------------------------


@dataclass
class Result:
    mode: str
    wall_s: float
    latencies_s: list[float]
    main_peak_mib: float | None
    peer_peak_mib: float | None = None
    notes: list[str] = field(default_factory=list)
    # pamnode modes: each main's peak, how many jobs each main claimed, CPU s per process.
    main_peaks: dict[str, float] = field(default_factory=dict)
    claims: dict[str, int] = field(default_factory=dict)
    cpu: dict[str, float] = field(default_factory=dict)

    @property
    def per_s(self) -> float:
        return len(self.latencies_s) / self.wall_s if self.latencies_s else 0.0

    def pct(self, p: int) -> float | None:
        if not self.latencies_s:
            return None
        if len(self.latencies_s) == 1:
            return self.latencies_s[0]
        return statistics.quantiles(self.latencies_s, n=100, method="inclusive")[p - 1]


def parse_time(value: str) -> datetime:
    when = datetime.fromisoformat(value)
    # Stored as UTC; SQLite hands them back without an offset.
    return when if when.tzinfo else when.replace(tzinfo=UTC)


LOST_JOB = "failed outside its own error handling"


@dataclass(frozen=True)
class Submission:
    """One execute of a mode's batch: on the container `asset_id`, through `node`'s `client`."""

    node: NodeProcess
    client: httpx.Client
    asset_id: str


def _execute(submission: Submission) -> dict[str, Any]:
    t0 = time.monotonic()
    body = {"task": "unix-status-check"}
    started = expect(
        submission.client.post(f"assets/{submission.asset_id}/execute", json=body), 202
    )
    started["answered_s"] = time.monotonic() - t0
    return started


def _submit_and_wait(
    mode: str, submissions: list[Submission], n: int, log_marks: dict[str, int]
) -> tuple[float, list[dict[str, Any]]]:
    """Execute every submission at once (a thread each when there are several), then wait until
    every job of their batches is finished; the slowest execute's answer time and the jobs.
    Each batch is counted and read through the node it was submitted to."""
    if len(submissions) == 1:
        answers = [_execute(submissions[0])]
    else:
        with concurrent.futures.ThreadPoolExecutor(len(submissions)) as pool:
            answers = list(pool.map(_execute, submissions))
    answered_s = max(answer["answered_s"] for answer in answers)
    made = sum(len(answer["jobs"]) for answer in answers)
    if made != n:
        raise BenchError(f"{mode}: execute started {made} jobs, expected {n}")
    batches = [
        (s.client, answer["batch_id"]) for s, answer in zip(submissions, answers, strict=True)
    ]

    def read_jobs() -> list[dict[str, Any]]:
        return [job for client, batch_id in batches for job in batch_jobs(client, batch_id)]

    deadline = time.monotonic() + RUN_TIMEOUT_S
    progress, progress_at = -1, time.monotonic()
    while True:
        # Counting is cheap for the main; reading every job at each poll would not be (at
        # N=2000, two pages of 1,000 jobs five times a second).
        left = sum(unfinished_jobs(client, batch_id) for client, batch_id in batches)
        if left == 0:
            jobs = read_jobs()
            if len(jobs) == n and all(job["state"] in FINISHED for job in jobs):
                return answered_s, jobs
        if left != progress:
            progress, progress_at = left, time.monotonic()
        stalled = time.monotonic() - progress_at > STALL_S
        if stalled or time.monotonic() > deadline:
            jobs = read_jobs()
            states: dict[str, int] = {}
            for job in jobs:
                states[job["state"]] = states.get(job["state"], 0) + 1
            stuck = [job["id"] for job in jobs if job["state"] not in FINISHED][:5]
            mains = {s.node.name: s.node for s in submissions}.values()
            lost = sum(node.log_text()[log_marks[node.name] :].count(LOST_JOB) for node in mains)
            logs = ", ".join(str(node.log_path) for node in mains)
            why = f"no job finished for {STALL_S:.0f} s" if stalled else "run timeout"
            raise BenchError(
                f"{mode}: {why}; states {states}; unfinished e.g. {stuck}; the main logs say "
                f"'{LOST_JOB}' {lost} time(s) in this run (see {logs})"
            )
        time.sleep(POLL_S)


def phase_note(client: httpx.Client, jobs: list[dict[str, Any]]) -> str:
    """Median of each stretch of a job's life, from its details (read after the timed run).

    queued: created -> the main begins its attempt (a job slot, the asset and secrets read);
    to start: -> the job starts running where it runs (for a peer: POST peer/jobs, the
    peer's own queue); run: started -> finished (SSH: connect, authenticate, the script);
    back: finished -> the main ends its attempt (for a peer: the long-poll answer).
    """
    stretches: dict[str, list[float]] = {"queued": [], "to start": [], "run": [], "back": []}
    for job in jobs:
        details = expect(client.get(f"jobs/{job['id']}"), 200)
        (attempt,) = details["attempts"]
        points = [
            details["created_at"],
            attempt["started_at"],
            details["started_at"],
            details["finished_at"],
            attempt["finished_at"],
        ]
        times = [parse_time(point) for point in points]
        for name, start, end in zip(stretches, times, times[1:], strict=False):
            stretches[name].append((end - start).total_seconds() * 1000)
    medians = ", ".join(f"{name} {statistics.median(v):.0f}" for name, v in stretches.items())
    return f"job phases, median ms: {medians}"


def run_pamnode(
    mode: str,
    submissions: list[Submission],
    n: int,
    peers: list[NodeProcess],
    servers: list[SshServer],
    signatures: dict[str, str | None],
    py_spy: Path | None = None,
    postgres: int | None = None,
) -> Result:
    """One batch, made of the submissions' executes; `signatures`: expected node_signature ->
    peer_node; `postgres`: the PID of the nodes' PostgreSQL server, whose CPU is measured too.
    Every job must be claimed by a main it was submitted to; how many each took is a result
    (a main that took none is shown, not a failed run)."""
    mains = list({s.node.name: s.node for s in submissions}.values())
    named = {node.name: node_pid(node) for node in [*mains, *peers]}
    for pid in named.values():
        reset_peak(pid)
    log_marks = {node.name: len(node.log_text()) for node in mains}
    spy = PySpy(py_spy, mode, named)
    meter = CpuMeter(named, servers, postgres)
    try:
        t0 = time.time()
        submitted, jobs = _submit_and_wait(mode, submissions, n, log_marks)
        wall = time.time() - t0
    finally:
        spy.stop()
    used = meter.used()
    main_peaks = {node.name: peak_mib(named[node.name]) for node in mains}
    peer_peak = max((peak_mib(named[peer.name]) for peer in peers), default=None)

    bad = [job for job in jobs if job["state"] != "succeeded"]
    if bad:
        sample = [(j["asset_name"], j["state"], j["error_code"], j["error"][:200]) for j in bad[:5]]
        raise BenchError(f"{mode}: {len(bad)} of {n} jobs did not succeed, e.g. {sample}")
    seen: dict[str, int] = {}
    for job in jobs:
        sig = job["node_signature"]
        if sig not in signatures or job["peer_node"] != signatures[sig]:
            raise BenchError(
                f"{mode}: job {job['id']} ran as {sig!r} (peer {job['peer_node']!r}), "
                f"expected one of {signatures}"
            )
        seen[sig] = seen.get(sig, 0) + 1
    # With a uniform random pick, a batch of 20 misses one of two peers with odds 2**-19.
    if n >= 20 and set(seen) != set(signatures):
        raise BenchError(f"{mode}: expected jobs signed by each of {sorted(signatures)}: {seen}")
    claims = {node.name: 0 for node in mains}
    for job in jobs:
        if job["claimed_by"] not in claims:
            raise BenchError(
                f"{mode}: job {job['id']} claimed by {job['claimed_by']!r}, not by one of "
                f"{sorted(claims)}"
            )
        claims[job["claimed_by"]] += 1
    latencies = [
        (parse_time(job["finished_at"]) - parse_time(job["created_at"])).total_seconds()
        for job in jobs
    ]
    spread = ", ".join(f"{sig}: {count}" for sig, count in sorted(seen.items()))
    notes = [
        f"execute answered in {submitted * 1000:.0f} ms",
        f"signatures {spread}",
        f"claimed by {counts(claims)}",
        cpu_note(used),
        phase_note(submissions[0].client, jobs),
    ]
    return Result(
        mode,
        wall,
        latencies,
        max(main_peaks.values()),
        peer_peak,
        notes,
        main_peaks=main_peaks,
        claims=claims,
        cpu=used,
    )


def counts(values: dict[str, int]) -> str:
    return ", ".join(f"{name} {value}" for name, value in values.items())


@dataclass(frozen=True)
class BareTarget:
    host: str
    port: int
    user: str
    key: asyncssh.SSHKey


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop when it is installed (uvicorn's `loop="auto"` runs the nodes on it), so
    that bare and the nodes run asyncssh on the same kind of event loop; else asyncio's."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def loop_name() -> str:
    factory = loop_factory()
    if factory is None:
        return "asyncio's event loop"
    import uvloop

    return f"uvloop {uvloop.__version__}"


async def _bare_batch(
    targets: list[BareTarget], known_hosts: asyncssh.SSHKnownHosts, parallel: int
) -> tuple[float, list[float], list[str]]:
    """Run COMMAND once per target, at most `parallel` at once; the wall, each job's seconds
    from the start of the batch to its end, and what went wrong (one line per failed job)."""
    gate = asyncio.Semaphore(parallel)
    t0 = time.monotonic()

    async def one(index: int, target: BareTarget) -> float | str:
        where = f"job {index} ({target.user}@{target.host}:{target.port})"
        async with gate:
            try:
                async with asyncssh.connect(
                    target.host,
                    target.port,
                    username=target.user,
                    client_keys=[target.key],
                    known_hosts=known_hosts,
                    # Nothing of this machine's own SSH setup: no agent, no ~/.ssh/config.
                    agent_path=None,
                    config=None,
                    gss_auth=False,
                    gss_kex=False,
                    connect_timeout=BARE_CONNECT_TIMEOUT_S,
                ) as conn:
                    done = await conn.run(
                        COMMAND,
                        stdin=asyncssh.DEVNULL,
                        stderr=asyncssh.STDOUT,
                        encoding="utf-8",
                        errors="replace",
                        timeout=BARE_RUN_TIMEOUT_S,
                    )
            except Exception as exc:
                return f"{where}: {type(exc).__name__}: {exc}"
        finished = time.monotonic() - t0
        output = str(done.stdout or "")
        if done.exit_status != 0 or LAST_SECTION not in output:
            return f"{where}: exit status {done.exit_status}, output ends {output[-200:]!r}"
        return finished

    outcomes = await asyncio.gather(*(one(i, target) for i, target in enumerate(targets)))
    wall = time.monotonic() - t0
    latencies = [o for o in outcomes if isinstance(o, float)]
    failures = [o for o in outcomes if isinstance(o, str)]
    return wall, latencies, failures


def run_bare(servers: list[SshServer], n: int, parallel: int) -> Result:
    """One batch of N checks with asyncssh from this process, no pamnode (see the docstring)."""
    keys = [asyncssh.import_private_key(server.private_key) for server in servers]
    known_hosts = asyncssh.import_known_hosts(
        "".join(f"[{s.address}]:{s.port} {s.host_key_line}\n" for s in servers)
    )
    targets = []
    for i in range(n):
        server = servers[i % len(servers)]
        targets.append(BareTarget(server.address, server.port, server.user, keys[i % len(servers)]))
    meter = CpuMeter({}, servers)
    before = resource.getrusage(resource.RUSAGE_SELF)
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        wall, latencies, failures = runner.run(_bare_batch(targets, known_hosts, parallel))
    after = resource.getrusage(resource.RUSAGE_SELF)
    used = {"bench": (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)}
    used.update(meter.used())
    if failures:
        sample = "\n".join(failures[:5])
        raise BenchError(f"bare: {len(failures)} of {n} jobs failed, e.g.\n{sample}")
    notes = [cpu_note(used), f"asyncssh {asyncssh.__version__} on {loop_name()}"]
    return Result("bare", wall, latencies, None, notes=notes)


def write_ansible_files(
    work: Path, servers: list[SshServer], n: int
) -> tuple[Path, dict[str, str]]:
    """Inventory (N aliases over the servers), their keys, known_hosts, and the environment."""
    keys = []
    known = []
    for index, server in enumerate(servers):
        key = work / f"id_ed25519_{index}"
        fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(server.private_key)
        keys.append(key)
        known.append(f"[{server.address}]:{server.port} {server.host_key_line}\n")
    known_hosts = work / "known_hosts"
    known_hosts.write_text("".join(known))
    lines = ["[fleet]"]
    for i in range(n):
        server = servers[i % len(servers)]
        lines.append(
            f"host-{i:04d} ansible_host={server.address} ansible_port={server.port} "
            f"ansible_user={server.user} "
            f"ansible_ssh_private_key_file={keys[i % len(servers)]}"
        )
    inventory = work / "inventory.ini"
    inventory.write_text("\n".join(lines) + "\n")
    config = work / "ansible.cfg"
    config.write_text("[defaults]\n")
    home = work / "ansible-home"
    env = {
        **os.environ,
        "ANSIBLE_CONFIG": str(config),
        "ANSIBLE_HOME": str(home),
        "ANSIBLE_LOCAL_TEMP": str(home / "tmp"),
        # Host keys are checked, as pamnode pins them: against the servers' real keys.
        "ANSIBLE_HOST_KEY_CHECKING": "True",
        # One connection per host and run, as pamnode opens one per job; ControlPersist would
        # also leave master ssh processes behind after the run.
        "ANSIBLE_SSH_ARGS": (
            f"-o ControlMaster=no -o ControlPersist=no -o UserKnownHostsFile={known_hosts} "
            "-o GlobalKnownHostsFile=/dev/null -o IdentitiesOnly=yes"
        ),
        "ANSIBLE_CALLBACK_PLUGINS": str(CALLBACKS),
        "ANSIBLE_CALLBACKS_ENABLED": "bench_timing",
        "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1",
        "ANSIBLE_STDOUT_CALLBACK": "minimal",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_RETRY_FILES_ENABLED": "False",
    }
    env.pop("SSH_AUTH_SOCK", None)
    return inventory, env


def ansible_binary() -> str:
    found = Path(sys.executable).parent / "ansible"
    if found.exists():
        return str(found)
    which = shutil.which("ansible")
    if which is None:
        raise BenchError("ansible not found: pip install -e '.[bench]' (ansible-core)")
    return which


def run_ansible(
    work: Path,
    inventory: Path,
    env: dict[str, str],
    n: int,
    parallel: int,
    module: str,
    servers: list[SshServer],
) -> Result:
    timing = work / f"ansible-timing-{module}-{time.monotonic_ns()}.jsonl"
    log = work / f"ansible-{module}.log"
    args = [COMMAND] if module == "raw" else [STATUS_SCRIPT]
    extra = [] if module == "raw" else ["-e", "ansible_python_interpreter=/usr/bin/python3"]
    argv = [ansible_binary(), "fleet", "-i", str(inventory), "-m", module, "-a", *args]
    argv += ["-f", str(parallel), *extra]
    meter = CpuMeter({}, servers)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with log.open("wb") as out:
        t0 = time.time()
        proc = subprocess.Popen(
            argv,
            cwd=work,
            env={**env, "BENCH_TIMING_OUT": str(timing)},
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            # Its own process group, so its forked workers can be ended with it.
            start_new_session=True,
        )
        try:
            code = proc.wait(timeout=RUN_TIMEOUT_S)
        except BaseException:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise
        wall = time.time() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    # The ansible process, its forked workers and their ssh clients: all reaped by now.
    tree = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    used = {"ansible": tree, **meter.used()}
    lines = timing.read_text().splitlines() if timing.exists() else []
    results = [json.loads(line) for line in lines]
    ok = [r for r in results if r["outcome"] == "ok"]
    if code != 0 or len(ok) != n:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
        raise BenchError(
            f"ansible -m {module}: exit {code}, {len(ok)} of {n} hosts ok\n--- log tail ---\n{tail}"
        )
    # A sanity check that the hosts ran the same script: the section markers are in the output.
    if "--pamnode-section:user" not in log.read_text(errors="replace"):
        raise BenchError(f"ansible -m {module}: the status script's output is missing")
    latencies = [r["t"] - t0 for r in ok]
    return Result(f"ansible -m {module}", wall, latencies, None, notes=[cpu_note(used)])


# --- report -----------------------------------------------------------------------------------


def median_result(results: list[Result]) -> Result:
    """The round with the median wall time (the rounds' numbers stay together)."""
    ordered = sorted(results, key=lambda r: r.wall_s)
    chosen = ordered[(len(ordered) - 1) // 2]
    if len(results) > 1:
        walls = ", ".join(f"{r.wall_s:.2f}" for r in results)
        chosen.notes.append(f"walls of {len(results)} rounds: {walls} s (median shown)")
        if len(chosen.claims) > 1:
            each = "; ".join(counts(r.claims) for r in results)
            chosen.notes.append(f"jobs claimed in each round: {each}")
    return chosen


def fmt(value: float | None, digits: int = 0) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def times(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}x"


HEADER = [
    "mode",
    "wall s",
    "jobs/s",
    "p50 ms",
    "p95 ms",
    "main peak MiB",
    "peer peak MiB",
    "wall ÷ bare",
    "wall ÷ direct",
    "jobs/s ÷ bare",
]


def rows(results: list[Result]) -> list[list[str]]:
    by_mode = {r.mode: r for r in results}
    bare, direct = by_mode.get("bare"), by_mode.get("direct")
    table = []
    for r in results:
        p50, p95 = r.pct(50), r.pct(95)
        table.append(
            [
                r.mode,
                fmt(r.wall_s, 2),
                fmt(r.per_s, 1),
                fmt(p50 * 1000 if p50 is not None else None),
                fmt(p95 * 1000 if p95 is not None else None),
                fmt(r.main_peak_mib, 1),
                fmt(r.peer_peak_mib, 1),
                times(r.wall_s / bare.wall_s if bare else None),
                times(r.wall_s / direct.wall_s if direct else None),
                times(r.per_s / bare.per_s if bare and bare.per_s else None),
            ]
        )
    return table


MAINS_HEADER = [
    "mode",
    "mains",
    "wall s",
    "jobs/s",
    "jobs/s ÷ 1 main",
    "jobs claimed",
    "main peak MiB",
    "CPU s",
]


def mains_rows(results: list[Result]) -> list[list[str]]:
    """Each delegated mode that ran with one main and with two: the two side by side."""
    by_mode = {r.mode: r for r in results}
    table = []
    for mode in DELEGATED:
        one, two = by_mode.get(MODES[mode]), by_mode.get(two_mains(mode))
        if one is None or two is None:
            continue
        for count, r in ((1, one), (2, two)):
            table.append(
                [
                    MODES[mode],
                    str(count),
                    fmt(r.wall_s, 2),
                    fmt(r.per_s, 1),
                    times(r.per_s / one.per_s if one.per_s else None),
                    counts(r.claims),
                    ", ".join(f"{name} {mib:.1f}" for name, mib in r.main_peaks.items()),
                    cpu_note(r.cpu).removeprefix("CPU s: "),
                ]
            )
    return table


# The issues' targets: the wall of a delegated batch at most this many times the wall of
# another mode, direct's or, for the peer that dials the main, the inbound peer's.
PEER_LIMITS = {
    "1 peer": ("direct", 1.25),
    "2 peers": ("direct", 1.2),
    "1 peer (link)": ("1 peer", 1.1),
}
# ...and direct's throughput at least this share of bare asyncssh's.
BARE_SHARE = 0.6
# Compared with `ansible -m raw`: these modes must be faster.
FASTER_THAN_RAW = ("direct", "1 peer")


def verdict(results: list[Result], n: int, parallel: int) -> list[str]:
    """The issue's targets, each stated only when the modes it compares ran."""
    by_mode = {r.mode: r for r in results}
    lines = []
    direct = by_mode.get("direct")
    for mode, (baseline, limit) in PEER_LIMITS.items():
        if baseline not in by_mode or mode not in by_mode:
            continue
        ratio = by_mode[mode].wall_s / by_mode[baseline].wall_s
        met = "met" if ratio <= limit else "MISSED"
        lines.append(f"- {mode}: wall ≤ {limit:g}x of {baseline}: {met} ({ratio:.2f}x).")
    bare = by_mode.get("bare")
    if direct is not None and bare is not None:
        share = direct.per_s / bare.per_s
        met = "met" if share >= BARE_SHARE else "MISSED"
        lines.append(
            f"- direct ≥ {BARE_SHARE:g}x the throughput of bare asyncssh at N={n}, "
            f"parallelism {parallel}: {met} ({direct.per_s:.1f} vs {bare.per_s:.1f} jobs/s, "
            f"{share:.2f}x)."
        )
    raw = by_mode.get("ansible -m raw")
    for mode in FASTER_THAN_RAW:
        if raw is not None and mode in by_mode:
            lines.append(faster_line(by_mode[mode], raw, "met", "MISSED"))
    return lines or ["- none: no target compares the modes that ran."]


def faster_line(ours: Result, theirs: Result, yes: str, no: str) -> str:
    said = yes if ours.wall_s < theirs.wall_s else no
    return (
        f"- {ours.mode} faster than `{theirs.mode}` at equal parallelism: {said} "
        f"({ours.wall_s:.2f} s vs {theirs.wall_s:.2f} s, {theirs.wall_s / ours.wall_s:.2f}x)."
    )


def comparisons(results: list[Result]) -> list[str]:
    """Against ansible, what the targets do not cover (for reading, not judged)."""
    lines = []
    for theirs in results:
        if not theirs.mode.startswith("ansible"):
            continue
        for ours in results:
            if ours.mode in MODES.values() and not (
                theirs.mode == "ansible -m raw" and ours.mode in FASTER_THAN_RAW
            ):
                lines.append(faster_line(ours, theirs, "yes", "no"))
    return lines


def jobs_machine(ansible: bool) -> list[str]:
    tools = f"asyncssh {asyncssh.__version__} ({loop_name()} in bare)"
    if ansible:
        version = run_text([ansible_binary(), "--version"]).splitlines()[:1]
        tools += "; " + (version[0] if version else "ansible: n/a")
    return [*machine(tools), *free_lines()]


def section_key(args: argparse.Namespace) -> str:
    # One section per database, N and number of mains: a run at N=200 and one at N=2000 are
    # both kept, and a run with two mains does not replace the one-main comparison.
    key = f"bench/jobs.py --database {args.database} --n {args.n}"
    return f"{key} --mains {args.mains}" if args.mains > 1 else key


def mode_labels(args: argparse.Namespace) -> list[str]:
    labels = []
    for mode in args.modes:
        labels.append(MODES[mode])
        if args.mains > 1 and mode in DELEGATED:
            labels.append(two_mains(mode))
    return [*labels, *(f"ansible -m {module}" for module in args.ansible_modules)]


def record(
    out: Path,
    command: str,
    args: argparse.Namespace,
    machine_lines: list[str],
    results: list[Result],
    failure: str | None = None,
) -> None:
    """Replace (or add) this database's and N's section of `out`; a failed run is recorded as
    such."""
    notes = [f"- {r.mode}: " + "; ".join(r.notes) for r in results if r.notes]
    if failure is None:
        outcome = [markdown_table(HEADER, rows(results)), ""]
        if mains := mains_rows(results):
            outcome += ["One main and two mains:", "", markdown_table(MAINS_HEADER, mains), ""]
        outcome += ["Targets:", ""]
        outcome += verdict(results, args.n, args.parallel)
        if others := comparisons(results):
            outcome += ["", "Other comparisons (not targets):", "", *others]
        outcome += ["", "Notes:", "", *notes]
    else:
        outcome = failed_outcome(failure)
    labels = mode_labels(args)
    mains = ", 1 and 2 mains" if args.mains > 1 else ""
    title = f"## Jobs on {args.database}, N={args.n}{mains}: {', '.join(labels)} (`bench/jobs.py`)"
    about = (
        f"{args.n} Unix Status Checks over {args.endpoints} real OpenSSH sshd endpoints on "
        f"127.0.0.1 (ed25519 key auth), parallelism {args.parallel} "
        "(`PAMNODE_JOB_CONCURRENCY` of every node, bare's semaphore, `ansible -f`), "
        f"{args.rounds} round(s), every node on {args.database}; modes: {', '.join(labels)}. "
        "bare = the same command with asyncssh from the benchmark's process, no pamnode; "
        "wall ÷ bare, wall ÷ direct = wall / wall of that mode; "
        "jobs/s ÷ bare = jobs/s / jobs/s of bare."
    )
    if args.mains > 1:
        about += (
            f" `on 2 mains`: the same mode with a second main node, {SECOND_MAIN} (`pamnode "
            "serve` on the same PostgreSQL database, key ring file and peers; started for "
            "these batches only, each after an unrecorded warm-up batch of its own), the N "
            "assets in two containers of N/2, executed at the same time one on each main (one "
            "main: one execute of the N). Each main has --parallel job slots (the same per "
            "main), and every peer still runs at most --parallel jobs at once. jobs/s ÷ 1 main "
            "= jobs/s / jobs/s of the mode with one main. Every process of the run shares "
            f"this machine's {os.cpu_count()} CPUs: a second main adds no CPU here, so it "
            "cannot double the throughput."
        )
    body = run_section(title, command, machine_lines, about, outcome)
    write_section(out, section_key(args), body)


# --- the run ----------------------------------------------------------------------------------


@dataclass
class Lab:
    work: Path
    database: str = "sqlite"
    servers: list[SshServer] = field(default_factory=list)
    nodes: list[NodeProcess] = field(default_factory=list)
    cluster: Any = None

    def _database_url(self, name: str) -> str | None:
        if self.database == "sqlite":
            return None  # the node's default: SQLite in its data directory
        if self.cluster is None:
            # The test suite's throwaway cluster: initdb + pg_ctl on a free loopback port.
            from tests.support.postgres import PostgresCluster

            self.cluster = PostgresCluster()
            self.cluster.start()
        db = self.cluster.unique_name(f"bench_{name}")
        self.cluster.create_database(db)
        return str(self.cluster.url(db))

    def node(self, name: str, env: dict[str, str] | None = None) -> NodeProcess:
        node = NodeProcess(self.work / name, name, self._database_url(name), env=env)
        self.nodes.append(node)  # registered before start, so a failed start is reaped too
        node.start()
        done = node.init_admin(ADMIN_LOGIN, ADMIN_PASSWORD)
        if done.returncode != 0:
            raise BenchError(f"pamnode init on {name}: {done.stdout}{done.stderr}")
        return node

    def another_main(self, name: str, first: NodeProcess) -> NodeProcess:
        """A main node on `first`'s database and key ring file, not started (its database
        needs no `init`)."""
        node = NodeProcess(self.work / name, name, first.database_url, env=first.extra_env)
        self.nodes.append(node)
        return node

    def postgres_pid(self) -> int | None:
        """The PID of the PostgreSQL server's postmaster, if one was started."""
        if self.cluster is None:
            return None
        return int((self.cluster.data_dir / "postmaster.pid").read_text().split()[0])

    def sshd(self) -> SshServer:
        server = BenchSshServer("127.0.0.1", free_port())
        self.servers.append(server)
        server.start()
        return server

    def stop(self) -> list[str]:
        errors = stop_each([*reversed(self.nodes), *reversed(self.servers)])
        if self.cluster is not None:
            try:
                self.cluster.stop()
            except Exception as exc:
                errors.append(f"PostgreSQL cluster: {exc!r}")
        return errors


def set_assignments(client: httpx.Client, fleet_id: str, ids: dict[str, str], on: set[str]) -> None:
    for name, assignment_id in ids.items():
        body = {"enabled": name in on}
        expect(client.patch(f"assets/{fleet_id}/peer-nodes/{assignment_id}", json=body), 200)


@dataclass
class SecondMain:
    """--mains 2: main-b (on the main's database and key ring file) and the fleet's parts,
    one executed on each main."""

    node: NodeProcess
    parts: list[str]


@dataclass
class NodeModes:
    """What the pamnode modes share: the main's client, the container and its peer
    assignments (all disabled but those of the mode that runs), and with --mains 2 the
    second main."""

    client: httpx.Client
    admin: str
    fleet_id: str
    assignment_ids: dict[str, str]
    main: NodeProcess
    peers: dict[str, NodeProcess]
    servers: list[SshServer]
    n: int
    # The PID of the nodes' PostgreSQL server (None on SQLite).
    postgres: int | None
    second: SecondMain | None = None

    def _assign(self, mode: str) -> tuple[list[NodeProcess], dict[str, str | None]]:
        """Enable the mode's peer assignments; the peers it uses and the signatures expected."""
        on = set(MODE_PEERS[mode])
        if on:
            signatures: dict[str, str | None] = {f"peer-{p}::{TENANT}::root": p for p in on}
        else:
            signatures = {f"main::{TENANT}::root": None}
        set_assignments(self.client, self.fleet_id, self.assignment_ids, on)
        return [self.peers[p] for p in sorted(on)], signatures

    def run(self, mode: str, py_spy: Path | None) -> Result:
        """One batch of `mode` (a --modes name other than bare)."""
        used, signatures = self._assign(mode)
        submission = Submission(self.main, self.client, self.fleet_id)
        return run_pamnode(
            MODES[mode],
            [submission],
            self.n,
            used,
            self.servers,
            signatures,
            py_spy,
            self.postgres,
        )

    def run_two_mains(self, mode: str, py_spy: Path | None) -> Result:
        """One batch of the delegated `mode` on two mains: main-b is started, warmed up with
        one unrecorded batch, measured, and stopped, so that it takes no job of another mode
        (a main takes queued jobs from the database whenever it has a free slot)."""
        assert self.second is not None
        used, signatures = self._assign(mode)
        second = self.second.node
        second.start()
        try:
            with second.client(TENANT, token=self.admin) as client:
                client.timeout = httpx.Timeout(120.0)
                first_part, second_part = self.second.parts
                submissions = [
                    Submission(self.main, self.client, first_part),
                    Submission(second, client, second_part),
                ]
                label = two_mains(mode)
                batch = functools.partial(
                    run_pamnode, label, submissions, self.n, used, self.servers, signatures
                )
                batch(postgres=self.postgres)  # the warm-up
                return batch(py_spy, self.postgres)
        finally:
            second.stop()


def ansible_run(
    args: argparse.Namespace,
    work: Path,
    files: tuple[Path, dict[str, str]],
    servers: list[SshServer],
    module: str,
) -> Callable[[Path | None], Result]:
    """One batch of `ansible -m module`; `files`: the inventory and the environment."""
    inventory, env = files

    def run(_py_spy: Path | None) -> Result:
        return run_ansible(work, inventory, env, args.n, args.parallel, module, servers)

    return run


def bench(args: argparse.Namespace, lab: Lab) -> list[Result]:
    # Read by every node at start: its job slots.
    os.environ["PAMNODE_JOB_CONCURRENCY"] = str(args.parallel)
    node_modes = [m for m in args.modes if m in MODE_PEERS]
    peer_names = [p for p in (*PEERS, LINKED) if any(p in MODE_PEERS[m] for m in node_modes)]
    started = f"{args.endpoints} sshd"
    if node_modes:
        started += f", a main and {len(peer_names)} peer(s)"
        if args.mains > 1:
            started += f" ({SECOND_MAIN} started for its batches only)"
    print(f"starting {started} in {lab.work}")
    servers = [lab.sshd() for _ in range(args.endpoints)]
    # Each mode's batch, as a function of the py-spy directory (pamnode modes only).
    runs: list[tuple[str, Callable[[Path | None], Result]]] = []
    # Modes that run their own warm-up batch each time (two mains: main-b starts anew).
    warms_itself: set[str] = set()
    if "bare" in args.modes:
        runs.append(("bare", lambda _spy: run_bare(servers, args.n, args.parallel)))
    with contextlib.ExitStack() as stack:
        if node_modes:
            # With two mains, one key ring file for both (docs/scale.md), from the start.
            ring = lab.work / "keyring.json"
            env = {"PAMNODE_KEYRING_FILE": str(ring)} if args.mains > 1 else None
            main = lab.node("main", env)
            peers = {name: lab.node(f"peer-{name}") for name in peer_names}
            jwts = {name: service_token(peer) for name, peer in peers.items()}
            admin = create_tenant(main)
            client = stack.enter_context(main.client(TENANT, token=admin))
            client.timeout = httpx.Timeout(120.0)
            for name, peer in peers.items():
                if name == LINKED:
                    peer_id = add_linked_peer(client, main, peer, name, jwts[name])
                else:
                    peer_id = add_trusted_peer(client, peer, name, jwts[name])
                check_peer(client, name, peer_id)
            print(f"creating {args.n} assets on the main")
            fleet = create_fleet(client, servers, args.n, parts=args.mains)
            assignment_ids = {}
            for name in peer_names:
                body = {"peer_node": name, "enabled": False}
                made = expect(client.post(f"assets/{fleet.id}/peer-nodes", json=body), 201)
                assignment_ids[name] = made["id"]
            second = None
            if args.mains > 1:
                second = SecondMain(lab.another_main(SECOND_MAIN, main), fleet.parts)
            nodes = NodeModes(
                client,
                admin,
                fleet.id,
                assignment_ids,
                main,
                peers,
                servers,
                args.n,
                lab.postgres_pid(),
                second,
            )
            for mode in node_modes:
                runs.append((MODES[mode], functools.partial(nodes.run, mode)))
                if args.mains > 1 and mode in DELEGATED:
                    label = two_mains(mode)
                    runs.append((label, functools.partial(nodes.run_two_mains, mode)))
                    warms_itself.add(label)
        if args.ansible_modules:
            files = write_ansible_files(lab.work, servers, args.n)
            for module in args.ansible_modules:
                run = ansible_run(args, lab.work, files, servers, module)
                runs.append((f"ansible -m {module}", run))

        # Warm-up, not recorded: the first contact pins every asset's host key (a database
        # write per asset that later runs do not make), and each node, this process's asyncssh
        # and ansible load their code.
        print("warm-up: one batch per mode, not recorded")
        for label, run_mode in runs:
            if label not in warms_itself:
                run_mode(None)
                print(f"warm-up: {label} done")

        rounds: dict[str, list[Result]] = {}
        for number in range(1, args.rounds + 1):
            for label, run_mode in runs:
                result = run_mode(args.py_spy if number == 1 else None)
                rounds.setdefault(label, []).append(result)
                print(f"round {number}: {label}: {result.wall_s:.2f} s")
    return [median_result(results) for results in rounds.values()]


def log_findings(lab: Lab) -> str:
    """What the nodes' logs say about failures that a job's record does not show."""
    lines = []
    for node in lab.nodes:
        text = node.log_text()
        locked = text.count("database is locked")
        lost = text.count(LOST_JOB)
        errors = text.count("Internal Server Error")
        lines.append(
            f"{node.name}: 'database is locked' x{locked}, '{LOST_JOB}' x{lost}, "
            f"HTTP 500 answered x{errors}"
        )
    return "node logs: " + "; ".join(lines)


def parse_modes(value: str) -> list[str]:
    chosen = {m.strip() for m in value.split(",") if m.strip()}
    if unknown := chosen - set(MODES):
        raise argparse.ArgumentTypeError(
            f"unknown mode(s) {', '.join(sorted(unknown))}; choose from {', '.join(MODES)}"
        )
    return [m for m in MODES if m in chosen]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=200, help="status checks per mode (200)")
    parser.add_argument(
        "--parallel",
        type=int,
        default=50,
        help="PAMNODE_JOB_CONCURRENCY, bare's semaphore and ansible -f (50)",
    )
    parser.add_argument("--endpoints", type=int, default=4, help="sshd servers (4)")
    parser.add_argument("--rounds", type=int, default=1, help="rounds; the median is shown (1)")
    parser.add_argument(
        "--modes",
        type=parse_modes,
        default=list(MODES),
        help="comma-separated, of bare (asyncssh, no pamnode), direct, 1peer, 2peers, "
        "1peerlink (all)",
    )
    parser.add_argument(
        "--ansible-modules",
        type=lambda s: [m for m in s.split(",") if m],
        default=["raw", "shell"],
        help="comma-separated: raw (the same command over ssh), shell (python module); "
        "'' for no ansible (raw,shell)",
    )
    parser.add_argument(
        "--database",
        choices=["sqlite", "postgresql"],
        default="sqlite",
        help="every node's database: its default SQLite file, or a throwaway PostgreSQL (sqlite)",
    )
    parser.add_argument(
        "--mains",
        type=int,
        choices=[1, 2],
        default=1,
        help="2: also run each delegated mode with a second main on the same PostgreSQL (1)",
    )
    report_options(parser, py_spy="the nodes in round 1 (raw, collapsed stacks)")
    args = parser.parse_args(argv)
    if args.n < 1 or args.parallel < 1 or args.endpoints < 1 or args.rounds < 1:
        parser.error("--n, --parallel, --endpoints and --rounds must be at least 1")
    if not set(args.ansible_modules) <= {"raw", "shell"}:
        parser.error("--ansible-modules takes raw and/or shell")
    args.ansible_modules = [m for m in ("raw", "shell") if m in args.ansible_modules]
    if not args.modes and not args.ansible_modules:
        parser.error("nothing to run: --modes and --ansible-modules are both empty")
    if args.mains > 1 and args.database != "postgresql":
        parser.error(
            "--mains 2 needs --database postgresql: several main nodes share one PostgreSQL "
            "database, and a second node on a SQLite file is refused (docs/scale.md)"
        )
    if args.mains > 1 and not set(DELEGATED) & set(args.modes):
        parser.error("--mains 2 runs the delegated modes with two mains: add 1peer or 2peers")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not is_root("bench/jobs.py", "each sshd gets its own Unix user"):
        return 2
    if args.ansible_modules:
        ansible_binary()
    command = command_line("bench.jobs")
    # Taken before the run: the commit and the load it started with.
    machine_lines = jobs_machine(bool(args.ansible_modules))
    started = time.monotonic()
    lab = Lab(Path(tempfile.mkdtemp(prefix="pamnode-bench-")), args.database)

    def failed(reason: str) -> None:
        findings = log_findings(lab)
        print(findings, file=sys.stderr)
        record(args.out, command, args, machine_lines, [], f"{reason}\n\n{findings}")
        print(f"the failure is recorded in {args.out}", file=sys.stderr)

    results = run_in_lab(lab, args.keep, lambda: bench(args, lab), failed)
    if results is None:
        return 1
    print()
    print(text_table(HEADER, rows(results)))
    print()
    if mains := mains_rows(results):
        print(text_table(MAINS_HEADER, mains))
        print()
    print("\n".join(verdict(results, args.n, args.parallel)))
    for line in comparisons(results):
        print(line)
    for r in results:
        for note in r.notes:
            print(f"  {r.mode}: {note}")
    record(args.out, command, args, machine_lines, results)
    print(f"\nrecorded in {args.out} ({time.monotonic() - started:.0f} s in all)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
