"""The first-output rule is the gateway's: the relay puts it in every stream job's `fetch`
frame; a page fetch goes without it (the script then takes the first chunk as output)."""

from __future__ import annotations

import asyncio

from lmarenarev.arena.first_output import EXCEPT, STARTS, first_output_rule
from lmarenarev.arena.requests import ArenaCall, CreateCall, Recaptcha, RegenerateCall
from lmarenarev.arena.stream import parse_all
from lmarenarev.chat.completion import RelayRun
from lmarenarev.chat.relay import Relay
from lmarenarev.workers.page_fetch import fetch_through_worker
from lmarenarev.workers.protocol import fetch_frame
from tests.unit.test_relay_start import CONFIG, of_type, tab

RECAPTCHA = Recaptcha("site-key-0123456789abc", "submit")
CALLS: list[ArenaCall] = [
    CreateCall("model-1", "text", "hello", (), RECAPTCHA),
    CreateCall("model-1", "text", "again", (), RECAPTCHA, session_id="s1"),
    RegenerateCall("s1", "m1", RECAPTCHA),
]


async def test_the_relay_sends_the_rule_with_every_stream_job() -> None:
    for call in CALLS:
        pool, _worker, link = await tab()
        run = RelayRun(Relay(pool, CONFIG, request_id="r1"), call)
        await run.start()
        [fetch] = of_type(link, "fetch")
        assert fetch["first_output"] == first_output_rule(), call
        await run.close()


async def test_a_page_fetch_goes_without_the_rule() -> None:
    pool, _worker, link = await tab()
    fetching = asyncio.create_task(fetch_through_worker(pool, "/?mode=direct", timeout=0.05))
    for _ in range(100):
        if of_type(link, "fetch"):
            break
        await asyncio.sleep(0)
    [fetch] = of_type(link, "fetch")
    assert "first_output" not in fetch
    fetching.cancel()
    await asyncio.gather(fetching, return_exceptions=True)


def test_a_fetch_frame_has_the_field_only_when_given() -> None:
    plain = fetch_frame("j", url="/x", method="GET", headers={}, body=None, recaptcha=None)
    ruled = fetch_frame(
        "j", url="/x", method="GET", headers={}, body=None, recaptcha=None,
        first_output=first_output_rule(),
    )

    assert "first_output" not in plain
    assert ruled == {**plain, "first_output": {"starts": STARTS, "except": EXCEPT}}


def test_the_message_id_and_heartbeats_are_not_output_and_the_records_after_them_are() -> None:
    """docs/lmarena-protocol.md §2.2; the script's own matcher is checked against the parser in
    test_userscript_js.py."""
    assert not any(start.startswith("af") for start in STARTS)
    assert 'a2:[{"type":"heartbeat"}]' in EXCEPT and 'b2:[{"type":"heartbeat"}]' in EXCEPT
    for line in ['a0:"x"', 'ag:"x"', 'a2:[{"type":"image","image":"u"}]', 'a3:"e"', "ad:{}"]:
        assert line.startswith(STARTS), line
    for start in STARTS:  # each start is a record the parser reads: side a, b, or none (0:")
        assert (start[0] in "ab" and start[2] == ":") or start == '0:"'
    assert parse_all('a2:[{"type":"heartbeat"}]\naf:{"messageId":"m"}\n') == []
