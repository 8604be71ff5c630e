"""The migrations ship with the package, and every package is listed for a non-editable install.

pyproject.toml lists packages by hand (discovery cannot map migrations/ to gslb.migrations), so
a new package under gslb/ that is not listed would be missing from ``pip install .``.
"""

from __future__ import annotations

import tomllib
from importlib.resources import files

from gslb.config import Settings
from gslb.store import DEFAULT_URL, migrate
from tests.conftest import ROOT


def test_every_package_is_listed_in_pyproject() -> None:
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    found = {".".join(init.parent.relative_to(ROOT).parts) for init in (ROOT / "gslb").rglob("__init__.py")}
    found |= {
        ".".join(("gslb", *init.parent.relative_to(ROOT).parts))
        for init in (ROOT / "migrations").rglob("__init__.py")
    }
    assert set(setuptools["packages"]) == found
    assert setuptools["package-dir"] == {"gslb.migrations": "migrations"}


def test_the_migrations_are_a_package_resource() -> None:
    location = files("gslb.migrations")
    assert location.joinpath("env.py").is_file()
    assert location.joinpath("versions").joinpath("0001_initial_schema.py").is_file()
    assert migrate.head() == "0003"


def test_the_default_database_is_a_file_in_the_working_directory() -> None:
    assert Settings().db == DEFAULT_URL == "sqlite:///gslb.sqlite"
