"""What the benchmarks share: the tenant they make on each node, Step 1 on a peer, a container
of Unix hosts, a tolerant subprocess helper, CPU seconds and resident memory of a process, the
tables, the machine's description, the generated sections of docs/benchmarks.md, and a run
that shows its report and records it there (`run_recorded`).

Imported as `bench.common` by `bench/*.py`, which run as modules from the repository root
(`.venv/bin/python -m bench.jobs`), so that `bench` is a package.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import platform
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol, TypeVar

import httpx

from pamnode.lab.node_process import NodeProcess
from pamnode.lab.sshd import SshServer

TENANT = "bench"
# Asset creations under way at once while making a fleet.
FLEET_REQUESTS = 8


ADMIN_LOGIN, ADMIN_PASSWORD = "admin", "Bench-Admin-Passw0rd!"


TENANT_PASSWORD = "Bench-Tenant-Passw0rd!"


T = TypeVar("T")


class BenchError(Exception):
    """The benchmark could not produce a valid measurement."""


def expect(response: httpx.Response, status: int) -> Any:
    if response.status_code != status:
        raise BenchError(
            f"{response.request.method} {response.request.url}: expected {status}, "
            f"got {response.status_code} {response.text[:500]}"
        )
    return response.json() if response.content else None


def create_tenant(node: NodeProcess) -> str:
    """Tenant TENANT with its administrator; return that administrator's session token."""
    base_token = node.login("base", "root", ADMIN_LOGIN, ADMIN_PASSWORD)
    with node.client("base", token=base_token) as base:
        body = {"name": TENANT, "admin_login": "tadmin", "admin_password": TENANT_PASSWORD}
        expect(base.post("tenants", json=body), 201)
    return node.login(TENANT, "root", "tadmin", TENANT_PASSWORD)


def service_token(peer: NodeProcess) -> str:
    """The seed's Step 1 on a peer: a Service user and its unlocked API token."""
    admin = create_tenant(peer)
    with peer.client(TENANT, token=admin) as client:
        expect(client.post("users", json={"login": "svc-main", "password": TENANT_PASSWORD}), 201)
        expect(client.post("site-roles", json={"principal": "svc-main", "role": "service"}), 201)
        expires = (datetime.now(UTC) + timedelta(days=1)).isoformat()
        body = {"user": "svc-main", "expires_at": expires, "description": "bench main"}
        token_id = expect(client.post("api-tokens", json=body), 201)["id"]
        return str(expect(client.post(f"api-tokens/{token_id}/unlock"), 200)["jwt"])


def add_trusted_peer(
    client: httpx.Client, peer: NodeProcess, name: str, jwt: str, **components: str
) -> str:
    """The seed's Step 2: add `peer` as `name` with its job runner, and each of `components`
    (`gateway`, `http_proxy`) at the address given; pin the API and each component. Its id."""
    body: dict[str, Any] = {
        "name": name,
        "job_runner": True,
        "url": f"{peer.base_url}/ztna/{TENANT}/root",
        "access_token": jwt,
        "enabled": True,
    }
    for component, address in components.items():
        body |= {component: True, f"{component}_address": address}
    peer_id = str(expect(client.post("peer-nodes", json=body), 201)["id"])
    _establish_trust(client, peer_id, components)
    return peer_id


def add_linked_peer(
    client: httpx.Client,
    main: NodeProcess,
    peer: NodeProcess,
    name: str,
    jwt: str,
    *components: str,
) -> str:
    """The same for a peer that dials `main` (connection mode peer_dials, docs/peers.md):
    enrolled from the peer with a one-time code, then each component pinned through its link.
    `components` as named for add_trusted_peer; its URL and their addresses name hosts that
    resolve nowhere: the main reaches the peer's listeners by name on the link, only there."""
    body: dict[str, Any] = {
        "name": name,
        "job_runner": True,
        "url": f"https://{name}.invalid/ztna/{TENANT}/root",
        "access_token": jwt,
        "enabled": True,
        "connection_mode": "peer_dials",
    }
    for component in components:
        body |= {
            component: True,
            f"{component}_address": f"{name}-{component.replace('_', '-')}.invalid:443",
        }
    peer_id = str(expect(client.post("peer-nodes", json=body), 201)["id"])
    issued = expect(client.post(f"peer-nodes/{peer_id}/enrolment-code"), 200)
    admin = peer.login(TENANT, "root", "tadmin", TENANT_PASSWORD)
    enrolment = {
        "main_url": f"{main.base_url}/ztna/{TENANT}/root",
        "code": issued["code"],
        "fingerprint": issued["main_sha256"],
    }
    with peer.client(TENANT, token=admin) as on_peer:
        expect(on_peer.post("main-link", json=enrolment), 201)
    deadline = time.monotonic() + 30
    while not expect(client.get(f"peer-nodes/{peer_id}"), 200)["link"]["connected"]:
        if time.monotonic() > deadline:
            raise BenchError(f"peer {name} enrolled but never linked")
        time.sleep(0.2)
    _establish_trust(client, peer_id, components)
    return peer_id


