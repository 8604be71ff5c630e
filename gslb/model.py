"""The domain: sites, pools and their members, as immutable values.

These are what the store saves, what ``gslb apply`` compares, what the API shows and what the
snapshot builder compiles into answers. Validation of user input lives where the input is read
(declarative files, API); values here are assumed valid.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field, replace
from enum import StrEnum

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class Policy(StrEnum):
    """How a pool chooses members for one answer (see gslb/policy.py)."""

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
    DRAINED = "drained"  # kept, healthy or not, but given no new answers
    DISABLED = "disabled"  # out of service


class LvsMode(StrEnum):
    """How the site's LVS director forwards to its real servers (informative)."""

    NAT = "nat"
    DR = "dr"
    TUN = "tun"


class PoolKind(StrEnum):
    ADDRESS = "address"  # members are IPv4/IPv6 VIPs, answered as A/AAAA
    CNAME = "cname"  # members are host names, answered as a CNAME (one per answer)


DEFAULT_POOL_TTL = 30
MAX_WEIGHT = 1000


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
class Member:
    """One VIP (or CNAME target) of one site in one pool."""

    site: str
    address: str  # canonical text: an IP address, or an absolute host name for CNAME pools
    weight: int = 100  # 0..MAX_WEIGHT; 0 = never chosen, but kept
    priority: int = 0  # tier: the lowest tier with an available member answers
    state: AdminState = AdminState.ENABLED

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
    health_check: str | None = None  # name of a check (health issue)
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
        )

    def site(self, name: str) -> Site | None:
        return next((s for s in self.sites if s.name == name), None)

    def pool(self, name: str) -> Pool | None:
        return next((p for p in self.pools if p.name == name), None)
