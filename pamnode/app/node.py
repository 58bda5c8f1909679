"""What a running node holds: settings, database, key ring, peer clients, the job path and the
session path.

Areas get the narrow context they need (`JobContext`, `SessionContext`), never the node whole.
"""

import random
from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from pamnode import __version__
from pamnode.app.data_dir import DIR_MODE, make_private
from pamnode.app.key_ring import open_key_ring
from pamnode.app.settings import Settings
from pamnode.app.tls import certificate_der
from pamnode.audit.apart import AuditApart
from pamnode.core.destinations import DestinationPolicy
from pamnode.core.metrics import NodeMetrics
from pamnode.crypto.fingerprints import fingerprint
from pamnode.crypto.keyring import KeyRing
from pamnode.db.engine import make_engine, make_sessionmaker
from pamnode.db.migrate import upgrade
from pamnode.directories.accounts import DirectoryAccounts
from pamnode.executors import default_executors
from pamnode.executors.base import Executors
from pamnode.identity.caller_cache import CallerCache
from pamnode.identity.external import ExternalAccounts, NoDirectories
from pamnode.identity.login_guard import CheckSlots, HandshakeRate, LoginGuard, cpu_slots
from pamnode.identity.passwords import use_profile
from pamnode.identity.throttle import LoginThrottle
from pamnode.jobs.context import JobContext
from pamnode.jobs.pool import JobPool
from pamnode.jobs.states import JobState, apart, end_broken
from pamnode.link.answer import MainSide
from pamnode.link.hub import LinkHub
from pamnode.link.uplink import Listeners, Uplinks
from pamnode.link.wire import MainAddress
from pamnode.peers.client import PeerClients
from pamnode.peers.trust import describe
from pamnode.proxy.context import ProxyContext
from pamnode.proxy.grants import grant_book
from pamnode.sessions.context import SessionContext
from pamnode.sessions.guacd import Guacd
from pamnode.sessions.states import end_interrupted
from pamnode.sessions.tickets import ticket_book

# Connections the job pool's engine keeps beyond one per running job: restart recovery and
# the crash handler write through it too.
JOB_POOL_SPARE = 4
# A job's state write may wait this long for a connection; it never competes with requests.
JOB_POOL_TIMEOUT_S = 30.0


class Serving(Protocol):
    """A listener `serve` started beside HTTPS (pamnode/listeners/): a protocol server that
    translates its clients' bytes into the areas' use cases."""

    def announce(self) -> str:
        """The startup banner's line: where it listens, as a main's administrator enters and
        pins it."""

    async def close(self) -> None: ...


@dataclass
class Node:
    settings: Settings
    # Requests' engine and database, its session factory (a short pool wait, then 503).
    engine: AsyncEngine
    database: async_sessionmaker[AsyncSession]
    # The job path's own engine, sized for job_concurrency.
    job_engine: AsyncEngine
    keyring: KeyRing
    peer_clients: PeerClients
    jobs: JobContext
    remote_sessions: SessionContext
    proxy: ProxyContext
    # The Prometheus instruments the areas update (`GET /metrics`).
    metrics: NodeMetrics
    # As a main: the links of the peers that dial it; as a peer: its sites' links to mains.
    links: MainSide
    uplinks: Uplinks
    # The listeners beyond HTTPS that `serve` started (pamnode/listeners/serve.py).
    listeners: list[Serving] = field(default_factory=list)
    login_guard: LoginGuard = field(default_factory=LoginGuard)
    # Audit rows of refusals, in transactions of their own, written together.
    audit_apart: AuditApart = field(init=False)
    # Directory users' sign-in and account checks (directories/accounts.py).
    accounts: ExternalAccounts = field(default_factory=NoDirectories)
    # Verified API-token callers, remembered for settings.api_token_cache_s (off by default).
    callers: CallerCache = field(default_factory=lambda: CallerCache(0))
    version: str = __version__

    def __post_init__(self) -> None:
        self.audit_apart = AuditApart(self.database)

    async def close(self) -> None:
        await self.uplinks.close()
        self.links.hub.close_all()
        await self.jobs.pool.shutdown()
        for waiting in list(self.proxy.background):
            waiting.cancel()
        for listener in self.listeners:
            await listener.close()
        await self.remote_sessions.guacd.close()
        await self.peer_clients.aclose()
        await self.engine.dispose()
        await self.job_engine.dispose()


