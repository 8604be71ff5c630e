"""When a member was drained: ``members.drained_at``, epoch seconds, NULL unless drained.

A drained member keeps being answered, at the floor TTL, until the caches that may hold it have
expired (gslb/snapshot/ttl.py); the deadline is counted from this time, which every node reads from the
store, so they all withdraw the member at the same moment and the admin API can promise it. A
member drained before this revision gets no time: it was withdrawn at once then, and stays so.

A nullable column without constraints: SQLite adds it in place, without copying the table.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("members", sa.Column("drained_at", sa.Float(), nullable=True))


def downgrade() -> None:
    op.drop_column("members", "drained_at")
