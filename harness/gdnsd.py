"""gdnsd 3.8 as a reference authoritative server with pools, for bench/ (and the tests, when they want it).

gdnsd serves copies of the zone files, each named after its zone in ``zones/``, with every pool of the
declarations (``pools.toml``, read by gslb's own reader) as a ``weighted`` plugin resource behind a ``DYNA``
(address pools) or ``DYNC`` (CNAME pools) record. The members are not monitored (gdnsd's built-in ``up``
service type), like a gslb store whose members have no health check.

gdnsd's ``weighted`` plugin has no "N addresses per answer": in its single mode it returns one address, in
its multi mode every address of the largest weight (and the others by odds). A pool that answers k of its
n members (1 < k < n) is therefore written as groups, one per k-member combination, in grouped-single mode:
gdnsd picks one group (odds by its summed weight) and returns all of its members, so every answer has
exactly k addresses. For equal weights that is gslb's distribution (each member in k/n of the answers); for
unequal ones an approximation. Beyond gdnsd's 64 groups the pool falls back to multi mode.

Monitored pools, as gdnsd's own users write them (the stale-cache experiment, bench/stale.py), are given
directly: ``http_status`` service types (``HttpStatusService``) and ``multifo`` resources
(``MultifoResource``) over them; the zone files carry their ``DYNA`` lines themselves.
"""

from __future__ import annotations

import itertools
import math
import os
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from gslb.declare.apply import declared
from gslb.dns.zonefile import load_zones
from gslb.model import AdminState, Inventory, Member, Pool, PoolKind
from harness.knot import ZoneSource
from harness.process import HOST, ServerProcess

GDNSD_SEARCH_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/local/sbin"])
"""Debian installs gdnsd in /usr/sbin, which is not on PATH for every user."""
MAX_ITEMS = 64
"""gdnsd's limit of addresses or groups at one level of a weighted resource."""
MAX_GDNSD_WEIGHT = 2**20 - 1
_NOT_A_LABEL = re.compile(r"[^A-Za-z0-9_]")


def which_gdnsd() -> str | None:
    """The path of gdnsd, looked up on PATH and in the sbin directories; None when it is not installed."""
    return shutil.which("gdnsd", path=GDNSD_SEARCH_PATH)


@dataclass(frozen=True, slots=True)
class WeightedPools:
    """The pools as gdnsd data: the ``weighted`` plugin's resources and the DYNA/DYNC lines per zone."""

    resources: tuple[str, ...]
    """``name => { ... }`` stanzas, one per pool, for ``plugins => { weighted => { ... } }``."""
    zone_lines: dict[str, tuple[str, ...]]
    """Zone origin (absolute) -> the records to append to its file."""


def resource_name(pool: Pool) -> str:
    return _NOT_A_LABEL.sub("_", pool.name) + "_pool"


def _answering(members: Sequence[Member]) -> list[Member]:
    # gdnsd needs weights > 0; gslb never answers a member of weight 0 or one that is not enabled.
    return [m for m in members if m.weight > 0 and m.state is AdminState.ENABLED]


def _address_stanza(members: Sequence[Member], count: int) -> str:
    """One family's members, returning ``count`` addresses per answer where gdnsd can (module docstring)."""
    entries = [f"m{i} => [ {m.address}, {m.weight} ]" for i, m in enumerate(members, 1)]
    if count == 1:
        return "{ multi => false, " + ", ".join(entries) + " }"
    if count >= len(members):
        # Every member in every answer: multi mode with equal weights includes them all.
        return (
            "{ multi => true, "
            + ", ".join(f"m{i} => [ {m.address}, 1 ]" for i, m in enumerate(members, 1))
            + " }"
        )
    if math.comb(len(members), count) > MAX_ITEMS:
        return "{ multi => true, " + ", ".join(entries) + " }"
    groups = []
    for number, group in enumerate(itertools.combinations(members, count), 1):
        # Equal weights inside a group make multi mode return the whole group; the group's odds follow
        # the sum of its members' weights.
        weight = min(sum(m.weight for m in group), MAX_GDNSD_WEIGHT)
        inner = ", ".join(f"m{i} => [ {m.address}, {weight} ]" for i, m in enumerate(group, 1))
        groups.append(f"g{number} => {{ {inner} }}")
    return "{ multi => false, " + ", ".join(groups) + " }"


