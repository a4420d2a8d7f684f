"""What a request offers the model: its tools, the choice it leaves, parallel calls or not."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

ChoiceMode = Literal["auto", "none", "required", "tool"]


@dataclass(frozen=True, slots=True)
class Tool:
    name: str
    description: str = ""
    parameters: dict[str, Any] = field(default_factory=dict)  # a JSON Schema ({} takes anything)


@dataclass(frozen=True, slots=True)
class ToolChoice:
    """`auto` (the model decides), `none` (no call now), `required` (at least one call), or
    `tool` (a call of the tool `name`)."""

    mode: ChoiceMode = "auto"
    name: str | None = None


@dataclass(frozen=True, slots=True)
class ToolSet:
    tools: tuple[Tool, ...]
    choice: ToolChoice = ToolChoice()
    parallel: bool = True

    def find(self, name: str) -> Tool | None:
        return next((tool for tool in self.tools if tool.name == name), None)

    @property
    def calling(self) -> bool:
        """Whether a reply may hold calls (there are tools, and the choice allows one)."""
        return bool(self.tools) and self.choice.mode != "none"
