"""How long answers wait while the admin API writes, in one gslb process.

Usage: python bench/write_stalls.py [--rounds 2] [--seconds 8] [--writes 10]

gslb serves the example zones, pinned to CPU 0, with its admin API. This script, pinned to CPU 1, asks
``www.gslb.example.test A`` over UDP one query at a time, every 0.5 ms after the last answer, and times each
answer, while a second process (also on CPU 1) sends ``--writes`` admin API requests a second:

- ``none``: no requests;
- ``writes``: ``PATCH`` of a www member's weight, flipped between 100 and 200: each one a store write, a
  new revision, and the incremental snapshot update that follows, all in the answering process;
- ``refused``: the same ``PATCH`` to a pool that does not exist (404): the same HTTP traffic without a write,
  to tell what the write itself costs from what the request costs.

Each configuration runs on a fresh server, 3 s after it answers (its health process's start-up is over),
rounds interleaved. The table gives the answers' latency percentiles, the worst, and how many took over
2 ms: the answers an API write held back. Figures are for comparing configurations in one run.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    # Run as a script, only bench/ is on the path; the bench package and harness live at the root.
    sys.path.insert(0, str(REPO_ROOT))

import dns.message  # noqa: E402

from bench.runs import CLIENT_CPU, SERVER_CPU  # noqa: E402
from bench.servers import gslb_server  # noqa: E402
from gslb.tokens import ApiToken, Role, token_hash  # noqa: E402

TOKEN = "gslb_write_stalls_bench_token_0123456789"
QUERY_NAME = "www.gslb.example.test."
MEMBER = "192.0.2.10"
PAUSE = 0.0005
SETTLE = 3.0
SLOW = 0.002
CONFIGS = ("none", "writes", "refused")


@dataclass(frozen=True, slots=True)
class Stalls:
    """Answer latencies of one run, in seconds."""

    queries: int
    p50: float
    p99: float
    p999: float
    worst: float
    slow: int  # answers later than SLOW

    @classmethod
    def of(cls, latencies: list[float]) -> Stalls:
        if not latencies:
            raise ValueError("no answers")
        ordered = sorted(latencies)
        count = len(ordered)

        def percentile(share: float) -> float:
            return ordered[min(count - 1, int(count * share))]

        return cls(
            count,
            percentile(0.5),
            percentile(0.99),
            percentile(0.999),
            ordered[-1],
            sum(x > SLOW for x in ordered),
        )


def probe(host: str, port: int, seconds: float) -> list[float]:
    """One query at a time for ``seconds``; the latency of each answer (a lost one counts as 1 s)."""
    query = dns.message.make_query(QUERY_NAME, "A").to_wire()
    latencies: list[float] = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.connect((host, port))
        sock.settimeout(1.0)
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            started = time.perf_counter()
            sock.send(query)
            try:
                sock.recv(512)
            except TimeoutError:
                latencies.append(1.0)
                continue
            latencies.append(time.perf_counter() - started)
            time.sleep(PAUSE)
    return latencies


def write_forever(api_url: str, pool: str, rate: float) -> None:
    """The writer process: PATCH the member's weight ``rate`` times a second until killed."""
    weight, started, done = 100, time.monotonic(), 0
    while True:
        weight = 300 - weight
        request = urllib.request.Request(
            f"{api_url}/api/v1/pools/{pool}/members/{MEMBER}",
            data=json.dumps({"weight": weight}).encode(),
            method="PATCH",
            headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                response.read()
        except urllib.error.HTTPError:
            pass  # the refused configuration's 404s
        done += 1
        time.sleep(max(0.0, started + done / rate - time.monotonic()))


def run(config: str, seconds: float, writes: float) -> Stalls:
    environ = {"GSLB_API_TOKENS": str(ApiToken("bench", Role.ADMIN, token_hash(TOKEN)))}
    with gslb_server(REPO_ROOT, REPO_ROOT / "zones", "taskset", SERVER_CPU, environ=environ) as server:
        time.sleep(SETTLE)
        writer = None
        if config != "none":
            pool = "www" if config == "writes" else "no-such-pool"
            writer = subprocess.Popen(
                [
                    "taskset",
                    "-c",
                    str(CLIENT_CPU),
                    sys.executable,
                    __file__,
                    "--writer",
                    server.api_url,
                    pool,
                    "--writes",
                    str(writes),
                ]
            )
        try:
            return Stalls.of(probe(server.host, server.port, seconds))
        finally:
            if writer is not None:
                writer.kill()
                writer.wait()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--writes", type=float, default=10.0, help="API requests a second (default 10)")
    parser.add_argument("--writer", nargs=2, metavar=("API_URL", "POOL"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.writer:
        write_forever(args.writer[0], args.writer[1], args.writes)
        return
    if args.rounds < 1 or args.seconds <= 0 or args.writes <= 0:
        parser.error("--rounds must be >= 1, --seconds and --writes > 0")
    os.sched_setaffinity(0, {CLIENT_CPU})
    print(f"gslb on CPU {SERVER_CPU}; probe and API client on CPU {CLIENT_CPU}; {args.writes:g} requests/s")
    print(
        f"{'round':>5} {'config':<8} {'answers':>8} {'p50 ms':>7} {'p99 ms':>7} {'p99.9 ms':>8} "
        f"{'max ms':>7} {'> 2 ms':>6}"
    )
    for round_number in range(1, args.rounds + 1):
        for config in CONFIGS:
            s = run(config, args.seconds, args.writes)
            print(
                f"{round_number:>5} {config:<8} {s.queries:>8,} {s.p50 * 1e3:>7.3f} {s.p99 * 1e3:>7.3f} "
                f"{s.p999 * 1e3:>8.3f} {s.worst * 1e3:>7.2f} {s.slow:>6}",
                flush=True,
            )


if __name__ == "__main__":
    main()
