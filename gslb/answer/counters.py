"""What the data path counts, at one dict lookup per answer, and what those counts mean.

Counting must cost the hot path next to nothing (a query is about a microsecond of Python), so
``respond()`` never builds labels: it looks up, in ``Counters.live``, a key it already holds, and
increments one slot of the list found there (one per choice of a pool's answer, one for the
rest). Keys become labels (rcode, qtype, pool; pool and member) only when someone asks, from the
snapshot that answered them:

- ``bytes``: the question key of a precomputed answer (its hash is cached by the table lookup);
  a pool's slots are the choices its policy picked, so they tell the members handed out;
- ``int``, ``flags << 16 | qtype``: an answer made outside the tables (the negative templates:
  NXDOMAIN, NODATA, REFUSED for foreign zones), whose flags carry the rcode;
- ``(int, int)``: ``(rcode, qtype)`` of an error or a slow-path answer; qtype ``NO_QUESTION``
  when the query had no readable question, ``UNASSIGNED`` for any type without a mnemonic.

So ``live`` stays bounded between two takes by the snapshot's tables, plus at most three negative
templates' flags times 65,536 qtypes (about 25 MB, for a client cycling through every type),
plus a few hundred slow-path keys.

A question key means something only together with the snapshot it was answered from, so the
snapshot's swap takes the live counts away first and translates them with the snapshot that
answered them (``take``, then ``attribute``); a scrape does the same with the current one. Totals
are plain mappings of label tuples, which outlive every snapshot and serialise as they are
(``Totals.document``): the workers of ``--workers N`` can send theirs to one place to be summed.

No lock anywhere: the UDP threads count while the event loop takes and translates. Taking
replaces the live dict whole and copies the old one before reading it (a C-level copy the GIL
keeps atomic), so reading never fails on a dict changing size, and a count racing a take lands
in a dict or list nobody reads again: a lost count, never a crash nor a count twice. A query in
flight across a swap (a thread still answering from the old snapshot, counting into the new
dict) is translated with the newer snapshot: where the two disagree about that name, it counts
under the newer labels, or, for a name gone or a choice past the pool's new ones, not at all.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import dns.name
import dns.rcode
import dns.rdatatype

from gslb.dns.authority import CNAME
from gslb.dns.render import Answer
from gslb.snapshot.pools import PoolAnswer
from gslb.snapshot.snapshot import Snapshot

CountKey = bytes | int | tuple[int, int]
QueryLabels = tuple[str, str, str]  # rcode, qtype, pool ("" for answers no pool made)
AnswerLabels = tuple[str, str]  # pool, member address (or CNAME target) handed out

NO_QUESTION = -1
UNASSIGNED = 0x10000  # every qtype outside QTYPES, on the slow paths
OTHER = "other"  # every label value outside the known sets: the series stay bounded
RCODES: dict[int, str] = {int(r): dns.rcode.to_text(r) for r in dns.rcode.Rcode}
QTYPES: dict[int, str] = {int(t): dns.rdatatype.to_text(t) for t in dns.rdatatype.RdataType}

FULL = "full"
DELTA = "delta"
REBUILD_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
"""Upper bounds in seconds: a delta takes milliseconds, a full build of 100,000 pools seconds."""


def qtype_label(qtype: int) -> str:
    """The type's mnemonic; ``""`` without a question, ``other`` for unassigned numbers."""
    if qtype == NO_QUESTION:
        return ""
    return QTYPES.get(qtype, OTHER)


def rcode_label(rcode: int) -> str:
    return RCODES.get(rcode, OTHER)


def answer_rcode(answer: Answer) -> int:
    """The rcode an answer's flags index carries (see ``wire.flags_index``)."""
    return answer.flags >> 3 & 0xF


