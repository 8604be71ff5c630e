"""The OpenAPI document against the app it describes and the readers it is built from.

The app serves the route table (gslb/api/routes.py) and nothing else. A route added to the table
without its operation fails here, and so does an operation whose route is gone; so
does a representation the document would call invalid, or a pattern that lets through what the
server refuses (or refuses what it takes): clients generated from the document, and schemathesis
in CI, would otherwise be told something untrue.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import jsonschema_rs
import pytest
import schemathesis
from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from hypothesis import given
from hypothesis import strategies as st
from schemathesis.config import SchemathesisConfig

from gslb.api import openapi, schemas
from gslb.api.app import create_app
from gslb.api.auth import TokenTable
from gslb.api.codec import check_document, member_document, pool_document, site_document
from gslb.api.context import ApiContext
from gslb.api.etags import Conditions
from gslb.api.openapi import OPENAPI_PATH, document
from gslb.api.problems import Problem
from gslb.api.request import unicode_text
from gslb.api.routes import OPEN_PATHS, ROUTES
from gslb.declare import reader as declare
from gslb.model import Check, CheckType, Pool, Site
from gslb.store import Store
from gslb.store.rules import check_problems, pool_problems, site_problems
from tests.unit.api.test_codec import checks, pools, sites

# Of the routes it can describe: test_every_route_is_an_operation_... names those it cannot.
DOCUMENT = document(route for route in ROUTES if route.operation_id in openapi.operations())
METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")


def operations() -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in DOCUMENT["paths"].items():
        for method, operation in item.items():
            yield path, method, operation


def validator(schema: dict[str, Any]) -> jsonschema_rs.Validator:
    """A JSON Schema 2020-12 validator of ``schema``, its references resolved in the document."""
    return jsonschema_rs.Draft202012Validator(
        {**schema, "components": DOCUMENT["components"]}, validate_formats=True
    )


def component(name: str) -> jsonschema_rs.Validator:
    return validator({"$ref": f"#/components/schemas/{name}"})


def matches(pattern: str, text: str) -> bool:
    """Whether ``text`` matches a document's pattern as JSON Schema reads it (ECMA-262: ``$`` is
    the end, never before a final newline as in Python)."""
    return validator({"type": "string", "pattern": pattern}).is_valid(text)


@pytest.fixture(scope="module")
def app() -> Iterator[web.Application]:
    store = Store.open("sqlite://")
    yield create_app(ApiContext(store=store, tokens=TokenTable(()), zones=tuple))
    store.dispose()


# The document and the app


def test_the_app_serves_the_route_table(app: web.Application) -> None:
    served = [
        (route.resource.canonical, route.method)
        for route in app.router.routes()
        if route.resource is not None
    ]
    table = [(route.path, route.method) for route in ROUTES]
    assert len(set(table)) == len(table), "a method and path twice in the table"
    assert sorted(served) == sorted(table)


def test_every_route_is_an_operation_and_every_operation_a_route() -> None:
    routed = [route.operation_id for route in ROUTES]
    described = set(openapi.operations())
    assert len(set(routed)) == len(routed), "two routes name one operation"
    assert set(routed) - described == set(), "routes the OpenAPI document does not describe"
    assert described - set(routed) == set(), "operations no route serves"
    documented = {(path, method) for path, method, _ in operations()}
    assert documented == {(route.path, route.method.lower()) for route in ROUTES}


def test_the_document_is_valid_openapi_3_1() -> None:
    assert DOCUMENT["openapi"] == "3.1.0"
    # schemathesis validates against the OpenAPI 3.1 meta-schema it bundles; no config discovery
    # (the repository's schemathesis.toml wants a token this test does not need).
    schemathesis.openapi.from_dict(DOCUMENT, config=SchemathesisConfig()).validate()
    assert json.loads(json.dumps(DOCUMENT)) == DOCUMENT  # plain JSON: no tuples, no enums
    ids = [operation["operationId"] for _, _, operation in operations()]
    assert len(ids) == len(set(ids))


def test_the_open_operations_are_the_open_paths() -> None:
    open_paths = {path for path, _, operation in operations() if operation.get("security") == []}
    assert open_paths == OPEN_PATHS
    assert OPENAPI_PATH in open_paths


def test_each_operation_lists_the_errors_its_handlers_give() -> None:
    for path, method, operation in operations():
        statuses = set(operation["responses"])
        where = f"{method.upper()} {path}"
        if path in OPEN_PATHS:
            assert "401" not in statuses, where
            continue
        assert {"401", "503"} <= statuses, where
        assert ("403" in statuses) == (method != "get"), where
        if "requestBody" in operation:
            assert {"400", "413", "415", "422"} <= statuses, where
        if any(p["in"] == "header" for p in operation.get("parameters", ())):
            assert {"400"} <= statuses, where  # a malformed If-Match or If-None-Match
        if any(p["name"] == "If-Match" for p in operation.get("parameters", ())):
            assert "412" in statuses, where
        creates = method == "put" and path.count("{") == 1  # PUT on a site, check or pool creates it
        if "{" in path and not creates:
            assert "404" in statuses, where


def test_every_example_is_valid() -> None:
    for path, method, operation in operations():
        for parameter in operation.get("parameters", ()):
            if "example" in parameter:
                assert validator(parameter["schema"]).is_valid(parameter["example"]), (path, parameter)
        for media in operation.get("requestBody", {}).get("content", {}).values():
            assert validator(media["schema"]).is_valid(media["example"]), (method, path)


# Representations: what the API returns is what the document says, and can be PUT back.
# Values the store holds, that is: it refuses a site listing one VIP twice, and so does the schema;
# the API refuses half a surrogate pair before anything else sees it.
stored_sites = sites.filter(lambda site: not site_problems(site) and unicode_text(site_document(site)))
stored_checks = checks().filter(
    lambda check: not check_problems(check) and unicode_text(check_document(check))
)
stored_pools = pools().filter(lambda pool: not pool_problems(pool) and unicode_text(pool_document(pool)))


def test_each_check_type_takes_the_fields_the_reader_takes() -> None:
    for variant in DOCUMENT["components"]["schemas"]["CheckReplace"]["oneOf"]:
        check_type = CheckType(variant["properties"]["type"]["const"])
        null_only = {k for k, v in variant["properties"].items() if v == {"type": "null"}}
        assert set(variant["properties"]) - null_only == {"name", "type", *declare.CHECK_KEYS[check_type]}
        # Another type's fields, as null only: the reader takes a null for a field left out.
        assert null_only == set(declare.ALL_CHECK_KEYS) - declare.CHECK_KEYS[check_type] - {"type"}


@given(stored_sites)
def test_a_site_is_its_representation_and_can_be_put_back(site: Site) -> None:
    body = site_document(site)
    assert component("Site").is_valid(body) and component("SiteUpdate").is_valid(body)


@given(stored_checks)
def test_a_check_is_its_representation_and_can_be_put_back(check: Check) -> None:
    body = check_document(check)
    assert component("Check").is_valid(body) and component("CheckReplace").is_valid(body)
    assert component("CheckPatch").is_valid(body)


@given(stored_pools)
def test_a_pool_is_its_representation_and_can_be_put_back(pool: Pool) -> None:
    body = pool_document(pool)
    assert component("Pool").is_valid(body) and component("PoolReplace").is_valid(body)
    for member in pool.members:
        assert component("Member").is_valid(member_document(member))
        assert component("MemberReplace").is_valid(member_document(member))


def test_a_request_is_refused_by_the_schema_where_the_reader_refuses_it() -> None:
    assert not component("PoolReplace").is_valid({"names": ["www.example.test."], "ttl": 86401})
    assert not component("PoolReplace").is_valid({"names": []})
    assert not component("MemberPatch").is_valid({"weight": 1001})
    assert not component("MemberPatch").is_valid({"state": "asleep"})
    assert not component("CheckReplace").is_valid({"type": "tcp"})  # port required
    assert not component("CheckReplace").is_valid({"type": "passive", "port": 80})
    assert not component("SiteUpdate").is_valid({"colour": "blue"})
    assert component("MemberPatch").is_valid({"override": None})  # null: left out


# Patterns: the readers' rules, seen the same way by the document and the server


@given(st.text(max_size=70) | st.from_regex(r"[a-z0-9_-]{1,64}", fullmatch=True))
def test_an_object_name_pattern_is_valid_object_name(name: str) -> None:
    assert matches(schemas.OBJECT_NAME_PATTERN, name) == declare.valid_object_name(name)


def test_the_white_space_class_is_pythons() -> None:
    spaces = {c for c in map(chr, range(0x110000)) if c.isspace()}
    assert {c for c in spaces if matches(f"^[{schemas.SPACE}]$", c)} == spaces
    assert not matches(f"^[{schemas.SPACE}]$", "x")


def server_takes_tags(value: str) -> bool:
    try:
        Conditions.of(make_mocked_request("PUT", "/", headers={"If-Match": value}))
    except Problem:
        return False
    return True


TAG_TEXT = st.text(st.sampled_from(' \t",*W/a0!#~'), max_size=12)


@given(TAG_TEXT | st.lists(st.from_regex(r'(W/)?"[a-f0-9]{0,4}"', fullmatch=True), min_size=1).map(",".join))
def test_the_entity_tags_pattern_is_what_the_server_reads(value: str) -> None:
    # Header values reach the server stripped of surrounding white space (RFC 9110 section 5.5).
    value = value.strip(" \t")
    assert matches(schemas.ENTITY_TAGS_PATTERN, value) == server_takes_tags(value)


def reader_takes(fields: dict[str, Any]) -> bool:
    try:
        declare.read_check("c", {"type": "http", **fields})
    except declare.DeclarationError:
        return False
    return True


@given(st.text(max_size=20) | st.text(min_size=1, max_size=20).map(lambda t: "/" + t))
def test_the_path_pattern_is_what_the_reader_takes(path: str) -> None:
    assert matches(schemas.CHECK_PATH_PATTERN, path) == reader_takes({"path": path})


@given(
    st.text(st.sampled_from(" \t\u2003x2X05-"), max_size=12)
    | st.from_regex(r"\s*[1-5][0-9][0-9]\s*-\s*[1-5][0-9][0-9]\s*", fullmatch=True)
)
def test_the_expect_patterns_take_what_the_reader_takes(item: str) -> None:
    """Everything the reader takes matches; a match the reader refuses is out of range (422)."""
    matched = matches(schemas.STATUS_CLASS_PATTERN, item) or matches(schemas.STATUS_RANGE_PATTERN, item)
    if reader_takes({"expect": [item]}):
        assert matched
    elif matched:
        numbers = [int(part.strip()) for part in item.replace("x", "0").replace("X", "0").split("-")]
        assert not 100 <= numbers[0] <= numbers[-1] <= 599


@given(st.text(min_size=1, max_size=20))
def test_a_printable_reason_matches_the_reason_pattern(reason: str) -> None:
    pattern = DOCUMENT["components"]["schemas"]["HealthResult"]["properties"]["reason"]["pattern"]
    if reason.isprintable():
        assert matches(pattern, reason)
