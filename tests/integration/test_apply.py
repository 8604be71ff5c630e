"""``gslb apply`` and the first start, through the real CLI, a real server and the store it follows.

Declarations are edited the way an operator edits them (a copy of tests/data/pools/apply.toml, or
of the quickstart's zones/), then applied with ``python -m gslb apply``, or with the library
function the CLI calls where a test needs to time the commit exactly. The server is never
restarted or signalled: its follower must show each committed change within ``VISIBLE_WITHIN``.
"""

from __future__ import annotations

import random
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import dns.rcode
import pytest

from gslb.declare.apply import apply, declared
from gslb.dns import zonefile
from gslb.health.status import parse_time
from gslb.model import Inventory
from gslb.store import open_store
from tests.conftest import EXAMPLE_ZONES, ROOT
from tests.integration.dnsclient import ask
from tests.integration.server import GslbProcess
from tests.integration.test_pools_live import (
    POOL_DATA,
    VISIBLE_WITHIN,
    Deployment,
    addresses,
    deployment,
    latency_report,
    off_phase_pause,
    seconds_until,
    serving,
    sqlite_url,
    zone_directory,
)

APPLY_POOLS = POOL_DATA / "apply.toml"
EDGE = "edge.gslb.example.test"  # apply.toml's one-member pool: one query shows its address
WWW = "www.gslb.example.test"
NEW = "new.gslb.example.test"
EDGE_MEMBER = '"198.51.100.50"'
ACTOR = "test_apply"
TRIALS = 10
NO_CHANGES = "no changes: the store matches the declarations"
QUICKSTART_V4 = {"192.0.2.10", "198.51.100.10", "203.0.113.10"}
QUICKSTART_V6 = "2001:db8:10::10"


def gslb(*args: str) -> subprocess.CompletedProcess[str]:
    """The real CLI, as an operator runs it from the checkout."""
    return subprocess.run(
        [sys.executable, "-m", "gslb", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=ROOT,
    )


def replace_once(text: str, old: str, new: str) -> str:
    """``text`` with its one ``old`` replaced: an edit that no longer matches the data fails loudly."""
    assert text.count(old) == 1, f"expected exactly one {old!r} in the declarations"
    return text.replace(old, new)


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Deployment]:
    """A server whose first start applied apply.toml, and its store opened here."""
    with deployment(APPLY_POOLS, tmp_path) as running:
        yield running


def test_dry_run_shows_the_plan_apply_makes_it_and_applying_again_changes_nothing(site: Deployment) -> None:
    toml = site.zones / "pools.toml"
    edited = replace_once(toml.read_text(), EDGE_MEMBER, '"198.51.100.51"')  # update pool edge
    edited = replace_once(edited, '  { site = "sin", address = "203.0.113.10" },\n', "")  # update www
    edited = replace_once(edited, '[sites.sin]\nregion = "ap-southeast"\n', "")  # delete site sin
    edited += f'\n[pools.new]\nnames = ["{NEW}"]\nmembers = [{{ site = "nyc", address = "198.51.100.60" }}]\n'
    toml.write_text(edited)
    revision, contents = site.store.load()
    www_before = set().union(*(addresses(site.server, WWW) for _ in range(3)))

    dry = gslb("apply", str(site.zones), "--dry-run", "--db", site.url)
    assert dry.returncode == 0, dry.stderr
    heads = [line for line in dry.stdout.splitlines() if not line.startswith(" ")]
    assert heads == [  # sites first, then pools by name, deletions last (gslb/declare/plan.py)
        "~ pool edge",
        "+ pool new",
        "~ pool www",
        "- site sin",
        "plan: 1 to create, 2 to update, 1 to delete",
        "dry run: nothing was changed",
    ], dry.stdout
    details = [line.strip() for line in dry.stdout.splitlines() if line.startswith(" ")]
    assert any(d.startswith("member + 198.51.100.51 site=nyc") for d in details), dry.stdout
    assert any(d.startswith("member - 198.51.100.50 site=nyc") for d in details), dry.stdout
    assert any(d.startswith("member - 203.0.113.10 site=sin") for d in details), dry.stdout
    assert any(d.startswith("member + 198.51.100.60 site=nyc") for d in details), dry.stdout
    # Nothing changed: not the store, so not the answers either.
    assert site.store.load() == (revision, contents)
    assert addresses(site.server, EDGE) == {"198.51.100.50"}
    assert ask(site.server.host, site.server.port, NEW, "A").rcode() == dns.rcode.NXDOMAIN
    assert set().union(*(addresses(site.server, WWW) for _ in range(3))) == www_before

    applied = gslb("apply", str(site.zones), "--db", site.url)
    exited = time.perf_counter()
    assert applied.returncode == 0, applied.stderr
    # The plan shown by the dry run is exactly the plan applied.
    assert applied.stdout.splitlines()[:-1] == dry.stdout.splitlines()[:-1]
    assert applied.stdout.splitlines()[-1] == f"applied: store revision {revision + 1}"
    assert site.store.revision() == revision + 1
    seconds_until(serving(site.server, EDGE, {"198.51.100.51"}), exited)
    assert addresses(site.server, NEW) == {"198.51.100.60"}
    assert addresses(site.server, WWW) == {"192.0.2.10", "198.51.100.10"}

    again = gslb("apply", str(site.zones), "--db", site.url)
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == NO_CHANGES
    assert site.store.revision() == revision + 1


