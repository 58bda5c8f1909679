"""Remote sessions and their attempts: on a main, the Sessions report; on a peer, the sessions
its gateway carried for a main (same table, `origin` "peer")."""

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from pamnode.db.base import Base, UTCDateTime, new_id, utcnow


class Channel(StrEnum):
    """How a session reached its host, as Reports > Sessions names it."""

    # Through a gateway (guacd), drawn in the browser.
    SSH = "SSH"
    RDP = "RDP"
    VNC = "VNC"
    # Native clients through the main's SSH proxy: one row per SSH channel.
    SSHP_SHELL = "SSHP:Shell"
    SSHP_EXEC = "SSHP:Exec"
    SSHP_SFTP = "SSHP:SFTP"
    # An RDP client's TCP stream passed through, unseen.
    RDPP = "RDPP"

    @property
    def label(self) -> str:
        """In words, for messages: "an RDP pass-through", "an SSH command (SSHP:Exec)"."""
        return _CHANNEL_LABELS[self]

    @property
    def protocol(self) -> str:
        """The protocol the target must speak for this channel."""
        if self in (Channel.RDP, Channel.RDPP):
            return "rdp"
        return "vnc" if self is Channel.VNC else "ssh"


_CHANNEL_LABELS = {
    Channel.SSH: "an SSH session in the browser",
    Channel.RDP: "an RDP session in the browser",
    Channel.VNC: "a VNC session in the browser",
    Channel.SSHP_SHELL: "an SSH shell through the SSH proxy (SSHP:Shell)",
    Channel.SSHP_EXEC: "an SSH command through the SSH proxy (SSHP:Exec)",
    Channel.SSHP_SFTP: "an SFTP or scp transfer through the SSH proxy (SSHP:SFTP)",
    Channel.RDPP: "an RDP pass-through (RDPP)",
}


class Session(Base):
    __tablename__ = "sessions"
    # The report of a user who may not read every session lists its own (sessions/report.py).
    __table_args__ = (Index("ix_sessions_site_id_user_id", "site_id", "user_id"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    # "local": opened on this node; "peer": carried by this node's gateway for a main node.
    origin: Mapped[str] = mapped_column(String(8), default="local")
    asset_id: Mapped[str | None] = mapped_column(
        ForeignKey("assets.id", ondelete="SET NULL"), index=True
    )
    asset_name: Mapped[str] = mapped_column(String(255), default="")
    # The target's protocol: ssh, rdp or vnc.
    protocol: Mapped[str] = mapped_column(String(8))
    channel: Mapped[str] = mapped_column(String(16), default="")
    # Where the session goes: {host, port}; never a credential.
    target: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    state: Mapped[str] = mapped_column(String(16), index=True)
    requested_by: Mapped[str] = mapped_column(String(160))
    # Who owns it (sees it in the report, its recordings, attaches to it): the user's id, not
    # its login, which a new user may take after a deletion. No foreign key: the row is a
    # record and keeps a deleted user's id, which no later user gets. None on a peer's rows.
    user_id: Mapped[str | None] = mapped_column(String(36))
    # How its user proved who they are when a login opened it (the SSH proxy's: "password",
    # "publickey SHA256:...", with "+totp" after a second factor); "" otherwise.
    login_method: Mapped[str] = mapped_column(String(120), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # What carried it: a peer's gateway or HTTP proxy address, or this node itself.
    gateway: Mapped[str] = mapped_column(String(300), default="")
    peer_node: Mapped[str | None] = mapped_column(String(128))
    # The main node that carries it (its tunnel, proxy or pass-through), once one does.
    served_by: Mapped[str | None] = mapped_column(String(128))
    node_signature: Mapped[str | None] = mapped_column(String(400), index=True)
    bytes_in: Mapped[int] = mapped_column(BigInteger, default=0)
    bytes_out: Mapped[int] = mapped_column(BigInteger, default=0)
    error: Mapped[str] = mapped_column(Text, default="")
    error_code: Mapped[str] = mapped_column(String(40), default="")
    terminated_by: Mapped[str | None] = mapped_column(String(128))
    # Which recording files this node holds for it (under its data directory).
    recordings: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Each recording's SHA-256 (hex) by kind, taken as the session ended, before the files
    # leave the writer's hands: what `pamnode audit verify` checks the files against.
    recording_hashes: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    # When the site's retention removed the recordings (sessions/retention.py); None: kept.
    recordings_removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Recordings still on the peer that carried it (the peer was lost, or did not answer at
    # the end): the peer, when a main next asks it (None once fetched or given up), and how
    # many times it asked (sessions/recording_retries.py).
    recording_peer_id: Mapped[str | None] = mapped_column(String(36))
    recording_next_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    recording_tries: Mapped[int] = mapped_column(Integer, default=0)
    # When the text of its recordings went into the search index (sessions/search_index.py);
    # None: not yet (it has not ended, its recordings are still on a peer, or it ended before
    # the index existed).
    text_indexed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)

    @property
    def recordings_pending(self) -> bool:
        """Recordings are still on the peer that carried it, to be fetched."""
        return self.recording_next_at is not None

    @property
    def watching(self) -> list[str]:
        """Who watches it live now (Monitor)."""
        return [watch.watcher for watch in self.watches if watch.ended_at is None]

    attempts: Mapped[list["SessionAttempt"]] = relationship(
        cascade="all, delete-orphan",
        passive_deletes=True,
        lazy="selectin",
        order_by="SessionAttempt.number",
    )
    watches: Mapped[list["SessionWatch"]] = relationship(
        cascade="all, delete-orphan",
        passive_deletes=True,
        lazy="selectin",
        order_by="SessionWatch.started_at",
    )


class SessionAttempt(Base):
    """One try at opening a session: through this node's guacd, or one peer's gateway."""

    __tablename__ = "session_attempts"
    __table_args__ = (UniqueConstraint("session_id", "number"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    session_id: Mapped[str] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    peer_node: Mapped[str | None] = mapped_column(String(128))
    gateway: Mapped[str] = mapped_column(String(300))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    outcome: Mapped[str] = mapped_column(String(16))
    error: Mapped[str] = mapped_column(Text, default="")


class SessionWatch(Base):
    """Someone watching a session live (Monitor), read-only: who, from when, until when."""

    __tablename__ = "session_watches"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    session_id: Mapped[str] = mapped_column(
        ForeignKey("sessions.id", ondelete="CASCADE"), index=True
    )
    watcher: Mapped[str] = mapped_column(String(160))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # None while the watcher is still watching.
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SessionText(Base):
    """A piece of what a session showed or did, as the search across sessions finds it: lines
    of terminal output, exec command lines, SFTP operations (sessions/search_index.py).

    The full-text index over `body` is the database's own, made by the migration: an FTS5
    table `session_texts_fts` on SQLite (kept by triggers), a generated `tsvector` column
    `body_tsv` with a GIN index on PostgreSQL (sessions/search.py queries either)."""

    __tablename__ = "session_texts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_id: Mapped[str] = mapped_column(
        ForeignKey("sessions.id", ondelete="CASCADE"), index=True
    )
    # The recording it was read from (asciicast, typescript, commands, files).
    kind: Mapped[str] = mapped_column(String(16))
    # Seconds into the terminal recording's playback when it was all on the screen; None for
    # what has no timing.
    offset_s: Mapped[float | None] = mapped_column(Float)
    body: Mapped[str] = mapped_column(Text)
