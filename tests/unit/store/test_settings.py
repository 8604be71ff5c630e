"""The ``db`` setting: TOML key ``db``, environment GSLB_DB_URL, flag ``--db``; later wins."""

from __future__ import annotations

from pathlib import Path

import pytest

from gslb.config import load
from gslb.errors import ConfigError


def test_file_then_environment_then_flag(tmp_path: Path) -> None:
    config = tmp_path / "gslb.toml"
    config.write_text('db = "sqlite:////srv/gslb/gslb.sqlite"\n')
    assert load(environ={}).db == "sqlite:///gslb.sqlite"
    assert load(config, environ={}).db == "sqlite:////srv/gslb/gslb.sqlite"
    postgres = "postgresql+psycopg://gslb@db.example.test/gslb"
    assert load(config, environ={"GSLB_DB_URL": postgres}).db == postgres
    assert load(config, environ={"GSLB_DB_URL": postgres}, overrides={"db": "sqlite://"}).db == "sqlite://"


def test_an_empty_url_is_refused() -> None:
    with pytest.raises(ConfigError, match="db: a database URL is required"):
        load(environ={}, overrides={"db": " "})
