"""What every handler reads a request and writes a response with: the URL prefix, the media
type, the body limit, the JSON body, integer query parameters, and who is asking.

Handlers take these from here, not from gslb/api/app.py, which imports the handlers to build
the application.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from gslb.api.problems import Problem, bad_request
from gslb.tokens import ApiToken

API_PREFIX = "/api/v1"
MAX_BODY = 1024 * 1024  # a pool of a thousand members is ~100 kB
JSON_TYPE = "application/json"
TOKEN_KEY = "gslb.token"  # the request's ApiToken, set by gslb/api/app.py ``auth_middleware``


def actor(request: web.Request) -> str:
    """The change log's name for whoever made this request."""
    token: ApiToken = request[TOKEN_KEY]
    return f"api:{token.name}"


async def json_body(request: web.Request) -> dict[str, Any]:
    """The request's JSON object, or the problem that says why there is none."""
    if request.content_type != JSON_TYPE:
        raise Problem(
            415,
            "unsupported-media-type",
            "Unsupported media type",
            f"the body must be {JSON_TYPE}, got {request.content_type or 'none'}",
            field="Content-Type",
        )
    try:
        # JSON is UTF-8 (RFC 8259 section 8.1), whatever charset the Content-Type names.
        text = (await request.read()).decode("utf-8")
    except web.HTTPRequestEntityTooLarge as exc:
        raise Problem(
            413, "body-too-large", "Body too large", f"the body is larger than {MAX_BODY} bytes", field="body"
        ) from exc
    except UnicodeDecodeError as exc:
        raise bad_request(f"the body is not UTF-8: {exc}", field="body") from exc
    try:
        document = json.loads(text, parse_constant=_refuse_constant)
    except ValueError as exc:
        raise bad_request(f"malformed JSON: {exc}", field="body") from exc
    if not isinstance(document, dict):
        raise bad_request("the body must be a JSON object", field="body")
    if not unicode_text(document):
        raise bad_request("malformed JSON: a \\u escape of half a surrogate pair is not a character", "body")
    return document


def query_integer(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    """The integer query parameter ``name``, ``default`` if absent; 400 naming it if it is not one
    from ``low`` to ``high`` in ASCII digits ("²" passes isdigit() and fails int(); int() reads " 1").
    """
    text = request.query.get(name)
    if text is None:
        return default
    if (
        not (text.isascii() and text.isdigit() and len(text) <= len(str(high)))
        or not low <= int(text) <= high
    ):
        raise bad_request(f"{name} must be an integer from {low} to {high}, got {text!r}", name)
    return int(text)


def unicode_text(document: Any) -> bool:
    """Whether every string in ``document`` is Unicode text. JSON's escapes can spell half a
    surrogate pair (``"\\ud800"``), which Python reads into a string no database can store."""
    try:
        json.dumps(document, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        return False
    return True


def _refuse_constant(name: str) -> Any:
    """NaN and Infinity: Python's json reads them, but they are not JSON (RFC 8259 section 6)."""
    raise ValueError(f"{name} is not a JSON value")


def json_response(document: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        status=status, body=json.dumps(document).encode(), content_type=JSON_TYPE, headers=headers
    )
