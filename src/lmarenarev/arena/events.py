"""Typed events parsed from LMArena's stream (protocol doc §2.2).

The parser (`arena.stream`) yields these; the renderers (`render.sse`, `render.json`) consume them.
`side` is the participant letter of the record prefix: "a" for model A, "b" for model B.
"""

from __future__ import annotations

from dataclasses import dataclass


# The two per-record events are immutable by convention, not `frozen`: a frozen dataclass's
# `__init__` sets each field through `object.__setattr__`, which more than doubles the cost of
# the one object the parser makes per record (docs/benchmarks.md, sixth round).
@dataclass(slots=True, unsafe_hash=True)
class TextDelta:
    text: str
    side: str = "a"


@dataclass(slots=True, unsafe_hash=True)
class ReasoningDelta:
    text: str
    side: str = "a"


@dataclass(frozen=True, slots=True)
class ImageOut:
    url: str
    side: str = "a"


@dataclass(frozen=True, slots=True)
class Citation:
    url: str
    title: str
    side: str = "a"


@dataclass(frozen=True, slots=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int
    counted: bool = False  # counted offline by the gateway (a reply it cut), not LMArena's

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True, slots=True)
class Finish:
    """An `ad:`/`bd:` record; `reason` is LMArena's value ("stop", "length", "content-filter").
    The gateway makes one too when it ends a reply (chat/reply_limits.py): `stop_sequence`
    then says which of the client's stop sequences did (Anthropic's API reports it)."""

    reason: str
    usage: Usage | None = None
    side: str = "a"
    stop_sequence: str | None = None


@dataclass(frozen=True, slots=True)
class ArenaError:
    """An in-band failure: `a3:` text, `a0:"hasArenaError"`, or a JSON error line in a 200 body."""

    message: str
    side: str = "a"


Event = TextDelta | ReasoningDelta | ImageOut | Citation | Finish | ArenaError


def join_text(events: list[Event]) -> list[Event]:
    """The events with each run of consecutive text deltas of one kind (answer or reasoning)
    and one side as one delta: the same text, in fewer events for the relay, the renderers and
    the client to handle."""
    if len(events) < 2:
        return events
    joined: list[Event] = []
    run: list[str] = []
    run_kind: type[TextDelta] | type[ReasoningDelta] = TextDelta
    run_side = ""
    for event in events:
        if isinstance(event, TextDelta | ReasoningDelta):
            kind = type(event)
            if run and kind is run_kind and event.side == run_side:
                run.append(event.text)
                continue
            if run:
                joined.append(run_kind("".join(run), run_side))
            run, run_kind, run_side = [event.text], kind, event.side
            continue
        if run:
            joined.append(run_kind("".join(run), run_side))
            run = []
        joined.append(event)
    if run:
        joined.append(run_kind("".join(run), run_side))
    return joined
