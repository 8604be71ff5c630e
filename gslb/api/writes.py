"""How a handler writes to the store: off the event loop, conditionally, and seen at once.

Every write goes through ``write``: the store call runs in a thread with the request's
``Guard`` as its precondition; a refusal names fields of the request's document; a write that
changed something wakes the snapshot follower (so DNS answers follow within milliseconds, not at
the next poll) and leaves one log line.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from aiohttp import web

from gslb.api.context import context
from gslb.api.problems import Problem
from gslb.api.request import actor
from gslb.errors import PreconditionError, StoreError
from gslb.store import Outcome

logger = logging.getLogger("gslb.api")

Translate = Callable[[StoreError], StoreError]


async def write(
    request: web.Request, call: Callable[[str], Outcome], translate: Translate | None = None
) -> Outcome:
    """Run ``call(actor)``, a store write, for this request; raise its refusal as a problem."""
    api = context(request)
    who = actor(request)

    def run() -> Outcome:
        try:
            return call(who)
        except StoreError as exc:
            translated = translate(exc) if translate is not None else exc
            if translated is exc:
                raise
            raise translated from exc

    try:
        outcome = await api.blocking(run)
    except Problem as problem:
        cause = problem.__cause__
        if isinstance(cause, PreconditionError) and cause.field:  # If-Match or If-None-Match
            problem.field = cause.field
        raise
    if outcome.changed:
        api.written()
        logger.info(
            "api change",
            extra={
                "actor": who,
                "method": request.method,
                "path": request.path,
                "revision": outcome.revision,
                "edits": len(outcome.edits),
            },
        )
    return outcome
