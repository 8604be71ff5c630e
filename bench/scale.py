"""gslb at the scale of issue 4: 100,000 pools and 1,000,000 static records.

Usage: python bench/scale.py [--pools 100000] [--records 1000000] [--changes 20] [--seconds 5] [--rounds 3]

Writes a zone of ``--records`` static records (A, AAAA and TXT, like a large real zone) and a store
holding ``--pools`` pools of two members each, then measures, for one ``gslb serve`` on them and one on
a small store:

- load: seconds from starting the process to its first answer (zone files parsed, store read, every
  answer precomputed), and the process's peak RSS;
- change: the time from a committed store write (one member of one pool disabled, then enabled again;
  a drained member stays in answers until resolvers' copies expire, by design, so a drain is no test of this)
  to the first answer that shows it, over ``--changes`` writes to random pools; a query is sent every
  millisecond, so the figure is exact to about a millisecond;
- QPS: dnsperf flat out (servers on CPU 0, dnsperf on CPU 1), median of ``--rounds``, the large store
  next to a small one (``--pools-small`` pools, same zone shape at 1,000 records). Both servers run at
  once and their rounds are interleaved, so both see the machine's same moments. "Unchanged" is judged
  on equal query streams: names of ``--pools-small`` pools, as many as the small store has. A stream
  over 10,000 pools (the wide hot set) is measured too, in the same rounds: it asks the caches for more,
  whatever the store's size. Where knotd is installed, Knot serves the same large zone and both
  servers answer static names over 100 and 10,000 distinct names, so that what a wide hot set costs gslb
  stands next to what it costs a C server.

Figures are this machine's at the time; the issue's targets are printed next to them.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import asdict, dataclass, replace
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import dns.message  # noqa: E402
import dns.rdatatype  # noqa: E402

from bench.cputime import tree_times  # noqa: E402
from gslb.model import AdminState, Inventory, Member, Pool, Site  # noqa: E402
from gslb.store import open_store  # noqa: E402
from harness.gslb import GslbProcess  # noqa: E402
from harness.knot import KnotServer, ZoneSource, which_knotd  # noqa: E402

ZONE = "scale.test"
SERVER_CPU, CLIENT_CPU = 0, 1
LOAD_SECONDS_TARGET = 30.0
RSS_TARGET_MIB = 2048
CHANGE_MS_TARGET = 100.0
QPS_LOSS_TARGET = 0.05
SETTLE_LIMIT = 180.0
SETTLED_CPU = 0.05  # CPU seconds per second
"""'QPS unchanged': within the rounds' noise, taken here as 5 %."""
WIDE_NAMES = 10_000
"""Distinct names in the wide hot set."""
STREAM = 10_000
"""Queries in each dnsperf input file (dnsperf loops over it)."""


@dataclass(frozen=True, slots=True)
class Scale:
    pools: int
    records: int


@dataclass(frozen=True, slots=True)
class Result:
    pools: int
    records: int
    populate_seconds: float
    load_seconds: float
    peak_rss_mib: float
    rss_mib: float
    qps: float  # median over rounds, names of ``hot`` pools
    change_ms: list[float]
    settle_seconds: float  # from the first answer until the processes were all but idle
    tree_rss_mib: float  # every process of the server (the health process too) at the end
    hot: int  # distinct pool names in the stream ``qps`` was measured on
    qps_wide: float | None  # median over rounds, names of WIDE_NAMES pools (None: fewer pools than that)
    static_qps: dict[str, float]  # "gslb narrow", "gslb wide", "knot narrow", "knot wide" (medians)


class SlowStartKnot(KnotServer):
    start_timeout = 300.0


class SlowStartGslb(GslbProcess):
    start_timeout = 900.0


def write_zone(directory: Path, records: int) -> Path:
    """One zone of ``records`` static records: 70 % A, 20 % AAAA, 10 % TXT, one per name."""
    path = directory / f"{ZONE}.zone"
    with path.open("w") as out:
        out.write(f"$ORIGIN {ZONE}.\n$TTL 300\n")
        out.write("@ 3600 IN SOA ns1 hostmaster 1 3600 600 604800 60\n@ 3600 IN NS ns1\nns1 IN A 127.0.0.1\n")
        for index in range(records):
            kind = index % 10
            if kind < 7:
                out.write(f"h{index} IN A {ipaddress.IPv4Address(0x0A000000 + index)}\n")
            elif kind < 9:
                out.write(f"h{index} IN AAAA {ipaddress.IPv6Address((0x20010DB8 << 96) + index)}\n")
            else:
                out.write(f'h{index} IN TXT "record {index}"\n')
    return path


