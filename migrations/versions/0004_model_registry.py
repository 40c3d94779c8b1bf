"""Model registry (model versions kept in the store, their lineage and status, promotions), and task runs' heartbeats.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from alembic import op
import sqlalchemy as sa

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column("model_versions", sa.Column("status", sa.String(20), nullable=False, server_default="seen"))
    op.add_column("model_versions", sa.Column("store_prefix", sa.Text))
    op.add_column("model_versions", sa.Column("parent", sa.String(300)))
    op.add_column("model_versions", sa.Column("data_manifest", sa.JSON))
    op.add_column("task_runs", sa.Column("heartbeat_at", TZ))
    op.create_table(
        "promotions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("model_version_id", sa.Integer, sa.ForeignKey("model_versions.id"), nullable=False),
        sa.Column("action", sa.String(20), nullable=False),
        sa.Column("at", TZ, nullable=False),
        sa.Column("user_name", sa.String(100), nullable=False),
        sa.Column("forced", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("gate", sa.JSON),
    )


def downgrade() -> None:
    op.drop_table("promotions")
    op.drop_column("task_runs", "heartbeat_at")
    for column in ("data_manifest", "parent", "store_prefix", "status"):
        op.drop_column("model_versions", column)
