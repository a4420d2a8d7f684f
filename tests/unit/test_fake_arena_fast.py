"""The fake LMArena's benchmark fast mode, without sockets: stamped-record plans, the stamp
format, `ReplyDefaults` updates and the `/__fake/defaults` admin route."""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

import httpx
import pytest

from testkit.fakes.arena import FakeArena, Reply, ReplyDefaults
from testkit.fakes.arena_replies import Participant, render
from testkit.fakes.arena_stream import STAMP_BYTES, PlannedResponse, stamp

STAMP = re.compile(r"@t=(\d+);")
A = Participant("a", "msg-a", "Echo: hi")
B = Participant("b", "msg-b", "Echo (b): hi")


def test_stamped_plan_has_n_placeholder_records_and_ignores_chunk_size() -> None:
    defaults = ReplyDefaults(chunk_size=3, stamped_records=4, record_chars=30)
    plan = render(Reply(), [A], "hi", defaults).plan
    assert plan.stamped and plan.record_chars == 30
    assert [piece[:3] for piece in plan.pieces] == [b"af:", b"a2:"] + [b"a0:"] * 4 + [b"ad:"]
    assert sum(STAMP_BYTES in piece for piece in plan.pieces) == 4
    assert b'"completionTokens":4' in plan.pieces[-1]


def test_reply_value_wins_over_defaults_and_two_sided_replies_stamp_both_sides() -> None:
    defaults = ReplyDefaults(stamped_records=9)
    plan = render(Reply(stamped_records=2), [A, B], "hi", defaults).plan
    prefixes = [piece[:3] for piece in plan.pieces]
    assert prefixes == [b"af:", b"a2:", b"bf:", b"b2:", b"a0:", b"b0:", b"a0:", b"b0:",
                        b"ad:", b"bd:"]


@pytest.mark.parametrize("reply", [Reply(body="x"), Reply(records=['a0:"x"']), Reply.cut(20),
                                   Reply.rate_limited()])
def test_stamping_leaves_bodies_records_cuts_and_errors_alone(reply: Reply) -> None:
    plan = render(reply, [A], "hi", ReplyDefaults(stamped_records=3)).plan
    assert not plan.stamped
    assert not any(STAMP_BYTES in piece for piece in plan.pieces)


def test_unstamped_plans_are_unchanged() -> None:
    plan = render(Reply(), [A], "hi", ReplyDefaults()).plan
    assert not plan.stamped
    assert b'a0:"Echo: hi"' in b"".join(plan.pieces)