def inventory(pools: int) -> Inventory:
    """``pools`` weighted pools of two members in two sites, answering both addresses."""
    sites = (Site("a"), Site("b"))
    made = []
    for index in range(pools):
        base = 0xC6120000 + 2 * index  # 198.18.0.0/15, benchmarking space
        members = (
            Member("a", str(ipaddress.IPv4Address(base))),
            Member("b", str(ipaddress.IPv4Address(base + 1))),
        )
        made.append(Pool(f"p{index}", (f"p{index}.{ZONE}.",), answer_count=2, ttl=30, members=members))
    return Inventory(sites, tuple(made)).normalized()


def populate(url: str, pools: int) -> float:
    started = time.perf_counter()
    with open_store(url) as store:
        store.apply_inventory(inventory(pools), "bench")
    return time.perf_counter() - started


def status_mib(pid: int, field: str) -> float:
    text = Path(f"/proc/{pid}/status").read_text()
    match = re.search(rf"^{field}:\s+(\d+) kB", text, re.MULTILINE)
    return int(match.group(1)) / 1024 if match else 0.0


def ask(sock: socket.socket, port: int, name: str) -> int | None:
    """How many A records ``name`` gets now; None on a timeout."""
    query = dns.message.make_query(name, dns.rdatatype.A)
    sock.sendto(query.to_wire(), ("127.0.0.1", port))
    try:
        data = sock.recv(4096)
    except TimeoutError:
        return None
    response = dns.message.from_wire(data)
    return sum(len(rrset) for rrset in response.answer)


def change_latencies(url: str, port: int, pools: int, changes: int, rng: random.Random) -> list[float]:
    """Milliseconds from each commit to the first answer showing it (disable, then enable)."""
    latencies = []
    with open_store(url) as store, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(1.0)
        for _ in range(changes):
            index = rng.randrange(pools)
            name, address = f"p{index}.{ZONE}.", str(ipaddress.IPv4Address(0xC6120000 + 2 * index))
            for state, expected in ((AdminState.DISABLED, 1), (AdminState.ENABLED, 2)):
                pool = store.pool(f"p{index}")
                member = next(m for m in pool.members if m.address == address) if pool else None
                if member is None:
                    raise RuntimeError(f"no member {address} in pool p{index}")
                store.put_member(f"p{index}", replace(member, state=state), "bench")
                committed = time.perf_counter()
                while ask(sock, port, name) != expected:
                    if time.perf_counter() - committed > 30:
                        raise RuntimeError(f"{name}: change not served after 30 s")
                    time.sleep(0.001)
                latencies.append((time.perf_counter() - committed) * 1000)
    return latencies


def pool_queries(rng: random.Random, pools: int, distinct: int) -> list[str]:
    """STREAM queries (dnsperf's "name type" lines) for ``distinct`` of ``pools`` pool names."""
    chosen = rng.sample(range(pools), min(distinct, pools))
    return [f"p{rng.choice(chosen)}.{ZONE}. A" for _ in range(STREAM)]


def static_queries(rng: random.Random, records: int, distinct: int) -> list[str]:
    """STREAM queries for ``distinct`` of the zone's static names, each with its record's type."""
    chosen = rng.sample(range(records), min(distinct, records))
    types = ["A"] * 7 + ["AAAA"] * 2 + ["TXT"]  # write_zone's shares
    return [f"h{index}.{ZONE}. {types[index % 10]}" for index in (rng.choice(chosen) for _ in range(STREAM))]


def dnsperf_qps(dnsperf: str, taskset: str, port: int, lines: Sequence[str], seconds: float) -> float:
    with tempfile.NamedTemporaryFile("w", suffix=".queries") as queries:
        queries.write("".join(f"{line}\n" for line in lines))
        queries.flush()
        command = [taskset, "-c", str(CLIENT_CPU), dnsperf, "-s", "127.0.0.1", "-p", str(port)]
        command += ["-d", queries.name, "-c", "4", "-q", "200", "-l", str(seconds)]
        report = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60, check=True)
    match = re.search(r"Queries per second:\s+([\d.]+)", report.stdout)
    if match is None:
        raise RuntimeError(f"dnsperf printed no QPS:\n{report.stdout}\n{report.stderr}")
    return float(match.group(1))


def median_rounds(
    tools: dict[str, str], streams: dict[str, tuple[int, list[str]]], seconds: float, rounds: int
) -> dict[str, float]:
    """dnsperf's QPS on each (port, stream), rounds interleaved (A B C A B C ...), median of each:
    servers compared this way share the machine's moments, good and bad."""
    runs: dict[str, list[float]] = {label: [] for label in streams}
    for _ in range(rounds):
        for label, (port, lines) in streams.items():
            runs[label].append(dnsperf_qps(tools["dnsperf"], tools["taskset"], port, lines, seconds))
    return {label: statistics.median(values) for label, values in runs.items()}


