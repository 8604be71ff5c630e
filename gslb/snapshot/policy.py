"""Balancing policies: which members of a pool answer a query, compiled ahead of time.

A pool's answer is a small tuple of distinct members, chosen by its policy among the members
that may answer now. The hot path can afford only a handful of Python operations per query
(ARCHITECTURE.md, "What the hot path can reach in Python"), so everything is decided when a
snapshot is built, and a query does one ``next()``, one table index, or one hash and index.

Two layers:

1. Pure functions of a candidate list, for tests and for the compile step: ``eligible``
   (priority tiers), ``smooth_weighted_order`` (nginx smooth weighted round robin), ``bucket_of``
   and ``rendezvous_rank`` (weighted rendezvous hashing), and ``match_subnet`` (topology, the slow
   reference of the compiled tables). The client key they take is read off the query by
   gslb/dns/client.py.
2. ``compile_selector(candidates, policy, count, sites=..., site_order=..., rng=...)`` returns a
   ``Selector``, or None when no candidate is available (all-down handling is the caller's; see
   ``fail_open_candidates``). A selector has:

   - ``choices``: every distinct tuple of candidate indices it can return, each tuple holding
     ``min(count, candidates in the tier)`` distinct members, first address first. The snapshot
     builder renders one answer per choice, in a parallel tuple.
   - ``pick(client) -> (choice index, ECS scope prefix)``: O(1) per query.
   - ``uses_client``: False when the answer does not depend on the client, so the responder
     need not compute a ``ClientKey`` at all (``pick(None)`` is then the whole story).

Candidate indices are positions in the list given to ``compile_selector``, so the builder maps
them back to its members; ``fail_open_candidates`` keeps positions, so the same rendered
members serve a fail-open selector. In use::

    candidates = [Candidate.of(m, healthy=...) for m in pool.members]
    selector = compile_selector(candidates, pool.policy, pool.count, sites=inventory.sites,
                                site_order=pool.site_order)            # None: all down
    answers = tuple(render(choice) for choice in selector.choices)     # the builder's job
    # per query:
    client = client_key(source_address, ecs, 24, 56) if selector.uses_client else None
    index, scope = selector.pick(client)      # answers[index]; echo ECS with ``scope``

Policies and the ECS scope their answers are true for (RFC 7871 7.2.1):

- ``round_robin``: one cycle of the N rotations of the tier; the order itself rotates. Scope 0.
- ``weighted``: a cycle over one period of smooth weighted round robin (sum of weights / gcd
  picks); each entry is the next ``count`` distinct members of the sequence from that pick, so
  the first address follows the weights exactly and the others are weighted too. Scope 0.
- ``random``: uniform over every ordered choice of ``count`` members (over the N rotations when
  there would be more than ``MAX_PERMUTATIONS``). Scope 0.
- ``weighted_random``: uniform over the entries of the weighted period, so the first address is
  member i with probability weight_i / sum of weights. Scope 0.
- ``source_hash``: the client key hashes (CRC-32, stable everywhere) into one of ``BUCKETS``
  buckets; each bucket's members are ranked once by weighted rendezvous hashing (SHAKE-128,
  stable across processes and machines). Removing a member moves only the buckets it led.
  Scope: the prefix length of the key.
- ``topology``: the most specific site subnet containing the client's key network picks the
  site; its members come first (rotated by weight), then other sites in ``site_order``, then the
  remaining sites by name. Scope: the matched subnet's prefix length, or the key's prefix when a
  subnet of another site lies inside the matched one (the answer then depends on more bits).
  Clients matching no subnet get the weighted answer; its scope is the key's prefix (true: the
  answer is a function of the key, and the key decided that no subnet matched), or 0 when no
  site has a subnet of the client's address family. Subnets longer than a key's prefix cannot be
  decided from the key and do not match it.

Cycles start at a random offset (``rng``), so frequent snapshot rebuilds and many workers do not
all begin with the same member. Selectors hold their cursor (an ``itertools.cycle``); each worker
process has its own, and ``next()`` on a cycle is atomic under the GIL.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import random
import struct
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache, reduce
from typing import Protocol, TypeVar

from gslb.dns.client import FAMILY_BITS, FAMILY_IPV4, FAMILY_IPV6, ClientKey
from gslb.model import AdminState, IPNetwork, Member, Policy, Site

BUCKETS = 4096  # source_hash: a bucket is 1/4096 of the clients; a power of two for a mask
_BUCKET_MASK = BUCKETS - 1
# CRC-32 is affine in its input bits, so its low bits alone can leave whole buckets empty for
# structured keys (measured: /24s stepping by 8 filled half of them); multiplying by 2^32 / phi
# and taking bits 20-31 of the product mixes every bit of the CRC into the bucket.
_FIBONACCI = 0x9E3779B1
MAX_PERMUTATIONS = 1024  # random: beyond this many ordered choices, rotations only
_T = TypeVar("_T")
_crc32 = zlib.crc32  # a module-level alias: one global lookup per query


@dataclass(frozen=True, slots=True)
class Candidate:
    """One member as a policy sees it: identity, weight, tier, site, and whether it may answer."""

    key: str  # stable identity within the pool (the member address): source_hash ranks by it
    weight: int
    priority: int
    site: str
    enabled: bool = True  # the operator's decision (drained or disabled: False)
    healthy: bool = True

    @classmethod
    def of(cls, member: Member, healthy: bool) -> Candidate:
        return cls(
            member.key,
            member.weight,
            member.priority,
            member.site,
            member.state is AdminState.ENABLED,
            healthy,
        )

    @property
    def available(self) -> bool:
        """Weight 0 is "kept, never chosen", so it counts as unavailable for tier selection too."""
        return self.enabled and self.healthy and self.weight > 0


class Selector(Protocol):
    """A compiled policy for one pool and one set of candidates (see the module docstring)."""

    @property
    def choices(self) -> tuple[tuple[int, ...], ...]: ...

    @property
    def uses_client(self) -> bool: ...

    def pick(self, client: ClientKey | None) -> tuple[int, int]: ...


# --- pure functions -------------------------------------------------------------------------


def eligible(candidates: Sequence[Candidate]) -> tuple[int, ...]:
    """Indices of the available candidates in the lowest tier that has any; () if none has.

    Tiers are decided before any policy: a higher tier answers only when every member of the
    lower ones is down, drained, disabled or weighted 0.
    """
    tiers = [c.priority for c in candidates if c.available]
    if not tiers:
        return ()
    tier = min(tiers)
    return tuple(i for i, c in enumerate(candidates) if c.available and c.priority == tier)


def fail_open_candidates(candidates: Sequence[Candidate]) -> tuple[Candidate, ...]:
    """The same candidates, in the same positions, all considered healthy.

    For pools that fail open when every member is down: an operator's drain or disable and a
    weight of 0 still hold, health does not.
    """
    return tuple(c if c.healthy else replace(c, healthy=True) for c in candidates)


def smooth_weighted_order(weights: Sequence[int]) -> list[int]:
    """One period of nginx's smooth weighted round robin, as indices into ``weights``.

    Each pick adds every weight to its member's current value, takes the largest (the first
    one on ties, as nginx does) and subtracts the total from it. Weights are divided by their
    gcd first, which leaves the sequence unchanged and shortens the period to sum / gcd.
    Weight 0 never appears; all zero gives an empty period.
    """
    divisor = reduce(math.gcd, weights, 0)
    if divisor == 0:
        return []
    reduced = [w // divisor for w in weights]
    total = sum(reduced)
    current = [0] * len(reduced)
    order = []
    for _ in range(total):
        current = [c + w for c, w in zip(current, reduced, strict=True)]
        best = current.index(max(current))
        current[best] -= total
        order.append(best)
    return order


def bucket_of(key: bytes) -> int:
    """The source_hash bucket of a client key (inlined in ``HashSelector.pick``)."""
    return (zlib.crc32(key) * _FIBONACCI >> 20) & _BUCKET_MASK


def rendezvous_rank(bucket: int, member_keys: Sequence[str], weights: Sequence[int]) -> list[int]:
    """Indices of the members, best first, for one bucket by weighted rendezvous hashing.

    A member's score for a bucket is weight / -ln(u), with u uniform in (0, 1) drawn from the
    member's own SHAKE-128 stream: it depends only on that member, so removing one member
    changes no other member's score, and only the buckets it led move. Shares follow weights.
    """
    scores = [_score(u, w) for u, w in zip(_bucket_uniforms(member_keys, bucket + 1), weights, strict=True)]
    return _rank([s[bucket] for s in scores])


def match_subnet(client: ClientKey, site_subnets: Iterable[tuple[IPNetwork, str]]) -> tuple[str, int] | None:
    """The site of the most specific subnet containing the client's network, and the true scope.

    The reference the compiled topology table is tested against; linear, so never per query.
    Scope is the subnet's prefix length unless a subnet of another site lies inside it, in which
    case the answer depends on more bits and the key's own prefix is the scope. Same network in
    two sites: the first site by name wins.
    """
    subnets = _usable_subnets(site_subnets)
    network = client.network()
    matches = [
        (net, site)
        for net, site in subnets
        if net.version == network.version and net.prefixlen <= network.prefixlen and network.subnet_of(net)  # type: ignore[arg-type]
    ]
    if not matches:
        return None
    net, site = max(matches, key=lambda match: match[0].prefixlen)
    return site, client.scope if _has_nested(net, site, subnets) else net.prefixlen


# --- compile step ---------------------------------------------------------------------------


def compile_selector(
    candidates: Sequence[Candidate],
    policy: Policy,
    count: int,
    *,
    sites: Iterable[Site] = (),
    site_order: Sequence[str] = (),
    rng: random.Random | None = None,
) -> Selector | None:
    """Precompute every answer ``policy`` can give from ``candidates``; None if none is available.

    ``count`` is the pool's addresses per answer; answers hold ``min(count, tier size)``
    members. ``sites`` and ``site_order`` matter to topology only. ``rng`` seeds the random
    policies and the cycles' start offsets (tests pass a seeded one).
    """
    if count < 1:
        raise ValueError(f"answer count must be at least 1, not {count}")
    tier = eligible(candidates)
    if not tier:
        return None
    rng = rng if rng is not None else random.Random()
    size = min(count, len(tier))
    if policy is Policy.ROUND_ROBIN:
        return CycleSelector(_rotations(tier, size), rng)
    if policy is Policy.WEIGHTED:
        return CycleSelector(_weighted_entries(tier, candidates, size), rng)
    if policy is Policy.RANDOM:
        if math.perm(len(tier), size) <= MAX_PERMUTATIONS:
            return RandomSelector(list(itertools.permutations(tier, size)), rng)
        return RandomSelector(_rotations(tier, size), rng)
    if policy is Policy.WEIGHTED_RANDOM:
        return RandomSelector(_weighted_entries(tier, candidates, size), rng)
    if policy is Policy.SOURCE_HASH:
        return HashSelector(_bucket_entries(tier, candidates, size))
    if policy is Policy.TOPOLOGY:
        return TopologySelector(tier, candidates, size, sites, site_order, rng)
    raise ValueError(f"unknown policy {policy!r}")


class CycleSelector:
    """round_robin and weighted: the next entry of a precomputed period, whoever asks."""

    __slots__ = ("_cycle", "choices")
    uses_client = False

    def __init__(self, entries: Sequence[tuple[int, ...]], rng: random.Random) -> None:
        self.choices, indices = _intern(entries)
        pairs = [(i, 0) for i in range(len(self.choices))]
        self._cycle = _cycle_from([pairs[i] for i in indices], rng)

    def pick(self, client: ClientKey | None) -> tuple[int, int]:
        return next(self._cycle)


class RandomSelector:
    """random and weighted_random: a uniform draw from a table (weights are in its repetitions)."""

    __slots__ = ("_random", "_size", "_table", "choices")
    uses_client = False

    def __init__(self, entries: Sequence[tuple[int, ...]], rng: random.Random) -> None:
        self.choices, indices = _intern(entries)
        pairs = [(i, 0) for i in range(len(self.choices))]
        self._table = tuple(pairs[i] for i in indices)
        self._size = len(self._table)
        self._random = rng.random

    def pick(self, client: ClientKey | None) -> tuple[int, int]:
        # random() and an index are C calls; random.choice would run _randbelow in Python.
        return self._table[int(self._random() * self._size)]


class HashSelector:
    """source_hash: the client key's bucket, ranked at compile time. No client: bucket of b''."""

    __slots__ = ("_table", "choices")
    uses_client = True

    def __init__(self, entries: Sequence[tuple[int, ...]]) -> None:
        self.choices, indices = _intern(entries)
        self._table = tuple(indices)

    def pick(self, client: ClientKey | None) -> tuple[int, int]:
        if client is None:
            return self._table[0], 0
        key, scope = client
        return self._table[(_crc32(key) * _FIBONACCI >> 20) & _BUCKET_MASK], scope


