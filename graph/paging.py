"""Paging of connections: page sizes and the page info."""

from __future__ import annotations

import strawberry

from domain.errors import BadUserInput
from domain.ports import Page

DEFAULT_PAGE = 20
MAX_PAGE = 100


def page_size(first: int | None) -> int:
    """`first`, by default 20; BAD_USER_INPUT outside 0..100 (large lists are slow to serialise)."""
    if first is None:
        return DEFAULT_PAGE
    if first < 0 or first > MAX_PAGE:
        raise BadUserInput(f"first must be between 0 and {MAX_PAGE}.", field="first")
    return first


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


def page_info(page: Page[object], after: str | None) -> PageInfo:
    cursors = [cursor for cursor, _ in page.items]
    return PageInfo(
        has_next_page=page.has_next,
        has_previous_page=after is not None,
        start_cursor=cursors[0] if cursors else None,
        end_cursor=cursors[-1] if cursors else None,
    )