@dataclass(slots=True)
class Started:
    """A gslb server answering from a store of one scale, and what its start measured."""

    scale: Scale
    server: SlowStartGslb
    zones: Path
    populate_seconds: float
    load_seconds: float
    settle_seconds: float
    change_ms: list[float]


def start(
    stack: ExitStack, scale: Scale, taskset: str, changes: int, scratch: Path, rng: random.Random
) -> Started:
    """Write the zone and store of ``scale``, start gslb on them (stopped with ``stack``), let it
    settle and time ``changes`` member changes from commit to answer."""
    directory = scratch / f"{scale.pools}-{scale.records}"
    zones = directory / "zones"
    zones.mkdir(parents=True)
    write_zone(zones, scale.records)
    url = f"sqlite:///{directory / 'gslb.sqlite'}"
    populate_seconds = populate(url, scale.pools)
    server = SlowStartGslb(
        zones,
        extra_args=["--db", url],
        probe_zone=f"{ZONE}.",
        prefix=(taskset, "-c", str(SERVER_CPU)),
    )
    started = time.perf_counter()
    stack.enter_context(server)
    load_seconds = time.perf_counter() - started
    assert server.process is not None
    # The health process reads the whole store once at its start, on the server's CPU: what
    # follows measures the server at work, not that start.
    settle_seconds = settle(server.process.pid)
    latencies = change_latencies(url, server.port, scale.pools, changes, rng)
    return Started(scale, server, zones, populate_seconds, load_seconds, settle_seconds, latencies)


def measure(
    scales: tuple[Scale, Scale],
    tools: dict[str, str],
    changes: int,
    seconds: float,
    scratch: Path,
    hot: int,
    rounds: int = 3,
) -> tuple[Result, Result]:
    """The small and the large store's results. Both servers run at once, so that "QPS unchanged"
    compares rounds interleaved across them (minutes apart, this machine's QPS drifts by more
    than the 5 % the comparison allows)."""
    rng = random.Random(4)
    with ExitStack() as stack:
        small, large = (start(stack, scale, tools["taskset"], changes, scratch, rng) for scale in scales)
        streams = {
            "small": (small.server.port, pool_queries(rng, small.scale.pools, hot)),
            "large": (large.server.port, pool_queries(rng, large.scale.pools, hot)),
        }
        if large.scale.pools >= WIDE_NAMES:
            streams["large wide"] = (large.server.port, pool_queries(rng, large.scale.pools, WIDE_NAMES))
        compare_static = "knotd" in tools and large.scale.records >= WIDE_NAMES
        if compare_static:
            streams["gslb narrow"] = (large.server.port, static_queries(rng, large.scale.records, hot))
            streams["gslb wide"] = (large.server.port, static_queries(rng, large.scale.records, WIDE_NAMES))
        qps = median_rounds(tools, streams, seconds, rounds)
        small_memory, large_memory = memory_mib(small), memory_mib(large)
    static_qps: dict[str, float] = {
        label: qps[label] for label in ("gslb narrow", "gslb wide") if label in qps
    }
    if compare_static:
        knot = SlowStartKnot(
            [ZoneSource(f"{ZONE}.", large.zones / f"{ZONE}.zone")],
            tools["knotd"],
            prefix=(tools["taskset"], "-c", str(SERVER_CPU)),
        )
        with knot:
            knot_streams = {
                "knot narrow": (knot.port, streams["gslb narrow"][1]),
                "knot wide": (knot.port, streams["gslb wide"][1]),
            }
            static_qps.update(median_rounds(tools, knot_streams, seconds, rounds))
    small_result = result(small, small_memory, qps["small"], min(hot, small.scale.pools), None, {})
    large_result = result(
        large, large_memory, qps["large"], min(hot, large.scale.pools), qps.get("large wide"), static_qps
    )
    return small_result, large_result


def memory_mib(started: Started) -> tuple[float, float, float]:
    """Peak and current RSS of the answering process, and the RSS of all the server's processes."""
    assert started.server.process is not None
    pid = started.server.process.pid
    tree = sum(status_mib(process, "VmRSS") for process in tree_times(pid).pids)
    return status_mib(pid, "VmHWM"), status_mib(pid, "VmRSS"), tree


