"""Health through the admin API of a real ``gslb serve``: checked members seen dying, passive results
pushed in, every refusal a problem document, and each change seen in DNS answers too.

The server serves tests/integration/checked_pools.py's pools: ``checked`` probes two loopback TCP
targets this module starts and kills, ``fed`` takes pushed results, ``plain`` has no check.
"""

from __future__ import annotations

import json
import os
import signal
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dns.rcode
import pytest

from gslb.health.status import parse_time
from harness.process import child_processes
from tests.integration.checked_pools import CHECKED, FED, PLAIN, TcpTarget, checked_zones
from tests.integration.conftest import ApiTokens
from tests.integration.dnsclient import ask
from tests.integration.server import GslbProcess, free_port

PROBLEM = "application/problem+json"


class Api:
    """The server's API with one token (None: none)."""

    def __init__(self, server: GslbProcess, token: str | None) -> None:
        self.server = server
        self.token = token

    def call(
        self, method: str, path: str, body: Any = None, *, raw: bytes | None = None, content_type: str = ""
    ) -> tuple[int, dict[str, str], Any]:
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        request = urllib.request.Request(self.server.api_url + path, data=data, method=method)
        if self.token is not None:
            request.add_header("Authorization", f"Bearer {self.token}")
        if data is not None:
            request.add_header("Content-Type", content_type or "application/json")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, dict(response.headers), json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), json.loads(error.read())

    def get(self, path: str) -> Any:
        status, _, document = self.call("GET", path)
        assert status == 200, document
        return document

    def push(self, pool: str, address: str, ok: bool, reason: str) -> Any:
        status, _, document = self.call(
            "POST", f"/api/v1/pools/{pool}/members/{address}/health", {"ok": ok, "reason": reason}
        )
        assert status == 200, document
        return document


@pytest.fixture(scope="module")
def port() -> int:
    return free_port(CHECKED[0])


@pytest.fixture(scope="module")
def targets(port: int) -> Iterator[dict[str, TcpTarget]]:
    started = {address: TcpTarget(address, port) for address in CHECKED}
    for target in started.values():
        target.start()
    yield started
    for target in started.values():
        target.stop()


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, port: int, targets: dict[str, TcpTarget], api_tokens: ApiTokens
) -> Iterator[GslbProcess]:
    zones = checked_zones(tmp_path_factory.mktemp("api-health"), port)
    with GslbProcess(zones, environ=api_tokens.environ()) as running:
        yield running


@pytest.fixture(scope="module")
def admin(server: GslbProcess, api_tokens: ApiTokens) -> Api:
    return Api(server, api_tokens.admin)


@pytest.fixture(scope="module")
def reader(server: GslbProcess, api_tokens: ApiTokens) -> Api:
    return Api(server, api_tokens.read)


