"""The store on real databases: a SQLite file and PostgreSQL, the same tests on both.

PostgreSQL is the server at ``GSLB_TEST_POSTGRES_URL`` (default: user postgres on 127.0.0.1:5432,
database ``test``); every test session works in schemas of its own, dropped at the end. Without
the server these tests are skipped, except under ``CI=true``, where that is a failure.
"""

from __future__ import annotations

import ipaddress
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.orm import Session

from gslb.declare.plan import plan
from gslb.errors import ConflictError, InvalidError, NotFoundError, ValidationError
from gslb.model import (
    AdminState,
    AllDown,
    Check,
    CheckOverrides,
    CheckType,
    HealthOverride,
    Inventory,
    LvsMode,
    Member,
    Policy,
    Pool,
    PoolKind,
    Site,
)
from gslb.store import Action, ObjectType, Store, StoreDelta, rows
from gslb.store import inventory as inventory_module
from gslb.store import writes as writes_module
from tests.integration.stores import WIPE, patch_member


def writes(store: Store) -> list[str]:
    """Every INSERT, UPDATE and DELETE the store sends from now on, but for bookkeeping."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        words = statement.split()
        if words[0] in ("INSERT", "UPDATE", "DELETE") and not {"store_revision", "change_log"} & set(words):
            seen.append(" ".join(words[:3]))

    event.listen(store.engine, "before_cursor_execute", record)
    return seen


AMS = Site(
    "ams",
    region="eu-west",
    description="Amsterdam",
    subnets=(ipaddress.ip_network("10.1.0.0/16"), ipaddress.ip_network("2001:db8:1::/48")),
    lvs_mode=LvsMode.DR,
    vips=(ipaddress.ip_address("192.0.2.10"), ipaddress.ip_address("2001:db8::10")),
)
NYC = Site("nyc", region="us-east", lvs_mode=LvsMode.NAT, vips=(ipaddress.ip_address("203.0.113.10"),))
LON = Site("lon")
WWW = Pool(
    "www",
    names=("www.gslb.example.test.", "web.gslb.example.test."),
    policy=Policy.TOPOLOGY,
    answer_count=2,
    ttl=20,
    all_down=AllDown.FALLBACK,
    fallback="sorry",
    health_check="http-root",
    site_order=("nyc", "ams"),
    members=(
        Member("nyc", "203.0.113.10", weight=300, priority=1),
        Member("ams", "192.0.2.10"),
        Member("ams", "2001:db8::10", state=AdminState.DRAINED),
    ),
)
SORRY = Pool("sorry", names=(), all_down=AllDown.NODATA, members=(Member("lon", "198.51.100.1"),))
HTTP_ROOT = Check("http-root", CheckType.HTTP)
INVENTORY = Inventory(sites=(NYC, AMS, LON), pools=(WWW, SORRY), checks=(HTTP_ROOT,))


def test_plain_row_reading_makes_the_pools_the_orm_rows_make(store: Store) -> None:
    store.apply_inventory(INVENTORY, "test")
    with Session(store.engine) as session:
        from_orm = sorted((rows.pool_value(row) for row in rows.pool_rows(session).values()), key=str)
        assert sorted(rows.read_pools(session), key=str) == from_orm
        for name in ("www", "sorry"):  # one pool of several: what an incremental update reads
            assert rows.read_pools(session, [name]) == (rows.pool_value(rows.pool_rows(session)[name]),)
        assert rows.read_pools(session, ["no-such-pool"]) == ()
    assert any(p.check_overrides != CheckOverrides() or p.site_order for p in from_orm)  # not trivially equal


def test_what_is_applied_is_what_loads(store: Store) -> None:
    outcome = store.apply_inventory(INVENTORY, "test")
    revision, loaded = store.load()
    assert outcome.revision == revision == 1
    assert loaded == INVENTORY.normalized()
    assert [str(e) for e in outcome.edits] == [
        "create site ams",
        "create site lon",
        "create site nyc",
        "create check http-root",
        "create pool sorry",
        "create member sorry/198.51.100.1",
        "create pool www",
        "create member www/192.0.2.10",
        "create member www/2001:db8::10",
        "create member www/203.0.113.10",
    ]


def test_every_enum_value_is_stored(store: Store) -> None:
    """Catches an enum value added to gslb.model without a migration for its CHECK constraint."""
    sites = tuple(Site(f"s-{mode.value}", lvs_mode=mode) for mode in LvsMode)
    pools = [
        Pool(f"p-{policy.value}", names=(f"{policy.value.replace('_', '-')}.example.test.",), policy=policy)
        for policy in Policy
    ]
    pools += [Pool(f"k-{kind.value}", names=(), kind=kind) for kind in PoolKind]
    pools += [Pool(f"a-{a.value}", names=(), all_down=a) for a in AllDown if a != AllDown.FALLBACK]
    pools.append(
        Pool(
            "states",
            names=(),
            all_down=AllDown.FALLBACK,
            fallback="a-nodata",
            members=tuple(Member(sites[0].name, f"192.0.2.{i}", state=s) for i, s in enumerate(AdminState)),
        )
    )
    inventory = Inventory(sites=sites, pools=tuple(pools))
    store.apply_inventory(inventory, "test")
    assert store.load()[1] == inventory.normalized()


def test_applying_again_changes_nothing(store: Store) -> None:
    store.apply_inventory(INVENTORY, "test")
    log = store.changes()
    shuffled = Inventory(
        sites=INVENTORY.sites[::-1],
        pools=tuple(replace(p, members=p.members[::-1], names=p.names[::-1]) for p in INVENTORY.pools[::-1]),
        checks=INVENTORY.checks,
    )
    seen = writes(store)
    outcome = store.apply_inventory(shuffled, "test")
    assert not outcome.changed and outcome.revision == 1 == store.revision()
    assert seen == []
    assert store.changes() == log
    assert plan(store.load()[1], INVENTORY).edits == ()


def test_every_commit_moves_a_sqlite_files_change_marker(store: Store) -> None:
    """The follower skips its revision query while the marker stands still: a commit must move it,
    a read or a write that changed nothing must not (PostgreSQL has none: it is always asked)."""
    marker = store.change_marker()
    if store.engine.dialect.name != "sqlite":
        assert marker is None
        return
    assert marker is not None
    store.apply_inventory(INVENTORY, "test")
    after_write = store.change_marker()
    assert after_write != marker
    store.load()
    store.revision()
    assert not store.apply_inventory(INVENTORY, "test").changed
    assert store.change_marker() == after_write
    patch_member(store, "www", INVENTORY.pools[0].members[0].address, "test", weight=7)
    assert store.change_marker() != after_write
    with Store.open("sqlite://") as in_memory:
        assert in_memory.change_marker() is None  # no file to look at


def test_apply_writes_only_what_changed(store: Store) -> None:
    store.apply_inventory(INVENTORY, "test")
    members = tuple(replace(m, weight=7) if m.address == "192.0.2.10" else m for m in WWW.members)
    changed = replace(INVENTORY, pools=(replace(WWW, members=members), SORRY))
    assert [str(e) for e in plan(store.load()[1], changed).edits] == ["update member www/192.0.2.10"]
    seen = writes(store)
    outcome = store.apply_inventory(changed, "test")
    assert seen == ["UPDATE members SET"]
    assert outcome.revision == 2
    assert [(e.action, e.object_name, e.detail) for e in outcome.edits] == [
        (Action.UPDATE, "www/192.0.2.10", {"weight": {"old": 100, "new": 7}})
    ]


def test_apply_reshapes_everything(store: Store) -> None:
    """Names move between pools, fallbacks turn around, sites go: every constraint holds on the way."""
    store.apply_inventory(INVENTORY, "test")
    www = replace(
        WWW,
        names=("www.gslb.example.test.",),
        all_down=AllDown.FAIL_OPEN,
        fallback=None,
        site_order=("ams", "lon"),
        members=(Member("lon", "192.0.2.10", weight=0), Member("ams", "192.0.2.20")),
    )
    api = Pool(
        "api",
        names=("web.gslb.example.test.",),
        kind=PoolKind.CNAME,
        all_down=AllDown.FALLBACK,
        fallback="www",
        members=(Member("ams", "edge.example.net."),),
    )
    desired = Inventory(
        sites=(replace(AMS, vips=AMS.vips[::-1], subnets=()), LON), pools=(api, www), checks=(HTTP_ROOT,)
    )
    outcome = store.apply_inventory(desired, "test")
    assert store.load() == (2, desired.normalized())
    assert [str(e) for e in outcome.edits] == [
        "update site ams",
        "update pool www",
        "update member www/192.0.2.10",
        "create member www/192.0.2.20",
        "delete member www/2001:db8::10",
        "delete member www/203.0.113.10",
        "create pool api",
        "create member api/edge.example.net.",
        "delete member sorry/198.51.100.1",
        "delete pool sorry",
        "delete site nyc",
    ]
    assert store.apply_inventory(Inventory(), "test").revision == 3
    assert store.load() == (3, Inventory())


def test_each_write_bumps_the_revision_once(store: Store) -> None:
    assert store.revision() == 0
    assert store.put_site(AMS, "t").revision == 1
    assert store.put_site(AMS, "t").revision == 1  # the same again: nothing changed
    assert store.put_site(replace(AMS, region="eu"), "t").revision == 2
    store.put_site(NYC, "t")
    store.put_site(LON, "t")
    store.put_pool(SORRY, "t")
    assert store.put_check(HTTP_ROOT, "t").revision == 6
    assert store.put_check(HTTP_ROOT, "t").revision == 6
    assert store.put_pool(WWW, "t").revision == 7
    assert store.put_member("www", Member("lon", "192.0.2.99"), "t").revision == 8
    assert patch_member(store, "www", "192.0.2.99", "t", weight=5, state=AdminState.DISABLED).revision == 9
    assert patch_member(store, "www", "192.0.2.99", "t", weight=5).revision == 9
    assert store.delete_member("www", "192.0.2.99", "t").revision == 10
    assert store.delete_pool("www", "t").revision == 11
    assert store.delete_site("nyc", "t").revision == 12
    assert store.delete_check("http-root", "t").revision == 13
    assert store.revision() == 13
    revision, inventory = store.load()
    assert revision == 13
    assert inventory == Inventory(sites=(replace(AMS, region="eu"), LON), pools=(SORRY,)).normalized()


def test_member_writes_touch_one_member(store: Store) -> None:
    store.apply_inventory(INVENTORY, "test")
    seen = writes(store)
    patch_member(store, "www", "203.0.113.10", "t", state=AdminState.DRAINED, priority=0)
    store.put_member("www", Member("lon", "192.0.2.77", weight=1000), "t")
    store.delete_member("www", "192.0.2.77", "t")
    assert seen == ["UPDATE members SET", "INSERT INTO members", "DELETE FROM members"]
    pool = store.load()[1].pool("www")
    assert pool is not None and pool.members[2] == Member(
        "nyc", "203.0.113.10", weight=300, priority=0, state=AdminState.DRAINED
    )


def test_a_member_field_write_is_one_update_that_reads_back_as_the_orm_writes_it(store: Store) -> None:
    """Weight, priority and state take one UPDATE (``Store._put_member``'s short way); what it writes
    reads the same as plain rows and as ORM rows, and reaches the change log and the delta."""
    start = store.apply_inventory(INVENTORY, "test").revision
    seen = writes(store)
    patch_member(store, "www", "192.0.2.10", "t", weight=5, priority=2, state=AdminState.DISABLED)
    moved = Member("ams", "192.0.2.10", weight=6, priority=2, state=AdminState.DISABLED)
    store.put_member("www", moved, "t")
    assert seen == ["UPDATE members SET", "UPDATE members SET"]
    revision, inventory = store.load()
    www = inventory.pool("www")
    assert revision == start + 2
    assert www is not None and moved in www.members
    with Session(store.engine) as session:
        assert rows.pool_value(rows.pool_rows(session, "www")["www"]) == www
    assert [(c.revision, c.edit.object_name) for c in store.changes()[-2:]] == [
        (start + 1, "www/192.0.2.10"),
        (start + 2, "www/192.0.2.10"),
    ]
    delta = store.delta(start)
    assert delta is not None and delta.pools == {"www": www}


def test_drain_times_follow_the_state_through_member_field_writes(store: Store) -> None:
    store.apply_inventory(INVENTORY, "test")

    def drained_at() -> float | None:
        pool = store.pool("www")
        assert pool is not None
        return next(m for m in pool.members if m.address == "192.0.2.10").drained_at

    before = time.time()
    patch_member(store, "www", "192.0.2.10", "t", state=AdminState.DRAINED)  # was answered: from now
    since = drained_at()
    assert since is not None and before <= since <= time.time()
    patch_member(store, "www", "192.0.2.10", "t", weight=7)  # still draining: since then
    assert drained_at() == since
    patch_member(store, "www", "192.0.2.10", "t", state=AdminState.ENABLED)
    assert drained_at() is None
    patch_member(store, "www", "192.0.2.10", "t", state=AdminState.DISABLED)
    patch_member(store, "www", "192.0.2.10", "t", state=AdminState.DRAINED)  # never answered since
    assert drained_at() is None


def test_a_member_moving_to_another_site_is_checked_like_any_pool_write(store: Store) -> None:
    store.apply_inventory(INVENTORY, "test")
    with unchanged(store), pytest.raises(ValidationError, match="unknown site 'mars'"):
        store.put_member("www", Member("mars", "192.0.2.10"), "t")
    store.put_member("www", Member("lon", "192.0.2.10"), "t")
    www = store.pool("www")
    assert www is not None and Member("lon", "192.0.2.10") in www.members


def test_delta_reads_the_pools_written_since_a_revision(store: Store) -> None:
    start = store.apply_inventory(INVENTORY, "test").revision
    assert store.delta(start) == StoreDelta(start, {})
    patch_member(store, "www", "203.0.113.10", "t", state=AdminState.DRAINED)
    store.put_member("sorry", Member("lon", "198.51.100.2"), "t")
    revision, everything = store.load()
    delta = store.delta(start)
    assert delta is not None and delta.revision == revision
    assert delta.pools == {"www": everything.pool("www"), "sorry": everything.pool("sorry")}
    assert store.delta(revision) == StoreDelta(revision, {})
    store.delete_pool("www", "t")
    deleted = store.delta(revision)
    assert deleted is not None and deleted.pools == {"www": None}


def test_delta_gives_up_on_site_changes_and_long_histories(store: Store) -> None:
    start = store.apply_inventory(INVENTORY, "test").revision
    store.put_site(replace(LON, region="eu-south"), "t")
    assert store.delta(start) is None  # sites shape every topology pool: read everything
    middle = store.revision()
    for weight in (1, 2, 3):
        patch_member(store, "www", "192.0.2.10", "t", weight=weight)
    assert store.delta(middle, limit=2) is None
    assert store.delta(middle, limit=3) is not None


@contextmanager
def unchanged(store: Store) -> Iterator[None]:
    """Assert that whatever happens inside leaves revision, contents and change log as they were."""
    before, log = store.load(), store.changes()
    yield
    assert store.load() == before
    assert store.changes() == log


def test_refused_writes_change_nothing(store: Store) -> None:
    store.apply_inventory(INVENTORY, "test")
    with unchanged(store):
        with pytest.raises(ConflictError, match=r"site 'nyc': still has members in pools 'www'"):
            store.delete_site("nyc", "t")
        with pytest.raises(ConflictError, match="pool 'sorry': is the fallback of pools 'www'"):
            store.delete_pool("sorry", "t")
        with pytest.raises(NotFoundError, match="site 'mars'"):
            store.delete_site("mars", "t")
        with pytest.raises(NotFoundError, match="pool 'nope'"):
            store.put_member("nope", Member("ams", "192.0.2.1"), "t")
        with pytest.raises(NotFoundError, match=r"member 'www/192.0.2.254'"):
            patch_member(store, "www", "192.0.2.254", "t", weight=1)
        with pytest.raises(NotFoundError, match=r"member 'www/192.0.2.254'"):
            store.delete_member("www", "192.0.2.254", "t")
        taken = r"pool 'other' names: names already taken: www\S+ \(pool 'www'\)"
        with pytest.raises(ConflictError, match=taken):
            store.put_pool(Pool("other", names=("www.gslb.example.test.",)), "t")
        with pytest.raises(ValidationError) as invalid:
            store.put_member("www", Member("mars", "192.0.2.1", weight=2000), "t")
        assert [(p.object_name, p.field) for p in invalid.value.problems] == [
            ("www/192.0.2.1", "weight"),
            ("www/192.0.2.1", "site"),
        ]
        with pytest.raises(ValidationError, match="fallback pools form a loop"):
            store.put_pool(replace(SORRY, all_down=AllDown.FALLBACK, fallback="www"), "t")
        with pytest.raises(ValidationError, match=r"member 'www/192.0.2.10' weight: -1 is outside"):
            patch_member(store, "www", "192.0.2.10", "t", weight=-1)


def test_site_in_a_site_order_cannot_be_deleted(store: Store) -> None:
    store.apply_inventory(INVENTORY, "test")
    store.put_pool(replace(WWW, members=(), site_order=("ams", "nyc")), "t")
    refused = "site 'nyc': is in the site_order of pools 'www'"
    with unchanged(store), pytest.raises(ConflictError, match=refused):
        store.delete_site("nyc", "t")


def test_an_invalid_inventory_is_refused_whole(store: Store) -> None:
    store.apply_inventory(INVENTORY, "test")
    broken = Inventory(
        sites=(AMS, replace(NYC, name="NYC")),
        pools=(
            replace(WWW, fallback="gone", members=(Member("mars", "192.0.2.1"),)),
            Pool("dup", names=WWW.names[:1], members=(Member("ams", "192.0.2.1", weight=5000),)),
        ),
        checks=(HTTP_ROOT,),
    )
    with unchanged(store), pytest.raises(ValidationError) as refused:
        store.apply_inventory(broken, "test")
    assert [(p.object_type, p.object_name, p.field) for p in refused.value.problems] == [
        ("site", "NYC", "name"),
        ("pool", "dup", "names"),
        ("member", "www/192.0.2.1", "site"),
        ("pool", "www", "site_order"),
        ("pool", "www", "fallback"),
        ("member", "dup/192.0.2.1", "weight"),
    ]


def test_a_failure_half_way_through_apply_rolls_everything_back(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without the checks, the database's own constraint stops the write after others succeeded."""
    store.apply_inventory(INVENTORY, "test")
    skipped: list[Inventory] = []
    monkeypatch.setattr(inventory_module, "check_inventory", skipped.append)
    bad = Pool("zzz", names=("zzz.gslb.example.test.",), members=(Member("ams", "192.0.2.1", weight=5000),))
    desired = Inventory(
        sites=(replace(AMS, region="moved"), NYC, LON, Site("new")),
        pools=(replace(WWW, ttl=5), replace(SORRY, names=("sorry.gslb.example.test.",)), bad),
        checks=(HTTP_ROOT,),
    )
    seen = writes(store)
    message = "pool 'zzz': refused by the database"
    with unchanged(store), pytest.raises(InvalidError, match=message) as refused:
        store.apply_inventory(desired, "test")
    assert refused.value.object_type == "pool" and refused.value.object_name == "zzz"
    assert skipped == [desired]  # the store's checks were skipped, not passed
    assert "INSERT INTO sites" in seen and "UPDATE pools SET" in seen and "INSERT INTO pool_names" in seen


def test_any_exception_rolls_back(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    store.apply_inventory(INVENTORY, "test")
    real = rows.fill_pool
    calls = 0

    def failing(*args: Any) -> None:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise RuntimeError("disk on fire")
        real(*args)

    monkeypatch.setattr(inventory_module, "fill_pool", failing)
    desired = replace(INVENTORY, pools=(replace(WWW, ttl=1), replace(SORRY, ttl=1)))
    with unchanged(store), pytest.raises(RuntimeError, match="disk on fire"):
        store.apply_inventory(desired, "test")
    assert calls == 2


def test_change_log_records_who_did_what_and_pages(store: Store) -> None:
    start = datetime.now(UTC)
    store.apply_inventory(Inventory(sites=(AMS, LON), pools=(SORRY,)), "alice")
    patch_member(store, "sorry", "198.51.100.1", "bob", state=AdminState.DRAINED)
    store.delete_pool("sorry", "carol")
    log = store.changes()
    assert [(e.revision, e.actor, str(e.edit)) for e in log] == [
        (1, "alice", "create site ams"),
        (1, "alice", "create site lon"),
        (1, "alice", "create pool sorry"),
        (1, "alice", "create member sorry/198.51.100.1"),
        (2, "bob", "update member sorry/198.51.100.1"),
        (3, "carol", "delete member sorry/198.51.100.1"),
        (3, "carol", "delete pool sorry"),
    ]
    assert [e.id for e in log] == sorted(e.id for e in log)
    assert all(start <= e.at <= datetime.now(UTC) and e.at.tzinfo is not None for e in log)
    assert log[0].edit.object_type == ObjectType.SITE
    assert log[0].edit.detail == {
        "region": "eu-west",
        "description": "Amsterdam",
        "subnets": ["10.1.0.0/16", "2001:db8:1::/48"],
        "lvs_mode": "dr",
        "vips": ["192.0.2.10", "2001:db8::10"],
    }
    assert log[4].edit.detail == {"state": {"old": "enabled", "new": "drained"}}
    assert log[5].edit.detail["state"] == "drained"
    first = store.changes(limit=3)
    rest = store.changes(after=first[-1].id, limit=100)
    assert first + rest == log


def test_pools_page_by_name_in_code_point_order(store: Store) -> None:
    # PostgreSQL's locales ignore "-" and "_" when they sort ("a-c" after "ab"); pages must not, or
    # a listing keyed by the last name would skip or repeat pools.
    names = ["ab", "a-c", "a_b", "a0", "b", "z9", "z-", "a"]
    if store.engine.dialect.name == "postgresql":  # a locale's order, which this server's C.UTF-8 is not
        with store.engine.begin() as connection:
            connection.execute(text('ALTER TABLE pools ALTER COLUMN name TYPE varchar COLLATE "und-x-icu"'))
    pools = tuple(
        replace(SORRY, name=name, members=(Member("lon", f"198.51.100.{i}"),)) for i, name in enumerate(names)
    )
    store.apply_inventory(Inventory(sites=(LON,), pools=pools), "test")
    for limit in (1, 3, 100):
        listed: list[Pool] = []
        after = ""
        while page := store.pools_after(after, limit):
            assert len(page) <= limit
            listed += page
            after = page[-1].name
        assert [p.name for p in listed] == sorted(names)
        assert listed == [store.pool(name) for name in sorted(names)]  # whole pools, as read one by one
    assert [p.name for p in store.pools_after("a0", 2)] == ["a_b", "ab"]  # "a0" < "a_b": a name between
    assert store.pools_after("zz", 5) == ()


def test_racing_writers_lose_no_revision(database: str) -> None:
    writers, each = 4, 8
    with Store.open(database) as setup, setup.engine.begin() as connection:
        for statement in WIPE:
            connection.execute(text(statement))
    errors: list[BaseException] = []

    def write(worker: int) -> None:
        try:
            with Store.open(database) as mine:
                for n in range(each):
                    mine.put_site(Site(f"w{worker}-{n}"), f"writer-{worker}")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with Store.open(database) as store:
        assert store.revision() == writers * each
        assert sorted(e.revision for e in store.changes(limit=1000)) == list(range(1, writers * each + 1))
        assert len(store.load()[1].sites) == writers * each


def test_load_sees_one_state_while_writers_write(database: str) -> None:
    """Each write adds one site, so in any consistent read the revision equals the site count."""
    with Store.open(database) as setup, setup.engine.begin() as connection:
        for statement in WIPE:
            connection.execute(text(statement))
    done = threading.Event()

    def write() -> None:
        try:
            with Store.open(database) as writer:
                for n in range(30):
                    writer.put_site(Site(f"s{n}"), "writer")
        finally:
            done.set()

    thread = threading.Thread(target=write)
    with Store.open(database) as reader:
        thread.start()
        reads = 0
        while not done.is_set() or reads == 0:
            revision, inventory = reader.load()
            assert len(inventory.sites) == revision
            reads += 1
        thread.join()


WEB = Check(
    "web",
    CheckType.HTTPS,
    port=8443,
    method="HEAD",
    path="/healthz",
    host="www.example.net",
    expect=((200, 204), (300, 399)),
    body="ok",
    sni="tls.example.net",
    verify_tls=False,
    interval=0.5,
    timeout=0.25,
    rise=3,
    fall=1,
    jitter=0.0,
)
CHECKED = replace(
    WWW,
    health_check="web",
    check_overrides=CheckOverrides(interval=1.0, timeout=0.5),
    members=(
        Member("nyc", "203.0.113.10", check_overrides=CheckOverrides(port=9000, rise=5)),
        Member("ams", "192.0.2.10", override=HealthOverride.FORCE_DOWN),
        Member(
            "ams", "2001:db8::10", override=HealthOverride.FORCE_UP, check_overrides=CheckOverrides(fall=4)
        ),
    ),
)
CHECKED_INVENTORY = Inventory(
    sites=(NYC, AMS, LON),
    pools=(CHECKED, SORRY),
    checks=(HTTP_ROOT, WEB, Check("smtp", CheckType.TCP, port=25), Check("pushed", CheckType.PASSIVE)),
)


def test_checks_and_overrides_round_trip(store: Store) -> None:
    outcome = store.apply_inventory(CHECKED_INVENTORY, "test")
    assert store.load() == (1, CHECKED_INVENTORY.normalized())
    assert [str(e) for e in outcome.edits][3:7] == [
        "create check http-root",
        "create check pushed",
        "create check smtp",
        "create check web",
    ]
    assert store.apply_inventory(CHECKED_INVENTORY, "test").revision == 1  # nothing to do
    assert plan(store.load()[1], CHECKED_INVENTORY).edits == ()
    # Clearing overrides and moving the pool to another check drops the rows that held them.
    plain = replace(CHECKED_INVENTORY, pools=(WWW, SORRY))
    edits = [str(e) for e in store.apply_inventory(plain, "test").edits]
    assert edits == [
        "update pool www",
        "update member www/192.0.2.10",
        "update member www/2001:db8::10",
        "update member www/203.0.113.10",
    ]
    assert store.load() == (2, plain.normalized())
    store.apply_inventory(Inventory(), "test")
    assert store.load() == (3, Inventory())


def test_check_writes_and_refusals(store: Store) -> None:
    store.apply_inventory(CHECKED_INVENTORY, "test")
    assert store.put_check(replace(WEB, rise=7), "t").revision == 2
    with unchanged(store):
        with pytest.raises(ConflictError, match="check 'web': is the health check of pools 'www'"):
            store.delete_check("web", "t")
        with pytest.raises(NotFoundError, match="check 'nope'"):
            store.delete_check("nope", "t")
        # A passive check has no port nor timing to override.
        with pytest.raises(ValidationError) as misfit:
            store.put_check(replace(WEB, type=CheckType.PASSIVE, port=None), "t")
        assert [(p.object_type, p.object_name, p.field) for p in misfit.value.problems] == [
            ("pool", "www", "check_overrides"),
            ("member", "www/203.0.113.10", "check_overrides"),
        ]
        with pytest.raises(ValidationError) as invalid:
            store.put_check(Check("Bad", CheckType.TCP, interval=0, rise=0, jitter=1), "t")
        assert [p.field for p in invalid.value.problems] == [
            "name", "port", "interval", "timeout", "rise", "jitter",
        ]  # fmt: skip
        with pytest.raises(ValidationError, match="pool 'www' health_check: unknown check 'gone'"):
            store.put_pool(replace(CHECKED, health_check="gone"), "t")
        passive = replace(CHECKED, health_check="pushed")
        with pytest.raises(ValidationError, match="check 'pushed' is passive"):
            store.put_pool(passive, "t")
        with pytest.raises(ValidationError, match="only meaningful with health_check"):
            store.put_pool(replace(CHECKED, health_check=None, members=()), "t")
        undeclared = replace(CHECKED_INVENTORY, checks=(HTTP_ROOT,))
        with pytest.raises(ValidationError, match="pool 'www' health_check: unknown check 'web'"):
            store.apply_inventory(undeclared, "t")
    assert store.delete_check("smtp", "t").revision == 3
    assert store.put_pool(replace(CHECKED, health_check="http-root"), "t").revision == 4
    assert store.delete_check("web", "t").revision == 5


def test_a_check_the_database_refuses_rolls_back(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the store's own checks, the constraints of the checks table refuse it."""
    store.apply_inventory(INVENTORY, "test")
    skipped: list[Check] = []

    def no_problems(check: Check) -> list[InvalidError]:
        skipped.append(check)
        return []

    monkeypatch.setattr(writes_module, "check_problems", no_problems)
    with unchanged(store), pytest.raises(InvalidError, match="check 'tcp': refused by the database"):
        store.put_check(Check("tcp", CheckType.TCP), "t")
    with unchanged(store), pytest.raises(InvalidError, match="check 'slow': refused by the database"):
        store.put_check(Check("slow", CheckType.HTTP, timeout=3.0), "t")
    assert [check.name for check in skipped] == ["tcp", "slow"]


def test_patch_member_sets_and_clears_the_override(store: Store) -> None:
    store.apply_inventory(CHECKED_INVENTORY, "test")

    def member(address: str) -> Member:
        pool = store.load()[1].pool("www")
        assert pool is not None
        return next(m for m in pool.members if m.address == address)

    seen = writes(store)
    patch_member(store, "www", "203.0.113.10", "t", override=HealthOverride.FORCE_UP)
    assert member("203.0.113.10").override == HealthOverride.FORCE_UP
    assert member("203.0.113.10").check_overrides == CheckOverrides(port=9000, rise=5)
    assert patch_member(store, "www", "203.0.113.10", "t", weight=7).revision == 3  # override kept
    assert member("203.0.113.10").override == HealthOverride.FORCE_UP
    patch_member(store, "www", "192.0.2.10", "t", override=None)
    assert member("192.0.2.10") == Member("ams", "192.0.2.10")
    patch_member(store, "www", "203.0.113.10", "t", override=None, check_overrides=CheckOverrides())
    assert member("203.0.113.10") == Member("nyc", "203.0.113.10", weight=7)
    assert seen == [
        "UPDATE member_health SET",
        "UPDATE members SET",
        "DELETE FROM member_health",
        "DELETE FROM member_health",
    ]
    log = store.changes(after=store.changes()[-5].id)
    assert [e.edit.detail for e in log] == [
        {"override": {"old": None, "new": "force_up"}},
        {"weight": {"old": 100, "new": 7}},
        {"override": {"old": "force_down", "new": None}},
        {
            "check_overrides": {"old": {"port": 9000, "rise": 5}, "new": {}},
            "override": {"old": "force_up", "new": None},
        },
    ]
    with (
        unchanged(store),
        pytest.raises(ValidationError, match=r"www/192\.0\.2\.10' check_overrides: port 0"),
    ):
        patch_member(store, "www", "192.0.2.10", "t", check_overrides=CheckOverrides(port=0))


def test_delta_loads_everything_after_a_check_change(store: Store) -> None:
    start = store.apply_inventory(CHECKED_INVENTORY, "test").revision
    patch_member(store, "www", "203.0.113.10", "t", override=HealthOverride.FORCE_DOWN)
    delta = store.delta(start)
    assert delta is not None and delta.pools == {"www": store.load()[1].pool("www")}
    middle = store.revision()
    store.put_check(replace(WEB, fall=2), "t")
    assert store.delta(middle) is None  # a check shapes what the monitor probes: read everything
    after = store.revision()
    store.delete_check("smtp", "t")
    assert store.delta(after) is None
