"""Sites, checks and pools under /api/v1: list, get, create, replace, patch and delete.

The three behave alike, so one set of handlers serves them, each made for a ``Kind``: its URL,
its JSON (gslb/api/codec.py) and its store calls. Members, the served zones and the change log
have modules of their own; gslb/api/routes.py routes to them all.

- ``GET /{kind}s`` lists by name, a page at a time (``limit``, 100 by default; ``next`` links the
  page after, keyed by the last name, like the change log's), ``GET /{kind}s/{name}`` gets one with
  its ETag (304 for a matching If-None-Match).
- ``POST /{kind}s`` creates (201 with Location; 409 when the name is taken); ``PUT`` on an item
  creates or replaces it whole (201 or 200); ``PATCH`` replaces the top-level fields it sends and
  keeps the others; ``DELETE`` answers 204.
- Every write honours If-Match (412 when stale) and, on PUT, ``If-None-Match: *`` (create only).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from aiohttp import web

from gslb.api import changes, zones
from gslb.api.codec import (
    Document,
    check_document,
    decode_check,
    decode_pool,
    decode_site,
    etag,
    member_fields,
    normalized,
    pool_document,
    site_document,
)
from gslb.api.context import context
from gslb.api.etags import Conditions, Guard, tagged
from gslb.api.problems import FieldProblem, Problem, bad_request, invalid, not_found
from gslb.api.request import API_PREFIX, json_body, json_response, query_integer
from gslb.api.writes import Translate, write
from gslb.declare.reader import valid_object_name
from gslb.model import Check, Pool, Site
from gslb.store import Outcome, Store
from gslb.store.repository import Precondition

T = TypeVar("T")
Named = TypeVar("Named", Site, Check)

# A PATCH without If-Match is merged onto the object as read; if another write got in between,
# it is merged again onto the newer object, this many times at most.
PATCH_ATTEMPTS = 5


@dataclass(frozen=True, slots=True)
class Kind(Generic[T]):
    """One kind of object: its names, its JSON, and the store calls that read and write it."""

    object_type: str  # as the change log names it: site, check, pool
    collection: str  # its URL segment: sites, checks, pools
    encode: Callable[[T], Document]
    decode: Callable[[web.Request, str, Mapping[str, Any]], T]
    read: Callable[[Store, str], T | None]
    read_after: Callable[[Store, str, int], Sequence[T]]  # (after, limit): a page, by name
    put: Callable[[Store, T, str, Precondition[T]], Outcome]
    delete: Callable[[Store, str, str, Precondition[T]], Outcome]
    stored: Callable[[T], T] = lambda value: value  # the value as the store gives it back
    translate: Callable[[T], Translate | None] = lambda value: None  # store fields → document fields

    def path(self, name: str) -> str:
        return f"{API_PREFIX}/{self.collection}/{name}"


def _named_after(values: Iterable[Named], after: str, limit: int) -> tuple[Named, ...]:
    """A page of ``values``, which come sorted by name: sites and checks are few, so their pages
    are cut from the whole list (pools are read a page at a time: ``Store.pools_after``)."""
    return tuple(itertools.islice((v for v in values if v.name > after), limit))


def _decode_pool(request: web.Request, name: str, body: Mapping[str, Any]) -> Pool:
    names = zones.served_names(request)
    return decode_pool(name, body, names.origins, names.static)


SITES: Kind[Site] = Kind(
    "site",
    "sites",
    site_document,
    lambda request, name, body: decode_site(name, body),
    Store.site,
    lambda store, after, limit: _named_after(store.sites(), after, limit),
    Store.put_site,
    Store.delete_site,
)
CHECKS: Kind[Check] = Kind(
    "check",
    "checks",
    check_document,
    lambda request, name, body: decode_check(name, body),
    Store.check,
    lambda store, after, limit: _named_after(store.checks(), after, limit),
    Store.put_check,
    Store.delete_check,
)
POOLS: Kind[Pool] = Kind(
    "pool",
    "pools",
    pool_document,
    _decode_pool,
    Store.pool,
    Store.pools_after,
    Store.put_pool,
    Store.delete_pool,
    stored=normalized,
    translate=member_fields,
)


class Handlers(Generic[T]):
    """The handlers of one kind's collection and items."""

    def __init__(self, kind: Kind[T]) -> None:
        self.kind = kind

    async def list_all(self, request: web.Request) -> web.Response:
        """A page of the collection. The whole of it could be 100,000 pools, 50 MB of JSON made
        in the process that answers DNS: that held answers back for 0.4 s."""
        after = request.query.get("after", "")
        if after and not valid_object_name(after):  # where a listing starts; "" for the start
            raise bad_request(f"after must be an object name or empty, got {after[:80]!r}", "after")
        limit = query_integer(request, "limit", changes.DEFAULT_LIMIT, 1, changes.MAX_LIMIT)
        api = context(request)
        # One more than asked for says whether there is a next page, without an empty last one.
        found = await api.blocking(lambda: self.kind.read_after(api.store, after, limit + 1))
        documents = [self.kind.encode(v) for v in found[:limit]]
        following = None
        if len(found) > limit:
            following = f"{API_PREFIX}/{self.kind.collection}?after={documents[-1]['name']}&limit={limit}"
        return json_response({self.kind.collection: documents, "next": following})

    async def get(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        return tagged(request, self.kind.encode(await self.current(request, name)))

    async def create(self, request: web.Request) -> web.Response:
        body = await json_body(request)
        name = body.get("name")
        if not isinstance(name, str):
            raise invalid([FieldProblem("name", f"required: the new {self.kind.object_type}'s name")])
        guard = self.guard(request, name, absent_field="name")
        value = await self.put(request, name, body, guard)
        return tagged(request, self.kind.encode(value), 201, {"Location": self.kind.path(name)})

    async def replace(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        body = await json_body(request)
        guard = self.guard(request, name)
        value = await self.put(request, name, body, guard)
        return tagged(request, self.kind.encode(value), 200 if guard.existed else 201)

    async def patch(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        body = await json_body(request)
        for attempt in range(PATCH_ATTEMPTS):
            base = self.kind.encode(await self.current(request, name))
            guard = self.guard(request, name, based_on=etag(base))
            try:
                value = await self.put(request, name, {**base, **body}, guard)
            except Problem:
                if guard.moved and guard.conditions.if_match is None and attempt + 1 < PATCH_ATTEMPTS:
                    continue
                raise
            return tagged(request, self.kind.encode(value))
        raise RuntimeError("unreachable: the last attempt returns or raises")

    async def delete(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if not valid_object_name(name):  # nothing to ask the store: no object can have it
            raise not_found(f"{self.kind.object_type} {name!r}")
        guard = self.guard(request, name)
        store = context(request).store
        await write(request, lambda who: self.kind.delete(store, name, who, guard))
        return web.Response(status=204)

    async def current(self, request: web.Request, name: str) -> T:
        api = context(request)
        if not valid_object_name(name):  # nothing to ask the store: no object can have it
            raise not_found(f"{self.kind.object_type} {name!r}")
        value = await api.blocking(lambda: self.kind.read(api.store, name))
        if value is None:
            raise not_found(f"{self.kind.object_type} {name!r}")
        return value

    async def put(self, request: web.Request, name: str, body: Mapping[str, Any], guard: Guard[T]) -> T:
        """Write ``body`` as the object ``name``; return it as stored."""
        value = self.kind.decode(request, name, body)
        store = context(request).store
        await write(request, lambda who: self.kind.put(store, value, who, guard), self.kind.translate(value))
        return self.kind.stored(value)

    def guard(
        self, request: web.Request, name: str, *, absent_field: str | None = None, based_on: str | None = None
    ) -> Guard[T]:
        return Guard(
            Conditions.of(request),
            self.kind.object_type,
            name,
            self.kind.encode,
            absent_field=absent_field,
            based_on=based_on,
        )
