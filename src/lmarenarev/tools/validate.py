"""A call checked against the request: a known tool, the one the choice names, and arguments
that fit the tool's JSON Schema (checked with `jsonschema`, the schema's own draft)."""

from __future__ import annotations

from typing import Any

from jsonschema.exceptions import SchemaError, best_match
from jsonschema.validators import validator_for

from .spec import Tool, ToolSet


def call_problem(tools: ToolSet, name: str, arguments: dict[str, Any]) -> str | None:
    """What is wrong with calling `name` with `arguments`, or None."""
    tool = tools.find(name)
    if tool is None:
        known = ", ".join(repr(t.name) for t in tools.tools)
        return f"there is no tool {name!r} (the tools are {known})"
    named = tools.choice.name
    if tools.choice.mode == "tool" and name != named:
        return f"this answer must call {named!r}, not {name!r}"
    return schema_problem(tool, arguments)


def schema_problem(tool: Tool, arguments: dict[str, Any]) -> str | None:
    schema = tool.parameters
    if not schema:
        return None
    validator = validator_for(schema)
    try:
        validator.check_schema(schema)
    except SchemaError:  # the client's schema is not a valid one: nothing to check against
        return None
    error = best_match(validator(schema).iter_errors(arguments))
    if error is None:
        return None
    where = "/".join(str(part) for part in error.absolute_path)
    at = f" at {where}" if where else ""
    return f"the arguments of {tool.name!r} do not fit its schema{at}: {error.message}"
