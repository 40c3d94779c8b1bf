"""Optimistic locking of reviews: every line carries a version, raised by each save;
a save names the version it edited and is refused when the line has moved on.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-09
"""

from alembic import op
import sqlalchemy as sa

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("lines", sa.Column("version", sa.Integer, nullable=False, server_default="1"))


def downgrade() -> None:
    op.drop_column("lines", "version")
