"""OpenSSH's own clients against one real sshd: straight, through the main's SSH proxy, and
through the main's proxy and a peer's HTTP proxy (reached directly, or on the link of a peer
that dials the main), in one run.

    .venv/bin/python -m bench.proxy [--size-mb 200] [--rounds 3] [--execs 200] [--keys 50]
        [--out docs/benchmarks.md] [--no-record] [--no-link] [--py-spy DIR] [--keep]

Modes (the same sshd, the same file, the same clients: Debian's `ssh`, `scp`, `sftp`, password
login from an askpass program, host keys pinned):

- direct: the clients log in to sshd itself as its Unix user. The baseline.
- proxy: `tadmin@bench#local-host` on the main's SSH proxy; the main reaches sshd itself.
- proxy+peer: `tadmin@bench#peer-host`, an asset assigned to a peer: the main's proxy, then the
  peer's HTTP proxy (a grant, TLS, CONNECT), then sshd.
- proxy+link (`--no-link` drops it): `tadmin@bench#link-host`, assigned to a second peer that
  dials the main (connection mode peer_dials): the same, the grant and the TLS to its HTTP
  proxy carried in streams of its link.

Tests, each mode right after the other so that the ratios compare like with like:

- scp and sftp upload and download of one file of SIZE MB of random bytes (the whole client
  command is timed, its login included: MB/s = SIZE / wall); each copy is compared with the
  source afterwards. ROUNDS rounds, each starting with another mode; the median round is
  shown, with its CPU seconds;
- EXECS sequential `ssh … true` (a new connection and login each): ms per exec;
- the round trip of a keystroke in a shell on a real PTY: KEYS keys (`x`, then a backspace,
  alternately), each after 50 ms of quiet, from the write to the first byte of its echo.

CPU seconds of each process during each test: the main and the peers (the nodes themselves),
sshd (its listener and its per-connection processes), and the clients (`ssh`, `scp`, `sftp`).
The run is recorded as a generated section of docs/benchmarks.md with the command and machine.

Needs root (the sshd gets its own throwaway Unix user). Everything started here (sshd, two
nodes) is stopped at the end, also on error.
"""

from __future__ import annotations

import argparse
import filecmp
import os
import resource
import select
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench.common import (
    ADMIN_LOGIN,
    ADMIN_PASSWORD,
    TENANT,
    TENANT_PASSWORD,
    BenchError,
    PySpy,
    add_linked_peer,
    add_trusted_peer,
    command_line,
    cpu_s,
    create_tenant,
    expect,
    failed_outcome,
    free_lines,
    is_root,
    link_option,
    machine,
    markdown_table,
    node_pid,
    report_options,
    run_in_lab,
    run_section,
    run_text,
    server_cpu_s,
    service_token,
    ssh_asset,
    stop_each,
    text_table,
    write_section,
)
from pamnode.core.ssh_library import asyncssh
from pamnode.lab.node_process import NodeProcess
from pamnode.lab.openssh import OpenSshClient, Terminal
from pamnode.lab.ports import free_port
from pamnode.lab.sshd import SshServer

PEER = "east"
# The peer that dials the main (proxy+link).
LINKED = "west"
COPIES = ("scp up", "scp down", "sftp up", "sftp down")
# Targets through the proxy and a peer (issue 30).
MIN_COPY_RATIO = 0.7
# Target through a peer's link: copies at least this times through a peer reached directly
# (issue 28).
MIN_LINK_RATIO = 0.8
MAX_ADDED_EXEC_MS = 50.0
MAX_ADDED_KEY_MS = 2.0
COPY_TIMEOUT_S = 900.0
KEY_QUIET_S = 0.05
KEY_TIMEOUT_S = 5.0
BACKSPACE = b"\x7f"


