"""Values of plain fields that are read only if a query selects them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class Later(Generic[T]):
    """An awaitable that starts its read when awaited, not when made.

    A plain field (no resolver) costs GraphQL a getattr; a resolver costs strawberry's whole
    wrapper, which for 50 rows of an overview page is more than the page's SQL. A field whose
    value is known when the object is made holds the value; otherwise it holds a Later, which
    GraphQL awaits only when the query selects the field, so an unselected field reads nothing.
    """

    __slots__ = ("_start",)

    def __init__(self, start: Callable[[], Awaitable[T]]) -> None:
        self._start = start

    def __await__(self) -> Generator[Any, None, T]:
        return self._start().__await__()
