"""Probabilistic keyword index: probable spellings of every word, with their probability.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from alembic import op
import sqlalchemy as sa

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "word_candidates",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("line_id", sa.Integer, sa.ForeignKey("lines.id", ondelete="CASCADE"), nullable=False, index=True),
        sa.Column("word_index", sa.Integer, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("norm", sa.String(200), nullable=False, index=True),
        sa.Column("probability", sa.Float, nullable=False),
        *[sa.Column(name, sa.Integer, nullable=False) for name in ("x0", "y0", "x1", "y1")],
    )


def downgrade() -> None:
    op.drop_table("word_candidates")
