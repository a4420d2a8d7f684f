"""`response_format` json_object / json_schema, emulated: LMArena has no structured output, so
the gateway asks for JSON in the prompt, takes the JSON out of the answer and checks it (the
schema with `jsonschema`); what is wrong goes back to the model as a correction
(structured.py runs the turns). Pure. The wordings are documented in the README
("Structured output"); change them together.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Literal

import jsonschema
from jsonschema.exceptions import SchemaError, best_match

from ..errors import InvalidRequest
from ..messages import strip_reasoning
from ..openai_schema import ResponseFormat

ASK_OBJECT = (
    "[Answer with one JSON object and nothing else: no text before or after it, no Markdown "
    "code fence.]"
)
ASK_SCHEMA = (
    "[Answer with one JSON object that is valid against the JSON Schema below, and nothing "
    "else: no text before or after it, no Markdown code fence.]\n\nJSON Schema ({name}):\n{schema}"
)
CORRECTION = (
    "[Your answer was not usable: {problem}. Answer again with only the JSON object{against}, "
    "nothing else.]"
)
_FENCE = re.compile(r"```[a-zA-Z0-9_-]*\s*\n?(.*?)```", re.DOTALL)
_SNIPPET = 200


class NotValid(ValueError):
    """What is wrong with an answer, in words the model (and the client) can act on."""


@dataclass(frozen=True, slots=True)
class OutputFormat:
    kind: Literal["json_object", "json_schema"]
    name: str = "response"
    schema: dict[str, Any] | None = None

    def instruction(self) -> str:
        if self.schema is None:
            return ASK_OBJECT
        schema = json.dumps(self.schema, ensure_ascii=False, indent=2)
        return ASK_SCHEMA.format(name=self.name, schema=schema)

    def correction(self, problem: str) -> str:
        against = "" if self.schema is None else " valid against the JSON Schema"
        return CORRECTION.format(problem=problem, against=against)

    def check(self, answer: str) -> str:
        """The JSON text in `answer` (as the model wrote it); NotValid says what is wrong."""
        text, value = extract(answer)
        if not isinstance(value, dict) and (self.schema is None or _wants_object(self.schema)):
            raise NotValid(f"the JSON is a {type(value).__name__}, not an object")
        if self.schema is not None:
            validator = jsonschema.validators.validator_for(self.schema)(self.schema)
            error = best_match(validator.iter_errors(value))
            if error is not None:
                where = "/".join(str(part) for part in error.absolute_path) or "the top level"
                raise NotValid(f"at {where}: {error.message}")
        return text


def _wants_object(schema: dict[str, Any]) -> bool:
    kind = schema.get("type")
    return kind is None or kind == "object" or (isinstance(kind, list) and "object" in kind)


def extract(answer: str) -> tuple[str, Any]:
    """The first JSON value in the answer: the whole answer, else a fenced block, else from
    the first `{` or `[` on (prose around it is dropped)."""
    text = strip_reasoning(answer).strip()
    candidates = [text, *(m.group(1).strip() for m in _FENCE.finditer(text))]
    for candidate in candidates:
        try:
            return candidate, json.loads(candidate)
        except ValueError:
            continue
    decoder = json.JSONDecoder()
    for start, char in enumerate(text):
        if char in "{[":
            try:
                value, end = decoder.raw_decode(text, start)
            except ValueError:
                continue
            return text[start:end], value
    snippet = " ".join(text.split())[:_SNIPPET]
    raise NotValid(f"it is not JSON (it began: {snippet!r})" if snippet else "it was empty")


def output_format(requested: ResponseFormat | None) -> OutputFormat | None:
    """What the client asked for; None for text. A json_schema without a usable schema is the
    client's mistake (400), said before anything is sent."""
    if requested is None or requested.type == "text":
        return None
    if requested.type == "json_object":
        return OutputFormat("json_object")
    spec = requested.json_schema
    if spec is None or not isinstance(spec.schema_, dict):
        raise InvalidRequest(
            "response_format json_schema needs json_schema.schema (a JSON Schema object)",
            param="response_format",
        )
    try:
        jsonschema.validators.validator_for(spec.schema_).check_schema(spec.schema_)
    except SchemaError as exc:
        raise InvalidRequest(
            f"response_format.json_schema.schema is not a valid JSON Schema: {exc.message}",
            param="response_format",
        ) from None
    return OutputFormat("json_schema", spec.name, spec.schema_)
