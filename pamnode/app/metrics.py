"""`GET /metrics`: who may read it, and reading it (the database's counts, then the node's
registry in Prometheus's text format)."""

import hmac
import ipaddress

from prometheus_client import generate_latest

from pamnode.app.node import Node
from pamnode.app.settings import Settings
from pamnode.core.errors import Forbidden, Unauthenticated
from pamnode.jobs.report import count_by_state
from pamnode.sessions.report import count_in_progress


def admit_scraper(settings: Settings, source: str, token: str | None) -> None:
    """Let the caller read the metrics, or raise: a bearer token must be the metrics token
    (401 otherwise, even from an allowed network: a wrong credential is a mistake to show);
    without one, the source address must be in `metrics_allow_cidrs` (403 otherwise)."""
    if token is not None:
        expected = settings.metrics_token
        if expected is not None and hmac.compare_digest(
            token.encode(), expected.get_secret_value().encode()
        ):
            return
        raise Unauthenticated(
            "the bearer token is not this node's metrics token", code="metrics_token_refused"
        )
    if not _allowed_source(settings, source):
        raise Forbidden(
            f"{source or 'this caller'} may not read the metrics: scrape from a network in "
            "metrics_allow_cidrs, or send the metrics token as a bearer token",
            code="metrics_forbidden",
        )


def _allowed_source(settings: Settings, source: str) -> bool:
    try:
        address = ipaddress.ip_address(source)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        # A dual-stack listener reports IPv4 callers as ::ffff:a.b.c.d.
        address = address.ipv4_mapped
    return any(address in network for network in settings.metrics_allow_cidrs)


async def scrape(node: Node) -> bytes:
    """The node's metrics, with the database's counts read now (one GROUP BY each)."""
    async with node.sessions() as db:
        jobs = await count_by_state(db)
        sessions = await count_in_progress(db)
    node.metrics.set_jobs(jobs)
    node.metrics.set_sessions(sessions)
    return generate_latest(node.metrics.registry)
