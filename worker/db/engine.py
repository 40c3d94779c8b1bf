"""Engines, sessions and migrations.

``HTR_DATABASE_URL`` (``Settings.database_url``) picks the database; the
default is SQLite in ``./var/htr.sqlite``. The Alembic migrations ship in the
``migrations`` package, so an installed (non-editable) copy upgrades too.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import sessionmaker


def database_url(url: str | None = None) -> str:
    """The given URL, else ``HTR_DATABASE_URL``, else SQLite in ./var (created).
    ``postgresql://`` and ``postgres://`` (the spelling most people write) mean
    the psycopg2 driver this project installs (SQLAlchemy would pick psycopg 3)."""
    from ..settings import Settings

    url = url or Settings.from_env().database_url
    for plain in ("postgresql://", "postgres://"):
        if url.startswith(plain):
            url = "postgresql+psycopg2://" + url[len(plain) :]
    if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
        Path(url[len("sqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)
    return url


def make_engine(url: str | None = None) -> Engine:
    url = database_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


def largest_id(dialect: str) -> int:
    """The largest value an ``Integer`` id column holds: 32 bits on PostgreSQL, 64 on SQLite."""
    return 2**31 - 1 if dialect == "postgresql" else 2**63 - 1


def session_factory(engine: Engine) -> sessionmaker:
    return sessionmaker(engine, expire_on_commit=False)


def upgrade(url: str | None = None, revision: str = "head") -> None:
    """Apply the Alembic migrations to the database."""
    from alembic import command
    from alembic.config import Config

    import migrations

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(migrations.__file__).parent))
    cfg.set_main_option("sqlalchemy.url", database_url(url).replace("%", "%%"))
    command.upgrade(cfg, revision)