SHORT = "short.gslb.example.test"
SHORT_POOL = """
[pools.short]
names = ["{name}"]
ttl = 2
answer_count = 2
members = [
  {{ site = "nyc", address = "198.51.100.70" }},
  {{ site = "nyc", address = "198.51.100.71"{drained} }},
]
"""


def test_a_drain_applied_is_answered_until_the_old_copies_expire_and_says_when_caches_clear(
    site: Deployment,
) -> None:
    """An unchecked pool with a 2 s TTL: the drained member stays in answers (at the 1 s floor) for 2 s,
    and ``gslb apply`` prints when no cache can still hold it."""
    toml = site.zones / "pools.toml"
    original = toml.read_text()
    toml.write_text(original + SHORT_POOL.format(name=SHORT, drained=""))
    assert gslb("apply", str(site.zones), "--db", site.url).returncode == 0
    seconds_until(serving(site.server, SHORT, {"198.51.100.70", "198.51.100.71"}), time.perf_counter())

    toml.write_text(original + SHORT_POOL.format(name=SHORT, drained=', state = "drained"'))
    started = time.time()
    applied = gslb("apply", str(site.zones), "--db", site.url)
    assert applied.returncode == 0, applied.stderr
    (line,) = [line for line in applied.stdout.splitlines() if line.startswith("draining ")]
    prefix = "draining short/198.51.100.71: caches clear at "
    assert line.startswith(prefix), applied.stdout
    clear = parse_time(line.removeprefix(prefix)).timestamp()
    assert started + 3.5 <= clear <= time.time() + 4.5  # drained_at + 2 s (old TTL) + 1 s (floor) + 1 s
    response = ask(site.server.host, site.server.port, SHORT, "A")
    if time.time() < clear - 2.5:  # still before the deadline: answered, at the floor TTL
        assert {r.to_text() for rrset in response.answer for r in rrset} == {"198.51.100.70", "198.51.100.71"}
        assert {rrset.ttl for rrset in response.answer} == {1}
    seconds_until(serving(site.server, SHORT, {"198.51.100.70"}), time.perf_counter())
    assert time.time() >= clear - 2.1  # withdrawn at the deadline, not before
    assert ask(site.server.host, site.server.port, SHORT, "A").answer[0].ttl == 2  # the pool's own again
    again = gslb("apply", str(site.zones), "--db", site.url)
    # The drain's start is the store's, not a difference to apply; a drain whose caches have not
    # cleared yet is shown again, with the same time.
    assert again.stdout.splitlines()[0] == NO_CHANGES
    assert set(again.stdout.splitlines()[1:]) <= {line}


def test_invalid_declarations_are_refused_whole_and_named_by_file_object_and_field(tmp_path: Path) -> None:
    """Every problem is reported at once, by ``gslb apply`` and ``gslb check`` alike; nothing is written."""
    zones = zone_directory(APPLY_POOLS, tmp_path / "zones")
    url = sqlite_url(tmp_path)
    toml = zones / "pools.toml"
    with open_store(url) as store:
        apply(store, declared(zones, zonefile.load_zones(zones)), dry_run=False, actor=ACTOR)
        before = store.load()
        text = replace_once(toml.read_text(), 'address = "192.0.2.10"', 'address = "192.0.2.300"')
        text = replace_once(text, 'address = "198.51.100.10" }', 'address = "198.51.100.10", weight = -1 }')
        text = replace_once(text, EDGE_MEMBER, '"198.51.100.51"')  # valid, but must not be applied either
        toml.write_text(text)
        expected = {
            f"{toml}: pools.www.members[0].address:": "'192.0.2.300'",
            f"{toml}: pools.www.members[1].weight:": "-1",
        }

        refused = gslb("apply", str(zones), "--db", url)
        assert refused.returncode != 0, refused.stdout
        assert "nothing applied" in refused.stderr
        for where, value in expected.items():
            lines = [line for line in refused.stderr.splitlines() if line.startswith(where)]
            assert len(lines) == 1 and value in lines[0], refused.stderr
        assert store.load() == before

        checked = gslb("check", str(zones))
        assert checked.returncode != 0, checked.stdout
        for where, value in expected.items():
            lines = [line for line in checked.stderr.splitlines() if line.startswith(where)]
            assert len(lines) == 1 and value in lines[0], checked.stderr
        assert store.load() == before


