"""``[checks.NAME]`` and the ``check = { ... }`` overrides of pools and members.

A field of another check type is refused rather than ignored, so that a check does exactly what its
declaration reads like. Whether an override fits the check it changes is known only once every
file is read: overrides are noted in ``References`` and judged there.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gslb.declare import fields
from gslb.declare.problems import Problems
from gslb.declare.references import References
from gslb.model import (
    DEFAULT_EXPECT,
    DEFAULT_FALL,
    DEFAULT_INTERVAL,
    DEFAULT_JITTER,
    DEFAULT_RISE,
    DEFAULT_TIMEOUT,
    Check,
    CheckOverrides,
    CheckType,
)

# Check fields by the check types they mean something for.
TIMING_KEYS = {"interval", "timeout", "jitter"}
CHECK_KEYS: dict[CheckType, set[str]] = {
    CheckType.TCP: {"port", "rise", "fall", *TIMING_KEYS},
    CheckType.HTTP: {"port", "method", "path", "host", "expect", "body", "rise", "fall", *TIMING_KEYS},
    CheckType.HTTPS: {
        "port", "method", "path", "host", "expect", "body", "sni", "verify_tls", "rise", "fall", *TIMING_KEYS,
    },
    # Pushed results go through the same rise/fall state machine as probed ones.
    CheckType.PASSIVE: {"rise", "fall"},
}  # fmt: skip
ALL_CHECK_KEYS = {"type"}.union(*CHECK_KEYS.values())
OVERRIDE_KEYS = {"port", "interval", "timeout", "rise", "fall"}
MIN_INTERVAL, MAX_INTERVAL = 0.1, 3600.0


def read_check(problems: Problems, name: str, body: dict[str, Any], earlier: Path | None) -> Check | None:
    """One check's table; None if it cannot be one (no or a bad type, or declared ``earlier``)."""
    where = f"checks.{name}"
    if earlier is not None:
        problems.add(where, f"also declared in {earlier}")
        return None
    if "type" not in body:
        problems.add(f"{where}.type", f"required: one of {', '.join(t.value for t in CheckType)}")
        return None
    check_type = fields.enum(problems, CheckType, body["type"], f"{where}.type")
    if check_type is None:
        return None
    allowed = CHECK_KEYS[check_type]
    for key in sorted(set(body) - allowed - {"type"}):
        if key in ALL_CHECK_KEYS:
            users = ", ".join(t.value for t in CheckType if key in CHECK_KEYS[t])
            problems.add(f"{where}.{key}", f"not for a {check_type.value} check (only {users})")
        else:
            problems.add(f"{where}.{key}", f"unknown field (known: {', '.join(sorted(ALL_CHECK_KEYS))})")
    body = {k: v for k, v in body.items() if k in allowed}
    port = body.get("port")
    if port is not None and not fields.integer(problems, port, 1, 65535, f"{where}.port"):
        port = None
    if check_type is CheckType.TCP and "port" not in body:
        problems.add(f"{where}.port", "required for a tcp check")
    method = body.get("method", "GET")
    if not isinstance(method, str) or not (method.isascii() and method.isalpha() and method.isupper()):
        problems.add(f"{where}.method", f"must be an HTTP method in capitals, like GET, got {method!r}")
        method = "GET"
    path = fields.text(problems, body, "path", where) or "/"
    if not path.startswith("/") or any(c.isspace() for c in path):
        problems.add(f"{where}.path", f"must start with '/' and contain no spaces, got {path!r}")
    check = Check(
        name,
        check_type,
        port=port,
        method=method,
        path=path,
        host=fields.text(problems, body, "host", where),
        expect=_expect(problems, body.get("expect"), f"{where}.expect"),
        body=fields.text(problems, body, "body", where),
        sni=fields.text(problems, body, "sni", where),
        verify_tls=fields.boolean(problems, body, "verify_tls", where, default=True),
        interval=fields.number(
            problems, body, "interval", where, DEFAULT_INTERVAL, MIN_INTERVAL, MAX_INTERVAL
        ),
        timeout=fields.number(
            problems, body, "timeout", where, DEFAULT_TIMEOUT, 0.0, MAX_INTERVAL, low_open=True
        ),
        rise=fields.count(problems, body, "rise", where, DEFAULT_RISE),
        fall=fields.count(problems, body, "fall", where, DEFAULT_FALL),
        jitter=fields.number(problems, body, "jitter", where, DEFAULT_JITTER, 0.0, 1.0, high_open=True),
    )
    if check.timeout >= check.interval and {"interval", "timeout"} & set(body):
        problems.add(
            f"{where}.timeout",
            f"{check.timeout:g} s must be less than the interval, {check.interval:g} s",
        )
    return check