def result(
    started: Started,
    memory: tuple[float, float, float],
    qps: float,
    hot: int,
    qps_wide: float | None,
    static_qps: dict[str, float],
) -> Result:
    peak, rss, tree_rss = memory
    return Result(
        started.scale.pools,
        started.scale.records,
        started.populate_seconds,
        started.load_seconds,
        peak,
        rss,
        qps,
        started.change_ms,
        started.settle_seconds,
        tree_rss,
        hot,
        qps_wide,
        static_qps,
    )


def settle(pid: int, limit: float = SETTLE_LIMIT) -> float:
    """Seconds until the server's processes together use under SETTLED_CPU of a CPU over a second."""
    started = time.perf_counter()
    before = tree_times(pid).seconds
    while time.perf_counter() - started < limit:
        time.sleep(1.0)
        now = tree_times(pid).seconds
        if now - before < SETTLED_CPU:
            break
        before = now
    return time.perf_counter() - started


def percentile(values: Sequence[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def report(small: Result, large: Result) -> str:
    lines = [
        f"{'pools':>8} {'records':>9} {'populate':>9} {'load':>8} {'settle':>7} {'peak RSS':>9}"
        f" {'all RSS':>9} {'QPS':>9} {'change p50':>10} {'change max':>10}",
    ]
    for result in (small, large):
        sizes = f"{result.pools:>8,} {result.records:>9,}"
        times = (
            f"{result.populate_seconds:>8.1f}s {result.load_seconds:>7.1f}s {result.settle_seconds:>6.1f}s"
        )
        memory = f"{result.peak_rss_mib:>6,.0f}MiB {result.tree_rss_mib:>6,.0f}MiB"
        changes = f"{percentile(result.change_ms, 0.5):>8.1f}ms {max(result.change_ms):>8.1f}ms"
        lines.append(f"{sizes} {times} {memory} {result.qps:>9,.0f} {changes}")
    lines += [
        "",
        "load: start to first answer; settle: then until the processes were all but idle (the health",
        "process reads the store once at its start); peak RSS: the answering process's; all RSS: every",
        "process of the server at the end, the health process included.",
    ]
    qps_ratio = large.qps / small.qps
    lines += ["", f"QPS on the names of {large.hot} pools (the small store's count); the wide hot set:"]
    if large.qps_wide is not None:
        lines.append(
            f"  gslb, {WIDE_NAMES:,} pool names: {large.qps_wide:,.0f} ({large.qps_wide / large.qps:.2f} of"
            f" {large.hot} names)"
        )
    for server in ("gslb", "knot"):
        narrow, wide = large.static_qps.get(f"{server} narrow"), large.static_qps.get(f"{server} wide")
        if narrow and wide:
            lines.append(
                f"  {server}, static names: {large.hot} names {narrow:,.0f}, {WIDE_NAMES:,} names"
                f" {wide:,.0f} ({wide / narrow:.2f})"
            )
    memory_mib = max(large.peak_rss_mib, large.tree_rss_mib)
    checks = [
        ("load under 30 s", large.load_seconds < LOAD_SECONDS_TARGET, f"{large.load_seconds:.1f} s"),
        (
            "RSS under 2 GiB (answering peak, all processes)",
            memory_mib < RSS_TARGET_MIB,
            f"{memory_mib:,.0f} MiB",
        ),
        (
            "QPS unchanged (within 5 %)",
            qps_ratio > 1 - QPS_LOSS_TARGET,
            f"{qps_ratio:.2f} of the small store's",
        ),
        (
            "a change served within 100 ms",
            max(large.change_ms) < CHANGE_MS_TARGET,
            f"max {max(large.change_ms):.1f} ms",
        ),
    ]
    lines.append("")
    lines += [f"{'PASS' if ok else 'FAIL'}  {what}: {figure}" for what, ok, figure in checks]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pools", type=int, default=100_000)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--pools-small", type=int, default=100)
    parser.add_argument("--changes", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each dnsperf run")
    parser.add_argument("--rounds", type=int, default=3, help="dnsperf runs per stream (median)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    tools = {name: shutil.which(name) for name in ("dnsperf", "taskset")}
    missing = [name for name, path in tools.items() if path is None]
    if missing:
        raise SystemExit(f"scale: not installed: {', '.join(missing)}")
    found = {name: str(path) for name, path in tools.items()}
    knotd = which_knotd()
    if knotd is not None:
        found["knotd"] = knotd
    else:
        print("scale: knotd not installed: no static comparison with Knot", file=sys.stderr)
    hot, rounds = args.pools_small, args.rounds
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        scales = (Scale(args.pools_small, 1000), Scale(args.pools, args.records))
        small, large = measure(scales, found, args.changes, args.seconds, Path(tmp), hot, rounds)
    print(report(small, large))
    if args.json:
        print(json.dumps({"small": asdict(small), "large": asdict(large)}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
