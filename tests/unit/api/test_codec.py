"""The API's JSON: model value → document → declaration reader gives the value back; ETags; fields.

The round trip is what lets an operator GET an object, change one field and PUT it back; the
reader being gslb/declare/reader.py's is what makes the API refuse exactly what a file would.
"""

from __future__ import annotations

import ipaddress
import json
from typing import Any

import pytest
from aiohttp.test_utils import make_mocked_request
from hypothesis import given
from hypothesis import strategies as st

from gslb.api.codec import (
    canonical_address,
    check_document,
    decode_check,
    decode_member,
    decode_pool,
    decode_site,
    etag,
    member_document,
    member_fields,
    pool_document,
    site_document,
)
from gslb.api.etags import Conditions, Guard
from gslb.api.problems import Problem
from gslb.errors import ConflictError, InvalidError, PreconditionError, ValidationError
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
    Pool,
    PoolKind,
    Site,
)

ORIGINS = ("example.test.", "gslb.example.test.")
OBJECT_NAMES = st.from_regex(r"[a-z0-9_-]{1,63}", fullmatch=True)
LABELS = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?", fullmatch=True)
CHARACTERS = st.characters(exclude_characters="\x00")  # PostgreSQL cannot hold NUL: refused
TEXTS = st.text(CHARACTERS, min_size=1, max_size=30)
INTERVALS = st.floats(min_value=0.1, max_value=3600)
COUNTS = st.integers(1, 100)
PORTS = st.integers(1, 65535)


def through_json(document: dict[str, Any]) -> Any:
    """What the server parses from what a client sends."""
    return json.loads(json.dumps(document))


@st.composite
def networks(draw: st.DrawFn) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    address = draw(st.ip_addresses())
    prefix = draw(st.integers(0, address.max_prefixlen))
    return ipaddress.ip_network(f"{address}/{prefix}", strict=False)


sites = st.builds(
    Site,
    OBJECT_NAMES,
    region=st.text(CHARACTERS, max_size=30),
    description=st.text(CHARACTERS, max_size=30),
    subnets=st.lists(networks(), max_size=3).map(tuple),
    lvs_mode=st.none() | st.sampled_from(LvsMode),
    vips=st.lists(st.ip_addresses(), max_size=3).map(tuple),
)


@st.composite
def timing(draw: st.DrawFn) -> dict[str, Any]:
    interval = draw(INTERVALS)
    timeout = draw(st.floats(min_value=0, max_value=interval, exclude_min=True, exclude_max=True))
    jitter = draw(st.floats(min_value=0, max_value=1, exclude_max=True))
    return {"interval": interval, "timeout": timeout, "jitter": jitter}


@st.composite
def checks(draw: st.DrawFn) -> Check:
    kind = draw(st.sampled_from(CheckType))
    fields: dict[str, Any] = {"rise": draw(COUNTS), "fall": draw(COUNTS)}
    if kind is CheckType.PASSIVE:
        return Check(draw(OBJECT_NAMES), kind, **fields)
    fields.update(draw(timing()))
    fields["port"] = draw(PORTS) if kind is CheckType.TCP else draw(st.none() | PORTS)
    if kind in (CheckType.HTTP, CheckType.HTTPS):
        ranges = st.tuples(st.integers(100, 599), st.integers(100, 599)).map(lambda r: (min(r), max(r)))
        fields.update(
            method=draw(st.from_regex(r"[A-Z]{1,10}", fullmatch=True)),
            path=draw(st.from_regex(r"/[!-~]{0,20}", fullmatch=True)),
            host=draw(st.none() | TEXTS),
            body=draw(st.none() | TEXTS),
            expect=tuple(draw(st.lists(ranges, min_size=1, max_size=4))),
        )
    if kind is CheckType.HTTPS:
        fields.update(sni=draw(st.none() | TEXTS), verify_tls=draw(st.booleans()))
    return Check(draw(OBJECT_NAMES), kind, **fields)