def _establish_trust(client: httpx.Client, peer_id: str, components: Iterable[str]) -> None:
    for component in ("job-runner", *(c.replace("_", "-") for c in components)):
        shown = expect(
            client.post(f"peer-nodes/{peer_id}/verify-trust", json={"component": component}), 200
        )
        trust = {"component": component, "sha256": shown["sha256"]}
        expect(client.post(f"peer-nodes/{peer_id}/establish-trust", json=trust), 200)


def link_option(parser: argparse.ArgumentParser) -> None:
    """--no-link: leave out what goes through a peer that dials the main."""
    parser.add_argument(
        "--no-link",
        action="store_true",
        help="leave out the route through a peer that dials the main (its link)",
    )


def report_options(
    parser: argparse.ArgumentParser,
    py_spy: str | None = None,
    no_record: bool = False,
    out: bool = True,
) -> None:
    """What the benchmarks take about their report and leftovers: --keep (the work directory,
    with the nodes' logs); --out (the document a recorded section is written into) unless
    `out` is False (one that only prints); when given, --py-spy DIR (`py_spy` says what is
    profiled) and --no-record (print only)."""
    if out:
        parser.add_argument("--out", type=Path, default=REPO / "docs" / "benchmarks.md")
    if no_record:
        parser.add_argument(
            "--no-record", action="store_true", help="print only; leave --out as it is"
        )
    if py_spy is not None:
        parser.add_argument(
            "--py-spy", type=Path, default=None, help=f"record py-spy profiles of {py_spy} into DIR"
        )
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs)")


@dataclass(frozen=True)
class Fleet:
    """The container of a benchmark's hosts; `parts`: the containers that hold them (the
    fleet itself, or its sub-containers when it is split, each of consecutive hosts)."""

    id: str
    parts: list[str]


def create_fleet(
    client: httpx.Client,
    servers: list[SshServer],
    n: int,
    progress_every: int = 500,
    parts: int = 1,
) -> Fleet:
    """Container `fleet` with `n` Unix hosts spread over `servers` (each with that server's user
    and private key), made through the API, FLEET_REQUESTS at a time (one at a time, each
    commit of a PostgreSQL cluster waits for its own flush: 10,000 took longer than the jobs).
    With `parts` > 1 the hosts are split, in order, between that many sub-containers
    `part-1`, ... of the fleet, so each part spans every server as the whole fleet does."""

    def container(name: str, parent_id: str | None) -> str:
        body = {"name": name, "type": "container", "parent_id": parent_id}
        return str(expect(client.post("assets", json=body), 201)["id"])

    fleet_id = container("fleet", None)
    holders = [fleet_id]
    if parts > 1:
        holders = [container(f"part-{p}", fleet_id) for p in range(1, parts + 1)]
    width = max(4, len(str(n - 1)))

    def create(i: int) -> None:
        server = servers[i % len(servers)]
        host = {
            "name": f"host-{i:0{width}d}",
            "type": "unix-host",
            "parent_id": holders[i * len(holders) // n],
            "properties": {"host": server.address, "port": server.port},
            "secrets": {"username": server.user, "private_key": server.private_key},
        }
        expect(client.post("assets", json=host), 201)

    with concurrent.futures.ThreadPoolExecutor(FLEET_REQUESTS) as pool:
        for done, _ in enumerate(pool.map(create, range(n)), start=1):
            if progress_every and done % progress_every == 0 and done < n:
                print(f"  {done} of {n} assets created", flush=True)
    print(f"  {n} assets created", flush=True)
    return Fleet(fleet_id, holders)


# A job's states before it ends (pamnode/jobs/states.py), in the order a job goes through them.
UNFINISHED = ("queued", "dispatched", "running")


def count_jobs(client: httpx.Client, batch_id: str, state: str) -> int:
    """How many jobs of the batch are in `state`: the `total` of a one-row page."""
    params: dict[str, str | int] = {"batch_id": batch_id, "state": state, "limit": 1}
    return int(expect(client.get("jobs", params=params), 200)["total"])


def unfinished_jobs(client: httpx.Client, batch_id: str) -> int:
    """The batch's unfinished jobs, cheaply: while any is queued, only the queued ones are
    counted (one request; a lower bound, above 0, that falls as jobs start), then those
    dispatched or running. Jobs only move forward through UNFINISHED and the states are counted
    in that order, so 0 means every job has ended (still, read the batch to be sure)."""
    queued = count_jobs(client, batch_id, UNFINISHED[0])
    if queued:
        return queued
    return sum(count_jobs(client, batch_id, state) for state in UNFINISHED[1:])


def batch_jobs(client: httpx.Client, batch_id: str) -> list[dict[str, Any]]:
    """Every job of the batch, in pages of 1,000."""
    jobs: list[dict[str, Any]] = []
    while True:
        params: dict[str, str | int] = {"batch_id": batch_id, "limit": 1000, "offset": len(jobs)}
        page = expect(client.get("jobs", params=params), 200)
        jobs.extend(page["jobs"])
        if len(jobs) >= page["total"] or not page["jobs"]:
            return jobs


def run_text(argv: list[str]) -> str:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=30).stdout.rstrip()
    except (OSError, subprocess.SubprocessError):
        return "n/a"


