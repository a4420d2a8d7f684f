"""The renderers with tool calls: OpenAI's chat completion (chunks and JSON), Anthropic's
Messages API and OpenAI's Responses API, each streamed and whole, and a botched reply's one
corrective turn (render/common.py)."""

from __future__ import annotations

import json
from typing import Any

from lmarenarev.arena.events import Event, Finish, ReasoningDelta, TextDelta, Usage
from lmarenarev.errors import NoWorker
from lmarenarev.render.anthropic import AnthropicJSON, AnthropicSSE
from lmarenarev.render.common import RenderOptions
from lmarenarev.render.json import JSONRenderer
from lmarenarev.render.responses import Echo, ResponsesJSON, ResponsesSSE
from lmarenarev.render.sse import SSERenderer
from lmarenarev.tools.spec import Tool, ToolSet

TOOLS = ToolSet((Tool("get_weather", "", {"type": "object", "required": ["city"]}),))
OPTIONS = RenderOptions(model="m", completion_id="id-1", created=1, reasoning="openai",
                        preserve_streaming=True, include_usage=False, tools=TOOLS)
CALL = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'
BOTCHED = '<tool_call>\n{"name": "get_weather", "arguments": {}}\n</tool_call>'
USAGE = Usage(10, 5)


def reply(text: str, size: int = 4, reasoning: str = "") -> list[Event]:
    events: list[Event] = [ReasoningDelta(reasoning)] if reasoning else []
    events += [TextDelta(text[i : i + size]) for i in range(0, len(text), size)]
    return [*events, Finish("stop", USAGE)]


def sse(data: bytes) -> list[tuple[str | None, Any]]:
    """(event name, JSON payload) of each SSE frame; comments are left out."""
    frames = []
    for frame in data.decode().split("\n\n")[:-1]:
        lines = dict(line.split(": ", 1) for line in frame.split("\n") if not line.startswith(":"))
        if "data" in lines:
            data_ = lines["data"]
            frames.append((lines.get("event"), data_ if data_ == "[DONE]" else json.loads(data_)))
    return frames


def test_chat_chunks_carry_the_text_then_the_calls() -> None:
    renderer = SSERenderer(OPTIONS)
    data = renderer.feed_all(reply(f"Let me look.\n{CALL}\n(imagined result)")) + renderer.finish()
    chunks = [payload for _, payload in sse(data) if payload != "[DONE]"]
    deltas = [chunk["choices"][0]["delta"] for chunk in chunks]
    text = "".join(delta.get("content") or "" for delta in deltas)
    assert text == "Let me look.\n"
    (calls,) = [delta["tool_calls"] for delta in deltas if "tool_calls" in delta]
    assert calls[0]["index"] == 0 and calls[0]["id"].startswith("call_")
    assert calls[0]["function"] == {"name": "get_weather", "arguments": '{"city": "Paris"}'}
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"
    assert renderer.content() == f"Let me look.\n\n{CALL}"  # what the store remembers


def test_a_whole_chat_answer_of_calls_only_has_null_content() -> None:
    renderer = JSONRenderer(OPTIONS)
    for event in reply(CALL):
        renderer.feed(event)
    message = renderer.result()["choices"][0]["message"]
    assert message["content"] is None and len(message["tool_calls"]) == 1
    assert renderer.result()["choices"][0]["finish_reason"] == "tool_calls"


def test_a_botched_reply_asks_for_one_correction_then_takes_its_calls() -> None:
    renderer = JSONRenderer(OPTIONS)
    for event in reply(f"Sure.\n{BOTCHED}"):
        renderer.feed(event)
    correction = renderer.reply_end(may_correct=True)
    assert correction is not None and "'city' is a required property" in correction.message
    assert correction.reply == f"Sure.\n{BOTCHED}"
    renderer.begin_correction()
    for event in reply(f"Here it is again:\n{CALL}"):
        renderer.feed(event)
    assert renderer.reply_end(may_correct=False) is None
    message = renderer.result()["choices"][0]["message"]
    assert message["content"] == "Sure.\n" and len(message["tool_calls"]) == 1
    assert renderer.usage == Usage(20, 10)  # both turns' tokens


def test_a_reply_botched_twice_goes_out_as_written() -> None:
    renderer = SSERenderer(OPTIONS)
    data = renderer.feed_all(reply(f"Sure.\n{BOTCHED}"))
    assert renderer.reply_end(may_correct=True) is not None
    renderer.begin_correction()
    data += renderer.feed_all(reply(BOTCHED)) + renderer.finish()
    assert renderer.content() == f"Sure.\n{BOTCHED}"
    chunks = [payload for _, payload in sse(data) if payload != "[DONE]"]
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


