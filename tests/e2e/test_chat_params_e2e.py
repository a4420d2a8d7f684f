"""Issue 21 end to end: the official `openai` client → `lmarenarev serve` → the userscript in
Chromium → the fake LMArena, for what clients send beyond plain chat: stop and max_tokens (the
tab's fetch aborted), n choices, structured output (the SDK's own `parse`), SillyTavern's
recorded requests (Continue, Impersonate, a quiet prompt), the legacy and model routes."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from pydantic import BaseModel

from testkit.fakes.arena import Reply
from testkit.support import wait_until

from .conftest import Arena, GatewayProcess, OpenTab

pytestmark = pytest.mark.e2e
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "sillytavern"
LONG = " ".join(f"word{i}" for i in range(200))


def user(text: str) -> dict[str, str]:
    return {"role": "user", "content": text}


def upstream_kinds(arena: Arena) -> list[str]:
    return [r.kind for r in arena.fake.requests if r.kind != "page"]


def test_stop_and_max_tokens_end_the_reply_and_abort_the_tabs_fetch(
    gateway: GatewayProcess, open_tab: OpenTab, arena: Arena
) -> None:
    open_tab()
    client = gateway.client()
    arena.fake.enqueue(Reply(text="Action: look\nObservation: x " + LONG, chunk_size=6, delay=0.02))
    stream = client.chat.completions.create(
        model="fake-gpt", messages=[user("react")], stop="\nObservation:", stream=True
    )
    chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Action: look"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    arena.fake.wait_for(lambda: arena.fake.disconnected_streams == 1, 10)
    arena.fake.enqueue(Reply(text=LONG, chunk_size=6, delay=0.02))
    started = time.monotonic()
    cut = client.chat.completions.create(
        model="fake-gpt", messages=[user("count")], max_completion_tokens=8
    )
    assert cut.choices[0].finish_reason == "length"
    assert cut.usage is not None and 0 < cut.usage.completion_tokens <= 8
    assert LONG.startswith(cut.choices[0].message.content or "-")
    arena.fake.wait_for(lambda: arena.fake.disconnected_streams == 2, 10)
    assert time.monotonic() - started < 5  # the whole reply would take ~12 s
    assert arena.fake.completed_streams == 0


def test_n_choices_stream_and_not(gateway: GatewayProcess, open_tab: OpenTab, arena: Arena) -> None:
    open_tab()
    client = gateway.client()
    both = client.chat.completions.create(model="fake-gpt", messages=[user("twice")], n=2)
    assert [(c.index, c.message.content) for c in both.choices] == [
        (0, "Echo: twice"), (1, "Echo: twice"),
    ]  # fmt: skip
    texts = {0: "", 1: "", 2: ""}
    for chunk in client.chat.completions.create(
        model="fake-gpt", messages=[user("thrice")], n=3, stream=True
    ):
        for choice in chunk.choices:
            texts[choice.index] += choice.delta.content or ""
    assert texts == {0: "Echo: thrice", 1: "Echo: thrice", 2: "Echo: thrice"}
    assert upstream_kinds(arena) == ["create"] * 5 and len(arena.fake.sessions) == 5


class Person(BaseModel):
    name: str
    age: int


def test_the_sdks_structured_output_gets_a_checked_answer_after_one_correction(
    gateway: GatewayProcess, open_tab: OpenTab, arena: Arena
) -> None:
    open_tab()
    fenced = '```json\n{"name": "Ada", "age": 36}\n```'
    arena.fake.enqueue(Reply(text="Ada Lovelace, 36."), Reply(text=fenced))
    parsed = gateway.client().chat.completions.parse(
        model="fake-gpt", messages=[user("Who wrote the first program?")], response_format=Person
    )
    assert parsed.choices[0].message.parsed == Person(name="Ada", age=36)
    assert upstream_kinds(arena) == ["create", "post"]  # the correction, in the same session
    (session,) = arena.fake.sessions.values()
    assert "not JSON" in session.turns[1].user_text


def test_sillytaverns_continue_impersonate_and_quiet_prompt_are_served(
    gateway: GatewayProcess, open_tab: OpenTab, arena: Arena
) -> None:
    """SillyTavern's recorded requests, sent as it sent them (streamed but the quiet prompt),
    each answered with the reply it got then: one session until the impersonation."""
    open_tab()
    recorded = json.loads((FIXTURES / "default_preset.json").read_text())["requests"]
    client = gateway.client()
    logs = f"{gateway.url}/api/monitor/logs/requests"

    def logged() -> int:
        total: int = httpx.get(logs, params={"limit": 1}, timeout=10).json()["total"]
        return total

    before = logged()
    for request in recorded:
        arena.fake.enqueue(Reply(text=request["reply"], chunk_size=12))
        body: Any = request["body"]
        if body["stream"]:
            text = "".join(c.choices[0].delta.content or "" for c in
                           client.chat.completions.create(**body) if c.choices)  # fmt: skip
        else:
            text = client.chat.completions.create(**body).choices[0].message.content
        assert text == request["reply"], request["name"]
    assert upstream_kinds(arena) == ["create", "post", "post", "post", "post", "create"]
    nudge = recorded[3]["body"]["messages"][-1]["content"]
    session = next(iter(arena.fake.sessions.values()))
    assert [t.user_text for t in session.turns[1:4]] == [
        "Who are you?", "Can you help me walk?", nudge,
    ]  # fmt: skip
    wait_until(lambda: logged() >= before + 6, 10, "the six requests in the log")  # written async
    rows = httpx.get(logs, params={"limit": 6}, timeout=10).json()
    assert [r["conversation"] for r in reversed(rows["requests"])] == [
        "folded", "continued", "continued", "continued", "continued", "folded",
    ]  # fmt: skip


def test_models_retrieve_legacy_completions_and_embeddings(
    gateway: GatewayProcess, open_tab: OpenTab
) -> None:
    open_tab()
    client = gateway.client()
    assert client.models.retrieve("fake-gpt").id == "fake-gpt"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("no-such-model")
    assert client.completions.create(model="fake-gpt", prompt="legacy").choices[0].text == (
        "Echo: legacy"
    )
    streamed = client.completions.create(model="fake-gpt", prompt="flow", stream=True)
    assert "".join(c.choices[0].text for c in streamed if c.choices) == "Echo: flow"
    with pytest.raises(openai.APIStatusError) as refused:
        client.embeddings.create(model="fake-gpt", input="x")
    assert refused.value.status_code == 501
