"""The stale-cache experiment of the health issue (issue 5): how long a real resolver keeps handing out a
dead VIP, with gslb as the child zone's server, with a plain round-robin zone served by Knot, and with
gdnsd's health-checked ``multifo`` as the reference (issue 10).

The chain, all on loopback, each server on port 53 of its own address (a resolver follows a delegation
to port 53 only):

    client ──► Unbound 127.0.53.10 ──stub──► Knot 127.0.53.1 (example.test: gslb NS ns1.gslb + glue)
                                     └─────► 127.0.53.3 (gslb.example.test): gslb, Knot (www: 3 A records)
                                                                               or gdnsd (www: multifo)
    client ──HTTP──► the answer: one of three backends 127.0.53.21/22/23 port 80

A client asks Unbound for ``www.gslb.example.test A`` every ``period`` and connects to the first address
it gets. After a warm-up, one backend is killed (for gslb: the one in a fresh answer, which then sits in
the resolver's cache for the whole TTL, so the run measures the worst case); after ``down_for`` seconds it
is restored. From the samples: the withdrawal window (from the kill to the last answer still holding the
dead address), the failed connects, and the restore delay (from the restore to the first answer holding
it again). With ``track_child`` the child server is also asked directly (no cache) in every round, which
gives the detection time (from the kill to when the child itself stops handing the address out). With
``length`` every run lasts that long after the kill, whatever happens, so failed GETs compare across
children. ``bench/stale_window.py`` prints them; ``tests/integration/test_end_to_end.py`` and
``tests/integration/test_end_to_end_gdnsd.py`` assert them.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import secrets
import socket
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import TypeAlias

import dns.exception
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype

from harness.gdnsd import GdnsdServer, HttpStatusService, MultifoResource
from harness.gslb import GslbProcess
from harness.http_backend import HTTP_PORT, HttpBackend
from harness.knot import KnotServer, ZoneSource
from harness.unbound import DNS_PORT, RESOLVER_HOST, StubZone, UnboundServer

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
GDNSD_TTL = 30
"""The DYNA's TTL in gdnsd's zone: its MAX; gdnsd serves between MIN (half of it) and MAX, by the monitors'
time to their next possible state change."""
GDNSD_SERVICE = HttpStatusService(
    CHECK_NAME, port=HTTP_PORT, url_path="/", interval=2, timeout=1, up_thresh=2, ok_thresh=2, down_thresh=2
)
"""gdnsd's fastest useful monitor (timeout must be less than interval, both whole seconds): down after 2
failed polls, up after 2 good ones in a row."""
GDNSD_RESOURCE = MultifoResource(POOL, tuple(BACKENDS.items()), (CHECK_NAME,), up_thresh=0.1)
"""Every address not DOWN in each answer; all three only when none is up (up_thresh 0.1 of 3: one)."""
QUERY_TIMEOUT = 1.0
CONNECT_TIMEOUT = 0.5
ACTOR = "stale-window"
API_TOKEN = "gslb_" + secrets.token_urlsafe(32)
"""The admin token of the chain's gslb: a drain goes through its API, as an operator's would."""
API_TOKENS = f"{ACTOR}:admin:sha256:{hashlib.sha256(API_TOKEN.encode()).hexdigest()}"


class Child(StrEnum):
    """Who serves gslb.example.test: gslb with a pool, Knot with a plain round-robin RRset, or gdnsd with a
    health-checked ``multifo`` resource."""

    GSLB = "gslb"
    RR = "rr"
    GDNSD = "gdnsd"


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


@dataclass(frozen=True, slots=True)
class DeclaredCheck:
    """The HTTP check with only the timing given here declared: gslb's own defaults fill in the rest.

    Unlike ``HealthCheck`` it promises no detection bound, since the defaults are gslb's to change; the
    experiment measures detection instead (``track_child``).
    """

    interval: float | None = None
    timeout: float | None = None
    rise: int | None = None
    fall: int | None = None

    def toml(self, name: str) -> str:
        lines = [f"[checks.{name}]", 'type = "http"', f"port = {HTTP_PORT}", 'path = "/"']
        for key in ("interval", "timeout", "rise", "fall"):
            value = getattr(self, key)
            if value is not None:
                lines.append(f"{key} = {value}")
        return "\n".join(lines) + "\n"

    def describe(self) -> str:
        given = [
            f"{key} {getattr(self, key):g}" for key in ("interval", "timeout", "rise", "fall")
            if getattr(self, key) is not None
        ]  # fmt: skip
        return ", ".join(given) + " (the rest gslb's defaults)" if given else "gslb's default timing"


Check: TypeAlias = HealthCheck | DeclaredCheck


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
    """The child zone: for gslb only its apex (www comes from the pool), for Knot www as three A records,
    for gdnsd www as a DYNA record of the ``multifo`` resource."""
    text = (
        f"$ORIGIN {CHILD_ZONE}.\n$TTL 3600\n"
        f"@ IN SOA ns1 hostmaster {SOA_TIMERS}\n"
        "@ IN NS ns1\n"
        f"ns1 IN A {CHILD_HOST}\n"
    )
    if child is Child.RR:
        text += "".join(f"www {RR_TTL} IN A {address}\n" for address in BACKENDS.values())
    elif child is Child.GDNSD:
        text += f"www {GDNSD_TTL} DYNA multifo!{GDNSD_RESOURCE.name}\n"
    return text


def pools_toml(ttl: int | None, check: Check | None) -> str:
    """One site per backend and the pool www over their VIPs: round robin, one address per answer.

    ``ttl`` None declares the pool with gslb's defaults for everything but its check (TTL, policy,
    addresses per answer, all-down behaviour), as a ``DeclaredCheck`` leaves the check's timing to them.
    """
    lines: list[str] = []
    if check is not None:
        lines += [check.toml(CHECK_NAME)]
    for name, address in BACKENDS.items():
        lines += [f"[sites.{name}]", f'vips = ["{address}"]', ""]
    lines += [f"[pools.{POOL}]", f'names = ["{QNAME.rstrip(".")}"]']
    if ttl is not None:
        lines += ['policy = "round_robin"', "answer_count = 1", f"ttl = {ttl}", 'all_down = "fail_open"']
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
    """The running chain: the backends by address, and the store of gslb (None with another child)."""

    child: Child
    backends: dict[str, HttpBackend]
    resolver: UnboundServer
    child_server: GslbProcess | KnotServer | GdnsdServer
    db_url: str | None


@contextlib.contextmanager
def running_chain(
    child: Child,
    knotd: str,
    unbound: str,
    *,
    ttl: int | None = 5,
    check: Check | None = None,
    gdnsd: str | None = None,
) -> Iterator[Chain]:
    """Start the backends, the child, the parent and Unbound (in that order, so each finds the next one
    up), yield the chain, and stop everything by its PID however the block ends.

    ``ttl`` and ``check`` are gslb's pool TTL (None: its default) and check; gdnsd (``gdnsd``, the path of
    its binary, needed for ``Child.GDNSD``) has its own, ``GDNSD_TTL`` and ``GDNSD_SERVICE``.
    """
    with contextlib.ExitStack() as stack:
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="stale-")))
        backends = {address: HttpBackend(name, address) for name, address in BACKENDS.items()}
        for backend in backends.values():
            stack.enter_context(backend)
        zones = scratch / "zones"
        zones.mkdir()
        (zones / f"{CHILD_ZONE}.zone").write_text(child_zone(child))
        db_url: str | None = None
        child_server: GslbProcess | KnotServer | GdnsdServer
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
                environ={"GSLB_API_TOKENS": API_TOKENS},
            )
        elif child is Child.GDNSD:
            if gdnsd is None:
                raise ValueError("the gdnsd child needs the path of gdnsd")
            child_server = GdnsdServer(
                [ZoneSource(CHILD_ZONE, zones / f"{CHILD_ZONE}.zone")],
                gdnsd,
                host=CHILD_HOST,
                port=DNS_PORT,
                services=[GDNSD_SERVICE],
                multifo=[GDNSD_RESOURCE],
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
    child: frozenset[str] | None = None  # what the child itself handed out this round (track_child)


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
    ttl: int | None  # the TTL configured (None: the child's default); the served one is measured
    down_for: float  # seconds from the kill to the restore
    restore_limit: float  # seconds after the restore to wait for the backend to be served again
    kill_fresh: bool  # wait (at most one TTL + 1 s) for an answer with its full TTL and kill its address
    check: Check | None = None
    child_probe_after: float | None = None
    """When to ask the child server itself (seconds after the kill; None: just before the restore)."""
    warmup: float = 1.5
    period: float = 0.1
    length: float | None = None
    """Seconds of samples after the kill, whatever happens (runs of one length compare by failed GETs);
    None: end once the restored address is served again, or ``restore_limit`` after the restore."""
    track_child: bool = False
    """Also ask the child itself every round (``probe_child``): the detection time, the child's restore.
    With one address per answer this advances a round-robin pool by ``2 x members`` per round."""


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
            pool = store.pool(POOL)
            member = next(m for m in pool.members if m.address == address) if pool else None
            if member is None:
                raise RuntimeError(f"no member {address} in pool {POOL!r}")
            store.put_member(POOL, replace(member, state=state), ACTOR)
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

    @property
    def served_ttl(self) -> int | None:
        """The largest TTL the resolver handed out: the child's TTL as served (gdnsd's is not its zone's)."""
        ttls = [s.ttl for s in self.samples if s.ttl is not None]
        return max(ttls) if ttls else None

    @property
    def detection(self) -> float | None:
        """From the kill to the round from which on the child itself no longer handed the dead address out
        (up to the restore); None when it still did at the end, or when the child was not tracked."""
        tracked = [s for s in self._down() if s.child is not None]
        if not tracked or self.victim in (tracked[-1].child or ()):
            return None
        serving = [i for i, s in enumerate(tracked) if self.victim in (s.child or ())]
        first_gone = tracked[serving[-1] + 1] if serving else tracked[0]
        return first_gone.at - self.killed_at

    @property
    def child_restore_delay(self) -> float | None:
        """From the restore to the first round in which the child itself handed the address out again;
        None if it never stopped (``detection`` None) or has not yet."""
        if self.restored_at is None or self.detection is None:
            return None  # nothing to come back from
        back = [
            s.at for s in self.samples
            if s.at >= self.restored_at and s.child is not None and self.victim in s.child
        ]  # fmt: skip
        return back[0] - self.restored_at if back else None

    def _after_kill(self) -> list[Sample]:
        return [s for s in self.samples if s.at >= self.killed_at]

    @property
    def gets(self) -> int:
        """Client GETs from the kill to the end of the run (with ``length``: the same for every run)."""
        return len(self._after_kill())

    @property
    def failed_gets(self) -> int:
        return sum(1 for s in self._after_kill() if not s.connected)

    @property
    def length(self) -> float:
        """Seconds from the kill to the end of the run (the end of its last round)."""
        return self.ended_at - self.killed_at


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
    highest_ttl: int | None = None
    # With ``length``, exactly length / period rounds after the kill, so every run makes as many GETs.
    rounds_after_kill = None if scenario.length is None else round(scenario.length / scenario.period)
    done_after_kill = 0
    tick = 0
    while True:
        now = clock() - start
        rcode, addresses, ttl = resolve(resolver)
        if addresses:
            connected, detail = http_get(addresses[0])
        else:
            connected, detail = False, "no address"
        child = probe_child(chain.child_server.host) if scenario.track_child else None
        samples.append(Sample(now, addresses, ttl, rcode, connected, detail, child))
        done_after_kill += killed_at is not None
        if ttl is not None and (highest_ttl is None or ttl > highest_ttl):
            highest_ttl = ttl
        if killed_at is None:
            if now >= scenario.warmup and addresses and _kill_now(scenario, ttl, highest_ttl, now):
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
        elif rounds_after_kill is None and (
            victim in addresses or now - restored_at >= scenario.restore_limit
        ):
            break
        if rounds_after_kill is not None and done_after_kill >= rounds_after_kill:
            break
        tick += 1
        time.sleep(max(0.0, start + tick * scenario.period - clock()))
    assert victim is not None and killed_at is not None
    # The run ends when its last round does: a round stands for the period it starts.
    ended_at = max(samples[-1].at + scenario.period, clock() - start)
    return Run(scenario, tuple(samples), victim, killed_at, restored_at, ended_at, child_probe)


