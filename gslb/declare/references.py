"""Rules between declared objects: sites and checks that exist, fallbacks that resolve without a
loop, owner names held by one pool, check overrides that fit their check.

They are judged once every file is read, since an object may name one declared in a later file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from gslb.declare.problems import Problems
from gslb.model import Check, CheckOverrides, Pool, Site


@dataclass(slots=True)
class References:
    """What the readers noted to judge later, each with its file and ``where``."""

    sites: list[tuple[Path, str, str]] = field(default_factory=list)  # (file, where, site name)
    # (file, where, pool, overrides): checked against the pool's check
    overrides: list[tuple[Path, str, str, CheckOverrides]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Declared:
    """Every object read, by name, with the file that declared it."""

    sites: dict[str, tuple[Site, Path]]
    pools: dict[str, tuple[Pool, Path]]
    checks: dict[str, tuple[Check, Path]]


def check_references(problems: Problems, declared: Declared, references: References) -> None:
    """Note every broken rule between objects in ``problems``."""
    owners: dict[str, str] = {}
    for name, (pool, path) in sorted(declared.pools.items()):
        problems.path = path
        for index, site in enumerate(pool.site_order):
            if site not in declared.sites:
                problems.add(f"pools.{name}.site_order[{index}]", f"unknown site {site!r}")
        if pool.fallback is not None:
            if pool.fallback not in declared.pools:
                problems.add(f"pools.{name}.fallback", f"unknown pool {pool.fallback!r}")
            elif _fallback_loops(declared.pools, name):
                problems.add(f"pools.{name}.fallback", "fallback pools form a loop")
        for index, owner in enumerate(pool.names):
            if owner in owners:
                problems.add(
                    f"pools.{name}.names[{index}]", f"{owner} is also a name of pool {owners[owner]!r}"
                )
            owners.setdefault(owner, name)
    for path, where, site in references.sites:
        if site not in declared.sites:
            problems.path = path
            problems.add(where, f"unknown site {site!r}")
    _check_checks(problems, declared, references)


def _check_checks(problems: Problems, declared: Declared, references: References) -> None:
    """Checks named by pools exist, and overrides fit the check they change."""
    for name, (pool, path) in sorted(declared.pools.items()):
        problems.path = path
        if pool.health_check is not None and pool.health_check not in declared.checks:
            problems.add(f"pools.{name}.health_check", f"unknown check {pool.health_check!r}")
    for path, where, pool_name, overrides in references.overrides:
        problems.path = path
        if pool_name not in declared.pools or overrides.empty:
            continue
        pool = declared.pools[pool_name][0]
        if pool.health_check is None:
            problems.add(where, "only meaningful with health_check")
            continue
        if pool.health_check not in declared.checks:
            continue  # reported above
        check = declared.checks[pool.health_check][0]
        if not check.type.probed:
            probe_fields = [k for k in ("port", "interval", "timeout") if getattr(overrides, k) is not None]
            for key in probe_fields:
                problems.add(f"{where}.{key}", f"check {check.name!r} is passive: nothing to probe")
            continue
        # The member's values on top of the pool's, or the pool's alone for the pool itself.
        effective = overrides.applied_to(pool.check_overrides.applied_to(check))
        if effective.timeout >= effective.interval:
            problems.add(
                where,
                f"timeout {effective.timeout:g} s must be less than the interval, "
                f"{effective.interval:g} s (check {check.name!r} with the overrides)",
            )


def _fallback_loops(pools: dict[str, tuple[Pool, Path]], start: str) -> bool:
    seen = {start}
    current = pools[start][0].fallback
    while current is not None and current in pools:
        if current in seen:
            return True
        seen.add(current)
        current = pools[current][0].fallback
    return False
