"""Declarations: good files become an Inventory; every bad field is named with file and object."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from gslb.declare.reader import DeclarationError, read_declarations
from gslb.model import (
    AdminState,
    AllDown,
    Check,
    CheckOverrides,
    CheckType,
    HealthOverride,
    LvsMode,
    Member,
    Policy,
    PoolKind,
)
from tests.conftest import ROOT

ZONES = ["gslb.example.test.", "example.net."]
STATIC = {"mail.gslb.example.test.": "zones/gslb.example.test.zone"}

GOOD = """
[sites.ams]
region = "eu-west"
description = "Amsterdam"
subnets = ["198.51.100.0/24", "2001:db8:1::/48"]
lvs_mode = "dr"
vips = ["192.0.2.10"]

[sites.nyc]
subnets = ["203.0.113.0/24"]

[pools.www]
names = ["www.gslb.example.test", "WWW.example.net."]
policy = "weighted"
answer_count = 2
ttl = 20
members = [
  { site = "nyc", address = "203.0.113.10", weight = 300, priority = 1 },
  { site = "ams", address = "192.0.2.10" },
  { site = "ams", address = "2001:DB8::10", state = "drained" },
]

[pools.api]
names = ["api.gslb.example.test"]
kind = "cname"
policy = "source_hash"
all_down = "fallback"
fallback = "www"
members = [{ site = "ams", address = "edge.example.net" }]
"""


def read(tmp_path: Path, text: str, name: str = "pools.toml") -> object:
    (tmp_path / name).write_text(text)
    return read_declarations(tmp_path, ZONES, STATIC)


def problems(tmp_path: Path, text: str) -> list[str]:
    (tmp_path / "pools.toml").write_text(text)
    with pytest.raises(DeclarationError) as caught:
        read_declarations(tmp_path, ZONES, STATIC)
    return [f"{p.where}: {p.message}" for p in caught.value.problems]


def test_good_declarations(tmp_path: Path) -> None:
    (tmp_path / "pools.toml").write_text(GOOD)
    inventory = read_declarations(tmp_path, ZONES, STATIC)
    assert [s.name for s in inventory.sites] == ["ams", "nyc"]
    ams = inventory.sites[0]
    assert ams.lvs_mode == LvsMode.DR and ams.vips == (ipaddress.ip_address("192.0.2.10"),)
    assert ams.subnets[1] == ipaddress.ip_network("2001:db8:1::/48")
    api, www = inventory.pools
    assert www.names == ("www.example.net.", "www.gslb.example.test.")
    assert www.policy == Policy.WEIGHTED and www.count == 2 and www.ttl == 20
    assert www.members == (
        Member("ams", "192.0.2.10"),
        Member("ams", "2001:db8::10", state=AdminState.DRAINED),
        Member("nyc", "203.0.113.10", weight=300, priority=1),
    )
    assert api.kind == PoolKind.CNAME and api.count == 1 and api.all_down == AllDown.FALLBACK
    assert api.members[0].address == "edge.example.net."


def test_an_empty_directory_declares_nothing(tmp_path: Path) -> None:
    inventory = read_declarations(tmp_path, ZONES, STATIC)
    assert inventory.sites == () and inventory.pools == ()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "[pools.p]\nnames = ['x.other.test']\n",
            "pools.p.names[0]: x.other.test. is not inside a served zone",
        ),
        ("[pools.p]\n", "pools.p.names: required"),
        ("[pools.p]\nnames = ['mail.gslb.example.test']\n", "already has A/AAAA/CNAME records"),
        (
            "[pools.p]\nnames = ['a.example.net']\npolicy = 'fastest'\n",
            "pools.p.policy: 'fastest' is not one of",
        ),
        ("[pools.p]\nnames = ['a.example.net']\nttl = -1\n", "pools.p.ttl: -1 is outside"),
        (
            "[pools.p]\nnames = ['a.example.net']\nanswer_count = 'two'\n",
            "pools.p.answer_count: must be an integer",
        ),
        ("[pools.p]\nnames = ['a.example.net']\nall_down = 'fallback'\n", "pools.p.fallback: required"),
        ("[pools.p]\nnames = ['a.example.net']\ncolour = 1\n", "pools.p.colour: unknown field"),
        ("[pools.P]\nnames = ['a.example.net']\n", "pools.P: name must be"),
        ("[pool.p]\n", "pool: unknown section"),
        ("[sites.s]\nsubnets = ['10.0.0.1/8']\n", "sites.s.subnets[0]: 10.0.0.1/8 has host bits set"),
        ("[sites.s]\nvips = ['nope']\n", "sites.s.vips[0]: 'nope' is not an IP address"),
        ("[sites.s]\nlvs_mode = 'magic'\n", "sites.s.lvs_mode: 'magic' is not one of nat, dr, tun"),
        (
            "[pools.p]\nnames = ['a.example.net']\nkind = 'cname'\nnames2 = 1\n",
            "pools.p.names2: unknown field",
        ),
        ("[pools.p]\nnames = ['example.net']\nkind = 'cname'\n", "cannot answer for the zone apex"),
    ],
)
def test_each_bad_field_is_named(tmp_path: Path, text: str, expected: str) -> None:
    assert any(expected in line for line in problems(tmp_path, text)), problems(tmp_path, text)


def test_member_problems_name_index_and_field(tmp_path: Path) -> None:
    text = """
