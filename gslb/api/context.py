"""The API's state: what its handlers work with (the store, the tokens, the served zones, the
node's DNS server and health monitor), one ``ApiContext`` per listener, kept in the application
under ``CONTEXT``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from aiohttp import web

from gslb.answer.server import DnsServer
from gslb.api.auth import TokenTable
from gslb.api.problems import from_store_error
from gslb.dns.zonefile import LoadedZone
from gslb.errors import StoreError
from gslb.health.process import HealthProcess
from gslb.model import DEFAULT_TTL_BOUNDS, TtlBounds
from gslb.store import Store

T = TypeVar("T")


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


def context(request: web.Request) -> ApiContext:
    return request.app[CONTEXT]
