"""The stale-cache experiment of the health issue (issue 5): how long a real resolver keeps handing out a
dead VIP, with gslb as the child zone's server and with a plain round-robin zone served by Knot.

The chain, all on loopback, each server on port 53 of its own address (a resolver follows a delegation
to port 53 only):

    client ──► Unbound 127.0.53.10 ──stub──► Knot 127.0.53.1 (example.test: gslb NS ns1.gslb + glue)
                                     └─────► 127.0.53.3 (gslb.example.test): gslb, or Knot (www: 3 A records)
    client ──HTTP──► the answer: one of three backends 127.0.53.21/22/23 port 80

A client asks Unbound for ``www.gslb.example.test A`` every ``period`` and connects to the first address
it gets. After a warm-up, one backend is killed (for gslb: the one in a fresh answer, which then sits in
the resolver's cache for the whole TTL, so the run measures the worst case); after ``down_for`` seconds it
is restored. From the samples: the withdrawal window (from the kill to the last answer still holding the
dead address), the failed connects, and the restore delay (from the restore to the first answer holding
it again). ``bench/stale_window.py`` prints them; ``tests/integration/test_end_to_end.py`` asserts them.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

import dns.exception
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype

from tests.servers.gslb import GslbProcess
from tests.servers.http_backend import HTTP_PORT, HttpBackend
from tests.servers.knot import KnotServer, ZoneSource
from tests.servers.unbound import DNS_PORT, RESOLVER_HOST, StubZone, UnboundServer

REPO_ROOT = Path(__file__).resolve().parent.parent
PARENT_HOST = "127.0.53.1"
CHILD_HOST = "127.0.53.3"
BACKENDS = {"b1": "127.0.53.21", "b2": "127.0.53.22", "b3": "127.0.53.23"}
PARENT_ZONE = "example.test"
CHILD_ZONE = "gslb.example.test"
QNAME = f"www.{CHILD_ZONE}."
POOL = "www"
CHECK_NAME = "web"
RR_TTL = 300
QUERY_TIMEOUT = 1.0
CONNECT_TIMEOUT = 0.5
ACTOR = "stale-window"


class Child(StrEnum):
    """Who serves gslb.example.test: gslb with a pool, or Knot with a plain round-robin RRset."""

    GSLB = "gslb"
    RR = "rr"


@dataclass(frozen=True, slots=True)
class HealthCheck:
    """The HTTP check gslb runs on the pool's members, and what its timing allows."""

    interval: float = 1.0
    timeout: float = 0.5
    rise: int = 2
    fall: int = 2

    @property
    def down_detection(self) -> float:
        """Longest time from a death to the member being withdrawn: ``fall`` checks, the last timing out."""
        return self.fall * self.interval + self.timeout

    @property
    def up_detection(self) -> float:
        return self.rise * self.interval + self.timeout

    def toml(self, name: str) -> str:
        return (
            f"[checks.{name}]\n"
            'type = "http"\n'
            f"port = {HTTP_PORT}\n"
            'path = "/"\n'
            f"interval = {self.interval}\n"
            f"timeout = {self.timeout}\n"
            f"rise = {self.rise}\n"
            f"fall = {self.fall}\n"
        )


# --- the zones -------------------------------------------------------------------------------------------

SOA_TIMERS = "1 3600 600 604800 5"  # serial refresh retry expire minimum (negative answers: 5 s)


def parent_zone() -> str:
    return (
        f"$ORIGIN {PARENT_ZONE}.\n$TTL 3600\n"
        f"@ IN SOA ns hostmaster {SOA_TIMERS}\n"
        "@ IN NS ns\n"
        f"ns IN A {PARENT_HOST}\n"
        "gslb IN NS ns1.gslb\n"
        f"ns1.gslb IN A {CHILD_HOST}\n"
    )


def child_zone(child: Child) -> str:
    """The child zone: for gslb only its apex (www comes from the pool), for Knot www as three A records."""
    text = (
        f"$ORIGIN {CHILD_ZONE}.\n$TTL 3600\n"
        f"@ IN SOA ns1 hostmaster {SOA_TIMERS}\n"
        "@ IN NS ns1\n"
        f"ns1 IN A {CHILD_HOST}\n"
    )
    if child is Child.RR:
        text += "".join(f"www {RR_TTL} IN A {address}\n" for address in BACKENDS.values())
    return text


