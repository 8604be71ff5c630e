"""``/api/v1/changes``: the store's change log (every write: when, by whom, what), paged.

Pages are keyed by the last entry's id, not by an offset, so an operator paging through a busy
log neither misses nor repeats an entry while writes go on.
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

from aiohttp import web

from gslb.api.app import API_PREFIX, context, json_response
from gslb.api.problems import bad_request
from gslb.store import LoggedEdit

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


async def list_changes(request: web.Request) -> web.Response:
    after = _integer(request, "after", 0, 0, 2**63 - 1)
    limit = _integer(request, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
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


def _integer(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    text = request.query.get(name)
    if text is None:
        return default
    if (
        not (text.isascii() and text.isdigit() and len(text) <= len(str(high)))
        or not low <= int(text) <= high
    ):
        raise bad_request(f"{name} must be an integer from {low} to {high}, got {text!r}", name)
    return int(text)


def add_routes(app: web.Application) -> None:
    app.router.add_get(f"{API_PREFIX}/changes", list_changes, allow_head=False)
