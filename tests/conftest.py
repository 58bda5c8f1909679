from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, TypeVar

import pytest

from pamnode.lab import LabUnavailable
from pamnode.lab.node_process import NodeProcess
from pamnode.lab.ports import free_port
from pamnode.lab.served_node import ServedNode
from pamnode.lab.slapd import LdapServer
from pamnode.lab.sshd import SshServer
from pamnode.lab.zygote import Zygote
from tests.support import cli
from tests.support.directories import GROUP_LIST, PEOPLE_LIST
from tests.support.hashing import remembered_hashes
from tests.support.postgres import PostgresCluster

if TYPE_CHECKING:
    from pamnode.lab.inprocess_node import InProcessNode

# Honours PAMNODE_TEST_SHARD (scripts/test.sh runs the suite in shards); inert without it.
pytest_plugins = ["tests.support.shards"]

ADMIN_LOGIN = "admin"
ADMIN_PASSWORD = "Admin-Passw0rd!"

NodeFactory = Callable[..., NodeProcess]


def _unavailable(reason: str) -> NoReturn:
    # In CI every component is installed by .ci/run: a skip there would turn a broken
    # environment into a green run, so it is an error instead.
    if os.environ.get("CI") == "true":
        raise RuntimeError(f"required component unavailable in CI: {reason}")
    pytest.skip(f"unavailable here: {reason}")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    try:
        return (yield)
    except LabUnavailable as exc:
        _unavailable(str(exc))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    try:
        return (yield)
    except LabUnavailable as exc:
        _unavailable(str(exc))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """`@pytest.mark.only_on("sqlite")`: a test whose subject does not depend on the database
    runs on one backend; its other instances are deselected, not skipped (a skip in CI
    means a missing component)."""
    kept: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        marker = item.get_closest_marker("only_on")
        callspec = getattr(item, "callspec", None)
        kind = callspec.params.get("db_kind") if callspec is not None else None
        if marker is not None and kind is not None and kind not in marker.args:
            dropped.append(item)
        else:
            kept.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    # Session-scoped fixtures are only built when first requested, so a run that
    # never touches PostgreSQL never pays for initdb.
    cluster = PostgresCluster().start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def zygote() -> Iterator[Zygote]:
    """One interpreter with pamnode imported, from which the suite's nodes and CLI runs are
    forked (pamnode/lab/zygote.py): about 2 s of CPU less for each of a few hundred. Started
    by the first module that makes a node."""
    forks = Zygote.start()
    cli.use_zygote(forks)
    try:
        yield forks
    finally:
        cli.use_zygote(None)
        forks.stop()


@pytest.fixture(scope="module")
def sshd() -> Iterator[SshServer]:
    """A real OpenSSH endpoint on loopback with its own throwaway user."""
    with SshServer("127.0.0.1", free_port()) as server:
        yield server


@pytest.fixture(scope="module")
def slapd() -> Iterator[LdapServer]:
    """A real OpenLDAP server on loopback (LDAPS, and StartTLS on the next port) with the
    people and nested groups of tests/support/directories.py; its own database per module."""
    port = free_port()
    with LdapServer("127.0.0.1", port, list(PEOPLE_LIST), list(GROUP_LIST)) as server:
        yield server


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A node's database is SQLite unless the module says `pytestmark =
    pytest.mark.databases("sqlite", "postgresql")`: only the modules whose subject is the
    database (several mains, races, recovery, backup, rotation, persistence) and one smoke
    module per area run twice; the rest adds no SQL of its own and runs once."""
    if "db_kind" not in metafunc.fixturenames:
        return
    marker = metafunc.definition.get_closest_marker("databases")
    kinds = list(marker.args) if marker is not None else ["sqlite"]
    # Module scope lets every test of a module share the nodes built for one backend.
    metafunc.parametrize("db_kind", kinds, ids=kinds, indirect=True, scope="module")


@pytest.fixture(scope="module")
def db_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


ServedNodeT = TypeVar("ServedNodeT", bound=ServedNode)


def _module_nodes(
    request: pytest.FixtureRequest,
    db_kind: str,
    tmp_path_factory: pytest.TempPathFactory,
    build: Callable[[Path, str, str | None, dict[str, str] | None, bool], ServedNodeT],
) -> Iterator[Callable[..., ServedNodeT]]:
    """A module's factory of started nodes with its administrator, on its backend, each
    stopped at the module's end; `build(data_dir, name, database_url, env, fresh)`."""
    module = re.sub(r"\W", "_", request.module.__name__.rsplit(".", 1)[-1])
    root = tmp_path_factory.mktemp(f"{module}-{db_kind}")
    nodes: list[ServedNodeT] = []

    def make(name: str, env: dict[str, str] | None = None, fresh: bool = False) -> ServedNodeT:
        data_dir = Path(root) / name
        if data_dir.exists():
            raise ValueError(f"node {name!r} already made in this module for {db_kind}")
        url: str | None = None
        if db_kind == "postgresql":
            cluster: PostgresCluster = request.getfixturevalue("postgres_cluster")
            url = cluster.create_database(cluster.unique_name(f"{module}_{name}"), migrated=True)
        node = build(data_dir, name, url, env, fresh)
        # Registered before start so teardown also reaps a node whose init fails.
        nodes.append(node)
        node.start(admin=(ADMIN_LOGIN, ADMIN_PASSWORD))
        return node

    yield make

    errors: list[str] = []
    for node in reversed(nodes):
        try:
            node.stop()
        except Exception as exc:
            errors.append(f"{node.name}: {exc!r}")
    if errors:
        raise RuntimeError("failed to stop nodes: " + "; ".join(errors))


@pytest.fixture(scope="module")
def node_factory(
    request: pytest.FixtureRequest,
    db_kind: str,
    tmp_path_factory: pytest.TempPathFactory,
    zygote: Zygote,
) -> Iterator[NodeFactory]:
    """`make(name, env=None, fresh=False)`: a `pamnode serve` process of this module;
    `fresh`: a new interpreter, not a fork of the zygote (for what only a fresh start shows,
    such as warnings printed while importing). For a test that kills, restarts or signals
    its node, reads its log or tests `serve`; other tests use `inprocess_node_factory`."""

    def build(
        data_dir: Path, name: str, url: str | None, env: dict[str, str] | None, fresh: bool
    ) -> NodeProcess:
        return NodeProcess(data_dir, name, url, env=env, zygote=None if fresh else zygote)

    yield from _module_nodes(request, db_kind, tmp_path_factory, build)


@pytest.fixture(scope="module")
def inprocess_node_factory(
    request: pytest.FixtureRequest, db_kind: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., InProcessNode]]:
    """`make(name, env=None)`: a node of this module served in the test process on a real
    TLS port (pamnode/lab/inprocess_node.py), for API-contract tests: no process start."""
    # Here, not at the top: it imports the whole application, which the fast tier never needs.
    from pamnode.lab.inprocess_node import InProcessNode

    def build(
        data_dir: Path, name: str, url: str | None, env: dict[str, str] | None, fresh: bool
    ) -> InProcessNode:
        if fresh:
            raise ValueError("a fresh interpreter is a NodeProcess's (node_factory)")
        return InProcessNode(data_dir, name, url, env=env)

    with remembered_hashes():
        yield from _module_nodes(request, db_kind, tmp_path_factory, build)
