"""The domain: sites, pools, their members and health checks, as immutable values.

These are what the store saves, what ``gslb apply`` compares, what the API shows and what the
snapshot builder compiles into answers. Validation of user input lives where the input is read
(declarative files, API); values here are assumed valid.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import NamedTuple

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class Policy(StrEnum):
    """How a pool chooses members for one answer (see gslb/snapshot/policy.py)."""

    ROUND_ROBIN = "round_robin"
    WEIGHTED = "weighted"
    RANDOM = "random"
    WEIGHTED_RANDOM = "weighted_random"
    SOURCE_HASH = "source_hash"
    TOPOLOGY = "topology"

    @property
    def sticky(self) -> bool:
        """Policies whose answer depends on the client: one address per answer by default."""
        return self in (Policy.SOURCE_HASH, Policy.TOPOLOGY)


class AllDown(StrEnum):
    """What a pool answers when no member is available."""

    FAIL_OPEN = "fail_open"  # every enabled member, as if all were healthy
    FALLBACK = "fallback"  # the answer of the pool named in ``fallback``
    NODATA = "nodata"  # an empty answer with the zone's SOA


class AdminState(StrEnum):
    """An operator's decision about a member, independent of health."""

    ENABLED = "enabled"
    # Kept, healthy or not; answered at the floor TTL until the caches that may hold it have
    # expired, then given no new answers (gslb/snapshot/ttl.py).
    DRAINED = "drained"
    DISABLED = "disabled"  # out of service


class LvsMode(StrEnum):
    """How the site's LVS director forwards to its real servers (informative)."""

    NAT = "nat"
    DR = "dr"
    TUN = "tun"


class PoolKind(StrEnum):
    ADDRESS = "address"  # members are IPv4/IPv6 VIPs, answered as A/AAAA
    CNAME = "cname"  # members are host names, answered as a CNAME (one per answer)


class CheckType(StrEnum):
    """How a check learns whether a member is up."""

    TCP = "tcp"  # a TCP connect to the port
    HTTP = "http"
    HTTPS = "https"
    PASSIVE = "passive"  # not probed: results are pushed in from outside (the admin API)

    @property
    def probed(self) -> bool:
        return self is not CheckType.PASSIVE


class HealthOverride(StrEnum):
    """An operator's verdict that replaces the checks' (drain and disable live in AdminState)."""

    FORCE_UP = "force_up"  # always up, whatever the checks say
    FORCE_DOWN = "force_down"  # always down


DEFAULT_POOL_TTL = 30
MAX_WEIGHT = 1000


class TtlBounds(NamedTuple):
    """The range every pool's TTL is kept within: the settings ``pool_ttl_floor`` and
    ``pool_ttl_ceiling``, with the defaults a server runs with.

    The floor is also what an unsettled or draining pool answers with. One second, not zero: zero
    asks every resolver to ask again for every client, so an incident would multiply the query
    load exactly when the operator wants a quiet server.
    """

    floor: int = 1
    ceiling: int = 300


DEFAULT_TTL_BOUNDS = TtlBounds()

# Check defaults, tuned for fast withdrawal of a dead VIP, since answers live on in resolver
# caches for the pool TTL on top of detection time: a member is withdrawn within
# fall x interval + timeout (about 5 s) of dying. A timeout of half the interval leaves room for
# the next check on time and is still 10x a healthy LAN/WAN round trip. Two results each way
# (not one) is the least that absorbs a single lost packet or slow response without flapping.
DEFAULT_INTERVAL = 2.0
DEFAULT_TIMEOUT = 1.0
DEFAULT_RISE = 2
DEFAULT_FALL = 2
# Each check fires interval x (1 +- jitter): checks that started together (a restart, a bulk
# apply) drift apart within a few rounds instead of hitting targets and the loop in lockstep.
DEFAULT_JITTER = 0.1
DEFAULT_EXPECT = ((200, 399),)  # inclusive HTTP status ranges that count as healthy


@dataclass(frozen=True, slots=True)
class Site:
    """One location, fronted by one or more LVS VIPs."""

    name: str
    region: str = ""
    description: str = ""
    subnets: tuple[IPNetwork, ...] = ()  # client networks this site serves best (topology)
    lvs_mode: LvsMode | None = None
    vips: tuple[IPAddress, ...] = ()