def test_stamp_is_padded_with_letters_to_record_chars() -> None:
    assert stamp(30, now_us=1_700_000_000_000_000) == "@t=1700000000000000;abcdefghij"
    long = stamp(200, now_us=1_700_000_000_000_000)
    assert len(long) == 200 and long[20:] == ("abcdefghijklmnopqrstuvwxyz" * 7)[:180]
    assert stamp(3, now_us=12) == "@t=12;"  # never cut the stamp, no filler
    match = STAMP.match(stamp(50))
    assert match is not None and abs(int(match[1]) - time.time_ns() // 1000) < 10_000_000


async def test_stamps_are_taken_when_the_record_is_sent() -> None:
    plan = render(Reply(stamped_records=5, record_chars=40), [A], "hi", ReplyDefaults()).plan
    sent: list[tuple[bytes, int]] = []

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body" and message["body"]:
            sent.append((message["body"], time.time_ns() // 1000))

    async def receive() -> dict[str, Any]:
        await asyncio.Event().wait()  # the client never goes away
        return {}

    before = time.time_ns() // 1000
    await PlannedResponse(plan)({}, receive, send)
    stamped = [(int(m[1]), at, body) for body, at in sent if (m := STAMP.search(body.decode()))]
    assert len(stamped) == 5
    assert all(before <= sent_at <= seen for sent_at, seen, _ in stamped)
    assert [s for s, _, _ in stamped] == sorted(s for s, _, _ in stamped)
    assert all(len(body.decode()) == len('a0:""\n') + 40 for _, _, body in stamped)


def test_reply_from_dict_accepts_stamped_records() -> None:
    assert Reply.from_dict({"stamped_records": 3}).stamped_records == 3


def test_defaults_update_checks_names_types_and_signs_and_is_atomic() -> None:
    defaults = ReplyDefaults()
    defaults.update(stamped_records=5, delay=1, record_chars=64)
    assert (defaults.stamped_records, defaults.delay, defaults.record_chars) == (5, 1.0, 64)
    assert isinstance(defaults.delay, float)
    defaults.update(stamped_records=None)
    assert defaults.stamped_records is None
    for bad in ({"nope": 1}, {"record_chars": "8"}, {"record_chars": 1.5},
                {"heartbeats": True}, {"delay": -1}, {"delay": None},
                {"stamped_records": 2, "chunk_size": "x"}):
        with pytest.raises(ValueError):
            defaults.update(**bad)
    assert defaults == ReplyDefaults(delay=1.0, record_chars=64)


async def test_admin_defaults_get_and_post() -> None:
    arena = FakeArena()
    transport = httpx.ASGITransport(app=arena.app)
    async with httpx.AsyncClient(transport=transport, base_url="https://lmarena.ai") as http:
        got = (await http.get("/__fake/defaults")).json()
        assert got == {"chunk_size": None, "delay": 0.0, "first_byte_delay": 0.0,
                       "record_chars": 8, "heartbeats": 1, "stamped_records": None,
                       "first_token_delay": 0.0, "recaptcha_delay": 0.0}
        posted = await http.post("/__fake/defaults",
                                 json={"stamped_records": 100, "delay": 0.001})
        assert posted.status_code == 200
        assert posted.json()["stamped_records"] == 100 and posted.json()["delay"] == 0.001
        assert arena.defaults.stamped_records == 100
        for bad in ({"bogus": 1}, {"record_chars": "many"}, [1], "x"):
            response = await http.post("/__fake/defaults", json=bad)
            assert response.status_code == 400
            assert "error" in response.json()
        unknown = await http.post("/__fake/defaults", json={"bogus": 1})
        assert "bogus" in unknown.json()["error"]
        assert (await http.get("/__fake/defaults")).json()["stamped_records"] == 100


def test_set_defaults_returns_a_copy() -> None:
    arena = FakeArena()
    copy = arena.set_defaults(stamped_records=2, record_chars=32)
    assert copy == arena.defaults and copy is not arena.defaults
    with pytest.raises(ValueError, match="unknown"):
        arena.set_defaults(speed=3)


async def test_the_first_token_delay_holds_a_stamped_replys_first_record_not_its_start() -> None:
    defaults = ReplyDefaults(stamped_records=3, first_token_delay=0.2)
    plan = render(Reply(), [A], "hi", defaults).plan
    sent: list[tuple[bytes, float]] = []

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body" and message["body"]:
            sent.append((message["body"], time.monotonic()))

    async def receive() -> dict[str, Any]:
        await asyncio.Event().wait()
        return {}

    await PlannedResponse(plan)({}, receive, send)
    heartbeat_at = next(at for body, at in sent if body.startswith(b"a2:"))
    first_record_at = next(at for body, at in sent if STAMP.search(body.decode()))
    assert sent[0][0].startswith(b"af:") and sent[0][1] <= heartbeat_at
    assert 0.19 <= first_record_at - heartbeat_at < 1.0


def test_the_first_token_delay_is_a_fast_mode_setting_only() -> None:
    defaults = ReplyDefaults(first_token_delay=0.5)
    assert render(Reply(), [A], "hi", defaults).plan.first_token_delay == 0.0
    stamped = render(Reply(stamped_records=2), [A], "hi", defaults).plan
    assert stamped.first_token_delay == 0.5


async def test_the_recaptcha_stand_in_takes_its_execute_time_and_records_issue_and_use() -> None:
    arena = FakeArena()
    arena.set_defaults(recaptcha_delay=0.15)
    transport = httpx.ASGITransport(app=arena.app)
    async with httpx.AsyncClient(transport=transport, base_url="https://lmarena.ai") as http:
        asked = time.time()
        minted = await http.post("/__fake/recaptcha/execute",
                                 json={"site_key": arena.site_key, "action": "chat_submit"})
        answered = time.time()
    token = minted.json()["token"]
    assert answered - asked >= 0.15
    issued = next(t for t in arena.issued_tokens if t.token == token)
    assert asked + 0.15 <= issued.issued_at <= answered  # made at the end of the wait
    assert issued.redeemed_at is None
    registry = arena.state.recaptcha
    assert registry.redeem(token, (arena.site_key,), issued.issued_at + 1, 120.0)
    assert next(t for t in arena.issued_tokens if t.token == token).redeemed_at == (
        issued.issued_at + 1)
