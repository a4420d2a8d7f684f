"""Conversation continuity for the modern flow (architecture.md, "Conversations").

LMArena keeps history per evaluation session and takes only the newest user message; OpenAI
clients resend the whole history. We remember, for every reply we delivered, a hash of the
conversation up to it, and decide per request:

- known history + one new user message → `Continue` (post-to-evaluation with that message);
- the same last user message again (a regenerate) → `Regenerate` (the retry route);
- anything else → `NewSession` with the history folded into one prompt by `fold_history`.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass

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
    return "\n\n".join(f"{_role_label(m.role)}: {m.text}" for m in messages)


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
    """Bounded LRU of delivered replies. In memory; the SQLite store replaces it later."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._after_reply: OrderedDict[str, SessionRef] = OrderedDict()
        self._after_user: OrderedDict[str, SessionRef] = OrderedDict()

    def __len__(self) -> int:
        return len(self._after_reply)

    def _put(self, table: OrderedDict[str, SessionRef], key: str, ref: SessionRef) -> None:
        table[key] = ref
        table.move_to_end(key)
        while len(table) > self.capacity:
            table.popitem(last=False)

    def _get(self, table: OrderedDict[str, SessionRef], key: str) -> SessionRef | None:
        ref = table.get(key)
        if ref is not None:
            table.move_to_end(key)
        return ref

    def remember(self, model: str, messages: list[Message], reply: str, ref: SessionRef) -> None:
        """Called after a reply was delivered in full."""
        self._put(self._after_user, history_key(model, messages), ref)
        answered = [*messages, Message("assistant", reply)]
        self._put(self._after_reply, history_key(model, answered), ref)

    def decide(self, model: str, messages: list[Message]) -> Turn:
        if not messages or messages[-1].role != "user":
            raise InvalidRequest("the last message must be a user message", param="messages")
        last = messages[-1]
        answered = self._get(self._after_user, history_key(model, messages))
        if answered is not None:
            return Regenerate(answered)
        before = messages[:-1]
        if before and before[-1].role == "assistant":
            known = self._get(self._after_reply, history_key(model, before))
            if known is not None:
                return Continue(known, last.text, last.attachments)
        attachments = tuple(a for m in messages for a in m.attachments if m.role == "user")
        return NewSession(fold_history(messages), attachments)
