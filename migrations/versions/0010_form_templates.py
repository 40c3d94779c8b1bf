"""Registered form templates and typed fields: ``form_templates`` holds each blank form (its
image in the store, its fields' boxes and types, the acceptance threshold calibrated on its
reviewed fields); a field gains its type (``kind``), its value in normal form (``parsed``),
whether the reading fits its type (``valid``), whether it was accepted without review
(``accepted``) and the value and confidence as first read (``read_value``,
``read_confidence``: what a person's review is compared with when the threshold is calibrated).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05
"""

from alembic import op
import sqlalchemy as sa

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "form_templates",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("image_key", sa.String(1000), nullable=False),
        sa.Column("width", sa.Integer, nullable=False),
        sa.Column("height", sa.Integer, nullable=False),
        sa.Column("fields", sa.JSON, nullable=False),
        sa.Column("acceptance", sa.JSON),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
    )
    with op.batch_alter_table("fields") as t:
        t.add_column(sa.Column("kind", sa.String(20), nullable=False, server_default="text"))
        t.add_column(sa.Column("parsed", sa.Text, nullable=False, server_default=""))
        t.add_column(sa.Column("valid", sa.Boolean, nullable=False, server_default=sa.true()))
        t.add_column(sa.Column("accepted", sa.Boolean, nullable=False, server_default=sa.false()))
        t.add_column(sa.Column("read_value", sa.Text))
        t.add_column(sa.Column("read_confidence", sa.Float))


def downgrade() -> None:
    with op.batch_alter_table("fields") as t:
        for column in ("read_confidence", "read_value", "accepted", "valid", "parsed", "kind"):
            t.drop_column(column)
    op.drop_table("form_templates")