overrides = st.builds(
    CheckOverrides,
    port=st.none() | PORTS,
    interval=st.none() | INTERVALS,
    timeout=st.none() | st.floats(min_value=0, max_value=3600, exclude_min=True),
    rise=st.none() | COUNTS,
    fall=st.none() | COUNTS,
)


def members(kind: PoolKind, checked: bool) -> st.SearchStrategy[Member]:
    if kind is PoolKind.ADDRESS:
        addresses = st.ip_addresses().map(str)
    else:
        addresses = st.lists(LABELS, min_size=1, max_size=3).map(lambda labels: ".".join(labels) + ".net.")
    return st.builds(
        Member,
        OBJECT_NAMES,
        addresses,
        weight=st.integers(0, 1000),
        priority=st.integers(0, 1000),
        state=st.sampled_from(AdminState),
        check_overrides=overrides if checked else st.just(CheckOverrides()),
        override=st.none() | st.sampled_from(HealthOverride),
    )


@st.composite
def pools(draw: st.DrawFn) -> Pool:
    kind = draw(st.sampled_from(PoolKind))
    health_check = draw(st.none() | OBJECT_NAMES)
    all_down = draw(st.sampled_from(AllDown))
    return Pool(
        draw(OBJECT_NAMES),
        names=tuple(
            draw(st.lists(st.tuples(LABELS, st.sampled_from(ORIGINS)).map(".".join), min_size=1, max_size=3))
        ),
        kind=kind,
        policy=draw(st.sampled_from(Policy)),
        answer_count=draw(st.none() | st.integers(1, 16)),
        ttl=draw(st.integers(0, 86400)),
        all_down=all_down,
        fallback=draw(OBJECT_NAMES) if all_down is AllDown.FALLBACK else None,
        health_check=health_check,
        check_overrides=draw(overrides) if health_check is not None else CheckOverrides(),
        site_order=tuple(draw(st.lists(OBJECT_NAMES, max_size=3))),
        members=tuple(
            draw(st.lists(members(kind, health_check is not None), max_size=5, unique_by=lambda m: m.address))
        ),
    )


@given(sites)
def test_a_site_round_trips(site: Site) -> None:
    assert decode_site(site.name, through_json(site_document(site))) == site


@given(checks())
def test_a_check_round_trips(check: Check) -> None:
    assert decode_check(check.name, through_json(check_document(check))) == check


@given(pools())
def test_a_pool_round_trips(pool: Pool) -> None:
    assert decode_pool(pool.name, through_json(pool_document(pool)), ORIGINS, {}) == pool


@given(pools(), st.data())
def test_a_member_round_trips(pool: Pool, data: st.DataObject) -> None:
    member = data.draw(members(pool.kind, pool.health_check is not None))
    document = through_json(member_document(member))
    assert decode_member(pool, None, document) == member
    assert decode_member(pool, member.address, document) == member


WWW = Pool(
    "www",
    names=("www.example.test.",),
    members=(Member("ams", "192.0.2.1"), Member("nyc", "2001:db8::1", weight=5)),
)


def problem_fields(problem: Problem) -> list[str]:
    return [e.field for e in problem.errors]


def test_null_is_a_field_left_out() -> None:
    document = pool_document(WWW)
    document.update(answer_count=None, ttl=None, fallback=None, check=None, policy=None)
    document["members"][0].update(weight=None, override=None, check={"port": None})
    assert decode_pool("www", document, ORIGINS, {}) == WWW


def test_a_null_must_stand_for_a_field_of_the_object() -> None:
    """Found by schemathesis: unknown keys were dropped with the nulls instead of refused."""
    with pytest.raises(Problem) as raised:
        decode_check("web", {"type": "tcp", "port": 443, "": None, "\t": None})
    assert sorted(problem_fields(raised.value)) == ["", "\t"]
    with pytest.raises(Problem) as raised:
        decode_site("ams", {"region": "eu", "colour": None})
    assert problem_fields(raised.value) == ["colour"]
    with pytest.raises(Problem) as raised:
        decode_member(WWW, None, {"site": "ams", "address": "192.0.2.9", "colour": None})
    assert problem_fields(raised.value) == ["colour"]
    assert decode_check("web", {"type": "tcp", "port": 443, "path": None}).port == 443  # another type's


