"""gslb against Knot DNS and gdnsd under dnsperf on loopback: max QPS, latency at half load, CPU per query.

Usage: python bench/dnsperf_example.py [--rounds 3] [--seconds 5] [--servers gslb,knot,gdnsd] [--json]

Method: each server is pinned to CPU 0 and dnsperf to CPU 1, one server runs at a time, the servers alternate
round by round (gslb, Knot, gdnsd, gslb, ...), and the table shows medians over the rounds, so the gslb/Knot
and gslb/gdnsd ratios compare figures from the same run of this script.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    # Run as a script, only bench/ is on the path; the bench package and tests.integration live at the root.
    sys.path.insert(0, str(REPO_ROOT))

from bench.report import (  # noqa: E402
    FIXED_RATE_SHARE,
    Measurement,
    bottleneck_notes,
    loss_notes,
    noise_notes,
    rcode_check,
    render_table,
    summarise,
)
from bench.runs import CLIENT_CPU, LABELS, SERVER_CPU, SERVERS, LoadGenerator, measure  # noqa: E402
from bench.servers import gdnsd_server, gslb_server, knot_server, trouble  # noqa: E402
from bench.workloads import Workload, all_workloads  # noqa: E402
from tests.servers.process import ServerProcess  # noqa: E402

TOOLS = {
    "dnsperf": "Debian package 'dnsperf'",
    "knotd": "Debian package 'knot'",
    "gdnsd": "Debian package 'gdnsd'",
    "taskset": "Debian package 'util-linux'",
}
SERVER_TOOLS = {"knot": "knotd", "gdnsd": "gdnsd"}
"""The program each reference server needs; gslb runs from the checkout."""
SEARCH_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
"""knotd and gdnsd live in /usr/sbin, which is not on every user's PATH."""


@dataclass(frozen=True, slots=True)
class Tools:
    dnsperf: str
    taskset: str
    knotd: str = ""
    gdnsd: str = ""

    @property
    def generator(self) -> LoadGenerator:
        return LoadGenerator(self.dnsperf, self.taskset, CLIENT_CPU)


def find_tools(servers: Sequence[str]) -> Tools:
    """Locate dnsperf, taskset and the chosen servers' programs, or exit naming every one that is missing
    and its package."""
    needed = ["dnsperf", "taskset", *(SERVER_TOOLS[name] for name in servers if name in SERVER_TOOLS)]
    found = {name: shutil.which(name, path=SEARCH_PATH) for name in needed}
    missing = [f"{name} ({TOOLS[name]})" for name, path in found.items() if path is None]
    if missing:
        raise SystemExit(f"dnsperf_example: not installed: {', '.join(missing)}")
    cpus = os.sched_getaffinity(0)
    if not {SERVER_CPU, CLIENT_CPU} <= cpus:
        raise SystemExit(
            f"dnsperf_example: needs CPUs {SERVER_CPU} and {CLIENT_CPU}; allowed here: {sorted(cpus)}"
        )
    return Tools(**{name: str(path) for name, path in found.items()})


def start_server(name: str, tools: Tools, zones: Path, scratch: Path) -> ServerProcess:
    if name == "gslb":
        return gslb_server(REPO_ROOT, zones, tools.taskset, SERVER_CPU)
    if name == "gdnsd":
        return gdnsd_server(tools.gdnsd, zones, tools.taskset, SERVER_CPU)
    return knot_server(tools.knotd, zones, tools.taskset, SERVER_CPU, scratch)


def run_rounds(
    tools: Tools,
    zones: Path,
    workloads: Sequence[Workload],
    files: dict[str, Path],
    *,
    servers: Sequence[str],
    rounds: int,
    seconds: float,
    scratch: Path,
) -> tuple[list[Measurement], dict[str, dict[str, list[int]]]]:
    """Every round runs each server in turn over every workload; returns the runs and, per server, its odd
    log lines with the rounds that logged them."""
    measurements: list[Measurement] = []
    odd_lines: dict[str, dict[str, list[int]]] = {name: {} for name in servers}
    for round_number in range(1, rounds + 1):
        for name in servers:
            with start_server(name, tools, zones, scratch) as server:
                for workload in workloads:
                    max_run = measure(server, tools.generator, files[workload.name], seconds, None)
                    rate = max(1, round(max_run.report.qps * FIXED_RATE_SHARE))
                    fixed_run = measure(server, tools.generator, files[workload.name], seconds, rate)
                    measurements.append(Measurement(round_number, name, workload.name, max_run, fixed_run))
                    print(
                        f"round {round_number}/{rounds} {name:<5} {workload.name:<6} "
                        f"max {max_run.report.qps:>9,.0f} qps, lost {max_run.report.lost_percent:.2f}%; "
                        f"at {rate:,} qps: avg {fixed_run.report.latency_avg * 1e3:.3f} ms, "
                        f"{fixed_run.cpu_us_per_query:.1f} us/query; CPU 0 other "
                        f"{max(max_run.other_load_percent, fixed_run.other_load_percent):.0f}%",
                        file=sys.stderr,
                        flush=True,
                    )
                log = server.stop()
                for line in trouble(log):
                    # A server logs the same warning at every start (gdnsd: the SOA TTL it clamps): one note.
                    odd_lines[name].setdefault(line, []).append(round_number)
    return measurements, odd_lines


