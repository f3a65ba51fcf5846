"""Paginated lists, shared by job and group listings: pageNum/itemsPerPage, RFC 5988 links,
totalCount unless `includeCount=false`, and the list envelope's `status`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, TypeVar
from urllib.parse import urlencode

from aiohttp import web

from bulkdl.emulator import errors
from bulkdl.emulator.responses import flag, origin

DEFAULT_ITEMS_PER_PAGE: Final = 100
MAX_ITEMS_PER_PAGE: Final = 500

T = TypeVar("T")


def paged_doc(
    request: web.Request, items: Sequence[T], render: Callable[[T], dict[str, Any]]
) -> dict[str, Any]:
    """The page of `items` the query asks for, each through `render`, as the API lists it."""
    page = positive_int(request.query, "pageNum", 1, None)
    per_page = positive_int(
        request.query, "itemsPerPage", DEFAULT_ITEMS_PER_PAGE, MAX_ITEMS_PER_PAGE
    )
    start = (page - 1) * per_page
    doc: dict[str, Any] = {
        "links": page_links(request, page, per_page, len(items)),
        "results": [render(item) for item in items[start : start + per_page]],
    }
    if request.query.get("includeCount", "true").lower() != "false":
        doc["totalCount"] = len(items)
    if flag(request.query, "envelope"):
        doc["status"] = 200
    return doc


def page_links(request: web.Request, page: int, per_page: int, total: int) -> list[dict[str, str]]:
    """RFC 5988 links: `previous` unless on page 1, `self`, `next` unless on the last page.

    The request's other query parameters are echoed, then pageNum and itemsPerPage.
    """
    base = f"{origin(request)}{request.rel_url.raw_path}"
    kept = [(k, v) for k, v in request.query.items() if k not in ("pageNum", "itemsPerPage")]

    def href(n: int) -> str:
        return f"{base}?{urlencode([*kept, ('pageNum', n), ('itemsPerPage', per_page)])}"

    links = []
    if page > 1:
        links.append({"href": href(page - 1), "rel": "previous"})
    links.append({"href": href(page), "rel": "self"})
    if page * per_page < total:
        links.append({"href": href(page + 1), "rel": "next"})
    return links


def positive_int(query: Mapping[str, str], name: str, default: int, maximum: int | None) -> int:
    """A 1-based query integer; INVALID_QUERY_PARAMETER if not a number or out of range."""
    raw = query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise errors.invalid_query_parameter(name) from None
    if value < 1 or (maximum is not None and value > maximum):
        raise errors.invalid_query_parameter(name)
    return value