def _kill_now(scenario: Scenario, ttl: int | None, highest_ttl: int | None, now: float) -> bool:
    """Whether to kill now: at once, or (``kill_fresh``) on an answer as fresh as any seen so far.

    Fresh means the highest TTL the resolver has handed out in this run, not the configured one: gslb's
    default may change, and gdnsd serves its DYNA between half its zone TTL and the whole of it.
    """
    if not scenario.kill_fresh:
        return True
    full = highest_ttl if highest_ttl is not None else scenario.ttl or 0
    return (ttl is not None and ttl >= full) or now >= scenario.warmup + full + 1.0


# --- the drain ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DrainRun:
    """A drain through the admin API while the client runs, the site stopped when caches clear."""

    samples: tuple[Sample, ...]
    victim: str
    drained_at: float  # seconds since the start: the PATCH returned
    clear_at: float  # the API's Caches-Clear-At, in the same seconds
    stopped_at: float  # the victim's backend stopped
    ended_at: float

    @property
    def failed_gets(self) -> int:
        return sum(1 for s in self.samples if not s.connected)

    @property
    def last_answer_with_victim(self) -> float | None:
        held = [s.at for s in self.samples if self.victim in s.addresses]
        return held[-1] if held else None

    @property
    def served_after_stop(self) -> bool:
        return any(self.victim in s.addresses for s in self.samples if s.at >= self.stopped_at)


