"""``gslb serve | apply | check | db upgrade``: parse arguments, call the library, print results."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from gslb import __version__, log
from gslb.answer.server import DnsServer, SnapshotHolder
from gslb.api.app import ApiServer, create_app
from gslb.api.auth import TokenTable
from gslb.api.context import ApiContext
from gslb.api.metrics import DnsCounts
from gslb.config import Settings, load
from gslb.declare.apply import apply as apply_declarations
from gslb.declare.apply import declared
from gslb.declare.reader import DeclarationError
from gslb.dns import zonefile
from gslb.errors import ConfigError, StoreError, ZoneError
from gslb.health.process import HealthProcess
from gslb.health.status import rfc3339, wall_time
from gslb.node import supervisor
from gslb.node.follower import DEFAULT_INTERVAL, SnapshotFollower
from gslb.node.supervisor import WorkerLink, WorkerStartError
from gslb.runtime import arenas
from gslb.snapshot import snapshot, ttl
from gslb.store import Store, open_store
from gslb.tokens import ApiToken, Role, new_token, token_hash

logger = logging.getLogger("gslb.cli")

EXIT_USAGE = 2
EXIT_INVALID = 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gslb", description="Authoritative, load-balancing DNS server.")
    parser.add_argument("--version", action="version", version=f"gslb {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="answer DNS for the zones in the zone directory")
    serve.add_argument("--config", type=Path, help="TOML settings file (also GSLB_CONFIG)")
    serve.add_argument("--zones", help="zone directory (default: zones)")
    serve.add_argument(
        "--listen", action="append", metavar="ADDR:PORT", help="UDP+TCP listener; repeat for several"
    )
    serve.add_argument("--max-udp-payload", type=int, help="largest UDP response (default 1232)")
    serve.add_argument("--tcp-idle-timeout", type=float, help="seconds a TCP client may stay silent")
    serve.add_argument("--tcp-max-connections", type=int, help="concurrent TCP connections")
    serve.add_argument(
        "--udp-batch", type=int, metavar="N", help="datagrams per recvmmsg/sendmmsg (default 32; 1: none)"
    )
    serve.add_argument("--transfer-allow", action="append", metavar="CIDR", help="clients allowed AXFR")
    serve.add_argument("--log-level", help="debug, info, warning or error")
    serve.add_argument(
        "--db", metavar="URL", help="SQLAlchemy URL (also GSLB_DB_URL; default sqlite:///gslb.sqlite)"
    )
    serve.add_argument(
        "--workers", type=int, metavar="N", help="processes answering on the same listeners (default 1)"
    )
    serve.add_argument(
        "--api-listen", metavar="ADDR:PORT", help='admin API address (default 127.0.0.1:8053; "off": none)'
    )
    # Internal: how the supervisor of --workers N starts worker I (settings come on stdin).
    serve.add_argument("--worker-index", type=int, help=argparse.SUPPRESS)

    apply = commands.add_parser("apply", help="make the store match the sites and pools declared in DIR")
    apply.add_argument("zones", nargs="?", default="zones", help="zone directory (default: zones)")
    apply.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    apply.add_argument("--config", type=Path, help="TOML settings file (also GSLB_CONFIG)")
    apply.add_argument("--db", metavar="URL", help="SQLAlchemy URL (also GSLB_DB_URL)")

    token = commands.add_parser("token", help="admin API tokens")
    token_commands = token.add_subparsers(dest="token_command", required=True)
    create = token_commands.add_parser(
        "create", help="make a new token: prints it once, and the line that configures its hash"
    )
    create.add_argument("name", help="the name the change log shows for this token's writes")
    create.add_argument("--role", choices=[r.value for r in Role], default=Role.READ.value)

    check = commands.add_parser("check", help="validate zone files and declarations without serving them")
    check.add_argument("zones", nargs="?", default="zones", help="zone directory (default: zones)")

    db = commands.add_parser("db", help="manage the database of sites, pools and members")
    db_commands = db.add_subparsers(dest="db_command", required=True)
    upgrade = db_commands.add_parser("upgrade", help="create the database or migrate it to this version")
    upgrade.add_argument("--config", type=Path, help="TOML settings file (also GSLB_CONFIG)")
    upgrade.add_argument(
        "--db", metavar="URL", help="SQLAlchemy URL (also GSLB_DB_URL; default sqlite:///gslb.sqlite)"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "check":
        return check(Path(args.zones))
    if args.command == "db":
        return db_upgrade(args.config, args.db)
    if args.command == "apply":
        return apply_command(Path(args.zones), args.dry_run, args.config, args.db)
    if args.command == "token":
        return token_create(args.name, Role(args.role))
    if args.worker_index is not None:
        return worker(args.worker_index)
    try:
        settings = load(
            args.config,
            overrides={
                "zones": args.zones,
                "listen": args.listen,
                "max_udp_payload": args.max_udp_payload,
                "tcp_idle_timeout": args.tcp_idle_timeout,
                "tcp_max_connections": args.tcp_max_connections,
                "udp_batch": args.udp_batch,
                "transfer_allow": args.transfer_allow,
                "log_level": args.log_level,
                "db": args.db,
                "workers": args.workers,
                "api_listen": args.api_listen,
            },
        )
    except ConfigError as exc:
        print(f"gslb: configuration error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    log.configure(settings.log_level)
    return serve(settings)


def token_create(name: str, role: Role) -> int:
    """Print a new token once, and the setting that makes the API accept it (its hash only)."""
    try:
        ApiToken.of(name, role.value, "0" * 64, "name")
    except ConfigError as exc:
        print(f"gslb: {exc}", file=sys.stderr)
        return EXIT_USAGE
    secret = new_token()
    configured = ApiToken(name, role, token_hash(secret))
    print(f"token (shown once; keep it secret): {secret}")
    print("configure its hash (gslb.toml):")
    print(f'api_tokens = [{{ name = "{name}", role = "{role.value}", sha256 = "{configured.sha256}" }}]')
    print(f"or in the environment: GSLB_API_TOKENS={configured}")
    return 0


def check(directory: Path) -> int:
    """Validate every zone file; print one line per zone, or every error found."""
    try:
        zones = zonefile.load_zones(directory)
    except ZoneError as exc:
        print(f"gslb: invalid zones:\n{exc}", file=sys.stderr)
        return EXIT_INVALID
    for zone in zones:
        print(f"ok {zone.origin} serial {zone.serial} records {zone.records} ({zone.path})")
    try:
        inventory = declared(directory, zones)
    except DeclarationError as exc:
        print(f"gslb: invalid declarations:\n{exc}", file=sys.stderr)
        return EXIT_INVALID
    members = sum(len(p.members) for p in inventory.pools)
    print(f"ok declarations: {len(inventory.sites)} sites, {len(inventory.pools)} pools, {members} members")
    return 0


def apply_command(directory: Path, dry_run: bool, config: Path | None, url: str | None) -> int:
    """Print the plan that makes the store match the declarations, then (unless dry run) apply it."""
    try:
        settings = load(config, overrides={"db": url})
        zones = zonefile.load_zones(directory)
        desired = declared(directory, zones)
        with open_store(settings.db) as store:
            result = apply_declarations(store, desired, dry_run=dry_run, actor="gslb apply")
            _, applied = store.load()
    except ConfigError as exc:
        print(f"gslb: configuration error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (ZoneError, DeclarationError, StoreError) as exc:
        print(f"gslb: nothing applied:\n{exc}", file=sys.stderr)
        return EXIT_INVALID
    print(result.plan.render())
    if dry_run:
        print("dry run: nothing was changed")
    elif not result.plan.empty:
        print(f"applied: store revision {result.revision}")
    bounds = (settings.pool_ttl_floor, settings.pool_ttl_ceiling)
    for pool, address, clear in ttl.pending_drains(applied, *bounds, time.time()):
        # The moment its site may be stopped: until shortly before, it is still answered.
        print(f"draining {pool}/{address}: caches clear at {rfc3339(wall_time(clear))}")
    return 0


def db_upgrade(config: Path | None, url: str | None) -> int:
    """Create or migrate the configured database; print the schema and store revision it is at."""
    try:
        settings = load(config, overrides={"db": url})
    except ConfigError as exc:
        print(f"gslb: configuration error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        with Store.open(settings.db) as store:
            schema = store.upgrade()
            revision = store.revision()
    except StoreError as exc:
        print(f"gslb: {exc}", file=sys.stderr)
        return EXIT_INVALID
    print(f"ok {store.url} schema {schema} store revision {revision}")
    return 0


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
        bounds = (settings.pool_ttl_floor, settings.pool_ttl_ceiling)
        # A worker's supervisor polls the store for it and says when it moved; its own polls are a
        # fallback (gslb/node/supervisor.py).
        interval = DEFAULT_INTERVAL if link is None else supervisor.WORKER_POLL
        follower = SnapshotFollower(store, zones, lambda _: None, interval=interval, ttl_bounds=bounds)
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
    bounds = (settings.pool_ttl_floor, settings.pool_ttl_ceiling)
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
    api = await _start_api(settings, follower, health, server) if health is not None else None
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


async def _start_api(
    settings: Settings, follower: SnapshotFollower, health: HealthProcess, server: DnsServer
) -> ApiServer | None:
    """The admin API of a lone serving process, on a store connection of its own."""
    if settings.api_listen is None:
        return None

    def revisions() -> dict[str, int]:
        return {"main": follower.current.revision} if follower.current is not None else {}

    context = ApiContext(
        Store.open(settings.db),
        TokenTable(settings.api_tokens),
        lambda: follower.zones,
        written=follower.wake,
        revisions=revisions,
        health=health,
        dns=server,
        ttl_bounds=(settings.pool_ttl_floor, settings.pool_ttl_ceiling),
    )
    api = ApiServer(create_app(context), settings.api_listen)
    await api.start()
    return api


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
