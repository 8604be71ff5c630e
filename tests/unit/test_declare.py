"""Declarations: good files become an Inventory; every bad field is named with file and object."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from gslb.declare import DeclarationError, read_declarations
from gslb.model import AdminState, AllDown, LvsMode, Member, Policy, PoolKind
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