def pools_toml(ttl: int, check: HealthCheck | None) -> str:
    """One site per backend and the pool www over their VIPs: round robin, one address per answer."""
    lines: list[str] = []
    if check is not None:
        lines += [check.toml(CHECK_NAME)]
    for name, address in BACKENDS.items():
        lines += [f"[sites.{name}]", f'vips = ["{address}"]', ""]
    lines += [
        f"[pools.{POOL}]",
        f'names = ["{QNAME.rstrip(".")}"]',
        'policy = "round_robin"',
        "answer_count = 1",
        f"ttl = {ttl}",
        'all_down = "fail_open"',
    ]
    if check is not None:
        lines += [f'health_check = "{CHECK_NAME}"']
    lines += ["members = ["]
    lines += [f'  {{ site = "{name}", address = "{address}" }},' for name, address in BACKENDS.items()]
    lines += ["]"]
    return "\n".join(lines) + "\n"


# --- the chain -------------------------------------------------------------------------------------------


def bind_problem(port: int = DNS_PORT) -> str | None:
    """Why the chain's servers could not have their addresses (port 53, and 80 for the backends); None if
    they can. Binding port 53 needs root (or CAP_NET_BIND_SERVICE); another server may hold it too."""
    wanted = [(host, port) for host in (PARENT_HOST, CHILD_HOST, RESOLVER_HOST)]
    wanted += [(host, HTTP_PORT) for host in BACKENDS.values()]
    for host, number in wanted:
        for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
            with socket.socket(socket.AF_INET, kind) as sock:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    sock.bind((host, number))
                except OSError as exc:
                    return f"cannot bind {host} port {number}: {exc.strerror or exc}"
    return None


@dataclass(slots=True)
class Chain:
    """The running chain: the backends by address, and the store of gslb (None with the Knot child)."""

    child: Child
    backends: dict[str, HttpBackend]
    resolver: UnboundServer
    child_server: GslbProcess | KnotServer
    db_url: str | None


@contextlib.contextmanager
def running_chain(
    child: Child, knotd: str, unbound: str, *, ttl: int = 5, check: HealthCheck | None = None
) -> Iterator[Chain]:
    """Start the backends, the child, the parent and Unbound (in that order, so each finds the next one
    up), yield the chain, and stop everything by its PID however the block ends."""
    with contextlib.ExitStack() as stack:
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="stale-")))
        backends = {address: HttpBackend(name, address) for name, address in BACKENDS.items()}
        for backend in backends.values():
            stack.enter_context(backend)
        zones = scratch / "zones"
        zones.mkdir()
        (zones / f"{CHILD_ZONE}.zone").write_text(child_zone(child))
        db_url: str | None = None
        child_server: GslbProcess | KnotServer
        if child is Child.GSLB:
            (zones / "pools.toml").write_text(pools_toml(ttl, check))
            db_url = f"sqlite:///{scratch / 'gslb.sqlite'}"
            child_server = GslbProcess(
                zones,
                extra_args=["--db", db_url],
                host=CHILD_HOST,
                port=DNS_PORT,
                probe_zone=f"{CHILD_ZONE}.",
                workdir=REPO_ROOT,
            )
        else:
            child_server = KnotServer(
                [ZoneSource(CHILD_ZONE, zones / f"{CHILD_ZONE}.zone")], knotd, CHILD_HOST, port=DNS_PORT
            )
        stack.enter_context(child_server)
        parent_file = scratch / f"{PARENT_ZONE}.zone"
        parent_file.write_text(parent_zone())
        stack.enter_context(
            KnotServer([ZoneSource(PARENT_ZONE, parent_file)], knotd, PARENT_HOST, port=DNS_PORT)
        )
        resolver = stack.enter_context(UnboundServer([StubZone(PARENT_ZONE, PARENT_HOST)], unbound))
        yield Chain(child, backends, resolver, child_server, db_url)


