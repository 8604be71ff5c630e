"""How long a real resolver keeps handing out a dead VIP: gslb with health checks, a plain round-robin zone
(TTL 300 s) served by Knot, and gdnsd's health-checked multifo, through Unbound and a real delegation on
loopback (see bench/stale.py).

Usage: python bench/stale_window.py [--runs gslb,rr,gdnsd,drain] [--after-kill 40] [--length 80]
                                    [--period 0.2] [--ttl N] [--withdraw monitor|store]
                                    [--interval S] [--timeout S] [--rise N] [--fall N]

Needs root (port 53 and 80 on 127.0.53.x) and the Debian packages knot and unbound (and gdnsd for its run).
gslb runs with its own defaults for the pool TTL and the check's timing unless --ttl and the check options
say otherwise; gdnsd runs as bench/stale.py configures it (multifo, http_status every 2 s, down after 2
failures, up after 2 successes, www 30 DYNA). Every run lasts --length seconds after the kill, so the failed
client GETs compare. Prints each run's timeline (one line per stretch of identical answers, times from the
kill; † marks the dead address) and a summary. The ``drain`` run drains a site through gslb's admin API
while the client runs, stops its backend at the promised Caches-Clear-At, and counts the failed GETs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    # Run as a script, only bench/ is on the path; the bench package and harness live at the root.
    sys.path.insert(0, str(REPO_ROOT))

from bench.stale import (  # noqa: E402
    GDNSD_SERVICE,
    GDNSD_TTL,
    RR_TTL,
    Child,
    DeclaredCheck,
    DrainRun,
    Run,
    Scenario,
    Withdrawer,
    bind_problem,
    detection_text,
    drain_text,
    restore_text,
    run_drain,
    run_experiment,
    running_chain,
    store_stand_in,
    summary_table,
    timeline,
    window_text,
)
from harness.gdnsd import which_gdnsd  # noqa: E402
from harness.knot import which_knotd  # noqa: E402
from harness.process import ServerStartError  # noqa: E402
from harness.unbound import which_unbound  # noqa: E402

RUNS = ("gslb", "rr", "gdnsd", "drain")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--runs",
        default=",".join(RUNS),
        help="runs, in order: gslb, rr, gdnsd, drain (default: all)",
    )
    parser.add_argument("--after-kill", type=float, default=40.0, help="seconds from the kill to the restore")
    parser.add_argument(
        "--length",
        type=float,
        default=80.0,
        help="seconds each run lasts after the kill (the same for every run; 0: end each run once the "
        "restored backend is served again, or --restore-limit after the restore)",
    )
    parser.add_argument(
        "--restore-limit",
        type=float,
        default=30.0,
        help="with --length 0: seconds to wait for the restored backend to be served",
    )
    parser.add_argument("--period", type=float, default=0.2, help="seconds between client rounds")
    parser.add_argument("--ttl", type=int, default=None, help="gslb pool TTL (default: gslb's default)")
    parser.add_argument(
        "--withdraw",
        choices=("monitor", "store"),
        default="monitor",
        help="monitor: gslb's health check finds the dead backend; store: a store write at the kill and the "
        "restore stands in for a monitor with no detection time (measures the cache part alone)",
    )
    parser.add_argument("--interval", type=float, default=None, help="gslb check interval (default gslb's)")
    parser.add_argument("--timeout", type=float, default=None, help="gslb check timeout (default gslb's)")
    parser.add_argument("--rise", type=int, default=None, help="gslb check rise (default gslb's)")
    parser.add_argument("--fall", type=int, default=None, help="gslb check fall (default gslb's)")
    args = parser.parse_args(argv)
    args.runs = [name.strip() for name in args.runs.split(",") if name.strip()]
    unknown = set(args.runs) - set(RUNS)
    if unknown:
        parser.error(f"unknown runs: {', '.join(sorted(unknown))}")
    return args


def scenario_for(name: str, args: argparse.Namespace, check: DeclaredCheck) -> Scenario:
    """Each child's run, with the same phases: kill, restore after --after-kill, --length in all."""
    length = args.length or None
    if name == "gslb":
        monitored = args.withdraw == "monitor"
        return Scenario(
            label=f"gslb ({'health check' if monitored else 'store write at the kill'})",
            child=Child.GSLB,
            ttl=args.ttl,
            down_for=args.after_kill,
            restore_limit=args.restore_limit,
            kill_fresh=True,
            check=check if monitored else None,
            period=args.period,
            length=length,
            track_child=True,
        )
    if name == "gdnsd":
        return Scenario(
            label="gdnsd, multifo + http_status",
            child=Child.GDNSD,
            ttl=GDNSD_TTL,
            down_for=args.after_kill,
            restore_limit=args.restore_limit,
            kill_fresh=True,
            period=args.period,
            length=length,
            track_child=True,
        )
    return Scenario(
        label="Knot, plain round robin",
        child=Child.RR,
        ttl=RR_TTL,
        down_for=args.after_kill,
        restore_limit=args.restore_limit,
        kill_fresh=False,
        period=args.period,
        length=length,
        track_child=True,
    )


