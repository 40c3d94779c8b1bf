"""Queue bookkeeping: task runs (redelivery), worker deaths per document, documents by source.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

from alembic import op
import sqlalchemy as sa

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "task_runs",
        sa.Column("document_id", sa.Integer, sa.ForeignKey("documents.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("stage", sa.String(20), primary_key=True),
        sa.Column("page", sa.Integer, primary_key=True),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("deaths", sa.Integer, nullable=False),
        sa.Column("worker", sa.String(200)),
        sa.Column("started_at", TZ),
        sa.Column("finished_at", TZ),
        sa.Column("seconds", sa.Float),
    )
    op.create_table(
        "worker_deaths",
        sa.Column("document_id", sa.Integer, sa.ForeignKey("documents.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("worker", sa.String(200), primary_key=True),
        sa.Column("noticed_at", TZ, nullable=False),
    )
    # `htr scan` asks "is this object already known?" by its source URL.
    op.create_index("ix_documents_source", "documents", ["source"])


def downgrade() -> None:
    op.drop_index("ix_documents_source", "documents")
    op.drop_table("worker_deaths")
    op.drop_table("task_runs")
