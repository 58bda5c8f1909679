"""LDAP directories of a tenant, and the directory groups that hold site roles.

The local directory is not a row: it is the tenant's users without a directory.
"""

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from pamnode.db.base import Base, UTCDateTime, new_id, utcnow


class Directory(Base):
    __tablename__ = "directories"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(63))
    url: Mapped[str] = mapped_column(String(255))
    # The server's certificate: pinned by its SHA-256, or checked against this CA.
    server_sha256: Mapped[str | None] = mapped_column(String(64))
    ca_pem: Mapped[str | None] = mapped_column(Text)
    bind_dn: Mapped[str] = mapped_column(String(512))
    # Sealed by the vault (context `directory:{id}:bind_password`); never returned.
    bind_password_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    user_base: Mapped[str] = mapped_column(String(512))
    user_filter: Mapped[str] = mapped_column(String(1024))
    group_base: Mapped[str] = mapped_column(String(512))
    group_filter: Mapped[str] = mapped_column(String(1024))
    # The first names pamnode's login; the others are accepted at login too.
    login_attributes: Mapped[list[str]] = mapped_column(JSON)
    first_name_attribute: Mapped[str] = mapped_column(String(128))
    last_name_attribute: Mapped[str] = mapped_column(String(128))
    mail_attribute: Mapped[str] = mapped_column(String(128))
    member_of_attribute: Mapped[str] = mapped_column(String(128))
    disabled_filter: Mapped[str] = mapped_column(String(1024))
    # Nested groups in one search (Active Directory's LDAP_MATCHING_RULE_IN_CHAIN), or
    # walked by pamnode through the member-of attribute.
    in_chain: Mapped[bool] = mapped_column(Boolean)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DirectoryGroup(Base):
    """A group of a directory that holds a grant; its members hold what it holds."""

    __tablename__ = "directory_groups"
    __table_args__ = (UniqueConstraint("directory_id", "dn"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    directory_id: Mapped[str] = mapped_column(ForeignKey("directories.id", ondelete="CASCADE"))
    dn: Mapped[str] = mapped_column(String(512))
    name: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
