"""user keys and totp: SSH public keys and a second factor per user, the site setting that
requires it, the tenant's SSH user CAs, and the login method of a session

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 02:50:00
"""

import sqlalchemy as sa
from alembic import op

import pamnode.db.base

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def _user_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["user_id"], ["users.id"], name=op.f(f"fk_{table}_user_id_users"), ondelete="CASCADE"
    )


def upgrade() -> None:
    op.create_table(
        "user_ssh_keys",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("public_key", sa.Text(), nullable=False),
        sa.Column("algorithm", sa.String(length=64), nullable=False),
        sa.Column("fingerprint", sa.String(length=80), nullable=False),
        sa.Column("comment", sa.String(length=255), nullable=False),
        sa.Column("created_at", pamnode.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", pamnode.db.base.UTCDateTime(timezone=True), nullable=True),
        _user_fk("user_ssh_keys"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_ssh_keys")),
        sa.UniqueConstraint("user_id", "fingerprint", name=op.f("uq_user_ssh_keys_user_id")),
    )
    op.create_index(op.f("ix_user_ssh_keys_user_id"), "user_ssh_keys", ["user_id"])
    op.create_table(
        "user_second_factors",
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("seed_sealed", sa.LargeBinary(), nullable=False),
        sa.Column("confirmed_at", pamnode.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_step", sa.BigInteger(), nullable=False),
        sa.Column("created_at", pamnode.db.base.UTCDateTime(timezone=True), nullable=False),
        _user_fk("user_second_factors"),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_user_second_factors")),
    )
    op.create_table(
        "user_recovery_codes",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("used_at", pamnode.db.base.UTCDateTime(timezone=True), nullable=True),
        _user_fk("user_recovery_codes"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_recovery_codes")),
    )
    op.create_index(op.f("ix_user_recovery_codes_user_id"), "user_recovery_codes", ["user_id"])
    op.create_table(
        "ssh_user_cas",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("public_key", sa.Text(), nullable=False),
        sa.Column("algorithm", sa.String(length=64), nullable=False),
        sa.Column("fingerprint", sa.String(length=80), nullable=False),
        sa.Column("comment", sa.String(length=255), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("created_at", pamnode.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_ssh_user_cas_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ssh_user_cas")),
        sa.UniqueConstraint("tenant_id", "fingerprint", name=op.f("uq_ssh_user_cas_tenant_id")),
    )
    with op.batch_alter_table("sites", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "require_second_factor", sa.Boolean(), nullable=False, server_default=sa.false()
            )
        )
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("login_method", sa.String(length=120), nullable=False, server_default="")
        )


def downgrade() -> None:
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.drop_column("login_method")
    with op.batch_alter_table("sites", schema=None) as batch_op:
        batch_op.drop_column("require_second_factor")
    op.drop_table("ssh_user_cas")
    op.drop_index(op.f("ix_user_recovery_codes_user_id"), table_name="user_recovery_codes")
    op.drop_table("user_recovery_codes")
    op.drop_table("user_second_factors")
    op.drop_index(op.f("ix_user_ssh_keys_user_id"), table_name="user_ssh_keys")
    op.drop_table("user_ssh_keys")
