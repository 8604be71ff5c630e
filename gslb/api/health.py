"""Health through the API: what the node's health monitor says of a pool and its members, and
passive results pushed in.

``GET /api/v1/pools/{name}/health`` shows every member (state, effective verdict, last transition
and result, whether DNS hands it out now) and a summary; ``GET .../members/{address}/health`` one
member; ``POST .../members/{address}/health`` with ``{"ok": false, "reason": "..."}`` feeds a
member whose pool's check is ``type = "passive"``: the result goes through rise/fall like a
probe's, and a transition reaches DNS answers through the snapshot, as a probe's does.

Everything is asked of the health process (gslb/health/process.py), which catches up with the
store before it answers, so a pool created a moment ago is known. Health is live state, not a
stored object: no ETag, and ``Cache-Control: no-store``.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from aiohttp import web

from gslb.api.context import context
from gslb.api.problems import FieldProblem, Problem, invalid
from gslb.api.request import json_body, json_response
from gslb.errors import HealthError, HealthRefusedError, HealthUnavailableError
from gslb.health.process import HealthProcess

MAX_REASON = 200
"""Characters of a pushed reason: it is shown in logs and the API, one line, like a probe's."""
NO_STORE = {"Cache-Control": "no-store"}


async def pool_health(request: web.Request) -> web.Response:
    """Every member of the pool, and how many DNS hands out now."""
    name = request.match_info["name"]
    try:
        report = await _monitor(request).report(name)
    except HealthError as exc:
        raise _problem(exc) from exc
    found = report.pool(name)
    if found is None:  # the monitor answered for another pool: a bug, not the client's
        raise Problem(500, "internal-error", "Internal error", f"the health report lacks pool {name!r}")
    return json_response({"revision": report.revision, **found.document()}, headers=NO_STORE)


async def member_health(request: web.Request) -> web.Response:
    name, address = request.match_info["name"], _address(request.match_info["address"])
    try:
        report = await _monitor(request).report(name)
    except HealthError as exc:
        raise _problem(exc) from exc
    found = report.pool(name)
    member = found.member(address) if found is not None else None
    if member is None:
        raise Problem(
            404, "not-found", "Not found", f"pool {name!r} has no member {address!r}", field="address"
        )
    return json_response(member.document(), headers=NO_STORE)


async def push_result(request: web.Request) -> web.Response:
    """A passive check's result: 200 with the member's status after it."""
    name, address = request.match_info["name"], _address(request.match_info["address"])
    ok, reason = _result(await json_body(request))
    try:
        status = await _monitor(request).push(name, address, ok, reason)
    except HealthError as exc:
        raise _problem(exc) from exc
    return json_response(status.document(), headers=NO_STORE)


def _monitor(request: web.Request) -> HealthProcess:
    health = context(request).health
    if health is None:
        raise _problem(HealthUnavailableError("this server runs no health monitor"))
    return health


def _result(body: dict[str, Any]) -> tuple[bool, str]:
    """``ok`` and ``reason`` from a push's body; every problem with it at once (422)."""
    problems = [
        FieldProblem(key, "unknown field (known: ok, reason)") for key in body if key not in ("ok", "reason")
    ]
    ok = body.get("ok")
    if not isinstance(ok, bool):
        detail = "required" if "ok" not in body else f"must be true or false, got {ok!r}"
        problems.append(FieldProblem("ok", detail))
    reason = body.get("reason", "pushed")
    if not isinstance(reason, str):
        problems.append(FieldProblem("reason", f"must be a string, got {type(reason).__name__}"))
    elif not 0 < len(reason) <= MAX_REASON or not reason.isprintable():
        problems.append(FieldProblem("reason", f"must be 1-{MAX_REASON} printable characters on one line"))
    if problems:
        raise invalid(problems)
    assert isinstance(ok, bool) and isinstance(reason, str)
    return ok, reason


def _address(text: str) -> str:
    """A member address as the store keeps it: an IP address in canonical form (so
    ``2001:DB8::0010`` finds ``2001:db8::10``), or a host name lower-cased and absolute."""
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        name = text.lower()
        return name if name.endswith(".") else name + "."


def _problem(exc: HealthError) -> Problem:
    if isinstance(exc, HealthRefusedError):
        if exc.kind == "not-found":
            return Problem(404, "not-found", "Not found", exc.detail, field=exc.field)
        return Problem(409, "conflict", "Conflict", exc.detail, field=exc.field)
    if isinstance(exc, HealthUnavailableError):
        return Problem(
            503, "health-unavailable", "Health monitor unavailable", str(exc), headers={"Retry-After": "1"}
        )
    return Problem(500, "internal-error", "Internal error", str(exc))