def drain_member(chain: Chain, address: str) -> float:
    """Drain ``address`` through gslb's admin API; the Unix time its ``Caches-Clear-At`` promises."""
    assert isinstance(chain.child_server, GslbProcess)
    request = urllib.request.Request(
        f"{chain.child_server.api_url}/api/v1/pools/{POOL}/members/{address}",
        data=json.dumps({"state": "drained"}).encode(),
        method="PATCH",
        headers={"Authorization": f"Bearer {API_TOKEN}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return datetime.fromisoformat(response.headers["Caches-Clear-At"]).timestamp()


def run_drain(chain: Chain, *, warmup: float = 3.0, after_stop: float = 5.0, period: float = 0.2) -> DrainRun:
    """The client resolves and connects every ``period``; after ``warmup`` the first address it got is
    drained through the API, its backend is stopped at the promised ``Caches-Clear-At``, and the client
    goes on for ``after_stop`` more seconds. Every GET should have worked."""
    clock = time.monotonic
    start = clock()
    wall_offset = time.time() - start  # Unix time = monotonic + offset, for the API's promise
    samples: list[Sample] = []
    victim: str | None = None
    drained_at = clear_at = stopped_at = None
    tick = 0
    while stopped_at is None or clock() - start < stopped_at + after_stop:
        now = clock() - start
        rcode, addresses, ttl = resolve(chain.resolver.host)
        connected, detail = http_get(addresses[0]) if addresses else (False, "no address")
        samples.append(Sample(now, addresses, ttl, rcode, connected, detail))
        if victim is None and now >= warmup and addresses:
            victim = addresses[0]
            clear_at = drain_member(chain, victim) - wall_offset - start
            drained_at = clock() - start
        if clear_at is not None and stopped_at is None and clock() - start >= clear_at:
            assert victim is not None
            chain.backends[victim].kill()
            stopped_at = clock() - start
        tick += 1
        time.sleep(max(0.0, start + tick * period - clock()))
    assert victim is not None and drained_at is not None and clear_at is not None
    return DrainRun(tuple(samples), victim, drained_at, clear_at, stopped_at, clock() - start)


def drain_text(run: DrainRun) -> str:
    last = run.last_answer_with_victim
    held = "never" if last is None else f"{last - run.drained_at:.1f} s after the drain"
    return (
        f"drained {run.victim} at {run.drained_at:.1f} s; Caches-Clear-At "
        f"{run.clear_at - run.drained_at:.1f} s later, its backend stopped then; "
        f"last resolver answer with it {held}; "
        f"failed GETs {run.failed_gets}/{len(run.samples)}"
    )


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
    if run.detection is not None:
        events.append((run.killed_at + run.detection, f"the child itself stops handing out {run.victim}"))
    if run.restored_at is not None and run.child_restore_delay is not None:
        events.append(
            (run.restored_at + run.child_restore_delay, f"the child itself hands out {run.victim} again")
        )
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
        return f"≥ {run.observed_for:.1f} s: still served at the end (TTL {run.served_ttl} s)"
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
        if run.restored_at is None:
            return "not restored"
        waited = run.ended_at - run.restored_at
        return f"not served within {waited:.0f} s"
    return f"{delay:.1f} s"


def detection_text(run: Run) -> str:
    """When the child itself stopped handing out the dead address, from the rounds that asked it."""
    if not run.scenario.track_child:
        return "not measured"
    if run.detection is not None:
        return f"{run.detection:.1f} s"
    return "never (still served by the child)"


def ttl_text(run: Run) -> str:
    served = "?" if run.served_ttl is None else f"{run.served_ttl} s"
    configured = run.scenario.ttl
    if configured is None:
        return f"{served} (default)"
    return served if configured == run.served_ttl else f"{served} (zone {configured} s)"


def summary_table(runs: Sequence[Run]) -> list[str]:
    """One row per run: TTL as served, window, detection, restore (resolver, then the child itself),
    failed client GETs from the kill to the end, and that length."""
    rows = [("run", "TTL", "window", "detection", "restore", "failed GETs", "run length")]
    for run in runs:
        restore = restore_text(run)
        if run.child_restore_delay is not None:
            restore += f" (child {run.child_restore_delay:.1f} s)"
        rows.append(
            (
                run.scenario.label,
                ttl_text(run),
                window_text(run),
                detection_text(run),
                restore,
                f"{run.failed_gets}/{run.gets}",
                f"{run.length:.1f} s",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return [line.rstrip() for line in lines]
