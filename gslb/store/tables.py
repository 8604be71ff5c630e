"""The store's tables as SQLAlchemy models: what the migrations in ``migrations/`` create.

Every rule the domain has is also a constraint here (unique names, weight range, one fallback
exactly when ``all_down = 'fallback'``, members pointing at existing sites), so that no writer,
however buggy, can leave the database in a state the snapshot builder cannot compile. The store
checks the same rules first to give clear errors; the constraints are the backstop.

Only portable types are used (no PostgreSQL arrays, no native enums): enums are VARCHAR with a
CHECK, lists are child tables, and timestamps are stored in UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Dialect,
    Enum,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from gslb.model import MAX_WEIGHT, AdminState, AllDown, CheckType, HealthOverride, LvsMode, Policy, PoolKind

# Lengths are enforced by PostgreSQL but not by SQLite, so the store checks them itself
# (gslb/store/rules.py) and both databases refuse the same values.
OBJECT_NAME_LENGTH = 63  # site and pool names, as declarations allow (gslb/declare/fields.py)
OWNER_NAME_LENGTH = 255  # a DNS name in text form, with its final dot
ADDRESS_LENGTH = 255  # an IP address, or a CNAME target (a DNS name)
NETWORK_LENGTH = 64  # the longest IPv6 network text is 43 characters
TEXT_LENGTH = 1000  # descriptions, regions, health-check names, actors
ENUM_LENGTH = 32
METHOD_LENGTH = 32  # an HTTP method
MAX_TTL = 2**31 - 1  # RFC 2181 section 8
# Check parameters, as declarations allow them (gslb/declare/checks.py).
MIN_INTERVAL, MAX_INTERVAL = 0.1, 3600
MAX_RESULTS = 100  # rise and fall


class Action(StrEnum):
    """What a change did to one object."""

    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"


class ObjectType(StrEnum):
    SITE = "site"
    POOL = "pool"
    MEMBER = "member"
    CHECK = "check"


def _enum(kind: type[StrEnum], name: str) -> Enum:
    """A VARCHAR holding the enum's values (not its Python names), checked by a named constraint."""
    return Enum(
        kind,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=ENUM_LENGTH,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
    )


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp that always comes back timezone-aware in UTC.

    SQLite keeps no zone, so what it returns is naive; PostgreSQL returns the session's zone.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("timestamps must be timezone-aware")
        return None if value is None else value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    # Named constraints, so that migrations can address them on every database.
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(table_name)s_%(column_0_N_name)s",
            "uq": "uq_%(table_name)s_%(column_0_N_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


class StoreRevision(Base):
    """The single row whose counter every write bumps: what readers poll to notice changes."""

    __tablename__ = "store_revision"
    __table_args__ = (
        CheckConstraint("id = 1", name="single_row"),
        CheckConstraint("revision >= 0", name="revision_not_negative"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    revision: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class SiteRow(Base):
    __tablename__ = "sites"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(OBJECT_NAME_LENGTH), unique=True)
    region: Mapped[str] = mapped_column(String(TEXT_LENGTH))
    description: Mapped[str] = mapped_column(String(TEXT_LENGTH))
    lvs_mode: Mapped[LvsMode | None] = mapped_column(_enum(LvsMode, "lvs_mode"))

    subnets: Mapped[list[SiteSubnetRow]] = relationship(
        order_by="SiteSubnetRow.position", cascade="all, delete-orphan", passive_deletes=True
    )
    vips: Mapped[list[SiteVipRow]] = relationship(
        order_by="SiteVipRow.position", cascade="all, delete-orphan", passive_deletes=True
    )


class SiteSubnetRow(Base):
    """A client network the site serves best; ordered, as declared."""

    __tablename__ = "site_subnets"
    __table_args__ = (UniqueConstraint("site_id", "network"),)

    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True)
    position: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    network: Mapped[str] = mapped_column(String(NETWORK_LENGTH))


class SiteVipRow(Base):
    """One LVS VIP of the site; ordered, as declared. The same VIP may serve several sites (anycast)."""

    __tablename__ = "site_vips"
    __table_args__ = (UniqueConstraint("site_id", "address"),)

    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True)
    position: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    address: Mapped[str] = mapped_column(String(ADDRESS_LENGTH))


