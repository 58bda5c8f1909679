"""evidence: the audit hash chain, recording hashes, per-site retention

Audit rows get their place in the hash chain and its hashes (audit/chain.py), and the chain's
head its one row. Rows written before stay unlinked (`chain_seq` NULL): `pamnode audit verify`
counts them apart, and a NULL after the chain began is a break. Sessions keep each
recording's SHA-256 and when retention removed them; jobs when retention removed their
output; sites how many days they keep either.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 02:50:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

GENESIS = "0" * 64


def upgrade() -> None:
    head = op.create_table(
        "audit_chain_head",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_chain_head")),
    )
    op.bulk_insert(head, [{"id": 1, "seq": 0, "hash": GENESIS}])
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("chain_seq", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("prev_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("row_hash", sa.String(length=64), nullable=True))
        batch_op.create_unique_constraint(batch_op.f("uq_audit_events_chain_seq"), ["chain_seq"])
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("recording_hashes", sa.JSON(), nullable=True))
        batch_op.add_column(
            sa.Column("recordings_removed_at", sa.DateTime(timezone=True), nullable=True)
        )
    # Sessions ended before hold no hashes: `audit verify` says their recordings are unproven.
    op.execute("UPDATE sessions SET recording_hashes = '{}'")
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.alter_column("recording_hashes", existing_type=sa.JSON(), nullable=False)
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("output_removed_at", sa.DateTime(timezone=True), nullable=True)
        )
    with op.batch_alter_table("sites", schema=None) as batch_op:
        batch_op.add_column(sa.Column("recording_retention_days", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("job_output_retention_days", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sites", schema=None) as batch_op:
        batch_op.drop_column("job_output_retention_days")
        batch_op.drop_column("recording_retention_days")
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_column("output_removed_at")
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.drop_column("recordings_removed_at")
        batch_op.drop_column("recording_hashes")
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_audit_events_chain_seq"), type_="unique")
        batch_op.drop_column("row_hash")
        batch_op.drop_column("chain_seq")
        batch_op.drop_column("prev_hash")
    op.drop_table("audit_chain_head")
