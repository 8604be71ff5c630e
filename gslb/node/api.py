"""The node's admin API: one per node, on a store connection of its own, in whichever process runs
the node's control work (a lone serving process, or the supervisor of ``--workers N``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from gslb.answer.server import DnsServer
from gslb.api import observe
from gslb.api.app import ApiServer, create_app
from gslb.api.auth import TokenTable
from gslb.api.context import ApiContext
from gslb.config import Settings
from gslb.dns.zonefile import LoadedZone
from gslb.health.process import HealthProcess
from gslb.store import Store


async def start_api(
    settings: Settings,
    zones: Callable[[], Sequence[LoadedZone]],
    health: HealthProcess,
    *,
    revisions: Callable[[], dict[str, int]],
    written: Callable[[], None] = lambda: None,
    dns: DnsServer | None = None,
    workers: observe.Workers | None = None,
) -> ApiServer | None:
    """Listen on ``api_listen`` (None when it is off). ``dns`` is a lone process's server, whose
    counts /metrics shows; ``workers``, a supervisor that speaks for its workers instead."""
    if settings.api_listen is None:
        return None
    context = ApiContext(
        Store.open(settings.db),
        TokenTable(settings.api_tokens),
        zones,
        written=written,
        revisions=revisions,
        health=health,
        dns=dns,
        ttl_bounds=settings.ttl_bounds,
    )
    app = create_app(context)
    if workers is not None:
        observe.watch_workers(app, workers)
    api = ApiServer(app, settings.api_listen)
    await api.start()
    return api