@dataclass
class Lab:
    work: Path
    sshd: SshServer | None = None
    nodes: list[NodeProcess] = field(default_factory=list)

    def node(self, name: str, env: dict[str, str]) -> NodeProcess:
        # Logins cost what they cost in production (the lab's nodes are otherwise `light`).
        env = {**env, "PAMNODE_PASSWORD_HASH_PROFILE": "standard"}
        node = NodeProcess(self.work / name, name, env=env)
        self.nodes.append(node)  # registered before start, so a failed start is reaped too
        node.start(admin=(ADMIN_LOGIN, ADMIN_PASSWORD))
        return node

    def stop(self) -> list[str]:
        return stop_each([*reversed(self.nodes), *([self.sshd] if self.sshd else [])])


@dataclass(frozen=True)
class Mode:
    name: str
    client: OpenSshClient
    user: str


@dataclass
class Setup:
    lab: Lab
    server: SshServer
    main: NodeProcess
    peer: NodeProcess
    # The peer that dials the main; None with --no-link.
    linked: NodeProcess | None
    modes: list[Mode]

    def cpu(self) -> dict[str, float]:
        assert self.server.proc is not None
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        return {
            "main": cpu_s(node_pid(self.main)),
            "peer": cpu_s(node_pid(self.peer)),
            "link peer": cpu_s(node_pid(self.linked)) if self.linked else 0.0,
            "sshd": server_cpu_s(self.server.proc.pid),
            "clients": children.ru_utime + children.ru_stime,
        }

    def peer_of(self, mode: str) -> NodeProcess | None:
        """The peer node a mode goes through, if any."""
        return {"proxy+peer": self.peer, "proxy+link": self.linked}.get(mode)


def setup(lab: Lab, link: bool) -> Setup:
    server = SshServer("127.0.0.1", free_port())
    lab.sshd = server
    server.start()
    ssh_port, proxy_port = free_port(), free_port()
    main = lab.node("main", {"PAMNODE_SSH_PROXY_PORT": str(ssh_port)})
    peer = lab.node("peer-east", {"PAMNODE_HTTP_PROXY_PORT": str(proxy_port)})
    jwt = service_token(peer)
    linked = lab.node("peer-west", {"PAMNODE_HTTP_PROXY_PORT": str(free_port())}) if link else None
    token = create_tenant(main)
    with main.client(TENANT, token=token) as client:
        add_trusted_peer(client, peer, PEER, jwt, http_proxy=f"127.0.0.1:{proxy_port}")
        ssh_asset(client, server, "local-host")
        assigned = {ssh_asset(client, server, "peer-host"): PEER}
        if linked is not None:
            add_linked_peer(client, main, linked, LINKED, service_token(linked), "http_proxy")
            assigned[ssh_asset(client, server, "link-host")] = LINKED
        for asset, name in assigned.items():
            body = {"peer_node": name, "enabled": True}
            expect(client.post(f"assets/{asset}/peer-nodes", json=body), 201)
    straight = _client(lab.work / "client-direct", server.port, server.password)
    assert server.dir is not None
    straight.pin(server.dir / "ssh_host_ed25519_key")
    proxied = _client(lab.work / "client-proxy", ssh_port, TENANT_PASSWORD)
    proxied.pin(main.data_dir / "ssh_proxy_host_key")
    modes = [
        Mode("direct", straight, server.user),
        Mode("proxy", proxied, f"tadmin@{TENANT}#local-host"),
        Mode("proxy+peer", proxied, f"tadmin@{TENANT}#peer-host"),
    ]
    if linked is not None:
        modes.append(Mode("proxy+link", proxied, f"tadmin@{TENANT}#link-host"))
    return Setup(lab, server, main, peer, linked, modes)


def _client(workdir: Path, port: int, password: str) -> OpenSshClient:
    workdir.mkdir(parents=True)
    return OpenSshClient("127.0.0.1", port, password, workdir)


# --- the tests ---------------------------------------------------------------------------------


@dataclass
class Measure:
    mode: str
    test: str
    # MB/s for a copy, ms for an exec or a keystroke.
    value: float
    cpu: dict[str, float]


