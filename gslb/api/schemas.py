"""JSON Schemas (2020-12) of the API's documents, built from the constants its readers validate with.

The OpenAPI document (gslb/api/openapi.py) is only worth having if it stays true. So ranges,
enums, lengths and the fields each check type takes are imported from gslb/declare/reader.py,
gslb/model.py and the store's limits, and a rule changed there changes the contract with it; the
syntax the readers check in code (object names, check paths, statuses, entity tags) is written
here as patterns, each held to its reader by tests/unit/api/test_openapi.py. What JSON Schema
cannot say (a pool's names must lie inside a served zone, a member's site must exist, a check's
timeout must stay below its interval) is the server's to refuse with 422.

Request bodies follow the readers: a null field is one left out, an unknown field is refused.
Representations are the same objects with every field present.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Any

from gslb.api.changes import MAX_LIMIT
from gslb.api.health import MAX_REASON
from gslb.declare import reader as declare
from gslb.health.status import HealthState
from gslb.model import (
    MAX_WEIGHT,
    OVERRIDABLE,
    AdminState,
    AllDown,
    CheckType,
    HealthOverride,
    LvsMode,
    Policy,
    PoolKind,
)
from gslb.snapshot import ttl
from gslb.store.tables import (
    ADDRESS_LENGTH,
    METHOD_LENGTH,
    OBJECT_NAME_LENGTH,
    OWNER_NAME_LENGTH,
    TEXT_LENGTH,
    Action,
    ObjectType,
)

Schema = dict[str, Any]


def _whitespace() -> str:
    """Every character ``str.isspace`` and ``str.strip`` take for white space, as a regex class body.

    ECMA-262's ``\\s`` is not Python's (it lacks U+001C-U+001F and U+0085), so patterns that must
    agree with the readers spell the characters out.
    """
    # All of them lie in the Basic Multilingual Plane (a unit test checks the rest): \uXXXX suffices.
    return "".join(f"\\u{code:04x}" for code in range(0x10000) if chr(code).isspace())


SPACE = _whitespace()
# declare.valid_object_name: lower-case ASCII letters, digits, '-' and '_' (the patterns written
# out here are held to the readers by tests/unit/api/test_openapi.py).
OBJECT_NAME_PATTERN = f"^[a-z0-9_-]{{1,{OBJECT_NAME_LENGTH}}}$"
NO_NUL_PATTERN = "^[^\\x00]*$"  # the readers refuse NUL anywhere: PostgreSQL cannot hold it
# declare's check path: starts with '/', no white space.
CHECK_PATH_PATTERN = f"^/[^\\x00{SPACE}]*$"
# declare's check method: ASCII capitals.
METHOD_PATTERN = f"^[A-Z]{{1,{METHOD_LENGTH}}}$"
# gslb/declare/checks.py status_range's text forms: "2xx", and "200-299" (white space around either number).
STATUS_CLASS_PATTERN = "^[1-5][xX]{2}$"
STATUS_RANGE_PATTERN = f"^[{SPACE}]*[0-9]+[{SPACE}]*-[{SPACE}]*[0-9]+[{SPACE}]*$"
# gslb/api/codec.py etag(): a strong tag, quoted.
ETAG_PATTERN = '^"[0-9a-f]{32}"$'
# What gslb/api/etags.py reads from If-Match and If-None-Match: '*', or a comma-separated list of
# entity tags (RFC 9110 section 8.8.3), a trailing comma allowed.
_TAG = '(W/)?"[\\x21\\x23-\\x7e\\x80-\\xff]*"'
_OWS = "[ \\t]*"  # RFC 9110 section 5.6.3 (the parser also skips other white space no client sends)
ENTITY_TAGS_PATTERN = f"^{_OWS}(\\*|{_TAG}{_OWS}(,{_OWS}{_TAG}{_OWS})*,?){_OWS}$"


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: Schema) -> Schema:
    """``schema`` or null: null is how a request leaves an optional field out."""
    return {"anyOf": [schema, {"type": "null"}]}


def integer(low: int, high: int) -> Schema:
    return {"type": "integer", "minimum": low, "maximum": high}


def number(low: float, high: float, *, low_open: bool = False, high_open: bool = False) -> Schema:
    schema: Schema = {"type": "number"}
    schema["exclusiveMinimum" if low_open else "minimum"] = low
    schema["exclusiveMaximum" if high_open else "maximum"] = high
    return schema


def enum(kind: type[StrEnum]) -> Schema:
    return {"type": "string", "enum": [member.value for member in kind]}


def text(max_length: int, min_length: int = 0, pattern: str = NO_NUL_PATTERN) -> Schema:
    return {"type": "string", "minLength": min_length, "maxLength": max_length, "pattern": pattern}


def strings(item: Schema, *, min_items: int = 0) -> Schema:
    return {"type": "array", "items": item, "minItems": min_items, "uniqueItems": True}


def closed(properties: Mapping[str, Schema], required: Iterable[str] = ()) -> Schema:
    """An object of exactly these properties (the readers refuse unknown fields)."""
    schema: Schema = {"type": "object", "properties": dict(properties), "additionalProperties": False}
    if needed := sorted(required):
        schema["required"] = needed
    return schema


def representation(request: Schema) -> Schema:
    """What a GET returns for objects ``request`` describes: the same fields, every one present."""
    return {**request, "required": sorted(request["properties"])}


OBJECT_NAME: Schema = {"type": "string", "pattern": OBJECT_NAME_PATTERN}
IP_ADDRESS: Schema = {"type": "string", "anyOf": [{"format": "ipv4"}, {"format": "ipv6"}]}
PORT = integer(1, 65535)
INTERVAL = number(declare.MIN_INTERVAL, declare.MAX_INTERVAL)
TIMEOUT = number(0, declare.MAX_INTERVAL, low_open=True)
RESULTS = integer(1, declare.MAX_RESULTS)

SITE_FIELDS: dict[str, Schema] = {
    "region": text(TEXT_LENGTH),
    "description": text(TEXT_LENGTH),
    "subnets": strings({"type": "string", "description": "a network: 198.51.100.0/25, 2001:db8::/48"}),
    "lvs_mode": enum(LvsMode),
    "vips": strings(IP_ADDRESS),
}

CHECK_FIELDS: dict[str, Schema] = {
    "port": PORT,
    "method": {"type": "string", "pattern": METHOD_PATTERN},
    "path": text(declare.MAX_TEXT, 1, CHECK_PATH_PATTERN),
    "host": text(declare.MAX_TEXT, 1),
    "expect": {
        "type": "array",
        "minItems": 1,
        "items": {
            "anyOf": [
                integer(100, 599),
                {"type": "string", "pattern": STATUS_CLASS_PATTERN},
                {"type": "string", "pattern": STATUS_RANGE_PATTERN},
            ]
        },
        "description": 'statuses that count as healthy: 200, "2xx" or "200-299" (within 100-599)',
    },
    "body": text(declare.MAX_TEXT, 1),
    "sni": text(declare.MAX_TEXT, 1),
    "verify_tls": {"type": "boolean"},
    "interval": INTERVAL,
    "timeout": TIMEOUT,
    "rise": RESULTS,
    "fall": RESULTS,
    "jitter": number(0, 1, high_open=True),
}

OVERRIDE_FIELDS: dict[str, Schema] = {name: CHECK_FIELDS[name] for name in OVERRIDABLE}
CHECK_OVERRIDES = closed({name: nullable(schema) for name, schema in OVERRIDE_FIELDS.items()})

MEMBER_FIELDS: dict[str, Schema] = {
    "site": OBJECT_NAME,
    "address": {
        "type": "string",
        "minLength": 1,
        "maxLength": ADDRESS_LENGTH,
        "description": "an IP address in an address pool, a host name in a cname pool",
        "examples": ["192.0.2.20", "2001:db8::20", "www.example.net."],
    },
    "weight": integer(0, MAX_WEIGHT),
    "priority": integer(0, declare.MAX_PRIORITY),
    "state": enum(AdminState),
    "override": enum(HealthOverride),
    "check": CHECK_OVERRIDES,
}

POOL_FIELDS: dict[str, Schema] = {
    "names": strings(
        {
            "type": "string",
            "minLength": 1,
            "maxLength": OWNER_NAME_LENGTH,
            "description": "a DNS name inside a served zone, without A, AAAA or CNAME records there",
            "examples": ["shop.gslb.example.test."],
        },
        min_items=1,
    ),
    "kind": enum(PoolKind),
    "policy": enum(Policy),
    "answer_count": integer(1, declare.MAX_ANSWER_COUNT),
    "ttl": integer(declare.MIN_TTL, declare.MAX_TTL),
    "all_down": enum(AllDown),
    "fallback": OBJECT_NAME,
    "health_check": OBJECT_NAME,
    "check": CHECK_OVERRIDES,
    "site_order": strings(OBJECT_NAME),
    "members": {"type": "array", "items": ref("PoolMember")},
}


def body(fields: Mapping[str, Schema], required: Iterable[str] = (), *, named: bool = True) -> Schema:
    """A request body of ``fields``, each nullable but the ``required`` ones. ``name`` too, when
    the URL has it: the reader takes a null name, like any null, for one left out."""
    needed = set(required)
    properties = {"name": OBJECT_NAME if "name" in needed else nullable(OBJECT_NAME)} if named else {}
    properties.update({k: v if k in needed else nullable(v) for k, v in fields.items()})
    return closed(properties, needed)


def check_body(check_type: CheckType, required: Iterable[str] = (), *, request: bool = True) -> Schema:
    """A check of one type: only the fields gslb/declare/reader.py lets that type have. In a request,
    another type's field may also come as null, which the reader takes for a field left out (as
    every null): a PATCH from https to http clears ``sni`` that way."""
    needed = {"type", *required} | ({"port"} if check_type is CheckType.TCP else set())
    fields = {"type": {"type": "string", "const": check_type.value}}
    fields.update({k: CHECK_FIELDS[k] for k in sorted(declare.CHECK_KEYS[check_type])})
    schema = body(fields, needed)
    if request:
        foreign = sorted(set(CHECK_FIELDS) - declare.CHECK_KEYS[check_type])
        schema["properties"].update({k: {"type": "null"} for k in foreign})
    return schema


def check_variants(required: Iterable[str] = ()) -> Schema:
    return {"oneOf": [check_body(t, required) for t in CheckType]}


def any_check_fields() -> Schema:
    """What a PATCH of a check may send: any check field, checked against the merged check."""
    return body({"type": enum(CheckType), **CHECK_FIELDS})


HEALTH_RESULT = closed(
    {
        "ok": {"type": "boolean"},
        "reason": {
            "type": "string",
            "minLength": 1,
            "maxLength": MAX_REASON,
            # One line of printable characters (str.isprintable): controls and line breaks are
            # refused here; the rarer unprintables (unassigned, format characters) by the server.
            "pattern": "^[^\\x00-\\x1f\\x7f-\\x9f\\u2028\\u2029]*$",
        },
    },
    required=["ok"],
)
DATE_TIME: Schema = {"type": "string", "format": "date-time"}
LAST_RESULT = representation(
    closed(
        {
            "ok": {"type": "boolean"},
            "reason": {"type": "string"},
            "latency_ms": nullable({"type": "number", "minimum": 0}),
            "at": DATE_TIME,
        }
    )
)
MEMBER_HEALTH = representation(
    closed(
        {
            "pool": OBJECT_NAME,
            "address": {"type": "string"},
            "site": OBJECT_NAME,
            "admin_state": enum(AdminState),
            "override": nullable(enum(HealthOverride)),
            "check": nullable(OBJECT_NAME),
            "check_type": nullable(enum(CheckType)),
            "state": enum(HealthState),
            "effective_up": {"type": "boolean"},
            "in_answers": {"type": "boolean"},
            "changed_at": nullable(DATE_TIME),
            "reason": {"type": "string"},
            "successes": {"type": "integer", "minimum": 0},
            "failures": {"type": "integer", "minimum": 0},
            "last": nullable(LAST_RESULT),
            # When resolvers have forgotten the answer from before the last change (gslb/snapshot/ttl.py).
            "caches_clear_at": nullable(DATE_TIME),
            "drain": nullable({"type": "string", "enum": [ttl.DRAINING, ttl.DRAINED]}),
        }
    )
)
POOL_HEALTH = representation(
    closed(
        {
            "revision": {"type": "integer", "minimum": 0},
            "pool": OBJECT_NAME,
            "check": nullable(representation(closed({"name": OBJECT_NAME, "type": enum(CheckType)}))),
            "summary": representation(
                closed(
                    {
                        "members": {"type": "integer", "minimum": 0},
                        "in_answers": {"type": "integer", "minimum": 0},
                        "all_down": {"type": "boolean"},
                        "all_down_behaviour": enum(AllDown),
                        "fallback": nullable(OBJECT_NAME),
                    }
                )
            ),
            "members": {"type": "array", "items": ref("MemberHealth")},
        }
    )
)

CHANGE = representation(
    closed(
        {
            "id": {"type": "integer", "minimum": 1},
            "revision": {"type": "integer", "minimum": 1},
            "at": DATE_TIME,
            "actor": {"type": "string"},
            "action": enum(Action),
            "object_type": enum(ObjectType),
            "object_name": {"type": "string"},
            "detail": {"type": "object", "description": "the fields changed, as the change log records them"},
        }
    )
)
CHANGES_PAGE = representation(
    closed(
        {
            "changes": {"type": "array", "items": CHANGE, "maxItems": MAX_LIMIT},
            "next": nullable({"type": "string", "description": "the next page's URL; null on the last page"}),
        }
    )
)
ZONES = representation(
    closed(
        {
            "zones": {
                "type": "array",
                "items": representation(
                    closed(
                        {
                            "origin": {"type": "string"},
                            "serial": integer(0, 2**32 - 1),
                            "file": {"type": "string"},
                        }
                    )
                ),
            },
            "revisions": {
                "type": "object",
                "additionalProperties": {"type": "integer", "minimum": 0},
                "description": "the snapshot revision each answering process serves: main, worker-0, ...",
            },
            "store_revision": {"type": "integer", "minimum": 0},
        }
    )
)
PROBLEM: Schema = {
    "type": "object",
    "description": "RFC 9457 problem details; `field` names the request's culprit",
    "properties": {
        "type": {"type": "string", "format": "uri"},
        "title": {"type": "string"},
        "status": integer(400, 599),
        "detail": {"type": "string"},
        "field": {"type": "string"},
        "errors": {
            "type": "array",
            "items": representation(closed({"field": {"type": "string"}, "detail": {"type": "string"}})),
        },
    },
    "required": ["type", "title", "status", "detail"],
}


READINESS = representation(
    closed(
        {
            "status": {"type": "string", "const": "ready"},
            "checks": {
                "type": "object",
                "description": "each condition (zones, listeners, store, snapshot) and what was found",
                "additionalProperties": representation(
                    closed({"ok": {"type": "boolean"}, "detail": {"type": "string"}})
                ),
            },
        }
    )
)


def component_schemas() -> dict[str, Schema]:
    """The named schemas of the OpenAPI document's ``components``: representations (what a GET
    returns), then request bodies by operation."""
    site, pool, member = SITE_FIELDS, POOL_FIELDS, MEMBER_FIELDS
    return {
        "Site": representation(body(site, ["name"])),
        "Check": {"oneOf": [representation(check_body(t, ["name"], request=False)) for t in CheckType]},
        "Pool": representation(body(pool, ["name"])),
        "PoolMember": body(member, ["site", "address"], named=False),
        "Member": representation(body(member, named=False)),
        "CheckOverrides": CHECK_OVERRIDES,
        "SiteCreate": body(site, ["name"]),
        "SiteUpdate": body(site),
        "CheckCreate": check_variants(["name"]),
        "CheckReplace": check_variants(),
        "CheckPatch": any_check_fields(),
        "PoolCreate": body(pool, ["name", "names"]),
        "PoolReplace": body(pool, ["names"]),
        "PoolPatch": body(pool),
        "MemberCreate": body(member, ["site", "address"], named=False),
        "MemberReplace": body(member, ["site"], named=False),
        "MemberPatch": body(member, named=False),
        "HealthResult": HEALTH_RESULT,
        "MemberHealth": MEMBER_HEALTH,
        "PoolHealth": POOL_HEALTH,
        "ChangesPage": CHANGES_PAGE,
        "Zones": ZONES,
        "Readiness": READINESS,
        "Problem": PROBLEM,
    }
