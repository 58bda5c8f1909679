"""A site's home page: the seed's getting-started checklist and a few counts.

The checklist follows ../shared/seed/peer-nodes.txt: Step 1 is done on the site that serves as
a peer (a Service user and its API token), Step 2 on the site that delegates to it (the peer
added, trusted, assigned, and a job run through it). A site may be either or both, so both
parts are shown, each step read from the database.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from pamnode.assets.models import Asset
from pamnode.audit.models import AuditEvent
from pamnode.audit.service import latest_by_target
from pamnode.db.base import utcnow
from pamnode.identity.models import ApiToken, SiteRoleGrant
from pamnode.identity.principal import Principal
from pamnode.identity.roles import Permission, SiteRole
from pamnode.identity.tenants import refuse_base_tenant
from pamnode.jobs.models import Job
from pamnode.jobs.states import JobState
from pamnode.peers import registry
from pamnode.peers.models import Component, PeerAssignment, PeerNode

# The overview sums up what these permissions read page by page; only their holders see it.
READS = (
    Permission.USERS_READ,
    Permission.ROLES_READ,
    Permission.API_TOKENS_READ,
    Permission.PEERS_READ,
    Permission.ASSETS_VIEW_ALL,
    Permission.JOBS_READ,
    Permission.AUDIT_READ,
)
RECENT = timedelta(hours=24)
TEST_CONNECTION = "peer-node.test-connection"


@dataclass(frozen=True)
class Step:
    label: str
    done: bool
    # The console page that does it, relative to the site's base URL.
    page: str


@dataclass(frozen=True)
class PeerSummary:
    id: str
    name: str
    enabled: bool
    trusted: bool
    # The last Test Connection, from the audit trail (None if never run).
    tested_at: datetime | None
    test_ok: bool | None
    test_code: str


@dataclass(frozen=True)
class Overview:
    as_peer: list[Step]
    as_main: list[Step]
    peers: list[PeerSummary]
    assets: int
    # Jobs created in the last RECENT, by state.
    recent_jobs: dict[str, int]


def _summary(peer: PeerNode, test: AuditEvent | None) -> PeerSummary:
    return PeerSummary(
        id=peer.id,
        name=peer.name,
        enabled=peer.enabled,
        trusted=peer.pin(Component.JOB_RUNNER) is not None,
        tested_at=test.at if test else None,
        test_ok=test.outcome == "success" if test else None,
        test_code=str(test.details.get("code", "")) if test else "",
    )


def may_see(principal: Principal) -> bool:
    return all(principal.can(permission) for permission in READS)


async def site_overview(db: AsyncSession, principal: Principal) -> Overview:
    refuse_base_tenant(principal.tenant, "hold peer nodes or assets")
    for permission in READS:
        principal.require(permission)
    site_id = principal.site.id
    now = utcnow()
    service_users = select(SiteRoleGrant.user_id).where(
        SiteRoleGrant.site_id == site_id, SiteRoleGrant.role == SiteRole.SERVICE.value
    )
    site_peers = select(PeerNode.id).where(PeerNode.site_id == site_id)
    # The yes/no facts and the asset count in one round trip.
    facts = (
        await db.execute(
            select(
                exists(service_users),
                exists().where(
                    ApiToken.site_id == site_id,
                    ApiToken.user_id.in_(service_users),
                    ApiToken.enabled.is_(True),
                    ApiToken.expires_at > now,
                ),
                exists().where(PeerAssignment.peer_node_id.in_(site_peers)),
                exists().where(
                    Job.site_id == site_id,
                    Job.peer_node.is_not(None),
                    Job.state == JobState.SUCCEEDED.value,
                ),
                select(func.count(Asset.id)).where(Asset.site_id == site_id).scalar_subquery(),
            )
        )
    ).one()
    has_service_user, has_token, assigned, ran_through_peer, assets = facts
    peers = await registry.list_peers(db, principal)
    by_state = await db.execute(
        select(Job.state, func.count())
        .where(Job.site_id == site_id, Job.created_at >= now - RECENT)
        .group_by(Job.state)
    )
    tests = await latest_by_target(
        db, principal.tenant.name, principal.site.name, TEST_CONNECTION, [p.name for p in peers]
    )
    summaries = [_summary(peer, tests.get(peer.name)) for peer in peers]
    return Overview(
        as_peer=[
            Step(
                "Create a Service user: a local user granted the Service role",
                bool(has_service_user),
                "users",
            ),
            Step("Issue the Service user an API token", bool(has_token), "api-tokens"),
        ],
        as_main=[
            Step("Add the peer node with that token", bool(peers), "peer-nodes"),
            Step(
                "Verify trust: pin the peer's certificate",
                any(p.trusted for p in summaries),
                "peer-nodes",
            ),
            Step("Assign the peer to a container or an asset", bool(assigned), "assets"),
            Step(
                "Run a first job through the peer (an asset's Execute)",
                bool(ran_through_peer),
                "assets",
            ),
        ],
        peers=summaries,
        assets=int(assets),
        recent_jobs={state: count for state, count in by_state.all()},
    )
