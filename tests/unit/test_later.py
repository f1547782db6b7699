"""graph.later.Later: a plain field's value that reads nothing until GraphQL awaits it."""

from __future__ import annotations

from graph.later import Later


async def test_a_later_value_is_read_when_awaited_and_not_before() -> None:
    started: list[str] = []

    async def read() -> int:
        started.append("read")
        return 7

    value = Later(read)
    assert started == []

    assert await value == 7
    assert started == ["read"]


async def test_a_later_value_never_awaited_reads_nothing() -> None:
    started: list[str] = []

    async def read() -> int:
        started.append("read")
        return 7

    Later(read)

    assert started == []  # and no "coroutine was never awaited" warning: none was made
