"""The admin API's application: its routes, its middlewares, and the listener ``gslb serve`` runs.

The API runs on the serving process's event loop (a node runs it once: in the lone process, or in
the supervisor of ``--workers N``). Its handlers never block that loop: every store call goes to
a thread, so DNS over TCP and the snapshot follower keep their turn while a write commits.
Errors of every kind leave through ``problem_middleware`` as RFC 9457 documents; who may do what
is decided once, in ``auth_middleware``. Its state is gslb/api/context.py's ``ApiContext``; its
handlers read requests with gslb/api/request.py, never with this module.
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from gslb.api import observe, openapi, zones
from gslb.api.context import CONTEXT, ApiContext, context
from gslb.api.problems import Problem, from_store_error
from gslb.api.request import MAX_BODY, TOKEN_KEY
from gslb.api.routes import OPEN_PATHS, ROUTES, Handler
from gslb.config import Endpoint
from gslb.errors import StoreError
from gslb.tokens import Role

logger = logging.getLogger("gslb.api")

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


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
    """The API with every route of ROUTES; the problem middleware wraps auth, so a 401 is a document
    too."""
    app = web.Application(middlewares=[problem_middleware, auth_middleware], client_max_size=MAX_BODY)
    app[CONTEXT] = api
    zones.setup(app)
    observe.setup(app)
    openapi.setup(app, ROUTES)
    for route in ROUTES:
        app.router.add_route(route.method, route.path, route.handler)
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