def copy(s: Setup, mode: Mode, test: str, source: Path, remote_source: Path) -> float:
    """Run one copy; its wall seconds. The copy is checked against its source."""
    client, port = mode.client, str(mode.client.port)
    uploaded = s.server.home / f"up-{mode.name.replace('+', '-')}.bin"
    downloaded = s.lab.work / "down.bin"
    uploaded.unlink(missing_ok=True)
    downloaded.unlink(missing_ok=True)
    at = f"{mode.user}@{client.host}"
    if test == "scp up":
        argv, stdin = ["scp", "-P", port, str(source), f"{at}:{uploaded}"], b""
    elif test == "scp down":
        # scp refuses '#' in the user name of a remote source: given as an option.
        argv = ["scp", "-P", port, "-o", f"User={mode.user}"]
        argv, stdin = [*argv, f"{client.host}:{remote_source}", str(downloaded)], b""
    elif test == "sftp up":
        argv, stdin = ["sftp", "-P", port, at], f"put {source} {uploaded}\n".encode()
    else:
        argv, stdin = ["sftp", "-P", port, at], f"get {remote_source} {downloaded}\n".encode()
    started = time.perf_counter()
    done = client.run(argv[0], *argv[1:], stdin=stdin, timeout=COPY_TIMEOUT_S)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise BenchError(f"{mode.name} {test}: exit {done.returncode}: {done.stderr.decode()}")
    copied, original = (uploaded, source) if test.endswith("up") else (downloaded, remote_source)
    if not copied.exists() or not filecmp.cmp(copied, original, shallow=False):
        raise BenchError(f"{mode.name} {test}: the copy differs from its source")
    copied.unlink()
    return seconds


def execs(mode: Mode, n: int) -> float:
    """ms per `ssh … true`, each a new connection."""
    started = time.perf_counter()
    for _ in range(n):
        done = mode.client.ssh(mode.user, "true")
        if done.returncode != 0:
            raise BenchError(f"{mode.name} exec: exit {done.returncode}: {done.stderr.decode()}")
    return (time.perf_counter() - started) * 1000 / n


def _drain(terminal: Terminal, quiet_s: float) -> None:
    """Read until nothing came for `quiet_s`."""
    while select.select([terminal.master], [], [], quiet_s)[0]:
        if not os.read(terminal.master, 65536):
            return


def keystrokes(mode: Mode, n: int) -> list[float]:
    """ms from writing each key to the first byte of its echo, in a shell on a PTY."""
    terminal = mode.client.shell(mode.user)
    try:
        terminal.expect("$ ")
        times = []
        for number in range(n):
            _drain(terminal, KEY_QUIET_S)
            key = b"x" if number % 2 == 0 else BACKSPACE
            sent = time.perf_counter()
            os.write(terminal.master, key)
            if not select.select([terminal.master], [], [], KEY_TIMEOUT_S)[0]:
                raise BenchError(f"{mode.name}: no echo of {key!r} within {KEY_TIMEOUT_S:.0f} s")
            times.append((time.perf_counter() - sent) * 1000)
            os.read(terminal.master, 65536)
        _drain(terminal, KEY_QUIET_S)
        # Ctrl-U first: an odd count of keys leaves an `x` on the line.
        terminal.type("\x15exit")
        if terminal.wait() != 0:
            raise BenchError(f"{mode.name}: the shell did not end well:\n{terminal.text}")
        return times
    finally:
        terminal.close()


def measure(
    s: Setup, mode: Mode, test: str, run: Callable[[], float], spy_dir: Path | None
) -> Measure:
    pids = {"main": node_pid(s.main)} if mode.name != "direct" else {}
    if (peer := s.peer_of(mode.name)) is not None:
        pids["peer"] = node_pid(peer)
    label = f"{mode.name}-{test}".replace(" ", "-").replace("+", "-")
    spy = PySpy(spy_dir, label, pids)
    before = s.cpu()
    try:
        value = run()
    finally:
        spy.stop()
    after = s.cpu()
    return Measure(mode.name, test, value, {k: after[k] - before[k] for k in after})


