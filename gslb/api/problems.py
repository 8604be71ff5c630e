"""RFC 9457 problem documents: every error the API returns, in one shape, naming the field at fault.

Clients automate against this API, so an error must be machine-readable (``type``, ``status``,
``field``) as well as readable by the operator who gets paged (``title``, ``detail``). Store
errors map to statuses here and nowhere else.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from gslb.errors import (
    ConflictError,
    DatabaseError,
    NotFoundError,
    ObjectError,
    PreconditionError,
    StoreError,
    ValidationError,
)

PROBLEM_TYPE = "application/problem+json"
TYPE_BASE = "https://gslb.invalid/problems/"  # identifiers, not pages: .invalid never resolves


@dataclass(frozen=True, slots=True)
class FieldProblem:
    """One invalid field of a request: where it is (``members[1].address``) and what is wrong."""

    field: str
    detail: str

    def document(self) -> dict[str, str]:
        return {"field": self.field, "detail": self.detail}


class Problem(Exception):
    """An error answer: raise it from a handler and the middleware renders it."""

    def __init__(
        self,
        status: int,
        slug: str,
        title: str,
        detail: str,
        *,
        field: str | None = None,
        errors: Sequence[FieldProblem] = (),
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.slug = slug  # the last part of ``type``: a stable name clients can switch on
        self.title = title
        self.detail = detail
        self.field = field
        self.errors = tuple(errors)
        self.headers = headers or {}
        self.extra = extra or {}

    def document(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": TYPE_BASE + self.slug,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if self.field is not None:
            body["field"] = self.field
        if self.errors:
            body["errors"] = [e.document() for e in self.errors]
        body.update(self.extra)
        return body

    def response(self) -> web.Response:
        return web.Response(
            status=self.status,
            body=json.dumps(self.document()).encode(),
            content_type=PROBLEM_TYPE,
            headers=self.headers,
        )


def invalid(errors: Sequence[FieldProblem]) -> Problem:
    """422: the body parsed, but these fields hold values gslb cannot take."""
    first = errors[0]
    detail = f"{first.field}: {first.detail}"
    if len(errors) > 1:
        detail += f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''}, see errors)"
    return Problem(422, "invalid-field", "Invalid field", detail, field=first.field, errors=tuple(errors))


def bad_request(detail: str, field: str | None = None) -> Problem:
    return Problem(400, "bad-request", "Bad request", detail, field=field)


def not_found(what: str) -> Problem:
    return Problem(404, "not-found", "Not found", f"{what} does not exist")


def from_store_error(exc: StoreError) -> Problem:
    """The API's answer to a write or read the store refused (nothing was written)."""
    if isinstance(exc, ValidationError):
        return invalid([_field_problem(p) for p in exc.problems])
    if isinstance(exc, NotFoundError):
        return Problem(404, "not-found", "Not found", str(exc), field=exc.field)
    if isinstance(exc, ConflictError):
        return Problem(409, "conflict", "Conflict", str(exc), field=exc.field)
    if isinstance(exc, PreconditionError):
        return Problem(412, "precondition-failed", "Precondition failed", str(exc), field="If-Match")
    if isinstance(exc, ObjectError):  # InvalidError, and any other object-level refusal
        return invalid([_field_problem(exc)])
    if isinstance(exc, DatabaseError):
        return Problem(503, "store-unavailable", "Store unavailable", str(exc), headers={"Retry-After": "1"})
    return Problem(500, "store-error", "Store error", str(exc))


def _field_problem(exc: ObjectError) -> FieldProblem:
    return FieldProblem(exc.field or exc.object_type, f"{exc.object_type} {exc.object_name!r}: {exc.detail}")
