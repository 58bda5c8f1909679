"""What the benchmarks share: the tenant they make on each node, Step 1 on a peer, a tolerant
subprocess helper, CPU seconds of a process, the tables and the machine's description.
Imported by `bench/*.py`, which run as scripts (their folder is on the path).
"""

from __future__ import annotations

import os
import platform
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from pamnode.lab.node_process import NodeProcess

TENANT = "bench"


ADMIN_LOGIN, ADMIN_PASSWORD = "admin", "Bench-Admin-Passw0rd!"


TENANT_PASSWORD = "Bench-Tenant-Passw0rd!"


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
    load = Path("/proc/loadavg").read_text().split()[:3]
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
        f"- load average at the start (1/5/15 min): {' '.join(load)}",
        f"- {tools}; {ssh_version}",
        f"- pamnode at commit {commit}",
    ]
