"""Alembic migrations of the store, installed as the package ``gslb.migrations``."""
