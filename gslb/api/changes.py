"""``/api/v1/changes``: the store's change log (every write: when, by whom, what), paged.

Pages are keyed by the last entry's id, not by an offset, so an operator paging through a busy
log neither misses nor repeats an entry while writes go on.
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

from aiohttp import web

from gslb.api.context import context
from gslb.api.request import API_PREFIX, json_response, query_integer
from gslb.store import LoggedEdit

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
"""Entries per page: the change log's, and every listing's (gslb/api/resources.py)."""


async def list_changes(request: web.Request) -> web.Response:
    after = query_integer(request, "after", 0, 0, 2**63 - 1)
    limit = query_integer(request, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    api = context(request)
    # One more than asked for says whether there is a next page, without an empty last one.
    found = await api.blocking(lambda: api.store.changes(after, limit + 1))
    page = found[:limit]
    following = None
    if len(found) > limit:
        following = f"{API_PREFIX}/changes?after={page[-1].id}&limit={limit}"
    return json_response({"changes": [_entry(e) for e in page], "next": following})


def _entry(logged: LoggedEdit) -> dict[str, Any]:
    edit = logged.edit
    return {
        "id": logged.id,
        "revision": logged.revision,
        "at": logged.at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "actor": logged.actor,
        "action": edit.action.value,
        "object_type": edit.object_type.value,
        "object_name": edit.object_name,
        "detail": dict(edit.detail),
    }
