"""The health process's pipe protocol: one JSON object per line, both ways.

Parent to child (the child's stdin), each request with an ``id`` the reply repeats::

    {"id": 1, "op": "report", "pool": null}        every watched pool (or the one named)
    {"id": 2, "op": "push", "pool": "www", "address": "192.0.2.10", "ok": false, "reason": "..."}

Child to parent (its stdout)::

    {"down": [["www", "192.0.2.10"]]}              unprompted, whenever the down set changes
    {"id": 1, "report": {...}}                     HealthReport.document()
    {"id": 2, "member": {...}}                     MemberStatus.document(), after the result
    {"id": 2, "error": {"kind": "conflict", "field": "check", "detail": "..."}}

End of file on the child's stdin stops it. Lines, not a framing of our own, because both ends
already have line readers, and JSON because the values are small and an operator can read a
captured exchange.
"""

from __future__ import annotations

import json
from typing import Any

from gslb.errors import HealthError, HealthRefusedError

MAX_LINE = 256 * 1024 * 1024
"""The longest line either end reads: a report of every checked member of a large node (100,000
members at ~420 bytes) fits; asyncio's default of 64 KiB would not hold 2,000 down members."""

REPORT = "report"
PUSH = "push"


def encode(message: dict[str, Any]) -> bytes:
    return json.dumps(message, separators=(",", ":")).encode() + b"\n"


def decode(line: bytes) -> dict[str, Any]:
    """The object on one line; ValueError if it is not one."""
    message = json.loads(line)
    if not isinstance(message, dict):
        raise ValueError(f"expected a JSON object, got {type(message).__name__}")
    return message


def error_reply(request_id: Any, exc: Exception) -> dict[str, Any]:
    """The reply to a request that failed: a refusal with its field, or an internal error."""
    error: dict[str, str | None]
    if isinstance(exc, HealthRefusedError):
        error = {"kind": exc.kind, "field": exc.field, "detail": exc.detail}
    else:
        error = {"kind": "internal", "field": None, "detail": f"{type(exc).__name__}: {exc}"}
    return {"id": request_id, "error": error}


def error_of(document: dict[str, Any]) -> HealthError:
    """The parent's exception for an ``error`` reply."""
    kind, detail = str(document.get("kind")), str(document.get("detail"))
    if kind in ("not-found", "conflict"):
        return HealthRefusedError(kind, str(document.get("field")), detail)
    return HealthError(f"the health monitor failed: {detail}")