# --- the client ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Sample:
    """One round of the client: what the resolver answered and whether the first address took a GET."""

    at: float  # seconds since the start of the run (monotonic clock)
    addresses: tuple[str, ...]
    ttl: int | None
    rcode: str
    connected: bool
    detail: str  # "backend b1", "refused", "timeout", "no address", ...


def resolve(
    resolver: str, qname: str = QNAME, port: int = DNS_PORT
) -> tuple[str, tuple[str, ...], int | None]:
    """Ask the resolver (recursion desired) for ``qname`` A: rcode, the addresses in answer order, TTL."""
    query = dns.message.make_query(qname, dns.rdatatype.A)
    try:
        response = dns.query.udp(query, resolver, port=port, timeout=QUERY_TIMEOUT)
    except (OSError, dns.exception.DNSException) as exc:
        return type(exc).__name__, (), None
    addresses: tuple[str, ...] = ()
    ttl = None
    for rrset in response.answer:
        if rrset.rdtype == dns.rdatatype.A:
            addresses = tuple(rdata.to_text() for rdata in rrset)
            ttl = rrset.ttl
    return dns.rcode.to_text(response.rcode()), addresses, ttl


def http_get(address: str, port: int = HTTP_PORT) -> tuple[bool, str]:
    """One ``GET /`` on a new connection: whether it returned 200, and the body's first line or the error."""
    connection = http.client.HTTPConnection(address, port, timeout=CONNECT_TIMEOUT)
    try:
        connection.request("GET", "/")
        response = connection.getresponse()
        body = response.read().decode(errors="replace").strip()
        return response.status == 200, body or f"HTTP {response.status}"
    except ConnectionRefusedError:
        return False, "refused"
    except TimeoutError:
        return False, "timeout"
    except (OSError, http.client.HTTPException) as exc:
        return False, type(exc).__name__
    finally:
        connection.close()


# --- the experiment --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Scenario:
    """How one run goes: its phases' lengths, and whether to kill the backend of a fresh answer."""

    label: str
    child: Child
    ttl: int
    down_for: float  # seconds from the kill to the restore
    restore_limit: float  # seconds after the restore to wait for the backend to be served again
    kill_fresh: bool  # wait (at most ttl + 1 s) for an answer with its full TTL and kill its address
    check: HealthCheck | None = None
    child_probe_after: float | None = None
    """When to ask the child server itself (seconds after the kill; None: just before the restore)."""
    warmup: float = 1.5
    period: float = 0.1


@dataclass(frozen=True, slots=True)
class Withdrawer:
    """What withdraws or restores a member beside the health checks: called right after the kill and
    the restore. The default does nothing (the checks must notice); ``store_stand_in`` writes the store."""

    on_kill: Callable[[str], None] = lambda address: None
    on_restore: Callable[[str], None] = lambda address: None


def store_stand_in(db_url: str) -> Withdrawer:
    """Disable the member in gslb's store at the kill and enable it at the restore, as a monitor with no
    detection time would: what is left of the window is the resolver's cache, about the pool TTL."""
    from gslb.model import AdminState  # noqa: PLC0415 - bench/ only needs gslb for this stand-in
    from gslb.store import open_store  # noqa: PLC0415

    def write(address: str, state: AdminState) -> None:
        store = open_store(db_url)
        try:
            store.patch_member(POOL, address, ACTOR, state=state)
        finally:
            store.dispose()

    return Withdrawer(
        on_kill=lambda address: write(address, AdminState.DISABLED),
        on_restore=lambda address: write(address, AdminState.ENABLED),
    )


@dataclass(frozen=True, slots=True)
class ChildProbe:
    """The addresses the child server itself handed out, asked directly (no cache), at ``at`` after the kill.

    A resolver alone cannot tell a withdrawn member from one whose turn has not come round again: with one
    address per answer, the resolver fetches one member per TTL, so a dead member still in the rotation
    reappears only every few TTLs. Asking the child once per member (twice over) settles it.
    """

    at: float
    addresses: frozenset[str]


