"""Conversation continuity for the modern flow (architecture.md, "Conversations").

LMArena keeps history per evaluation session and takes only the newest user message; OpenAI
clients resend the whole history. We remember, for every reply we delivered, a hash of the
conversation up to it, and decide per request:

- known history + one new user message → `Continue` (post-to-evaluation with that message);
- the same last user message again (a regenerate) → `Regenerate` (the retry route);
- anything else → `NewSession` with the history folded into one prompt by `fold_history`.

The memory is an LRU bounded by `capacity`; an entry expires `max_age` seconds after its reply.
What it learns goes to `persist` (the gateway saves it in the SQLite store) and a restart fills
it again with `load`, so a conversation continues in the same session after a restart.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

from ..errors import InvalidRequest
from ..messages import Attachment, Message, strip_reasoning


@dataclass(frozen=True, slots=True)
class SessionRef:
    session_id: str
    assistant_message_id: str


@dataclass(frozen=True, slots=True)
class NewSession:
    prompt: str
    attachments: tuple[Attachment, ...]


@dataclass(frozen=True, slots=True)
class Continue:
    session: SessionRef
    prompt: str
    attachments: tuple[Attachment, ...]


@dataclass(frozen=True, slots=True)
class Regenerate:
    session: SessionRef


Turn = NewSession | Continue | Regenerate
Kind = Literal["user", "reply"]  # the history up to the user message it answered / the reply


@dataclass(frozen=True, slots=True)
class Remembered:
    """One entry of the memory, as it is saved and loaded."""

    kind: Kind
    key: str
    session: SessionRef
    stored_at: float  # unix time


def _role_label(role: str) -> str:
    return {"system": "System", "user": "User", "assistant": "Assistant"}[role]


def fold_history(messages: list[Message]) -> str:
    """The documented template (docs/conversations.md) for a history LMArena has not seen.

    System messages followed by one user message: the system texts and the user text joined
    by blank lines (as public bridges do, protocol §1.3). Anything longer becomes a transcript
    with one `Role: text` block per message; the last block is the new user message.
    """
    non_system = [m for m in messages if m.role != "system"]
    if len(non_system) == 1:
        return "\n\n".join(m.text for m in messages if m.text)
    return "\n\n".join(f"{_role_label(m.role)}: {m.text}".rstrip() for m in messages)


def history_key(model: str, messages: list[Message]) -> str:
    """A digest of the conversation: each field length-prefixed, so no two differ in one."""
    fields = [model]
    for message in messages:
        text = message.text
        if message.role == "assistant":
            text = strip_reasoning(text)
        fields += (message.role, text.strip(), str(len(message.attachments)))
        fields += (a.url for a in message.attachments)
    flat = "".join(f"{len(field)}:{field}" for field in fields)
    return hashlib.sha256(flat.encode("utf-8", "surrogatepass")).hexdigest()


class ConversationStore:
    """Bounded LRU of delivered replies whose entries expire; saved through `persist`."""

    def __init__(
        self,
        capacity: int,
        *,
        max_age: float = 0.0,
        clock: Callable[[], float] = time.time,
        persist: Callable[[Remembered], None] | None = None,
    ) -> None:
        self.capacity = capacity
        self.max_age = max_age  # seconds; 0: entries never expire
        self.clock = clock
        self.persist = persist
        self._tables: dict[Kind, OrderedDict[str, tuple[SessionRef, float]]] = {
            "user": OrderedDict(),
            "reply": OrderedDict(),
        }

    def __len__(self) -> int:
        return len(self._tables["reply"])

    def load(self, entries: Iterable[Remembered]) -> None:
        """Fill the memory with saved entries, oldest first (expired ones are skipped)."""
        for entry in entries:
            if not self._expired(entry.stored_at):
                self._put(entry.kind, entry.key, entry.session, entry.stored_at)

    def _expired(self, stored_at: float) -> bool:
        return self.max_age > 0 and self.clock() - stored_at >= self.max_age

    def _put(self, kind: Kind, key: str, ref: SessionRef, stored_at: float) -> None:
        table = self._tables[kind]
        table[key] = (ref, stored_at)
        table.move_to_end(key)
        while len(table) > self.capacity:
            table.popitem(last=False)

    def _get(self, kind: Kind, key: str) -> SessionRef | None:
        table = self._tables[kind]
        item = table.get(key)
        if item is None:
            return None
        if self._expired(item[1]):
            del table[key]
            return None
        table.move_to_end(key)
        return item[0]

    def _remember(self, kind: Kind, key: str, ref: SessionRef, now: float) -> None:
        self._put(kind, key, ref, now)
        if self.persist is not None:
            self.persist(Remembered(kind, key, ref, now))

    def remember(self, model: str, messages: list[Message], reply: str, ref: SessionRef) -> None:
        """Called after a reply was delivered in full."""
        now = self.clock()
        self._remember("user", history_key(model, messages), ref, now)
        answered = [*messages, Message("assistant", reply)]
        self._remember("reply", history_key(model, answered), ref, now)

    def decide(self, model: str, messages: list[Message]) -> Turn:
        if not messages or messages[-1].role != "user":
            raise InvalidRequest("the last message must be a user message", param="messages")
        last = messages[-1]
        answered = self._get("user", history_key(model, messages))
        if answered is not None:
            return Regenerate(answered)
        before = messages[:-1]
        if before and before[-1].role == "assistant":
            known = self._get("reply", history_key(model, before))
            if known is not None:
                return Continue(known, last.text, last.attachments)
        attachments = tuple(a for m in messages for a in m.attachments if m.role == "user")
        return NewSession(fold_history(messages), attachments)
