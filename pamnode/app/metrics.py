"""`GET /metrics`: who may read it, and reading it (the database's counts, then the node's
registry in Prometheus's text format)."""

import hmac

from prometheus_client import generate_latest

from pamnode.app.node import Node
from pamnode.app.settings import Settings
from pamnode.core.errors import Forbidden, Unauthenticated
from pamnode.identity.api_tokens import address_in
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
    if not address_in(settings.metrics_allow_cidrs, source):
        raise Forbidden(
            f"{source or 'this caller'} may not read the metrics: scrape from a network in "
            "metrics_allow_cidrs, or send the metrics token as a bearer token",
            code="metrics_forbidden",
        )


async def scrape(node: Node) -> bytes:
    """The node's metrics, with the database's counts read now (one GROUP BY each)."""
    async with node.database() as db:
        jobs = await count_by_state(db)
        sessions = await count_in_progress(db)
    node.metrics.set_jobs(jobs)
    node.metrics.set_sessions(sessions)
    return generate_latest(node.metrics.registry)
