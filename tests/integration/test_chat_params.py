"""What clients send beyond plain chat (issue 21), through the gateway, a fake worker and the
fake LMArena: stop, max_tokens, n, response_format, histories that do not end with a user
message, SillyTavern's recorded requests, /v1/completions, /v1/models/{id}, /v1/embeddings."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import openai
import pytest

from lmarenarev.chat.conversation import CONTINUE_PREFILL
from lmarenarev.chat.json_output import ASK_OBJECT
from lmarenarev.store.tokens import load_counter
from testkit.fakes.arena import Reply
from testkit.fakes.worker import FakeWorker
from testkit.support import wait_until_async

from .conftest import Arena, RunningGateway, StartGateway
from .test_monitor import logged

pytestmark = pytest.mark.usefixtures("worker")
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "sillytavern"
REACT = "Thought: I should look it up\nAction: search[tides]\nObservation: the moon\nThought: ok"
LONG = " ".join(f"word{i}" for i in range(120))


def user(text: str) -> dict[str, str]:
    return {"role": "user", "content": text}


def upstream_kinds(arena: Arena) -> list[str]:
    return [r.kind for r in arena.fake.requests if r.kind != "page"]


def sent_texts(arena: Arena) -> list[str]:
    return [r.body["userMessage"]["content"] for r in arena.fake.requests
            if r.kind in ("create", "post")]  # fmt: skip


# --- stop and max_tokens -------------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True])
async def test_a_stop_sequence_ends_the_reply_and_aborts_the_fetch(
    client: openai.AsyncOpenAI, arena: Arena, stream: bool
) -> None:
    arena.fake.enqueue(Reply(text=REACT + " " + LONG, chunk_size=4, delay=0.01))
    kwargs: dict[str, Any] = {"model": "fake-gpt", "messages": [user("tides?")],
                              "stop": ["\nObservation:"]}  # fmt: skip
    if stream:
        chunks = [c async for c in await client.chat.completions.create(**kwargs, stream=True)]
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        finish = [c.choices[0].finish_reason for c in chunks if c.choices][-1]
    else:
        completion = await client.chat.completions.create(**kwargs)
        choice = completion.choices[0]
        text, finish = choice.message.content or "", choice.finish_reason
    assert text == "Thought: I should look it up\nAction: search[tides]"
    assert finish == "stop"
    await arena.fake.wait_for_async(lambda: arena.fake.disconnected_streams == 1)
    assert arena.fake.completed_streams == 0  # LMArena did not send the rest


async def test_max_tokens_cuts_the_reply_with_length_and_counted_usage(
    client: openai.AsyncOpenAI, arena: Arena
) -> None:
    count = load_counter()
    assert count is not None
    arena.fake.enqueue(Reply(text=LONG, chunk_size=8, delay=0.01))
    completion = await client.chat.completions.create(
        model="fake-gpt", messages=[user("count for me")], max_tokens=10
    )
    content = completion.choices[0].message.content or ""
    assert LONG.startswith(content) and len(content) > 10
    assert completion.choices[0].finish_reason == "length"
    assert completion.usage is not None
    assert completion.usage.completion_tokens == count(content) <= 10
    assert completion.usage.prompt_tokens == count("count for me")
    await arena.fake.wait_for_async(lambda: arena.fake.disconnected_streams == 1)


async def test_max_completion_tokens_is_the_same_budget_and_a_short_reply_is_not_cut(
    client: openai.AsyncOpenAI, arena: Arena
) -> None:
    completion = await client.chat.completions.create(
        model="fake-gpt", messages=[user("hi")], max_completion_tokens=300
    )
    assert completion.choices[0].message.content == "Echo: hi"
    assert completion.choices[0].finish_reason == "stop"
    arena.fake.enqueue(Reply(text=LONG, chunk_size=8))
    cut = await client.chat.completions.create(
        model="fake-gpt", messages=[user("long")], max_completion_tokens=3, max_tokens=50
    )
    assert cut.choices[0].finish_reason == "length"


async def test_a_reply_cut_by_the_gateway_is_not_continued_in_its_session(
    client: openai.AsyncOpenAI, arena: Arena
) -> None:
    arena.fake.enqueue(Reply(text=REACT, chunk_size=5, delay=0.01))
    cut = await client.chat.completions.create(
        model="fake-gpt", messages=[user("q")], stop=["\nObservation:"]
    )
    history = [user("q"), {"role": "assistant", "content": cut.choices[0].message.content},
               user("Observation: the moon")]  # fmt: skip
    await client.chat.completions.create(model="fake-gpt", messages=history)
    assert upstream_kinds(arena) == ["create", "create"]  # LMArena's session holds more


# --- n choices -----------------------------------------------------------------------------------


async def test_n_choices_are_n_new_sessions_answered_together(
    client: openai.AsyncOpenAI, arena: Arena
) -> None:
    completion = await client.chat.completions.create(
        model="fake-gpt", messages=[user("pick one")], n=3
    )
    assert [c.index for c in completion.choices] == [0, 1, 2]
    assert {c.message.content for c in completion.choices} == {"Echo: pick one"}
    assert upstream_kinds(arena) == ["create"] * 3 and len(arena.fake.sessions) == 3
    assert completion.usage is not None and completion.usage.completion_tokens >= 3


async def test_n_streamed_choices_carry_their_index_and_end_once(
    client: openai.AsyncOpenAI, arena: Arena
) -> None:
    arena.fake.defaults.delay = 0.01
    stream = await client.chat.completions.create(
        model="fake-gpt", messages=[user("two ways")], n=2, stream=True,
        stream_options={"include_usage": True},
    )  # fmt: skip
    chunks = [c async for c in stream]
    texts: dict[int, str] = {0: "", 1: ""}
    finishes: dict[int, str] = {}
    for chunk in chunks:
        for choice in chunk.choices:
            texts[choice.index] += choice.delta.content or ""
            if choice.finish_reason:
                finishes[choice.index] = choice.finish_reason
    assert texts == {0: "Echo: two ways", 1: "Echo: two ways"}
    assert finishes == {0: "stop", 1: "stop"}
    assert len({c.id for c in chunks}) == 1
    assert chunks[-1].choices == [] and chunks[-1].usage is not None


async def test_n_counts_against_the_keys_requests_per_minute(
    start_gateway: StartGateway, arena: Arena
) -> None:
    keyed = start_gateway(api_keys=[{"name": "alice", "key": "sk-alice-1", "rpm": 3}])
    async with keyed.worker(arena):
        client = keyed.client(api_key="sk-alice-1")
        two = await client.chat.completions.create(model="fake-gpt", messages=[user("a")], n=2)
        assert len(two.choices) == 2
        with pytest.raises(openai.RateLimitError) as limited:
            await client.chat.completions.create(model="fake-gpt", messages=[user("b")], n=2)
    assert "3 requests per minute" in str(limited.value)
    assert upstream_kinds(arena) == ["create", "create"]


# --- response_format -----------------------------------------------------------------------------

PERSON = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
    "required": ["name", "age"],
}
SCHEMA_FORMAT: Any = {"type": "json_schema", "json_schema": {"name": "person", "schema": PERSON}}


async def test_json_object_is_asked_for_and_taken_out_of_a_fence(
    client: openai.AsyncOpenAI, arena: Arena
) -> None:
    arena.fake.enqueue(Reply(text='Here you go:\n```json\n{"ok": true}\n```'))
    completion = await client.chat.completions.create(
        model="fake-gpt", messages=[user("status?")], response_format={"type": "json_object"}
    )
    assert completion.choices[0].message.content == '{"ok": true}'
    assert sent_texts(arena) == [f"status?\n\n{ASK_OBJECT}"]


async def test_an_answer_not_valid_for_the_schema_gets_one_correction_in_the_same_session(
    client: openai.AsyncOpenAI, arena: Arena
) -> None:
    arena.fake.enqueue(Reply(text='{"name": "Ada"}'), Reply(text='{"name": "Ada", "age": 36}'))
    completion = await client.chat.completions.create(
        model="fake-gpt", messages=[user("who?")], response_format=SCHEMA_FORMAT
    )
    assert json.loads(completion.choices[0].message.content or "") == {"name": "Ada", "age": 36}
    assert upstream_kinds(arena) == ["create", "post"]
    (session,) = arena.fake.sessions.values()
    assert "'age' is a required property" in session.turns[1].user_text
    assert '"required"' in session.turns[0].user_text  # the schema was in the prompt


async def test_no_valid_answer_after_the_correction_is_a_clear_error(
    client: openai.AsyncOpenAI, arena: Arena
) -> None:
    arena.fake.enqueue(Reply(text="I am prose."), Reply(text="Still prose, sorry."))
    with pytest.raises(openai.APIStatusError) as failed:
        await client.chat.completions.create(
            model="fake-gpt", messages=[user("who?")], response_format=SCHEMA_FORMAT
        )
    assert failed.value.status_code == 502
    body: Any = failed.value.body
    assert body["code"] == "invalid_structured_output"
    assert "not JSON" in body["message"] and "person" in body["message"]


async def test_a_streamed_structured_answer_comes_checked_in_one_delta(
    client: openai.AsyncOpenAI, arena: Arena
) -> None:
    arena.fake.enqueue(Reply(text='{"name": "Ada", "age": 36}', chunk_size=3, delay=0.01))
    stream = await client.chat.completions.create(
        model="fake-gpt", messages=[user("who?")], response_format=SCHEMA_FORMAT, stream=True
    )
    chunks = [c async for c in stream]
    contents = [c.choices[0].delta.content for c in chunks
                if c.choices and c.choices[0].delta.content]  # fmt: skip
    assert contents == ['{"name": "Ada", "age": 36}']
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"


async def test_a_streamed_structured_failure_is_an_error_status_when_nothing_was_sent(
    client: openai.AsyncOpenAI, arena: Arena
) -> None:
    arena.fake.enqueue(Reply(text="prose"), Reply(text="prose"))
    with pytest.raises(openai.APIStatusError) as failed:
        await client.chat.completions.create(
            model="fake-gpt", messages=[user("x")], response_format={"type": "json_object"},
            stream=True,
        )  # fmt: skip
    assert failed.value.status_code == 502


# --- histories that do not end with a user message ----------------------------------------------


async def test_a_trailing_instruction_continues_the_session_and_a_prefill_is_continued(
    client: openai.AsyncOpenAI, arena: Arena
) -> None:
    first = await client.chat.completions.create(model="fake-gpt", messages=[user("story")])
    reply = first.choices[0].message.content
    history: Any = [user("story"), {"role": "assistant", "content": reply}]
    nudge = "[Continue your last message without repeating its original content.]"
    more = await client.chat.completions.create(
        model="fake-gpt", messages=[*history, {"role": "system", "content": nudge}]
    )
    assert more.choices[0].message.content == f"Echo: {nudge}"
    arena.fake.enqueue(Reply(text="Once upon a time there was a fox."))
    prefilled = await client.chat.completions.create(
        model="fake-gpt", messages=[user("tell it"), {"role": "assistant", "content": "Once upon"}]
    )
    assert prefilled.choices[0].message.content == " a time there was a fox."  # no repeat
    assert upstream_kinds(arena) == ["create", "post", "create"]
    assert sent_texts(arena)[1] == nudge


async def test_a_prefill_after_the_sessions_reply_goes_to_the_session(
    client: openai.AsyncOpenAI, arena: Arena
) -> None:
    first = await client.chat.completions.create(model="fake-gpt", messages=[user("a")])
    history: Any = [user("a"), {"role": "assistant", "content": first.choices[0].message.content},
                    user("b"), {"role": "assistant", "content": "{"}]  # fmt: skip
    await client.chat.completions.create(model="fake-gpt", messages=history)
    assert upstream_kinds(arena) == ["create", "post"]
    assert sent_texts(arena)[1] == "b\n\n" + CONTINUE_PREFILL.format(text="{")


async def test_a_system_only_request_is_answered(client: openai.AsyncOpenAI, arena: Arena) -> None:
    completion = await client.chat.completions.create(
        model="fake-gpt", messages=[{"role": "system", "content": "Say hi."}]
    )
    assert completion.choices[0].message.content == "Echo: Say hi."


def recorded(name: str) -> list[dict[str, Any]]:
    requests: list[dict[str, Any]] = json.loads((FIXTURES / name).read_text())["requests"]
    return requests


async def test_sillytaverns_recorded_chat_stays_in_one_lmarena_session(
    gateway: RunningGateway, arena: Arena
) -> None:
    """SillyTavern's own bodies (turns 1-3, Continue, Impersonate, a quiet prompt), each
    answered with the reply SillyTavern got when they were recorded."""
    requests = recorded("default_preset.json")
    async with gateway.http() as http:
        for request in requests:
            arena.fake.enqueue(Reply(text=request["reply"], chunk_size=16))
            answer = await http.post("/v1/chat/completions", json=request["body"])
            assert answer.status_code == 200, answer.text
            if not request["body"]["stream"]:
                assert answer.json()["choices"][0]["message"]["content"] == request["reply"]
    assert upstream_kinds(arena) == ["create", "post", "post", "post", "post", "create"]
    rows = await logged(gateway, count=len(requests))
    assert [row["conversation"] for row in reversed(rows)] == [
        "folded", "continued", "continued", "continued", "continued", "folded",
    ]  # fmt: skip


async def test_strict_continuity_folds_when_sillytaverns_lore_changes(
    start_gateway: StartGateway, arena: Arena
) -> None:
    gateway = start_gateway(conversation_continuity="strict")
    async with gateway.worker(arena), gateway.http() as http:
        for request in recorded("authors_note_lorebook.json"):
            arena.fake.enqueue(Reply(text=request["reply"]))
            answer = await http.post("/v1/chat/completions", json=request["body"])
            assert answer.status_code == 200, answer.text
    assert upstream_kinds(arena) == ["create"] * 4


# --- the request log -----------------------------------------------------------------------------


async def test_the_request_log_says_what_became_of_the_lmarena_session(
    gateway: RunningGateway, client: openai.AsyncOpenAI
) -> None:
    one = await client.chat.completions.create(model="fake-gpt", messages=[user("one")])
    await client.chat.completions.create(model="fake-gpt", messages=[user("one")])  # again
    again = await client.chat.completions.create(model="fake-gpt", messages=[user("one")])
    history: Any = [user("one"), {"role": "assistant", "content": again.choices[0].message.content},
                    user("two")]  # fmt: skip
    await client.chat.completions.create(model="fake-gpt", messages=history)
    await client.chat.completions.create(
        model="fake-gpt", messages=[user("x"), {"role": "assistant", "content": "y"}, user("z")]
    )
    assert one.choices[0].message.content == "Echo: one"
    rows = await logged(gateway, count=5)
    assert [(r["call"], r["conversation"]) for r in reversed(rows)] == [
        ("create", "new"),
        ("regenerate", "regenerated"),
        ("regenerate", "regenerated"),
        ("create", "continued"),
        ("create", "folded"),
    ]


# --- the other OpenAI routes ---------------------------------------------------------------------


async def test_models_retrieve_finds_a_model_and_404s_another(client: openai.AsyncOpenAI) -> None:
    model = await client.models.retrieve("fake-gpt")
    assert (model.id, model.object) == ("fake-gpt", "model")
    with pytest.raises(openai.NotFoundError) as missing:
        await client.models.retrieve("fake-gtp")
    body: Any = missing.value.body
    assert body["code"] == "model_not_found"


async def test_legacy_completions_stream_and_not(client: openai.AsyncOpenAI, arena: Arena) -> None:
    completion = await client.completions.create(model="fake-gpt", prompt="Say this", echo=True)
    assert completion.object == "text_completion"
    assert completion.choices[0].text == "Say thisEcho: Say this"
    assert completion.choices[0].finish_reason == "stop"
    stream = await client.completions.create(
        model="fake-gpt", prompt="streamed", stream=True, stop=["am"]
    )
    chunks = [c async for c in stream]
    assert "".join(c.choices[0].text for c in chunks if c.choices) == "Echo: stre"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert sent_texts(arena) == ["Say this", "streamed"]


async def test_embeddings_say_lmarena_has_none(client: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.APIStatusError) as refused:
        await client.embeddings.create(model="fake-gpt", input="hello")
    assert refused.value.status_code == 501
    body: Any = refused.value.body
    assert "no embedding models" in body["message"]


async def test_parameters_lmarena_cannot_honour_are_accepted_and_counted(
    gateway: RunningGateway, client: openai.AsyncOpenAI
) -> None:
    completion = await client.chat.completions.create(
        model="fake-gpt", messages=[user("hi")], temperature=0.2, top_p=0.9, seed=7,
        presence_penalty=0.5, frequency_penalty=0.5, logit_bias={"50256": -100},
        extra_body={"top_k": 40, "some_vendor_field": True},
    )  # fmt: skip
    assert completion.choices[0].message.content == "Echo: hi"
    async with gateway.http() as http:
        metrics = (await http.get("/metrics")).text
    for name in ("temperature", "top_p", "seed", "presence_penalty", "frequency_penalty",
                 "logit_bias", "top_k", "other"):  # fmt: skip
        assert f'lmarenarev_ignored_parameters_total{{parameter="{name}"}} 1.0' in metrics


async def test_a_cut_reply_frees_the_tabs_slot_at_once(
    gateway: RunningGateway, client: openai.AsyncOpenAI, arena: Arena, worker: FakeWorker
) -> None:
    arena.fake.enqueue(Reply(text=LONG, chunk_size=4, delay=0.05))  # ~3 s to send it all
    started = time.monotonic()
    await client.chat.completions.create(model="fake-gpt", messages=[user("x")], max_tokens=2)
    await wait_until_async(lambda: not gateway.gateway.pool.jobs, 5, "the job to end")
    await arena.fake.wait_for_async(lambda: arena.fake.disconnected_streams == 1)
    assert time.monotonic() - started < 2.5  # not after LMArena finished its reply
