"""job feed: change numbers, the counter, the main's cursors, the queue's index

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25 12:00:00
"""

import uuid

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("change_seq", sa.BigInteger(), nullable=True))
        batch_op.create_index("ix_jobs_change_seq", ["change_seq"], unique=False)
        batch_op.create_index("ix_jobs_state_created_at", ["state", "created_at"], unique=False)
    feed = op.create_table(
        "job_feed",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("feed_id", sa.String(length=36), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_feed")),
    )
    op.bulk_insert(feed, [{"id": 1, "feed_id": str(uuid.uuid4()), "seq": 0}])
    op.create_table(
        "job_feed_cursors",
        sa.Column("peer_id", sa.String(length=36), nullable=False),
        sa.Column("cursor", sa.String(length=80), nullable=False),
        sa.ForeignKeyConstraint(
            ["peer_id"],
            ["peer_nodes.id"],
            name=op.f("fk_job_feed_cursors_peer_id_peer_nodes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("peer_id", name=op.f("pk_job_feed_cursors")),
    )


def downgrade() -> None:
    op.drop_table("job_feed_cursors")
    op.drop_table("job_feed")
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_jobs_state_created_at")
        batch_op.drop_index("ix_jobs_change_seq")
        batch_op.drop_column("change_seq")
