"""On a peer: the main its site keeps a link to, as its administrator enrolled it."""

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, LargeBinary, Select, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from pamnode.crypto.sealed import SealedColumn
from pamnode.db.base import Base, UTCDateTime, new_id, utcnow
from pamnode.identity.models import Site


class MainLink(Base):
    __tablename__ = "main_links"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    # One main per site: enrolling again replaces it.
    site_id: Mapped[str] = mapped_column(
        ForeignKey("sites.id", ondelete="CASCADE"), unique=True, index=True
    )
    # The main's site URL, https://host:port/ztna/<tenant>/<site>.
    main_url: Mapped[str] = mapped_column(String(2048))
    main_sha256: Mapped[str] = mapped_column(String(64))
    main_certificate_pem: Mapped[str] = mapped_column(Text)
    # The enrolment's id on the main (its Peer Node's id), named in every signed answer.
    link_id: Mapped[str] = mapped_column(String(36))
    # Sealed by the vault with context `main-link:{id}:key`; never leaves the node.
    private_key_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    public_key: Mapped[str] = mapped_column(String(64))
    enrolled_by: Mapped[str] = mapped_column(String(128))
    enrolled_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


def key_context(link_id: str) -> str:
    return f"main-link:{link_id}:key"


def _links_of_tenant(query: Select[Any], tenant_id: str) -> Select[Any]:
    return query.join(Site, Site.id == MainLink.site_id).where(Site.tenant_id == tenant_id)


LINK_KEYS = SealedColumn(
    kind="main-link key",
    column=MainLink.private_key_sealed,
    key=(MainLink.id,),
    context=key_context,
    of_tenant=_links_of_tenant,
)


class MainNode(Base):
    """On a main: each main node sharing the database that peers may dial, as it advertises
    itself (`link/mains.py`); a dialling peer is told of the others when it links."""

    __tablename__ = "main_nodes"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    # https://host:port, as peers reach this main past any load balancer.
    url: Mapped[str] = mapped_column(String(2048))
    sha256: Mapped[str] = mapped_column(String(64))
    certificate_pem: Mapped[str] = mapped_column(Text)
    # Renewed while the main serves; an old one is a main gone.
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
