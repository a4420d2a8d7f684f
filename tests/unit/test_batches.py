"""Batches on the hot path: worker frames in one JSON array, events rendered in one write."""

from __future__ import annotations

import itertools
import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from lmarenarev.api.worker_poll import _flatten
from lmarenarev.api.workers import _dispatch
from lmarenarev.arena.events import Event, Finish, ImageOut, ReasoningDelta, TextDelta
from lmarenarev.arena.stream import StreamParser
from lmarenarev.monitor.observe import RequestWatch
from lmarenarev.render.common import RenderOptions
from lmarenarev.render.sse import SSERenderer
from lmarenarev.workers.jobs import Data, End, Status
from lmarenarev.workers.pool import WorkerPool
from lmarenarev.workers.protocol import loads
from tests.unit.test_render import _event, _options, _relaxed
from tests.unit.test_workers import NullLink, drain, hello


class FakeGateway:
    def __init__(self, pool: WorkerPool) -> None:
        self.pool = pool


async def _job_on_a_worker() -> tuple[WorkerPool, Any, Any]:
    pool = WorkerPool(default_capacity=6, ping_interval=10, ping_timeout=30)
    worker = await pool.add(hello(), NullLink())
    return pool, worker, pool.start_job(worker)


async def test_a_batch_is_handled_like_its_frames_one_by_one() -> None:
    pool, worker, job = await _job_on_a_worker()
    batch = [
        {"type": "status", "job": job.id, "http_status": 200, "headers": {}},
        {"type": "chunk", "job": job.id, "seq": 1, "data": "b"},  # out of order: held
        "not a frame",
        {"type": "chunk", "job": job.id, "seq": 0, "data": "a"},
        [{"type": "chunk", "job": job.id, "seq": 2, "data": "nested"}],  # not a frame either
        {"type": "done", "job": job.id, "seq": 2},
    ]
    _dispatch(FakeGateway(pool), worker, json.dumps(batch))  # type: ignore[arg-type]
    assert drain(job) == [Status(200, {}), Data("a"), Data("b"), End()]
    assert pool.dropped_frames == 2


async def test_malformed_json_is_one_dropped_frame_and_an_empty_batch_none() -> None:
    pool, worker, job = await _job_on_a_worker()
    gateway: Any = FakeGateway(pool)
    _dispatch(gateway, worker, '[{"type": "chunk"')
    _dispatch(gateway, worker, "[]")
    assert pool.dropped_frames == 1
    _dispatch(gateway, worker, json.dumps({"type": "chunk", "job": job.id, "seq": 0, "data": "x"}))
    assert drain(job) == [Data("x")]


async def test_bye_in_a_batch_retires_the_worker() -> None:
    pool, worker, _ = await _job_on_a_worker()
    _dispatch(FakeGateway(pool), worker, '[{"type": "pong", "t": 1}, {"type": "bye"}]')  # type: ignore[arg-type]
    assert worker.reloading


def test_loads_accepts_what_json_accepts() -> None:
    for text in ('{"t": NaN}', '"\\ud83d"', "18446744073709551615", '{"a": 1.5e3, "b": [-0]}'):
        assert repr(loads(text)) == repr(json.loads(text))
    assert loads(b'{"t": Infinity}') == {"t": float("inf")}


def test_flatten_replaces_a_batch_by_its_frames() -> None:
    frames: list[Any] = [{"type": "pong"}]
    assert _flatten(frames) is frames
    assert _flatten([{"a": 1}, [{"b": 2}, {"c": 3}], 4]) == [{"a": 1}, {"b": 2}, {"c": 3}, 4]


@_relaxed
@given(st.lists(_event, max_size=20), _options, st.lists(st.integers(0, 20), max_size=5))
def test_feed_all_gives_the_bytes_of_feeding_one_by_one(
    events: list[Event], options: RenderOptions, cuts: list[int]
) -> None:
    one, many = SSERenderer(options), SSERenderer(options)
    singly = b"".join(one.feed(event) for event in events) + one.finish()
    bounds = [0, *sorted(cuts), len(events)]
    batched = b"".join(many.feed_all(events[a:b]) for a, b in itertools.pairwise(bounds))
    assert singly == batched + many.finish()
    assert one.content() == many.content()


def test_feed_all_keeps_a_split_surrogate_pair_escaped() -> None:
    options = RenderOptions("m", "c", 1, "openai", True, False)
    events: list[Event] = [TextDelta("x\ud83d"), TextDelta("\ude00y")]
    one = SSERenderer(options)
    assert SSERenderer(options).feed_all(events) == one.feed(events[0]) + one.feed(events[1])
    assert b"\\ud83d" in one.feed(TextDelta("\ud83d"))


class _Observer:
    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        self.now += 1
        return self.now

    def wall(self) -> float:
        return 0.0

    def log_bodies(self) -> bool:
        return True


def test_watch_events_is_event_for_each() -> None:
    events: list[Event] = [
        Finish("x"), ReasoningDelta("r"), TextDelta("t"), ImageOut("u"), TextDelta("u"),
        Finish("stop"),
    ]
    one = RequestWatch(_Observer(), None)  # type: ignore[arg-type]
    for event in events:
        one.event(event)
    many = RequestWatch(_Observer(), None)  # type: ignore[arg-type]
    many.events(events)
    for watch in (one, many):
        assert watch.first_token_at == 2  # the clock read at start, then at the reasoning
        seen = (watch.reasoning(), watch.partial_reply(), watch.finish_reason)
        assert seen == ("r", "tu", "stop")


_record_line = st.one_of(
    st.builds(lambda side, text, rest: f"{side}0:{json.dumps(text)}{rest}",
              st.sampled_from("abc"), st.text(),
              st.sampled_from(["", " ", "\r", "x", '"', "a0:1"])),
    st.builds(lambda side, raw: f'{side}0:"{raw}', st.sampled_from("ab"), st.text()),
)


@given(st.lists(_record_line, max_size=5))
def test_the_text_record_fast_path_parses_like_the_general_one(lines: list[str]) -> None:
    """`feed` takes a shortcut for a line holding one `a0:"…"` record; `_line` is the reference."""
    fast, general = StreamParser(), StreamParser()
    expected: list[Event] = []
    for line in lines:
        if "\n" not in line:
            general._line(line, expected)
    got = fast.feed("".join(line + "\n" for line in lines if "\n" not in line))
    assert got == expected
    assert (fast.records, fast.ignored) == (general.records, general.ignored)
