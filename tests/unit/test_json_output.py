"""response_format, emulated (chat/json_output.py): what LMArena is asked, how the JSON is taken
out of an answer, what a correction says, and which formats a client may not send."""

from __future__ import annotations

from typing import Any

import pytest

from lmarenarev.chat.json_output import (
    ASK_OBJECT,
    NotValid,
    OutputFormat,
    extract,
    output_format,
)
from lmarenarev.errors import InvalidRequest
from lmarenarev.openai_schema import ResponseFormat

PERSON = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "tags": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["name"],
}


def fmt(spec: dict[str, Any]) -> OutputFormat | None:
    return output_format(ResponseFormat.model_validate(spec))


@pytest.mark.parametrize(
    ("answer", "json_text"),
    [
        ('{"a": 1}', '{"a": 1}'),
        ('  \n{"a": 1}\n', '{"a": 1}'),
        ('```json\n{"a": 1}\n```', '{"a": 1}'),
        ('```\n{"a": [1, 2]}\n```', '{"a": [1, 2]}'),
        ('Sure! Here it is:\n```json\n{"a": 1}\n```\nAnything else?', '{"a": 1}'),
        ('The answer is {"a": {"b": "}"}} as asked.', '{"a": {"b": "}"}}'),
        ('<think>{"draft": 0}</think>\n\n{"a": 1}', '{"a": 1}'),
        ("[1, 2]", "[1, 2]"),
    ],
)
def test_the_json_is_taken_out_of_the_answer(answer: str, json_text: str) -> None:
    assert extract(answer)[0] == json_text


@pytest.mark.parametrize("answer", ["", "no json here", "{broken: json", "```json\n{'a': 1}\n```"])
def test_an_answer_without_json_says_how_it_began(answer: str) -> None:
    with pytest.raises(NotValid, match=r"not JSON|empty"):
        extract(answer)


def test_json_object_wants_an_object() -> None:
    json_object = fmt({"type": "json_object"})
    assert json_object is not None and json_object.instruction() == ASK_OBJECT
    assert json_object.check('ok: {"a": 1}') == '{"a": 1}'
    with pytest.raises(NotValid, match="list, not an object"):
        json_object.check("[1, 2]")


def test_json_schema_validates_and_says_where_it_failed() -> None:
    person = fmt({"type": "json_schema", "json_schema": {"name": "person", "schema": PERSON}})
    assert person is not None
    assert "JSON Schema (person)" in person.instruction()
    assert '"required": [\n    "name"\n  ]' in person.instruction()
    assert person.check('{"name": "Ada", "tags": ["x"]}') == '{"name": "Ada", "tags": ["x"]}'
    with pytest.raises(NotValid, match="at the top level: 'name' is a required property"):
        person.check('{"tags": []}')
    with pytest.raises(NotValid, match="at tags/0: 3 is not of type 'string'"):
        person.check('{"name": "Ada", "tags": [3]}')
    correction = person.correction("at tags/0: 3 is not of type 'string'")
    assert "3 is not of type 'string'" in correction
    assert "valid against the JSON Schema" in correction


def test_a_schema_for_an_array_accepts_an_array() -> None:
    listing = fmt({"type": "json_schema", "json_schema": {"schema": {"type": "array"}}})
    assert listing is not None and listing.check("[1]") == "[1]"


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ({"type": "json_schema"}, "needs json_schema.schema"),
        ({"type": "json_schema", "json_schema": {"name": "x"}}, "needs json_schema.schema"),
        (
            {"type": "json_schema", "json_schema": {"schema": {"type": 5}}},
            "not a valid JSON Schema",
        ),
    ],
)
def test_a_json_schema_format_without_a_usable_schema_is_the_clients_400(
    spec: dict[str, Any], fragment: str
) -> None:
    with pytest.raises(InvalidRequest, match=fragment) as caught:
        fmt(spec)
    assert caught.value.param == "response_format"


def test_text_is_the_default() -> None:
    assert output_format(None) is None
    assert fmt({"type": "text"}) is None
