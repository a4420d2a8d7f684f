"""Data the fake LMArena keeps and shows to tests: sessions, turns, recorded requests, counters.

All of it lives in one `ArenaState` per `FakeArena`, mutated only under the arena's lock and
handed out as copies.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from testkit.fakes.arena_auth import TokenRegistry
from testkit.fakes.arena_replies import Reply
from testkit.fakes.arena_validate import TWO_SIDED_MODES


@dataclass
class Turn:
    """One user message and the assistant answer(s) to it."""

    user_message_id: str
    user_text: str
    attachments: list[dict[str, Any]]
    assistant_message_id: str
    reply_text: str
    retries: int = 0
    model_b_message_id: str | None = None
    reply_text_b: str | None = None


@dataclass
class Session:
    """An evaluation session: LMArena keeps the history server-side (§1.3)."""

    id: str
    model_id: str | None
    turns: list[Turn] = field(default_factory=list)
    mode: str = "direct"
    model_b_id: str | None = None

    @property
    def two_sided(self) -> bool:
        return self.mode in TWO_SIDED_MODES

    def find_message(self, message_id: str) -> tuple[Turn, str] | None:
        """The turn holding assistant message `message_id` and its side ("a" or "b")."""
        for turn in self.turns:
            if turn.assistant_message_id == message_id:
                return turn, "a"
            if turn.model_b_message_id == message_id:
                return turn, "b"
        return None


@dataclass(frozen=True)
class RecordedRequest:
    """One request the fake answered. `kind`: create, post, retry, legacy, page, action,
    upload, signup or refresh; `body` is the parsed JSON (else the text, else None)."""

    kind: str
    method: str
    path: str
    query: str
    session_id: str | None
    body: Any
    headers: Mapping[str, str]
    cookies: Mapping[str, str]
    status: int
    at: float


@dataclass
class StreamCounters:
    open: int = 0
    completed: int = 0
    disconnected: int = 0
    cut: int = 0
    max_concurrent: int = 0

    def started(self) -> None:
        self.open += 1
        self.max_concurrent = max(self.max_concurrent, self.open)

    def ended(self, outcome: str) -> None:
        self.open -= 1
        if outcome == "completed":
            self.completed += 1
        elif outcome == "cut":
            self.cut += 1
        else:
            self.disconnected += 1


@dataclass
class Upload:
    key: str
    content_type: str
    data: bytes


@dataclass
class ArenaState:
    """Everything `FakeArena.reset()` forgets (auth sessions and clearances survive a reset)."""

    sessions: dict[str, Session] = field(default_factory=dict)
    requests: list[RecordedRequest] = field(default_factory=list)
    seen_ids: set[str] = field(default_factory=set)
    queue: deque[Reply] = field(default_factory=deque)
    targeted: list[tuple[str, Reply]] = field(default_factory=list)
    recaptcha: TokenRegistry = field(default_factory=lambda: TokenRegistry("03AFake"))
    turnstile: TokenRegistry = field(default_factory=lambda: TokenRegistry("0.fake"))
    counters: StreamCounters = field(default_factory=StreamCounters)
    images_issued: int = 0
    uploads: dict[str, Upload] = field(default_factory=dict)
    signed_up: set[str] = field(default_factory=set)
    prompts_by_user: dict[str, int] = field(default_factory=dict)  # for `prompt_quota`
    pulse_polled: dict[str, float] = field(default_factory=dict)  # last /api/me/pulse per user


def parsed_body(raw: bytes) -> Any:
    """What a RecordedRequest keeps of a body: JSON if it parses, else text (or None)."""
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw[:4096].decode("utf-8", errors="replace")
