"""gslb against Knot DNS and gdnsd under dnsperf on loopback: max QPS, CPU per query at a fixed rate,
p50/p99 latency at half load, and the performance issue's targets judged from them.

Usage: python bench/dnsperf_example.py [--rounds 3] [--seconds 5] [--servers gslb,gslb-w2,knot,gdnsd]
                                       [--workloads pool,static,mixed] [--fixed-rate 30000] [--json]
                                       [--base DIR]

With --base DIR (another checkout, e.g. ``git worktree add /tmp/before HEAD~1``), server ``base`` runs that
checkout's gslb right after this one in every round, and a /base column gives this checkout's ratio to it.

Method: each server is pinned to CPU 0 and dnsperf to CPU 1, one server runs at a time, the servers alternate
round by round (gslb, gslb-w2, Knot, gdnsd, gslb, ...), and the tables show medians over the rounds, so the
ratios compare figures from the same run of this script.
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
    # Run as a script, only bench/ is on the path; the bench package and harness live at the root.
    sys.path.insert(0, str(REPO_ROOT))

from bench import targets  # noqa: E402
from bench.report import (  # noqa: E402
    FIXED_RATE,
    LATENCY_RATE_SHARE,
    Measurement,
    bottleneck_notes,
    fixed_rate_notes,
    loss_notes,
    noise_notes,
    process_notes,
    rcode_check,
    render_table,
    summarise,
)
from bench.runs import CLIENT_CPU, LABELS, SERVER_CPU, SERVERS, LoadGenerator, measure  # noqa: E402
from bench.servers import (  # noqa: E402
    gdnsd_server,
    gslb_has_workers_option,
    gslb_server,
    knot_server,
    trouble,
)
from bench.workloads import Workload, all_workloads  # noqa: E402
from harness.process import ServerProcess  # noqa: E402

TOOLS = {
    "dnsperf": "Debian package 'dnsperf'",
    "knotd": "Debian package 'knot'",
    "gdnsd": "Debian package 'gdnsd'",
    "taskset": "Debian package 'util-linux'",
}
SERVER_TOOLS = {"knot": "knotd", "gdnsd": "gdnsd"}
"""The program each reference server needs; gslb runs from the checkout."""
DEFAULT_SERVERS = tuple(name for name in SERVERS if name != "base")
"""base runs only when --base names a checkout."""
WORKLOAD_NAMES = tuple(workload.name for workload in all_workloads())
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
    if "gslb-w2" in servers and not gslb_has_workers_option(REPO_ROOT):
        raise SystemExit(
            "dnsperf_example: this checkout's `gslb serve` has no --workers option: leave gslb-w2 out of "
            "--servers"
        )
    cpus = os.sched_getaffinity(0)
    if not {SERVER_CPU, CLIENT_CPU} <= cpus:
        raise SystemExit(
            f"dnsperf_example: needs CPUs {SERVER_CPU} and {CLIENT_CPU}; allowed here: {sorted(cpus)}"
        )
    return Tools(**{name: str(path) for name, path in found.items()})


def start_server(
    name: str, tools: Tools, zones: Path, scratch: Path, base: Path | None = None
) -> ServerProcess:
    if name == "gslb":
        return gslb_server(REPO_ROOT, zones, tools.taskset, SERVER_CPU)
    if name == "base":
        if base is None:
            raise ValueError("the base server needs --base DIR")
        return gslb_server(base, zones, tools.taskset, SERVER_CPU)
    if name == "gslb-w2":
        return gslb_server(REPO_ROOT, zones, tools.taskset, SERVER_CPU, workers=2)
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
    fixed_rate: int,
    scratch: Path,
    base: Path | None = None,
) -> tuple[list[Measurement], dict[str, dict[str, list[int]]]]:
    """Every round runs each server in turn over every workload; returns the runs and, per server, its odd
    log lines with the rounds that logged them."""
    measurements: list[Measurement] = []
    odd_lines: dict[str, dict[str, list[int]]] = {name: {} for name in servers}
    for round_number in range(1, rounds + 1):
        for name in servers:
            with start_server(name, tools, zones, scratch, base) as server:
                for workload in workloads:
                    queries = files[workload.name]
                    max_run = measure(server, tools.generator, queries, seconds, None)
                    fixed_run = measure(server, tools.generator, queries, seconds, fixed_rate)
                    latency_rate = max(1, round(max_run.report.qps * LATENCY_RATE_SHARE))
                    latency_run = measure(
                        server, tools.generator, queries, seconds, latency_rate, verbose=True
                    )
                    measurements.append(
                        Measurement(round_number, name, workload.name, max_run, fixed_run, latency_run)
                    )
                    other = max(run.other_load_percent for run in (max_run, fixed_run, latency_run))
                    print(
                        f"round {round_number}/{rounds} {name:<7} {workload.name:<6} "
                        f"max {max_run.report.qps:>9,.0f} qps, lost {max_run.report.lost_percent:.2f}%; "
                        f"at {fixed_rate:,} qps {fixed_run.cpu_us_per_query:.1f} us/query; "
                        f"at {latency_rate:,} qps p50 {latency_run.report.latency_p50 * 1e3:.3f} ms "
                        f"p99 {latency_run.report.latency_p99 * 1e3:.3f} ms; CPU 0 other {other:.0f}%",
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
        default=",".join(DEFAULT_SERVERS),
        help="comma-separated servers to run, in this order within a round "
        f"(default {','.join(DEFAULT_SERVERS)})",
    )
    parser.add_argument(
        "--base",
        type=Path,
        metavar="DIR",
        help="another gslb checkout (e.g. a git worktree of the commit before a change), run as server "
        "'base' right after gslb in every round, so before and after are compared in one run",
    )
    parser.add_argument(
        "--workloads",
        default=",".join(WORKLOAD_NAMES),
        help=f"comma-separated workloads to run (default {','.join(WORKLOAD_NAMES)})",
    )
    parser.add_argument(
        "--fixed-rate",
        type=int,
        default=FIXED_RATE,
        help=f"QPS of the CPU-per-query runs (default {FIXED_RATE:,}, the issue's target 2)",
    )
    parser.add_argument(
        "--json", action="store_true", help="also print every run, the summary and the targets as JSON"
    )
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.seconds <= 0 or args.fixed_rate < 1:
        parser.error("--rounds and --fixed-rate must be >= 1 and --seconds > 0")
    args.servers = [name.strip() for name in args.servers.split(",") if name.strip()]
    unknown = sorted(set(args.servers) - set(SERVERS))
    if unknown or not args.servers or len(set(args.servers)) != len(args.servers):
        parser.error(f"--servers takes distinct names among {', '.join(SERVERS)}; got {args.servers}")
    if args.base is not None:
        args.base = args.base.resolve()
        if not (args.base / "gslb" / "__main__.py").is_file():
            parser.error(f"--base: {args.base} is not a gslb checkout (no gslb/__main__.py)")
        if "base" not in args.servers:
            args.servers.insert(args.servers.index("gslb") + 1 if "gslb" in args.servers else 0, "base")
    elif "base" in args.servers:
        parser.error("--servers: base needs --base DIR")
    args.workloads = [name.strip() for name in args.workloads.split(",") if name.strip()]
    if not args.workloads or not set(args.workloads) <= set(WORKLOAD_NAMES):
        parser.error(f"--workloads takes names among {', '.join(WORKLOAD_NAMES)}; got {args.workloads}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    tools = find_tools(args.servers)
    workloads = [workload for workload in all_workloads() if workload.name in args.workloads]
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
            fixed_rate=args.fixed_rate,
            scratch=Path(tmp),
            base=args.base,
        )
    summaries = {workload.name: summarise(measurements, workload.name) for workload in workloads}
    others = " and ".join(LABELS[name] for name in args.servers if name != "gslb")
    versus = f" vs {others}" if others else ""
    print(f"\ngslb {revision}{versus}; servers on CPU {SERVER_CPU}, dnsperf on CPU {CLIENT_CPU}\n")
    for workload in workloads:
        print(render_table(workload, summaries[workload.name], args.rounds, args.seconds, args.fixed_rate))
        print()
    judged = targets.evaluate(summaries)
    print(targets.render(judged))
    print()
    notes = rcode_check(measurements) + loss_notes(measurements)
    for workload in workloads:
        notes += bottleneck_notes(summaries[workload.name])
    notes += fixed_rate_notes(measurements) + process_notes(measurements)
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
            "fixed_rate": args.fixed_rate,
            "latency_rate_share": LATENCY_RATE_SHARE,
            "summary": [asdict(s) for workload in workloads for s in summaries[workload.name]],
            "targets": [target.as_dict() for target in judged],
            "runs": [
                {
                    **asdict(m),
                    **{
                        f"{kind}_{figure}": getattr(run, figure)
                        for kind, run in (
                            ("max", m.max_run),
                            ("fixed", m.fixed_run),
                            ("latency", m.latency_run),
                        )
                        for figure in ("cpu_us_per_query", "other_load_percent")
                    },
                }
                for m in measurements
            ],
            "notes": notes,
        }
        print(json.dumps(document, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
