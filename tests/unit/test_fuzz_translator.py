"""Fuzzing the request translator and the stream parser with random input (issue 7, point 7).

Translator: any JSON-shaped request either fails validation (pydantic, → 400), fails with a
`GatewayError` (→ its status), or becomes an upstream request that respects every limit and
whose size is bounded by the size of the input. Stream parser: records with a known prefix and
any JSON value never raise and give at most one event per record.

`FUZZ_EXAMPLES` (default 200) sets the number of examples per test; docs/security.md records
the runs.
"""

from __future__ import annotations

import base64
import json
import os
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from lmarenarev.arena.requests import CreateCall, LegacyCall
from lmarenarev.arena.stream import StreamParser
from lmarenarev.chat.conversation import ConversationStore
from lmarenarev.chat.plan import ChatService
from lmarenarev.config.settings import Settings
from lmarenarev.errors import GatewayError
from lmarenarev.models.files import ModelEntry
from lmarenarev.openai_schema import ChatCompletionRequest

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "200"))
pytestmark = pytest.mark.timeout(max(120, EXAMPLES // 4))  # a long run: ≈ 2.5 min at 2000
fuzz = settings(
    max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None
)

MODELS = {
    e.name: e
    for e in (
        ModelEntry("gpt", "id-gpt", "text"),
        ModelEntry("painter", "id-paint", "image"),
        ModelEntry("no-id", None, "text"),
    )
}
LIMITS = {"max_messages": 40, "max_attachment_bytes": 1500, "max_prompt_chars": 600}

_text = st.text(max_size=300) | st.integers(0, 3000).map(lambda n: "é" * n)
_json_scalar = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | _text
_json = st.recursive(
    _json_scalar,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
_bytes = st.binary(max_size=300) | st.integers(0, 3000).map(bytes)
_b64 = _bytes.map(lambda b: base64.b64encode(b).decode())
_url = st.one_of(
    _b64.map(lambda d: f"data:image/png;base64,{d}"),
    st.text(max_size=60).map(lambda t: f"data:{t}"),
    st.text(max_size=60).map(lambda t: f"https://example.com/{t}"),
    _text,
)
_part = st.one_of(
    st.fixed_dictionaries({"type": st.just("text"), "text": _text}),
    st.fixed_dictionaries({"type": st.just("text"), "text": _text | _json}),
    st.fixed_dictionaries(
        {"type": st.just("image_url"), "image_url": st.fixed_dictionaries({"url": _url}) | _url}
    ),
    st.fixed_dictionaries(
        {"type": st.just("file"), "file": st.fixed_dictionaries({"file_data": _b64 | _url})}
    ),
    st.fixed_dictionaries(
        {"type": st.just("input_audio"), "input_audio": st.fixed_dictionaries({"data": _b64})}
    ),
    st.dictionaries(st.sampled_from(["type", "text", "image_url"]), _json, max_size=3),
)
_valid_role = st.sampled_from(["system", "developer", "user", "assistant", "tool", "function"])
_content = st.one_of(_text, st.lists(_part, max_size=4), st.none())
_message = st.fixed_dictionaries({"role": _valid_role, "content": _content})
_last = st.fixed_dictionaries({"role": st.just("user"), "content": _content})
_messages = st.one_of(
    st.tuples(st.lists(_message, max_size=49), _last).map(lambda ms: [*ms[0], ms[1]]),
    st.lists(_message, min_size=1, max_size=50),
)
_odd_message = st.fixed_dictionaries({"role": _valid_role | _text, "content": _json})
_model = st.sampled_from([*MODELS, "gpt", "unknown"])
_valid = st.fixed_dictionaries(
    {"model": _model, "messages": _messages},
    optional={"stream": st.booleans(), "temperature": _json},
)
_anything = st.fixed_dictionaries(
    {"model": _model | _json, "messages": st.lists(_odd_message, max_size=5) | _json},
    optional={"stream": _json},
)
_request = st.integers(0, 9).flatmap(lambda n: _anything if n == 0 else _valid)
_shaping = st.fixed_dictionaries(
    {
        "arena_flow": st.sampled_from(["modern", "legacy"]),
        "tavern_mode_enabled": st.booleans(),
        "bypass_enabled": st.booleans(),
        "strip_reasoning_from_history": st.booleans(),
    }
)


def _service(shaping: dict[str, Any]) -> ChatService:
    settings_ = Settings.model_validate({**shaping, **LIMITS, "session_id": "s", "message_id": "m"})
    return ChatService(settings_, MODELS, {}, ConversationStore(10), lambda pool: pool[0])


@fuzz
@given(_request, _shaping)
def test_any_request_is_translated_within_the_limits_or_refused_cleanly(
    payload: dict[str, Any], shaping: dict[str, Any]
) -> None:
    try:
        request = ChatCompletionRequest.model_validate(payload)
    except ValidationError:
        event("refused by the schema (400)")
        return
    try:
        call = _service(shaping).plan(request).call
    except GatewayError as exc:
        event(f"refused: {exc.status} {exc.code}")
        assert 400 <= exc.status < 500
        return
    event(f"translated: {type(call).__name__}")
    upstream = call.build()
    body = upstream.body_text()
    size = len(json.dumps(payload, ensure_ascii=False))
    assert len(body) <= 2 * size + 700 * (len(request.messages) + 2)
    if isinstance(call, CreateCall):
        assert len(call.prompt) <= LIMITS["max_prompt_chars"]
        assert sum(a.size for a in call.attachments) <= LIMITS["max_attachment_bytes"]
    if isinstance(call, LegacyCall):
        assert sum(len(m.text) for m in call.messages) <= LIMITS["max_prompt_chars"]
    assert len(request.messages) <= LIMITS["max_messages"]


_prefix = st.sampled_from(["a0:", "b0:", "ag:", "a2:", "ac:", "ad:", "bd:", "a3:", "af:", "zz:"])
_record = st.tuples(_prefix, _json.map(lambda v: json.dumps(v)))


@fuzz
@given(st.lists(_record, max_size=30), st.lists(st.integers(0, 5000), max_size=6))
def test_records_with_any_json_value_never_crash_the_parser(
    records: list[tuple[str, str]], cuts: list[int]
) -> None:
    text = "".join(prefix + value + "\n" for prefix, value in records)
    parser = StreamParser()
    events = []
    start = 0
    for cut in sorted(c for c in cuts if c <= len(text)):
        events += parser.feed(text[start:cut])
        start = cut
    events += parser.feed(text[start:])
    events += parser.close()
    assert len(events) <= len(records)
