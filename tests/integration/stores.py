"""The store's test databases: a SQLite file and a PostgreSQL schema, and the ``database`` and
``store`` fixtures every store test shares (made available to tests/integration by its conftest).

PostgreSQL is the server at ``GSLB_TEST_POSTGRES_URL`` (default: user postgres on 127.0.0.1:5432,
database ``test``); every test session works in schemas of its own, dropped at the end. Without
the server these tests are skipped, except under ``CI=true``, where that is a failure.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from gslb.errors import NotFoundError
from gslb.model import Member
from gslb.store import Outcome, Store, open_store
from gslb.store.repository import Precondition
from gslb.store.rules import member_name

POSTGRES_URL = os.environ.get("GSLB_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
BACKENDS = ["sqlite", "postgresql"]
WIPE = [  # children before parents
    "DELETE FROM change_log",
    "DELETE FROM member_health",
    "DELETE FROM members",
    "DELETE FROM pool_checks",
    "DELETE FROM checks",
    "DELETE FROM pool_site_order",
    "DELETE FROM pool_names",
    "DELETE FROM pools",
    "DELETE FROM site_vips",
    "DELETE FROM site_subnets",
    "DELETE FROM sites",
    "UPDATE store_revision SET revision = 0",
]


@contextmanager
def postgres_schema() -> Iterator[str]:
    """The URL of a new, empty schema in the test database, dropped afterwards."""
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    schema = f"gslb_test_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    except OperationalError as exc:
        admin.dispose()
        message = f"PostgreSQL is unreachable at {POSTGRES_URL}: {exc.orig}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    try:
        url = make_url(POSTGRES_URL).update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@contextmanager
def empty_database(backend: str, directory: Path) -> Iterator[str]:
    """The URL of a database with nothing in it yet."""
    if backend == "sqlite":
        yield f"sqlite:///{directory / f'{uuid.uuid4().hex}.sqlite'}"
    else:
        with postgres_schema() as url:
            yield url


@pytest.fixture(scope="session", params=BACKENDS)
def database(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One migrated database per backend for the session; each test starts from it empty."""
    with empty_database(request.param, tmp_path_factory.mktemp("store")) as url:
        open_store(url).dispose()
        yield url


@pytest.fixture
def store(database: str) -> Iterator[Store]:
    with Store.open(database) as opened:
        with opened.engine.begin() as connection:
            for statement in WIPE:
                connection.execute(text(statement))
        yield opened


def patch_member(
    store: Store,
    pool: str,
    address: str,
    actor: str,
    *,
    precondition: Precondition[Member] | None = None,
    **fields: Any,
) -> Outcome:
    """Change some fields of one stored member (``Member``'s, by name), leaving the others, as the
    API's PATCH does: ``put_member`` of the member as read, with ``fields`` replaced.

    The member must be there when the write runs: the precondition (if any) is tested first, as the
    store tests every precondition, then a missing member is refused (NotFoundError), and nothing
    is written. A missing pool is the store's NotFoundError."""
    stored = store.pool(pool)
    member = next((m for m in stored.members if m.address == address), None) if stored else None
    patched = replace(member, **fields) if member else Member("", address)  # never written

    def test(current: Member | None) -> None:
        if precondition is not None:
            precondition(current)
        if current is None:
            raise NotFoundError("member", member_name(pool, address), "no such member")

    return store.put_member(pool, patched, actor, test)
