"""Renderers for what issue 21 added: a choice's index, one of n streamed choices (no [DONE]
of its own), a checked structured answer as a stream, the legacy `text_completion`, and n
completions merged into one answer."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from lmarenarev.arena.events import Finish, ReasoningDelta, TextDelta, Usage
from lmarenarev.chat.choices import merge
from lmarenarev.openai_schema import ChatCompletionRequest, CompletionRequest
from lmarenarev.render.common import RenderOptions
from lmarenarev.render.json import JSONRenderer
from lmarenarev.render.sse import SSERenderer
from lmarenarev.render.text import TextJSON, TextSSE

OPTIONS = RenderOptions(
    model="m",
    completion_id="chatcmpl-1",
    created=1,
    reasoning="openai",
    preserve_streaming=True,
    include_usage=True,
)


def frames(data: bytes) -> list[Any]:
    out: list[Any] = []
    for frame in data.decode().split("\n\n")[:-1]:
        payload = frame.removeprefix("data: ")
        out.append(payload if payload == "[DONE]" else json.loads(payload))
    return out


def test_one_of_n_streamed_choices_carries_its_index_and_leaves_the_end_to_the_caller() -> None:
    renderer = SSERenderer(replace(OPTIONS, choice_index=2, closes_stream=False))
    data = renderer.feed_all([TextDelta("hi"), Finish("stop", Usage(1, 2))]) + renderer.finish()
    sent = frames(data)
    assert [f["choices"][0]["index"] for f in sent] == [2, 2]
    assert "[DONE]" not in sent and renderer.finished and renderer.usage == Usage(1, 2)
    assert frames(renderer.end_frames(Usage(3, 4)).encode())[-2:] == [
        {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "m",
         "choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}},
        "[DONE]",
    ]  # fmt: skip
    failing = SSERenderer(replace(OPTIONS, closes_stream=False))
    assert frames(failing.error("boom", "api_error", None)) == [
        {"error": {"message": "boom", "type": "api_error", "code": None}}
    ]
    assert failing.failed and not failing.finished


def test_a_checked_answer_streams_as_one_delta_per_choice() -> None:
    completion = {
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "{}"},
             "finish_reason": "stop"},
            {"index": 1, "message": {"role": "assistant", "content": "[]",
                                     "reasoning_content": "hm"}, "finish_reason": "length"},
        ],
        "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3},
    }  # fmt: skip
    sent = frames(SSERenderer(OPTIONS).completion_frames(completion))
    deltas = [(f["choices"][0]["index"], f["choices"][0]["delta"], f["choices"][0]["finish_reason"])
              for f in sent if isinstance(f, dict) and f["choices"]]  # fmt: skip
    assert deltas == [
        (0, {"role": "assistant", "content": "{}"}, None),
        (0, {}, "stop"),
        (1, {"role": "assistant", "content": "[]", "reasoning_content": "hm"}, None),
        (1, {}, "length"),
    ]
    assert sent[-2]["usage"]["total_tokens"] == 3 and sent[-1] == "[DONE]"


def test_n_answers_merge_into_one_with_summed_usage() -> None:
    answers = []
    for index, text in enumerate(("a", "b")):
        renderer = JSONRenderer(replace(OPTIONS, choice_index=index))
        renderer.feed(TextDelta(text))
        renderer.feed(Finish("stop", Usage(5, index + 1)))
        answers.append(renderer.result())
    merged = merge(answers)
    choices = [(c["index"], c["message"]["content"]) for c in merged["choices"]]
    assert choices == [(0, "a"), (1, "b")]
    assert merged["usage"] == {"prompt_tokens": 10, "completion_tokens": 3, "total_tokens": 13}
    del answers[1]["usage"]
    assert "usage" not in merge(answers)  # never a partial sum


def test_a_text_completion_has_text_not_messages_and_no_reasoning_field() -> None:
    options = replace(OPTIONS, completion_id="cmpl-1")
    renderer = TextJSON(options, echo="Say: ")
    for event in (ReasoningDelta("hm"), TextDelta("hi"), Finish("stop", Usage(1, 1))):
        renderer.feed(event)
    assert renderer.result() == {
        "id": "cmpl-1", "object": "text_completion", "created": 1, "model": "m",
        "choices": [{"text": "Say: hi", "index": 0, "logprobs": None, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }  # fmt: skip
    stream = TextSSE(options)
    sent = frames(stream.feed_all([TextDelta("h"), TextDelta("i"), Finish("length")])
                  + stream.finish())  # fmt: skip
    texts = [(f["choices"][0]["text"], f["choices"][0]["finish_reason"])
             for f in sent if isinstance(f, dict) and f["choices"]]  # fmt: skip
    assert texts == [("h", None), ("i", None), ("", "length")]
    assert sent[-2]["choices"] == [] and sent[-2]["usage"] is None and sent[-1] == "[DONE]"


def test_the_request_says_its_stop_budget_and_ignored_parameters() -> None:
    request = ChatCompletionRequest.model_validate({
        "model": "m", "messages": [{"role": "user", "content": "x"}], "stop": "END",
        "max_tokens": 50, "max_completion_tokens": 20, "temperature": 0.3, "seed": None,
        "my_field": 1,
    })  # fmt: skip
    assert request.stop_sequences() == ("END",)
    assert request.token_limit() == 20
    assert request.ignored_parameters() == ["temperature", "other"]  # a null is not sent
    legacy = CompletionRequest.model_validate({"model": "m", "prompt": ["p"], "suffix": "s"})
    chat = legacy.as_chat()
    assert chat.messages[0].content == "p" and chat.ignored_parameters() == ["other"]
