"""Probabilistic keyword index: probable spellings of every word, with their probability,
and a trigram index over them for error-tolerant matching of long words.

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
    if op.get_bind().dialect.name == "sqlite":
        # FTS5's trigram tokenizer over the spellings, kept in step by triggers.
        op.execute(
            "CREATE VIRTUAL TABLE word_candidates_trgm USING fts5(norm, content='word_candidates', content_rowid='id', tokenize='trigram')"
        )
        op.execute(
            "CREATE TRIGGER word_candidates_ai AFTER INSERT ON word_candidates BEGIN "
            "INSERT INTO word_candidates_trgm(rowid, norm) VALUES (new.id, new.norm); END"
        )
        op.execute(
            "CREATE TRIGGER word_candidates_ad AFTER DELETE ON word_candidates BEGIN "
            "INSERT INTO word_candidates_trgm(word_candidates_trgm, rowid, norm) VALUES ('delete', old.id, old.norm); END"
        )
    else:
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        op.execute("CREATE INDEX ix_word_candidates_norm_trgm ON word_candidates USING gin (norm gin_trgm_ops)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for t in ("word_candidates_ai", "word_candidates_ad"):
            op.execute(f"DROP TRIGGER IF EXISTS {t}")
        op.execute("DROP TABLE IF EXISTS word_candidates_trgm")
    else:
        op.execute("DROP INDEX IF EXISTS ix_word_candidates_norm_trgm")
    op.drop_table("word_candidates")
