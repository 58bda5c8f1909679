"""The asset library of a site: a tree of containers and hosts, their sealed secrets, grants."""

from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from pamnode.db.base import Base, UTCDateTime, new_id, utcnow


class AssetType(StrEnum):
    CONTAINER = "container"
    UNIX_HOST = "unix-host"
    WINDOWS_HOST = "windows-host"


class Asset(Base):
    __tablename__ = "assets"
    # Finding an asset by its name (assets/lookup.py) reads this, not the whole library.
    __table_args__ = (Index("ix_assets_site_id_name", "site_id", "name"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    # None: top level of the site's library. Only containers are parents (service rule).
    parent_id: Mapped[str | None] = mapped_column(
        ForeignKey("assets.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(255))
    type: Mapped[str] = mapped_column(String(32))
    # Connection properties; None on containers.
    host: Mapped[str | None] = mapped_column(String(253))
    port: Mapped[int | None] = mapped_column(Integer)
    use_https: Mapped[bool] = mapped_column(Boolean, default=False)
    # How a remote session reaches the host (ssh, rdp, vnc) and on which port; None: the
    # default for its type (`pamnode.assets.library.session_endpoint`).
    session_protocol: Mapped[str | None] = mapped_column(String(8))
    session_port: Mapped[int | None] = mapped_column(Integer)
    description: Mapped[str] = mapped_column(String(1024), default="")
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class AssetSecret(Base):
    """One vault field of an asset, sealed with context `asset:{asset_id}:{field}`."""

    __tablename__ = "asset_secrets"

    asset_id: Mapped[str] = mapped_column(
        ForeignKey("assets.id", ondelete="CASCADE"), primary_key=True
    )
    field: Mapped[str] = mapped_column(String(32), primary_key=True)
    sealed: Mapped[bytes] = mapped_column(LargeBinary)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class AssetPermission(Base):
    """A user's (or a directory group's) role on an asset or container; it reaches every
    asset below it, and every member of the group."""

    __tablename__ = "asset_permissions"
    __table_args__ = (
        UniqueConstraint("asset_id", "user_id"),
        UniqueConstraint("asset_id", "group_id", name="uq_asset_permissions_asset_id_group_id"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    asset_id: Mapped[str] = mapped_column(ForeignKey("assets.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[str | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    group_id: Mapped[str | None] = mapped_column(
        ForeignKey("directory_groups.id", ondelete="CASCADE")
    )
    role: Mapped[str] = mapped_column(String(20))
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AssetHostKey(Base):
    """The SSH host key an asset showed on first contact (a job pins it); enforced on every later
    job, and by guacd on every SSH session."""

    __tablename__ = "asset_host_keys"

    asset_id: Mapped[str] = mapped_column(
        ForeignKey("assets.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(Text)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
