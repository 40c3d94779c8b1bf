import pytest
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from worker.db import Document, Line, Page, Status, Word, make_engine, session_factory, upgrade

pytestmark = [pytest.mark.services]


def _doc(session, h="a" * 64):
    d = Document(source="x.pdf", content_hash=h, status=Status.DONE, attempts=1)
    p = Page(index=0, width=100, height=100)
    ln = Line(index=0, x0=0, y0=0, x1=10, y1=10, text="the quick brown foxes", confidence=0.9)
    ln.words = [Word(index=i, x0=0, y0=0, x1=1, y1=1, text=w, confidence=0.9) for i, w in enumerate(ln.text.split())]
    p.lines = [ln]
    d.pages = [p]
    session.add(d)
    session.commit()
    return d


def test_migrations_create_schema_and_search_index(db_url):
    upgrade(db_url)
    engine = make_engine(db_url)
    names = set(inspect(engine).get_table_names())
    assert {"documents", "pages", "lines", "words", "model_versions", "alembic_version"} <= names
    S = session_factory(engine)
    with S() as s:
        _doc(s)
        if engine.dialect.name == "sqlite":
            hits = s.execute(text("SELECT rowid FROM lines_fts WHERE lines_fts MATCH 'fox'")).all()
        else:
            hits = s.execute(text("SELECT id FROM lines WHERE tsv @@ plainto_tsquery('english', 'fox')")).all()
        assert len(hits) == 1  # stemmed: "foxes" matches "fox"
    upgrade(db_url)  # idempotent
    engine.dispose()


def test_content_hash_is_unique(db_url):
    upgrade(db_url)
    engine = make_engine(db_url)
    S = session_factory(engine)
    with S() as s:
        _doc(s)
    with S() as s, pytest.raises(IntegrityError):
        _doc(s)
    engine.dispose()


def test_full_text_search_survives_tensorflow_in_the_same_process(tmp_path):
    # TensorFlow bundles an SQLite without FTS5; importing the recognizer first
    # must not take full-text search away from a worker process.
    import subprocess
    import sys

    code = (
        "import recognition.model, sqlite3, sys; "
        "c = sqlite3.connect(sys.argv[1]); c.execute('CREATE VIRTUAL TABLE t USING fts5(x)'); print('fts5 ok')"
    )
    res = subprocess.run([sys.executable, "-c", code, str(tmp_path / "x.sqlite")], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-500:]
    assert "fts5 ok" in res.stdout


def test_plain_postgresql_urls_use_the_installed_driver():
    from worker.db import database_url

    assert database_url("postgresql://u@h/db") == "postgresql+psycopg2://u@h/db"
    assert database_url("postgres://u@h/db") == "postgresql+psycopg2://u@h/db"
    assert database_url("postgresql+psycopg2://u@h/db") == "postgresql+psycopg2://u@h/db"
    engine = make_engine("postgresql://postgres@127.0.0.1:5432/postgres")  # the form most people write
    with engine.connect() as c:
        assert c.execute(text("SELECT 1")).scalar() == 1
    engine.dispose()