def test_an_applied_change_is_served_within_100_ms(site: Deployment) -> None:
    """Timed from the return of the function ``gslb apply`` calls, once its transaction has committed."""
    toml = site.zones / "pools.toml"
    template = toml.read_text()
    zones = zonefile.load_zones(site.zones)
    rng = random.Random(2)
    latencies: list[float] = []
    for trial in range(TRIALS):
        address = f"198.51.100.{51 + trial}"
        toml.write_text(replace_once(template, EDGE_MEMBER, f'"{address}"'))
        desired = declared(site.zones, zones)
        off_phase_pause(rng)
        result = apply(site.store, desired, dry_run=False, actor=ACTOR)
        committed = time.perf_counter()
        assert not result.plan.empty
        latencies.append(seconds_until(serving(site.server, EDGE, {address}), committed))
    report = latency_report("gslb.declare.apply.apply -> answers", latencies, site.server)
    print(f"\n{report}")
    assert max(latencies) < VISIBLE_WITHIN, report


def test_first_start_applies_the_quickstart_zones_and_later_starts_leave_it_to_gslb_apply(
    tmp_path: Path,
) -> None:
    """``gslb serve`` on a fresh store serves zones/ as the README's quickstart says; on a store with
    content it serves the store, even when the files have changed since; ``gslb apply`` (the real
    subprocess) brings the change, visible within 100 ms of the process exiting."""
    zones = tmp_path / "zones"
    zones.mkdir()
    for source in (*EXAMPLE_ZONES.glob("*.zone"), *EXAMPLE_ZONES.glob("*.toml")):
        shutil.copy(source, zones / source.name)
    url = sqlite_url(tmp_path)

    with GslbProcess(zones, extra_args=["--db", url]) as server:
        for _ in range(3):
            answer = ask(server.host, server.port, WWW, "A").answer
            assert len(answer) == 1, answer
            served = [rdata.to_text() for rdata in answer[0]]
            assert len(served) == len(set(served)) == 2 and set(served) <= QUICKSTART_V4, served
        assert addresses(server, WWW, "AAAA") == {QUICKSTART_V6}
        first_log = server.stop()
    assert "declarations applied to the new store" in first_log

    moved = "2001:db8:10::11"
    toml = zones / "pools.toml"
    toml.write_text(replace_once(toml.read_text(), f'address = "{QUICKSTART_V6}"', f'address = "{moved}"'))
    with GslbProcess(zones, extra_args=["--db", url]) as server:
        time.sleep(2 * VISIBLE_WITHIN)  # long enough for anything the server might apply to show
        assert addresses(server, WWW, "AAAA") == {QUICKSTART_V6}
        applied = gslb("apply", str(zones), "--db", url)
        exited = time.perf_counter()
        assert applied.returncode == 0, applied.stderr
        assert f"member + {moved} site=eu1" in applied.stdout, applied.stdout
        assert "applied: store revision 2" in applied.stdout, applied.stdout
        latency = seconds_until(serving(server, WWW, {moved}, "AAAA"), exited)
        second_log = server.stop()
    print(f"\ngslb apply (subprocess exit) -> answers: {latency * 1000:.1f} ms")
    assert latency < VISIBLE_WITHIN, f"{latency * 1000:.1f} ms"
    assert "declarations applied to the new store" not in second_log


def test_an_emptied_pools_toml_is_refused_unless_forced(tmp_path: Path) -> None:
    """The guard (gslb/declare/safety.py) through the real CLI: refused with the counts, nothing
    written; the dry run says it would be refused; ``--force`` applies it."""
    zones = zone_directory(APPLY_POOLS, tmp_path / "zones")
    url = sqlite_url(tmp_path)
    assert gslb("apply", str(zones), "--db", url).returncode == 0
    with open_store(url) as store:
        before = store.load()
    (zones / "pools.toml").write_text("# emptied\n")
    reason = "the declarations hold no pools: the plan deletes all 2 pools of the store"

    dry = gslb("apply", str(zones), "--dry-run", "--db", url)
    assert dry.returncode != 0, dry.stdout
    lines = dry.stdout.splitlines()
    assert "- pool www" in lines and "plan: 5 to delete" in lines, dry.stdout
    assert lines[-4:] == [
        "gslb apply would refuse this plan:",
        reason,
        "--force applies it anyway",
        "dry run: nothing was changed",
    ], dry.stdout

    refused = gslb("apply", str(zones), "--db", url)
    assert refused.returncode != 0, refused.stdout
    assert refused.stdout.splitlines() == lines[:-4]  # the plan it refused
    assert refused.stderr.splitlines() == [
        "gslb: refused, nothing applied:",
        reason,
        "gslb apply --force applies it anyway",
    ]
    with open_store(url) as store:
        assert store.load() == before

    forced = gslb("apply", str(zones), "--force", "--db", url)
    assert forced.returncode == 0, forced.stderr
    assert forced.stdout.splitlines() == [*lines[:-4], f"applied: store revision {before[0] + 1}"]
    with open_store(url) as store:
        assert store.load() == (before[0] + 1, Inventory())
