"""session heal: recordings still to fetch from a peer

A session whose peer was lost (or did not answer at the session's end) keeps the recordings
on that peer; the main asks again with a backoff until it has them or the peer says it no
longer does. `recording_next_at` is set while that is so (indexed: the retry loop reads only
those rows).

Revision ID: 0015
Revises: 0011
Create Date: 2026-12-07 02:50:00
"""

import sqlalchemy as sa
from alembic import op

from pamnode.db.base import UTCDateTime

revision = "0015"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("recording_peer_id", sa.String(length=36), nullable=True))
        batch_op.add_column(
            sa.Column("recording_next_at", UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("recording_tries", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.create_index("ix_sessions_recording_next_at", ["recording_next_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.drop_index("ix_sessions_recording_next_at")
        batch_op.drop_column("recording_tries")
        batch_op.drop_column("recording_next_at")
        batch_op.drop_column("recording_peer_id")