class TopologySelector:
    """topology: per family, the subnet prefix lengths (longest first), each a dict of networks.

    A lookup tries each distinct prefix length no longer than the key's: a handful of dict
    lookups for real site plans. A hit holds the site's cycle and its scope (-1: the key's).
    """

    __slots__ = ("_fallback", "_levels", "choices")
    uses_client = True

    def __init__(
        self,
        tier: Sequence[int],
        candidates: Sequence[Candidate],
        size: int,
        sites: Iterable[Site],
        site_order: Sequence[str],
        rng: random.Random,
    ) -> None:
        subnets = _usable_subnets((net, site.name) for site in sites for net in site.subnets)
        by_site: dict[str, list[int]] = {}
        for i in tier:
            by_site.setdefault(candidates[i].site, []).append(i)
        preference = [s for s in dict.fromkeys(site_order) if s in by_site]
        preference += sorted(s for s in by_site if s not in preference)
        entries: dict[str | None, Sequence[tuple[int, ...]]] = {
            None: _weighted_entries(tier, candidates, size)
        }
        for _, site in subnets:
            if site not in entries:
                entries[site] = _site_entries(site, by_site, preference, candidates, size)
        self.choices, indices = _intern(e for site_entries in entries.values() for e in site_entries)
        cycles: dict[str | None, Iterator[int]] = {}
        start = 0
        for owner, site_entries in entries.items():
            cycles[owner] = _cycle_from(indices[start : start + len(site_entries)], rng)
            start += len(site_entries)
        self._fallback = cycles[None]
        sites_of: dict[tuple[int, int, int], str] = {}  # (family, prefix length, network >> host bits)
        for net, site in subnets:
            sites_of[_subnet_key(net, net.prefixlen)] = site
        lengths = {
            family: sorted({length for f, length, _ in sites_of if f == family}) for family in FAMILY_BITS
        }
        nested = set()  # subnets with another site's subnet inside: their scope is the key's
        for net, site in subnets:
            family = FAMILY_IPV4 if net.version == 4 else FAMILY_IPV6
            for length in lengths[family]:
                if length < net.prefixlen:
                    outer = _subnet_key(net, length)
                    if sites_of.get(outer, site) != site:
                        nested.add(outer)
        levels: dict[int, dict[int, dict[int, tuple[Iterator[int], int]]]] = {f: {} for f in FAMILY_BITS}
        for (family, length, network), site in sites_of.items():
            scope = -1 if (family, length, network) in nested else length
            levels[family].setdefault(length, {})[network] = (cycles[site], scope)
        # Indexed by the key's first byte, the family: a tuple index is cheaper than a dict lookup.
        self._levels = ((), *(tuple(sorted(levels[f].items(), reverse=True)) for f in FAMILY_BITS))

    def pick(self, client: ClientKey | None) -> tuple[int, int]:
        if client is None:
            return next(self._fallback), 0
        key, prefix = client
        levels = self._levels[key[0]]
        if not levels:
            return next(self._fallback), 0  # no subnet of this family: the answer ignores the client
        address = int.from_bytes(key[2:])
        bits = 8 * len(key) - 16
        for length, table in levels:
            if length <= prefix:
                hit = table.get(address >> (bits - length))
                if hit is not None:
                    return next(hit[0]), prefix if hit[1] < 0 else hit[1]
        return next(self._fallback), prefix