[sites.ams]
[pools.p]
names = ["a.example.net"]
members = [
  { site = "ams", address = "192.0.2.1" },
  { site = "ams", address = "192.0.2.999" },
  { site = "ams", address = "192.0.2.1" },
  { site = "ams", address = "192.0.2.3", weight = 1001 },
  { site = "lon", address = "192.0.2.4", state = "sleeping" },
  { address = "192.0.2.5" },
]
"""
    found = problems(tmp_path, text)
    assert "pools.p.members[1].address: '192.0.2.999' is not an IPv4 or IPv6 address" in found
    assert "pools.p.members[2].address: 192.0.2.1 is already members[0]" in found
    assert "pools.p.members[3].weight: 1001 is outside 0-1000" in found
    assert any(line.startswith("pools.p.members[4].state: 'sleeping' is not one of") for line in found)
    assert "pools.p.members[4].site: unknown site 'lon'" in found
    assert "pools.p.members[5].site: required: the name of a declared site" in found


def test_cross_object_problems(tmp_path: Path) -> None:
    text = """
[pools.a]
names = ["a.example.net"]
all_down = "fallback"
fallback = "b"
site_order = ["nowhere"]
[pools.b]
names = ["a.example.net"]
all_down = "fallback"
fallback = "a"
[pools.c]
names = ["c.example.net"]
all_down = "fallback"
fallback = "zzz"
"""
    found = problems(tmp_path, text)
    assert "pools.a.fallback: fallback pools form a loop" in found
    assert "pools.b.names[0]: a.example.net. is also a name of pool 'a'" in found
    assert "pools.c.fallback: unknown pool 'zzz'" in found
    assert "pools.a.site_order[0]: unknown site 'nowhere'" in found


def test_problems_name_the_file_and_duplicates_across_files(tmp_path: Path) -> None:
    (tmp_path / "a.toml").write_text("[sites.ams]\n")
    (tmp_path / "b.toml").write_text("[sites.ams]\n[pools.p]\nnames = 'x'\n")
    (tmp_path / "c.toml").write_text("not toml [")
    with pytest.raises(DeclarationError) as caught:
        read_declarations(tmp_path, ZONES, STATIC)
    lines = str(caught.value).splitlines()
    assert f"{tmp_path / 'b.toml'}: sites.ams: also declared in {tmp_path / 'a.toml'}" in lines
    assert f"{tmp_path / 'b.toml'}: pools.p.names: must be a list of strings" in lines
    assert any(line.startswith(f"{tmp_path / 'c.toml'}: (file): invalid TOML") for line in lines)


def test_readme_pools_example_is_valid(tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text()
    example = next(block for block in readme.split("```toml\n")[1:] if block.startswith("[sites."))
    (tmp_path / "pools.toml").write_text(example.split("```", 1)[0])
    inventory = read_declarations(tmp_path, ["gslb.example.test."], {})
    assert [p.name for p in inventory.pools] == ["www"] and len(inventory.pools[0].members) == 2


CHECKS = """
[sites.ams]
[checks.web]
type = "https"
port = 8443
method = "HEAD"
path = "/healthz"
host = "www.example.net"
expect = [200, "3xx", "401-403"]
body = "ok"
sni = "tls.example.net"
verify_tls = false
interval = 5
timeout = 2.5
rise = 3
fall = 1
jitter = 0
[checks.port]
type = "tcp"
port = 25
[checks.pushed]
type = "passive"
fall = 3
[pools.p]
names = ["a.example.net"]
health_check = "web"
check = { interval = 1, timeout = 0.5 }
members = [
  { site = "ams", address = "192.0.2.1", check = { port = 9000, rise = 5 } },
  { site = "ams", address = "192.0.2.2", override = "force_down" },
]
"""


def test_checks_and_overrides(tmp_path: Path) -> None:
    (tmp_path / "pools.toml").write_text(CHECKS)
    inventory = read_declarations(tmp_path, ZONES, STATIC)
    assert [c.name for c in inventory.checks] == ["port", "pushed", "web"]
    assert inventory.check("web") == Check(
        "web",
        CheckType.HTTPS,
        port=8443,
        method="HEAD",
        path="/healthz",
        host="www.example.net",
        expect=((200, 200), (300, 399), (401, 403)),
        body="ok",
        sni="tls.example.net",
        verify_tls=False,
        interval=5.0,
        timeout=2.5,
        rise=3,
        fall=1,
        jitter=0.0,
    )
    assert inventory.check("port") == Check("port", CheckType.TCP, port=25)
    assert inventory.check("pushed") == Check("pushed", CheckType.PASSIVE, fall=3)
    pool = inventory.pools[0]
    assert pool.health_check == "web" and pool.check_overrides == CheckOverrides(interval=1.0, timeout=0.5)
    first, second = pool.members
    assert first.check_overrides == CheckOverrides(port=9000, rise=5) and first.override is None
    assert second.override == HealthOverride.FORCE_DOWN and second.check_overrides.empty


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[checks.c]\nport = 80\n", "checks.c.type: required: one of tcp, http, https, passive"),
        ("[checks.c]\ntype = 'icmp'\n", "checks.c.type: 'icmp' is not one of"),
        ("[checks.c]\ntype = 'tcp'\n", "checks.c.port: required for a tcp check"),
        ("[checks.c]\ntype = 'tcp'\nport = 0\n", "checks.c.port: 0 is outside 1-65535"),
        (
            "[checks.c]\ntype = 'tcp'\nport = 1\npath = '/'\n",
            "checks.c.path: not for a tcp check (only http, https)",
        ),
        ("[checks.c]\ntype = 'http'\nsni = 'x'\n", "checks.c.sni: not for a http check (only https)"),
        ("[checks.c]\ntype = 'passive'\ninterval = 1\n", "checks.c.interval: not for a passive check"),
        ("[checks.c]\ntype = 'passive'\nport = 1\n", "checks.c.port: not for a passive check"),
        ("[checks.c]\ntype = 'http'\ncolour = 1\n", "checks.c.colour: unknown field"),
        ("[checks.c]\ntype = 'http'\ninterval = 0.05\n", "checks.c.interval: 0.05 is outside [0.1, 3600]"),
        ("[checks.c]\ntype = 'http'\ninterval = 4000\n", "checks.c.interval: 4000 is outside"),
        ("[checks.c]\ntype = 'http'\ninterval = 'fast'\n", "checks.c.interval: must be a number"),
        ("[checks.c]\ntype = 'http'\ninterval = 1\ntimeout = 1\n", "checks.c.timeout: 1 s must be less than"),
        ("[checks.c]\ntype = 'http'\ninterval = 0.5\n", "checks.c.timeout: 1 s must be less than"),
        ("[checks.c]\ntype = 'http'\ntimeout = 0\n", "checks.c.timeout: 0 is outside (0, 3600]"),
        ("[checks.c]\ntype = 'http'\nrise = 0\n", "checks.c.rise: 0 is outside 1-100"),
        ("[checks.c]\ntype = 'http'\nfall = 101\n", "checks.c.fall: 101 is outside 1-100"),
        ("[checks.c]\ntype = 'http'\nfall = 1.5\n", "checks.c.fall: must be an integer"),
        ("[checks.c]\ntype = 'http'\njitter = 1\n", "checks.c.jitter: 1 is outside [0, 1)"),
        ("[checks.c]\ntype = 'http'\nmethod = 'get'\n", "checks.c.method: must be an HTTP method"),
        ("[checks.c]\ntype = 'http'\npath = 'x'\n", "checks.c.path: must start with '/'"),
        ("[checks.c]\ntype = 'http'\nexpect = []\n", "checks.c.expect: must be a non-empty list"),
        ("[checks.c]\ntype = 'http'\nexpect = [200, 700]\n", "checks.c.expect[1]: 700 is not a status"),
        ("[checks.c]\ntype = 'http'\nexpect = ['2xy']\n", "checks.c.expect[0]: '2xy' is not a status"),
        ("[checks.c]\ntype = 'http'\nexpect = ['300-200']\n", "checks.c.expect[0]: '300-200' is not"),
        ("[checks.c]\ntype = 'https'\nverify_tls = 'no'\n", "checks.c.verify_tls: must be true or false"),
        ("[checks.c]\ntype = 'http'\nhost = ''\n", "checks.c.host: must be a non-empty string"),
        ("[checks.C]\ntype = 'http'\n", "checks.C: name must be"),
        (
            "[pools.p]\nnames = ['a.example.net']\nhealth_check = 'nope'\n",
            "pools.p.health_check: unknown check 'nope'",
        ),
        (
            "[pools.p]\nnames = ['a.example.net']\ncheck = { interval = 1 }\n",
            "pools.p.check: only meaningful with health_check",
        ),
        (
            "[checks.c]\ntype = 'http'\n[pools.p]\nnames = ['a.example.net']\nhealth_check = 'c'\n"
            "check = { interval = 1, colour = 2 }\n",
            "pools.p.check.colour: unknown field",
        ),
        (
            "[checks.c]\ntype = 'http'\n[pools.p]\nnames = ['a.example.net']\nhealth_check = 'c'\n"
            "check = { interval = 0.5 }\n",
            "pools.p.check: timeout 1 s must be less than the interval, 0.5 s",
        ),
        (
            "[checks.c]\ntype = 'http'\n[pools.p]\nnames = ['a.example.net']\nhealth_check = 'c'\n"
            "check = 5\n",
            "pools.p.check: must be a table",
        ),
        (
            "[checks.c]\ntype = 'passive'\n[pools.p]\nnames = ['a.example.net']\nhealth_check = 'c'\n"
            "check = { port = 80, rise = 3 }\n",
            "pools.p.check.port: check 'c' is passive: nothing to probe",
        ),
        (
            "[sites.s]\n[checks.c]\ntype = 'http'\n[pools.p]\nnames = ['a.example.net']\nhealth_check = 'c'\n"
            "members = [{ site = 's', address = '192.0.2.1', check = { timeout = 3, port = 0 } }]\n",
            "pools.p.members[0].check.port: 0 is outside 1-65535",
        ),
        (
            "[sites.s]\n[checks.c]\ntype = 'http'\n[pools.p]\nnames = ['a.example.net']\nhealth_check = 'c'\n"
            "members = [{ site = 's', address = '192.0.2.1', check = { timeout = 3 } }]\n",
            "pools.p.members[0].check: timeout 3 s must be less than the interval, 2 s",
        ),
        (
            "[sites.s]\n[pools.p]\nnames = ['a.example.net']\n"
            "members = [{ site = 's', address = '192.0.2.1', override = 'sleep' }]\n",
            "pools.p.members[0].override: 'sleep' is not one of force_up, force_down",
        ),
    ],
)
def test_each_bad_check_field_is_named(tmp_path: Path, text: str, expected: str) -> None:
    assert any(expected in line for line in problems(tmp_path, text)), problems(tmp_path, text)


def test_readme_health_check_example_is_valid(tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text()
    example = next(block for block in readme.split("```toml\n")[1:] if block.startswith("[checks."))
    sites = "[sites.eu1]\n[sites.us1]\n"
    (tmp_path / "pools.toml").write_text(sites + example.split("```", 1)[0])
    inventory = read_declarations(tmp_path, ["gslb.example.test."], {})
    web = inventory.check("web")
    assert web is not None and web.type == CheckType.HTTPS and web.expect[1] == (300, 399)
    www = inventory.pools[0]
    assert www.check_overrides == CheckOverrides(interval=1.0, timeout=0.5)
    assert [m.override for m in www.members] == [None, HealthOverride.FORCE_UP]


def test_example_zones_declare_a_check_no_pool_uses(tmp_path: Path) -> None:
    """The example members are documentation addresses: a check on them would withdraw them all."""
    inventory = read_declarations(ROOT / "zones", ["gslb.example.test."], {})
    assert [c.name for c in inventory.checks] == ["web"]
    assert all(p.health_check is None for p in inventory.pools)
