"""The store: the single source of truth for sites, pools and members, behind one class.

Every write is one transaction that starts by bumping the store revision
(``revision = revision + 1``): that row update is also the lock that makes concurrent writers
(API, ``gslb apply``, other nodes) wait for each other, so none loses a bump or plans against a
state another is changing. A write that turns out to change nothing rolls back, bump included;
any error rolls back everything, so a refused write leaves the store exactly as it was.

``Store`` is put together from its reads (``reads.py``), its writes of one object
(``writes.py``) and of a whole inventory (``inventory.py``), which share the engine and the
transactions (``transactions.py``).
"""

from __future__ import annotations

from gslb.store.inventory import InventoryWrites
from gslb.store.reads import DELTA_LIMIT, Reads, StoreDelta
from gslb.store.writes import Precondition, Writes

__all__ = ["DELTA_LIMIT", "Precondition", "Store", "StoreDelta", "open_store"]


class Store(Reads, Writes, InventoryWrites):
    """Sites, pools and members in a SQL database, read whole and written transactionally."""


def open_store(url: str) -> Store:
    """What ``gslb serve`` calls on start: open the store, creating and migrating it as needed."""
    store = Store.open(url)
    try:
        store.upgrade()
    except BaseException:
        store.dispose()
        raise
    return store
