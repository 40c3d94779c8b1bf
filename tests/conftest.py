"""Shared fixtures: the databases every persistence test runs against, and an embedded
database with a folder store (`local`)."""

import os
import sqlite3  # noqa: F401  -- before TensorFlow, see recognition/__init__.py
import uuid

import pytest
from sqlalchemy import create_engine, text

from tests.services import port_open

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
# Documents in this suite are read greedily (twice as fast to decode); the tests of the default
# (beam search: test_install, test_htr_process_cli_json, test_workers_decode_as_htr_decoder_says,
# test_cli) take the variable away.
os.environ.setdefault("HTR_DECODER", "greedy")

from worker.cli.common import configure_training  # after the environment above

configure_training()  # as htr does: HTR_DATA_DIR, HTR_FONTS_DIR


ADMIN = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.services)])
def db_url(request, tmp_path):
    """SQLite in a temp folder, or a fresh database on the local PostgreSQL
    (scripts/test.sh starts the server when it is down)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'htr.sqlite'}"
        return
    if not port_open("127.0.0.1", 5432):
        raise RuntimeError("PostgreSQL is not running on 127.0.0.1:5432 (scripts/test.sh starts it)")
    name = f"htr_test_{uuid.uuid4().hex[:8]}"
    admin = create_engine(ADMIN, isolation_level="AUTOCOMMIT", pool_pre_ping=True)
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    yield f"postgresql+psycopg2://postgres@127.0.0.1:5432/{name}"
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def local(tmp_path):
    """An embedded database and a folder store in a temp folder."""
    from types import SimpleNamespace

    from worker.db import make_engine, session_factory, upgrade
    from worker.io.store import LocalStore

    url = f"sqlite:///{tmp_path / 'h.sqlite'}"
    upgrade(url)
    engine = make_engine(url)
    yield SimpleNamespace(url=url, sessions=session_factory(engine), store=LocalStore(tmp_path / "store"))
    engine.dispose()


@pytest.fixture
def site(tmp_path, db_url):
    """The review app on a database with one seeded page (REVIEW_LINES) and a reviewer, rita:
    (app, sessions, store, document id, tmp_path)."""
    from tests.fixtures import REVIEW_LINES, seed_document
    from worker.db import make_engine, session_factory, upgrade
    from worker.db.users import add_user
    from worker.io.store import LocalStore
    from worker.settings import Settings

    upgrade(db_url)
    engine = make_engine(db_url)
    sessions = session_factory(engine)
    store = LocalStore(tmp_path / "store")
    doc_id = seed_document(sessions, store, tmp_path / "page.png", REVIEW_LINES)
    with sessions() as s:
        add_user(s, "rita", "correct horse", "reviewer")
        s.commit()
    # Lines changed on the page keep their text (HTR_REVIEW_REREAD=off); test_page_edits reads them with the model.
    settings = Settings(database_url=db_url, store_url=f"file://{tmp_path / 'store'}", review_reread="off")
    from worker.web.app import create_app

    app = create_app(settings)
    yield app, sessions, store, doc_id, tmp_path
    engine.dispose()
