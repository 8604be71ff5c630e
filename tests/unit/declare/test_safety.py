"""The guard of ``gslb apply``: a plan deleting or replacing much of the store is refused unless forced."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from gslb.declare.apply import apply
from gslb.declare.plan import plan
from gslb.declare.safety import MIN_EXISTING, UnsafePlanError, unsafe_reasons
from gslb.model import Inventory, Member, Pool, Site
from gslb.store import Edit, Outcome

SITE = Site("ams")
POOLS = tuple(
    Pool(f"p{i:02}", names=(f"p{i:02}.gslb.example.test.",), members=(Member("ams", f"192.0.2.{i}"),))
    for i in range(1, 21)
)
STORED = Inventory(sites=(SITE,), pools=POOLS)


def test_a_small_change_is_safe() -> None:
    desired = replace(STORED, pools=POOLS[:-6])  # 6 of 20 pools and members: 30 %, not more
    assert unsafe_reasons(plan(STORED, desired)) == []


def test_deleting_more_than_the_share_is_refused_with_counts() -> None:
    desired = replace(STORED, pools=POOLS[:-7])
    assert unsafe_reasons(plan(STORED, desired)) == [
        "the plan deletes or replaces 7 of 20 pools (35 %), more than the safe 30 % (--max-safe-percent)",
        "the plan deletes or replaces 7 of 20 members (35 %), more than the safe 30 % (--max-safe-percent)",
    ]
    assert unsafe_reasons(plan(STORED, desired), max_percent=50) == []


def test_replacing_counts_like_deleting() -> None:
    """Updates of members (here weights) count, new pools do not."""
    reweighted = tuple(replace(p, members=(replace(p.members[0], weight=5),)) for p in POOLS[:10])
    desired = replace(STORED, pools=(*reweighted, *POOLS[10:]))
    (reason,) = unsafe_reasons(plan(STORED, desired))
    assert reason.startswith("the plan deletes or replaces 10 of 20 members (50 %)")
    grown = replace(STORED, pools=(*POOLS, *(replace(p, name=f"n{p.name}", names=()) for p in POOLS)))
    assert unsafe_reasons(plan(STORED, grown)) == []


def test_a_small_store_is_guarded_only_against_losing_every_pool() -> None:
    small = replace(STORED, pools=POOLS[: MIN_EXISTING - 1])
    assert unsafe_reasons(plan(small, replace(small, pools=small.pools[:1]))) == []
    emptied = plan(small, Inventory())
    assert unsafe_reasons(emptied) == [
        f"the declarations hold no pools: the plan deletes all {MIN_EXISTING - 1} pools of the store"
    ]
    assert unsafe_reasons(emptied, max_percent=100) != []


def test_an_empty_store_loses_nothing() -> None:
    """The first start of ``gslb serve`` applies to an empty store: never refused."""
    assert unsafe_reasons(plan(Inventory(), STORED)) == []
    assert unsafe_reasons(plan(Inventory(), Inventory())) == []


class FakeStore:
    """What apply() uses of a Store: a load, and a write that records its planned edits."""

    def __init__(self, current: Inventory) -> None:
        self.current = current
        self.writes: list[tuple[Inventory, tuple[Edit, ...] | None]] = []

    def load(self) -> tuple[int, Inventory]:
        return 7, self.current.normalized()

    def apply_inventory(self, inventory: Inventory, actor: str, planned: Any = None) -> Outcome:
        self.writes.append((inventory, tuple(planned) if planned is not None else None))
        return Outcome(8, tuple(planned or ()))


def test_apply_refuses_unless_forced_and_a_dry_run_says_why() -> None:
    store = FakeStore(STORED)
    with pytest.raises(UnsafePlanError) as refused:
        apply(store, Inventory(), dry_run=False, actor="test")  # type: ignore[arg-type]
    assert store.writes == []
    assert str(refused.value).splitlines() == [
        "the declarations hold no pools: the plan deletes all 20 pools of the store",
        "gslb apply --force applies it anyway",
    ]
    assert refused.value.plan.render().endswith("plan: 21 to delete")

    dry = apply(store, Inventory(), dry_run=True, actor="test")  # type: ignore[arg-type]
    assert dry.refused == tuple(refused.value.reasons) and dry.revision == 7 and store.writes == []

    forced = apply(store, Inventory(), dry_run=False, actor="test", force=True)  # type: ignore[arg-type]
    assert forced.revision == 8 and forced.refused == ()
    assert store.writes == [(Inventory(), forced.plan.edits)]  # the write makes the planned edits
