"""directories: LDAP directories, their users, groups holding roles and asset permissions

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-25 18:00:00
"""

import sqlalchemy as sa
from alembic import op

import pamnode.db.base

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "directories",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=63), nullable=False),
        sa.Column("url", sa.String(length=255), nullable=False),
        sa.Column("server_sha256", sa.String(length=64), nullable=True),
        sa.Column("ca_pem", sa.Text(), nullable=True),
        sa.Column("bind_dn", sa.String(length=512), nullable=False),
        sa.Column("bind_password_sealed", sa.LargeBinary(), nullable=False),
        sa.Column("user_base", sa.String(length=512), nullable=False),
        sa.Column("user_filter", sa.String(length=1024), nullable=False),
        sa.Column("group_base", sa.String(length=512), nullable=False),
        sa.Column("group_filter", sa.String(length=1024), nullable=False),
        sa.Column("login_attributes", sa.JSON(), nullable=False),
        sa.Column("first_name_attribute", sa.String(length=128), nullable=False),
        sa.Column("last_name_attribute", sa.String(length=128), nullable=False),
        sa.Column("mail_attribute", sa.String(length=128), nullable=False),
        sa.Column("member_of_attribute", sa.String(length=128), nullable=False),
        sa.Column("disabled_filter", sa.String(length=1024), nullable=False),
        sa.Column("in_chain", sa.Boolean(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", pamnode.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_directories_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_directories")),
        sa.UniqueConstraint("tenant_id", "name", name=op.f("uq_directories_tenant_id")),
    )
    op.create_table(
        "directory_groups",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("directory_id", sa.String(length=36), nullable=False),
        sa.Column("dn", sa.String(length=512), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("created_at", pamnode.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["directory_id"],
            ["directories.id"],
            name=op.f("fk_directory_groups_directory_id_directories"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_directory_groups")),
        sa.UniqueConstraint("directory_id", "dn", name=op.f("uq_directory_groups_directory_id")),
    )
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("directory_id", sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column("directory_dn", sa.String(length=512), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_users_directory_id_directories"),
            "directories",
            ["directory_id"],
            ["id"],
            ondelete="CASCADE",
        )
    with op.batch_alter_table("site_role_grants", schema=None) as batch_op:
        batch_op.alter_column("user_id", existing_type=sa.String(length=36), nullable=True)
        batch_op.add_column(sa.Column("group_id", sa.String(length=36), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_site_role_grants_group_id_directory_groups"),
            "directory_groups",
            ["group_id"],
            ["id"],
            ondelete="CASCADE",
        )
        batch_op.create_unique_constraint(
            "uq_site_role_grants_site_id_group_id", ["site_id", "group_id", "role"]
        )
    with op.batch_alter_table("asset_permissions", schema=None) as batch_op:
        batch_op.alter_column("user_id", existing_type=sa.String(length=36), nullable=True)
        batch_op.add_column(sa.Column("group_id", sa.String(length=36), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_asset_permissions_group_id_directory_groups"),
            "directory_groups",
            ["group_id"],
            ["id"],
            ondelete="CASCADE",
        )
        batch_op.create_unique_constraint(
            "uq_asset_permissions_asset_id_group_id", ["asset_id", "group_id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("asset_permissions", schema=None) as batch_op:
        batch_op.drop_constraint("uq_asset_permissions_asset_id_group_id", type_="unique")
        batch_op.drop_constraint(
            batch_op.f("fk_asset_permissions_group_id_directory_groups"), type_="foreignkey"
        )
        batch_op.drop_column("group_id")
        batch_op.alter_column("user_id", existing_type=sa.String(length=36), nullable=False)
    with op.batch_alter_table("site_role_grants", schema=None) as batch_op:
        batch_op.drop_constraint("uq_site_role_grants_site_id_group_id", type_="unique")
        batch_op.drop_constraint(
            batch_op.f("fk_site_role_grants_group_id_directory_groups"), type_="foreignkey"
        )
        batch_op.drop_column("group_id")
        batch_op.alter_column("user_id", existing_type=sa.String(length=36), nullable=False)
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_users_directory_id_directories"), type_="foreignkey"
        )
        batch_op.drop_column("directory_dn")
        batch_op.drop_column("directory_id")
    op.drop_table("directory_groups")
    op.drop_table("directories")