def probe_child(host: str, rounds: int = 2, port: int = DNS_PORT) -> frozenset[str]:
    """Every address the authoritative server answers for QNAME over ``rounds`` x members queries."""
    seen: set[str] = set()
    for _ in range(rounds * len(BACKENDS)):
        query = dns.message.make_query(QNAME, dns.rdatatype.A, flags=0)
        try:
            response = dns.query.udp(query, host, port=port, timeout=QUERY_TIMEOUT)
        except (OSError, dns.exception.DNSException):
            continue
        for rrset in response.answer:
            if rrset.rdtype == dns.rdatatype.A:
                seen.update(rdata.to_text() for rdata in rrset)
    return frozenset(seen)


@dataclass(frozen=True, slots=True)
class Run:
    """The samples of one run and its events, with the figures computed from them."""

    scenario: Scenario
    samples: tuple[Sample, ...]
    victim: str
    killed_at: float
    restored_at: float | None
    ended_at: float
    child_probe: ChildProbe | None = None

    @property
    def child_still_serves(self) -> bool:
        """Whether the child server itself still handed out the dead address when asked directly."""
        return self.child_probe is not None and self.victim in self.child_probe.addresses

    def is_down(self, at: float) -> bool:
        """Whether the victim's backend was dead at ``at``: after the kill, before the restore."""
        return self.killed_at <= at and (self.restored_at is None or at < self.restored_at)

    def _down(self) -> list[Sample]:
        end = self.restored_at if self.restored_at is not None else self.ended_at
        return [s for s in self.samples if self.killed_at <= s.at < end]

    @property
    def last_dead_answer(self) -> float | None:
        """Seconds from the kill to the last answer (before the restore) holding the dead address."""
        dead = [s.at for s in self._down() if self.victim in s.addresses]
        return dead[-1] - self.killed_at if dead else None

    @property
    def still_served_at_end(self) -> bool:
        """Whether the last answer before the restore still held the dead address: the window is open."""
        down = self._down()
        return bool(down) and self.victim in down[-1].addresses

    @property
    def withdrawal_window(self) -> float:
        """From the kill to the last answer holding the dead address (0 if none did); a lower bound when
        ``still_served_at_end``."""
        return self.last_dead_answer or 0.0

    @property
    def observed_for(self) -> float:
        """How long after the kill the client watched before the restore."""
        down = self._down()
        return down[-1].at - self.killed_at if down else 0.0

    @property
    def failed_connects(self) -> int:
        return sum(1 for s in self._down() if not s.connected)

    @property
    def down_samples(self) -> int:
        return len(self._down())

    @property
    def restore_delay(self) -> float | None:
        """From the restore to the first answer holding the address again; None if none did."""
        if self.restored_at is None:
            return None
        back = [s.at for s in self.samples if s.at >= self.restored_at and self.victim in s.addresses]
        return back[0] - self.restored_at if back else None


