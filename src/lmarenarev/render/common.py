"""What every renderer shares: options, finish-reason mapping, and how events become content.

`Assembler` decides what the assistant says (text, images, `<think>` blocks, sources, held or live
reasoning, tool calls); the renderers of each API only decide how it is packaged. Because they
share this one implementation, a streamed reply joins up to exactly the non-streamed one.

With tools (docs/tools.md) the text goes through a `CallDetector` first: what it hands back is
text, and the calls it finds are decided when the reply ends (`reply_end`). A botched reply may
get one corrective turn (chat/completion.py runs it): its text is not shown, only its calls count;
when they are botched again, the first reply's held text goes out as it was written.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
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
from lmarenarev.arena.ids import random_hex
from lmarenarev.messages import ToolCall
from lmarenarev.tools.contract import assistant_text, correction
from lmarenarev.tools.detect import CallDetector, Verdict
from lmarenarev.tools.spec import ToolSet

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
    tools: ToolSet | None = None  # calls are looked for in the reply (docs/tools.md)


@dataclass(frozen=True, slots=True)
class Correction:
    """One corrective turn for a botched reply: the message to send, and the reply as the
    model wrote it (the legacy flow sends the whole history again)."""

    message: str
    reply: str


def call_id(prefix: str) -> str:
    """A tool call's id (`call_…`, `toolu_…`): 24 random hex digits after the API's prefix."""
    return prefix + random_hex()[:24]


def map_finish_reason(reason: str) -> str:
    """LMArena's finish reason → OpenAI's; unknown values (e.g. "unknown", "error") → "stop"."""
    return _FINISH_REASONS.get(reason, "stop")


def added(first: Usage | None, second: Usage | None) -> Usage | None:
    if first is None or second is None:
        return first or second
    return Usage(first.prompt_tokens + second.prompt_tokens,
                 first.completion_tokens + second.completion_tokens)


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
        self.stop_sequence: str | None = None  # the client's stop sequence that ended it
        self.usage: Usage | None = None
        self._held_reasoning: list[str] = []
        self._citations: dict[str, str] = {}  # url → first title seen
        self._has_content = False
        self._trailing_newlines = 0  # of the content so far, to place blank lines around blocks
        self._after_block = False  # the last content was an image/sources block
        self._finished = False
        tools = options.tools
        self.tools = tools if tools is not None and tools.calling else None
        self._detector = None if self.tools is None else CallDetector(self.tools)
        self._raw: list[str] = []  # the reply's text as written (for a corrective turn)
        self._botched: Verdict | None = None  # set while a corrective turn runs
        self.calls: tuple[ToolCall, ...] = ()

    @abstractmethod
    def _emit_content(self, text: str) -> None: ...

    @abstractmethod
    def _emit_reasoning(self, text: str) -> None: ...

    def _emit_tool_calls(self, calls: Sequence[ToolCall]) -> None:
        raise NotImplementedError(f"{type(self).__name__} cannot send tool calls")

    def _said(self) -> str:
        """The text content so far (each renderer keeps what it emitted)."""
        raise NotImplementedError

    def content(self) -> str:
        """The reply as the request log and the conversation store keep it: with calls, in
        the contract's form (what the next request's history is rewritten to)."""
        return well_formed(assistant_text(self._said(), self.calls))

    # -- tool calls ----------------------------------------------------------------------------

    def reply_end(self, may_correct: bool) -> Correction | None:
        """One LMArena reply ended: decide its calls. A corrective turn to run when the calls
        were botched and `may_correct` (else the held text goes out as it was written)."""
        detector, self._detector = self._detector, None
        if detector is None or self.tools is None:
            return None
        rest, verdict = detector.close()
        if self._botched is not None:  # the corrective turn's reply: only its calls count
            first, self._botched = self._botched, None
            if verdict.calls and not verdict.botched:
                self.calls = verdict.calls
            else:
                self._release(first.held)
            return None
        if rest:
            self._put_text(rest)
        if not verdict.botched:
            self.calls = verdict.calls
            return None
        if not may_correct or self.finish_reason == "length":
            self._release(verdict.held)
            return None
        self._botched = verdict
        return Correction(correction(verdict.problems), "".join(self._raw))

    def begin_correction(self) -> None:
        """The corrective turn's events follow: its text goes to a detector of its own."""
        assert self.tools is not None and self._botched is not None
        self._detector = CallDetector(self.tools)

    @property
    def correcting(self) -> bool:
        """A corrective turn runs (its reply's events are coming)."""
        return self._botched is not None

    def give_up_correction(self) -> None:
        """No corrective turn could be sent, or it failed: the botched text goes out as it was
        written."""
        if self._botched is not None:
            self._detector = None
            self._release(self._botched.held)
            self._botched = None

    def _release(self, held: str) -> None:
        if held:
            self._put_text(held)

    def _consume(self, event: Event) -> None:
        if event.side != self.options.side or self._finished:
            return
        if type(event) is TextDelta:
            if event.text:
                self._add_text(event.text)
        elif self._botched is not None:  # a corrective turn: only its text and end count
            if type(event) is Finish:
                self.usage = added(self.usage, event.usage)
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
            self.stop_sequence = event.stop_sequence
            self.usage = added(self.usage, event.usage)
        # ArenaError: the relay acts on it; it is never assistant output.

    def _finalize(self) -> None:
        """Flush what waits for the end: held reasoning, the sources list, the calls.
        Idempotent."""
        if self._finished:
            return
        self.reply_end(may_correct=False)
        self.give_up_correction()
        self._flush_reasoning()
        if self._citations:
            self._block(sources_markdown(self._citations))
        self._finished = True
        if self.calls:
            self.finish_reason = "tool_calls"
            self._emit_tool_calls(self.calls)

    def _add_text(self, text: str) -> None:
        if self._detector is not None:
            if self._botched is not None:
                self._detector.feed(text)  # the corrective turn's text is never shown
                return
            self._raw.append(text)
            text = self._detector.feed(text)
            if not text:
                return
        self._put_text(text)

    def _put_text(self, text: str) -> None:
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


def encode_frames(frames: str) -> bytes:
    """A stream's frames as bytes. A lone surrogate (half of a pair split across upstream
    records) cannot be UTF-8; as a `\\udxxx` escape it is still valid JSON and re-pairs when
    the client joins the deltas. Frames encoded together give the same bytes as one by one."""
    return frames.encode("utf-8", "backslashreplace")


class StreamAssembler(Assembler):
    """An `Assembler` that writes a stream: `feed_all` the events as they come, then `finish()`
    once (or `fail()`), after which nothing more is written. Frames wait in `_frames` and leave,
    encoded together, with `_take()`."""

    def __init__(self, options: RenderOptions) -> None:
        super().__init__(options)
        self._frames: list[str] = []
        self._closed = False

    def feed_all(self, events: list[Event]) -> bytes:
        """Consume each event; the frames they made, in order, as one piece of bytes."""
        if self._closed:
            return b""
        consume = self._consume
        for event in events:
            consume(event)
        return self._take()

    def _take(self) -> bytes:
        if not self._frames:
            return b""
        frames = encode_frames("".join(self._frames))
        self._frames.clear()
        return frames
