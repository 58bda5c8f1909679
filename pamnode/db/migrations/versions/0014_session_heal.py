"""session heal: recordings still to fetch from a peer; who watched a session live

A session whose peer was lost (or did not answer at the session's end) keeps the recordings
on that peer; the main asks again with a backoff until it has them or the peer says it no
longer does. `recording_next_at` is set while that is so (indexed: the retry loop reads only
those rows). `session_watches` lists every Monitor of a session: who, from when, until when.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 02:50:00
"""

import sqlalchemy as sa
from alembic import op

from pamnode.db.base import UTCDateTime

revision = "0014"
down_revision = "0013"
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
    op.create_table(
        "session_watches",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("session_id", sa.String(length=36), nullable=False),
        sa.Column("watcher", sa.String(length=160), nullable=False),
        sa.Column("started_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("ended_at", UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["sessions.id"],
            name=op.f("fk_session_watches_session_id_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_session_watches")),
    )
    op.create_index(
        op.f("ix_session_watches_session_id"), "session_watches", ["session_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_session_watches_session_id"), table_name="session_watches")
    op.drop_table("session_watches")
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.drop_index("ix_sessions_recording_next_at")
        batch_op.drop_column("recording_tries")
        batch_op.drop_column("recording_next_at")
        batch_op.drop_column("recording_peer_id")
