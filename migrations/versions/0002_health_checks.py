"""Health checks: named checks, a pool's check with its overrides, a member's override.

The pool's check moves from the free-text ``pools.health_check`` to ``pool_checks``, a row per
checked pool pointing at a row of ``checks``. A name stored before this revision named no
definition (there were none): it becomes a passive check of that name, which probes nothing,
so the members of its pools stay up exactly as before until a declaration defines it.

Overrides live in tables of their own (``pool_checks``, ``member_health``) rather than in new
columns of ``pools`` and ``members``: SQLite can add neither a foreign key nor a CHECK to an
existing table without copying it, and copying ``pools`` or ``members`` would cascade-delete
their children on the way.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.schema import SchemaItem

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

OBJECT_TYPES_BEFORE = ("site", "pool", "member")
OBJECT_TYPES = (*OBJECT_TYPES_BEFORE, "check")


def _enum(name: str, *values: str) -> sa.Enum:
    # Frozen here, as in 0001: a migration creates what it created when it was written.
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=32)


def _override_columns(table: str, required: bool = False) -> list[SchemaItem]:
    """A check's port and timing: ``required`` in ``checks``, NULL (not overridden) elsewhere."""
    return [
        sa.Column("port", sa.Integer(), nullable=True),
        sa.Column("interval", sa.Float(), nullable=not required),
        sa.Column("timeout", sa.Float(), nullable=not required),
        sa.Column("rise", sa.Integer(), nullable=not required),
        sa.Column("fall", sa.Integer(), nullable=not required),
        sa.CheckConstraint(
            "port IS NULL OR (port >= 1 AND port <= 65535)", name=op.f(f"ck_{table}_port_range")
        ),
        sa.CheckConstraint(
            '"interval" IS NULL OR ("interval" >= 0.1 AND "interval" <= 3600)',
            name=op.f(f"ck_{table}_interval_range"),
        ),
        sa.CheckConstraint("timeout IS NULL OR timeout > 0", name=op.f(f"ck_{table}_timeout_positive")),
        sa.CheckConstraint(
            "rise IS NULL OR (rise >= 1 AND rise <= 100)", name=op.f(f"ck_{table}_rise_range")
        ),
        sa.CheckConstraint(
            "fall IS NULL OR (fall >= 1 AND fall <= 100)", name=op.f(f"ck_{table}_fall_range")
        ),
    ]


def _object_types(*values: str) -> None:
    """Let ``change_log.object_type`` hold ``values``; a copy of the table on SQLite (nothing
    refers to it, so nothing cascades)."""
    with op.batch_alter_table("change_log") as batch:
        batch.drop_constraint(op.f("ck_change_log_object_type"), type_="check")
        quoted = ", ".join(f"'{v}'" for v in values)
        batch.create_check_constraint(op.f("ck_change_log_object_type"), f"object_type IN ({quoted})")


def upgrade() -> None:
    checks = op.create_table(
        "checks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=63), nullable=False),
        sa.Column("type", _enum("type", "tcp", "http", "https", "passive"), nullable=False),
        sa.Column("method", sa.String(length=32), nullable=False),
        sa.Column("path", sa.String(length=1000), nullable=False),
        sa.Column("host", sa.String(length=1000), nullable=True),
        sa.Column("expect", sa.JSON(), nullable=False),
        sa.Column("body", sa.String(length=1000), nullable=True),
        sa.Column("sni", sa.String(length=1000), nullable=True),
        sa.Column("verify_tls", sa.Boolean(), nullable=False),
        sa.Column("jitter", sa.Float(), nullable=False),
        *_override_columns("checks", required=True),
        sa.CheckConstraint("jitter >= 0 AND jitter < 1", name=op.f("ck_checks_jitter_range")),
        sa.CheckConstraint("type <> 'passive' OR port IS NULL", name=op.f("ck_checks_passive_no_port")),
        sa.CheckConstraint("type <> 'tcp' OR port IS NOT NULL", name=op.f("ck_checks_tcp_port")),
        sa.CheckConstraint('timeout < "interval"', name=op.f("ck_checks_timeout_below_interval")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_checks")),
        sa.UniqueConstraint("name", name=op.f("uq_checks_name")),
    )
    op.create_table(
        "pool_checks",
        sa.Column("pool_id", sa.Integer(), nullable=False),
        sa.Column("check_id", sa.Integer(), nullable=False),
        *_override_columns("pool_checks"),
        sa.ForeignKeyConstraint(["check_id"], ["checks.id"], name=op.f("fk_pool_checks_check_id_checks")),
        sa.ForeignKeyConstraint(
            ["pool_id"], ["pools.id"], name=op.f("fk_pool_checks_pool_id_pools"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("pool_id", name=op.f("pk_pool_checks")),
    )
    op.create_index(op.f("ix_pool_checks_check_id"), "pool_checks", ["check_id"])
    op.create_table(
        "member_health",
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("override", _enum("override", "force_up", "force_down"), nullable=True),
        *_override_columns("member_health"),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_member_health_member_id_members"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("member_id", name=op.f("pk_member_health")),
    )

    # Names of checks stored before checks existed become passive checks of those names.
    connection = op.get_bind()
    names = connection.execute(
        sa.text("SELECT DISTINCT health_check FROM pools WHERE health_check IS NOT NULL ORDER BY 1")
    ).scalars()
    op.bulk_insert(
        checks,
        [
            {
                "name": name,
                "type": "passive",
                "method": "GET",
                "path": "/",
                "expect": [[200, 399]],
                "verify_tls": True,
                "interval": 2.0,
                "timeout": 1.0,
                "rise": 2,
                "fall": 2,
                "jitter": 0.1,
            }
            for name in names
        ],
    )
    op.execute(
        "INSERT INTO pool_checks (pool_id, check_id)"
        " SELECT pools.id, checks.id FROM pools JOIN checks ON checks.name = pools.health_check"
    )
    op.drop_column("pools", "health_check")  # native on PostgreSQL and SQLite >= 3.35: no copy
    _object_types(*OBJECT_TYPES)


def downgrade() -> None:
    op.execute("DELETE FROM change_log WHERE object_type = 'check'")
    _object_types(*OBJECT_TYPES_BEFORE)
    op.add_column("pools", sa.Column("health_check", sa.String(length=1000), nullable=True))
    op.execute(
        "UPDATE pools SET health_check = (SELECT checks.name FROM pool_checks"
        " JOIN checks ON checks.id = pool_checks.check_id WHERE pool_checks.pool_id = pools.id)"
    )
    for table in ("member_health", "pool_checks", "checks"):
        op.drop_table(table)
