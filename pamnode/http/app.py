"""The application factory: every area's router under /ztna/{tenant}/{site}/api, the console, the
peer protocol, the error handlers (http/errors.py), the request limits (http/limits.py),
request ids (http/request_id.py) and HSTS (http/transport_security.py)."""

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import cache

from fastapi import APIRouter, FastAPI
from starlette.routing import BaseRoute

from pamnode import __version__
from pamnode.app.banner import banner
from pamnode.app.node import advertised, open_node
from pamnode.app.retention import keep_retention
from pamnode.app.settings import Settings
from pamnode.app.siem import start_streams
from pamnode.core.errors import Conflict
from pamnode.crypto.sealed_ring import SealedStore
from pamnode.db.sole_server import serve_alone
from pamnode.executors.base import Executors
from pamnode.http import (
    apidocs,
    console,
    errors,
    health,
    metrics,
    peer_link,
    peer_protocol,
    tunnel,
)
from pamnode.http.api import account as account_api
from pamnode.http.api import assets as assets_api
from pamnode.http.api import assignments as assignments_api
from pamnode.http.api import audit as audit_api
from pamnode.http.api import directories as directories_api
from pamnode.http.api import identity as identity_api
from pamnode.http.api import jobs as jobs_api
from pamnode.http.api import main_link as main_link_api
from pamnode.http.api import peers as peers_api
from pamnode.http.api import sessions as sessions_api
from pamnode.http.api import vault as vault_api
from pamnode.http.limits import RequestLimits
from pamnode.http.request_id import RequestIds
from pamnode.http.transport_security import StrictTransportSecurity
from pamnode.jobs.listening import follow_other_nodes
from pamnode.jobs.queue import start_queue
from pamnode.jobs.recovery import keep_leases, reconcile
from pamnode.link.mains import keep_advertised
from pamnode.listeners.serve import serve_listeners
from pamnode.sessions.recording_retries import keep_asking
from pamnode.sessions.search_index import keep_indexing

log = logging.getLogger("pamnode.node")

SITE_PREFIX = "/ztna/{tenant}/{site}"
API_PREFIX = SITE_PREFIX + "/api"


def settle_heap() -> None:
    """Keep what the node built to serve (modules, routes, mappers, templates: most of its
    heap) out of the cyclic garbage collector's full passes. Each full pass walks every
    tracked object: about 150 ms of the event loop on a node's heap, and a crowd of requests
    allocates enough to start one every few seconds, so every request arriving then waited
    for it (bench/flood.py: seven such pauses, 150-200 ms, made the administrator's p95).
    What is frozen is still freed when its last reference goes; only cycles among it wait."""
    gc.collect()
    gc.freeze()


@cache
def node_routes() -> tuple[BaseRoute, ...]:
    """Every area's routes, made once per process and given to each app made here.

    FastAPI builds the handlers of an included router (its dependencies and models) on its
    first request and keeps them on the inclusion: included into each new app, they would be
    built again for each (0.3-0.4 s of CPU; a test process makes dozens of apps). The
    routes hold nothing of an app: a request finds its node in `request.app.state`."""
    routes = APIRouter()
    routes.include_router(health.router)
    routes.include_router(metrics.router)
    for router in (
        identity_api.router,
        account_api.router,
        audit_api.router,
        peer_protocol.router,
        assets_api.router,
        vault_api.router,
        peers_api.router,
        directories_api.router,
        assignments_api.router,
        jobs_api.router,
        sessions_api.router,
        main_link_api.router,
    ):
        routes.include_router(router, prefix=API_PREFIX)
    # A session's WebSocket tunnel, beside the console it is opened from.
    routes.include_router(tunnel.router, prefix=SITE_PREFIX)
    # The link of a peer that dials this main, on the same HTTPS port.
    routes.include_router(peer_link.router, prefix=SITE_PREFIX)
    # The web console at each site's base URL, over the same services.
    for router in console.ROUTERS:
        routes.include_router(router, prefix=SITE_PREFIX)
    return tuple(routes.routes)


def create_app(settings: Settings, executors: Executors | None = None) -> FastAPI:
    """The node's ASGI app; `executors` replaces the real SSH/WinRM ones (in-process tests)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Held while serving: a second `serve` on this SQLite file is refused.
        try:
            app.state.serving = serve_alone(settings.resolved_database_url)
        except Conflict as exc:
            log.error("%s", exc.message)
            raise
        app.state.node = await open_node(settings, executors)
        await reconcile(app.state.node.jobs)
        start_queue(app.state.node.jobs)
        await serve_listeners(app.state.node)
        async with app.state.node.database() as db:
            for level, line in await banner(db, app.state.node):
                log.log(level, line)
        node = app.state.node
        # Recordings left on a lost peer, on every node (claimed: safe with several mains).
        shared: list[asyncio.Task[None]] = [
            asyncio.create_task(keep_asking(node.remote_sessions), name="pending recordings")
        ]
        shared.extend(start_streams(settings, node.jobs.database))
        shared.append(
            asyncio.create_task(
                keep_indexing(
                    node.jobs.database,
                    node.remote_sessions.recordings_dir,
                    settings.node_name,
                    settings.search_index_chars,
                ),
                name="session search index",
            )
        )
        shared.append(
            asyncio.create_task(
                keep_retention(
                    node.jobs.database,
                    node.remote_sessions.recordings_dir,
                    settings.node_name,
                    settings.retention_sweep_s,
                ),
                name="retention",
            )
        )
        # Only on a database several nodes may share (one node serves a SQLite file): the
        # restart's `reconcile` is all a lone node needs, and nobody else changes its jobs.
        if app.state.serving is None:
            jobs = app.state.node.jobs
            shared.append(asyncio.create_task(keep_leases(jobs), name="job leases"))
            shared.append(
                asyncio.create_task(
                    follow_other_nodes(jobs, settings.resolved_database_url),
                    name="other nodes' job changes",
                )
            )
            address = advertised(settings)
            if address is not None:
                shared.append(
                    asyncio.create_task(
                        keep_advertised(node.database, settings.node_name, address),
                        name="advertised to dialling peers",
                    )
                )
            store = node.keyring.store
            if isinstance(store, SealedStore):
                shared.append(
                    asyncio.create_task(
                        store.watch(settings.resolved_database_url), name="key ring changes"
                    )
                )
        settle_heap()
        try:
            yield
        finally:
            for task in shared:
                task.cancel()
            await app.state.node.close()
            if app.state.serving is not None:
                app.state.serving.close()

    app = FastAPI(
        title="pamnode",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        routes=list(node_routes()),
    )
    errors.install(app)

    apidocs.install(app, API_PREFIX)
    console.install(app)
    # Outermost: refused before routing, authentication or reading a large body.
    app.add_middleware(RequestLimits, max_body_bytes=settings.max_body_bytes)
    # Outside even that: a refused request has an id too, in its answer and its log line.
    app.add_middleware(RequestIds)
    # Around the others: refusals before routing carry HSTS too.
    app.add_middleware(StrictTransportSecurity)
    return app
