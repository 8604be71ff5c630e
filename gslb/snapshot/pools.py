"""Compile pools into what the hot path answers from: a selector and one rendered answer per choice.

Each pool name gets, per address family (A for IPv4 members, AAAA for IPv6), a ``PoolAnswer``:
the policy's ``Selector`` and a parallel tuple of fully rendered answers, so a query costs one
``pick()`` and one tuple index on top of the static path. CNAME pools answer every common type
with one CNAME (followed inside the served zones, like any CNAME).

The pool names also appear in the zone data as ordinary RRsets (every enabled member), so the
general authoritative rules see them as existing names: other types get NODATA, not NXDOMAIN,
and ANY has something to show.
"""

from __future__ import annotations

import functools
import logging
import random
import socket
from collections.abc import Collection, Iterable, Mapping, Set
from dataclasses import dataclass, replace

import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.IN.A
import dns.rdtypes.IN.AAAA
import dns.rrset

from gslb.dns.authority import AAAA, CNAME, A, Catalog, Resolution, ZoneData, resolve
from gslb.dns.client import ClientKey
from gslb.dns.plain import rrset_wire
from gslb.dns.render import Answer, plain_answer, render
from gslb.dns.wire import RCODE_NOERROR
from gslb.model import AdminState, AllDown, Inventory, Member, Pool, PoolKind, Site
from gslb.snapshot.policy import Candidate, Selector, compile_selector, fail_open_candidates

log = logging.getLogger("gslb.pools")

IN = dns.rdataclass.IN
# Types a CNAME pool answers from its selector; anything else gets the general rules.
CNAME_POOL_TYPES = (A, AAAA, CNAME, dns.rdatatype.HTTPS, dns.rdatatype.TXT, dns.rdatatype.MX)
MAX_FALLBACK_DEPTH = 8
CACHE_SLACK = 4  # cached answers per pool, at most, between two full compiles


class StaticSelector:
    """One fixed answer (NODATA for an all-down pool, or a pool with a single choice)."""

    choices: tuple[tuple[int, ...], ...] = ((),)
    uses_client = False

    def pick(self, client: ClientKey | None) -> tuple[int, int]:
        return 0, 0


STATIC = StaticSelector()


@dataclass(frozen=True, slots=True)
class AddressChoices:
    """What an address pool's answers were rendered from, kept as addresses: the dnspython RRsets
    of a ``Resolution`` are made only when something asks for them (a static CNAME chain into the
    pool, the answer counters), never for the 100,000 pools a large node compiles at start."""

    owner: dns.name.Name
    rdtype: int
    ttl: int
    choices: tuple[tuple[str, ...], ...]

    def resolutions(self) -> tuple[Resolution, ...]:
        return tuple(
            Resolution(RCODE_NOERROR, True, (_rrset(self.owner, self.rdtype, self.ttl, addresses),))
            for addresses in self.choices
        )


@dataclass(frozen=True, slots=True)
class PoolAnswer:
    """A pool's answers to one question: ``answers[selector.pick(client)[0]]``."""

    pool: str
    selector: Selector
    answers: tuple[Answer, ...]
    uses_client: bool
    made_of: tuple[Resolution, ...] | AddressChoices  # what each answer was rendered from

    @property
    def resolutions(self) -> tuple[Resolution, ...]:
        made_of = self.made_of
        return made_of.resolutions() if isinstance(made_of, AddressChoices) else made_of

    def behind(self, qname: dns.name.Name, qtype: int, cnames: tuple[dns.rrset.RRset, ...]) -> PoolAnswer:
        """The answers for a static CNAME chain that ends at this pool's name: same selector, so
        the chain is balanced like the pool itself."""
        resolutions = tuple(replace(r, answer=cnames + r.answer) for r in self.resolutions)
        answers = tuple(render(qname, qtype, IN, r) for r in resolutions)
        return PoolAnswer(self.pool, self.selector, answers, self.uses_client, resolutions)