@dataclass(frozen=True, slots=True)
class Totals:
    """Counts by label since the process started: what /metrics shows, in a shape that crosses
    process boundaries (``document()``) so that several workers' totals can be added up."""

    queries: Mapping[QueryLabels, int] = field(default_factory=dict)
    answers: Mapping[AnswerLabels, int] = field(default_factory=dict)

    def document(self) -> dict[str, list[list[Any]]]:
        return {
            "queries": [[*labels, count] for labels, count in sorted(self.queries.items())],
            "answers": [[*labels, count] for labels, count in sorted(self.answers.items())],
        }

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> Totals:
        queries = {(str(r), str(t), str(p)): int(n) for r, t, p, n in document["queries"]}
        answers = {(str(p), str(m)): int(n) for p, m, n in document["answers"]}
        return cls(queries, answers)

    @classmethod
    def sum(cls, parts: Iterable[Totals]) -> Totals:
        """Several processes' totals as one node's: the counts of each label added up."""
        queries: dict[QueryLabels, int] = {}
        answers: dict[AnswerLabels, int] = {}
        for part in parts:
            for labels, count in part.queries.items():
                queries[labels] = queries.get(labels, 0) + count
            for handed, count in part.answers.items():
                answers[handed] = answers.get(handed, 0) + count
        return cls(queries, answers)


def first_count(counters: Counters, key: CountKey, index: int, choices: int) -> None:
    """Count ``key`` where the responder's plain increment found no slot: its first answer (one
    slot per choice of a pool, one for anything else), or a choice the slots made for another
    snapshot's pool do not have (a query in flight across a swap: not counted)."""
    live = counters.live
    counts = live.get(key)
    if counts is None:
        counts = live[key] = [0] * choices
    if index < len(counts):
        counts[index] += 1


def count_one(counters: Counters, rcode: int, qtype: int) -> None:
    """One more answer off the fast path (errors, rare questions, transfers). Unassigned types
    share one key here, where that costs nothing, so no stream of odd queries grows ``live``."""
    key = (rcode, qtype if qtype in QTYPES or qtype == NO_QUESTION else UNASSIGNED)
    try:
        counters.live[key][0] += 1
    except LookupError:
        first_count(counters, key, 0, 1)


class Counters:
    """One process's query counts: ``live`` for the responder, totals by label for everyone else.

    ``live`` maps each key to a list of counts, one per choice of a pool's answer (index 0 for
    everything else): one dict lookup and a list increment per query, no tuple to build.
    """

    __slots__ = ("_answers", "_queries", "live")

    def __init__(self) -> None:
        self.live: dict[CountKey, list[int]] = {}
        self._queries: dict[QueryLabels, int] = {}
        self._answers: dict[AnswerLabels, int] = {}

    def take(self) -> dict[CountKey, list[int]]:
        """The counts since the last take; the responder counts into a fresh dict from now on."""
        taken, self.live = self.live, {}
        return dict(taken)  # one C-level copy: no thread can change its size while it is read

    def attribute(self, counted: Mapping[CountKey, list[int]], snapshot: Snapshot) -> None:
        """Add ``counted`` to the totals, reading each key as ``snapshot`` (which answered it) means it."""
        queries = self._queries
        for key, counts in counted.items():
            if isinstance(key, bytes):
                self._attribute_answer(key, counts, snapshot)
                continue
            if isinstance(key, int):
                labels = rcode_label(key >> 19 & 0xF), qtype_label(key & 0xFFFF), ""
            else:
                labels = rcode_label(key[0]), qtype_label(key[1]), ""
            queries[labels] = queries.get(labels, 0) + sum(counts)

    def _attribute_answer(self, key: bytes, counts: list[int], snapshot: Snapshot) -> None:
        found = snapshot.dynamic.get(key) or snapshot.answers.get(key)
        if found is None:
            return  # answered by a snapshot that had this name; this one has not (see above)
        qtype = qtype_label(key[-4] << 8 | key[-3])
        if not isinstance(found, PoolAnswer):
            labels = rcode_label(answer_rcode(found)), qtype, ""
            self._queries[labels] = self._queries.get(labels, 0) + sum(counts)
            return
        for index, count in enumerate(counts[: len(found.answers)]):
            if count:
                labels = rcode_label(answer_rcode(found.answers[index])), qtype, found.pool
                self._queries[labels] = self._queries.get(labels, 0) + count
                for member in handed_out(snapshot, found, index):
                    handed = (found.pool, member)
                    self._answers[handed] = self._answers.get(handed, 0) + count

    def fold(self, snapshot: Snapshot) -> None:
        """Translate the counts so far with ``snapshot``, the one answering now (a scrape)."""
        self.attribute(self.take(), snapshot)

    def totals(self) -> Totals:
        return Totals(dict(self._queries), dict(self._answers))


