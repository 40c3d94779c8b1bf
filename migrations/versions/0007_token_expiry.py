"""API tokens expire; failed logins are throttled in the server process, not counted on the user row.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-09
"""

from alembic import op
import sqlalchemy as sa

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    # Plain ALTER TABLE (SQLite >= 3.35 drops a column in place): no table rebuild, so the
    # sessions and tokens that reference users are not touched.
    op.add_column("api_tokens", sa.Column("expires_at", TZ))
    op.drop_column("users", "failed_logins")
    op.drop_column("users", "locked_until")


def downgrade() -> None:
    op.add_column("users", sa.Column("locked_until", TZ))
    op.add_column("users", sa.Column("failed_logins", sa.Integer, nullable=False, server_default="0"))
    op.drop_column("api_tokens", "expires_at")
