"""``gslb serve``: load zones, open (and on first start fill) the store, then answer until told to stop.

One process answers alone, with its health process and admin API beside it; with ``workers`` > 1
this process only supervises (gslb/node/supervisor.py), and each worker serves as a lone process
does, its control channel (gslb/node/link.py) in place of the health process and the API.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from pathlib import Path

from gslb import log
from gslb.answer.server import DnsServer, SnapshotHolder
from gslb.api.metrics import DnsCounts
from gslb.config import Settings
from gslb.declare.apply import apply as apply_declarations
from gslb.declare.apply import declared
from gslb.declare.reader import DeclarationError
from gslb.dns import zonefile
from gslb.errors import ConfigError, StoreError, ZoneError
from gslb.health.process import HealthProcess
from gslb.node import supervisor
from gslb.node.api import start_api
from gslb.node.follower import DEFAULT_INTERVAL, SnapshotFollower
from gslb.node.link import WorkerLink
from gslb.node.supervisor import WorkerStartError
from gslb.runtime import arenas
from gslb.snapshot import snapshot
from gslb.store import Store, open_store

logger = logging.getLogger("gslb.node.serve")

EXIT_USAGE = 2
EXIT_INVALID = 1


def serve(settings: Settings) -> int:
    """Load zones, open (and on first start fill) the store, then answer until told to stop.

    With ``workers`` > 1 this process does only what must happen once per node, then supervises that
    many worker processes (gslb/node/supervisor.py), each serving as a lone process does.
    """
    try:
        zones = zonefile.load_zones(settings.zones)
        store = open_store(settings.db)
    except (ZoneError, StoreError) as exc:
        return _not_starting(exc)
    try:
        _first_start(store, settings.zones, zones)
    except (DeclarationError, StoreError) as exc:
        store.dispose()
        return _not_starting(exc)
    if settings.workers == 1:
        return _answer(settings, store, zones)
    store.dispose()  # each worker opens its own
    try:
        supervisor.supervise(settings, zones)
    except OSError as exc:
        return _cannot_listen(exc)
    except WorkerStartError as exc:
        return _not_starting(exc)
    return 0


def worker(index: int) -> int:
    """``gslb serve --worker-index I``: one of the supervisor's workers, on the store it prepared."""
    try:
        link = WorkerLink.from_stdin(index)
        settings = link.receive_settings()
    except ConfigError as exc:
        print(f"gslb: configuration error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    log.configure(settings.log_level)
    link.tag_logs()
    supervisor.share_cpus_politely(settings.workers)
    try:
        zones = zonefile.load_zones(settings.zones)
    except ZoneError as exc:
        return _not_starting(exc)
    return _answer(settings, Store.open(settings.db), zones, link)


def _answer(
    settings: Settings, store: Store, zones: list[zonefile.LoadedZone], link: WorkerLink | None = None
) -> int:
    """Build the first snapshot from ``store``, then answer until told to stop; disposes of ``store``."""
    if arenas.use_one_arena():  # before any thread starts: see gslb/runtime/arenas.py
        logger.debug("malloc: one arena for all threads")
    try:
        bounds = settings.ttl_bounds
        # A worker's supervisor polls the store for it and says when it moved; its own polls are a
        # fallback (gslb/node/supervisor.py).
        interval = DEFAULT_INTERVAL if link is None else supervisor.WORKER_POLL
        follower = SnapshotFollower(
            store, zones, lambda _: None, interval=interval, ttl_bounds=bounds, listen=link is None
        )
        if link is not None:
            follower.set_health(link.down)  # what the node's health process found, before answering
        first = follower.build_now()
    except (ZoneError, DeclarationError, StoreError) as exc:
        store.dispose()
        return _not_starting(exc)
    try:
        asyncio.run(_run(settings, follower, first, link))
    except OSError as exc:
        return _cannot_listen(exc)
    finally:
        store.dispose()
    return 0


def _not_starting(exc: Exception) -> int:
    logger.error("not starting", extra={"errors": str(exc)})
    print(f"gslb: not starting:\n{exc}", file=sys.stderr)
    return EXIT_INVALID


def _cannot_listen(exc: OSError) -> int:
    logger.error("cannot listen", extra={"error": str(exc)})
    print(f"gslb: cannot listen: {exc}", file=sys.stderr)
    return EXIT_INVALID


def _first_start(store: Store, directory: Path, zones: list[zonefile.LoadedZone]) -> None:
    """A store never written to takes the declarations next to the zone files (quickstart)."""
    if store.revision() != 0:
        return
    result = apply_declarations(
        store, declared(directory, zones), dry_run=False, actor="gslb serve (first start)"
    )
    if not result.plan.empty:
        logger.info("declarations applied to the new store", extra={"revision": result.revision})


async def _run(
    settings: Settings, follower: SnapshotFollower, first: snapshot.Snapshot, link: WorkerLink | None
) -> None:
    server = DnsServer(settings, SnapshotHolder(first))
    # Probes run in a process of their own (gslb/health/process.py): never on the answering GIL.
    # One per node, like the admin API: here without a supervisor; with one, it runs them both and
    # relays the down set to every worker, which reports back each revision it serves.
    bounds = settings.ttl_bounds
    health = (
        HealthProcess(settings.db, settings.log_level, follower.set_health, ttl_bounds=bounds)
        if link is None
        else None
    )
    if link is None:
        follower.publish = server.swap
    else:
        worker_link = link

        def publish(built: snapshot.Snapshot) -> None:
            server.swap(built)
            worker_link.serving(built.revision)

        follower.publish = publish
    # The API listens before DNS does: whoever sees answers can use the API as well.
    api = None
    if health is not None:

        def revisions() -> dict[str, int]:
            return {"main": follower.current.revision} if follower.current is not None else {}

        api = await start_api(
            settings, lambda: follower.zones, health, revisions=revisions, written=follower.wake, dns=server
        )
    try:
        await server.start()
    except BaseException:
        if api is not None:
            await api.stop()
        raise
    if health is not None:
        health.start()
    for zone in first.zones:
        logger.info(
            "zone loaded", extra={"zone": zone.origin, "serial": zone.serial, "records": zone.records}
        )
    logger.info(
        "ready",
        extra={
            "answers": len(first.answers) + len(first.dynamic),
            "pools": len(first.inventory.pools),
            "revision": first.revision,
            "build_ms": round(first.build_seconds * 1000, 1),
        },
    )
    loop = asyncio.get_running_loop()
    done = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, done.set)
    loop.add_signal_handler(signal.SIGHUP, lambda: loop.create_task(_reload(settings, follower)))
    if link is None:
        loop.add_signal_handler(signal.SIGINT, done.set)
        orphaned = None
    else:
        # A worker leaves SIGINT to its supervisor, takes the down sets it relays, tells it what
        # it counted when a scrape asks, and stops when the supervisor is gone.
        orphaned = loop.create_task(
            link.run(follower.set_health, lambda: DnsCounts.of(server), follower.wake)
        )
        orphaned.add_done_callback(lambda _: done.set())
        link.ready(first.revision)
    polling = loop.create_task(follower.run())
    await done.wait()
    logger.info("stopping")
    polling.cancel()
    if orphaned is not None:
        orphaned.cancel()
    if api is not None:
        await api.stop()
    if health is not None:
        await health.stop()
    await server.stop()


async def _reload(settings: Settings, follower: SnapshotFollower) -> None:
    """SIGHUP: re-read the zone files; keep serving the old snapshot if the new files are bad."""
    try:
        zones = await asyncio.to_thread(zonefile.load_zones, settings.zones)
    except ZoneError as exc:
        logger.error("reload refused; still serving the previous zones", extra={"errors": str(exc)})
        return
    await follower.reload_zones(zones)
    for zone in zones:
        logger.info("zone loaded", extra={"zone": zone.origin.to_text(), "serial": zone.serial})
