"""The admin API's application: its state, its middlewares, and the listener ``gslb serve`` runs.

The API runs on the serving process's event loop (a node runs it once: in the lone process, or in
the supervisor of ``--workers N``). Its handlers never block that loop: every store call goes to
a thread, so DNS over TCP and the snapshot follower keep their turn while a write commits.
Errors of every kind leave through ``problem_middleware`` as RFC 9457 documents; who may do what
is decided once, in ``auth_middleware``.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from aiohttp import web

from gslb.answer.server import DnsServer
from gslb.api.auth import ApiToken, Role, TokenTable
from gslb.api.problems import Problem, bad_request, from_store_error
from gslb.config import Endpoint
from gslb.dns.zonefile import LoadedZone
from gslb.errors import StoreError
from gslb.health.process import HealthProcess
from gslb.model import DEFAULT_TTL_BOUNDS, TtlBounds
from gslb.store import Store

logger = logging.getLogger("gslb.api")

API_PREFIX = "/api/v1"
MAX_BODY = 1024 * 1024  # a pool of a thousand members is ~100 kB
JSON_TYPE = "application/json"
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Open without a token: liveness and readiness for keepalived and load balancers, metrics for
# Prometheus (which rarely carries secrets), and the contract itself.
OPEN_PATHS = frozenset({"/healthz", "/readyz", "/metrics", f"{API_PREFIX}/openapi.json"})

T = TypeVar("T")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class ApiContext:
    """What the handlers work with; one per API listener, kept under ``CONTEXT`` in the app."""

    store: Store
    tokens: TokenTable
    # The zone files the node serves now (names a pool may take; their serials).
    zones: Callable[[], Sequence[LoadedZone]]
    # Called after every write that changed something, so the local follower picks the new
    # revision up now rather than at its next poll.
    written: Callable[[], None] = lambda: None
    # Which snapshot revision each answering process serves now: {"main": 12} for a lone process.
    revisions: Callable[[], dict[str, int]] = dict
    health: HealthProcess | None = None  # the node's health monitor: states, passive results
    dns: DnsServer | None = None  # the lone process's DNS server (its counters), if any
    ttl_bounds: TtlBounds = DEFAULT_TTL_BOUNDS  # drain promises are counted with these

    async def blocking(self, call: Callable[[], T]) -> T:
        """Run a store call off the event loop; a refused write becomes its problem document."""
        try:
            return await asyncio.to_thread(call)
        except StoreError as exc:
            raise from_store_error(exc) from exc


CONTEXT = web.AppKey("context", ApiContext)
TOKEN_KEY = "gslb.token"


def context(request: web.Request) -> ApiContext:
    return request.app[CONTEXT]


def actor(request: web.Request) -> str:
    """The change log's name for whoever made this request."""
    token: ApiToken = request[TOKEN_KEY]
    return f"api:{token.name}"


async def json_body(request: web.Request) -> dict[str, Any]:
    """The request's JSON object, or the problem that says why there is none."""
    if request.content_type != JSON_TYPE:
        raise Problem(
            415,
            "unsupported-media-type",
            "Unsupported media type",
            f"the body must be {JSON_TYPE}, got {request.content_type or 'none'}",
            field="Content-Type",
        )
    try:
        # JSON is UTF-8 (RFC 8259 section 8.1), whatever charset the Content-Type names.
        text = (await request.read()).decode("utf-8")
    except web.HTTPRequestEntityTooLarge as exc:
        raise Problem(
            413, "body-too-large", "Body too large", f"the body is larger than {MAX_BODY} bytes", field="body"
        ) from exc
    except UnicodeDecodeError as exc:
        raise bad_request(f"the body is not UTF-8: {exc}", field="body") from exc
    try:
        document = json.loads(text, parse_constant=_refuse_constant)
    except ValueError as exc:
        raise bad_request(f"malformed JSON: {exc}", field="body") from exc
    if not isinstance(document, dict):
        raise bad_request("the body must be a JSON object", field="body")
    if not unicode_text(document):
        raise bad_request("malformed JSON: a \\u escape of half a surrogate pair is not a character", "body")
    return document


