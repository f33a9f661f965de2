"""Page-number pagination in the reference's shape: ``count``, ``next``, ``previous``, ``results``."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from litestar import Request

from runwire_server.api.errors import NotFound

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100


def page_window(page: int, page_size: int) -> tuple[int, int]:
    """``(offset, limit)`` of a page (parameters were range-checked by the handler)."""
    return (page - 1) * page_size, page_size


def paginated(
    request: Request[Any, Any, Any], count: int, page: int, page_size: int, results: list[Any]
) -> dict[str, Any]:
    """The paginated response; a page past the last one (other than page 1) is a 404."""
    last = max(1, -(-count // page_size))
    if page > last:
        raise NotFound(f"Invalid page: page {page} is past the last page ({last}).")

    def link(number: int) -> str | None:
        if number < 1 or number > last:
            return None
        query = dict(request.query_params)
        query["page"] = str(number)
        return str(request.url.with_replacements(query=urlencode(query)))

    return {"count": count, "next": link(page + 1), "previous": link(page - 1), "results": results}