# --- compile helpers ------------------------------------------------------------------------


def _intern(entries: Iterable[tuple[int, ...]]) -> tuple[tuple[tuple[int, ...], ...], list[int]]:
    """Distinct tuples in first-seen order, and each entry's index among them."""
    index: dict[tuple[int, ...], int] = {}
    positions = [index.setdefault(entry, len(index)) for entry in entries]
    return tuple(index), positions


def _cycle_from(period: Sequence[_T], rng: random.Random) -> Iterator[_T]:
    start = rng.randrange(len(period))
    return itertools.cycle([*period[start:], *period[:start]])


def _rotations(tier: Sequence[int], size: int) -> tuple[tuple[int, ...], ...]:
    return _rotations_of(tuple(tier), size)


@lru_cache(maxsize=4096)
def _rotations_of(tier: tuple[int, ...], size: int) -> tuple[tuple[int, ...], ...]:
    """Cached: a large node's pools come in a few shapes, and the entries depend on nothing else."""
    n = len(tier)
    return tuple(tuple(tier[(i + j) % n] for j in range(size)) for i in range(n))


def _weighted_entries(
    tier: Sequence[int], candidates: Sequence[Candidate], size: int
) -> tuple[tuple[int, ...], ...]:
    return _weighted_entries_of(tuple(tier), tuple(candidates[i].weight for i in tier), size)