def eventually(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


def answered(server: GslbProcess, pool: str) -> set[str]:
    response = ask(server.host, server.port, f"{pool}.gslb.example.test.", "A")
    assert response.rcode() == dns.rcode.NOERROR
    return {rdata.to_text() for rrset in response.answer for rdata in rrset}


def member(document: dict[str, Any], address: str) -> dict[str, Any]:
    return next(m for m in document["members"] if m["address"] == address)


def is_problem(status: int, headers: dict[str, str], document: dict[str, Any], field: str | None) -> bool:
    return (
        headers["Content-Type"].startswith(PROBLEM)
        and document["status"] == status
        and {"type", "title", "detail"} <= document.keys()
        and document.get("field") == field
    )


# --- a checked pool -----------------------------------------------------------------------------------


def test_a_dead_target_shows_its_state_reason_and_time_then_leaves_dns(
    server: GslbProcess, admin: Api, targets: dict[str, TcpTarget]
) -> None:
    live, dying = CHECKED
    eventually(lambda: all(m["state"] == "up" for m in admin.get("/api/v1/pools/checked/health")["members"]))
    assert answered(server, "checked") == {live, dying}

    killed = datetime.now(UTC)
    targets[dying].stop()
    try:
        path = f"/api/v1/pools/checked/members/{dying}/health"
        eventually(lambda: admin.get(path)["state"] == "down")
        status = admin.get(path)
        assert (status["reason"], status["effective_up"], status["in_answers"]) == (
            "connect refused",
            False,
            False,
        )
        assert killed <= parse_time(status["changed_at"]) <= datetime.now(UTC)
        assert status["changed_at"].endswith("Z") and status["failures"] >= 1  # a refusal: down at once
        assert (status["check"], status["check_type"], status["override"]) == ("tcp", "tcp", None)
        assert status["last"]["ok"] is False and status["last"]["latency_ms"] < 100

        pool = admin.get("/api/v1/pools/checked/health")
        assert pool["check"] == {"name": "tcp", "type": "tcp"}
        assert pool["summary"] == {
            "members": 2,
            "in_answers": 1,
            "all_down": False,
            "all_down_behaviour": "nodata",
            "fallback": None,
        }
        assert member(pool, live)["state"] == "up" and member(pool, live)["last"]["reason"] == "connected"
        eventually(lambda: answered(server, "checked") == {live})
    finally:
        targets[dying].start()
    eventually(lambda: answered(server, "checked") == {live, dying})  # rise 1: back at the next check
    assert admin.get(f"/api/v1/pools/checked/members/{dying}/health")["reason"] == "connected"


def test_a_pool_without_a_check_shows_its_members_unchecked(reader: Api) -> None:
    pool = reader.get("/api/v1/pools/plain/health")  # a read token may read
    assert pool["check"] is None and pool["summary"]["in_answers"] == 1
    (only,) = pool["members"]
    assert (only["address"], only["state"], only["effective_up"], only["in_answers"]) == (
        PLAIN,
        "unchecked",
        True,
        True,
    )


def ttls(server: GslbProcess, pool: str) -> set[int]:
    response = ask(server.host, server.port, f"{pool}.gslb.example.test.", "A")
    return {rrset.ttl for rrset in response.answer}


def test_a_drain_keeps_the_member_answered_at_the_floor_until_caches_clear_then_withdraws_it(
    server: GslbProcess, admin: Api
) -> None:
    """``checked`` (interval 0.2 s, fall 2) promises nothing beyond the 1 s floor: its answers carry
    1 s, so a drain serves the member 1 s more, and caches clear 1 s after that (and a resolver's
    second of rounding)."""
    draining, other = CHECKED
    path = f"/api/v1/pools/checked/members/{draining}"
    eventually(lambda: answered(server, "checked") == {draining, other})
    eventually(lambda: ttls(server, "checked") == {1})
    started = datetime.now(UTC)
    status, headers, document = admin.call("PATCH", path, {"state": "drained"})
    try:
        assert (status, document["state"]) == (200, "drained")
        clear = parse_time(headers["Caches-Clear-At"])
        assert 2.5 <= (clear - started).total_seconds() <= 3.5, (started, clear)  # 1 s + 1 s + 1 s slack
        health = admin.get(f"{path}/health")
        if datetime.now(UTC) < clear - timedelta(seconds=2.2):  # still before the deadline
            assert (health["drain"], health["in_answers"]) == ("draining", True)
            assert draining in answered(server, "checked")
        assert parse_time(health["caches_clear_at"]) == clear
        assert admin.call("GET", path)[1]["Caches-Clear-At"] == headers["Caches-Clear-At"]  # stays put
        eventually(lambda: answered(server, "checked") == {other}, timeout=3.0)
        assert datetime.now(UTC) >= clear - timedelta(seconds=2.05)  # not withdrawn before the deadline
        health = admin.get(f"{path}/health")
        assert (health["drain"], health["in_answers"], health["admin_state"]) == ("drained", False, "drained")
    finally:
        status, headers, document = admin.call("PATCH", path, {"state": "enabled"})
    assert status == 200 and "Caches-Clear-At" not in headers
    eventually(lambda: answered(server, "checked") == {draining, other})
    assert admin.get(f"{path}/health")["drain"] is None


# --- a passive check ----------------------------------------------------------------------------------


def test_pushed_results_go_through_rise_and_fall_and_change_the_answers(
    server: GslbProcess, admin: Api
) -> None:
    fed, other = FED
    assert answered(server, "fed") == {fed, other}
    first = admin.push("fed", fed, False, "overloaded")
    assert (first["state"], first["failures"], first["in_answers"]) == ("unknown", 1, True)  # fall 2
    time.sleep(0.2)
    assert answered(server, "fed") == {fed, other}

    second = admin.push("fed", fed, False, "overloaded")
    assert (second["state"], second["reason"], second["in_answers"]) == ("down", "overloaded", False)
    assert second["last"] == {
        "ok": False,
        "reason": "overloaded",
        "latency_ms": None,
        "at": second["last"]["at"],
    }
    eventually(lambda: answered(server, "fed") == {other}, timeout=1.0)

    assert admin.push("fed", fed, True, "recovered")["state"] == "down"  # rise 2
    time.sleep(0.2)
    assert answered(server, "fed") == {other}
    assert admin.push("fed", fed, True, "recovered")["state"] == "up"
    eventually(lambda: answered(server, "fed") == {fed, other}, timeout=1.0)
    summary = admin.get("/api/v1/pools/fed/health")["summary"]
    assert (summary["in_answers"], summary["all_down"]) == (2, False)


@pytest.mark.parametrize(
    ("pool", "address", "status", "field"),
    [
        ("checked", CHECKED[0], 409, "check"),  # probed: pushing would race the probes
        ("plain", PLAIN, 409, "check"),  # no check at all
        ("nope", FED[0], 404, "pool"),
        ("fed", "192.0.2.99", 404, "address"),
    ],
)
def test_a_push_is_refused_for_members_it_cannot_feed(
    admin: Api, pool: str, address: str, status: int, field: str
) -> None:
    got, headers, document = admin.call(
        "POST", f"/api/v1/pools/{pool}/members/{address}/health", {"ok": False, "reason": "x"}
    )
    assert got == status and is_problem(status, headers, document, field), document


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({}, ["ok"]),
        ({"ok": "yes"}, ["ok"]),
        ({"ok": 0, "reason": 5}, ["ok", "reason"]),
        ({"ok": True, "reason": "x" * 201}, ["reason"]),
        ({"ok": True, "reason": "two\nlines"}, ["reason"]),
        ({"ok": True, "why": "x"}, ["why"]),
    ],
)
def test_a_bad_push_body_is_422_naming_each_field(
    admin: Api, body: dict[str, Any], fields: list[str]
) -> None:
    got, headers, document = admin.call("POST", f"/api/v1/pools/fed/members/{FED[1]}/health", body)
    assert got == 422 and is_problem(422, headers, document, fields[0]), document
    assert [e["field"] for e in document["errors"]] == fields
    assert admin.get(f"/api/v1/pools/fed/members/{FED[1]}/health")["failures"] == 0  # nothing pushed


