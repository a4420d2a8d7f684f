"""A reply that continues an assistant message (a prefill, SillyTavern's Continue): the client
gets only the continuation, so a model that starts by repeating the message has the repeated
text dropped (docs/conversations.md, "Histories that do not end with a user message").

Pure, with the event contract of `reply_limits.ReplyLimits`: `feed(events) -> events`, `end()`.
Text is held back only while the reply so far could still be the repeated message (compared
without leading and trailing whitespace); the first character that differs releases it all.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..arena.events import Event, ReasoningDelta, TextDelta


class RepeatedPrefix:
    def __init__(self, prefix: str, side: str = "a") -> None:
        self.target = prefix.strip()
        self.side = side
        self.held = ""
        self.decided = not self.target

    def feed(self, events: Iterable[Event]) -> list[Event]:
        out: list[Event] = []
        for event in events:
            if self.decided or event.side != self.side:
                out.append(event)
            elif type(event) is TextDelta:
                self._text(out, event.text)
            elif type(event) is ReasoningDelta:
                out.append(event)
            else:  # an image, a citation, the finish: the reply went on without repeating
                self._release(out)
                out.append(event)
        return out

    def end(self) -> list[Event]:
        out: list[Event] = []
        self._release(out)
        return out

    def _text(self, out: list[Event], text: str) -> None:
        self.held += text
        probe = self.held.lstrip()
        if len(probe) >= len(self.target):
            self.decided = True
            rest = probe[len(self.target) :] if probe.startswith(self.target) else self.held
            self.held = ""
            if rest:
                out.append(TextDelta(rest, self.side))
        elif not self.target.startswith(probe):
            self._release(out)

    def _release(self, out: list[Event]) -> None:
        self.decided = True
        held, self.held = self.held, ""
        if held:
            out.append(TextDelta(held, self.side))
