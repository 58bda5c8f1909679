"""sealed key ring: the vault's key ring sealed in the database under a key-encryption key,
for main nodes that share nothing but the database

Revision ID: 0017
Revises: 0015
Create Date: 2026-12-07 06:00:00
"""

import sqlalchemy as sa
from alembic import op

import pamnode.db.base

revision = "0017"
down_revision = "0015"
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


def downgrade() -> None:
    op.drop_table("sealed_key_ring")