def pool_resource(pool: Pool) -> str | None:
    """The ``weighted`` resource for one pool; None when no member can answer."""
    members = _answering(pool.members)
    if not members:
        return None
    if pool.kind is PoolKind.CNAME:
        entries = ", ".join(f"m{i} => [ {m.address}, {m.weight} ]" for i, m in enumerate(members, 1))
        return f"{resource_name(pool)} => {{ {entries} }}"
    families = []
    for key, family in (
        ("addrs_v4", [m for m in members if ":" not in m.address]),
        ("addrs_v6", [m for m in members if ":" in m.address]),
    ):
        if family:
            families.append(f"{key} => {_address_stanza(family, pool.count)}")
    return f"{resource_name(pool)} => {{ {', '.join(families)} }}"


def weighted_pools(inventory: Inventory, origins: Sequence[str]) -> WeightedPools:
    """Each pool of ``inventory`` as a ``weighted`` resource, referenced from the zones it has names in."""
    resources = []
    zone_lines: dict[str, list[str]] = {origin: [] for origin in origins}
    for pool in inventory.pools:
        resource = pool_resource(pool)
        if resource is None:
            continue
        resources.append(resource)
        rdtype = "DYNC" if pool.kind is PoolKind.CNAME else "DYNA"
        for owner in pool.names:
            for origin in origins:
                if owner == origin or owner.endswith("." + origin):
                    zone_lines[origin].append(f"{owner} {pool.ttl} {rdtype} weighted!{resource_name(pool)}")
    return WeightedPools(tuple(resources), {origin: tuple(lines) for origin, lines in zone_lines.items()})


@dataclass(frozen=True, slots=True)
class HttpStatusService:
    """A ``service_types`` entry of gdnsd's ``http_status`` monitor: ``GET url_path`` on ``port``.

    Every field is written out, because gdnsd's defaults (interval 10 s, down_thresh 10, up_thresh 20)
    are far slower than anything a comparison with gslb wants. ``timeout`` must be less than ``interval``
    (so 2 s and 1 s are the fastest useful pair); both are whole seconds. A monitored address goes DOWN
    after ``down_thresh`` failed polls without ``ok_thresh`` successes in a row between them, and UP again
    after ``up_thresh`` successes in a row.
    """

    name: str
    port: int = 80
    url_path: str = "/"
    interval: int = 10
    timeout: int = 5
    up_thresh: int = 20
    ok_thresh: int = 10
    down_thresh: int = 10

    def stanza(self) -> str:
        return (
            f"{self.name} => {{ plugin => http_status, port => {self.port}, url_path => {self.url_path}, "
            f"interval => {self.interval}, timeout => {self.timeout}, up_thresh => {self.up_thresh}, "
            f"ok_thresh => {self.ok_thresh}, down_thresh => {self.down_thresh} }}"
        )


@dataclass(frozen=True, slots=True)
class MultifoResource:
    """A ``multifo`` resource: every address not DOWN in each answer (gdnsd rotates their order).

    ``up_thresh`` is the resource's fraction (not the service type's count): when fewer than
    ``ceil(up_thresh x addresses)`` are up, gdnsd answers all of them instead.
    """

    name: str
    addresses: tuple[tuple[str, str], ...]  # (label, IPv4 address); labels name the monitored entries
    service_types: tuple[str, ...] = ("up",)
    up_thresh: float = 0.5

    def stanza(self) -> str:
        types = ", ".join(self.service_types)
        entries = ", ".join(f"{label} => {address}" for label, address in self.addresses)
        return (
            f"{self.name} => {{ service_types => [ {types} ], up_thresh => {self.up_thresh:g}, {entries} }}"
        )


