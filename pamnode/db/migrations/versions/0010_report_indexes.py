"""report indexes: the Jobs report's filters and asset names, per site

Each filter of the Jobs report gets an index led by the site, so that counting a page's
matches reads the index alone (docs/scale.md); they replace the single-column indexes on
state, task and node signature, and the site's own (each is led by it). The node filter
matches a signature's prefix (`LIKE 'node::%'`), which an index in the database's collation
serves only under "C": PostgreSQL's index compares characters (varchar_pattern_ops).
Finding an asset by its name reads (site, name) instead of every asset of the site.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-25 21:00:00
"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_REPLACED = ("site_id", "state", "task", "node_signature")


def upgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        for column in _REPLACED:
            batch_op.drop_index(f"ix_jobs_{column}")
        for column in ("state", "task", "requested_by"):
            batch_op.create_index(f"ix_jobs_site_id_{column}", ["site_id", column], unique=False)
        batch_op.create_index(
            "ix_jobs_site_id_node_signature",
            ["site_id", "node_signature"],
            unique=False,
            postgresql_ops={"node_signature": "varchar_pattern_ops"},
        )
    with op.batch_alter_table("assets", schema=None) as batch_op:
        batch_op.drop_index("ix_assets_site_id")
        batch_op.create_index("ix_assets_site_id_name", ["site_id", "name"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("assets", schema=None) as batch_op:
        batch_op.drop_index("ix_assets_site_id_name")
        batch_op.create_index("ix_assets_site_id", ["site_id"], unique=False)
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        for column in ("state", "task", "requested_by", "node_signature"):
            batch_op.drop_index(f"ix_jobs_site_id_{column}")
        for column in _REPLACED:
            batch_op.create_index(f"ix_jobs_{column}", [column], unique=False)
