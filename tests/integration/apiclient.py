"""A small client of the admin API for the integration tests: real HTTP over loopback (urllib)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import Message
from typing import Any

PROBLEM_TYPE = "application/problem+json"
_NO_BODY = object()


@dataclass(frozen=True)
class Reply:
    status: int
    headers: Message
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def etag(self) -> str | None:
        return self.headers.get("ETag")

    def problem(self, status: int, field: str | None) -> dict[str, Any]:
        """The reply as the RFC 9457 document it must be: ``status``, naming ``field``."""
        assert self.status == status, (self.status, self.body)
        assert self.headers.get_content_type() == PROBLEM_TYPE, self.headers
        document = self.json()
        assert isinstance(document, dict)
        assert {"type", "title", "status", "detail"} <= set(document), document
        assert document["status"] == status
        assert document.get("field") == field, document
        return document


class ApiClient:
    """Requests to ``base_url`` with ``token`` as the bearer token (None: no Authorization)."""

    def __init__(self, base_url: str, token: str | None = None) -> None:
        self.base_url = base_url
        self.token = token

    def request(
        self,
        method: str,
        path: str,
        body: Any = _NO_BODY,
        *,
        headers: Mapping[str, str] | None = None,
        raw: bytes | None = None,
        content_type: str = "application/json",
    ) -> Reply:
        """``body`` is sent as JSON, ``raw`` as it is; non-2xx replies are returned, not raised."""
        sent: dict[str, str] = {}
        if self.token is not None:
            sent["Authorization"] = f"Bearer {self.token}"
        data = raw if raw is not None else (json.dumps(body).encode() if body is not _NO_BODY else None)
        if data is not None:
            sent["Content-Type"] = content_type
        sent.update(headers or {})
        request = urllib.request.Request(self.base_url + path, data=data, method=method, headers=sent)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return Reply(response.status, response.headers, response.read())
        except urllib.error.HTTPError as error:
            with error:
                return Reply(error.code, error.headers, error.read())

    def get(self, path: str, **kwargs: Any) -> Reply:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, body: Any = _NO_BODY, **kwargs: Any) -> Reply:
        return self.request("POST", path, body, **kwargs)

    def put(self, path: str, body: Any = _NO_BODY, **kwargs: Any) -> Reply:
        return self.request("PUT", path, body, **kwargs)

    def patch(self, path: str, body: Any = _NO_BODY, **kwargs: Any) -> Reply:
        return self.request("PATCH", path, body, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Reply:
        return self.request("DELETE", path, **kwargs)

    def state(self) -> tuple[int, Any, Any, Any]:
        """Everything the API shows of the store: its revision, and every site, check and pool."""
        revision = self.get("/api/v1/zones").json()["store_revision"]
        return revision, self.every("sites"), self.every("checks"), self.every("pools")

    def every(self, collection: str) -> list[Any]:
        """Every object of a collection, following its pages' ``next`` links."""
        found: list[Any] = []
        path: str | None = f"/api/v1/{collection}"
        while path is not None:
            page = self.get(path).json()
            found += page[collection]
            path = page["next"]
        return found