def _override_constraints() -> tuple[CheckConstraint, ...]:
    """Ranges of a check's parameters, NULL allowed (NULL: not overridden).

    ``interval`` is quoted: it is also the name of a PostgreSQL type.
    """
    return (
        CheckConstraint("port IS NULL OR (port >= 1 AND port <= 65535)", name="port_range"),
        CheckConstraint(
            f'"interval" IS NULL OR ("interval" >= {MIN_INTERVAL} AND "interval" <= {MAX_INTERVAL})',
            name="interval_range",
        ),
        CheckConstraint("timeout IS NULL OR timeout > 0", name="timeout_positive"),
        CheckConstraint(f"rise IS NULL OR (rise >= 1 AND rise <= {MAX_RESULTS})", name="rise_range"),
        CheckConstraint(f"fall IS NULL OR (fall >= 1 AND fall <= {MAX_RESULTS})", name="fall_range"),
    )


class CheckRow(Base):
    """A named health check. Its own timeout must be below its interval; with a pool's or a
    member's overrides that is the store's check alone (it spans rows)."""

    __tablename__ = "checks"
    __table_args__ = (
        *_override_constraints(),
        CheckConstraint('timeout < "interval"', name="timeout_below_interval"),
        CheckConstraint("jitter >= 0 AND jitter < 1", name="jitter_range"),
        CheckConstraint("type <> 'tcp' OR port IS NOT NULL", name="tcp_port"),
        CheckConstraint("type <> 'passive' OR port IS NULL", name="passive_no_port"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(OBJECT_NAME_LENGTH), unique=True)
    type: Mapped[CheckType] = mapped_column(_enum(CheckType, "type"))
    port: Mapped[int | None]
    method: Mapped[str] = mapped_column(String(METHOD_LENGTH))
    path: Mapped[str] = mapped_column(String(TEXT_LENGTH))
    host: Mapped[str | None] = mapped_column(String(TEXT_LENGTH))
    expect: Mapped[list[list[int]]] = mapped_column(JSON)  # inclusive status ranges: [[200, 399]]
    body: Mapped[str | None] = mapped_column(String(TEXT_LENGTH))
    sni: Mapped[str | None] = mapped_column(String(TEXT_LENGTH))
    verify_tls: Mapped[bool] = mapped_column(Boolean)
    interval: Mapped[float] = mapped_column(Float)
    timeout: Mapped[float] = mapped_column(Float)
    rise: Mapped[int]
    fall: Mapped[int]
    jitter: Mapped[float] = mapped_column(Float)


class PoolRow(Base):
    __tablename__ = "pools"
    __table_args__ = (
        CheckConstraint("answer_count IS NULL OR answer_count >= 1", name="answer_count_positive"),
        CheckConstraint(f"ttl >= 0 AND ttl <= {MAX_TTL}", name="ttl_range"),
        CheckConstraint(
            "(all_down = 'fallback' AND fallback_id IS NOT NULL)"
            " OR (all_down <> 'fallback' AND fallback_id IS NULL)",
            name="fallback_with_all_down",
        ),
        CheckConstraint("fallback_id IS NULL OR fallback_id <> id", name="not_own_fallback"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(OBJECT_NAME_LENGTH), unique=True)
    kind: Mapped[PoolKind] = mapped_column(_enum(PoolKind, "kind"))
    policy: Mapped[Policy] = mapped_column(_enum(Policy, "policy"))
    answer_count: Mapped[int | None]
    ttl: Mapped[int]
    all_down: Mapped[AllDown] = mapped_column(_enum(AllDown, "all_down"))
    # No ON DELETE: a pool that others fall back to cannot be deleted from under them.
    fallback_id: Mapped[int | None] = mapped_column(ForeignKey("pools.id"), index=True)

    fallback: Mapped[PoolRow | None] = relationship(remote_side=[id])
    check: Mapped[PoolCheckRow | None] = relationship(cascade="all, delete-orphan", passive_deletes=True)
    names: Mapped[list[PoolNameRow]] = relationship(cascade="all, delete-orphan", passive_deletes=True)
    site_order: Mapped[list[PoolSiteOrderRow]] = relationship(
        order_by="PoolSiteOrderRow.position", cascade="all, delete-orphan", passive_deletes=True
    )
    members: Mapped[list[MemberRow]] = relationship(
        back_populates="pool", cascade="all, delete-orphan", passive_deletes=True
    )


class PoolCheckRow(Base):
    """The check of a checked pool, with the pool's overrides of its parameters (NULL: the check's).

    A table of its own rather than columns of ``pools``: a foreign key to the check and CHECK
    constraints cannot be added to an existing SQLite table without copying it, and copying
    ``pools`` would cascade-delete every member on the way.
    """

    __tablename__ = "pool_checks"
    __table_args__ = _override_constraints()

    pool_id: Mapped[int] = mapped_column(ForeignKey("pools.id", ondelete="CASCADE"), primary_key=True)
    # No ON DELETE: a check some pool uses cannot be deleted.
    check_id: Mapped[int] = mapped_column(ForeignKey("checks.id"), index=True)
    port: Mapped[int | None]
    interval: Mapped[float | None] = mapped_column(Float)
    timeout: Mapped[float | None] = mapped_column(Float)
    rise: Mapped[int | None]
    fall: Mapped[int | None]

    check: Mapped[CheckRow] = relationship()


class PoolNameRow(Base):
    """An owner name a pool answers for; the primary key makes it unique across all pools."""

    __tablename__ = "pool_names"

    name: Mapped[str] = mapped_column(String(OWNER_NAME_LENGTH), primary_key=True)
    pool_id: Mapped[int] = mapped_column(ForeignKey("pools.id", ondelete="CASCADE"), index=True)


class PoolSiteOrderRow(Base):
    """Topology: the pool's preference of sites after the client's own, in order."""

    __tablename__ = "pool_site_order"
    __table_args__ = (UniqueConstraint("pool_id", "site_id"),)

    pool_id: Mapped[int] = mapped_column(ForeignKey("pools.id", ondelete="CASCADE"), primary_key=True)
    position: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    # No ON DELETE: a site some pool still prefers cannot be deleted.
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)

    site: Mapped[SiteRow] = relationship()


class MemberRow(Base):
    __tablename__ = "members"
    __table_args__ = (
        UniqueConstraint("pool_id", "address"),
        CheckConstraint(f"weight >= 0 AND weight <= {MAX_WEIGHT}", name="weight_range"),
        CheckConstraint("priority >= 0", name="priority_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    pool_id: Mapped[int] = mapped_column(ForeignKey("pools.id", ondelete="CASCADE"))
    # No ON DELETE: a site with members cannot be deleted.
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    address: Mapped[str] = mapped_column(String(ADDRESS_LENGTH))
    weight: Mapped[int]
    priority: Mapped[int]
    state: Mapped[AdminState] = mapped_column(_enum(AdminState, "state"))
    drained_at: Mapped[float | None] = mapped_column(Float)  # epoch seconds; set by the store

    pool: Mapped[PoolRow] = relationship(back_populates="members")
    site: Mapped[SiteRow] = relationship()
    health: Mapped[MemberHealthRow | None] = relationship(cascade="all, delete-orphan", passive_deletes=True)


class MemberHealthRow(Base):
    """A member's health override and overrides of its check's parameters; a row only for the
    members that have any (a table of its own for the reason given at PoolCheckRow)."""

    __tablename__ = "member_health"
    __table_args__ = _override_constraints()

    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), primary_key=True)
    override: Mapped[HealthOverride | None] = mapped_column(_enum(HealthOverride, "override"))
    port: Mapped[int | None]
    interval: Mapped[float | None] = mapped_column(Float)
    timeout: Mapped[float | None] = mapped_column(Float)
    rise: Mapped[int | None]
    fall: Mapped[int | None]


class ChangeRow(Base):
    """The change log: one row per object a write created, updated or deleted (never edited).

    ``id`` orders the log and is what readers page by; ``revision`` is the store revision the
    write produced, shared by every row of that write.
    """

    __tablename__ = "change_log"

    # BIGINT on PostgreSQL; on SQLite only INTEGER PRIMARY KEY is auto-incremented.
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    revision: Mapped[int] = mapped_column(BigInteger, index=True)
    changed_at: Mapped[datetime] = mapped_column(UtcDateTime)
    actor: Mapped[str] = mapped_column(String(TEXT_LENGTH))
    action: Mapped[Action] = mapped_column(_enum(Action, "action"))
    object_type: Mapped[ObjectType] = mapped_column(_enum(ObjectType, "object_type"))
    object_name: Mapped[str] = mapped_column(String(OBJECT_NAME_LENGTH + 1 + ADDRESS_LENGTH))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)