@lru_cache(maxsize=4096)
def _weighted_entries_of(
    tier: tuple[int, ...], weights: tuple[int, ...], size: int
) -> tuple[tuple[int, ...], ...]:
    """Per pick of one SWRR period: the next ``size`` distinct members of the sequence from there.

    Swept backwards over two periods keeping members ordered by their next occurrence (move to
    front), so the cost is period x members, not period x distance to the next distinct one.
    Cached like ``_rotations_of``: the tier's weights decide it, not who the members are.
    """
    sequence = [tier[i] for i in smooth_weighted_order(list(weights))]
    period = len(sequence)
    upcoming: list[int] = []
    entries: list[tuple[int, ...]] = [()] * period
    for position in range(2 * period - 1, -1, -1):
        member = sequence[position % period]
        if member in upcoming:
            upcoming.remove(member)
        upcoming.insert(0, member)
        if position < period:
            entries[position] = tuple(upcoming[:size])
    return tuple(entries)


def _site_entries(
    site: str,
    by_site: Mapping[str, Sequence[int]],
    preference: Sequence[str],
    candidates: Sequence[Candidate],
    size: int,
) -> list[tuple[int, ...]]:
    """The site's own members rotated by weight, then other sites' in preference order to fill."""
    others = [
        i
        for other in preference
        if other != site
        for i in sorted(by_site[other], key=lambda i: (-candidates[i].weight, candidates[i].key))
    ]
    own = by_site.get(site)
    if not own:
        return [tuple(others[:size])]
    return [(entry + tuple(others))[:size] for entry in _weighted_entries(own, candidates, len(own))]


