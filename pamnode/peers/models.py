"""Peer-node connections of a site, their pinned certificates, and their assignments to assets."""

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, ForeignKey, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from pamnode.db.base import Base, UTCDateTime, new_id, utcnow


class Component(StrEnum):
    """The parts of a peer the main pins a certificate for; each is a capability flag too, and
    each but the job runner listens at an address of its own (`<capability>_address`)."""

    JOB_RUNNER = "job-runner"
    GATEWAY = "gateway"
    HTTP_PROXY = "http-proxy"

    @property
    def capability(self) -> str:
        """The PeerNode column that says the peer includes this component."""
        return self.value.replace("-", "_")

    @property
    def label(self) -> str:
        """As the console names it: "Job Runner", "Gateway", "HTTP Proxy"."""
        return (
            "HTTP Proxy" if self is Component.HTTP_PROXY else self.value.replace("-", " ").title()
        )

    @property
    def address_field(self) -> str:
        """The PeerNode column with the address it listens at (not the job runner's: its URL)."""
        return f"{self.capability}_address"


class PeerNode(Base):
    __tablename__ = "peer_nodes"
    __table_args__ = (UniqueConstraint("site_id", "name"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(128))
    job_runner: Mapped[bool] = mapped_column(Boolean, default=True)
    url: Mapped[str] = mapped_column(String(2048))
    # Sealed by the vault with context `peer-node:{id}:access-token`; write-only in the API.
    access_token_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    # Read from the token's own `exp` claim when it is saved, to warn before it runs out.
    access_token_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    gateway: Mapped[bool] = mapped_column(Boolean, default=False)
    gateway_address: Mapped[str] = mapped_column(String(300), default="")
    # The peer's HTTP CONNECT proxy, which carries proxy sessions (server:port).
    http_proxy: Mapped[bool] = mapped_column(Boolean, default=False)
    http_proxy_address: Mapped[str] = mapped_column(String(300), default="")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # Who opens the connection: the main (to the peer's URL and listeners) or the peer (one
    # link to the main that carries them; pamnode/link/).
    connection_mode: Mapped[str] = mapped_column(
        String(16), default="main_dials", server_default="main_dials"
    )
    # The one-time enrolment code of a peer that dials: its SHA-256 (the code has 192 random
    # bits, so no slow hash is needed), when it runs out, and when it was used.
    link_code_sha256: Mapped[str | None] = mapped_column(String(64), unique=True)
    link_code_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    link_code_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The Ed25519 public key (base64) the peer made at enrolment; None: not enrolled/revoked.
    link_public_key: Mapped[str | None] = mapped_column(String(64))
    link_enrolled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    pins: Mapped[list["PeerPin"]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True, lazy="selectin"
    )

    def pin(self, component: str) -> "PeerPin | None":
        return next((pin for pin in self.pins if pin.component == component), None)


class ConnectionMode(StrEnum):
    MAIN_DIALS = "main_dials"
    PEER_DIALS = "peer_dials"


class PeerPin(Base):
    """The certificate trusted for one component (job-runner or gateway) of a peer."""

    __tablename__ = "peer_pins"
    __table_args__ = (UniqueConstraint("peer_node_id", "component"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    peer_node_id: Mapped[str] = mapped_column(ForeignKey("peer_nodes.id", ondelete="CASCADE"))
    component: Mapped[str] = mapped_column(String(16))
    sha256: Mapped[str] = mapped_column(String(64))
    certificate_pem: Mapped[str] = mapped_column(Text)
    not_after: Mapped[datetime] = mapped_column(UTCDateTime)
    established_by: Mapped[str] = mapped_column(String(128))
    established_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PeerAssignment(Base):
    """A peer node assigned to a container or asset; it reaches every asset below it."""

    __tablename__ = "peer_assignments"
    __table_args__ = (UniqueConstraint("asset_id", "peer_node_id"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    asset_id: Mapped[str] = mapped_column(ForeignKey("assets.id", ondelete="CASCADE"), index=True)
    peer_node_id: Mapped[str] = mapped_column(
        ForeignKey("peer_nodes.id", ondelete="CASCADE"), index=True
    )
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
