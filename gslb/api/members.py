"""A pool's members under /api/v1/pools/{name}/members: change one without resending the pool.

This is what an operator's automation does most (drain a member, re-weigh it, force it down),
so each write touches one member inside the store's transaction: two operators changing two
members of one pool at once both succeed, and neither undoes the other. A member is named by its
address, in any spelling (``2001:DB8::1`` finds ``2001:db8::1``); its ETag covers the member only.
"""

from __future__ import annotations

from aiohttp import web

from gslb.api.codec import canonical_address, decode_member, etag, member_document, member_fields
from gslb.api.context import context
from gslb.api.etags import Conditions, Guard, tagged
from gslb.api.problems import Problem, not_found
from gslb.api.request import API_PREFIX, json_body, json_response
from gslb.api.writes import write
from gslb.declare.reader import valid_object_name
from gslb.health.status import rfc3339, wall_time
from gslb.model import AdminState, Member, Pool
from gslb.snapshot import ttl
from gslb.store.rules import member_name

CACHES_CLEAR_AT = "Caches-Clear-At"
PATCH_ATTEMPTS = 5  # as for pools (gslb/api/resources.py)


async def list_members(request: web.Request) -> web.Response:
    pool = await _pool(request)
    return json_response({"members": [member_document(m) for m in pool.members]})


async def get_member(request: web.Request) -> web.Response:
    pool = await _pool(request)
    member = _member(pool, request.match_info["address"])
    return tagged(request, member_document(member), headers=await _drain_promise(request, pool.name, member))


async def create_member(request: web.Request) -> web.Response:
    body = await json_body(request)
    pool = await _pool(request)
    member = decode_member(pool, None, body)
    guard = _guard(request, pool, member.address, absent_field="address")
    await _put(request, pool, member, guard)
    location = f"{API_PREFIX}/pools/{pool.name}/members/{member.address}"
    return tagged(request, member_document(member), 201, {"Location": location})  # new: never answered


async def replace_member(request: web.Request) -> web.Response:
    body = await json_body(request)
    pool = await _pool(request)
    member = decode_member(pool, request.match_info["address"], body)
    guard = _guard(request, pool, member.address)
    await _put(request, pool, member, guard)
    headers = await _drain_promise(request, pool.name, member)
    return tagged(request, member_document(member), 200 if guard.existed else 201, headers)


async def patch_member(request: web.Request) -> web.Response:
    """Replace the fields sent (``{"state": "drained"}``), keep the member's others."""
    body = await json_body(request)
    for attempt in range(PATCH_ATTEMPTS):
        pool = await _pool(request)
        base = member_document(_member(pool, request.match_info["address"]))
        member = decode_member(pool, request.match_info["address"], {**base, **body})
        guard = _guard(request, pool, member.address, based_on=etag(base))
        try:
            await _put(request, pool, member, guard)
        except Problem:
            if guard.moved and guard.conditions.if_match is None and attempt + 1 < PATCH_ATTEMPTS:
                continue
            raise
        return tagged(
            request, member_document(member), headers=await _drain_promise(request, pool.name, member)
        )
    raise RuntimeError("unreachable: the last attempt returns or raises")


async def delete_member(request: web.Request) -> web.Response:
    pool = await _pool(request)
    address = canonical_address(pool.kind, request.match_info["address"])
    guard = _guard(request, pool, address)
    store = context(request).store
    await write(request, lambda who: store.delete_member(pool.name, address, who, guard))
    return web.Response(status=204)


async def _drain_promise(request: web.Request, pool_name: str, member: Member) -> dict[str, str]:
    """For a drained member, ``Caches-Clear-At``: when no resolver can still hold an answer with it
    (gslb/snapshot/ttl.py), the moment its site may be stopped. Read back from the store, which set the
    drain's start; nothing for any other state."""
    if member.state is not AdminState.DRAINED:
        return {}
    api = context(request)
    pool = await api.blocking(lambda: api.store.pool(pool_name))
    if pool is None:
        return {}  # deleted meanwhile: nothing to wait for
    name = pool.health_check
    check = await api.blocking(lambda: api.store.check(name)) if name is not None else None
    checks = {check.name: check} if check is not None else {}
    # None: deleted meanwhile, drained from disabled, or before drains had a time (withdrawn at once)
    clear = ttl.drain_promises(pool, checks, *api.ttl_bounds).get(member.address)
    return {} if clear is None else {CACHES_CLEAR_AT: rfc3339(wall_time(clear))}


async def _pool(request: web.Request) -> Pool:
    api = context(request)
    name = request.match_info["name"]
    if not valid_object_name(name):  # nothing to ask the store: no pool can have it
        raise not_found(f"pool {name!r}")
    pool = await api.blocking(lambda: api.store.pool(name))
    if pool is None:
        raise not_found(f"pool {name!r}")
    return pool


def _member(pool: Pool, address: str) -> Member:
    key = canonical_address(pool.kind, address)
    member = next((m for m in pool.members if m.address == key), None)
    if member is None:
        raise not_found(f"member {member_name(pool.name, key)!r}")
    return member


async def _put(request: web.Request, pool: Pool, member: Member, guard: Guard[Member]) -> None:
    store = context(request).store
    await write(request, lambda who: store.put_member(pool.name, member, who, guard), member_fields(None))


def _guard(
    request: web.Request,
    pool: Pool,
    address: str,
    *,
    absent_field: str | None = None,
    based_on: str | None = None,
) -> Guard[Member]:
    return Guard(
        Conditions.of(request),
        "member",
        member_name(pool.name, address),
        member_document,
        absent_field=absent_field,
        based_on=based_on,
    )
