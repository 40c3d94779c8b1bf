"""Review: users, login sessions, API tokens, reviewed lines and their edit history.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from alembic import op
import sqlalchemy as sa

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(100), nullable=False, unique=True),
        sa.Column("password_hash", sa.Text, nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("failed_logins", sa.Integer, nullable=False, server_default="0"),
        sa.Column("locked_until", TZ),
        sa.Column("created_at", TZ, nullable=False),
    )
    op.create_table(
        "web_sessions",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("expires_at", TZ, nullable=False),
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("last_used_at", TZ),
    )
    # Plain ALTER TABLE (no table rebuild): the full-text triggers on lines stay.
    op.add_column("lines", sa.Column("reviewed_at", TZ))
    op.add_column("lines", sa.Column("reviewed_by", sa.String(100)))
    op.create_index("ix_lines_reviewed_at", "lines", ["reviewed_at"])
    op.create_table(
        "line_edits",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("line_id", sa.Integer, sa.ForeignKey("lines.id", ondelete="CASCADE"), nullable=False, index=True),
        sa.Column("user_name", sa.String(100), nullable=False),
        sa.Column("at", TZ, nullable=False),
        sa.Column("action", sa.String(20), nullable=False),
        sa.Column("old_text", sa.Text, nullable=False),
        sa.Column("new_text", sa.Text, nullable=False),
        sa.Column("model_version_id", sa.Integer, sa.ForeignKey("model_versions.id")),
    )


def downgrade() -> None:
    op.drop_table("line_edits")
    op.drop_index("ix_lines_reviewed_at", "lines")
    op.drop_column("lines", "reviewed_by")
    op.drop_column("lines", "reviewed_at")
    op.drop_table("api_tokens")
    op.drop_table("web_sessions")
    op.drop_table("users")