def pool_rrsets(inventory: Inventory) -> dict[dns.name.Name, list[dns.rrset.RRset]]:
    """Placeholder RRsets that make pool names exist for the general rules (every enabled member)."""
    placed: dict[dns.name.Name, list[dns.rrset.RRset]] = {}
    for pool in inventory.pools:
        enabled = [m for m in pool.members if m.state is AdminState.ENABLED] or list(pool.members)
        for text in pool.names:
            owner = owner_name(text)
            rrsets = placed.setdefault(owner, [])
            if pool.kind is PoolKind.CNAME:
                if enabled:
                    rrsets.append(_rrset(owner, CNAME, pool.ttl, [enabled[0].address]))
                continue
            for rdtype, version in ((A, 4), (AAAA, 6)):
                addresses = [m.address for m in enabled if _version(m.address) == version]
                if addresses:
                    rrsets.append(_rrset(owner, rdtype, pool.ttl, addresses))
    return placed


class PoolCompiler:
    """Compiles pools, remembering what it compiled so that one changed pool costs one pool.

    Selectors (a source_hash table costs milliseconds) are cached by their inputs, and whole
    address-pool answers by the pool's fallback chain, the health of its members and the sites; a
    full compile keeps only the answers it used (so the cache follows the inventory's size), and
    ``compile(..., only=...)`` compiles just the named pools, for an incremental update. One
    compiler serves one set of zone files: make a new one when they are reloaded (answers embed
    their SOA).
    """

    def __init__(self, rng: random.Random | None = None) -> None:
        self.rng = rng or random.Random()
        self._selectors: dict[tuple[object, ...], Selector | None] = {}
        self._answers: dict[tuple[object, ...], PoolAnswer | None] = {}

    def compile(
        self,
        inventory: Inventory,
        catalog: Catalog,
        down: Set[tuple[str, str]] = frozenset(),
        *,
        only: Collection[str] | None = None,
        pools: Mapping[str, Pool] | None = None,
    ) -> dict[tuple[dns.name.Name, int], PoolAnswer]:
        """Every (owner, qtype) a pool answers, with its selector and rendered answers.

        ``down`` holds the (pool, member address) pairs that health checks currently fail.
        ``only`` limits the work to the pools of those names (``pools``, the inventory's pools by
        name, saves indexing them again).
        """
        by_name = pools if pools is not None else {p.name: p for p in inventory.pools}
        down_by = down_by_pool(down)
        if len(self._selectors) > CACHE_SLACK * (len(by_name) + 1000):
            self._selectors.clear()  # selectors of pools long changed; what is in use comes back
        if only is None:
            targets: Iterable[Pool] = inventory.pools
            answers, self._answers = self._answers, {}
        else:
            targets = [by_name[name] for name in only if name in by_name]
            answers = {}
        compiled: dict[tuple[dns.name.Name, int], PoolAnswer] = {}
        for pool in targets:
            chain = fallback_chain(pool, by_name)
            health = tuple(down_by.get(link.name, frozenset()) for link in chain)
            for text in pool.names:
                owner = owner_name(text)
                zone = catalog.find(owner)
                if zone is None:
                    log.warning(
                        "pool name outside every served zone; not answered",
                        extra={"pool": pool.name, "owner": text},
                    )
                    continue
                for qtype in _pool_types(pool):
                    key = (chain, owner, qtype, health, inventory.sites)
                    if pool.kind is PoolKind.CNAME:
                        # CNAME pools follow their targets through the zones: never reused.
                        answer = self._compile(chain, owner, qtype, zone, catalog, inventory, down_by)
                    elif key in self._answers:
                        answer = self._answers[key]
                    elif key in answers:
                        answer = self._answers[key] = answers[key]
                    else:
                        answer = self._answers[key] = self._compile(
                            chain, owner, qtype, zone, catalog, inventory, down_by
                        )
                    if answer is not None:
                        compiled[owner, qtype] = answer
        if only is not None and len(self._answers) > CACHE_SLACK * (len(by_name) + 1000):
            self._answers.clear()  # incremental compiles only add; start afresh rather than grow
        return compiled

    def selector(
        self,
        candidates: list[Candidate],
        pool: Pool,
        count: int,
        sites: tuple[Site, ...],
    ) -> Selector | None:
        key = (tuple(candidates), pool.policy, count, sites, pool.site_order)
        if key not in self._selectors:
            self._selectors[key] = compile_selector(
                candidates, pool.policy, count, sites=sites, site_order=pool.site_order, rng=self.rng
            )
        return self._selectors[key]

    def _compile(
        self,
        chain: tuple[Pool, ...],
        owner: dns.name.Name,
        qtype: int,
        zone: ZoneData,
        catalog: Catalog,
        inventory: Inventory,
        down: Mapping[str, frozenset[str]],
    ) -> PoolAnswer | None:
        """The answer for one question, following all-down fallbacks; None: the family is absent."""
        pool = chain[0]
        for source in chain:
            members = _members_for(source, qtype)
            if not members and source is pool:
                return None  # e.g. AAAA for a pool without IPv6 members: the general rules say NODATA
            failing = down.get(source.name, frozenset())
            candidates = [Candidate.of(m, healthy=m.address not in failing) for m in members]
            count = 1 if source.kind is PoolKind.CNAME else source.count
            selector = self.selector(candidates, source, count, inventory.sites)
            if selector is None and source.all_down is AllDown.FAIL_OPEN:
                selector = self.selector(
                    list(fail_open_candidates(candidates)), source, count, inventory.sites
                )
            if selector is not None:
                if source.kind is PoolKind.ADDRESS:
                    # One address RRset at the question's own name: what render() makes of it, faster.
                    made = AddressChoices(
                        owner,
                        qtype,
                        source.ttl,
                        tuple(tuple(members[i].address for i in choice) for choice in selector.choices),
                    )
                    answers = tuple(_address_answer(qtype, source.ttl, chosen) for chosen in made.choices)
                    return PoolAnswer(pool.name, selector, answers, selector.uses_client, made)
                resolutions = tuple(
                    _cname_resolution(qtype, source, owner, members[choice[0]].address, catalog)
                    for choice in selector.choices
                )
                answers = tuple(render(owner, qtype, IN, r) for r in resolutions)
                return PoolAnswer(pool.name, selector, answers, selector.uses_client, resolutions)
            if source.all_down is not AllDown.FALLBACK:
                break
            log.warning(
                "pool all down; trying its fallback", extra={"pool": source.name, "fallback": source.fallback}
            )
        log.warning("pool all down; answering NODATA", extra={"pool": pool.name, "owner": owner.to_text()})
        nodata = Resolution(RCODE_NOERROR, True, (), (_soa_for(zone.negative_soa, pool.ttl),))
        return PoolAnswer(pool.name, STATIC, (render(owner, qtype, IN, nodata),), False, (nodata,))