def handed_out(snapshot: Snapshot, pool: PoolAnswer, index: int) -> tuple[str, ...]:
    """The member addresses (CNAME targets) in choice ``index`` of ``pool``'s answers.

    They are the records owned by one of the pool's names: a static CNAME chain leading to the pool
    comes before them, and what a CNAME pool's target resolves to inside the zones after them.
    An all-down fallback's members count under the pool that was asked.
    """
    served = snapshot.pools.get(pool.pool)
    owners = {dns.name.from_text(name) for name in served.names} if served is not None else set()
    addresses: list[str] = []
    for rrset in pool.resolutions[index].answer:
        if rrset.name in owners:
            if rrset.rdtype == CNAME:
                addresses.extend(rdata.target.to_text() for rdata in rrset)
            else:
                addresses.extend(rdata.address for rdata in rrset)
    return tuple(addresses)


@dataclass(slots=True)
class RebuildTimes:
    """How long the snapshots this process swapped in took to build, by kind (full or delta)."""

    last: dict[str, float] = field(default_factory=dict)  # kind → seconds of the latest
    buckets: dict[str, list[int]] = field(default_factory=dict)  # kind → count per REBUILD_BUCKETS (+ rest)
    sums: dict[str, float] = field(default_factory=dict)

    def record(self, kind: str, seconds: float) -> None:
        counts = self.buckets.get(kind)
        if counts is None:
            counts = self.buckets[kind] = [0] * (len(REBUILD_BUCKETS) + 1)
        counts[bisect.bisect_left(REBUILD_BUCKETS, seconds)] += 1
        self.sums[kind] = self.sums.get(kind, 0.0) + seconds
        self.last[kind] = seconds

    def swapped(self, old: Snapshot | None, new: Snapshot) -> None:
        """Record ``new``, which replaces ``old``: a delta when it shares ``old``'s static table.

        ``snapshot.update`` copies only the small dynamic layer and keeps the large ``answers``
        table of the snapshot it starts from; ``snapshot.build`` always makes a new one.
        """
        kind = DELTA if old is not None and new.answers is old.answers else FULL
        self.record(kind, new.build_seconds)

    def document(self) -> dict[str, dict[str, Any]]:
        return {
            "last": dict(self.last),
            "buckets": {k: list(v) for k, v in self.buckets.items()},
            "sums": dict(self.sums),
        }

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> RebuildTimes:
        """The times ``document()`` wrote; ValueError if a kind's buckets are not REBUILD_BUCKETS'."""
        buckets = {str(kind): [int(n) for n in counts] for kind, counts in document["buckets"].items()}
        if any(len(counts) != len(REBUILD_BUCKETS) + 1 for counts in buckets.values()):
            raise ValueError(f"rebuild times need {len(REBUILD_BUCKETS) + 1} buckets per kind")
        last = {str(kind): float(seconds) for kind, seconds in document["last"].items()}
        sums = {str(kind): float(seconds) for kind, seconds in document["sums"].items()}
        if set(sums) != set(buckets):
            raise ValueError("rebuild times need a sum for each kind with buckets, and only those")
        return cls(last, buckets, sums)

    def past(self) -> RebuildTimes:
        """The counts and sums without ``last``: what a process that is gone leaves to its node's
        totals (its latest build time says nothing about the processes answering now)."""
        return RebuildTimes({}, {k: list(v) for k, v in self.buckets.items()}, dict(self.sums))

    @classmethod
    def sum(cls, parts: Iterable[RebuildTimes]) -> RebuildTimes:
        """Several processes' builds as one node's: counts and sums added; of each kind's latest
        build time the longest, since the slowest process is the one a dashboard must see."""
        summed = cls()
        for part in parts:
            for kind, counts in part.buckets.items():
                mine = summed.buckets.setdefault(kind, [0] * len(counts))
                summed.buckets[kind] = [a + b for a, b in zip(mine, counts, strict=True)]
                summed.sums[kind] = summed.sums.get(kind, 0.0) + part.sums.get(kind, 0.0)
            for kind, seconds in part.last.items():
                summed.last[kind] = max(seconds, summed.last.get(kind, seconds))
        return summed
