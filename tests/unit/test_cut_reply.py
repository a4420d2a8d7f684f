"""A reply whose body ends without LMArena's finish record was cut off (issue 27): the relay
says so (`upstream_truncated`) instead of passing the part off as the whole answer. In a battle
the finish record that counts is the one of the side the call follows (`ad:` or `bd:`)."""

from __future__ import annotations

import asyncio
import time

import pytest

from lmarenarev.arena.events import Event, Finish, TextDelta
from lmarenarev.arena.requests import ArenaCall, CreateCall, LegacyCall, Recaptcha
from lmarenarev.chat.relay import Relay, RelayConfig
from lmarenarev.errors import GatewayError
from lmarenarev.messages import Message
from lmarenarev.workers.protocol import ChunkFrame, DoneFrame, StatusFrame
from tests.unit.test_relay_start import of_type, tab
from tests.unit.test_workers import NullLink

CONFIG = RelayConfig(wait_for_worker=5, first_byte_timeout=5, chunk_timeout=5)
DIRECT = CreateCall("model-1", "text", "hello", (), Recaptcha("site-key-0123456789abc", "submit"))


def battle(target: str) -> LegacyCall:
    return LegacyCall("session", "message", "model-1", "text", "battle", target,  # type: ignore[arg-type]
                      (Message("user", "hello"),))


FINISH_A = 'ad:{"finishReason":"stop"}\n'
FINISH_B = 'bd:{"finishReason":"stop"}\n'
BOTH = 'a0:"x"\nb0:"y"\n'  # a battle's text of side a and side b


async def _no_sleep(_seconds: float) -> None:
    return None


async def _fetch(link: NullLink, number: int) -> str:
    """The job id of the `number`th fetch the relay sent (waits for it, with a deadline)."""
    deadline = time.monotonic() + 5
    while len(of_type(link, "fetch")) < number:
        assert time.monotonic() < deadline, f"fetch {number} never came"
        await asyncio.sleep(0)
    return str(of_type(link, "fetch")[number - 1]["job"])


async def relay_bodies(
    call: ArenaCall, *bodies: str
) -> tuple[list[Event], GatewayError | None, Relay]:
    """Run `call`; attempt i gets `bodies[i]` as a 200 that ends cleanly."""
    pool, worker, link = await tab()
    relay = Relay(pool, CONFIG, request_id="cut", sleep=_no_sleep)
    events: list[Event] = []

    async def consume() -> None:
        async for event in relay.events(call):
            events.append(event)

    task = asyncio.create_task(consume())
    for number, body in enumerate(bodies, 1):
        job = await _fetch(link, number)
        pool.on_frame(worker, StatusFrame(job, 200, {}))
        pool.on_frame(worker, ChunkFrame(job, 0, body))
        pool.on_frame(worker, DoneFrame(job, 1))
    try:
        await asyncio.wait_for(task, 5)
    except GatewayError as error:
        return events, error, relay
    return events, None, relay


async def test_a_whole_reply_has_its_finish_record_and_is_not_cut() -> None:
    events, error, relay = await relay_bodies(DIRECT, 'a0:"Hi"\n' + FINISH_A)
    assert error is None and events == [TextDelta("Hi"), Finish("stop")]
    assert relay.outcome().truncated == 0


async def test_a_reply_cut_after_its_text_is_upstream_truncated_never_stop() -> None:
    events, error, relay = await relay_bodies(DIRECT, 'af:{"messageId":"m"}\na0:"Hel"\na0:"lo"\n')
    assert events == [TextDelta("Hello")]  # no Finish: nothing says "stop"
    assert error is not None and (error.status, error.code) == (502, "upstream_truncated")
    assert "cut off" in error.message
    out = relay.outcome()
    assert (out.truncated, out.last_failure, out.attempts) == (1, "truncated", 1)


@pytest.mark.parametrize(
    ("target", "body", "cut"),
    [
        pytest.param("B", BOTH + FINISH_A, True, id="b followed, only ad: came"),
        pytest.param("B", BOTH + FINISH_A + FINISH_B, False, id="b followed, bd: came"),
        pytest.param("A", BOTH + FINISH_A, False, id="a followed, bd: missing"),
        pytest.param("A", BOTH + FINISH_B, True, id="a followed, only bd: came"),
    ],
)
async def test_a_battle_reply_is_cut_when_the_followed_sides_finish_record_is_missing(
    target: str, body: str, cut: bool
) -> None:
    events, error, relay = await relay_bodies(battle(target), body)
    side = target.lower()
    assert [e for e in events if isinstance(e, TextDelta)] == [
        TextDelta("x" if side == "a" else "y", side)
    ]
    assert (error is not None and error.code == "upstream_truncated") is cut
    assert relay.outcome().truncated == int(cut)


async def test_a_reply_cut_before_any_text_is_retried_like_an_empty_one() -> None:
    events, error, relay = await relay_bodies(
        DIRECT, 'af:{"messageId":"m"}\na2:[{"type":"heartbeat"}]\n', 'a0:"ok"\n' + FINISH_A
    )
    assert error is None and events == [TextDelta("ok"), Finish("stop")]
    out = relay.outcome()
    assert (out.attempts, out.retries, out.truncated) == (2, {"truncated": 1}, 1)


async def test_an_empty_body_is_still_an_empty_reply_not_a_cut_one() -> None:
    _events, error, relay = await relay_bodies(DIRECT, *[""] * 6)
    assert error is not None and error.code == "empty_response"
    assert relay.outcome().truncated == 0 and "truncated" not in relay.outcome().retries
