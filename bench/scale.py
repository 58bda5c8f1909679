"""The queries that grow with a site, on a generated data set on PostgreSQL: the effective peer
set of a deep asset, the Jobs report's first page with each filter, and the asset search.

    .venv/bin/python -m bench.scale [--runs 20] [--out docs/scale.md]

Run it as a module from the repository root (it imports `bench.common`). Needs the PostgreSQL
server binaries: it starts the test suite's throwaway cluster (tests/support/postgres.py; as
root, the server runs as the `postgres` system user) and stops it at the end, also on error.

The data set (bench/scale_data.py: 100,000 assets in a 6-level tree, 1,000 peer nodes
assigned on containers at every level, 1,000,000 jobs with their attempts) is written by
set-based SQL into a database migrated by pamnode itself (`open_node`), whose tenant, users
and grant are made by pamnode's own service functions; then VACUUM ANALYZE, as autovacuum
would. The database's collation is not "C", as a production database's is not.

Every query is pamnode's own function (`serving`, `assignments.view`, `list_jobs`,
`resolve_asset`, `list_assets`), called on a session of the node's engine in a transaction
of its own, as a request runs it. After WARMUP unrecorded calls, `--runs` calls are timed
(median and 95th percentile, in ms, from the transaction's start to its end). The statements
of one more call are captured (`before_cursor_execute`) and each is run again under EXPLAIN
(ANALYZE, BUFFERS) with the same parameters. The table is printed, and written with the
plans to the generated section of docs/scale.md.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncSession

from bench.common import (
    ADMIN_LOGIN,
    ADMIN_PASSWORD,
    REPO,
    TENANT,
    TENANT_PASSWORD,
    command_line,
    free_lines,
    machine,
    markdown_table,
    run_section,
    text_table,
    write_section,
)
from bench.scale_data import (
    ADMIN,
    DAYS,
    JOBS,
    LEVELS,
    OPERATOR,
    PEERS,
    asset_id,
    deep_host,
    generate,
    host_name,
    host_parent,
)
from pamnode.app.node import Node, open_node
from pamnode.app.settings import Settings
from pamnode.assets import grants as asset_grants
from pamnode.assets import library
from pamnode.assets.lookup import resolve_asset
from pamnode.assets.tree import lineage
from pamnode.identity import users
from pamnode.identity.grants import roles_of
from pamnode.identity.models import Site, Tenant, User
from pamnode.identity.names import BASE_TENANT, ROOT_SITE
from pamnode.identity.principal import Principal
from pamnode.identity.tenants import create_tenant, get_site, get_tenant, init_base_admin
from pamnode.jobs.report import JobFilter, count_by_state, list_jobs
from pamnode.jobs.states import JobState
from pamnode.overview.site import site_overview
from pamnode.peers.assignments import view
from pamnode.peers.selection import Purpose, serving

OUT = REPO / "docs" / "scale.md"
KEY = "bench/scale.py"
LIMIT_MS = 50.0
WARMUP = 3
# The Jobs report's page in the console and the API's default.
PAGE = 50
NODE_NAME = "main-a"
PEER = "peer-0042"

Call = Callable[[AsyncSession], Awaitable[str]]


# --- the node and its callers -------------------------------------------------------------


@dataclass(frozen=True)
class Callers:
    admin: Principal  # the tenant's administrator: every job, every asset
    operator: Principal  # no site role: operator on one datacenter, sees its own jobs


async def _principal(db: AsyncSession, user: User, tenant: Tenant, site: Site) -> Principal:
    return Principal(user, tenant, site, await roles_of(db, site, user), "session", "bench")


async def make_tenant(node: Node) -> Callers:
    """Tenant TENANT with its administrator and OPERATOR, made by pamnode's service functions
    (the key ring's tenant keys and signing key included)."""
    async with node.database.begin() as db:
        base_admin = await init_base_admin(db, ADMIN_LOGIN, ADMIN_PASSWORD)
        base_tenant = await get_tenant(db, BASE_TENANT)
        base_site = await get_site(db, base_tenant, ROOT_SITE)
        base = await _principal(db, base_admin, base_tenant, base_site)
        tenant = await create_tenant(db, node.keyring, base, TENANT, None, ADMIN, TENANT_PASSWORD)
        site = await get_site(db, tenant, ROOT_SITE)
        admin = await _principal(db, await users.get_user(db, tenant, ADMIN), tenant, site)
        operator = await users.create_user(db, admin, login=OPERATOR, password=TENANT_PASSWORD)
        return Callers(admin, await _principal(db, operator, tenant, site))


def _datacenter() -> str:
    """The level-2 container above the deep host, on which OPERATOR is operator."""
    return asset_id(2, host_parent(deep_host()) // (LEVELS[4] // LEVELS[1]))


def _database(cluster: Any) -> str:
    """A database whose collation is not "C", as a production one's (en_US.UTF-8, ...) is not:
    under "C" alone the planner serves `LIKE 'prefix%'` from an ordinary index."""
    name = cluster.unique_name("bench_scale")
    cluster.sql(
        "postgres",
        f"CREATE DATABASE \"{name}\" TEMPLATE template0 ENCODING 'UTF8' "
        "LC_COLLATE 'C.UTF-8' LC_CTYPE 'C.UTF-8'",
    )
    return str(cluster.url(name))


async def build(cluster: Any, work: Path) -> tuple[Node, Callers]:
    """The node (its database migrated by `open_node`), its tenant and users, the data set,
    OPERATOR's grant, and the planner's statistics."""
    settings = Settings(
        data_dir=work / NODE_NAME, database_url=_database(cluster), node_name=NODE_NAME
    )
    node = await open_node(settings)
    try:
        callers = await make_tenant(node)
        print("generating the data set", flush=True)
        started = time.perf_counter()
        async with node.engine.begin() as connection:
            await generate(connection, callers.admin.site.id, datetime.now(UTC))
        async with node.database.begin() as db:
            await asset_grants.grant(db, callers.admin, _datacenter(), OPERATOR, "operator")
        async with node.engine.connect() as connection:
            autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
            await autocommit.execute(text("VACUUM ANALYZE"))
        print(f"  generated and analysed in {time.perf_counter() - started:.0f} s", flush=True)
    except BaseException:
        await node.close()
        raise
    return node, callers


# --- what is measured ---------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    group: str
    name: str
    # The call; what it answered, as the table shows it ("50 of 1,000,000").
    call: Call


def _jobs(where: JobFilter, principal: Principal) -> Call:
    async def call(db: AsyncSession) -> str:
        page = await list_jobs(db, principal, where, PAGE, 0)
        more = "more than " if page.capped else ""
        return f"{len(page.rows)} of {more}{page.total:,}"

    return call


def _listing(principal: Principal, **filters: str) -> Call:
    async def call(db: AsyncSession) -> str:
        return f"{len(await library.list_assets(db, principal, **filters)):,}"

    return call


def _resolving(principal: Principal, ref: str) -> Call:
    async def call(db: AsyncSession) -> str:
        return "1" if await resolve_asset(db, principal.site.id, ref) else "0"

    return call


async def cases(node: Node, callers: Callers) -> list[Case]:
    admin, operator = callers.admin, callers.operator
    host = deep_host()
    deep = asset_id(6, host)
    async with node.database.begin() as db:
        path = "/".join(a.name for a in reversed(await lineage(db, deep)))
        batch = await db.scalar(
            text("SELECT batch_id FROM jobs WHERE asset_id = :asset LIMIT 1"), {"asset": deep}
        )
        newest = await db.scalar(text("SELECT max(created_at) FROM jobs"))
    day = newest - timedelta(days=DAYS // 2)

    async def serving_jobs(db: AsyncSession) -> str:
        return f"{len(await serving(db, deep, Purpose.JOBS))} peers"

    async def assignments_view(db: AsyncSession) -> str:
        found = await view(db, admin, deep)
        return f"{len(found.reaches)} assignments, {len(found.effective[Purpose.JOBS])} peers"

    async def overview(db: AsyncSession) -> str:
        found = await site_overview(db, admin)
        return f"{len(found.peers):,} peers, {sum(found.recent_jobs.values()):,} jobs in 24 h"

    async def metrics(db: AsyncSession) -> str:
        return f"{len(await count_by_state(db)):,} (state, signature) pairs"

    peers = "effective peer set"
    report = "Jobs report, first page"
    search = "asset search"
    listing = "asset listing (`GET assets` has no paging)"
    other = "other reads that grow"
    return [
        Case(peers, f"`serving` of host {path} (the job path)", serving_jobs),
        Case(peers, "`GET assets/{id}/peer-nodes` (`assignments.view`)", assignments_view),
        Case(report, "no filter", _jobs(JobFilter(), admin)),
        Case(report, "state=failed", _jobs(JobFilter(state=JobState.FAILED), admin)),
        Case(report, "state=running", _jobs(JobFilter(state=JobState.RUNNING), admin)),
        Case(report, "task=script", _jobs(JobFilter(task="script"), admin)),
        Case(report, f"node={PEER}", _jobs(JobFilter(node=PEER), admin)),
        Case(report, f"node={NODE_NAME}", _jobs(JobFilter(node=NODE_NAME), admin)),
        Case(report, "asset_id (the host above)", _jobs(JobFilter(asset_id=deep), admin)),
        Case(report, "batch_id", _jobs(JobFilter(batch_id=batch), admin)),
        Case(
            report,
            "since, until (one day)",
            _jobs(JobFilter(since=day, until=day + timedelta(days=1)), admin),
        ),
        Case(report, f"no filter, as {OPERATOR} (its own jobs)", _jobs(JobFilter(), operator)),
        Case(search, "by name (`resolve_asset`)", _resolving(admin, host_name(host))),
        Case(search, "by path (`resolve_asset`)", _resolving(admin, path)),
        Case(
            search,
            "`GET assets?parent_id=` (the host's container)",
            _listing(admin, parent_id=asset_id(5, host_parent(host))),
        ),
        Case(
            search,
            f"`GET assets?parent_id=`, as {OPERATOR}",
            _listing(operator, parent_id=asset_id(5, host_parent(host))),
        ),
        Case(
            listing,
            "`?type=windows-host&tag=staging`",
            _listing(admin, type="windows-host", tag="staging"),
        ),
        Case(listing, f"as {OPERATOR} (what it may view: its datacenter)", _listing(operator)),
        Case(listing, "the whole library", _listing(admin)),
        Case(other, "the console's home page (`site_overview`)", overview),
        Case(other, "`GET /metrics`: jobs by state and signature (`count_by_state`)", metrics),
    ]


# --- timing and plans ----------------------------------------------------------------------


@dataclass
class Measured:
    case: Case
    answer: str
    times_ms: list[float]
    plans: list[tuple[str, str]]

    @property
    def median(self) -> float:
        return statistics.median(self.times_ms)

    @property
    def p95(self) -> float:
        ordered = sorted(self.times_ms)
        return ordered[round(0.95 * (len(ordered) - 1))]


class Statements:
    """The statements the node's engine sends while `capturing`, with their parameters."""

    def __init__(self, node: Node) -> None:
        self.capturing = False
        self.sent: list[tuple[str, Any]] = []
        event.listen(node.engine.sync_engine, "before_cursor_execute", self._sent)

    def _sent(self, _conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if self.capturing:
            self.sent.append((statement, parameters))


async def _once(node: Node, case: Case) -> tuple[str, float]:
    started = time.perf_counter()
    async with node.database.begin() as db:
        answer = await case.call(db)
    return answer, (time.perf_counter() - started) * 1000


async def _plans(node: Node, statements: Statements, case: Case) -> list[tuple[str, str]]:
    statements.sent = []
    statements.capturing = True
    try:
        async with node.database.begin() as db:
            await case.call(db)
    finally:
        statements.capturing = False
    plans = []
    async with node.engine.connect() as connection:
        for statement, parameters in statements.sent:
            explained = await connection.exec_driver_sql(
                "EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters
            )
            plans.append((statement, "\n".join(row[0] for row in explained)))
        await connection.rollback()
    return plans


async def measure(node: Node, statements: Statements, case: Case, runs: int) -> Measured:
    for _ in range(WARMUP):
        await _once(node, case)
    timed = [await _once(node, case) for _ in range(runs)]
    return Measured(
        case, timed[-1][0], [ms for _, ms in timed], await _plans(node, statements, case)
    )


# --- the report ----------------------------------------------------------------------------

HEADER = ["query", "answer", "median ms", "p95 ms", f"under {LIMIT_MS:.0f} ms"]


def _row(measured: Measured) -> list[str]:
    under = "yes" if measured.median < LIMIT_MS and measured.p95 < LIMIT_MS else "**no**"
    return [
        f"{measured.case.group}: {measured.case.name}",
        measured.answer,
        f"{measured.median:.1f}",
        f"{measured.p95:.1f}",
        under,
    ]


# A select list of more than three columns (the ORM names every column of the table).
_COLUMNS = re.compile(
    r"SELECT ([\w.]+(?: AS \w+)?), (?:[\w.]+(?: AS \w+)?, ){2,}[\w.]+(?: AS \w+)? ?\n"
)
_PARAMETERS = re.compile(r"\(\$(\d+)::VARCHAR(?:, \$\d+::VARCHAR)+, \$(\d+)::VARCHAR\)")
_LITERALS = re.compile(r"'\{[^}]{120,}\}'")
# The planner's estimate kept (rows), its cost and width left out.
_COST = re.compile(r"cost=\S+ (rows=\d+) width=\d+")
# Plan lines left out: how sorts, hashes and caches used memory, and the planning time.
_DETAIL = re.compile(
    r"^\s*(Planning Time|Buckets|Full-sort Groups|Pre-sorted Groups|Cache Key|Cache Mode|"
    r"Hits:|Heap Blocks|Worker \d)"
)


def short_sql(statement: str) -> str:
    """A statement as the plans show it: the select list and long IN lists cut."""
    statement = _COLUMNS.sub(r"SELECT \1, …\n", statement.strip())
    return _PARAMETERS.sub(r"($\1, …, $\2)", statement)


def short_plan(plan: str) -> str:
    """A plan as the docs show it: the planner's estimated rows without its costs, the buffers
    of the top node only, no memory details, no planning block."""
    lines = plan.splitlines()
    kept = [_COST.sub(r"planned \1", lines[0])]
    planning = False
    for line in lines[1:]:
        if line.startswith("Planning:"):
            planning = True
            continue
        if planning and line.startswith("  "):
            continue
        planning = False
        if (line.lstrip().startswith("Buffers:") and len(kept) > 1) or _DETAIL.match(line):
            continue
        kept.append(_COST.sub(r"planned \1", _LITERALS.sub("'{…}'", line)))
    return "\n".join(kept)


def plan_lines(results: Sequence[Measured]) -> list[str]:
    lines = []
    for measured in results:
        summary = (
            f"{measured.case.group}: {measured.case.name} ({measured.answer}; median "
            f"{measured.median:.1f} ms)"
        )
        lines += ["<details>", f"<summary>{summary}</summary>", ""]
        for statement, plan in measured.plans:
            lines += ["```sql", short_sql(statement), "```", "", "```", short_plan(plan), "```", ""]
        lines += ["</details>", ""]
    return lines


async def _sizes(node: Node) -> list[str]:
    """The tables that grow, with their indexes, as PostgreSQL stores them."""
    query = text(
        "SELECT relname, pg_size_pretty(pg_table_size(oid)), "
        "pg_size_pretty(pg_indexes_size(oid)) FROM pg_class "
        "WHERE relname IN ('jobs', 'job_attempts', 'assets', 'asset_secrets') ORDER BY relname"
    )
    async with node.engine.connect() as connection:
        rows = (await connection.execute(query)).all()
    return [f"`{name}` {table} (indexes {indexes})" for name, table, indexes in rows]


def _server(cluster: Any) -> str:
    version, buffers, work_mem = (
        cluster.sql("postgres", f"SHOW {name}")[0][0]
        for name in ("server_version", "shared_buffers", "work_mem")
    )
    return (
        f"PostgreSQL {version} (the test suite's throwaway cluster, fsync off; shared_buffers "
        f"{buffers}, work_mem {work_mem})"
    )


def write_docs(
    out: Path, command: str, machine_lines: list[str], sizes: list[str], results: list[Measured]
) -> None:
    about = (
        f"Data set: {sum(LEVELS):,} containers and {100_000 - sum(LEVELS):,} hosts in a 6-level "
        f"tree, {PEERS:,} peer nodes, {JOBS:,} jobs over {DAYS} days; stored as "
        f"{', '.join(sizes)}. Each query: {WARMUP} warm-up calls, then the figures of "
        f"{len(results[0].times_ms)} calls, each in a transaction of its own."
    )
    table = markdown_table(HEADER, [_row(m) for m in results])
    outcome = [table, "", "Plans (EXPLAIN (ANALYZE, BUFFERS) of each statement of one call):", ""]
    body = run_section(
        "### Figures and plans",
        command,
        machine_lines,
        about,
        outcome + plan_lines(results),
        where="from the repository root",
    )
    write_section(out, KEY, body)


# --- the run -------------------------------------------------------------------------------


async def run(cluster: Any, work: Path, runs: int, out: Path) -> list[Measured]:
    machine_lines = [*machine(_server(cluster)), *free_lines()]
    node, callers = await build(cluster, work)
    try:
        statements = Statements(node)
        results = []
        print("measuring", flush=True)
        for case in await cases(node, callers):
            measured = await measure(node, statements, case, runs)
            print(f"  {' '.join(_row(measured))}", flush=True)
            results.append(measured)
        print(text_table(HEADER, [_row(m) for m in results]))
        write_docs(out, command_line("bench.scale"), machine_lines, await _sizes(node), results)
        return results
    finally:
        await node.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20, help="timed calls of each query")
    parser.add_argument("--out", type=Path, default=OUT, help="where the section is written")
    args = parser.parse_args()
    # The test suite's throwaway cluster: initdb + pg_ctl on a free loopback port.
    from tests.support.postgres import PostgresCluster

    cluster = PostgresCluster().start()
    work = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    try:
        asyncio.run(run(cluster, work, args.runs, args.out))
    finally:
        cluster.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
