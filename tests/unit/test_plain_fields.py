"""graph.plain_fields: plain leaf fields answered as graphql-core answers them, errors included."""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any

import strawberry
from strawberry.extensions import SchemaExtension

from graph.later import Later
from graph.plain_fields import PlainLeafFields


@strawberry.enum
class Mood(enum.Enum):
    CALM = "CALM"
    TENSE = "TENSE"


@strawberry.type
class Row:
    name: str
    count: int
    mood: Mood
    at: datetime | None
    note: str | None
    later: int = strawberry.field(graphql_type=int)

    @strawberry.field
    def shout(self, loud: bool = False) -> str:
        return self.name.upper() if loud else self.name


def _rows() -> list[Row]:
    at = datetime(2026, 12, 7, 8, 30, tzinfo=UTC)
    return [Row(name=f"r{i}", count=i, mood=Mood.CALM, at=at, note=None, later=i) for i in range(3)]


def _broken() -> list[Row]:
    rows = _rows()
    rows[1].count = "many"  # type: ignore[assignment]  # a value the Int type refuses
    rows[2].name = None  # type: ignore[assignment]  # null in a non-null field
    return rows


class _Unreadable:
    """Stands for a row whose attribute is a property that raises."""

    name = "duck"

    @property
    def note(self) -> str | None:
        raise ValueError("cannot read the note")


@strawberry.type
class Query:
    @strawberry.field
    def rows(self) -> list[Row]:
        return _rows()

    @strawberry.field
    def broken(self) -> list[Row | None]:
        return _broken()  # type: ignore[return-value]

    @strawberry.field
    def unreadable(self) -> Row:
        return _Unreadable()  # type: ignore[return-value]

    @strawberry.field
    def pending(self) -> Row:
        async def read() -> int:
            return 42

        found = _rows()[0]
        found.later = Later(read)  # type: ignore[assignment]
        return found


FIELDS = "name count mood at note shout(loud: true) also: name"


def _schemas(**options: Any) -> tuple[strawberry.Schema, strawberry.Schema]:
    return (
        strawberry.Schema(query=Query, execution_context_class=PlainLeafFields, **options),
        strawberry.Schema(query=Query, **options),
    )


async def test_plain_fields_answer_exactly_as_graphql_core_does() -> None:
    fast, plain = _schemas()
    query = f"{{ rows {{ {FIELDS} }} }}"

    found, expected = await fast.execute(query), await plain.execute(query)

    assert found.errors is None and found.data == expected.data
    assert found.data is not None and found.data["rows"][0] == {
        "name": "r0",
        "count": 0,
        "mood": "CALM",
        "at": "2026-12-07T08:30:00+00:00",
        "note": None,
        "shout": "R0",
        "also": "r0",
    }


async def test_refused_and_missing_values_give_graphql_cores_errors_at_their_paths() -> None:
    fast, plain = _schemas()
    query = "{ broken { name count } }"

    found, expected = await fast.execute(query), await plain.execute(query)

    assert found.data == expected.data == {"broken": [{"name": "r0", "count": 0}, None, None]}
    assert [(e.message, e.path) for e in found.errors or []] == [
        (e.message, e.path) for e in expected.errors or []
    ]
    assert [e.path for e in found.errors or []] == [["broken", 1, "count"], ["broken", 2, "name"]]


async def test_an_attribute_that_raises_is_reported_at_its_own_path() -> None:
    fast, plain = _schemas()
    query = "{ unreadable { name note } }"

    found, expected = await fast.execute(query), await plain.execute(query)

    assert found.data == expected.data == {"unreadable": {"name": "duck", "note": None}}
    assert [(e.message, e.path) for e in found.errors or []] == [
        ("cannot read the note", ["unreadable", "note"])
    ]
    assert [(e.message, e.path) for e in expected.errors or []] == [
        ("cannot read the note", ["unreadable", "note"])
    ]


async def test_an_awaitable_in_a_plain_field_is_awaited() -> None:
    fast, _ = _schemas()

    found = await fast.execute("{ pending { name later } }")

    assert found.errors is None and found.data == {"pending": {"name": "r0", "later": 42}}


async def test_a_resolve_hook_still_sees_every_field() -> None:
    seen: list[str] = []

    class Watch(SchemaExtension):
        def resolve(self, _next: Any, root: Any, info: Any, *args: Any, **kwargs: Any) -> Any:
            seen.append(info.field_name)
            return _next(root, info, *args, **kwargs)

    fast, _ = _schemas(extensions=[Watch])

    found = await fast.execute("{ rows { name count } }")

    assert found.errors is None
    assert seen.count("name") == 3 and seen.count("count") == 3