def gslb_revision() -> str:
    """The checkout's commit, marked dirty when gslb/ has uncommitted changes (figures depend on both)."""
    try:
        head = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        changes = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "status", "--porcelain", "--", "gslb"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{head}{' + uncommitted changes in gslb/' if changes else ''}, gslb/ source {source_digest()}"


def source_digest() -> str:
    """A short digest of every file under gslb/: tells whether the code changed between two moments."""
    digest = hashlib.sha256()
    for path in sorted((REPO_ROOT / "gslb").rglob("*.py")):
        digest.update(str(path.relative_to(REPO_ROOT)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3, help="rounds per server (default 3)")
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each dnsperf run (default 5)")
    parser.add_argument(
        "--zones", type=Path, default=REPO_ROOT / "zones", help="zone directory (default: the repo's zones/)"
    )
    parser.add_argument(
        "--servers",
        default=",".join(SERVERS),
        help=f"comma-separated servers to run, in this order within a round (default {','.join(SERVERS)})",
    )
    parser.add_argument("--json", action="store_true", help="also print every run and the summary as JSON")
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.seconds <= 0:
        parser.error("--rounds must be >= 1 and --seconds > 0")
    args.servers = [name.strip() for name in args.servers.split(",") if name.strip()]
    unknown = sorted(set(args.servers) - set(SERVERS))
    if unknown or not args.servers or len(set(args.servers)) != len(args.servers):
        parser.error(f"--servers takes distinct names among {', '.join(SERVERS)}; got {args.servers}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    tools = find_tools(args.servers)
    workloads = all_workloads()
    revision = gslb_revision()
    with tempfile.TemporaryDirectory(prefix="bench-queries-") as tmp:
        files = {workload.name: workload.write(Path(tmp)) for workload in workloads}
        measurements, odd_lines = run_rounds(
            tools,
            args.zones.resolve(),
            workloads,
            files,
            servers=args.servers,
            rounds=args.rounds,
            seconds=args.seconds,
            scratch=Path(tmp),
        )
    summaries = {workload.name: summarise(measurements, workload.name) for workload in workloads}
    others = " and ".join(LABELS[name] for name in args.servers if name != "gslb")
    versus = f" vs {others}" if others else ""
    print(f"\ngslb {revision}{versus}; servers on CPU {SERVER_CPU}, dnsperf on CPU {CLIENT_CPU}\n")
    for workload in workloads:
        print(render_table(workload, summaries[workload.name], args.rounds, args.seconds))
        print()
    notes = rcode_check(measurements) + loss_notes(measurements)
    for workload in workloads:
        notes += bottleneck_notes(summaries[workload.name])
    if gslb_revision() != revision:
        # Every round starts a fresh gslb, so an edit during the run mixes two versions in the medians.
        notes.append(
            f"gslb changed during the run (now {gslb_revision()}): rounds may measure different code"
        )
    notes += noise_notes(measurements)
    for name, lines in odd_lines.items():
        for line, in_rounds in lines.items():
            notes.append(f"{name} log, round {', '.join(map(str, in_rounds))}: {line}")
    for note in notes:
        print(f"note: {note}")
    if args.json:
        document = {
            "gslb_revision": revision,
            "servers": args.servers,
            "rounds": args.rounds,
            "seconds": args.seconds,
            "fixed_rate_share": FIXED_RATE_SHARE,
            "summary": [asdict(s) for workload in workloads for s in summaries[workload.name]],
            "runs": [
                {
                    **asdict(m),
                    "max_cpu_us_per_query": m.max_run.cpu_us_per_query,
                    "fixed_cpu_us_per_query": m.fixed_run.cpu_us_per_query,
                    "max_other_load_percent": m.max_run.other_load_percent,
                    "fixed_other_load_percent": m.fixed_run.other_load_percent,
                }
                for m in measurements
            ],
            "notes": notes,
        }
        print(json.dumps(document, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