REPO = Path(__file__).resolve().parent.parent


def cpu_s(pid: int, children: bool = False) -> float:
    """CPU seconds (user + system) of `pid`; with `children`, also of its reaped children."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # fields[0] is field 3 (state): utime, stime, cutime, cstime are fields 14-17.
    ticks = int(fields[11]) + int(fields[12])
    if children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / os.sysconf("SC_CLK_TCK")


def server_cpu_s(pid: int) -> float:
    """CPU seconds of a server whose workers live long (PostgreSQL's backends, one per pooled
    connection): its own and its reaped children's, and those of its children alive now."""
    total = cpu_s(pid, children=True)
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            if parent == pid:
                total += cpu_s(int(stat.parent.name))
        except (OSError, IndexError, ValueError):
            continue  # ended meanwhile: its time is its parent's now
    return total


def node_pid(node: NodeProcess) -> int:
    # NodeProcess starts `python -m pamnode serve` itself (no netns, no wrapper), and uvicorn
    # runs in that process (one worker), so this PID is the node's own.
    assert node.proc is not None
    return node.proc.pid


def reset_peak(pid: int) -> None:
    """Set the process's peak resident set size (VmHWM) back to its current one."""
    # "5" resets VmHWM to VmRSS (proc(5), /proc/PID/clear_refs).
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def status_mib(pid: int, name: str) -> float:
    """A memory line of /proc/PID/status (VmRSS, VmHWM, ...), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{name}:"):
            return int(line.split()[1]) / 1024  # the kernel writes kB, i.e. KiB
    raise BenchError(f"no {name} in /proc/{pid}/status")


def peak_mib(pid: int) -> float:
    """Peak resident set size (VmHWM) since the start or the last reset_peak, in MiB."""
    return status_mib(pid, "VmHWM")


def rss_mib(pid: int) -> float:
    """Resident set size now (VmRSS), in MiB."""
    return status_mib(pid, "VmRSS")


def text_table(header: list[str], rows: list[list[str]], labels: int = 1) -> str:
    """Aligned columns for the terminal: the first `labels` columns left, numbers right."""
    body = [header, *rows]
    widths = [max(len(row[i]) for row in body) for i in range(len(header))]
    lines = []
    for index, row in enumerate(body):
        pairs = enumerate(zip(row, widths, strict=True))
        cells = [c.ljust(w) if i < labels else c.rjust(w) for i, (c, w) in pairs]
        lines.append("  ".join(cells))
        if index == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def markdown_table(header: list[str], rows: list[list[str]], labels: int = 1) -> str:
    align = "|" + "---|" * labels + "---:|" * (len(header) - labels)
    lines = ["| " + " | ".join(header) + " |", align]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def load_average() -> str:
    """The machine's load average over 1, 5 and 15 minutes."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def machine(tools: str) -> list[str]:
    """The machine a run happened on, for docs/benchmarks.md; `tools` names the versions of
    the benchmark's own components."""
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        "unknown",
    )
    ssh_version = subprocess.run(["ssh", "-V"], capture_output=True, text=True).stderr.strip()
    commit = run_text(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"])
    dirty = run_text(["git", "-C", str(REPO), "status", "--porcelain", "--", "pamnode"])
    if dirty and dirty != "n/a":
        commit += f" plus uncommitted changes to {len(dirty.splitlines())} file(s) in pamnode/"
    return [
        f"- date (start): {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- nproc: {run_text(['nproc'])}; CPU: {cpu}",
        f"- kernel: {platform.release()}; Python {platform.python_version()}",
        # Other work on the machine skews every measurement; this says how busy it was.
        f"- load average at the start (1/5/15 min): {load_average()}",
        f"- {tools}; {ssh_version}",
        f"- pamnode at commit {commit}",
    ]


def free_lines() -> list[str]:
    """`free -g` as lines of the machine's description."""
    return ["- `free -g`:", "", "```", run_text(["free", "-g"]), "```"]


def section_marks(key: str) -> tuple[str, str]:
    """The begin and end markers of a generated section of docs/benchmarks.md; `key` names the
    script and what tells its runs apart (e.g. `bench/jobs.py --database sqlite --n 200`)."""
    return (
        f"<!-- {key}: begin (generated; re-run to replace) -->",
        f"<!-- {key}: end -->",
    )


def write_section(out: Path, key: str, body: list[str]) -> None:
    """Replace the section `key` of `out` with `body`, or add it where it belongs: after the
    last generated section of the same script; else at the end of the hand-written part about
    that script (the `## ` heading that names it in backquotes, up to the next `## `); else at
    the end of the file."""
    begin, end = section_marks(key)
    section = "\n".join([begin, *body, end])
    text = out.read_text() if out.exists() else "# Benchmarks\n\nRecorded by bench/ scripts.\n"
    if begin in text and end in text.split(begin, 1)[1]:
        head, rest = text.split(begin, 1)
        text = head + section + rest.split(end, 1)[1]
        out.write_text(text)
        return
    script = key.split()[0]
    lines = text.rstrip("\n").split("\n")
    mark = f"<!-- {script} "
    ends = [
        i for i, line in enumerate(lines) if line.startswith(mark) and line.endswith(" end -->")
    ]
    headings = [i for i, line in enumerate(lines) if line.startswith("## ")]
    about = [i for i in headings if f"`{script}`" in lines[i]]
    if ends:
        at = ends[-1] + 1
    elif about:
        at = next((i for i in headings if i > about[0]), len(lines))
    else:
        at = len(lines)
    before, after = lines[:at], lines[at:]
    while before and not before[-1].strip():
        before.pop()
    while after and not after[0].strip():
        after.pop(0)
    text = "\n".join([*before, "", section, *(["", *after] if after else [])]) + "\n"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)


