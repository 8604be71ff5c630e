"""Readers of one field kind each: integer, number, enum, string, list of strings, text, boolean.

Each notes what is wrong in ``problems`` under the field's path and returns a usable stand-in
(usually the default), so that reading goes on and every problem of every object is reported
together. The same readers serve the files and the admin API, so both refuse the same values.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, TypeVar

from gslb.declare.problems import Problems
from gslb.model import AdminState, AllDown, CheckType, HealthOverride, LvsMode, Policy, PoolKind

MAX_RESULTS = 100  # rise and fall
MAX_TEXT = 1000  # path, host, body, sni: what the store holds

E = TypeVar("E", Policy, AllDown, AdminState, LvsMode, PoolKind, CheckType, HealthOverride)


def valid_object_name(name: str) -> bool:
    """A site's, check's or pool's name: what a file's table key and an API URL may hold."""
    return (
        0 < len(name) <= 63
        and all(c.isascii() and (c.isalnum() or c in "-_") for c in name)
        and name == name.lower()
    )


def present(value: Any) -> Any:
    """``value`` without the JSON nulls in its tables: a null field is one left out."""
    if isinstance(value, Mapping):
        return {k: present(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [present(v) if isinstance(v, Mapping) else v for v in value]
    return value


def refuse_nul(problems: Problems, value: Any, where: str) -> None:
    """NUL characters, anywhere: PostgreSQL cannot store them, not even compare with them."""
    if isinstance(value, str) and "\x00" in value:
        problems.add(where, "must not contain NUL characters")
    elif isinstance(value, Mapping):
        for key, item in value.items():
            refuse_nul(problems, key, where or "(file)")
            refuse_nul(problems, item, f"{where}.{key}" if where else key)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            refuse_nul(problems, item, f"{where}[{index}]")


def unknown_keys(problems: Problems, body: Mapping[str, Any], allowed: set[str], where: str) -> None:
    for key in sorted(set(body) - allowed):
        problems.add(f"{where}.{key}", f"unknown field (known: {', '.join(sorted(allowed))})")


def stray_nulls(problems: Problems, body: Mapping[str, Any], allowed: set[str], where: str) -> None:
    """A null stands for a field left out, so it must name a field: ``present`` drops nulls
    before the readers see which fields there are."""
    unknown_keys(problems, {key: None for key, value in body.items() if value is None}, allowed, where)


def integer(problems: Problems, value: Any, low: int, high: int, where: str) -> bool:
    if isinstance(value, bool) or not isinstance(value, int):
        problems.add(where, f"must be an integer, got {value!r}")
        return False
    if not low <= value <= high:
        problems.add(where, f"{value} is outside {low}-{high}")
        return False
    return True


def enum(problems: Problems, kind: type[E], value: Any, where: str) -> E | None:
    try:
        return kind(value)
    except ValueError:
        problems.add(where, f"{value!r} is not one of {', '.join(e.value for e in kind)}")
        return None


def number(
    problems: Problems,
    body: Mapping[str, Any],
    key: str,
    where: str,
    default: Any,
    low: float,
    high: float,
    *,
    low_open: bool = False,
    high_open: bool = False,
) -> Any:
    """A float or an integer within [low, high] (open ends excluded); ``default`` if bad or absent."""
    value = body.get(key, default)
    if value is default:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        problems.add(f"{where}.{key}", f"must be a number, got {value!r}")
        return default
    too_low = value <= low if low_open else value < low
    too_high = value >= high if high_open else value > high
    if too_low or too_high:
        span = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
        problems.add(f"{where}.{key}", f"{value:g} is outside {span}")
        return default
    return float(value)


def count(problems: Problems, body: Mapping[str, Any], key: str, where: str, default: Any) -> Any:
    """Rise or fall: a number of results in a row."""
    value = body.get(key, default)
    if value is default:
        return default
    return value if integer(problems, value, 1, MAX_RESULTS, f"{where}.{key}") else default


def string(problems: Problems, body: Mapping[str, Any], key: str, where: str) -> str:
    value = body.get(key, "")
    if not isinstance(value, str):
        problems.add(f"{where}.{key}", "must be a string")
        return ""
    return value


def string_list(problems: Problems, body: Mapping[str, Any], key: str, where: str) -> list[str]:
    value = body.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        problems.add(f"{where}.{key}", "must be a list of strings")
        return []
    return value


def text(problems: Problems, body: Mapping[str, Any], key: str, where: str) -> str | None:
    """A non-empty string the store can hold, or None when absent."""
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        problems.add(f"{where}.{key}", "must be a non-empty string")
        return None
    if len(value) > MAX_TEXT:
        problems.add(f"{where}.{key}", f"longer than {MAX_TEXT} characters")
        return None
    return value


def boolean(problems: Problems, body: Mapping[str, Any], key: str, where: str, default: bool) -> bool:
    value = body.get(key, default)
    if not isinstance(value, bool):
        problems.add(f"{where}.{key}", f"must be true or false, got {value!r}")
        return default
    return value