def _bucket_entries(tier: Sequence[int], candidates: Sequence[Candidate], size: int) -> list[tuple[int, ...]]:
    """Every bucket's top ``size`` members by weighted rendezvous (see ``rendezvous_rank``)."""
    keys = [candidates[i].key for i in tier]
    uniforms = _bucket_uniforms(keys, BUCKETS)
    scores = [_score(u, candidates[i].weight) for u, i in zip(uniforms, tier, strict=True)]
    if size == 1:  # the default for sticky pools: an argmax in C per bucket
        return [(tier[column.index(max(column))],) for column in zip(*scores, strict=True)]
    return [tuple(tier[m] for m in _rank(column)[:size]) for column in zip(*scores, strict=True)]


def _bucket_uniforms(member_keys: Sequence[str], buckets: int) -> list[tuple[int, ...]]:
    """For each member, ``buckets`` 64-bit draws from SHAKE-128 of its key (FIPS 202: same everywhere)."""
    layout = struct.Struct(f"<{buckets}Q")
    return [layout.unpack(hashlib.shake_128(key.encode()).digest(8 * buckets)) for key in member_keys]


def _score(draws: Sequence[int], weight: int) -> list[float]:
    """weight / -ln(u) per draw, u = the draw's top 53 bits as a float strictly inside (0, 1)."""
    return [weight / -math.log(((d >> 11) + 0.5) * 2.0**-53) for d in draws]


def _rank(scores: Sequence[float]) -> list[int]:
    """Best score first. Exact ties would need two equal 53-bit draws: not a practical concern."""
    return sorted(range(len(scores)), key=scores.__getitem__, reverse=True)


def _subnet_key(net: IPNetwork, length: int) -> tuple[int, int, int]:
    """(ECS family, length, the first ``length`` bits of ``net`` as an int): a topology table key."""
    family = FAMILY_IPV4 if net.version == 4 else FAMILY_IPV6
    return family, length, int(net.network_address) >> (net.max_prefixlen - length)


def _has_nested(net: IPNetwork, site: str, subnets: Iterable[tuple[IPNetwork, str]]) -> bool:
    """Whether a subnet of another site lies inside ``net``: then matching ``net`` says less."""
    return any(
        other_site != site and other.version == net.version and other != net and other.subnet_of(net)  # type: ignore[arg-type]
        for other, other_site in subnets
    )


def _usable_subnets(site_subnets: Iterable[tuple[IPNetwork, str]]) -> list[tuple[IPNetwork, str]]:
    """Subnets with their site, one site per network: the first by site name."""
    chosen: dict[IPNetwork, str] = {}
    for net, site in sorted(site_subnets, key=lambda pair: pair[1]):
        chosen.setdefault(net, site)
    return list(chosen.items())
