"""The node's Prometheus instruments, in a registry of its own.

One `NodeMetrics` per node (never the process-wide default registry: the in-process tests run
several nodes in one process). `app/node.py` makes it and hands it to the areas that update
it (the job path, the peer client, sessions, the proxy); `GET /metrics` renders `registry`.
What the database holds (jobs by state, sessions in progress) is read at scrape time and set
with `set_jobs` and `set_sessions`; everything else is counted where it happens.
"""

from collections.abc import Iterable, Mapping
from typing import Literal, get_args

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import QueuePool

# A job's life, or a delegated job's trip, from under a second (a status check) to an hour.
SECONDS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 3600)

# What a request to a peer came to (`pamnode.peers.client`).
PeerOutcome = Literal["ok", "refused", "unreachable", "tls", "timeout", "invalid"]
# What failed over to its next peer.
FailoverKind = Literal["job", "session", "proxy"]


class NodeMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.jobs = Gauge(
            "pamnode_jobs",
            "Jobs in this node's database, by state and node signature (read at scrape time).",
            ["state", "node_signature"],
            registry=self.registry,
        )
        self.job_duration = Histogram(
            "pamnode_job_duration_seconds",
            "From when this node takes a job from its queue (its first attempt opens) to its "
            "end, here or through a peer; the wait in the queue is not counted.",
            buckets=SECONDS,
            registry=self.registry,
        )
        self.delegation_duration = Histogram(
            "pamnode_delegation_duration_seconds",
            "From sending a job to a peer to its result arriving from the peer's feed.",
            ["peer"],
            buckets=SECONDS,
            registry=self.registry,
        )
        self.peer_requests = Counter(
            "pamnode_peer_requests",
            "Requests of this node to peers, by peer site URL and outcome.",
            ["peer", "outcome"],
            registry=self.registry,
        )
        self.failovers = Counter(
            "pamnode_failovers",
            "Times a job or session went on to its next peer after one failed.",
            ["kind"],
            registry=self.registry,
        )
        # At 0 from the start, so that `increase()` sees the first failover.
        for kind in get_args(FailoverKind):
            self.failovers.labels(kind)
        self.sessions_active = Gauge(
            "pamnode_sessions_active",
            "Remote and proxy sessions connecting or active, by protocol (read at scrape time).",
            ["protocol"],
            registry=self.registry,
        )
        self.password_checks = Counter(
            "pamnode_password_checks",
            "Password hashes (Argon2) this node checked, for logins of its API, console and "
            "SSH proxy; refused logins that never reached the hash are not counted.",
            registry=self.registry,
        )
        self.ssh_handshakes_refused = Counter(
            "pamnode_ssh_handshakes_refused",
            "Connections to the SSH proxy closed as they were accepted, past its key exchanges "
            "a second (ssh_proxy_handshakes_per_s).",
            registry=self.registry,
        )
        self.db_pool_checked_out = Gauge(
            "pamnode_db_pool_checked_out",
            "Database connections in use, by engine (requests or jobs).",
            ["engine"],
            registry=self.registry,
        )
        self.db_pool_size = Gauge(
            "pamnode_db_pool_size",
            "Database connections the engine's pool holds at most, by engine.",
            ["engine"],
            registry=self.registry,
        )

    def watch_pools(self, engines: Mapping[str, AsyncEngine]) -> None:
        """Read each engine's pool at scrape time."""
        for name, engine in engines.items():
            pool = engine.pool
            assert isinstance(pool, QueuePool), "db/engine.py makes pooled engines"
            self.db_pool_checked_out.labels(name).set_function(pool.checkedout)
            self.db_pool_size.labels(name).set_function(pool.size)

    def peer_request(self, peer: str, outcome: PeerOutcome) -> None:
        self.peer_requests.labels(peer, outcome).inc()

    def failed_over(self, kind: FailoverKind) -> None:
        self.failovers.labels(kind).inc()

    def set_jobs(self, counts: Iterable[tuple[str, str | None, int]]) -> None:
        """Jobs by (state, node signature); a job not run yet has no signature ("")."""
        _replace(self.jobs, (((state, signature or ""), n) for state, signature, n in counts))

    def set_sessions(self, counts: Iterable[tuple[str, int]]) -> None:
        _replace(self.sessions_active, (((protocol,), n) for protocol, n in counts))


def _replace(gauge: Gauge, values: Iterable[tuple[tuple[str, ...], int]]) -> None:
    # Whole: a state no job is in any more must not keep its last count.
    gauge.clear()
    for labels, value in values:
        gauge.labels(*labels).set(value)
