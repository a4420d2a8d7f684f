"""The DevTools pipe (browser/cdp.py) against a stand-in browser on two real pipes: NUL-framed
JSON, replies matched by id whatever their order, events to listeners, errors and timeouts as
`CdpError`, and a closed pipe failing what is still waiting."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest

from lmarenarev.browser.cdp import CdpClosed, CdpError, CdpPipe, CdpTimeout
from testkit.support import wait_until_async


class StandIn:
    """The browser's ends: reads our commands, writes what the test says."""

    def __init__(self) -> None:
        self.commands_read, commands_write = os.pipe()
        replies_read, self.replies_write = os.pipe()
        self.ours = (replies_read, commands_write)

    def command(self) -> dict[str, Any]:
        data = b""
        while not data.endswith(b"\0"):
            data += os.read(self.commands_read, 1)
        parsed: dict[str, Any] = json.loads(data[:-1])
        return parsed

    def send(self, *messages: dict[str, Any]) -> None:
        os.write(self.replies_write, b"".join(json.dumps(m).encode() + b"\0" for m in messages))

    def close(self) -> None:
        for fd in (self.commands_read, self.replies_write):
            with contextlib.suppress(OSError):  # closed already
                os.close(fd)


@pytest.fixture
async def pipe() -> AsyncIterator[tuple[CdpPipe, StandIn]]:
    browser = StandIn()
    cdp = await CdpPipe.open(*browser.ours)
    try:
        yield cdp, browser
    finally:
        await cdp.aclose()
        browser.close()


async def in_thread(fn: Any, *args: Any) -> Any:
    return await asyncio.get_running_loop().run_in_executor(None, fn, *args)


async def test_replies_find_their_calls_in_any_order(pipe: tuple[CdpPipe, StandIn]) -> None:
    cdp, browser = pipe
    first = asyncio.create_task(cdp.call("Browser.getVersion"))
    second = asyncio.create_task(cdp.call("Runtime.evaluate", {"expression": "1"}, session="S"))
    one, two = await in_thread(browser.command), await in_thread(browser.command)
    assert (one["method"], two["sessionId"], two["params"]) == (
        "Browser.getVersion", "S", {"expression": "1"}
    )
    browser.send({"id": two["id"], "result": {"value": 2}}, {"id": one["id"], "result": {"v": 1}})
    assert await first == {"v": 1} and await second == {"value": 2}


async def test_events_reach_listeners_with_their_session(pipe: tuple[CdpPipe, StandIn]) -> None:
    cdp, browser = pipe
    seen: list[tuple[str, dict[str, Any], str | None]] = []
    undo = cdp.listen(lambda *event: seen.append(event))
    browser.send({"method": "Target.targetCrashed", "params": {"targetId": "T"}, "sessionId": "S"})
    await wait_until_async(lambda: bool(seen), 5, "the event")
    assert seen == [("Target.targetCrashed", {"targetId": "T"}, "S")]
    undo()
    browser.send({"method": "Target.targetDestroyed", "params": {}})
    call = asyncio.create_task(cdp.call("Browser.getVersion"))  # a round trip after the event
    browser.send({"id": (await in_thread(browser.command))["id"], "result": {}})
    await call
    assert len(seen) == 1


async def test_an_error_reply_and_a_silent_browser_are_errors(
    pipe: tuple[CdpPipe, StandIn],
) -> None:
    cdp, browser = pipe
    failing = asyncio.create_task(cdp.call("Page.navigate", {"url": "x"}))
    browser.send({"id": (await in_thread(browser.command))["id"],
                  "error": {"code": -32000, "message": "Cannot navigate to invalid URL"}})
    with pytest.raises(CdpError, match=re.escape("Page.navigate: Cannot navigate to invalid URL")):
        await failing
    with pytest.raises(CdpTimeout, match=re.escape("no answer within 0.1 s")):
        await cdp.call("Runtime.evaluate", timeout=0.1)


async def test_a_closed_pipe_fails_waiting_and_later_calls(pipe: tuple[CdpPipe, StandIn]) -> None:
    cdp, browser = pipe
    waiting = asyncio.create_task(cdp.call("Browser.getVersion"))
    await in_thread(browser.command)
    browser.close()  # the browser exited
    with pytest.raises(CdpClosed):
        await waiting
    assert cdp.closed.is_set()
    with pytest.raises(CdpClosed):
        await cdp.call("Browser.getVersion")
