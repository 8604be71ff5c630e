"""``gslb serve``, ``check`` and ``db upgrade``: parse arguments, call the library, print results."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from gslb import __version__, log, snapshot, zonefile
from gslb.config import Settings, load
from gslb.dns.server import DnsServer, SnapshotHolder
from gslb.errors import ConfigError, StoreError, ZoneError
from gslb.store import Store

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
    serve.add_argument("--transfer-allow", action="append", metavar="CIDR", help="clients allowed AXFR")
    serve.add_argument("--log-level", help="debug, info, warning or error")

    check = commands.add_parser("check", help="validate zone files without serving them")
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
    try:
        settings = load(
            args.config,
            overrides={
                "zones": args.zones,
                "listen": args.listen,
                "max_udp_payload": args.max_udp_payload,
                "tcp_idle_timeout": args.tcp_idle_timeout,
                "tcp_max_connections": args.tcp_max_connections,
                "transfer_allow": args.transfer_allow,
                "log_level": args.log_level,
            },
        )
    except ConfigError as exc:
        print(f"gslb: configuration error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    log.configure(settings.log_level)
    return serve(settings)


def check(directory: Path) -> int:
    """Validate every zone file; print one line per zone, or every error found."""
    try:
        zones = zonefile.load_zones(directory)
    except ZoneError as exc:
        print(f"gslb: invalid zones:\n{exc}", file=sys.stderr)
        return EXIT_INVALID
    for zone in zones:
        records = sum(len(rdataset) for _, rdataset in zone.zone.iterate_rdatasets())
        print(f"ok {zone.origin} serial {zone.serial} records {records} ({zone.path})")
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
    try:
        first = snapshot.build(zonefile.load_zones(settings.zones))
    except ZoneError as exc:
        logger.error("zones invalid; not starting", extra={"errors": str(exc)})
        print(f"gslb: invalid zones, not starting:\n{exc}", file=sys.stderr)
        return EXIT_INVALID
    try:
        asyncio.run(_run(settings, first))
    except OSError as exc:
        logger.error("cannot listen", extra={"error": str(exc)})
        print(f"gslb: cannot listen: {exc}", file=sys.stderr)
        return EXIT_INVALID
    return 0


async def _run(settings: Settings, first: snapshot.Snapshot) -> None:
    server = DnsServer(settings, SnapshotHolder(first))
    await server.start()
    for zone in first.zones:
        logger.info(
            "zone loaded", extra={"zone": zone.origin, "serial": zone.serial, "records": zone.records}
        )
    logger.info(
        "ready", extra={"answers": len(first.answers), "build_ms": round(first.build_seconds * 1000, 1)}
    )
    loop = asyncio.get_running_loop()
    done = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, done.set)
    loop.add_signal_handler(signal.SIGINT, done.set)
    loop.add_signal_handler(signal.SIGHUP, lambda: loop.create_task(_reload(settings, server)))
    await done.wait()
    logger.info("stopping")
    await server.stop()


async def _reload(settings: Settings, server: DnsServer) -> None:
    """SIGHUP: re-read the zone files; keep serving the old snapshot if the new files are bad."""
    try:
        zones = await asyncio.to_thread(zonefile.load_zones, settings.zones)
        fresh = await asyncio.to_thread(snapshot.build, zones)
    except ZoneError as exc:
        logger.error("reload refused; still serving the previous zones", extra={"errors": str(exc)})
        return
    server.swap(fresh)
    for zone in fresh.zones:
        logger.info(
            "zone loaded", extra={"zone": zone.origin, "serial": zone.serial, "records": zone.records}
        )
