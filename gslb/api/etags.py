"""Conditional requests (RFC 9110 section 13): If-Match and If-None-Match against an object's ETag.

Two operators who read the same pool and write it back must not silently overwrite each other:
the second write carries the ETag its writer read, and fails with 412 once the pool has changed.
Comparing before the write would leave a window in which both pass, so the comparison is a
``Precondition`` the store runs inside its write transaction, after the revision lock: of two
racing writers with the same ETag, the second compares against what the first committed.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from aiohttp import web

from gslb.api.codec import Document, etag
from gslb.api.problems import bad_request
from gslb.api.request import json_response
from gslb.errors import ConflictError, PreconditionError

T = TypeVar("T")

ANY = "*"
# One entity tag of a list (RFC 9110 section 8.8.3), and the comma or end after it.
_ENTITY_TAG = re.compile(r'\s*((?:W/)?"[\x21\x23-\x7e\x80-\xff]*")\s*(?:,|$)')


@dataclass(frozen=True, slots=True)
class Conditions:
    """A request's If-Match and If-None-Match: None when the header is absent."""

    if_match: tuple[str, ...] | None = None
    if_none_match: tuple[str, ...] | None = None

    @classmethod
    def of(cls, request: web.Request) -> Conditions:
        return cls(_tags(request, "If-Match"), _tags(request, "If-None-Match"))

    def not_modified(self, tag: str) -> bool:
        """For a GET: the client holds this representation already (weak comparison)."""
        return self.if_none_match is not None and (
            ANY in self.if_none_match or any(t.removeprefix("W/") == tag for t in self.if_none_match)
        )

    def failure(self, tag: str | None) -> tuple[str, str] | None:
        """The header that fails for the stored object's ETag (None: there is no object), and why."""
        if self.if_match is not None:
            if tag is None:
                return "If-Match", "does not exist"
            if ANY not in self.if_match and tag not in self.if_match:  # strong: W/ tags never match
                return "If-Match", f"has changed: its ETag is now {tag}"
        if self.if_none_match is not None and tag is not None:
            if ANY in self.if_none_match:
                return "If-None-Match", "already exists"
            if any(t.removeprefix("W/") == tag for t in self.if_none_match):
                return "If-None-Match", f"still has the ETag {tag}"
        return None


def tagged(
    request: web.Request, document: Document, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    """A representation with its ETag; for a GET whose If-None-Match holds it, 304 Not Modified."""
    tag = etag(document)
    if request.method == "GET" and Conditions.of(request).not_modified(tag):
        return web.Response(status=304, headers={"ETag": tag})
    return json_response(document, status, {**(headers or {}), "ETag": tag})


class Guard(Generic[T]):
    """The ``Precondition`` of one write: the request's conditions, tested by the store.

    It also notes whether the object existed (201 or 200), and ``moved``: a PATCH is merged onto
    the object as read (``based_on``, its ETag), so it refuses to write over a newer one.
    ``absent_field`` makes the write a create only (POST): an existing object is a 409 naming it.
    """

    def __init__(
        self,
        conditions: Conditions,
        object_type: str,
        object_name: str,
        encode: Callable[[T], Document],
        *,
        absent_field: str | None = None,
        based_on: str | None = None,
    ) -> None:
        self.conditions = conditions
        self.object_type = object_type
        self.object_name = object_name
        self.encode = encode
        self.absent_field = absent_field
        self.based_on = based_on
        self.existed: bool | None = None
        self.moved = False

    def __call__(self, current: T | None) -> None:
        self.existed = current is not None
        tag = etag(self.encode(current)) if current is not None else None
        if self.absent_field is not None and current is not None:
            raise ConflictError(self.object_type, self.object_name, "already exists", self.absent_field)
        failure = self.conditions.failure(tag)
        if failure is not None:
            header, reason = failure
            raise PreconditionError(self.object_type, self.object_name, reason, header)
        if self.based_on is not None and tag != self.based_on:
            self.moved = True
            raise PreconditionError(self.object_type, self.object_name, "changed while patching", "If-Match")


def _tags(request: web.Request, header: str) -> tuple[str, ...] | None:
    """The entity tags of a header (``*`` alone is ANY); a malformed header is a 400 naming it."""
    given = request.headers.get(header)
    if given is None:
        return None
    text = given.strip()
    if text == ANY:
        return (ANY,)
    tags: list[str] = []
    position = 0
    while position < len(text):
        found = _ENTITY_TAG.match(text, position)
        if found is None or found.end() == position:
            break
        tags.append(found.group(1))
        position = found.end()
    if position < len(text) or not tags:
        raise bad_request(
            f'{header} must be * or a list of quoted ETags like "3f2a...", got {given!r}', header
        )
    return tuple(tags)
