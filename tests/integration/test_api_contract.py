"""The admin API keeps its OpenAPI contract: schemathesis against a live ``gslb serve``.

schemathesis reads /api/v1/openapi.json, generates requests from it (valid and invalid, every
operation, the examples, sequences following Location headers) and checks every answer against
the document: statuses, content types, headers, response schemas, that invalid input is refused
and valid input is not, that no request gets a 5xx, that authentication is not ignored. Its
configuration, and why some checks expect more statuses than their defaults, is in
schemathesis.toml at the repository root; any failure it reports fails this test.

Below it, the failures schemathesis (and its way of probing) found while the contract was written,
pinned so they stay fixed.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.process import LOG_NAME
from tests.integration.apiclient import ApiClient
from tests.integration.conftest import ApiTokens
from tests.integration.server import GslbProcess

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "schemathesis.toml"
MAX_EXAMPLES = 30  # per operation and phase: about 30 s on a 2-core machine
RUN_TIMEOUT = 300


def test_the_live_api_keeps_its_openapi_contract(
    api_server: GslbProcess, api_tokens: ApiTokens, tmp_path: Path
) -> None:
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "--config-file",
        str(CONFIG),
        "run",
        f"{api_server.api_url}/api/v1/openapi.json",
        "--max-examples",
        str(MAX_EXAMPLES),
        # One worker: the machine has two cores and the server needs one; and hypothesis's
        # lambda descriptions are not thread-safe on Python 3.11 (an internal error, not a finding).
        "--workers",
        "1",
        "--generation-database",
        "none",
        "--no-color",
    ]
    environ = dict(os.environ, GSLB_API_TOKEN=api_tokens.admin)
    started = time.monotonic()
    run = subprocess.run(
        command, cwd=tmp_path, env=environ, capture_output=True, text=True, timeout=RUN_TIMEOUT, check=False
    )
    output = run.stdout + run.stderr
    print(f"schemathesis: exit {run.returncode} in {time.monotonic() - started:.1f} s")
    print(output[-3000:])
    # A failure shows schemathesis's report (each case with a curl command that reproduces it, and
    # the seed) and the server's log, which holds the traceback of any 500.
    server_log = (api_server.rundir / LOG_NAME).read_text(errors="replace")
    assert run.returncode == 0, output[-20000:] + "\n--- server log ---\n" + server_log[-10000:]
    counted = re.search(r"(\d+) generated, (\d+) passed", output)
    assert counted is not None, output[-3000:]
    generated, passed = map(int, counted.groups())
    assert generated == passed > 1000  # every phase ran, over every operation


@pytest.fixture
def admin(api_server: GslbProcess, api_tokens: ApiTokens) -> ApiClient:
    return ApiClient(api_server.api_url, api_tokens.admin)


def test_what_schemathesis_found_stays_fixed(admin: ApiClient) -> None:
    # Python's json reads NaN and Infinity, which JSON does not have.
    for constant in ("NaN", "Infinity", "-Infinity"):
        reply = admin.patch("/api/v1/sites/eu1", raw=f'{{"region": {constant}}}'.encode())
        assert reply.problem(400, "body")["detail"].startswith("malformed JSON")
    # JSON's escapes can spell half a surrogate pair, which no database stores: it was a 500.
    for body in (rb'{"region": "\ud800"}', rb'{"region": "a\udc00b"}', rb'{"\ud800": 1}'):
        admin.patch("/api/v1/sites/eu1", raw=body).problem(400, "body")
    # A charset gslb cannot decode with was a 500; JSON is UTF-8 whatever the header says.
    reply = admin.patch("/api/v1/sites/eu1", {"region": "eu"}, content_type="application/json; charset=foo")
    assert reply.status == 200, reply.body
    # aiohttp's own 404 and 405 carried a Content-Type that clashed with the problem document's: 500s.
    admin.get("/api/v1/nothing").problem(404, None)
    refused = admin.request("DELETE", "/api/v1/zones")
    refused.problem(405, None)
    assert refused.headers["Allow"] == "GET"
    assert admin.request("HEAD", "/api/v1/changes").status == 405  # like every GET of the API
    # A null name is one left out, as every null of a request (the URL names the object); the
    # contract said a string, so a PUT that sent null was "schema-violating and accepted".
    nulls = {"vips": None, "name": None, "description": None, "lvs_mode": None}
    reply = admin.put("/api/v1/sites/nulls", nulls)
    assert reply.status == 201, reply.body
    assert reply.json()["name"] == "nulls"
    admin.post("/api/v1/sites", nulls).problem(422, "name")  # a new object's name is required
    # Digits int() cannot read ("²") passed the reader's isdigit() and were a 500.
    for expect in ("²xx", "200-³00"):
        reply = admin.post("/api/v1/checks", {"name": "odd", "type": "http", "expect": [expect]})
        assert reply.problem(422, "expect[0]")
