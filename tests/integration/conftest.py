"""Integration fixtures: real ``gslb serve`` processes on loopback, stopped after use."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from gslb.tokens import ApiToken, Role, token_hash
from tests.conftest import EXAMPLE_ZONES, TEST_ZONES
from tests.integration.server import GslbProcess
from tests.integration.stores import database, store  # noqa: F401 - the store tests' fixtures, shared

# Clients from this address may transfer zones; tests bind to it to be allowed.
TRANSFER_CLIENT = "127.0.0.2"


@pytest.fixture(scope="session")
def all_zones(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example zone with its pools, and the test zone, in one directory as an operator lays them out."""
    directory = tmp_path_factory.mktemp("zones")
    for source in (*EXAMPLE_ZONES.glob("*.zone"), *EXAMPLE_ZONES.glob("*.toml"), *TEST_ZONES.glob("*.zone")):
        shutil.copy(source, directory / source.name)
    return directory


@pytest.fixture(scope="session")
def gslb_auth(all_zones: Path) -> Iterator[GslbProcess]:
    """One server for the read-only tests: both zones, IPv4 and IPv6, AXFR for TRANSFER_CLIENT."""
    server = GslbProcess(
        all_zones,
        extra_args=["--transfer-allow", f"{TRANSFER_CLIENT}/32", "--tcp-idle-timeout", "2"],
        listen_v6=True,
    )
    with server:
        yield server


@dataclass(frozen=True, slots=True)
class ApiTokens:
    """Secrets of the tokens the API fixtures configure (only their hashes reach the server)."""

    admin: str = "gslb_test-admin-token"
    read: str = "gslb_test-read-token"

    def environ(self) -> dict[str, str]:
        tokens = [
            ApiToken("admin", Role.ADMIN, token_hash(self.admin)),
            ApiToken("reader", Role.READ, token_hash(self.read)),
        ]
        return {"GSLB_API_TOKENS": ",".join(str(t) for t in tokens)}


@pytest.fixture(scope="session")
def api_tokens() -> ApiTokens:
    return ApiTokens()


@pytest.fixture
def api_server(all_zones: Path, api_tokens: ApiTokens) -> Iterator[GslbProcess]:
    """A fresh server (its own store, filled from the example declarations) with the API on a free
    port and two tokens: ``admin`` (api_tokens.admin) and ``reader`` (api_tokens.read)."""
    with GslbProcess(all_zones, environ=api_tokens.environ()) as server:
        yield server


def required_tool(name: str, package: str) -> str:
    """The path of a program the tests need: a failure under CI, a skip on a developer machine."""
    path = shutil.which(name)
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{name} is required under CI (Debian package {package})")
        pytest.skip(f"{name} is not installed (Debian package {package})")
    return path


@pytest.fixture(scope="session")
def dig() -> str:
    return required_tool("dig", "dnsutils")
