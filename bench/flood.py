"""An administrator's API latency, quiet and while a crowd guesses passwords.

    .venv/bin/python -m bench.flood [--rest 80] [--ssh 30] [--samples 200] [--rounds 4]
        [--database sqlite|postgresql] [--login-checks N] [--out docs/benchmarks.md] [--keep]

Run it as a module from the repository root (no root needed). Everything started here is
stopped at the end, also on error. The table is printed and written to the section of
docs/benchmarks.md for this database; a failed run is recorded there as failed, with the
reason.

What runs: a real main node (`pamnode serve`) with its SSH proxy, on its default SQLite file
or on a throwaway PostgreSQL cluster (the test suite's), and a tenant with ASSETS containers.
The administrator (a session token, verified against the database on every request) reads
`GET assets` `--samples` times in each phase, one after another, each on the same kept-alive
connection: quiet, then while the crowd guesses, alternating `--rounds` times (the crowd
pauses, and its guesses under way end, before each quiet part), so that other work on the
machine weighs on both phases alike.

The crowd runs in a process of its own (so that its work does not slow the administrator's
client, which runs in this one): `--rest` clients each post `auth/login` for unknown logins
(`ghost-N`), and `--ssh` asyncssh clients each connect to the SSH proxy and offer a password for
`ghost-N@tenant#box-0`, a new connection for each guess, as password-guessing tools do. None
waits between guesses or honours Retry-After. Each client has a loopback source address of
its own (127.0.0.2, 127.0.0.3, ...): the crowd is many sources, so the throttle per source
does not stop it; what keeps the node's latency is the bound on password checks at once.

What is measured: p50, p95 and the highest of the administrator's latencies in each phase
(the wall time of each request, in this process); the main's CPU (of one CPU, in %) over
each phase; in the flood, the answers the crowd got by code and the Argon2 checks the node
made (`pamnode_password_checks_total` of its /metrics). Target (issue 26): p95 under the
flood ≤ 3x the quiet p95.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from bench.common import (
    TENANT,
    BenchError,
    PySpy,
    Report,
    Section,
    command_line,
    cpu_s,
    create_tenant,
    expect,
    load_average,
    machine,
    node_pid,
    report_options,
    run_recorded,
)
from bench.jobs import Lab, log_findings
from pamnode.core.ssh_library import asyncssh
from pamnode.lab.node_process import tls_context
from pamnode.lab.ports import free_port

TARGET_RATIO = 3.0
ASSETS = 20
# The crowd guesses this long before the administrator's flood phase starts.
WARM_UP_S = 2.0
# After the crowd pauses, its guesses under way end before the quiet phase starts.
DRAIN_S = 1.0
PAUSE_POLL_S = 0.05
CHECKS = "pamnode_password_checks_total"


@dataclass
class Phase:
    name: str
    latencies_ms: list[float]
    wall_s: float
    cpu_s: float

    def p(self, q: int) -> float:
        return statistics.quantiles(self.latencies_ms, n=100, method="inclusive")[q - 1]

    def add(self, other: Phase) -> None:
        self.latencies_ms += other.latencies_ms
        self.wall_s += other.wall_s
        self.cpu_s += other.cpu_s

    @property
    def cpu_pct(self) -> float:
        return 100 * self.cpu_s / self.wall_s


@dataclass
class FloodResult:
    database: str
    quiet: Phase
    flood: Phase
    notes: list[str] = field(default_factory=list)

    @property
    def ratio(self) -> float:
        return self.flood.p(95) / self.quiet.p(95)


# --- the crowd (a process of its own) -------------------------------------------------------


@dataclass
class Crowd:
    # Set while the crowd guesses; clear while the administrator measures quiet.
    go: Event
    stop: Event
    answers: Counter[str] = field(default_factory=Counter)


def source(index: int) -> str:
    """A loopback address of its own for client `index` (127.0.0.2 up)."""
    n = index + 2
    return f"127.0.{n // 256}.{n % 256}"


async def _paused(crowd: Crowd) -> bool:
    """Wait while the administrator measures quiet; False once the crowd is to stop."""
    while not crowd.go.is_set() and not crowd.stop.is_set():
        await asyncio.sleep(PAUSE_POLL_S)
    return not crowd.stop.is_set()


async def _rest_guesser(index: int, url: str, cert: Path, crowd: Crowd) -> None:
    transport = httpx.AsyncHTTPTransport(local_address=source(index), verify=tls_context(cert))
    answers = crowd.answers
    async with httpx.AsyncClient(base_url=url, transport=transport, timeout=30) as client:
        guess = 0
        while await _paused(crowd):
            guess += 1
            body = {"login": f"ghost-{index}-{guess}", "password": f"guess-{guess}"}
            try:
                response = await client.post("auth/login", json=body)
                code = response.json().get("error", {}).get("code", "ok")
                answers[f"REST {response.status_code} {code}"] += 1
            except httpx.HTTPError as exc:
                answers[f"REST {type(exc).__name__}"] += 1


async def _ssh_guesser(index: int, port: int, crowd: Crowd) -> None:
    answers = crowd.answers
    guess = 0
    while await _paused(crowd):
        guess += 1
        try:
            conn = await asyncssh.connect(
                "127.0.0.1",
                port,
                local_addr=(source(index), 0),
                username=f"ghost-{index}-{guess}@{TENANT}#box-0",
                password=f"guess-{guess}",
                known_hosts=None,
                client_keys=None,
                agent_path=None,
                preferred_auth="password",
                login_timeout=30,
            )
            conn.close()
            answers["SSH accepted"] += 1
        except asyncssh.PermissionDenied:
            answers["SSH permission denied"] += 1
        except (OSError, asyncssh.Error) as exc:
            answers[f"SSH {type(exc).__name__}"] += 1


async def _crowd(args: dict[str, Any], crowd: Crowd) -> Counter[str]:
    rest = [_rest_guesser(i, args["url"], args["cert"], crowd) for i in range(args["rest"])]
    ssh = [_ssh_guesser(args["rest"] + i, args["ssh_port"], crowd) for i in range(args["ssh"])]
    await asyncio.gather(*rest, *ssh)
    return crowd.answers


def crowd_process(args: dict[str, Any], go: Event, stop: Event, out: Any) -> None:
    # The crowd's own work stands for machines elsewhere: it yields the CPUs it shares with
    # the node and the administrator here.
    os.nice(19)
    out.put(dict(asyncio.run(_crowd(args, Crowd(go, stop)))))


# --- the administrator (this process) --------------------------------------------------------


def probe(client: httpx.Client, name: str, samples: int, pid: int) -> Phase:
    latencies = []
    cpu0, t0 = cpu_s(pid), time.monotonic()
    for _ in range(samples):
        started = time.perf_counter()
        expect(client.get("assets", params={"limit": 50}), 200)
        latencies.append((time.perf_counter() - started) * 1000)
    return Phase(name, latencies, time.monotonic() - t0, cpu_s(pid) - cpu0)


def password_checks(client: httpx.Client) -> float:
    text = expect_text(client.get("/metrics"))
    for family in text_string_to_metric_families(text):
        for found in family.samples:
            if found.name == CHECKS:
                return float(found.value)
    raise BenchError(f"no {CHECKS} in the node's /metrics")


def expect_text(response: httpx.Response) -> str:
    if response.status_code != 200:
        raise BenchError(f"GET {response.request.url}: {response.status_code} {response.text}")
    return response.text


def bench(args: argparse.Namespace, lab: Lab) -> FloodResult:
    ssh_port = free_port()
    # What a flood costs is the checks' CPU: the production profile, not the lab's light one.
    env = {"PAMNODE_SSH_PROXY_PORT": str(ssh_port), "PAMNODE_PASSWORD_HASH_PROFILE": "standard"}
    if args.login_checks is not None:
        env["PAMNODE_LOGIN_CHECKS"] = str(args.login_checks)
    print(f"starting a main node on {args.database} in {lab.work}")
    main = lab.node("main", env=env)
    pid = node_pid(main)
    admin = create_tenant(main)
    client = httpx.Client(
        base_url=main.api_url(TENANT),
        verify=tls_context(main.cert_path),
        headers={"Authorization": f"Bearer {admin}"},
        timeout=60,
    )
    node_client = httpx.Client(base_url=main.base_url, verify=tls_context(main.cert_path))
    with client, node_client:
        for i in range(ASSETS):
            expect(client.post("assets", json={"name": f"box-{i}", "type": "container"}), 201)
        probe(client, "warm-up", 20, pid)
        context = multiprocessing.get_context("spawn")
        go, stop, out = context.Event(), context.Event(), context.Queue()
        crowd_args = {
            "url": main.api_url(TENANT),
            "cert": main.cert_path,
            "ssh_port": ssh_port,
            "rest": args.rest,
            "ssh": args.ssh,
        }
        crowd = context.Process(target=crowd_process, args=(crowd_args, go, stop, out))
        crowd.start()
        quiet = Phase("quiet", [], 0.0, 0.0)
        flood = Phase(f"flood ({args.rest} REST + {args.ssh} SSH guessers)", [], 0.0, 0.0)
        per_round = args.samples // args.rounds
        checks0 = password_checks(node_client)
        crowd_s = 0.0
        try:
            for round_ in range(1, args.rounds + 1):
                print(f"round {round_}: quiet, then the crowd; {per_round} x GET assets each")
                quiet.add(probe(client, "quiet", per_round, pid))
                go.set()
                started = time.monotonic()
                time.sleep(WARM_UP_S)
                spy = PySpy(args.py_spy, f"flood-{round_}", {"main": pid})
                try:
                    flood.add(probe(client, "flood", per_round, pid))
                finally:
                    spy.stop()
                go.clear()
                crowd_s += time.monotonic() - started
                time.sleep(DRAIN_S)
            crowd_cpu_s = cpu_s(crowd.pid or 0)
        finally:
            stop.set()
        answers: dict[str, int] = out.get(timeout=120)
        crowd.join(60)
        checks = password_checks(node_client) - checks0
    guesses = sum(answers.values())
    notes = [
        f"the crowd made {guesses} guesses in {crowd_s:.1f} s ({guesses / crowd_s:.0f}/s), "
        f"answered: "
        + ", ".join(f"{name}: {n}" for name, n in sorted(answers.items(), key=lambda a: -a[1])),
        f"password hashes (Argon2) the node checked meanwhile: {checks:.0f} "
        f"({checks / crowd_s:.1f}/s); bound on checks at once: "
        + (f"{args.login_checks} (--login-checks)" if args.login_checks else "the default"),
        f"the crowd's process (nice 19) used {crowd_cpu_s:.1f} CPU s",
        f"the administrator's highest latency: quiet {max(quiet.latencies_ms):.0f} ms, flood "
        f"{max(flood.latencies_ms):.0f} ms",
    ]
    return FloodResult(args.database, quiet, flood, notes)


HEADER = ["phase", "GETs", "p50 ms", "p95 ms", "flood ÷ quiet p95", "main CPU %"]


def rows(result: FloodResult) -> list[list[str]]:
    out = []
    for phase in (result.quiet, result.flood):
        ratio = f"{phase.p(95) / result.quiet.p(95):.2f}x"
        out.append(
            [
                phase.name,
                str(len(phase.latencies_ms)),
                f"{phase.p(50):.1f}",
                f"{phase.p(95):.1f}",
                ratio,
                f"{phase.cpu_pct:.0f}",
            ]
        )
    return out


def verdict(result: FloodResult) -> list[str]:
    met = "met" if result.ratio <= TARGET_RATIO else "MISSED"
    return [
        f"- p95 under the flood ≤ {TARGET_RATIO:g}x the quiet p95: {met} "
        f"({result.flood.p(95):.1f} ms ÷ {result.quiet.p(95):.1f} ms = {result.ratio:.2f}x)."
    ]


def section(args: argparse.Namespace) -> Section:
    about = (
        f"One main node on {args.database} with its SSH proxy. The administrator reads `GET "
        f"assets` {args.samples} times in a row in each phase, quiet, then while {args.rest} "
        f"REST clients post logins and {args.ssh} SSH clients offer passwords to the SSH "
        "proxy (a new connection a guess), all for unknown logins, without pause, each from "
        "a loopback address of its own, in a process apart from the administrator's; the "
        f"phases alternate {args.rounds} times. Latency = the "
        "wall time of one request in the administrator's client; main CPU = the node "
        "process's CPU time over the phase ÷ its wall time."
    )
    return Section(
        out=args.out,
        key=f"bench/flood.py --database {args.database}",
        title=f"## An administrator's latency under a login flood on {args.database} "
        "(`bench/flood.py`)",
        command=command_line("bench.flood"),
        machine=machine(f"asyncssh {asyncssh.__version__}, httpx {httpx.__version__}"),
        about=about,
        where="from the repository root",
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rest", type=int, default=80, help="REST login guessers (80)")
    parser.add_argument("--ssh", type=int, default=30, help="SSH proxy guessers (30)")
    parser.add_argument("--samples", type=int, default=200, help="GETs in each phase (200)")
    parser.add_argument(
        "--rounds",
        type=int,
        default=4,
        help="quiet and flood phases alternate this many times, so that other work on the "
        "machine weighs on both alike (4)",
    )
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument(
        "--login-checks",
        type=int,
        default=None,
        help="PAMNODE_LOGIN_CHECKS of the node (its default: the CPUs less one)",
    )
    report_options(parser, py_spy="the main node in each flood phase (raw)")
    args = parser.parse_args(argv)
    if min(args.rest, args.ssh) < 0 or args.rounds < 1 or args.samples < 20 * args.rounds:
        parser.error("--rest and --ssh must be at least 0, --samples at least 20 a round")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # Other work on the machine weighs on the ratio: say how busy it was from the start.
    print(f"load average at the start (1/5/15 min): {load_average()}")
    lab = Lab(Path(tempfile.mkdtemp(prefix="pamnode-bench-flood-")), args.database)

    def work() -> Report:
        result = bench(args, lab)
        return Report(HEADER, rows(result), verdict(result), result.notes)

    ok = run_recorded(lab, args.keep, work, section(args), lambda: log_findings(lab))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
