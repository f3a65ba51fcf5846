"""Success answers as Cloud Manager shapes them: compact (or `pretty`) JSON with its headers,
or an empty 200/201, and the query flags every endpoint shares.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

from aiohttp import hdrs, web

# DOCS-HDR: what a 200/201 carries besides Connection, which aiohttp handles.
SUCCESS_HEADERS: Final = {"Vary": "Accept-Encoding", "Strict-Transport-Security": "max-age=300"}
JSON_HEADERS: Final = {**SUCCESS_HEADERS, hdrs.CONTENT_TYPE: "application/json"}


def origin(request: web.Request) -> str:
    """scheme://host of the request, for the absolute URLs the API returns."""
    return f"{request.scheme}://{request.host}"


def flag(query: Mapping[str, str], name: str) -> bool:
    """A boolean query parameter (`verbose`, `pretty`, `envelope`), false unless "true"."""
    return query.get(name, "false").lower() == "true"


def json_bytes(request: web.Request, doc: dict[str, Any]) -> bytes:
    """A success body: compact JSON, or Jackson-style pretty JSON with `pretty=true`."""
    if flag(request.query, "pretty"):
        return json.dumps(doc, indent=2, separators=(",", " : ")).encode()
    return json.dumps(doc, separators=(",", ":")).encode()


def json_response(body: bytes, status: int = 200) -> web.Response:
    """A JSON body with the API's success headers."""
    return web.Response(status=status, body=body, headers=JSON_HEADERS)


def entity(request: web.Request, doc: dict[str, Any], status: int = 200) -> web.Response:
    """One entity, wrapped as {"content", "status"} with `envelope=true`."""
    if flag(request.query, "envelope"):
        doc = {"content": doc, "status": status}
    return json_response(json_bytes(request, doc), status)


def empty(status: int = 200) -> web.Response:
    """The body-less 200 of PATCH, PUT …/retry and DELETE (no Content-Type either)."""
    return web.Response(status=status, headers=SUCCESS_HEADERS)