def test_anthropic_stream_event_sequence() -> None:
    renderer = AnthropicSSE(OPTIONS)
    data = renderer.feed_all(reply(f"Ok.\n{CALL}", reasoning="thinking it over")) + \
        renderer.finish()
    frames = sse(data)
    assert all(name == payload["type"] for name, payload in frames)
    kinds = [name for name, _ in frames]
    assert kinds == [
        "message_start", "ping",
        "content_block_start", "content_block_delta", "content_block_stop",  # thinking
        "content_block_start", "content_block_delta", "content_block_stop",  # "Ok.\n"
        "content_block_start", "content_block_delta", "content_block_stop",  # tool_use
        "message_delta", "message_stop",
    ]
    payloads = [payload for _, payload in frames]
    assert payloads[3]["delta"] == {"type": "thinking_delta", "thinking": "thinking it over"}
    assert payloads[6]["delta"] == {"type": "text_delta", "text": "Ok.\n"}
    use = payloads[8]["content_block"]
    assert use["type"] == "tool_use" and use["name"] == "get_weather" and use["input"] == {}
    assert payloads[9]["delta"] == {"type": "input_json_delta", "partial_json": '{"city": "Paris"}'}
    assert [p["index"] for p in payloads[2:11]] == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    assert payloads[11]["delta"]["stop_reason"] == "tool_use"
    assert payloads[11]["usage"] == {"input_tokens": 10, "output_tokens": 5}


def test_anthropic_message_blocks_and_stop_reasons() -> None:
    renderer = AnthropicJSON(OPTIONS)
    for event in [*reply("Just text.", reasoning="hm")[:-1], Finish("length", USAGE)]:
        renderer.feed(event)
    answer = renderer.result()
    assert answer["content"] == [{"type": "thinking", "thinking": "hm", "signature": ""},
                                 {"type": "text", "text": "Just text."}]
    assert answer["stop_reason"] == "max_tokens" and answer["type"] == "message"


def test_anthropic_stream_failure_and_keepalive() -> None:
    renderer = AnthropicSSE(OPTIONS)
    renderer.feed_all([TextDelta("partial")])
    (_, error), = sse(renderer.fail(NoWorker("no tab")))
    assert error == {"type": "error", "error": {"type": "overloaded_error", "message": "no tab"}}
    assert sse(renderer.keepalive()) == [("ping", {"type": "ping"})]


def test_responses_stream_events() -> None:
    renderer = ResponsesSSE(OPTIONS, Echo({"store": True}))
    data = renderer.feed_all(reply(f"Ok.\n{CALL}", reasoning="think")) + renderer.finish()
    frames = sse(data)
    assert [p["sequence_number"] for _, p in frames] == list(range(len(frames)))
    kinds = [name for name, _ in frames]
    assert kinds == [
        "response.created", "response.in_progress",
        "response.output_item.added", "response.reasoning_summary_part.added",
        "response.reasoning_summary_text.delta", "response.reasoning_summary_text.done",
        "response.reasoning_summary_part.done", "response.output_item.done",
        "response.output_item.added", "response.content_part.added",
        "response.output_text.delta", "response.output_text.done",
        "response.content_part.done", "response.output_item.done",
        "response.output_item.added", "response.function_call_arguments.delta",
        "response.function_call_arguments.done", "response.output_item.done",
        "response.completed",
    ]
    final = frames[-1][1]["response"]
    assert final["status"] == "completed" and final["store"] is True
    assert [item["type"] for item in final["output"]] == ["reasoning", "message", "function_call"]
    assert [item["output_index"] for _, item in frames if "output_index" in item][-1] == 2
    assert final["output"][2]["arguments"] == '{"city": "Paris"}'
    assert final["usage"]["total_tokens"] == 15


def test_a_whole_response_and_a_failed_stream() -> None:
    renderer = ResponsesJSON(OPTIONS, Echo())
    for event in [*reply("Plain.")[:-1], Finish("length", None)]:
        renderer.feed(event)
    answer = renderer.result()
    assert answer["status"] == "incomplete" and answer["usage"] is None
    assert answer["output"][0]["content"][0]["text"] == "Plain."
    failing = ResponsesSSE(OPTIONS, Echo())
    failing.feed_all([TextDelta("x")])
    (name, payload), = sse(failing.fail(NoWorker("no tab")))[-1:]
    assert name == "response.failed" and payload["response"]["status"] == "failed"
    assert payload["response"]["error"] == {"code": "no_worker", "message": "no tab"}