async def open_node(settings: Settings, executors: Executors | None = None) -> Node:
    """Migrate the schema, open the key ring and make sure the base tenant exists.

    `executors` replaces the real ones (SSH, WinRM), e.g. by a fake in the in-process tests.
    """
    make_private(settings.data_dir)
    use_profile(settings.password_hash_profile)
    url = settings.resolved_database_url
    engine = make_engine(url, settings.db_pool_size, settings.db_pool_timeout_s)
    await upgrade(engine)
    database = make_sessionmaker(engine)
    job_engine = make_engine(url, settings.job_concurrency + JOB_POOL_SPARE, JOB_POOL_TIMEOUT_S)
    job_database = make_sessionmaker(job_engine)
    keyring = await open_key_ring(settings, database)

    async def crashed(job_id: str, exc: BaseException) -> None:
        broke = f"the job broke: {type(exc).__name__}"
        await apart(
            job_database, end_broken, job_id, JobState.FAILED, code="internal_error", message=broke
        )

    async def cancelled(job_id: str) -> None:
        await apart(job_database, end_broken, job_id, JobState.CANCELLED)

    metrics = NodeMetrics()
    metrics.watch_pools({"requests": engine, "jobs": job_engine})
    hub = LinkHub()
    login_guard = LoginGuard(
        LoginThrottle(),
        CheckSlots(settings.login_checks or cpu_slots()),
        metrics.password_checks.inc,
        HandshakeRate(settings.ssh_proxy_handshakes_per_s),
        refusal_pause_s=settings.login_refusal_pause_s,
    )
    accounts = DirectoryAccounts(keyring, settings.directory_cache_s)
    # guacd creates each session's directory, but not the ones above it.
    recordings_dir = (settings.data_dir / "recordings").resolve()
    recordings_dir.mkdir(mode=DIR_MODE, exist_ok=True)
    guacd = Guacd(settings.guacd_command, settings.data_dir, recordings_dir, settings.guacd_user)
    rdp_ports: set[int] = set()

    def own_ports() -> set[int]:
        listening = {
            settings.port,
            settings.gateway_port,
            settings.http_proxy_port,
            settings.ssh_proxy_port,
            guacd.port,
        }
        return {port for port in listening if port is not None} | rdp_ports

    destinations = DestinationPolicy(tuple(settings.target_allow_cidrs), own_ports)
    peer_clients = PeerClients(metrics, destinations, hub)
    jobs = JobContext(
        database=job_database,
        keyring=keyring,
        pool=JobPool(settings.job_concurrency, crashed, cancelled, metrics.job_duration.observe),
        peers=peer_clients,
        executors=executors if executors is not None else default_executors(),
        node_name=settings.node_name,
        rng=random.SystemRandom(),
        output_cap_bytes=settings.job_output_cap_bytes,
        follow_grace_s=settings.peer_follow_grace_s,
        lease_s=settings.job_lease_s,
        metrics=metrics,
        destinations=destinations,
    )
    remote_sessions = SessionContext(
        database=job_database,
        keyring=keyring,
        peers=peer_clients,
        guacd=guacd,
        node_name=settings.node_name,
        recordings_dir=recordings_dir,
        rng=random.SystemRandom(),
        tickets=ticket_book(settings.session_ticket_ttl_s),
        metrics=metrics,
        destinations=destinations,
    )
    await end_interrupted(job_database, settings.node_name)
    proxy = ProxyContext(
        database=job_database,
        node_name=settings.node_name,
        keyring=keyring,
        peers=peer_clients,
        recordings_dir=remote_sessions.recordings_dir,
        login_guard=login_guard,
        accounts=accounts,
        rng=random.SystemRandom(),
        live=remote_sessions.live,
        shells=remote_sessions.shells,
        idle_timeout_s=settings.proxy_idle_timeout_s,
        grants=grant_book(settings.proxy_grant_ttl_s),
        metrics=metrics,
        destinations=destinations,
        rdp_ports=rdp_ports,
    )
    node = Node(
        settings,
        engine,
        database,
        job_engine,
        keyring,
        peer_clients,
        jobs,
        remote_sessions,
        proxy,
        metrics,
        MainSide(database, hub, _own_sha256(settings), __version__),
        Uplinks(_own_listeners(settings), __version__, settings.link_backoff_cap_s),
        login_guard=login_guard,
        accounts=accounts,
        callers=CallerCache(settings.api_token_cache_s),
    )
    return node


def _own_sha256(settings: Settings) -> str:
    """The HTTPS certificate's SHA-256, which a peer's signed link answer is bound to."""
    return fingerprint(certificate_der(settings.cert_file)) if settings.cert_file else ""


def advertised(settings: Settings) -> MainAddress | None:
    """What other mains tell their dialling peers of this one, if it gives an address."""
    if settings.link_advertised_url is None or settings.cert_file is None:
        return None
    facts = describe(certificate_der(settings.cert_file))
    return MainAddress(
        url=settings.link_advertised_url, sha256=facts.sha256, certificate_pem=facts.pem
    )


def _reachable(host: str, port: int) -> tuple[str, int]:
    """Where this node reaches its own listener: loopback for one bound to every address."""
    return {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host), port


def _own_listeners(settings: Settings) -> Listeners:
    """The listeners a main may reach through this peer's link: the API here, the gateway
    front and HTTP proxy once they start (`listeners/serve.py`)."""
    return Listeners(_reachable(settings.host, settings.port))
