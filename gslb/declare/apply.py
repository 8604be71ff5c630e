"""``gslb apply``: make the store match the sites and pools declared next to the zone files.

The plan is computed and printed first (octoDNS-style), then written in one transaction, so a
dry run shows exactly what a real run would do and a second run shows nothing to do.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import dns.rdatatype

from gslb.declare.plan import Plan, plan
from gslb.declare.reader import read_declarations
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


def apply(store: Store, desired: Inventory, *, dry_run: bool, actor: str) -> Applied:
    """Plan against the store's current state and, unless ``dry_run``, write it."""
    revision, current = store.load()
    changes = plan(current, desired)
    if dry_run or changes.empty:
        return Applied(changes, revision)
    outcome = store.apply_inventory(desired, actor)
    return Applied(changes, outcome.revision)
