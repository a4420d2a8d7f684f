"""What both renderers share: options, finish-reason mapping, and how events become content.

`Assembler` decides what the assistant says (text, images, `<think>` blocks, sources, held or live
reasoning); the SSE and JSON renderers only decide how it is packaged. Because they share this
one implementation, a streamed reply joins up to exactly the non-streamed one.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Literal

from lmarenarev.arena.events import (
    Citation,
    Event,
    Finish,
    ImageOut,
    ReasoningDelta,
    TextDelta,
    Usage,
)

ReasoningMode = Literal["openai", "think_tag", "off"]

_FINISH_REASONS = {
    "stop": "stop",
    "length": "length",
    "content-filter": "content_filter",
    "content_filter": "content_filter",
    "tool-calls": "tool_calls",
}

# Percent-encode what would end or break a markdown link destination.
_URL_ESCAPES = str.maketrans(
    {" ": "%20", "(": "%28", ")": "%29", "<": "%3C", ">": "%3E", "\n": "%0A", "\r": "%0D"}
)
_TITLE_ESCAPES = str.maketrans({"\\": "\\\\", "[": "\\[", "]": "\\]", "\n": " ", "\r": " "})


@dataclass(frozen=True, slots=True)
class RenderOptions:
    model: str
    completion_id: str
    created: int
    reasoning: ReasoningMode
    preserve_streaming: bool
    include_usage: bool
    side: str = "a"
    choice_index: int = 0  # of n choices
    closes_stream: bool = True  # False: one of n streamed choices, the caller ends the stream


def map_finish_reason(reason: str) -> str:
    """LMArena's finish reason → OpenAI's; unknown values (e.g. "unknown", "error") → "stop"."""
    return _FINISH_REASONS.get(reason, "stop")


def usage_dict(usage: Usage) -> dict[str, int]:
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
    }


def markdown_url(url: str) -> str:
    return url.translate(_URL_ESCAPES)


def markdown_title(title: str) -> str:
    return title.translate(_TITLE_ESCAPES)


def image_markdown(url: str) -> str:
    return f"![image]({markdown_url(url)})"


def sources_markdown(citations: dict[str, str]) -> str:
    lines = [
        f"{number}. [{markdown_title(title)}]({markdown_url(url)})"
        for number, (url, title) in enumerate(citations.items(), start=1)
    ]
    return "**Sources:**\n" + "\n".join(lines)


def well_formed(text: str) -> str:
    """`text` as valid Unicode: split surrogate pairs joined, lone surrogates replaced.

    JSON `\\ud83d` escapes can leave lone surrogates in a delta (a pair split across two records);
    they cannot be encoded as UTF-8, so anything that leaves the process as a str goes through here.
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return text


def _leading_newlines(text: str) -> int:
    count = 0
    while count < 2 and count < len(text) and text[count] == "\n":
        count += 1
    return count


class Assembler(ABC):
    """Folds events of one side into content and reasoning pieces, passed to the two hooks."""

    def __init__(self, options: RenderOptions) -> None:
        self.options = options
        self.finish_reason = "stop"
        self.usage: Usage | None = None
        self._held_reasoning: list[str] = []
        self._citations: dict[str, str] = {}  # url → first title seen
        self._has_content = False
        self._trailing_newlines = 0  # of the content so far, to place blank lines around blocks
        self._after_block = False  # the last content was an image/sources block
        self._finished = False

    @abstractmethod
    def _emit_content(self, text: str) -> None: ...

    @abstractmethod
    def _emit_reasoning(self, text: str) -> None: ...

    def _consume(self, event: Event) -> None:
        if event.side != self.options.side or self._finished:
            return
        if type(event) is TextDelta:
            if event.text:
                self._add_text(event.text)
        elif type(event) is ReasoningDelta:
            if event.text:
                self._add_reasoning(event.text)
        elif type(event) is ImageOut:
            self._flush_reasoning()
            self._block(image_markdown(event.url))
        elif type(event) is Citation:
            self._citations.setdefault(event.url, event.title)
        elif type(event) is Finish:
            self.finish_reason = map_finish_reason(event.reason)
            if event.usage is not None:
                self.usage = event.usage
        # ArenaError: the relay acts on it; it is never assistant output.

    def _finalize(self) -> None:
        """Flush what waits for the end: held reasoning, then the sources list. Idempotent."""
        if self._finished:
            return
        self._flush_reasoning()
        if self._citations:
            self._block(sources_markdown(self._citations))
        self._finished = True

    def _add_text(self, text: str) -> None:
        if self._held_reasoning:
            self._flush_reasoning()
        if self._after_block:
            self._after_block = False
            text = "\n" * (2 - _leading_newlines(text)) + text
        self._put(text)

    def _add_reasoning(self, text: str) -> None:
        mode = self.options.reasoning
        if mode == "off":
            return
        if mode == "openai" and self.options.preserve_streaming:
            self._emit_reasoning(text)
        else:
            self._held_reasoning.append(text)

    def _flush_reasoning(self) -> None:
        if not self._held_reasoning:
            return
        reasoning = "".join(self._held_reasoning)
        self._held_reasoning.clear()
        if self.options.reasoning == "openai":
            self._emit_reasoning(reasoning)
        else:
            self._block(f"<think>{reasoning}</think>\n\n")

    def _block(self, block: str) -> None:
        """Content that stands apart: a blank line before it (unless first) and after it."""
        if self._has_content and self._trailing_newlines < 2:
            block = "\n" * (2 - self._trailing_newlines) + block
        self._put(block)
        self._after_block = not block.endswith("\n\n")

    def _put(self, text: str) -> None:
        self._has_content = True
        if text[-1] != "\n":
            self._trailing_newlines = 0
        else:
            stripped = len(text.rstrip("\n"))
            if stripped:
                self._trailing_newlines = len(text) - stripped
            else:
                self._trailing_newlines += len(text)
        self._emit_content(text)