def read_overrides(
    problems: Problems, references: References, body: Mapping[str, Any], where: str, pool: str
) -> CheckOverrides:
    """A pool's or a member's ``check = { ... }``, noted in ``references`` to be judged later."""
    value = body.get("check")
    if value is None:
        return CheckOverrides()
    where = f"{where}.check"
    if not isinstance(value, dict):
        problems.add(where, f"must be a table of {', '.join(sorted(OVERRIDE_KEYS))}")
        return CheckOverrides()
    fields.unknown_keys(problems, value, OVERRIDE_KEYS, where)
    port = value.get("port")
    if port is not None and not fields.integer(problems, port, 1, 65535, f"{where}.port"):
        port = None
    given = {k for k in OVERRIDE_KEYS if k in value}

    def number(key: str, low: float, low_open: bool = False) -> float | None:
        if key not in given:
            return None
        result: float | None = fields.number(
            problems, value, key, where, None, low, MAX_INTERVAL, low_open=low_open
        )
        return result

    overrides = CheckOverrides(
        port=port,
        interval=number("interval", MIN_INTERVAL),
        timeout=number("timeout", 0.0, low_open=True),
        rise=fields.count(problems, value, "rise", where, None) if "rise" in given else None,
        fall=fields.count(problems, value, "fall", where, None) if "fall" in given else None,
    )
    references.overrides.append((problems.path, where, pool, overrides))
    return overrides


def _expect(problems: Problems, value: Any, where: str) -> tuple[tuple[int, int], ...]:
    """``[200, "2xx", "200-299"]``: a status, a class of statuses, an inclusive range."""
    if value is None:
        return DEFAULT_EXPECT
    if not isinstance(value, list) or not value:
        problems.add(where, 'must be a non-empty list of statuses: 200, "2xx" or "200-299"')
        return DEFAULT_EXPECT
    ranges = []
    for index, item in enumerate(value):
        found = status_range(item)
        if found is None:
            problems.add(f"{where}[{index}]", f'{item!r} is not a status 100-599, "2xx" or a range "200-299"')
        else:
            ranges.append(found)
    return tuple(ranges) or DEFAULT_EXPECT


def status_range(item: Any) -> tuple[int, int] | None:
    """One ``expect`` entry as an inclusive range of HTTP statuses; None if it is not one."""
    if isinstance(item, int) and not isinstance(item, bool):
        low = high = item
    elif isinstance(item, str) and len(item) == 3 and _ascii_digits(item[0]) and item[1:].lower() == "xx":
        low, high = int(item[0]) * 100, int(item[0]) * 100 + 99
    elif isinstance(item, str) and item.count("-") == 1:
        first, _, last = (part.strip() for part in item.partition("-"))
        if not (_ascii_digits(first) and _ascii_digits(last)):
            return None
        low, high = int(first), int(last)
    else:
        return None
    return (low, high) if 100 <= low <= high <= 599 else None


def _ascii_digits(text: str) -> bool:
    """0-9 only: ``str.isdigit`` also takes digits ``int`` cannot read, like superscript two."""
    return text.isascii() and text.isdigit()