def run_experiment(
    chain: Chain,
    scenario: Scenario,
    withdrawer: Withdrawer | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Run:
    """Query and connect every ``period``; kill, wait ``down_for``, restore, wait for the address to return.

    One thread does everything in order (sample, then act), so an event always falls between two samples.
    """
    withdrawer = withdrawer or Withdrawer()
    resolver = chain.resolver.host
    start = clock()
    samples: list[Sample] = []
    victim: str | None = None
    killed_at: float | None = None
    restored_at: float | None = None
    child_probe: ChildProbe | None = None
    probe_after = scenario.down_for if scenario.child_probe_after is None else scenario.child_probe_after
    tick = 0
    while True:
        now = clock() - start
        rcode, addresses, ttl = resolve(resolver)
        if addresses:
            connected, detail = http_get(addresses[0])
        else:
            connected, detail = False, "no address"
        samples.append(Sample(now, addresses, ttl, rcode, connected, detail))
        if killed_at is None:
            if now >= scenario.warmup and addresses and _kill_now(scenario, ttl, now):
                victim = addresses[0]
                chain.backends[victim].kill()
                killed_at = clock() - start
                withdrawer.on_kill(victim)
        elif restored_at is None:
            if child_probe is None and now - killed_at >= probe_after:
                at = clock() - start - killed_at
                child_probe = ChildProbe(at, probe_child(chain.child_server.host))
            if now - killed_at >= scenario.down_for:
                assert victim is not None
                chain.backends[victim].start()
                restored_at = clock() - start
                withdrawer.on_restore(victim)
        elif victim in addresses or now - restored_at >= scenario.restore_limit:
            break
        tick += 1
        time.sleep(max(0.0, start + tick * scenario.period - clock()))
    assert victim is not None and killed_at is not None
    return Run(scenario, tuple(samples), victim, killed_at, restored_at, samples[-1].at, child_probe)


def _kill_now(scenario: Scenario, ttl: int | None, now: float) -> bool:
    if not scenario.kill_fresh:
        return True
    return ttl == scenario.ttl or now >= scenario.warmup + scenario.ttl + 1.0


# --- the report ------------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Segment:
    start: float
    end: float
    addresses: tuple[str, ...]
    answers: int = 0
    failed: int = 0
    ttls: list[int] = field(default_factory=list)
    details: set[str] = field(default_factory=set)


def timeline(run: Run) -> list[str]:
    """One line per stretch of identical answers (address set), and one per event; times from the kill."""
    events = [(run.killed_at, f"kill {run.victim} (its backend stops listening)")]
    if run.restored_at is not None:
        events.append((run.restored_at, f"restore {run.victim}"))
    if run.child_probe is not None:
        handed_out = ", ".join(sorted(run.child_probe.addresses)) or "nothing"
        events.append((run.killed_at + run.child_probe.at, f"the child itself answers {handed_out}"))
    segments: list[_Segment] = []
    pending = sorted(events)
    lines: list[str] = []

    def flush() -> None:
        while segments:
            lines.append(_segment_line(run, segments.pop(0)))

    for sample in run.samples:
        while pending and pending[0][0] <= sample.at:
            flush()
            at, text = pending.pop(0)
            lines.append(f"{at - run.killed_at:+8.1f} s  ── {text}")
        key = tuple(sorted(sample.addresses))
        if not segments or segments[-1].addresses != key:
            flush()
            segments.append(_Segment(sample.at, sample.at, key))
        segment = segments[-1]
        segment.end = sample.at
        segment.answers += 1
        segment.failed += not sample.connected
        if sample.ttl is not None:
            segment.ttls.append(sample.ttl)
        segment.details.add(sample.detail)
    flush()
    return lines


def _segment_line(run: Run, segment: _Segment) -> str:
    shown = ", ".join(
        f"{address}{'†' if address == run.victim and run.is_down(segment.start) else ''}"
        for address in segment.addresses
    )
    ttl = ""
    if segment.ttls:
        high, low = max(segment.ttls), min(segment.ttls)
        ttl = f" ttl {high}" if high == low else f" ttl {high}→{low}"
    connects = "connect ok" if segment.failed == 0 else f"{segment.failed}/{segment.answers} connects failed"
    return (
        f"{segment.start - run.killed_at:+8.1f} s  {segment.answers:4d} x [{shown or 'no address'}]{ttl}, "
        f"{connects}"
    )


def window_text(run: Run) -> str:
    if run.still_served_at_end:
        return f"≥ {run.observed_for:.1f} s: still served at the end (TTL {run.scenario.ttl} s)"
    if run.child_still_serves:
        assert run.child_probe is not None
        return (
            f"≥ {run.child_probe.at:.1f} s: not withdrawn (the child still hands it out "
            f"{run.child_probe.at:.1f} s after the kill)"
        )
    return f"{run.withdrawal_window:.1f} s"


def restore_text(run: Run) -> str:
    delay = run.restore_delay
    if delay is None:
        return f"not served within {run.scenario.restore_limit:.0f} s"
    return f"{delay:.1f} s"


def summary_table(runs: Sequence[Run]) -> list[str]:
    rows = [("run", "TTL", "withdrawal window", "failed connects", "restore delay")]
    for run in runs:
        rows.append(
            (
                run.scenario.label,
                f"{run.scenario.ttl} s",
                window_text(run),
                f"{run.failed_connects}/{run.down_samples}",
                restore_text(run),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return [line.rstrip() for line in lines]
