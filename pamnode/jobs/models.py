"""Jobs and their attempts, and the site's script library."""

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from pamnode.db.base import Base, UTCDateTime, new_id, utcnow


class Script(Base):
    __tablename__ = "scripts"
    __table_args__ = (UniqueConstraint("site_id", "name"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(128))
    description: Mapped[str] = mapped_column(String(1024), default="")
    type: Mapped[str] = mapped_column(String(16))
    body: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        # The queue takes the oldest queued jobs first, in index order.
        Index("ix_jobs_state_created_at", "state", "created_at"),
        # The Jobs report's filters, led by the site: a page's matches are counted in the
        # index alone (migration 0010, docs/scale.md). The node filter matches a signature's
        # prefix, which PostgreSQL's index serves in any collation only character by character.
        Index("ix_jobs_site_id_state", "site_id", "state"),
        Index("ix_jobs_site_id_task", "site_id", "task"),
        Index("ix_jobs_site_id_requested_by", "site_id", "requested_by"),
        Index(
            "ix_jobs_site_id_node_signature",
            "site_id",
            "node_signature",
            postgresql_ops={"node_signature": "varchar_pattern_ops"},
        ),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    # "local": asked for on this node; "peer": sent here by a main node through the peer protocol.
    origin: Mapped[str] = mapped_column(String(8), default="local")
    asset_id: Mapped[str | None] = mapped_column(
        ForeignKey("assets.id", ondelete="SET NULL"), index=True
    )
    # Snapshots, so the report still reads right after the asset or script is renamed or gone.
    asset_name: Mapped[str] = mapped_column(String(255), default="")
    task: Mapped[str] = mapped_column(String(32))
    script_name: Mapped[str] = mapped_column(String(128), default="")
    # The body as it was when the job was asked for: later edits do not change what runs.
    script_type: Mapped[str] = mapped_column(String(16), default="")
    script_body: Mapped[str] = mapped_column(Text, default="")
    batch_id: Mapped[str | None] = mapped_column(String(36), index=True)
    state: Mapped[str] = mapped_column(String(16))
    requested_by: Mapped[str] = mapped_column(String(160))
    # Where the job goes: {host, port, protocol}; never a credential.
    target: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    timeout_s: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    node_signature: Mapped[str | None] = mapped_column(String(400))
    peer_node: Mapped[str | None] = mapped_column(String(128))
    exit_status: Mapped[int | None] = mapped_column(Integer)
    output: Mapped[str] = mapped_column(Text, default="")
    # When the site's retention removed the output (sessions/retention.py); None: kept.
    output_removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    facts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    error: Mapped[str] = mapped_column(Text, default="")
    error_code: Mapped[str] = mapped_column(String(40), default="")
    # The SSH host key the endpoint presented (public), so the main can pin it on first contact.
    host_key: Mapped[str | None] = mapped_column(Text)
    # The main node that holds the job while it runs (the one that took it from the queue, or
    # took it over), and until when: it renews the lease while it lives (`jobs/leases.py`).
    claimed_by: Mapped[str | None] = mapped_column(String(128))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The number of this row's latest change in the node's job feed (`JobFeed`); what a main
    # following its jobs here with a cursor reads past.
    change_seq: Mapped[int | None] = mapped_column(BigInteger, index=True)

    attempts: Mapped[list["JobAttempt"]] = relationship(
        cascade="all, delete-orphan",
        passive_deletes=True,
        lazy="selectin",
        order_by="JobAttempt.number",
    )


class JobAttempt(Base):
    """One try at running a job: on this node, or through one peer node."""

    __tablename__ = "job_attempts"
    __table_args__ = (UniqueConstraint("job_id", "number"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    # None: this node ran it.
    peer_node: Mapped[str | None] = mapped_column(String(128))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    outcome: Mapped[str] = mapped_column(String(16), default="running")
    error: Mapped[str] = mapped_column(Text, default="")


class JobFeed(Base):
    """The node's one counter of job changes: every write to a job takes the next number.

    Taking it locks this row (PostgreSQL) or the database (SQLite) until the write commits,
    so numbers commit in order: a reader that has seen number N has seen every change up to N.
    `feed_id` names this database's counter, so a cursor from another (a peer rebuilt at the
    same address) is recognised and read from the start.
    """

    __tablename__ = "job_feed"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    feed_id: Mapped[str] = mapped_column(String(36))
    seq: Mapped[int] = mapped_column(BigInteger)


class JobFeedCursor(Base):
    """How far this main has read a peer's job feed: the peer's `feed_id:seq`."""

    __tablename__ = "job_feed_cursors"

    peer_id: Mapped[str] = mapped_column(
        ForeignKey("peer_nodes.id", ondelete="CASCADE"), primary_key=True
    )
    cursor: Mapped[str] = mapped_column(String(80))
