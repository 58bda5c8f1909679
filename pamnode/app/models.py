"""Every area's tables on one metadata: what Alembic's autogenerate compares the database with.

The wiring layer holds it because it alone may know every area; the migration environment
(`pamnode/db/migrations/env.py`) is the one module below it that imports it.
"""

from pamnode.assets.models import Asset, AssetHostKey, AssetPermission, AssetSecret
from pamnode.audit.models import AuditChainHead, AuditEvent
from pamnode.crypto.models import SealedKeyRing
from pamnode.db.base import Base
from pamnode.directories.models import Directory, DirectoryGroup
from pamnode.identity.models import ApiToken, LoginSession, Site, SiteRoleGrant, Tenant, User
from pamnode.jobs.models import Job, JobAttempt, Script
from pamnode.link.models import MainLink, MainNode
from pamnode.peers.models import PeerAssignment, PeerNode, PeerPin
from pamnode.sessions.models import Session, SessionAttempt, SessionText

__all__ = [
    "ApiToken",
    "Asset",
    "AssetHostKey",
    "AssetPermission",
    "AssetSecret",
    "AuditChainHead",
    "AuditEvent",
    "Base",
    "Directory",
    "DirectoryGroup",
    "Job",
    "JobAttempt",
    "LoginSession",
    "MainLink",
    "MainNode",
    "PeerAssignment",
    "PeerNode",
    "PeerPin",
    "Script",
    "SealedKeyRing",
    "Session",
    "SessionAttempt",
    "SessionText",
    "Site",
    "SiteRoleGrant",
    "Tenant",
    "User",
]
