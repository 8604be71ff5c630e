"""``gslb serve | apply | check | db upgrade``: parse arguments, call the library, print results."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from gslb import __version__, log
from gslb.config import load
from gslb.declare.apply import apply as apply_declarations
from gslb.declare.apply import declared
from gslb.declare.reader import DeclarationError
from gslb.declare.safety import DEFAULT_MAX_SAFE_PERCENT, UnsafePlanError
from gslb.dns import zonefile
from gslb.errors import ConfigError, StoreError, ZoneError
from gslb.health.status import rfc3339, wall_time
from gslb.node.serve import EXIT_INVALID, EXIT_USAGE, serve, worker
from gslb.snapshot import ttl
from gslb.store import Store, open_store
from gslb.tokens import ApiToken, Role, new_token, token_hash

logger = logging.getLogger("gslb.cli")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gslb", description="Authoritative, load-balancing DNS server.")
    parser.add_argument("--version", action="version", version=f"gslb {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    serving = commands.add_parser("serve", help="answer DNS for the zones in the zone directory")
    serving.add_argument("--config", type=Path, help="TOML settings file (also GSLB_CONFIG)")
    serving.add_argument("--zones", help="zone directory (default: zones)")
    serving.add_argument(
        "--listen", action="append", metavar="ADDR:PORT", help="UDP+TCP listener; repeat for several"
    )
    serving.add_argument("--max-udp-payload", type=int, help="largest UDP response (default 1232)")
    serving.add_argument("--tcp-idle-timeout", type=float, help="seconds a TCP client may stay silent")
    serving.add_argument("--tcp-max-connections", type=int, help="concurrent TCP connections")
    serving.add_argument(
        "--udp-batch", type=int, metavar="N", help="datagrams per recvmmsg/sendmmsg (default 32; 1: none)"
    )
    serving.add_argument("--transfer-allow", action="append", metavar="CIDR", help="clients allowed AXFR")
    serving.add_argument("--log-level", help="debug, info, warning or error")
    serving.add_argument(
        "--db", metavar="URL", help="SQLAlchemy URL (also GSLB_DB_URL; default sqlite:///gslb.sqlite)"
    )
    serving.add_argument(
        "--workers", type=int, metavar="N", help="processes answering on the same listeners (default 1)"
    )
    serving.add_argument(
        "--api-listen", metavar="ADDR:PORT", help='admin API address (default 127.0.0.1:8053; "off": none)'
    )
    # Internal: how the supervisor of --workers N starts worker I (settings come on stdin).
    serving.add_argument("--worker-index", type=int, help=argparse.SUPPRESS)

    apply = commands.add_parser("apply", help="make the store match the sites and pools declared in DIR")
    apply.add_argument("zones", nargs="?", default="zones", help="zone directory (default: zones)")
    apply.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    apply.add_argument("--config", type=Path, help="TOML settings file (also GSLB_CONFIG)")
    apply.add_argument("--db", metavar="URL", help="SQLAlchemy URL (also GSLB_DB_URL)")
    apply.add_argument(
        "--force", action="store_true", help="apply a plan that deletes or replaces more than the safe share"
    )
    apply.add_argument(
        "--max-safe-percent",
        type=float,
        default=DEFAULT_MAX_SAFE_PERCENT,
        metavar="PCENT",
        help="share of the stored pools, or of the members, that one apply may delete or replace"
        f" without --force (default {DEFAULT_MAX_SAFE_PERCENT:g})",
    )

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
        return apply_command(
            Path(args.zones), args.dry_run, args.config, args.db, args.force, args.max_safe_percent
        )
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


def apply_command(
    directory: Path,
    dry_run: bool,
    config: Path | None,
    url: str | None,
    force: bool = False,
    max_safe_percent: float = DEFAULT_MAX_SAFE_PERCENT,
) -> int:
    """Print the plan that makes the store match the declarations, then (unless dry run) apply it."""
    if not 0 <= max_safe_percent <= 100:
        print(f"gslb: --max-safe-percent must be within 0-100, got {max_safe_percent:g}", file=sys.stderr)
        return EXIT_USAGE
    try:
        settings = load(config, overrides={"db": url})
        zones = zonefile.load_zones(directory)
        desired = declared(directory, zones)
        with open_store(settings.db) as store:
            result = apply_declarations(
                store,
                desired,
                dry_run=dry_run,
                actor="gslb apply",
                force=force,
                max_safe_percent=max_safe_percent,
            )
            _, applied = store.load()
    except ConfigError as exc:
        print(f"gslb: configuration error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except UnsafePlanError as exc:
        print(exc.plan.render())
        print(f"gslb: refused, nothing applied:\n{exc}", file=sys.stderr)
        return EXIT_INVALID
    except (ZoneError, DeclarationError, StoreError) as exc:
        print(f"gslb: nothing applied:\n{exc}", file=sys.stderr)
        return EXIT_INVALID
    print(result.plan.render())
    if result.refused:
        print("\n".join(["gslb apply would refuse this plan:", *result.refused, "--force applies it anyway"]))
    if dry_run:
        print("dry run: nothing was changed")
        return EXIT_INVALID if result.refused else 0
    if not result.plan.empty:
        print(f"applied: store revision {result.revision}")
    bounds = settings.ttl_bounds
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
