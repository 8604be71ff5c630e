"""The API's OpenAPI 3.1 contract, served at ``/api/v1/openapi.json``.

Operators generate clients from it and CI fuzzes the live API against it (schemathesis, with
schemathesis.toml), so it is built here from the readers' own constants (gslb/api/schemas.py)
rather than kept as a file that drifts. Its paths are gslb/api/routes.py's table, each route naming
its operation here; tests/unit/api/test_openapi.py fails when a route is added without its
operation here, or an operation outlives its route. Each operation lists every
status it can answer; errors are RFC 9457 problem documents.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from aiohttp import web

import gslb
from gslb.api import changes, schemas
from gslb.api.problems import PROBLEM_TYPE
from gslb.api.request import API_PREFIX, JSON_TYPE, MAX_BODY
from gslb.api.schemas import Schema, ref
from gslb.model import CheckType

OPENAPI_PATH = f"{API_PREFIX}/openapi.json"
OPENAPI_KEY = web.AppKey("openapi", bytes)

Operation = dict[str, Any]
Paths = dict[str, dict[str, Operation]]
Responses = dict[str, Any]

# The errors of authenticated operations: status → (response component, when).
ERRORS: dict[int, tuple[str, str]] = {
    400: (
        "BadRequest",
        "malformed JSON, a body that is not an object, a malformed If-Match or If-None-Match, or a "
        "query parameter out of range (`field` names it)",
    ),
    401: ("Unauthorized", "no valid bearer token"),
    403: ("Forbidden", "a read token on a write"),
    404: ("NotFound", "no such object"),
    409: ("Conflict", "the write contradicts what is stored"),
    412: (
        "PreconditionFailed",
        "If-Match or If-None-Match does not hold: the object changed since it was read (`field` names "
        "the header)",
    ),
    413: ("BodyTooLarge", f"the body is larger than {MAX_BODY} bytes"),
    415: ("UnsupportedMediaType", f"the body is not {JSON_TYPE}"),
    422: (
        "InvalidField",
        "the body parsed, but fields hold values gslb cannot take: each is in `errors`, the first in "
        "`field`; this includes what JSON Schema cannot judge (names outside the served zones, sites or "
        "checks that do not exist, a timeout not below its interval, a body `name` other than the URL's)",
    ),
    503: ("Unavailable", "the store or the health monitor does not answer now; retry"),
}
READ = (401, 503)
WRITE = (400, 401, 403, 413, 415, 422, 503)
ITEM_HEADERS = ("ETag", "Location")
NO_STORE = {"Cache-Control": {"schema": {"type": "string", "const": "no-store"}}}


@dataclass(frozen=True, slots=True)
class Kind:
    """A collection with the six operations of gslb/api/resources.py ``Handlers``."""

    collection: str  # sites, checks, pools: the URL segment
    noun: str  # site, check, pool
    schema: str  # the representation's component; its request bodies are <schema>Create etc.
    replace: str  # the component of PUT's body
    patch: str  # the component of PATCH's body
    example: dict[str, Any]
    in_use: str  # why DELETE may be refused with 409


KINDS = (
    Kind(
        "sites",
        "site",
        "Site",
        "SiteUpdate",
        "SiteUpdate",
        {"name": "fra1", "region": "eu-central", "lvs_mode": "dr", "vips": ["192.0.2.50"]},
        "a pool's member or site_order still names the site",
    ),
    Kind(
        "checks",
        "check",
        "Check",
        "CheckReplace",
        "CheckPatch",
        {"name": "tcp443", "type": "tcp", "port": 443},
        "a pool still uses the check",
    ),
    Kind(
        "pools",
        "pool",
        "Pool",
        "PoolReplace",
        "PoolPatch",
        {
            "name": "shop",
            "names": ["shop.gslb.example.test."],
            "policy": "weighted",
            "members": [{"site": "eu1", "address": "192.0.2.20", "weight": 100}],
        },
        "another pool falls back to it",
    ),
)


class Routed(Protocol):
    """A route as the document needs it: gslb/api/routes.py ``Route``, which imports this module."""

    @property
    def method(self) -> str: ...
    @property
    def path(self) -> str: ...
    @property
    def operation_id(self) -> str: ...


def operations() -> dict[str, Operation]:
    """Every operation the document describes, by its operationId."""
    parts = (
        *(operation for kind in KINDS for operation in kind_operations(kind)),
        *member_operations(),
        *health_operations(),
        *log_operations(),
        *open_operations(),
    )
    return {operation["operationId"]: operation for operation in parts}


def document(routes: Iterable[Routed]) -> dict[str, Any]:
    """The whole OpenAPI document: each route's operation, at the route's path and method."""
    known = operations()
    paths: Paths = {}
    for route in routes:
        if route.operation_id not in known:
            raise ValueError(f"{route.method} {route.path}: no operation {route.operation_id!r} here")
        paths.setdefault(route.path, {})[route.method.lower()] = known[route.operation_id]
    return {
        "openapi": "3.1.0",
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "info": {
            "title": "gslb admin API",
            "version": gslb.__version__,
            "description": "Sites, health checks, pools and their members; health, served zones and "
            "the change log. Objects are the declaration format of zones/*.toml with their `name`; in "
            "a request, a null field is one left out. Every object carries an ETag: send it back in "
            "If-Match, so that two operators cannot overwrite each other.",
        },
        "security": [{"bearer": []}],
        "tags": [
            {"name": name, "description": text}
            for name, text in (
                ("sites", "locations, each fronted by LVS VIPs"),
                ("checks", "named health checks for pools"),
                ("pools", "answer sets for names, and their members"),
                ("health", "what the checks say, and results pushed for passive checks"),
                ("zones", "the zones served and the snapshot each DNS process answers from"),
                ("changes", "the audit log of every write"),
                ("observability", "metrics, liveness, readiness and this document: no token needed"),
            )
        ],
        "paths": paths,
        "components": {
            "schemas": schemas.component_schemas(),
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "gslb_...",
                    "description": "A token from `gslb token create NAME --role read|admin`: a read "
                    "token may GET, an admin token may also write.",
                }
            },
            "responses": {name: problem(text, status) for status, (name, text) in ERRORS.items()},
            "headers": {
                "ETag": {
                    "description": "the representation's entity tag, for If-Match and If-None-Match",
                    "required": True,
                    "schema": {"type": "string", "pattern": schemas.ETAG_PATTERN},
                },
                "Location": {
                    "description": "the new object's URL",
                    "required": True,
                    "schema": {"type": "string", "pattern": f"^{API_PREFIX}/"},
                },
                "Caches-Clear-At": {
                    "description": (
                        "a drained member only: when no resolver can still hold an answer with it, so"
                        " its site may be stopped; until shortly before, it is still answered, at the"
                        " floor TTL"
                    ),
                    "schema": {"type": "string", "format": "date-time"},
                },
            },
        },
    }


# The operations, part by part


def kind_operations(kind: Kind) -> tuple[Operation, ...]:
    name = name_parameter(f"the {kind.noun}'s name")
    representation = ref(kind.schema)
    listed = schemas.closed(
        {
            kind.collection: {"type": "array", "items": representation},
            "next": schemas.nullable(
                {"type": "string", "description": "the next page's URL; null on the last page"}
            ),
        },
        [kind.collection, "next"],
    )
    after = {
        "name": "after",
        "in": "query",
        "description": f"{kind.noun}s named after this name, by code point (the `next` link carries it)",
        "schema": {"anyOf": [{"type": "string", "maxLength": 0}, schemas.OBJECT_NAME]},
    }
    limit = query_parameter(
        "limit", f"{kind.collection} per page, {changes.DEFAULT_LIMIT} by default", 1, changes.MAX_LIMIT
    )
    replaced = {**tagged(representation), "201": tagged(representation, "created")["200"]}
    return (
        operation(
            f"list_{kind.collection}",
            kind.collection,
            f"List the {kind.collection} by name, a page at a time",
            (after, limit),
            ok(listed),
            (*READ, 400),
        ),
        operation(
            f"create_{kind.noun}",
            kind.collection,
            f"Create a {kind.noun} (its `name` in the body)",
            (),
            created(representation),
            (*WRITE, 409),
            body=request_body(f"{kind.schema}Create", kind.example),
            conflict=f"a {kind.noun} of that name exists",
        ),
        operation(
            f"get_{kind.noun}",
            kind.collection,
            f"Get one {kind.noun} with its ETag",
            (name, IF_NONE_MATCH),
            {**tagged(representation), "304": NOT_MODIFIED},
            (*READ, 400, 404),
        ),
        operation(
            f"replace_{kind.noun}",
            kind.collection,
            f"Create the {kind.noun} or replace it whole (what is left out is unset)",
            (name, IF_MATCH, IF_NONE_MATCH),
            replaced,
            (*WRITE, 412),
            body=request_body(kind.replace, {k: v for k, v in kind.example.items() if k != "name"}),
        ),
        operation(
            f"patch_{kind.noun}",
            kind.collection,
            f"Change the top-level fields sent; keep the {kind.noun}'s others",
            (name, IF_MATCH),
            tagged(representation),
            (*WRITE, 404, 412),
            body=request_body(kind.patch, {}),
        ),
        operation(
            f"delete_{kind.noun}",
            kind.collection,
            f"Delete the {kind.noun}",
            (name, IF_MATCH),
            {"204": {"description": "deleted"}},
            (400, 401, 403, 404, 409, 412, 503),
            conflict=kind.in_use,
        ),
    )


def member_operations() -> tuple[Operation, ...]:
    pool = name_parameter("the pool's name")
    member = ref("Member")
    listed = schemas.closed({"members": {"type": "array", "items": member}}, ["members"])
    replaced = {**tagged(member, drains=True), "201": tagged(member, "created")["200"]}
    return (
        operation("list_members", "pools", "List a pool's members", (pool,), ok(listed), (*READ, 404)),
        operation(
            "create_member",
            "pools",
            "Add a member to the pool (its `address` in the body)",
            (pool,),
            created(member),
            (*WRITE, 404, 409),
            body=request_body("MemberCreate", {"site": "eu1", "address": "192.0.2.20", "weight": 100}),
            conflict="the pool has a member of that address",
        ),
        operation(
            "get_member",
            "pools",
            "Get one member with its ETag",
            (pool, ADDRESS, IF_NONE_MATCH),
            {**tagged(member, drains=True), "304": NOT_MODIFIED},
            (*READ, 400, 404),
        ),
        operation(
            "replace_member",
            "pools",
            "Add the member or replace it whole",
            (pool, ADDRESS, IF_MATCH, IF_NONE_MATCH),
            replaced,
            (*WRITE, 404, 412),
            body=request_body("MemberReplace", {"site": "eu1", "weight": 50}),
        ),
        operation(
            "patch_member",
            "pools",
            "Change some of a member's fields (drain it, re-weigh it, force it down), keep the others",
            (pool, ADDRESS, IF_MATCH),
            tagged(member, drains=True),
            (*WRITE, 404, 412),
            body=request_body("MemberPatch", {"state": "drained"}),
        ),
        operation(
            "delete_member",
            "pools",
            "Remove the member from its pool",
            (pool, ADDRESS, IF_MATCH),
            {"204": {"description": "deleted"}},
            (400, 401, 403, 404, 412, 503),
        ),
    )


def health_operations() -> tuple[Operation, ...]:
    pool = name_parameter("the pool's name")
    member_health = ok(ref("MemberHealth"), headers=NO_STORE)
    return (
        operation(
            "get_pool_health",
            "health",
            "Every member's health, whether DNS hands it out now, and a summary",
            (pool,),
            ok(ref("PoolHealth"), headers=NO_STORE),
            (*READ, 404),
        ),
        operation(
            "get_member_health",
            "health",
            "One member's health: state, last transition and its reason, last result and latency",
            (pool, ADDRESS),
            member_health,
            (*READ, 404),
        ),
        operation(
            "push_health_result",
            "health",
            f'Push a result for a member whose pool\'s check is `type = "{CheckType.PASSIVE}"`; it goes '
            "through rise and fall like a probe's, and answers with the member's health after it",
            (pool, ADDRESS),
            member_health,
            (*WRITE, 404, 409),
            body=request_body("HealthResult", {"ok": False, "reason": "overloaded"}),
            conflict="the member's check is not passive (`field` is check)",
        ),
    )


def log_operations() -> tuple[Operation, ...]:
    after = query_parameter("after", "entries after this id (the `next` link carries it)", 0, 2**63 - 1)
    limit = query_parameter(
        "limit", f"entries per page, {changes.DEFAULT_LIMIT} by default", 1, changes.MAX_LIMIT
    )
    return (
        operation(
            "list_zones",
            "zones",
            "The served zones with their serials, and the snapshot revision each DNS process serves",
            (),
            ok(ref("Zones")),
            READ,
        ),
        operation(
            "list_changes",
            "changes",
            "The change log, oldest first, a page at a time",
            (after, limit),
            ok(ref("ChangesPage")),
            (*READ, 400),
        ),
    )


def open_operations() -> tuple[Operation, ...]:
    alive = schemas.closed({"status": {"type": "string", "const": "alive"}}, ["status"])
    not_ready = problem("not ready: `failed` names the conditions that do not hold, `detail` says why", 503)
    not_ready["content"][PROBLEM_TYPE]["schema"] = {
        "allOf": [
            ref("Problem"),
            {
                "properties": {
                    "status": {"const": 503},
                    "failed": {"type": "array", "items": {"type": "string"}},
                    "checks": {"$ref": "#/components/schemas/Readiness/properties/checks"},
                },
                "required": ["failed", "checks"],
            },
        ]
    }
    metrics = {
        "text/plain": {"schema": {"type": "string"}},
        "application/openmetrics-text": {"schema": {"type": "string"}},
    }
    return (
        open_operation(
            "get_openapi",
            "This document (OpenAPI 3.1)",
            {"200": content({"schema": {"type": "object"}}, "OK")},
        ),
        open_operation(
            "get_metrics",
            "Prometheus metrics: the text format, or OpenMetrics if the Accept header asks for it",
            {"200": {"description": "OK", "headers": NO_STORE, "content": metrics}},
        ),
        open_operation("get_healthz", "Liveness: 200 while the process runs", ok(alive, headers=NO_STORE)),
        open_operation(
            "get_readyz",
            "Readiness: zones loaded, DNS listening, store reachable, snapshot current",
            {**ok(ref("Readiness"), headers=NO_STORE), "503": not_ready},
        ),
    )


# Building blocks


def operation(
    operation_id: str,
    tag: str,
    summary: str,
    parameters: Iterable[Schema],
    responses: Responses,
    errors: Iterable[int],
    *,
    body: Schema | None = None,
    conflict: str | None = None,
) -> Operation:
    """An operation for bearer tokens; ``errors`` are the statuses of its problem documents."""
    answers = dict(responses)
    for status in sorted(set(errors)):
        if status == 409 and conflict is not None:
            answers["409"] = problem(conflict, 409)
        else:
            answers[str(status)] = {"$ref": f"#/components/responses/{ERRORS[status][0]}"}
    result: Operation = {"operationId": operation_id, "summary": summary, "tags": [tag]}
    if parameters:
        result["parameters"] = list(parameters)
    if body is not None:
        result["requestBody"] = body
    result["responses"] = answers
    return result


def open_operation(operation_id: str, summary: str, responses: Responses) -> Operation:
    """An operation anyone may call, without a token (gslb/api/routes.py ``OPEN_PATHS``)."""
    return {
        "operationId": operation_id,
        "summary": summary,
        "tags": ["observability"],
        "security": [],
        "responses": responses,
    }


def content(media: Schema, description: str, headers: Mapping[str, Any] | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {"description": description, "content": {JSON_TYPE: media}}
    if headers:
        response["headers"] = dict(headers)
    return response


def ok(schema: Schema, description: str = "OK", headers: Mapping[str, Any] | None = None) -> Responses:
    return {"200": content({"schema": schema}, description, headers)}


def tagged(schema: Schema, description: str = "OK", drains: bool = False) -> Responses:
    """A representation of one object, with its ETag (and, for a member, its drain's promise)."""
    headers = {"ETag": {"$ref": "#/components/headers/ETag"}}
    if drains:
        headers["Caches-Clear-At"] = {"$ref": "#/components/headers/Caches-Clear-At"}
    return ok(schema, description, headers)


def created(schema: Schema) -> Responses:
    headers = {name: {"$ref": f"#/components/headers/{name}"} for name in ITEM_HEADERS}
    return {"201": content({"schema": schema}, "created", headers)}


NOT_MODIFIED = {
    "description": "If-None-Match holds the current ETag: the client's copy is current",
    "headers": {"ETag": {"$ref": "#/components/headers/ETag"}},
}


def problem(description: str, status: int) -> dict[str, Any]:
    """An error answer: a problem document whose ``status`` is the response's."""
    schema = {"allOf": [ref("Problem"), {"properties": {"status": {"const": status}}}]}
    response: dict[str, Any] = {"description": description, "content": {PROBLEM_TYPE: {"schema": schema}}}
    if status == 401:
        challenge = {"type": "string", "pattern": "^Bearer "}
        response["headers"] = {"WWW-Authenticate": {"required": True, "schema": challenge}}
    elif status == 503:
        response["headers"] = {"Retry-After": {"schema": {"type": "string", "pattern": "^[0-9]+$"}}}
    return response


def request_body(component: str, example: Mapping[str, Any]) -> Schema:
    return {"required": True, "content": {JSON_TYPE: {"schema": ref(component), "example": dict(example)}}}


def name_parameter(description: str) -> Schema:
    return {
        "name": "name",
        "in": "path",
        "required": True,
        "description": description,
        "schema": {"type": "string", "pattern": schemas.OBJECT_NAME_PATTERN},
        "example": "www",
    }


def query_parameter(name: str, description: str, low: int, high: int) -> Schema:
    return {"name": name, "in": "query", "description": description, "schema": schemas.integer(low, high)}


ADDRESS: Schema = {
    "name": "address",
    "in": "path",
    "required": True,
    "description": "the member's address, in any spelling (2001:DB8::1 finds 2001:db8::1)",
    "schema": {"type": "string", "minLength": 1},
    "example": "192.0.2.10",
}
AN_ETAG = '"4af25a369a28ad94b8e2a904248e3b8a"'
IF_MATCH: Schema = {
    "name": "If-Match",
    "in": "header",
    "description": "write only if the object's ETag is one of these (`*`: if it exists); else 412",
    "schema": {"type": "string", "pattern": schemas.ENTITY_TAGS_PATTERN},
    "example": AN_ETAG,
}
IF_NONE_MATCH: Schema = {
    "name": "If-None-Match",
    "in": "header",
    "description": "GET: 304 if the ETag is one of these; PUT: `*` creates only (412 if it exists)",
    "schema": {"type": "string", "pattern": schemas.ENTITY_TAGS_PATTERN},
    "example": AN_ETAG,
}


async def serve(request: web.Request) -> web.Response:
    return web.Response(body=request.app[OPENAPI_KEY], content_type=JSON_TYPE)


def setup(app: web.Application, routes: Iterable[Routed]) -> None:
    """Keep the document of ``routes`` in the API's application, rendered once: it depends on
    nothing but the code."""
    app[OPENAPI_KEY] = json.dumps(document(routes)).encode()
