"""Alembic migrations of the database schema (``htr db upgrade`` applies them)."""
