"""The member list's orders as keyset pages: each order is a list of keys, the last ones the
display name and id, so a cursor names one place in it whatever the order.

Every value of a page statement is a named bind (`Binds`), so one statement per query shape
serves every viewer, filter value and cursor: built once, its compiled form cached by SQLAlchemy
(a statement object memoizes its cache key), it is executed with this request's binds."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Integer,
    Row,
    and_,
    bindparam,
    false,
    func,
    literal,
    or_,
    select,
    union_all,
)
from sqlalchemy.sql import FromClause
from sqlalchemy.types import TypeEngine

from domain.errors import BadUserInput
from domain.ports import ClientOrder, Page
from persistence import rows
from persistence.tables import UtcDateTime, counsellors
from persistence.tables import clients as t

T = TypeVar("T")
# Clients who never signed in sort after everyone who did (newest login first).
NEVER = datetime(1970, 1, 1, tzinfo=UTC)


class Binds(dict[str, Any]):
    """The values of one page statement by bind name: `binds(name, value)` records the value
    and gives the bind that stands for it in the statement."""

    def __call__(
        self, name: str, value: Any, type_: TypeEngine[Any] | None = None, expanding: bool = False
    ) -> BindParameter[Any]:
        self[name] = value
        return bindparam(name, type_=type_, expanding=expanding)


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


def after_cursor(order: ClientOrder, cursor: str, binds: Binds) -> ColumnElement[bool]:
    """Rows after the cursor's place: lexicographic over the keys, each in its direction."""
    keys = _keys(order)
    stored = rows.decode_cursor(cursor, *[str if kind is datetime else kind for _, _, kind in keys])
    parsed = [_parsed(v) if kind is datetime else v for v, (_, _, kind) in zip(stored, keys, strict=True)]
    values = [binds(f"after{i}", v, keys[i][0].type) for i, v in enumerate(parsed)]
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


def limit(first: int, binds: Binds) -> BindParameter[Any]:
    return binds("limit", first + 1, Integer())


def page_statement(
    parts: Sequence[ColumnElement[bool]],
    filters: ColumnElement[bool],
    after: ColumnElement[bool] | None,
    order: ClientOrder,
    page_limit: BindParameter[Any],
    per_row: Callable[[FromClause], Sequence[Any]],
    total: Any,
) -> Any:
    """The page of the clients in any of the disjoint `parts` (one condition each, on its own
    index) that match the `filters`, after the cursor's place, and `total`, in one statement.
    Each part is cut on its own (ORDER BY the keys, LIMIT first + 1: the database reads at most
    that many rows of each index), then their UNION ALL is sorted and cut again; only then are the
    `per_row` columns computed, for the page's rows alone."""
    keys = _keys(order)
    labelled = [expr.label(f"k{i}") for i, (expr, _, _) in enumerate(keys)]
    ordering = [expr.desc() if descending else expr for expr, descending, _ in keys]
    where = filters if after is None else and_(filters, after)
    cut = [select(t, *labelled).where(part, where).order_by(*ordering).limit(page_limit) for part in parts]

    def by_keys(rows_from: FromClause) -> list[Any]:
        return [
            rows_from.c[f"k{i}"].desc() if d else rows_from.c[f"k{i}"] for i, (_, d, _) in enumerate(keys)
        ]

    if len(cut) == 1:
        page = cut[0].subquery("p")
    else:
        # Each part in a subquery of its own: SQLite allows no ORDER BY or LIMIT in a compound's parts.
        every = union_all(*[select(c.subquery()) for c in cut]).subquery("u")
        page = select(every).order_by(*by_keys(every)).limit(page_limit).subquery("p")
    return select(page, *per_row(page), total.label("total")).order_by(*by_keys(page))


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
