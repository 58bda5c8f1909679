"""session owner: the id of the user who opened a session

A session belongs to the user's id, not its login: a user deleted and another created with
the same login must not see, or attach to, the first one's sessions. Existing sessions are
given the id of the user of their tenant whose login opened them, if that user still exists;
the others stay without an owner (visible to whoever may read every session of the site).
The index leads with the site, as the report's filter does.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 23:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("user_id", sa.String(length=36), nullable=True))
        batch_op.create_index("ix_sessions_site_id_user_id", ["site_id", "user_id"], unique=False)
    op.execute(
        "UPDATE sessions SET user_id = ("
        " SELECT users.id FROM users JOIN sites ON sites.tenant_id = users.tenant_id"
        " WHERE sites.id = sessions.site_id AND users.login = sessions.requested_by"
        ") WHERE origin = 'local'"
    )


def downgrade() -> None:
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.drop_index("ix_sessions_site_id_user_id")
        batch_op.drop_column("user_id")
