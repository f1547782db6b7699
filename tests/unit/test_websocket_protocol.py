"""graph/websocket_protocol.py: the light queue and flag behave as the asyncio ones uvicorn uses."""

from __future__ import annotations

import asyncio

import pytest

from graph.websocket_protocol import Flag, Inbox

GUARD = 5.0  # seconds: a broken wake-up fails the test instead of hanging the suite


async def test_an_item_put_before_get_is_taken_at_once_in_order() -> None:
    inbox = Inbox()
    inbox.put_nowait("connect")
    inbox.put_nowait("receive")
    assert not inbox.empty()
    assert await inbox.get() == "connect"
    assert await inbox.get() == "receive"
    assert inbox.empty()


async def test_a_waiting_get_wakes_on_put() -> None:
    inbox = Inbox()
    getting = asyncio.ensure_future(inbox.get())
    await asyncio.sleep(0)
    assert not getting.done()
    inbox.put_nowait("disconnect")
    assert await asyncio.wait_for(getting, GUARD) == "disconnect"


async def test_two_waiting_gets_each_take_one_item() -> None:
    inbox = Inbox()
    first, second = asyncio.ensure_future(inbox.get()), asyncio.ensure_future(inbox.get())
    await asyncio.sleep(0)
    inbox.put_nowait(1)
    inbox.put_nowait(2)
    assert sorted(await asyncio.wait_for(asyncio.gather(first, second), GUARD)) == [1, 2]


async def test_a_cancelled_get_loses_no_item() -> None:
    inbox = Inbox()
    getting = asyncio.ensure_future(inbox.get())
    await asyncio.sleep(0)
    getting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await getting
    inbox.put_nowait("receive")
    assert await asyncio.wait_for(inbox.get(), GUARD) == "receive"


async def test_the_flag_holds_writers_while_cleared() -> None:
    flag = Flag()
    await flag.wait()  # set at first: no wait
    flag.clear()
    waiting = asyncio.ensure_future(flag.wait())
    await asyncio.sleep(0)
    assert not waiting.done()
    flag.set()
    await asyncio.wait_for(waiting, GUARD)
    assert flag.is_set()
