"""The fast tier: a whole node in this process, over ASGI, with a fake executor.

Nothing is started but the app itself (SQLite in a temporary directory; PostgreSQL only where
two writers race, which SQLite alone cannot show): the routes, the
services and the database are real; hosts are `FakeExecutor`. What only real processes can
show (TLS, sshd, PostgreSQL, restarts, namespaces) stays in tests/integration and tests/e2e.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from pamnode.app.node import Node
from pamnode.app.settings import Settings
from pamnode.executors.fake import FakeExecutor
from pamnode.http.app import create_app
from pamnode.identity.tenants import init_base_admin
from pamnode.lab.schema_template import copy_migrated_sqlite
from tests.conftest import ADMIN_LOGIN, ADMIN_PASSWORD
from tests.support.hashing import remembered_hashes
from tests.support.identity import PASSWORD

NODE_NAME = "svc-main"


@dataclass
class InProcessNode:
    transport: httpx.ASGITransport
    client: httpx.AsyncClient
    executor: FakeExecutor
    # The node's own objects, for a test that reads or writes its database directly.
    state: Node

    def api(self, tenant: str, site: str = "root") -> str:
        return f"/ztna/{tenant}/{site}/api/"

    async def login(self, tenant: str, login: str, password: str = PASSWORD) -> str:
        body = {"login": login, "password": password}
        response = await self.client.post(self.api(tenant) + "auth/login", json=body)
        assert response.status_code == 200, response.text
        return str(response.json()["token"])

    def as_(self, tenant: str, token: str, site: str = "root") -> httpx.AsyncClient:
        """A client for one site's API, with a caller's token."""
        return httpx.AsyncClient(
            transport=self.transport,
            base_url=f"https://testserver{self.api(tenant, site)}",
            headers={"Authorization": f"Bearer {token}"},
        )

    async def tenant(self, name: str, admin: str = "tadmin") -> str:
        """A new tenant made by the base administrator; its administrator's session token."""
        base = await self.login("base", ADMIN_LOGIN, ADMIN_PASSWORD)
        async with self.as_("base", base) as client:
            body = {"name": name, "admin_login": admin, "admin_password": PASSWORD}
            response = await client.post("tenants", json=body)
            assert response.status_code == 201, response.text
        return await self.login(name, admin)


@contextlib.asynccontextmanager
async def in_process_node(data: Path, **settings: Any) -> AsyncIterator[InProcessNode]:
    """A node in this process (fake executors, a base administrator) with these settings."""
    executor = FakeExecutor()
    # The tests' targets may be on loopback; a test of the destination policy gives its own.
    settings.setdefault("target_allow_cidrs", ["127.0.0.0/8"])
    settings.setdefault("password_hash_profile", "light")
    node_settings = Settings(data_dir=data, node_name=NODE_NAME, **settings)
    if not node_settings.database_url:
        # The schema copied at head, as the lab's nodes do: not every migration again.
        copy_migrated_sqlite(data / "pamnode.db")
    app = create_app(node_settings, executors={"ssh": executor, "winrm": executor})
    with remembered_hashes():
        async with app.router.lifespan_context(app):
            async with app.state.node.database.begin() as db:
                await init_base_admin(db, ADMIN_LOGIN, ADMIN_PASSWORD)
            transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
            async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as c:
                yield InProcessNode(transport, c, executor, app.state.node)


@pytest.fixture(scope="module")
async def node(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[InProcessNode]:
    async with in_process_node(
        tmp_path_factory.mktemp("svc"), job_output_cap_bytes=64 * 1024
    ) as started:
        yield started


@pytest.fixture(params=["sqlite", "postgresql"])
async def node_on_each_database(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[InProcessNode]:
    """A node of each test's own, on SQLite and on a migrated PostgreSQL database of its own:
    for the modules whose subject is the database (claims, races, first writers, the audit
    chain), which take it as their `node`."""
    url = None
    if request.param == "postgresql":
        cluster = request.getfixturevalue("postgres_cluster")
        hint = request.module.__name__.rsplit(".", 1)[-1].removeprefix("test_")
        url = cluster.create_database(
            cluster.unique_name(hint.removesuffix("_in_process")), migrated=True
        )
    async with in_process_node(tmp_path, database_url=url) as started:
        yield started