def query_integer(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    """The integer query parameter ``name``, ``default`` if absent; 400 naming it if it is not one
    from ``low`` to ``high`` in ASCII digits ("²" passes isdigit() and fails int(); int() reads " 1").
    """
    text = request.query.get(name)
    if text is None:
        return default
    if (
        not (text.isascii() and text.isdigit() and len(text) <= len(str(high)))
        or not low <= int(text) <= high
    ):
        raise bad_request(f"{name} must be an integer from {low} to {high}, got {text!r}", name)
    return int(text)


def unicode_text(document: Any) -> bool:
    """Whether every string in ``document`` is Unicode text. JSON's escapes can spell half a
    surrogate pair (``"\\ud800"``), which Python reads into a string no database can store."""
    try:
        json.dumps(document, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        return False
    return True


def _refuse_constant(name: str) -> Any:
    """NaN and Infinity: Python's json reads them, but they are not JSON (RFC 8259 section 6)."""
    raise ValueError(f"{name} is not a JSON value")


def json_response(document: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        status=status, body=json.dumps(document).encode(), content_type=JSON_TYPE, headers=headers
    )


@web.middleware
async def problem_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every error as a problem document: ours, the store's, aiohttp's own, and the unexpected."""
    try:
        return await handler(request)
    except Problem as problem:
        return problem.response()
    except StoreError as exc:
        return from_store_error(exc).response()
    except web.HTTPRequestEntityTooLarge:
        detail = f"the body is larger than {MAX_BODY} bytes"
        return Problem(413, "body-too-large", "Body too large", detail, field="body").response()
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        slug = exc.reason.lower().replace(" ", "-")
        detail = exc.text if exc.text and exc.text != f"{exc.status}: {exc.reason}" else exc.reason
        if exc.status == 404:
            detail = f"no resource at {request.path}"
        elif exc.status == 405:
            allowed = exc.headers.get("Allow", "")
            detail = f"{request.method} is not allowed on {request.path} (allowed: {allowed})"
        # aiohttp's own Content-Type (text/plain) would clash with the problem document's.
        own = ("content-type", "content-length")
        headers = {k: v for k, v in exc.headers.items() if k.lower() not in own}
        return Problem(exc.status, slug, exc.reason, detail, headers=headers).response()
    except asyncio.CancelledError:
        raise
    except Exception:
        logger.exception("api request failed", extra={"method": request.method, "path": request.path})
        detail = "an internal error; the server's log has the details"
        return Problem(500, "internal-error", "Internal error", detail).response()


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A valid bearer token for everything but OPEN_PATHS; an admin token for every write."""
    if request.path in OPEN_PATHS:
        return await handler(request)
    tokens = context(request).tokens
    challenge = {"WWW-Authenticate": 'Bearer realm="gslb"'}
    if not tokens:
        detail = "no API tokens are configured on this server: create one with gslb token create"
        raise Problem(401, "unauthorized", "Unauthorized", detail, field="Authorization", headers=challenge)
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    token = tokens.find(presented.strip()) if scheme.lower() == "bearer" and presented.strip() else None
    if token is None:
        detail = "a valid bearer token is required (Authorization: Bearer gslb_...)"
        raise Problem(401, "unauthorized", "Unauthorized", detail, field="Authorization", headers=challenge)
    if request.method in WRITE_METHODS and not token.role.may_write():
        raise Problem(
            403,
            "forbidden",
            "Forbidden",
            f"token {token.name!r} has the {token.role.value} role; {request.method} needs "
            f"{Role.ADMIN.value}",
            field="Authorization",
        )
    request[TOKEN_KEY] = token
    return await handler(request)


def create_app(api: ApiContext) -> web.Application:
    """The API with every resource; the problem middleware wraps auth, so a 401 is a document too."""
    from gslb.api import health, observe, openapi, resources  # noqa: PLC0415 - they import this module

    app = web.Application(middlewares=[problem_middleware, auth_middleware], client_max_size=MAX_BODY)
    app[CONTEXT] = api
    resources.add_routes(app)
    health.add_routes(app)
    observe.add_routes(app)
    openapi.add_routes(app)
    return app


class ApiServer:
    """The API on one address, started and stopped with the serving loop; it owns its context's
    store connection, and closes it when it stops or fails to start."""

    def __init__(self, app: web.Application, endpoint: Endpoint) -> None:
        self.app = app
        self.context = app[CONTEXT]
        self.endpoint = endpoint
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)

    async def start(self) -> None:
        try:
            await self._runner.setup()
            site = web.TCPSite(self._runner, self.endpoint.host, self.endpoint.port, reuse_address=True)
            await site.start()
        except BaseException:
            self.context.store.dispose()
            raise
        logger.info("api listening", extra={"listen": str(self.endpoint)})

    async def stop(self) -> None:
        await self._runner.cleanup()
        self.context.store.dispose()