def test_malformed_and_mistyped_bodies_are_refused(admin: Api) -> None:
    path = f"/api/v1/pools/fed/members/{FED[1]}/health"
    got, headers, document = admin.call("POST", path, raw=b'{"ok": tru')
    assert got == 400 and is_problem(400, headers, document, "body")
    got, headers, document = admin.call("POST", path, raw=b"ok=true", content_type="text/plain")
    assert got == 415 and is_problem(415, headers, document, "Content-Type")


def test_reading_needs_a_token_and_pushing_an_admin_one(server: GslbProcess, reader: Api) -> None:
    path = f"/api/v1/pools/fed/members/{FED[1]}/health"
    got, headers, document = reader.call("POST", path, {"ok": False, "reason": "x"})
    assert got == 403 and is_problem(403, headers, document, "Authorization")
    got, headers, document = Api(server, None).call("GET", path)
    assert got == 401 and is_problem(401, headers, document, "Authorization")
    assert reader.get(path)["state"] == "unknown"


def test_unknown_pools_and_members_are_404(reader: Api) -> None:
    got, headers, document = reader.call("GET", "/api/v1/pools/nope/health")
    assert got == 404 and is_problem(404, headers, document, "pool")
    got, headers, document = reader.call("GET", "/api/v1/pools/fed/members/192.0.2.99/health")
    assert got == 404 and is_problem(404, headers, document, "address")


def test_503_while_the_health_process_restarts(server: GslbProcess, reader: Api) -> None:
    """Last: the restarted health process starts every member from ``unknown`` again."""
    (health,) = [pid for pid in child_processes(server.pid) if b"gslb.health.process" in _cmdline(pid)]
    os.kill(health, signal.SIGKILL)
    got, headers, document = reader.call("GET", "/api/v1/pools/fed/health")
    assert got == 503 and is_problem(503, headers, document, None), document
    assert headers["Retry-After"] == "1"
    eventually(lambda: reader.call("GET", "/api/v1/pools/fed/health")[0] == 200)
    assert "health monitor died; restarting it" in server.log


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""