def missing_tools(runs: list[str]) -> tuple[dict[str, str | None], list[str]]:
    """The paths of the servers the runs need, and what is missing (with its Debian package)."""
    tools = {"knotd": which_knotd(), "unbound": which_unbound()}
    packages = {"knotd": "knot", "unbound": "unbound", "gdnsd": "gdnsd"}
    if "gdnsd" in runs:
        tools["gdnsd"] = which_gdnsd()
    missing = [f"{tool} (Debian package {packages[tool]})" for tool, path in tools.items() if path is None]
    return tools, missing


def run_one(scenario: Scenario, tools: dict[str, str | None]) -> Run:
    knotd, unbound = tools["knotd"], tools["unbound"]
    assert knotd is not None and unbound is not None
    with running_chain(
        scenario.child, knotd, unbound, ttl=scenario.ttl, check=scenario.check, gdnsd=tools.get("gdnsd")
    ) as chain:
        withdrawer = Withdrawer()
        if scenario.child is Child.GSLB and scenario.check is None:
            assert chain.db_url is not None
            withdrawer = store_stand_in(chain.db_url)
        return run_experiment(chain, scenario, withdrawer)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    tools, missing = missing_tools(args.runs)
    problem = bind_problem()
    if missing or problem:
        for reason in [*(f"missing {m}" for m in missing), *([problem] if problem else [])]:
            print(f"stale_window: {reason}", file=sys.stderr)
        return 2
    check = DeclaredCheck(args.interval, args.timeout, args.rise, args.fall)
    runs: list[Run] = []
    drained: DrainRun | None = None
    for name in args.runs:
        if name == "drain":
            print("== gslb, a drain through the admin API", flush=True)
            drained = drain_one(tools, check, args.period)
            print(drain_text(drained) + "\n", flush=True)
            continue
        scenario = scenario_for(name, args, check)
        print(f"== {scenario.label}", flush=True)
        try:
            run = run_one(scenario, tools)
        except ServerStartError as exc:
            print(f"stale_window: a server did not start: {exc}", file=sys.stderr)
            return 1
        runs.append(run)
        for line in timeline(run):
            print(line)
        print(
            f"withdrawal window {window_text(run)}; detection {detection_text(run)}; "
            f"restore delay {restore_text(run)}\n",
            flush=True,
        )
    if args.withdraw == "monitor" and "gslb" in args.runs:
        ttl = "gslb's default" if args.ttl is None else f"{args.ttl} s"
        print(f"gslb: pool TTL {ttl}; HTTP check: {check.describe()}")
    if "gdnsd" in args.runs:
        service = GDNSD_SERVICE
        print(
            f"gdnsd: www {GDNSD_TTL} DYNA multifo; http_status interval {service.interval} s, timeout "
            f"{service.timeout} s, down_thresh {service.down_thresh}, up_thresh {service.up_thresh}"
        )
    print(
        f"client: one query and one GET every {args.period:g} s; restore {args.after_kill:g} s after the kill"
    )
    print("\n".join(summary_table(runs)))
    if drained is not None:
        print(f"drain: {drain_text(drained)}")
    return 0


def drain_one(tools: dict[str, str | None], check: DeclaredCheck, period: float) -> DrainRun:
    knotd, unbound = tools["knotd"], tools["unbound"]
    assert knotd is not None and unbound is not None
    with running_chain(Child.GSLB, knotd, unbound, ttl=None, check=check) as chain:
        return run_drain(chain, period=period)


if __name__ == "__main__":
    sys.exit(main())