def ssh_asset(client: httpx.Client, server: SshServer, name: str) -> str:
    body = {
        "name": name,
        "type": "unix-host",
        "parent_id": None,
        "properties": {"host": server.address, "port": server.port},
        "secrets": {"username": server.user, "password": server.password},
    }
    return str(expect(client.post("assets", json=body), 201)["id"])


class PySpy:
    """`py-spy record` on some processes for the length of a run (`--py-spy DIR`)."""

    def __init__(self, out: Path | None, label: str, pids: dict[str, int]) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []
        if out is None:
            return
        out.mkdir(parents=True, exist_ok=True)
        binary = Path(sys.executable).parent / "py-spy"
        for name, pid in pids.items():
            target = out / f"{label.replace(' ', '-')}-{name}.txt"
            # --gil: only the thread that holds the GIL, i.e. Python code using CPU.
            argv = [str(binary), "record", "--format", "raw", "--rate", "200", "--gil"]
            argv += ["--nonblocking", "--output", str(target), "--pid", str(pid)]
            self.procs.append(
                subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            )

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        for proc in self.procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.procs = []


# --- running a benchmark -------------------------------------------------------------------


class StoppableLab(Protocol):
    """What a benchmark starts: its work directory (logs) and a stop that names what failed."""

    work: Path

    def stop(self) -> list[str]: ...