def _median(rounds: list[Measure]) -> Measure:
    """The median round of a test (by its result), with the CPU seconds it used."""
    return sorted(rounds, key=lambda m: m.value)[(len(rounds) - 1) // 2]


def bench(args: argparse.Namespace, lab: Lab, log: Callable[[str], None]) -> list[Measure]:
    log(f"starting sshd, a main with its SSH proxy and peers with their HTTP proxy in {lab.work}")
    s = setup(lab, not args.no_link)
    size = args.size_mb * 1_000_000
    source = lab.work / "source.bin"
    remote_source = s.server.home / "source.bin"
    for path in (source, remote_source):
        with path.open("wb") as out:
            for _ in range(args.size_mb):
                out.write(os.urandom(1_000_000))
        path.chmod(0o644)
    log("warm-up, not recorded: one exec per mode (pins the asset's host key)")
    for mode in s.modes:
        execs(mode, 1)
    results: list[Measure] = []

    def note(m: Measure, text: str) -> None:
        results.append(m)
        cpu = ", ".join(f"{k} {v:.2f}" for k, v in m.cpu.items())
        log(f"{m.mode:>10} {m.test:<9} {text} (CPU s: {cpu})")

    for test in COPIES:
        rounds: dict[str, list[Measure]] = {mode.name: [] for mode in s.modes}
        for number in range(args.rounds):
            # Each round starts with another mode: drift (other work on the machine) does not
            # always fall on the same one.
            shift = number % len(s.modes)
            for mode in s.modes[shift:] + s.modes[:shift]:

                def one(mode: Mode = mode, test: str = test) -> float:
                    return size / copy(s, mode, test, source, remote_source) / 1e6

                spy = args.py_spy if number == 0 else None
                m = measure(s, mode, test, one, spy)
                rounds[mode.name].append(m)
                log(f"  round {number + 1}: {mode.name} {test} {m.value:.1f} MB/s")
        for mode in s.modes:
            m = _median(rounds[mode.name])
            note(m, f"{m.value:.1f} MB/s, median of {args.rounds}")
    for mode in s.modes:
        m = measure(s, mode, "exec", lambda mode=mode: execs(mode, args.execs), args.py_spy)
        note(m, f"{m.value:.1f} ms per exec")
    for mode in s.modes:
        spread: list[float] = []

        def keys(mode: Mode = mode, spread: list[float] = spread) -> float:
            spread.extend(keystrokes(mode, args.keys))
            return statistics.median(spread)

        m = measure(s, mode, "keystroke", keys, None)
        q = statistics.quantiles(spread, n=10)
        note(m, f"{m.value:.2f} ms median (p10 {q[0]:.2f}, p90 {q[-1]:.2f})")
    return results


# --- the report ----------------------------------------------------------------------------------

HEADER = [
    "test",
    "mode",
    "result",
    "÷ direct",
    "added vs direct",
    "main CPU s",
    "peer CPU s",
    "link peer CPU s",
    "sshd CPU s",
    "clients CPU s",
]


def _direct(results: list[Measure], test: str) -> Measure:
    return next(m for m in results if m.test == test and m.mode == "direct")


def table_rows(results: list[Measure]) -> list[list[str]]:
    rows = []
    for m in results:
        base = _direct(results, m.test).value
        if m.test in COPIES:
            result, added = f"{m.value:.1f} MB/s", ""
        else:
            unit = "ms/exec" if m.test == "exec" else "ms/key"
            result, added = f"{m.value:.2f} {unit}", f"{m.value - base:+.2f} ms"
        rows.append(
            [
                m.test,
                m.mode,
                result,
                f"{m.value / base:.2f}x",
                added if m.mode != "direct" else "",
                *(f"{m.cpu[k]:.2f}" for k in ("main", "peer", "link peer", "sshd", "clients")),
            ]
        )
    return rows


def verdict(results: list[Measure]) -> list[str]:
    lines = []
    for m in results:
        if m.mode == "proxy+link" and m.test in COPIES:
            inbound = next(r for r in results if r.test == m.test and r.mode == "proxy+peer")
            ratio = m.value / inbound.value
            met = "met" if ratio >= MIN_LINK_RATIO else "MISSED"
            lines.append(
                f"- {m.test} through a peer's link ≥ {MIN_LINK_RATIO}x through a peer reached "
                f"directly: {met} ({ratio:.2f}x)"
            )
        if m.mode != "proxy+peer":
            continue
        base = _direct(results, m.test).value
        if m.test in COPIES:
            ratio = m.value / base
            met = "met" if ratio >= MIN_COPY_RATIO else "MISSED"
            lines.append(
                f"- {m.test} through a peer ≥ {MIN_COPY_RATIO}x direct: {met} ({ratio:.2f}x)"
            )
        else:
            bound = MAX_ADDED_EXEC_MS if m.test == "exec" else MAX_ADDED_KEY_MS
            added = m.value - base
            met = "met" if added <= bound else "MISSED"
            lines.append(f"- {m.test} through a peer adds ≤ {bound:g} ms: {met} ({added:+.2f} ms)")
    return lines


def record(
    args: argparse.Namespace,
    command: str,
    machine_lines: list[str],
    results: list[Measure] | None,
    failure: str | None,
) -> None:
    if results is not None:
        outcome = [markdown_table(HEADER, table_rows(results), labels=2), ""]
        outcome += ["Targets:", "", *verdict(results)]
    else:
        outcome = failed_outcome(failure or "no result")
    modes = "direct, proxy, proxy+peer" + ("" if args.no_link else ", proxy+link")
    title = f"## SSH proxy, {args.size_mb} MB: {modes} (`bench/proxy.py`)"
    about = (
        f"One sshd on 127.0.0.1; OpenSSH's clients with password login. scp and sftp copy one "
        f"file of {args.size_mb} MB each way (the whole command timed, login included; median "
        f"of {args.rounds} rounds, each starting with another mode, with that round's CPU); "
        f"{args.execs} sequential `ssh … true`; {args.keys} keystrokes in a shell on a PTY "
        "(median ms to the first byte of the echo). Modes: direct (sshd itself), proxy (the "
        "main's SSH proxy, which reaches sshd itself), proxy+peer (the main's proxy, then the "
        "peer's HTTP proxy), proxy+link (the same, to a peer that dials the main, on its link). "
        "÷ direct = result / direct's; CPU s = user + system seconds "
        "of each process during that test."
    )
    body = run_section(title, command, machine_lines, about, outcome)
    write_section(args.out, f"bench/proxy.py --size-mb {args.size_mb}", body)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--size-mb", type=int, default=200, help="size of the file copied (200)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of each copy; median (3)")
    parser.add_argument("--execs", type=int, default=200, help="sequential `ssh … true` (200)")
    parser.add_argument("--keys", type=int, default=50, help="keystrokes timed per mode (50)")
    link_option(parser)
    report_options(parser, py_spy="the main and the peer during each test (raw)", no_record=True)
    args = parser.parse_args(argv)
    if min(args.size_mb, args.execs, args.rounds) < 1 or args.keys < 2:
        parser.error("--size-mb, --execs and --rounds must be at least 1, --keys at least 2")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not is_root("bench/proxy.py", "the sshd gets its own Unix user"):
        return 2
    print(f"uptime at the start: {run_text(['uptime'])}", flush=True)
    command = command_line("bench.proxy")
    machine_lines = machine(f"asyncssh {asyncssh.__version__}") + free_lines()
    lab = Lab(Path(tempfile.mkdtemp(prefix="pamnode-bench-proxy-")))
    failures: list[str] = []
    results = run_in_lab(
        lab,
        args.keep,
        lambda: bench(args, lab, lambda line: print(line, flush=True)),
        failed=failures.append,
    )
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    machine_lines.insert(4, f"- load average at the end (1/5/15 min): {load}")
    if results is not None:
        print()
        print(text_table(HEADER, table_rows(results), labels=2))
        print()
        print("\n".join(verdict(results)))
    if not args.no_record:
        record(args, command, machine_lines, results, failures[0] if failures else None)
        print(f"recorded in {args.out}")
    return 0 if results is not None else 1


if __name__ == "__main__":
    sys.exit(main())
