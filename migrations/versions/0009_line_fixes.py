"""Review history that can be undone, the page's structural fixes, and shared work: each line
edit keeps the line as it was before (``before``) and when it was undone (``undone_at``);
``page_events`` records merged, split and deleted lines (their line rows are gone or changed);
``assignments`` gives documents or pages to reviewers; ``page_presence`` says who has a page open.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04
"""

from alembic import op
import sqlalchemy as sa

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("line_edits") as t:
        t.add_column(sa.Column("before", sa.JSON))
        t.add_column(sa.Column("undone_at", TZ))
    op.create_table(
        "page_events",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("document_id", sa.Integer, sa.ForeignKey("documents.id", ondelete="CASCADE"), nullable=False, index=True),
        sa.Column("page_index", sa.Integer, nullable=False),
        sa.Column("user_name", sa.String(100), nullable=False),
        sa.Column("at", TZ, nullable=False),
        sa.Column("action", sa.String(20), nullable=False),
        sa.Column("detail", sa.JSON),
    )
    op.create_table(
        "assignments",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("document_id", sa.Integer, sa.ForeignKey("documents.id", ondelete="CASCADE"), nullable=False, index=True),
        sa.Column("page_index", sa.Integer),
        sa.Column("user_name", sa.String(100), nullable=False, index=True),
        sa.Column("assigned_by", sa.String(100), nullable=False),
        sa.Column("assigned_at", TZ, nullable=False),
        sa.UniqueConstraint("document_id", "page_index", name="uq_assignments_document_page"),
    )
    op.create_table(
        "page_presence",
        sa.Column("page_id", sa.Integer, sa.ForeignKey("pages.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("user_name", sa.String(100), primary_key=True),
        sa.Column("since", TZ, nullable=False),
        sa.Column("seen_at", TZ, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("page_presence")
    op.drop_table("assignments")
    op.drop_table("page_events")
    with op.batch_alter_table("line_edits") as t:
        t.drop_column("undone_at")
        t.drop_column("before")
