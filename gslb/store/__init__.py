"""The store: sites, pools and members in SQL (SQLite by default, PostgreSQL for many nodes).

``open_store(url)`` is what a server calls on start (it creates and migrates the database);
``Store`` reads the whole inventory with its revision and writes it transactionally, each write
bumping the revision that readers poll and appending to the change log.
"""

from gslb.store.edits import Edit, LoggedEdit, Outcome
from gslb.store.engine import DEFAULT_URL
from gslb.store.repository import Store, StoreDelta, open_store
from gslb.store.rules import check_inventory
from gslb.store.tables import Action, ObjectType

__all__ = [
    "DEFAULT_URL",
    "Action",
    "Edit",
    "LoggedEdit",
    "ObjectType",
    "Outcome",
    "Store",
    "StoreDelta",
    "check_inventory",
    "open_store",
]