def render_config(
    workdir: Path,
    host: str,
    port: int,
    pools: WeightedPools,
    services: Sequence[HttpStatusService] = (),
    multifo: Sequence[MultifoResource] = (),
) -> str:
    """gdnsd's ``config``: one UDP and one TCP thread, run and state directories in workdir."""
    lines = [
        "options => {",
        f"  listen => [ {host}:{port} ]",
        "  udp_threads => 1",
        "  tcp_threads => 1",
        f"  run_dir => {workdir / 'run'}",
        f"  state_dir => {workdir / 'state'}",
        "}",
    ]
    if services:
        lines += ["service_types => {", *(f"  {service.stanza()}" for service in services), "}"]
    plugins: list[str] = []
    if pools.resources:
        plugins += ["  weighted => {", *(f"    {r}" for r in pools.resources), "  }"]
    if multifo:
        plugins += ["  multifo => {", *(f"    {resource.stanza()}" for resource in multifo), "  }"]
    if plugins:
        lines += ["plugins => {", *plugins, "}"]
    return "\n".join(lines) + "\n"


class GdnsdServer(ServerProcess):
    """``gdnsd -c DIR start`` (gdnsd 3 stays in the foreground) on copies of the zone files, with the pools
    of ``declarations`` (a directory holding ``pools.toml``, as for ``gslb serve``) as weighted resources,
    and any monitored ``multifo`` resources over ``services`` (the zone files hold their DYNA lines).

    ``port`` 0 picks a free port; any other is used as given (port 53 of its own address, for a child a
    resolver reaches through a delegation)."""

    name = "gdnsd"
    start_timeout = 10.0
    probe_tcp = True
    port_taken_markers = ("Address already in use",)

    def __init__(
        self,
        zones: Sequence[ZoneSource],
        gdnsd: str,
        declarations: Path | None = None,
        host: str = HOST,
        *,
        port: int = 0,
        prefix: Sequence[str] = (),
        services: Sequence[HttpStatusService] = (),
        multifo: Sequence[MultifoResource] = (),
    ) -> None:
        super().__init__(host, port, prefix)
        self.zones = tuple(zones)
        self.services = tuple(services)
        self.multifo = tuple(multifo)
        self.gdnsd = gdnsd
        origins = [zone.origin.rstrip(".") + "." for zone in self.zones]
        inventory = Inventory() if declarations is None else declared(declarations, load_zones(declarations))
        self.pools = weighted_pools(inventory, origins)

    def prepare(self) -> None:
        zone_dir = self.rundir / "zones"
        for directory in (zone_dir, self.rundir / "run", self.rundir / "state"):
            directory.mkdir()
        for zone in self.zones:
            origin = zone.origin.rstrip(".") + "."
            extra = "".join(line + "\n" for line in self.pools.zone_lines.get(origin, ()))
            text = zone.path.read_text()
            # gdnsd names each zone after its file.
            (zone_dir / origin.rstrip(".")).write_text(text + ("" if text.endswith("\n") else "\n") + extra)

    def command(self) -> list[str]:
        config = render_config(self.rundir, self.host, self.port, self.pools, self.services, self.multifo)
        (self.rundir / "config").write_text(config)
        return [self.gdnsd, "-c", str(self.rundir), "start"]

    def probe_zones(self) -> Sequence[str]:
        return [zone.origin for zone in self.zones]

    def failure(self) -> str | None:
        # gdnsd exits on a bad config or zone, which start() sees; a "fatal:" line names the reason sooner.
        for line in self.log.splitlines():
            if line.startswith("fatal:"):
                return f"gdnsd: {line}"
        return None
