"""``gslb apply``: make the store match the sites and pools declared next to the zone files.

The plan is computed and printed first (octoDNS-style), then written in one transaction, so a
dry run shows exactly what a real run would do and a second run shows nothing to do. The write
makes the plan's edits or none (see ``Store.apply_inventory``), and a plan that deletes or
replaces much of the store is refused unless forced (gslb/declare/safety.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import dns.rdatatype

from gslb.declare.plan import Plan, plan
from gslb.declare.reader import read_declarations
from gslb.declare.safety import DEFAULT_MAX_SAFE_PERCENT, UnsafePlanError, unsafe_reasons
from gslb.dns.plain import owner_texts, rdtype_of
from gslb.dns.zonefile import LoadedZone
from gslb.model import Inventory
from gslb.store import Store

# A name answers from a pool or from these static types, never both.
POOL_EXCLUSIVE_TYPES = (dns.rdatatype.A, dns.rdatatype.AAAA, dns.rdatatype.CNAME)


@dataclass(frozen=True, slots=True)
class Applied:
    plan: Plan
    revision: int  # the store revision after applying (unchanged for a dry run or an empty plan)
    refused: tuple[str, ...] = ()  # a dry run's: why the guard would refuse the real run


def static_owner_names(zones: Iterable[LoadedZone]) -> dict[str, str]:
    """Owner names with A, AAAA or CNAME records in a zone file → that file."""
    owners: dict[str, str] = {}
    for loaded in zones:
        path = str(loaded.path)
        for name, node in loaded.zone.nodes.items():
            if any(rdataset.rdtype in POOL_EXCLUSIVE_TYPES for rdataset in node.rdatasets):
                owners[name.canonicalize().to_text()] = path
        plain = loaded.zone.plain.owners
        keys = (
            key
            for key, entry in plain.items()
            if any(rdtype_of(w) in POOL_EXCLUSIVE_TYPES for w in entry[1:])
        )
        owners.update(dict.fromkeys(owner_texts(keys), path))
    return owners


def declared(directory: Path, zones: Iterable[LoadedZone]) -> Inventory:
    """The validated declarations of ``directory`` (DeclarationError lists every problem)."""
    zones = list(zones)
    return read_declarations(directory, [z.origin.to_text() for z in zones], static_owner_names(zones))


def apply(
    store: Store,
    desired: Inventory,
    *,
    dry_run: bool,
    actor: str,
    force: bool = False,
    max_safe_percent: float = DEFAULT_MAX_SAFE_PERCENT,
) -> Applied:
    """Plan against the store's current state and, unless ``dry_run``, write it.

    Unless ``force``, a plan the guard refuses raises UnsafePlanError and writes nothing; a dry
    run returns the reasons instead.
    """
    revision, current = store.load()
    changes = plan(current, desired)
    refused = () if force else tuple(unsafe_reasons(changes, max_safe_percent))
    if dry_run or changes.empty:
        return Applied(changes, revision, refused)
    if refused:
        raise UnsafePlanError(changes, list(refused))
    outcome = store.apply_inventory(desired, actor, planned=changes.edits)
    return Applied(changes, outcome.revision)