def down_by_pool(down: Set[tuple[str, str]]) -> dict[str, frozenset[str]]:
    """The failing member addresses of each pool: a pool looks up its own, not the whole set."""
    grouped: dict[str, set[str]] = {}
    for pool, address in down:
        grouped.setdefault(pool, set()).add(address)
    return {pool: frozenset(addresses) for pool, addresses in grouped.items()}


def fallback_chain(pool: Pool, pools: Mapping[str, Pool]) -> tuple[Pool, ...]:
    """The pool, then the pools its all-down fallbacks lead to (loops cut, depth bounded)."""
    chain = [pool]
    while len(chain) < MAX_FALLBACK_DEPTH and chain[-1].all_down is AllDown.FALLBACK:
        following = pools.get(chain[-1].fallback or "")
        if following is None or following in chain:
            break
        chain.append(following)
    return tuple(chain)


def _pool_types(pool: Pool) -> tuple[int, ...]:
    """The types a pool's selector answers: an address pool's families are those of its own
    members (a family it lacks gets NODATA by the general rules, whatever its fallbacks hold)."""
    if pool.kind is PoolKind.CNAME:
        return CNAME_POOL_TYPES
    families = {_version(m.address) for m in pool.members}
    return tuple(qtype for qtype, version in ((A, 4), (AAAA, 6)) if version in families)


