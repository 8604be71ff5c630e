"""Initial schema: sites, pools, members, the store revision and the change log.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _enum(name: str, *values: str) -> sa.Enum:
    # Frozen here rather than imported from gslb.model: a migration must keep creating what it
    # created when it was written, whatever the enums become later.
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=32)


def upgrade() -> None:
    revision_table = op.create_table(
        "store_revision",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("revision", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_store_revision_single_row")),
        sa.CheckConstraint("revision >= 0", name=op.f("ck_store_revision_revision_not_negative")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_store_revision")),
    )
    op.bulk_insert(revision_table, [{"id": 1, "revision": 0, "updated_at": datetime.now(UTC)}])

    op.create_table(
        "sites",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=63), nullable=False),
        sa.Column("region", sa.String(length=1000), nullable=False),
        sa.Column("description", sa.String(length=1000), nullable=False),
        sa.Column("lvs_mode", _enum("lvs_mode", "nat", "dr", "tun"), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sites")),
        sa.UniqueConstraint("name", name=op.f("uq_sites_name")),
    )
    op.create_table(
        "site_subnets",
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("network", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_site_subnets_site_id_sites"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("site_id", "position", name=op.f("pk_site_subnets")),
        sa.UniqueConstraint("site_id", "network", name=op.f("uq_site_subnets_site_id_network")),
    )
    op.create_table(
        "site_vips",
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("address", sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_site_vips_site_id_sites"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("site_id", "position", name=op.f("pk_site_vips")),
        sa.UniqueConstraint("site_id", "address", name=op.f("uq_site_vips_site_id_address")),
    )

    op.create_table(
        "pools",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=63), nullable=False),
        sa.Column("kind", _enum("kind", "address", "cname"), nullable=False),
        sa.Column(
            "policy",
            _enum(
                "policy", "round_robin", "weighted", "random", "weighted_random", "source_hash", "topology"
            ),
            nullable=False,
        ),
        sa.Column("answer_count", sa.Integer(), nullable=True),
        sa.Column("ttl", sa.Integer(), nullable=False),
        sa.Column("all_down", _enum("all_down", "fail_open", "fallback", "nodata"), nullable=False),
        sa.Column("fallback_id", sa.Integer(), nullable=True),
        sa.Column("health_check", sa.String(length=1000), nullable=True),
        sa.CheckConstraint(
            "(all_down = 'fallback' AND fallback_id IS NOT NULL)"
            " OR (all_down <> 'fallback' AND fallback_id IS NULL)",
            name=op.f("ck_pools_fallback_with_all_down"),
        ),
        sa.CheckConstraint(
            "answer_count IS NULL OR answer_count >= 1", name=op.f("ck_pools_answer_count_positive")
        ),
        sa.CheckConstraint(
            "fallback_id IS NULL OR fallback_id <> id", name=op.f("ck_pools_not_own_fallback")
        ),
        sa.CheckConstraint("ttl >= 0 AND ttl <= 2147483647", name=op.f("ck_pools_ttl_range")),
        sa.ForeignKeyConstraint(["fallback_id"], ["pools.id"], name=op.f("fk_pools_fallback_id_pools")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pools")),
        sa.UniqueConstraint("name", name=op.f("uq_pools_name")),
    )
    op.create_index(op.f("ix_pools_fallback_id"), "pools", ["fallback_id"])
    op.create_table(
        "pool_names",
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("pool_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["pool_id"], ["pools.id"], name=op.f("fk_pool_names_pool_id_pools"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_pool_names")),
    )
    op.create_index(op.f("ix_pool_names_pool_id"), "pool_names", ["pool_id"])
    op.create_table(
        "pool_site_order",
        sa.Column("pool_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["pool_id"], ["pools.id"], name=op.f("fk_pool_site_order_pool_id_pools"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"], name=op.f("fk_pool_site_order_site_id_sites")),
        sa.PrimaryKeyConstraint("pool_id", "position", name=op.f("pk_pool_site_order")),
        sa.UniqueConstraint("pool_id", "site_id", name=op.f("uq_pool_site_order_pool_id_site_id")),
    )
    op.create_index(op.f("ix_pool_site_order_site_id"), "pool_site_order", ["site_id"])

    op.create_table(
        "members",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("pool_id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("address", sa.String(length=255), nullable=False),
        sa.Column("weight", sa.Integer(), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("state", _enum("state", "enabled", "drained", "disabled"), nullable=False),
        sa.CheckConstraint("priority >= 0", name=op.f("ck_members_priority_not_negative")),
        sa.CheckConstraint("weight >= 0 AND weight <= 1000", name=op.f("ck_members_weight_range")),
        sa.ForeignKeyConstraint(
            ["pool_id"], ["pools.id"], name=op.f("fk_members_pool_id_pools"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"], name=op.f("fk_members_site_id_sites")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_members")),
        sa.UniqueConstraint("pool_id", "address", name=op.f("uq_members_pool_id_address")),
    )
    op.create_index(op.f("ix_members_site_id"), "members", ["site_id"])

    op.create_table(
        "change_log",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("revision", sa.BigInteger(), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=1000), nullable=False),
        sa.Column("action", _enum("action", "create", "update", "delete"), nullable=False),
        sa.Column("object_type", _enum("object_type", "site", "pool", "member"), nullable=False),
        sa.Column("object_name", sa.String(length=319), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_change_log")),
    )
    op.create_index(op.f("ix_change_log_revision"), "change_log", ["revision"])


def downgrade() -> None:
    for table in (
        "change_log",
        "members",
        "pool_site_order",
        "pool_names",
        "pools",
        "site_vips",
        "site_subnets",
        "sites",
        "store_revision",
    ):
        op.drop_table(table)