class Stoppable(Protocol):
    def stop(self) -> object: ...


def stop_each(items: list[Stoppable]) -> list[str]:
    """Stop each of `items` in order, whatever failed before; what failed, named."""
    errors = []
    for item in items:
        try:
            item.stop()
        except Exception as exc:
            errors.append(f"{item!r}: {exc!r}")
    return errors


def command_line(module: str) -> str:
    """The exact command of this run, as recorded beside its figures."""
    return shlex.join([".venv/bin/python", "-m", module, *sys.argv[1:]])


def is_root(script: str, why: str) -> bool:
    if os.geteuid() == 0:
        return True
    print(f"{script} needs root: {why}", file=sys.stderr)
    return False


def _exit_on_signal(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def run_in_lab(
    lab: StoppableLab,
    keep: bool,
    work: Callable[[], T],
    failed: Callable[[str], None] = lambda _reason: None,
    failures: tuple[type[Exception], ...] = (BenchError,),
) -> T | None:
    """`work()`, then the lab stopped whatever happened (SIGTERM included), its directory kept
    when the run failed or `keep` asks; on one of `failures`, the reason printed and handed to
    `failed` (to record it), and None."""
    signal.signal(signal.SIGTERM, _exit_on_signal)
    ok = False
    try:
        result = work()
        ok = True
        return result
    except failures as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        failed(str(exc))
        return None
    finally:
        for error in lab.stop():
            print(f"cleanup: {error}", file=sys.stderr)
        if not ok or keep:
            print(f"logs kept in {lab.work}", file=sys.stderr)
        else:
            shutil.rmtree(lab.work, ignore_errors=True)


def failed_outcome(failure: str) -> list[str]:
    """What a section says of a run that failed."""
    return ["**The run failed; it measured nothing.**", "", "```", failure, "```"]


@dataclass
class Report:
    """A run's figures as a benchmark shows them: its table, its verdict on the target (lines
    of a list) and its notes."""

    header: list[str]
    rows: list[list[str]]
    verdict: list[str]
    notes: list[str]

    def outcome(self) -> list[str]:
        """What the run's section of docs/benchmarks.md says."""
        notes = [f"- {note}" for note in self.notes]
        table = markdown_table(self.header, self.rows)
        return [table, "", "Target:", "", *self.verdict, "", "Notes:", "", *notes]

    def show(self) -> None:
        print()
        print(text_table(self.header, self.rows))
        print()
        print("\n".join(self.verdict))
        for note in self.notes:
            print(f"  {note}")


@dataclass
class Section:
    """Where and how a benchmark records its run in docs/benchmarks.md: the section `key`
    (`section_marks`) of `out`, under `title`, with the command, the machine and `about` (what
    ran and what is measured)."""

    out: Path
    key: str
    title: str
    command: str
    machine: list[str]
    about: str
    where: str = "as root, from the repository root"

    def write(self, outcome: list[str]) -> None:
        body = run_section(self.title, self.command, self.machine, self.about, outcome, self.where)
        write_section(self.out, self.key, body)


def run_recorded(
    lab: StoppableLab,
    keep: bool,
    work: Callable[[], Report],
    section: Section,
    findings: Callable[[], str],
) -> bool:
    """`work()` in the lab (`run_in_lab`), its report shown and written to its section; a
    failed run (BenchError, or an HTTP error: a request may outlast its timeout) is recorded
    there as such, with the `findings` of the lab's logs."""

    def failed(reason: str) -> None:
        found = findings()
        print(found, file=sys.stderr)
        section.write(failed_outcome(f"{reason}\n\n{found}"))
        print(f"the failure is recorded in {section.out}", file=sys.stderr)

    report = run_in_lab(lab, keep, work, failed, (BenchError, httpx.HTTPError))
    if report is None:
        return False
    report.show()
    section.write(report.outcome())
    print(f"\nrecorded in {section.out}")
    return True


def run_section(
    title: str,
    command: str,
    machine_lines: list[str],
    about: str,
    outcome: list[str],
    where: str = "as root, from the repository root",
) -> list[str]:
    """A generated section: its title, the exact command, the machine, what ran, the outcome."""
    return [
        title,
        "",
        f"Command ({where}):",
        "",
        "```",
        command,
        "```",
        "",
        "Machine:",
        "",
        *machine_lines,
        "",
        about,
        "",
        *outcome,
    ]
