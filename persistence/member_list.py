"""The member list's orders as keyset pages: each order is a list of keys, the last ones the
display name and id, so a cursor names one place in it whatever the order."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Row, and_, false, func, literal, or_, select
from sqlalchemy.sql import FromClause
from sqlalchemy.sql.util import ClauseAdapter

from domain.errors import BadUserInput
from domain.ports import ClientOrder, Page
from persistence import rows
from persistence.tables import UtcDateTime, counsellors
from persistence.tables import clients as t

T = TypeVar("T")
# Clients who never signed in sort after everyone who did (newest login first).
NEVER = datetime(1970, 1, 1, tzinfo=UTC)


def _keys(order: ClientOrder) -> list[tuple[Any, bool, type]]:
    """(expression, descending, kind) per key of the order."""
    by_name: list[tuple[Any, bool, type]] = [(t.c.sort_name, False, str), (t.c.id, False, int)]
    if order is ClientOrder.LAST_LOGIN:
        last = func.coalesce(t.c.last_login_at, literal(NEVER, UtcDateTime()), type_=UtcDateTime())
        return [(last, True, datetime), (t.c.id, True, int)]
    if order is ClientOrder.ACCOUNT_STATUS:
        return [(t.c.account_status, False, str), *by_name]
    if order is ClientOrder.INVITATION_STATUS:
        return [(t.c.invitation_status, False, str), *by_name]
    if order is ClientOrder.PRIMARY_COUNSELLOR:
        # By the primary's name; clients without one first.
        name = select(counsellors.c.sort_name).where(counsellors.c.id == t.c.primary_counsellor_id)
        primary = func.coalesce(name.scalar_subquery(), "")
        return [(primary, False, str), *by_name]
    return by_name


def _after(keys: list[tuple[Any, bool, type]], cursor: str) -> ColumnElement[bool]:
    """Rows after the cursor's place: lexicographic over the keys, each in its direction."""
    stored = rows.decode_cursor(cursor, *[str if kind is datetime else kind for _, _, kind in keys])
    values = [_parsed(v) if kind is datetime else v for v, (_, _, kind) in zip(stored, keys, strict=True)]
    alternatives = []
    for i, (expr, descending, _) in enumerate(keys):
        equal = [keys[j][0] == values[j] for j in range(i)]
        alternatives.append(and_(*equal, expr < values[i] if descending else expr > values[i]))
    return or_(false(), *alternatives)


def _parsed(text: str) -> datetime:
    try:
        found = datetime.fromisoformat(text)
    except ValueError as exc:
        raise BadUserInput("after is not a cursor of this list.", field="after") from exc
    if found.tzinfo is None:
        raise BadUserInput("after is not a cursor of this list.", field="after")
    return found


def page_statement(
    rows_from: FromClause,
    where: ColumnElement[bool],
    order: ClientOrder,
    first: int,
    after: str | None,
    per_row: Callable[[Any], Sequence[Any]],
    total: Any,
) -> Any:
    """The page of `rows_from` (the clients table, or a selection of its rows with its columns)
    and its total in one statement. The page is cut first (an inner select with the keys, ordered,
    LIMIT first + 1); only then are the `per_row` columns computed, for the page's rows alone.
    `where` and the keys are written against the clients table and moved onto `rows_from`;
    `total` is a scalar subquery (`total_of`)."""
    moved = (lambda e: e) if rows_from is t else ClauseAdapter(rows_from).traverse
    keys = [(moved(expr), descending, kind) for expr, descending, kind in _keys(order)]
    where = moved(where)
    inner = select(rows_from, *[expr.label(f"k{i}") for i, (expr, _, _) in enumerate(keys)]).where(where)
    if after is not None:
        inner = inner.where(_after(keys, after))
    ordering = [expr.desc() if descending else expr for expr, descending, _ in keys]
    page = inner.order_by(*ordering).limit(first + 1).subquery("p")
    outer_order = [page.c[f"k{i}"].desc() if d else page.c[f"k{i}"] for i, (_, d, _) in enumerate(keys)]
    return select(page, *per_row(page), total.label("total")).order_by(*outer_order)


def read_page(result: Sequence[Row[Any]], first: int, read: Callable[[Row[Any]], T]) -> Page[T]:
    items = []
    for row in result[:first]:
        m = row._mapping
        key: list[Any] = []
        while f"k{len(key)}" in m:
            key.append(m[f"k{len(key)}"])
        items.append((rows.encode_cursor(*[_plain(v) for v in key]), read(row)))
    return Page(items=items, has_next=len(result) > first, total=result[0].total)


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value
