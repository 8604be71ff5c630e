"""Who may do what on the admin API's resources: no token or a wrong one is 401, a read token may
read everything and write nothing (403, the store untouched), an admin token may do both.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.apiclient import ApiClient
from tests.integration.conftest import ApiTokens
from tests.integration.server import GslbProcess

V1 = "/api/v1"
READS = [
    f"{V1}/sites",
    f"{V1}/sites/eu1",
    f"{V1}/checks",
    f"{V1}/checks/web",
    f"{V1}/pools",
    f"{V1}/pools/www",
    f"{V1}/pools/www/members",
    f"{V1}/pools/www/members/192.0.2.10",
    f"{V1}/changes",
    f"{V1}/zones",
]
# Every write method of every resource, each with a body an admin may send.
WRITES: list[tuple[str, str, Any]] = [
    ("POST", f"{V1}/sites", {"name": "new1"}),
    ("PUT", f"{V1}/sites/new1", {}),
    ("PATCH", f"{V1}/sites/eu1", {"region": "x"}),
    ("DELETE", f"{V1}/sites/new1", None),
    ("POST", f"{V1}/checks", {"name": "tcp", "type": "tcp", "port": 80}),
    ("PUT", f"{V1}/checks/tcp", {"type": "tcp", "port": 81}),
    ("PATCH", f"{V1}/checks/web", {"path": "/health"}),
    ("DELETE", f"{V1}/checks/tcp", None),
    ("POST", f"{V1}/pools", {"name": "new", "names": ["new.gslb.example.test"]}),
    ("PUT", f"{V1}/pools/new", {"names": ["new.gslb.example.test"], "ttl": 5}),
    ("PATCH", f"{V1}/pools/www", {"ttl": 5}),
    ("DELETE", f"{V1}/pools/new", None),
    ("POST", f"{V1}/pools/www/members", {"site": "eu1", "address": "192.0.2.77"}),
    ("PUT", f"{V1}/pools/www/members/192.0.2.77", {"site": "us1"}),
    ("PATCH", f"{V1}/pools/www/members/192.0.2.10", {"state": "drained"}),
    ("DELETE", f"{V1}/pools/www/members/192.0.2.77", None),
]


@pytest.fixture
def clients(api_server: GslbProcess, api_tokens: ApiTokens) -> dict[str, ApiClient]:
    url = api_server.api_url
    return {
        "admin": ApiClient(url, api_tokens.admin),
        "read": ApiClient(url, api_tokens.read),
        "none": ApiClient(url),
        "wrong": ApiClient(url, "gslb_not-a-configured-token"),
        "hash": ApiClient(url, api_tokens.environ()["GSLB_API_TOKENS"].split(",")[0].split(":", 2)[2]),
    }


def request(client: ApiClient, method: str, path: str, body: Any) -> Any:
    return client.request(method, path, body) if body is not None else client.request(method, path)


def test_without_a_valid_token_everything_is_401(clients: dict[str, ApiClient]) -> None:
    before = clients["admin"].state()
    for who in ("none", "wrong", "hash"):  # "hash": the configured hash is not the token
        for path in READS:
            reply = clients[who].get(path)
            reply.problem(401, "Authorization")
            assert reply.headers["WWW-Authenticate"] == 'Bearer realm="gslb"'
        for method, path, body in WRITES:
            request(clients[who], method, path, body).problem(401, "Authorization")
    assert clients["admin"].state() == before


def test_a_read_token_reads_everything_and_writes_nothing(clients: dict[str, ApiClient]) -> None:
    reader = clients["read"]
    for path in READS:
        assert reader.get(path).status == 200, path
    before = clients["admin"].state()
    for method, path, body in WRITES:
        problem = request(reader, method, path, body).problem(403, "Authorization")
        assert "reader" in problem["detail"] and "admin" in problem["detail"]
    assert clients["admin"].state() == before


def test_an_admin_token_reads_and_writes_everything(clients: dict[str, ApiClient]) -> None:
    admin = clients["admin"]
    for path in READS:
        assert admin.get(path).status == 200, path
    for method, path, body in WRITES:
        reply = request(admin, method, path, body)
        assert reply.status in (200, 201, 204), (method, path, reply.body)
    actors = {c["actor"] for c in admin.get(f"{V1}/changes?limit=1000").json()["changes"]}
    assert actors == {"gslb serve (first start)", "api:admin"}
