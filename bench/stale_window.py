"""How long a real resolver keeps handing out a dead VIP: gslb with health checks against a plain round-robin
zone (TTL 300 s) served by Knot, through Unbound and a real delegation on loopback (see bench/stale.py).

Usage: python bench/stale_window.py [--runs gslb,rr] [--after-kill 30] [--restore-limit 30] [--ttl 5]
                                    [--withdraw monitor|store]
                                    [--interval 1] [--timeout 0.5] [--rise 2] [--fall 2]

Needs root (port 53 and 80 on 127.0.53.x) and the Debian packages knot and unbound. Prints each run's timeline
(one line per stretch of identical answers, times from the kill; † marks the dead address) and a summary.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    # Run as a script, only bench/ is on the path; the bench package and tests.servers live at the root.
    sys.path.insert(0, str(REPO_ROOT))

from bench.stale import (  # noqa: E402
    RR_TTL,
    Child,
    HealthCheck,
    Run,
    Scenario,
    Withdrawer,
    bind_problem,
    restore_text,
    run_experiment,
    running_chain,
    store_stand_in,
    summary_table,
    timeline,
    window_text,
)
from tests.servers.knot import which_knotd  # noqa: E402
from tests.servers.process import ServerStartError  # noqa: E402
from tests.servers.unbound import which_unbound  # noqa: E402


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", default="gslb,rr", help="which runs, in order: gslb, rr (default both)")
    parser.add_argument("--after-kill", type=float, default=30.0, help="seconds from the kill to the restore")
    parser.add_argument(
        "--restore-limit",
        type=float,
        default=30.0,
        help="seconds to wait for the restored backend to be served",
    )
    parser.add_argument("--ttl", type=int, default=5, help="gslb pool TTL (default 5)")
    parser.add_argument(
        "--withdraw",
        choices=("monitor", "store"),
        default="monitor",
        help="monitor: gslb's health check finds the dead backend; store: a store write at the kill and the "
        "restore stands in for a monitor with no detection time (measures the cache part alone)",
    )
    parser.add_argument("--interval", type=float, default=1.0, help="check interval (monitor)")
    parser.add_argument("--timeout", type=float, default=0.5, help="check timeout (monitor)")
    parser.add_argument("--rise", type=int, default=2)
    parser.add_argument("--fall", type=int, default=2)
    args = parser.parse_args(argv)
    args.runs = [name.strip() for name in args.runs.split(",") if name.strip()]
    unknown = set(args.runs) - {"gslb", "rr"}
    if unknown:
        parser.error(f"unknown runs: {', '.join(sorted(unknown))}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    knotd, unbound = which_knotd(), which_unbound()
    missing = [f"{tool} (Debian package {tool if tool != 'knotd' else 'knot'})"
               for tool, path in (("knotd", knotd), ("unbound", unbound)) if path is None]  # fmt: skip
    problem = bind_problem()
    if missing or problem:
        for reason in [*(f"missing {m}" for m in missing), *([problem] if problem else [])]:
            print(f"stale_window: {reason}", file=sys.stderr)
        return 2
    assert knotd is not None and unbound is not None
    check = HealthCheck(args.interval, args.timeout, args.rise, args.fall)
    runs: list[Run] = []
    for name in args.runs:
        if name == "gslb":
            monitored = args.withdraw == "monitor"
            scenario = Scenario(
                label=f"gslb ({'health check' if monitored else 'store write at the kill'})",
                child=Child.GSLB,
                ttl=args.ttl,
                down_for=args.after_kill,
                restore_limit=args.restore_limit,
                kill_fresh=True,
                check=check if monitored else None,
            )
        else:
            scenario = Scenario(
                label="Knot, plain round robin",
                child=Child.RR,
                ttl=RR_TTL,
                down_for=args.after_kill,
                restore_limit=args.restore_limit,
                kill_fresh=False,
            )
        print(f"== {scenario.label}", flush=True)
        try:
            with running_chain(
                scenario.child, knotd, unbound, ttl=scenario.ttl, check=scenario.check
            ) as chain:
                withdrawer = Withdrawer()
                if scenario.child is Child.GSLB and scenario.check is None:
                    assert chain.db_url is not None
                    withdrawer = store_stand_in(chain.db_url)
                run = run_experiment(chain, scenario, withdrawer)
        except ServerStartError as exc:
            print(f"stale_window: a server did not start: {exc}", file=sys.stderr)
            return 1
        runs.append(run)
        for line in timeline(run):
            print(line)
        print(f"withdrawal window {window_text(run)}; restore delay {restore_text(run)}\n", flush=True)
    if args.withdraw == "monitor" and "gslb" in args.runs:
        print(
            f"gslb check: interval {check.interval:g} s, timeout {check.timeout:g} s, fall {check.fall}, "
            f"rise {check.rise}: withdrawal expected within {check.down_detection:g} s + TTL {args.ttl} s"
        )
    print("\n".join(summary_table(runs)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