def _members_for(pool: Pool, qtype: int) -> list[Member]:
    if pool.kind is PoolKind.CNAME:
        return list(pool.members)
    version = 4 if qtype == A else 6
    return [m for m in pool.members if _version(m.address) == version]


def _version(address: str) -> int:
    """A member address's IP version: members hold valid addresses (the readers check them), and
    only IPv6 ones have a colon; ipaddress would parse each of them again at every build."""
    return 6 if ":" in address else 4


@functools.lru_cache(maxsize=1 << 18)
def owner_name(text: str) -> dns.name.Name:
    """A pool name's dnspython Name, canonical (lower case, as the readers store pool names
    anyway), made once however many builds and updates ask for it."""
    return dns.name.from_text(text).canonicalize()


def _cname_resolution(
    qtype: int, pool: Pool, owner: dns.name.Name, address: str, catalog: Catalog
) -> Resolution:
    """A CNAME pool's answer: its target, followed inside the served zones."""
    cname = _rrset(owner, CNAME, pool.ttl, [address])
    target = dns.name.from_text(address)
    rest: tuple[dns.rrset.RRset, ...] = ()
    if qtype != CNAME and catalog.find(target) is not None:
        rest = resolve(catalog, target, qtype).answer
    return Resolution(RCODE_NOERROR, True, (cname, *rest))


def _address_answer(rdtype: int, ttl: int, addresses: tuple[str, ...]) -> Answer:
    """What ``render_plain`` makes of these addresses as one RRset at the question's name, from
    each address's wire form parsed once for all pools and builds."""
    return plain_answer(rrset_wire(rdtype, ttl, map(_address_data, addresses)))


@functools.lru_cache(maxsize=1 << 18)
def _address_data(address: str) -> bytes:
    """The RDATA of one member address."""
    return socket.inet_pton(socket.AF_INET6 if ":" in address else socket.AF_INET, address)


def _soa_for(soa: dns.rrset.RRset, ttl: int) -> dns.rrset.RRset:
    """The zone's negative SOA, cached no longer than the pool's answers: resolvers must ask an
    all-down pool again as soon as they would ask a healthy one, or a member's return waits out
    the zone's negative TTL (RFC 2308: the SOA's TTL bounds how long NODATA is cached)."""
    if soa.ttl <= ttl:
        return soa
    shorter: dns.rrset.RRset = soa.copy()
    shorter.ttl = ttl
    return shorter


def _rrset(owner: dns.name.Name, rdtype: int, ttl: int, values: Iterable[str]) -> dns.rrset.RRset:
    """An RRset whose records keep the given order (the policy's order is the answer's order)."""
    rdatatype = dns.rdatatype.RdataType.make(rdtype)
    rrset = dns.rrset.RRset(owner, IN, rdatatype)
    rrset.ttl = ttl
    for value in values:
        # dnspython's sets are dicts of rdata; copying a cached one-entry dict keeps the rdata's
        # hash (its wire form, computed anew on every hash) instead of computing it again.
        rrset.items.update(_record(rdatatype, value))
    return rrset


@functools.lru_cache(maxsize=1 << 18)
def _record(rdtype: dns.rdatatype.RdataType, value: str) -> dict[dns.rdata.Rdata, None]:
    """One member's rdata, parsed once however many pools, choices and rebuilds show it."""
    if rdtype == A:
        rdata: dns.rdata.Rdata = dns.rdtypes.IN.A.A(IN, A, value)
    elif rdtype == AAAA:
        rdata = dns.rdtypes.IN.AAAA.AAAA(IN, AAAA, value)
    else:
        rdata = dns.rdata.from_text(IN, rdtype, value)
    return {rdata: None}