def test_a_member_site_must_be_a_site_name() -> None:
    """Found by schemathesis: a name no site can have reached the store, which answered 412 first."""
    with pytest.raises(Problem) as raised:
        decode_member(WWW, None, {"site": "73n-*", "address": "192.0.2.9"})
    assert problem_fields(raised.value) == ["site"]


def test_every_problem_is_reported_with_its_path_in_the_object() -> None:
    document = pool_document(WWW) | {"name": "other", "ttl": -1, "policy": "fastest"}
    document["members"][1] |= {"weight": 1001, "address": "192.0.2.300"}
    with pytest.raises(Problem) as raised:
        decode_pool("www", document, ORIGINS, {"www.example.test.": "zones/example.test.zone"})
    assert raised.value.status == 422
    assert sorted(problem_fields(raised.value)) == [
        "members[1].address",
        "name",
        "names[0]",
        "policy",
        "ttl",
    ]


def test_a_pool_name_outside_the_served_zones_is_refused() -> None:
    with pytest.raises(Problem) as raised:
        decode_pool("www", pool_document(WWW) | {"names": ["www.elsewhere.test"]}, ORIGINS, {})
    assert problem_fields(raised.value) == ["names[0]"]


def test_a_bad_object_name_is_the_field_name() -> None:
    with pytest.raises(Problem) as raised:
        decode_site("Not A Name", {})
    assert problem_fields(raised.value) == ["name"]


def test_a_member_address_of_the_wrong_kind_is_refused() -> None:
    cnames = Pool("alias", names=("alias.example.test.",), kind=PoolKind.CNAME)
    with pytest.raises(Problem) as raised:
        decode_member(WWW, None, {"site": "ams", "address": "host.example.net."})
    assert problem_fields(raised.value) == ["address"]
    assert decode_member(cnames, None, {"site": "ams", "address": "Host.Example.NET"}).address == (
        "host.example.net."
    )


def test_a_member_body_must_name_the_urls_address() -> None:
    assert decode_member(WWW, "2001:DB8::1", {"site": "nyc"}).address == "2001:db8::1"
    assert decode_member(WWW, "2001:DB8::1", {"site": "nyc", "address": "2001:db8:0::1"}).address == (
        "2001:db8::1"
    )
    with pytest.raises(Problem) as raised:
        decode_member(WWW, "192.0.2.1", {"site": "nyc", "address": "192.0.2.2"})
    assert problem_fields(raised.value) == ["address"]


def test_values_no_answer_or_database_could_hold_are_refused() -> None:
    cases: list[tuple[Any, str]] = [
        (lambda: decode_member(WWW, None, {"site": "ams", "address": "fe80::1%eth0"}), "address"),
        (lambda: decode_member(WWW, None, {"site": "a\x00", "address": "192.0.2.7"}), "site"),
        (lambda: decode_site("ams", {"region": "x\x00"}), "region"),
        (lambda: decode_site("ams", {"subnets": ["10.0.0.0/8", "\x00"]}), "subnets[1]"),
        (lambda: decode_check("web", {"type": "http", "interval": float("nan")}), "interval"),
    ]
    for decode, field in cases:
        with pytest.raises(Problem) as raised:
            decode()
        assert field in problem_fields(raised.value), (field, raised.value.document())


def test_a_null_name_is_a_name_left_out() -> None:
    assert decode_site("ams", {"name": None}) == Site("ams")


def test_canonical_addresses() -> None:
    assert canonical_address(PoolKind.ADDRESS, "2001:DB8:0::10") == "2001:db8::10"
    assert canonical_address(PoolKind.CNAME, "Web.Example.NET") == "web.example.net."
    assert canonical_address(PoolKind.ADDRESS, "not-an-address") == "not-an-address"


def test_expect_ranges_take_their_shortest_form() -> None:
    check = Check("web", CheckType.HTTP, expect=((200, 200), (300, 399), (401, 403)))
    assert check_document(check)["expect"] == [200, "3xx", "401-403"]


