"""The guard against a plan that removes much of what is served, as octoDNS's MAX_SAFE_*_PCENT.

A typo in a file name, an emptied ``pools.toml`` or a bad merge can turn into a plan that deletes
most pools, and applying it takes those names off the air at once. Such a plan is refused unless
the operator says ``--force``. Deleting or replacing (updating) more than ``max_percent`` of the
stored pools, or of the stored members, counts; below ``MIN_EXISTING`` objects of a kind a share
means a few objects, so only the plan that deletes every pool is refused there.
"""

from __future__ import annotations

from gslb.declare.plan import Plan
from gslb.errors import GslbError
from gslb.store import Action, ObjectType

DEFAULT_MAX_SAFE_PERCENT = 30.0
MIN_EXISTING = 10  # octoDNS's MIN_EXISTING_RECORDS


class UnsafePlanError(GslbError):
    """A plan refused by the guard; ``plan`` is what it would have applied, nothing was written."""

    def __init__(self, plan: Plan, reasons: list[str]) -> None:
        self.plan = plan
        self.reasons = reasons
        super().__init__("\n".join([*reasons, "gslb apply --force applies it anyway"]))


def unsafe_reasons(plan: Plan, max_percent: float = DEFAULT_MAX_SAFE_PERCENT) -> list[str]:
    """Why the guard refuses ``plan`` (nothing: it does not)."""
    stored_pools = len(plan.current.pools)
    if stored_pools and not plan.desired.pools:
        return [f"the declarations hold no pools: the plan deletes all {stored_pools} pools of the store"]
    stored_members = sum(len(p.members) for p in plan.current.pools)
    reasons = []
    for kind, object_type, stored in (
        ("pools", ObjectType.POOL, stored_pools),
        ("members", ObjectType.MEMBER, stored_members),
    ):
        touched = sum(
            e.object_type is object_type and e.action in (Action.DELETE, Action.UPDATE) for e in plan.edits
        )
        if stored >= MIN_EXISTING and touched * 100 > max_percent * stored:
            reasons.append(
                f"the plan deletes or replaces {touched} of {stored} {kind} ({touched * 100 / stored:.0f} %),"
                f" more than the safe {max_percent:g} % (--max-safe-percent)"
            )
    return reasons
