"""Stop sequences and a token budget applied to a reply while it streams: a pure unit between
the relay's events and whatever renders them (OpenAI chat completions here; the Anthropic
Messages API's `stop_sequences`/`max_tokens` and the Responses API build on the same unit).

LMArena takes neither a stop sequence nor a token limit, so the gateway applies both to the
text it relays, and aborts the upstream fetch once the reply is over for the client.

Contract
--------
`ReplyLimits(stop=..., max_tokens=..., count=..., prompt_tokens=..., side=...)`; then

- `feed(events) -> list[Event]`: the events to pass on, in order, for the events of one
  batch. Only the text deltas (`TextDelta`) of `side` are limited; reasoning, citations and the
  events of another side pass unchanged (they are not "the text" a stop sequence or a budget
  is about). An `ImageOut` releases held text first: a stop sequence cannot span an image.
- A stop sequence is found wherever it lies, even split over any number of deltas (of two
  that overlap, the one that completes first, as when a model generates them): the text
  that could still be the start of a stop sequence is held back, and only while it could be
  (the next text decides). Nothing else is ever delayed.
- When a stop sequence appears, the text before it is passed on, then `Finish("stop", usage)`.
  When the text would go over `max_tokens`, the text that fits is passed on, then
  `Finish("length", usage)` (the budget is spent when more text arrives: a reply whose last
  token is exactly the budget and which then ends upstream keeps LMArena's finish).
  From then on `reached` says which ("stop" | "length"): the caller stops reading and aborts
  the upstream fetch; `feed` and `end` return nothing more.
- An upstream `Finish` passes through after the held text (a partial stop sequence that never
  completed is ordinary text, and it still counts against the budget). `end()` releases it
  when the stream ended without a `Finish`.
- `usage` of the finish the unit makes: `prompt_tokens()` and the tokens of the content and
  reasoning passed on, counted offline (`Usage.counted`); None without a tokenizer.
- `max_tokens` counts the content only, not the reasoning: LMArena's models think before the
  answer the client sees, and a budget spent on thinking would leave no answer.

`count(text)` must never return more tokens than `text` has UTF-8 bytes (true of byte-level
BPE like cl100k_base): replies shorter than the budget in bytes are never counted at all, and
longer ones are counted from the last line start on (`TokenBudget`), never again from the top.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from ..arena.events import Event, Finish, ImageOut, ReasoningDelta, TextDelta, Usage

Counter = Callable[[str], int]


def _utf8_size(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


def _line_anchor(text: str, start: int) -> int:
    """The last position after `start` where a line starts with a non-space character: a
    cl100k_base piece boundary, so counting the text before and after it separately adds up."""
    position = len(text) - 1
    while position > start:
        if text[position - 1] == "\n" and not text[position].isspace():
            return position
        position -= 1
    return start


class TokenBudget:
    """How much of the next piece of text still fits in `limit` tokens."""

    def __init__(self, limit: int, count: Counter) -> None:
        self.limit = limit
        self.count = count
        self.text = ""
        self.bytes = 0
        self._anchor = 0  # the text before it is counted: `_anchored` tokens
        self._anchored = 0
        self.spent = False  # text came that did not fit

    def take(self, piece: str) -> str:
        """The longest start of `piece` that fits (all of it, usually)."""
        if self.spent:
            return ""
        size = _utf8_size(piece)
        if self.bytes + size <= self.limit:  # a token is at least a byte: it fits uncounted
            self._accept(piece, size)
            return piece
        if self._tokens(self.text + piece) <= self.limit:
            self._accept(piece, size)
            self._advance()
            return piece
        self.spent = True
        low, high = 0, len(piece) - 1  # the longest start that fits: piece[:low]
        while low < high:
            middle = (low + high + 1) // 2
            if self._tokens(self.text + piece[:middle]) <= self.limit:
                low = middle
            else:
                high = middle - 1
        fitting = piece[:low]
        self._accept(fitting, _utf8_size(fitting))
        return fitting

    def _tokens(self, text: str) -> int:
        return self._anchored + self.count(text[self._anchor :])

    def _accept(self, piece: str, size: int) -> None:
        self.text += piece
        self.bytes += size

    def _advance(self) -> None:
        anchor = _line_anchor(self.text, self._anchor)
        if anchor > self._anchor:
            self._anchored += self.count(self.text[self._anchor : anchor])
            self._anchor = anchor


class StopScanner:
    """Finds the first stop sequence in a text that arrives in pieces."""

    def __init__(self, stop: Iterable[str]) -> None:
        self.stop = tuple(s for s in dict.fromkeys(stop) if s)
        self.held = ""
        self.matched: str | None = None  # the stop sequence that ended the text

    def feed(self, piece: str) -> tuple[str, bool]:
        """(the text that can go out now, whether a stop sequence ended it)."""
        text = self.held + piece
        # The stop sequence that completes first wins (as if the text came a character at a
        # time), the longest of those that complete at once: the same for any chunking.
        found = [(i + len(s), i, s) for s in self.stop if (i := text.find(s)) >= 0]
        if found:
            self.held = ""
            _, start, self.matched = min(found)
            return text[:start], True
        keep = self._candidate(text)
        self.held = text[len(text) - keep :] if keep else ""
        return text[: len(text) - keep], False

    def release(self) -> str:
        held, self.held = self.held, ""
        return held

    def _candidate(self, text: str) -> int:
        """The length of the longest end of `text` that starts some stop sequence."""
        longest = 0
        for stop in self.stop:
            for length in range(min(len(stop) - 1, len(text)), longest, -1):
                if text.endswith(stop[:length]):
                    longest = length
                    break
        return longest


class ReplyLimits:
    def __init__(
        self,
        *,
        stop: Sequence[str] = (),
        max_tokens: int | None = None,
        count: Counter | None = None,
        prompt_tokens: Callable[[], int] | None = None,
        side: str = "a",
    ) -> None:
        if max_tokens is not None and count is None:
            raise ValueError("max_tokens needs a token counter")
        self.scanner = StopScanner(stop)
        self.budget = None if max_tokens is None else TokenBudget(max_tokens, count or len)
        self.count = count
        self.prompt_tokens = prompt_tokens
        self.side = side
        self.reached: str | None = None  # "stop" | "length": the reply is over, abort upstream
        self._content: list[str] = []
        self._reasoning: list[str] = []

    @property
    def active(self) -> bool:
        return bool(self.scanner.stop) or self.budget is not None

    def feed(self, events: Iterable[Event]) -> list[Event]:
        out: list[Event] = []
        for event in events:
            if self.reached is not None:
                break
            if event.side != self.side:
                out.append(event)
            elif type(event) is TextDelta:
                text, stopped = self.scanner.feed(event.text)
                self._text(out, text, event.side)
                if stopped and self.reached is None:
                    self._cut(out, "stop")
            elif type(event) is Finish:
                self._release(out)
                if self.reached is None:
                    out.append(event)
            else:
                if type(event) is ImageOut:
                    self._release(out)
                elif type(event) is ReasoningDelta:
                    self._reasoning.append(event.text)
                if self.reached is None:
                    out.append(event)
        return out

    def end(self) -> list[Event]:
        """The stream ended without a finish: the text still held."""
        out: list[Event] = []
        if self.reached is None:
            self._release(out)
        return out

    def _release(self, out: list[Event]) -> None:
        held = self.scanner.release()
        if held:
            self._text(out, held, self.side)

    def _text(self, out: list[Event], text: str, side: str) -> None:
        if self.budget is not None and text:
            fitting = self.budget.take(text)
            if fitting:
                self._content.append(fitting)
                out.append(TextDelta(fitting, side))
            if self.budget.spent:
                self._cut(out, "length")
            return
        if text:
            self._content.append(text)
            out.append(TextDelta(text, side))

    def _cut(self, out: list[Event], reason: str) -> None:
        self.reached = reason
        matched = self.scanner.matched if reason == "stop" else None
        out.append(Finish(reason, self._usage(), self.side, matched))

    def _usage(self) -> Usage | None:
        if self.count is None or self.prompt_tokens is None:
            return None
        completion = self.count("".join(self._content)) + self.count("".join(self._reasoning))
        return Usage(self.prompt_tokens(), completion, counted=True)