def test_a_check_document_holds_only_its_types_fields() -> None:
    assert set(check_document(Check("up", CheckType.PASSIVE))) == {"name", "type", "rise", "fall"}
    assert "method" not in check_document(Check("tcp", CheckType.TCP, port=443))


def test_an_etag_is_strong_quoted_and_follows_the_content() -> None:
    tag = etag(pool_document(WWW))
    assert tag.startswith('"') and tag.endswith('"') and len(tag) == 34
    assert etag(pool_document(WWW)) == tag
    assert etag(pool_document(Pool("www", names=WWW.names, members=WWW.members[:1]))) != tag


def test_store_refusals_name_fields_of_the_request_document() -> None:
    refused = ValidationError(
        [
            InvalidError("member", "www/2001:db8::1", "unknown site 'nyc'", "site"),
            InvalidError("pool", "www", "unknown check 'web'", "health_check"),
            InvalidError("pool", "www", "only meaningful with health_check", "check_overrides"),
        ]
    )
    translated = member_fields(WWW)(refused)
    assert isinstance(translated, ValidationError)
    assert [p.field for p in translated.problems] == ["members[1].site", "health_check", "check"]
    for_member = member_fields(None)(refused)
    assert isinstance(for_member, ValidationError)
    assert [p.field for p in for_member.problems] == ["site", "health_check", "check"]
    taken = member_fields(WWW)(ConflictError("pool", "www", "names already taken", "names"))
    assert isinstance(taken, InvalidError) and taken.field == "names"  # 422, like any bad field
    in_use = ConflictError("site", "ams", "still has members")
    assert member_fields(None)(in_use) is in_use


def conditions(**headers: str) -> Conditions:
    return Conditions.of(make_mocked_request("PUT", "/", headers=headers))


def test_if_match_and_if_none_match() -> None:
    tag = '"abc"'
    assert conditions().failure(tag) is None and conditions().failure(None) is None
    assert conditions(**{"If-Match": '"x", "abc"'}).failure(tag) is None
    assert conditions(**{"If-Match": "*"}).failure(tag) is None
    assert conditions(**{"If-Match": "*"}).failure(None) == ("If-Match", "does not exist")
    failed = conditions(**{"If-Match": '"x"'}).failure(tag)
    assert failed is not None and failed[0] == "If-Match"
    weak = conditions(**{"If-Match": 'W/"abc"'}).failure(tag)
    assert weak is not None  # If-Match compares strongly
    assert conditions(**{"If-None-Match": "*"}).failure(None) is None
    assert conditions(**{"If-None-Match": "*"}).failure(tag) == ("If-None-Match", "already exists")
    assert conditions(**{"If-None-Match": 'W/"abc"'}).not_modified(tag)  # If-None-Match weakly
    assert not conditions(**{"If-None-Match": '"x"'}).not_modified(tag)


@pytest.mark.parametrize("value", ["abc", '"abc', '"a" "b"', '"a",,"b"', ""])
def test_a_malformed_condition_is_a_400_naming_the_header(value: str) -> None:
    with pytest.raises(Problem) as raised:
        conditions(**{"If-Match": value})
    assert (raised.value.status, raised.value.field) == (400, "If-Match")


def test_a_guard_refuses_what_the_request_did_not_see() -> None:
    member = WWW.members[0]
    tag = etag(member_document(member))
    guard = Guard(conditions(**{"If-Match": tag}), "member", "www/192.0.2.1", member_document)
    guard(member)
    assert guard.existed
    with pytest.raises(PreconditionError):
        guard(Member("ams", "192.0.2.1", weight=7))
    creating = Guard(conditions(), "member", "www/192.0.2.1", member_document, absent_field="address")
    creating(None)
    assert creating.existed is False
    with pytest.raises(ConflictError):
        creating(member)
    patching = Guard(conditions(), "member", "www/192.0.2.1", member_document, based_on='"old"')
    with pytest.raises(PreconditionError):
        patching(member)
    assert patching.moved
