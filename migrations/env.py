"""Alembic's entry point: run the migrations on the connection gslb hands over.

``gslb db upgrade`` (gslb/store/migrate.py) passes an open connection, already inside the
transaction the whole upgrade runs in. Run by the ``alembic`` command instead (to write a new
revision, see README.md here), it opens the database named by ``-x db=URL``.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from gslb.store.engine import DEFAULT_URL, create
from gslb.store.tables import Base


def run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        # ALTER through table copies where SQLite needs them; plain ALTER on PostgreSQL.
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("gslb migrations run online only: gslb db upgrade --db URL")
given = context.config.attributes.get("connection")
if given is not None:
    run(given)
else:
    engine = create(context.get_x_argument(as_dictionary=True).get("db", DEFAULT_URL))
    try:
        with engine.begin() as connection:
            run(connection)
    finally:
        engine.dispose()
