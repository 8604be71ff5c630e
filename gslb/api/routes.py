"""Every route of the admin API, in one table: its method, its path, its handler, its operation
in the OpenAPI document, and whether it is open without a token.

``create_app`` (gslb/api/app.py) registers this table and nothing else, the OpenAPI document
(gslb/api/openapi.py) takes its paths from it, and tests/unit/api/test_openapi.py fails when a
route here has no operation there, or an operation no route here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from gslb.api import changes, health, members, observe, openapi, zones
from gslb.api.openapi import OPENAPI_PATH
from gslb.api.request import API_PREFIX
from gslb.api.resources import CHECKS, POOLS, SITES, Handlers, Kind

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True, slots=True)
class Route:
    method: str  # GET answers no HEAD: the document describes none
    path: str
    handler: Handler
    operation_id: str  # its operation in the OpenAPI document
    open: bool = False  # callable without a token: see OPEN_PATHS


def collection(kind: Kind[Any]) -> tuple[Route, ...]:
    """The six routes of sites, checks or pools (gslb/api/resources.py)."""
    handlers = Handlers(kind)
    path = f"{API_PREFIX}/{kind.collection}"
    item = f"{path}/{{name}}"
    noun = kind.object_type
    return (
        Route("GET", path, handlers.list_all, f"list_{kind.collection}"),
        Route("POST", path, handlers.create, f"create_{noun}"),
        Route("GET", item, handlers.get, f"get_{noun}"),
        Route("PUT", item, handlers.replace, f"replace_{noun}"),
        Route("PATCH", item, handlers.patch, f"patch_{noun}"),
        Route("DELETE", item, handlers.delete, f"delete_{noun}"),
    )


MEMBERS = f"{API_PREFIX}/pools/{{name}}/members"
MEMBER = f"{MEMBERS}/{{address}}"

ROUTES: tuple[Route, ...] = (
    *collection(SITES),
    *collection(CHECKS),
    *collection(POOLS),
    Route("GET", MEMBERS, members.list_members, "list_members"),
    Route("POST", MEMBERS, members.create_member, "create_member"),
    Route("GET", MEMBER, members.get_member, "get_member"),
    Route("PUT", MEMBER, members.replace_member, "replace_member"),
    Route("PATCH", MEMBER, members.patch_member, "patch_member"),
    Route("DELETE", MEMBER, members.delete_member, "delete_member"),
    Route("GET", f"{API_PREFIX}/zones", zones.list_zones, "list_zones"),
    Route("GET", f"{API_PREFIX}/changes", changes.list_changes, "list_changes"),
    Route("GET", f"{API_PREFIX}/pools/{{name}}/health", health.pool_health, "get_pool_health"),
    Route("GET", f"{MEMBER}/health", health.member_health, "get_member_health"),
    Route("POST", f"{MEMBER}/health", health.push_result, "push_health_result"),
    # Liveness and readiness for keepalived and load balancers, metrics for Prometheus (which
    # rarely carries secrets), and the contract itself.
    Route("GET", "/healthz", observe.healthz, "get_healthz", open=True),
    Route("GET", "/readyz", observe.readyz, "get_readyz", open=True),
    Route("GET", "/metrics", observe.metrics, "get_metrics", open=True),
    Route("GET", OPENAPI_PATH, openapi.serve, "get_openapi", open=True),
)

OPEN_PATHS = frozenset(route.path for route in ROUTES if route.open)
"""The paths anyone may call (every method on them: each has only GET)."""
