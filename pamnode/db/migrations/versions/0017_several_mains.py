"""several mains: the vault's key ring sealed in the database under a key-encryption key,
for main nodes that share nothing but the database; the mains that dialling peers may link to

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 06:00:00
"""

import sqlalchemy as sa
from alembic import op

import pamnode.db.base

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sealed_key_ring",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("kek_id", sa.String(length=32), nullable=False),
        sa.Column("ring_under_kek", sa.LargeBinary(), nullable=False),
        sa.Column("changed_at", pamnode.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sealed_key_ring")),
    )
    op.create_table(
        "main_nodes",
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("url", sa.String(length=2048), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("certificate_pem", sa.Text(), nullable=False),
        sa.Column("seen_at", pamnode.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_main_nodes")),
    )


def downgrade() -> None:
    op.drop_table("main_nodes")
    op.drop_table("sealed_key_ring")