@dataclass(frozen=True, slots=True)
class Check:
    """A named health check: how to probe a member, how often, and how many results count.

    The address probed is always the member's; ``port``, ``host`` and ``sni`` only say where
    and as what. Overrides of a pool and of a member change the port and the timing
    (``effective_check``).
    """

    name: str
    type: CheckType
    port: int | None = None  # None: 80 for http, 443 for https (tcp needs one; passive has none)
    method: str = "GET"
    path: str = "/"
    host: str | None = None  # Host header; None: the member address (and port, if not default)
    expect: tuple[tuple[int, int], ...] = DEFAULT_EXPECT  # inclusive status ranges
    body: str | None = None  # a substring the response body must contain
    sni: str | None = None  # TLS server name; None: the Host header's name
    verify_tls: bool = True
    interval: float = DEFAULT_INTERVAL  # seconds between checks of one member
    timeout: float = DEFAULT_TIMEOUT  # seconds one check may take, less than interval
    rise: int = DEFAULT_RISE  # consecutive successes that bring a DOWN member back
    fall: int = DEFAULT_FALL  # consecutive failures that take a member DOWN
    jitter: float = DEFAULT_JITTER  # fraction of the interval, 0 <= jitter < 1

    @property
    def target_port(self) -> int | None:
        """The port probed: ``port``, else the scheme's; None for a passive check."""
        if self.port is not None or not self.type.probed:
            return self.port
        return 443 if self.type is CheckType.HTTPS else 80


@dataclass(frozen=True, slots=True)
class CheckOverrides:
    """A pool's or a member's values for some of its check's parameters; None: not overridden."""

    port: int | None = None
    interval: float | None = None
    timeout: float | None = None
    rise: int | None = None
    fall: int | None = None

    @property
    def empty(self) -> bool:
        return self == CheckOverrides()

    def applied_to(self, check: Check) -> Check:
        """``check`` with these values in place of its own."""
        if self.empty:
            return check
        changes = {name: getattr(self, name) for name in OVERRIDABLE if getattr(self, name) is not None}
        return replace(check, **changes)


OVERRIDABLE = ("port", "interval", "timeout", "rise", "fall")


@dataclass(frozen=True, slots=True)
class Member:
    """One VIP (or CNAME target) of one site in one pool."""

    site: str
    address: str  # canonical text: an IP address, or an absolute host name for CNAME pools
    weight: int = 100  # 0..MAX_WEIGHT; 0 = never chosen, but kept
    priority: int = 0  # tier: the lowest tier with an available member answers
    state: AdminState = AdminState.ENABLED
    check_overrides: CheckOverrides = CheckOverrides()  # beat the pool's and the check's
    override: HealthOverride | None = None  # replaces the checks' verdict
    # When the store saw the member become DRAINED (epoch seconds): the store's to set, never
    # declared, so left out of comparisons (a declaration equals what the store holds).
    drained_at: float | None = field(default=None, compare=False)

    @property
    def key(self) -> str:
        """Identity within a pool: one address appears once per pool."""
        return self.address


@dataclass(frozen=True, slots=True)
class Pool:
    """The answer set for one or more names."""

    name: str
    names: tuple[str, ...]  # absolute, lower-case owner names inside served zones
    kind: PoolKind = PoolKind.ADDRESS
    policy: Policy = Policy.WEIGHTED
    answer_count: int | None = None  # None: 1 for sticky policies, 2 otherwise
    ttl: int = DEFAULT_POOL_TTL
    all_down: AllDown = AllDown.FAIL_OPEN
    fallback: str | None = None  # pool name, with all_down = fallback
    health_check: str | None = None  # name of the Check its members are checked with
    check_overrides: CheckOverrides = CheckOverrides()  # for every member, beating the check's
    site_order: tuple[str, ...] = ()  # topology: preference of sites after the client's own
    members: tuple[Member, ...] = field(default=())

    @property
    def count(self) -> int:
        """Addresses per answer, with the policy's default applied."""
        if self.answer_count is not None:
            return self.answer_count
        return 1 if self.policy.sticky else 2


@dataclass(frozen=True, slots=True)
class Inventory:
    """Everything declared: what ``gslb apply`` makes the store match, and what the store holds."""

    sites: tuple[Site, ...] = ()
    pools: tuple[Pool, ...] = ()
    checks: tuple[Check, ...] = ()

    def normalized(self) -> Inventory:
        """The same content in one canonical order, so equal content compares equal."""
        pools = (
            replace(
                p, names=tuple(sorted(p.names)), members=tuple(sorted(p.members, key=lambda m: m.address))
            )
            for p in self.pools
        )
        return Inventory(
            sites=tuple(sorted(self.sites, key=lambda s: s.name)),
            pools=tuple(sorted(pools, key=lambda p: p.name)),
            checks=tuple(sorted(self.checks, key=lambda c: c.name)),
        )

    def site(self, name: str) -> Site | None:
        return next((s for s in self.sites if s.name == name), None)

    def pool(self, name: str) -> Pool | None:
        return next((p for p in self.pools if p.name == name), None)

    def check(self, name: str) -> Check | None:
        return next((c for c in self.checks if c.name == name), None)


def effective_check(check: Check, pool: Pool, member: Member) -> Check:
    """The check as it runs for one member: the member's overrides beat the pool's, which beat
    the check's own values."""
    return member.check_overrides.applied_to(pool.check_overrides.applied_to(check))
