"""Fields: a register's cells stored as values keyed by their column's printed header, with the row
they belong to; the table a register page was read with.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04
"""

from alembic import op
import sqlalchemy as sa

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column("pages", sa.Column("table_layout", sa.JSON))
    op.create_table(
        "fields",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("document_id", sa.Integer, sa.ForeignKey("documents.id", ondelete="CASCADE"), nullable=False, index=True),
        sa.Column("page_id", sa.Integer, sa.ForeignKey("pages.id", ondelete="CASCADE"), nullable=False, index=True),
        sa.Column("template", sa.String(200)),
        sa.Column("row_index", sa.Integer),
        sa.Column("column_index", sa.Integer),
        sa.Column("field", sa.String(500), nullable=False, index=True),
        sa.Column("label", sa.Text, nullable=False, server_default=""),
        sa.Column("value", sa.Text, nullable=False, server_default=""),
        sa.Column("normalized", sa.Text, nullable=False, server_default=""),
        sa.Column("confidence", sa.Float, nullable=False, server_default="0"),
        sa.Column("reviewed_by", sa.String(100)),
        sa.Column("reviewed_at", TZ),
        *[sa.Column(name, sa.Integer, nullable=False) for name in ("x0", "y0", "x1", "y1")],
    )


def downgrade() -> None:
    op.drop_table("fields")
    op.drop_column("pages", "table_layout")
