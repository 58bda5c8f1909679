"""peer link: peers that dial out — a Peer Node's connection mode and enrolment, and on a
peer the main its site keeps a link to

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 03:00:00
"""

import sqlalchemy as sa
from alembic import op

import pamnode.db.base

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("peer_nodes", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "connection_mode",
                sa.String(length=16),
                nullable=False,
                server_default="main_dials",
            )
        )
        batch_op.add_column(sa.Column("link_code_sha256", sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column(
                "link_code_expires_at", pamnode.db.base.UTCDateTime(timezone=True), nullable=True
            )
        )
        batch_op.add_column(
            sa.Column(
                "link_code_used_at", pamnode.db.base.UTCDateTime(timezone=True), nullable=True
            )
        )
        batch_op.add_column(sa.Column("link_public_key", sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column("link_enrolled_at", pamnode.db.base.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.create_unique_constraint(
            batch_op.f("uq_peer_nodes_link_code_sha256"), ["link_code_sha256"]
        )
    op.create_table(
        "main_links",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("site_id", sa.String(length=36), nullable=False),
        sa.Column("main_url", sa.String(length=2048), nullable=False),
        sa.Column("main_sha256", sa.String(length=64), nullable=False),
        sa.Column("main_certificate_pem", sa.Text(), nullable=False),
        sa.Column("link_id", sa.String(length=36), nullable=False),
        sa.Column("private_key_sealed", sa.LargeBinary(), nullable=False),
        sa.Column("public_key", sa.String(length=64), nullable=False),
        sa.Column("enrolled_by", sa.String(length=128), nullable=False),
        sa.Column("enrolled_at", pamnode.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"],
            ["sites.id"],
            name=op.f("fk_main_links_site_id_sites"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_main_links")),
    )
    op.create_index(op.f("ix_main_links_site_id"), "main_links", ["site_id"], unique=True)


def downgrade() -> None:
    op.drop_index(op.f("ix_main_links_site_id"), table_name="main_links")
    op.drop_table("main_links")
    with op.batch_alter_table("peer_nodes", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_peer_nodes_link_code_sha256"), type_="unique")
        batch_op.drop_column("link_enrolled_at")
        batch_op.drop_column("link_public_key")
        batch_op.drop_column("link_code_used_at")
        batch_op.drop_column("link_code_expires_at")
        batch_op.drop_column("link_code_sha256")
        batch_op.drop_column("connection_mode")
