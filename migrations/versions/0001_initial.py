"""Initial schema: model versions, documents, pages, lines, words, full-text search.

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

from alembic import op
import sqlalchemy as sa

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def _box_columns() -> list[sa.Column]:
    """x0, y0, x1, y1 in page pixels (lines and words)."""
    return [sa.Column(name, sa.Integer, nullable=False) for name in ("x0", "y0", "x1", "y1")]


def upgrade() -> None:
    op.create_table(
        "model_versions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("version", sa.String(100), nullable=False),
        sa.Column("metrics", sa.JSON),
        sa.Column("created_at", TZ, nullable=False),
        sa.UniqueConstraint("name", "version", name="uq_model_versions_name_version"),
    )
    op.create_table(
        "documents",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("store_key", sa.Text),
        sa.Column("content_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("status", sa.String(20), nullable=False, index=True),
        sa.Column("error", sa.Text),
        sa.Column("page_count", sa.Integer),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("timings", sa.JSON),
        sa.Column("model_version_id", sa.Integer, sa.ForeignKey("model_versions.id")),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("started_at", TZ),
        sa.Column("finished_at", TZ),
    )
    op.create_table(
        "pages",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("document_id", sa.Integer, sa.ForeignKey("documents.id", ondelete="CASCADE"), nullable=False, index=True),
        sa.Column("index", sa.Integer, nullable=False),
        sa.Column("width", sa.Integer, nullable=False),
        sa.Column("height", sa.Integer, nullable=False),
        sa.Column("dpi", sa.Integer),
        sa.Column("skew_degrees", sa.Float),
        sa.Column("image_key", sa.Text),
        sa.UniqueConstraint("document_id", "index", name="uq_pages_document_index"),
    )
    op.create_table(
        "lines",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("page_id", sa.Integer, sa.ForeignKey("pages.id", ondelete="CASCADE"), nullable=False, index=True),
        sa.Column("index", sa.Integer, nullable=False),
        *_box_columns(),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("confidence", sa.Float, nullable=False),
        sa.UniqueConstraint("page_id", "index", name="uq_lines_page_index"),
    )
    _words_table()
    _full_text_search()


def _words_table() -> None:
    op.create_table(
        "words",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("line_id", sa.Integer, sa.ForeignKey("lines.id", ondelete="CASCADE"), nullable=False, index=True),
        sa.Column("index", sa.Integer, nullable=False),
        *_box_columns(),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("confidence", sa.Float, nullable=False, index=True),
        sa.Column("corrected_text", sa.Text),
        sa.Column("corrected_at", TZ),
        sa.UniqueConstraint("line_id", "index", name="uq_words_line_index"),
    )


def _full_text_search() -> None:
    """An index over line text: FTS5 kept in step by triggers on SQLite, a generated tsvector on PostgreSQL."""
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        # FTS5 index over line text, kept in step by triggers.
        op.execute("CREATE VIRTUAL TABLE lines_fts USING fts5(text, content='lines', content_rowid='id', tokenize='porter unicode61')")
        op.execute("CREATE TRIGGER lines_ai AFTER INSERT ON lines BEGIN INSERT INTO lines_fts(rowid, text) VALUES (new.id, new.text); END")
        op.execute("CREATE TRIGGER lines_ad AFTER DELETE ON lines BEGIN INSERT INTO lines_fts(lines_fts, rowid, text) VALUES ('delete', old.id, old.text); END")
        op.execute(
            "CREATE TRIGGER lines_au AFTER UPDATE OF text ON lines BEGIN "
            "INSERT INTO lines_fts(lines_fts, rowid, text) VALUES ('delete', old.id, old.text); "
            "INSERT INTO lines_fts(rowid, text) VALUES (new.id, new.text); END"
        )
    elif dialect == "postgresql":
        op.execute("ALTER TABLE lines ADD COLUMN tsv tsvector GENERATED ALWAYS AS (to_tsvector('english', coalesce(text, ''))) STORED")
        op.execute("CREATE INDEX ix_lines_tsv ON lines USING GIN (tsv)")


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for t in ("lines_ai", "lines_ad", "lines_au"):
            op.execute(f"DROP TRIGGER IF EXISTS {t}")
        op.execute("DROP TABLE IF EXISTS lines_fts")
    for table in ("words", "lines", "pages", "documents", "model_versions"):
        op.drop_table(table)
