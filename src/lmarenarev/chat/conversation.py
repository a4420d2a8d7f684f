"""Conversation continuity for the modern flow (docs/conversations.md has the tables).

LMArena keeps history per evaluation session and takes only the newest message; OpenAI clients
resend the whole history. The store remembers, for every reply delivered in full, the
conversation as the client now has it, and `decide` picks per request:

- the history ends with the session's newest reply, followed by new messages → `Continue`
  with those messages (user text, trailing instructions such as SillyTavern's Continue and
  Impersonate nudges or a quiet prompt, an assistant prefill);
- exactly the history a session's newest reply answered (a regenerate) → `Regenerate`;
- anything else → None: a new session with the history folded (`fold_history`).

Only a session's newest reply can be continued or regenerated (`post-to-evaluation` appends
to the session's end): after a regenerate, a Continue/Impersonate/quiet prompt sent to the
session, or a reply the gateway cut, the older histories of that session start over. Every
entry carries the time it was stored; the newest reply of a session is the one stored last
(`forget` moves that time past all of them).

The memory is bounded by `capacity` (a few histories per reply) and an entry expires `max_age`
seconds after its reply. What it learns, forgetting included, goes to `persist` (the gateway
saves it in the SQLite store) and a restart fills it again with `load`, so a conversation
continues in the same session after a restart. The system texts a session has seen are not
saved: after a restart they are sent again once, which LMArena's model reads as a reminder.

Continuity is "lenient" by default: system messages before the reply are left out of the
comparison, so what roleplay clients change there between requests (lorebook entries that
come and go, dialogue examples sent only at first, an author's note that moves with the
chat) keeps the session; a system text the session has not seen yet goes along with the new
message. "strict" continues only when every earlier message is unchanged.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal, TypeVar

from ..messages import Attachment, Message, strip_reasoning

Continuity = Literal["lenient", "strict"]
# The request a reply answered / the conversation after it / a session whose end is unknown.
Kind = Literal["user", "reply", "forget"]
HISTORIES_PER_REPLY = 4  # strict and lenient, as a message of its own and joined to a prefill
_V = TypeVar("_V")  # a table's value

# The documented wordings (docs/conversations.md, "Histories that do not end with a user
# message"): what LMArena gets when a history ends with an assistant message.
CONTINUE_OWN = "[Continue your last message from exactly where it stops, without repeating it.]"
CONTINUE_PREFILL = (
    "[Your reply begins with the text below. Continue it from exactly where it stops, "
    "without repeating it.]\n\n{text}"
)
CONTINUE_FOLDED = (
    "[Continue the last Assistant message from exactly where it stops, without repeating it.]"
)


@dataclass(frozen=True, slots=True)
class SessionRef:
    session_id: str
    assistant_message_id: str


@dataclass(frozen=True, slots=True)
class Remembered:
    """One thing the memory learnt, as it is saved and loaded ("forget": `key` is the session
    id, and `session` names it)."""

    kind: Kind
    key: str
    session: SessionRef
    stored_at: float  # unix time


@dataclass(frozen=True, slots=True)
class NewSession:
    prompt: str
    attachments: tuple[Attachment, ...]
    folded: bool = False  # the history became a transcript (not a plain first message)
    extends: str | None = None  # the assistant text the reply continues (a prefill)

    @property
    def kind(self) -> str:
        return "folded" if self.folded else "new"


@dataclass(frozen=True, slots=True)
class Continue:
    session: SessionRef
    prompt: str
    attachments: tuple[Attachment, ...]
    extends: str | None = None

    kind = "continued"


@dataclass(frozen=True, slots=True)
class Regenerate:
    session: SessionRef

    kind = "regenerated"
    extends = None


Turn = NewSession | Continue | Regenerate


def _role_label(role: str) -> str:
    return {"system": "System", "user": "User", "assistant": "Assistant"}[role]


def is_transcript(messages: list[Message]) -> bool:
    """Whether `fold_history` makes a transcript: an assistant message, or several users."""
    roles = [m.role for m in messages]
    return "assistant" in roles or roles.count("user") > 1


def fold_history(messages: list[Message]) -> str:
    """The documented template (docs/conversations.md) for a history LMArena has not seen.

    No assistant message and at most one user message (a first message, a system-only
    request): the texts joined by blank lines, in order (as public bridges do, protocol §1.3).
    Anything else becomes a transcript with one `Role: text` block per message.
    """
    if not is_transcript(messages):
        return "\n\n".join(m.text for m in messages if m.text)
    return "\n\n".join(f"{_role_label(m.role)}: {m.text}".rstrip() for m in messages)


def fold(messages: list[Message], *, prefill: bool | None = None) -> NewSession:
    """A new session for `messages`; an ending assistant message is a prefill to continue
    (unless `prefill` says otherwise: an injected assistant turn is not one)."""
    attachments = tuple(a for m in messages for a in m.attachments if m.role != "system")
    prompt = fold_history(messages)
    extends = None
    if prefill is None:
        prefill = bool(messages) and messages[-1].role == "assistant"
    if prefill:
        prompt = f"{prompt}\n\n{CONTINUE_FOLDED}"
        extends = messages[-1].text
    return NewSession(prompt, attachments, is_transcript(messages), extends)


def _text_key(message: Message) -> str:
    if message.role == "assistant":  # how a client joins a continuation is not ours to know
        return "".join(strip_reasoning(message.text).split())
    return message.text.strip()


def history_key(model: str, messages: Iterable[Message], *, lenient: bool = False) -> str:
    """A digest of the conversation: each field length-prefixed, so no two differ in one.
    Lenient keys leave the system messages out."""
    fields = ["lenient" if lenient else "strict", model]
    for message in messages:
        if lenient and message.role == "system":
            continue
        fields += (message.role, _text_key(message), str(len(message.attachments)))
        fields += (a.url for a in message.attachments)
    flat = "".join(f"{len(field)}:{field}" for field in fields)
    return hashlib.sha256(flat.encode("utf-8", "surrogatepass")).hexdigest()


def _text_digest(text: str) -> str:
    return hashlib.sha256(text.strip().encode("utf-8", "surrogatepass")).hexdigest()


class ConversationStore:
    """Bounded LRUs of delivered replies, in memory: a history's digest → (its session and
    answer, when it was stored). A session's newest reply is the one stored last in it; the
    system texts each session was sent are kept to tell what it has not seen."""

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
        self._tables: dict[str, OrderedDict[str, tuple[SessionRef, float]]] = {
            "user": OrderedDict(),  # the request a reply answered (a regenerate)
            "reply": OrderedDict(),  # the conversation after it (a continuation)
        }
        self._newest: OrderedDict[str, float] = OrderedDict()  # session → its newest's time
        self._seen: OrderedDict[str, set[str]] = OrderedDict()  # session → system texts' digests
        self._last = 0.0

    def __len__(self) -> int:
        return len(self._newest)

    def load(self, entries: Iterable[Remembered]) -> None:
        """Fill the memory with saved entries, oldest first (expired ones are skipped)."""
        for entry in entries:
            if self._expired(entry.stored_at):
                continue
            self._last = max(self._last, entry.stored_at)
            if entry.kind == "forget":
                newest = max(entry.stored_at, self._newest.get(entry.key, entry.stored_at))
                self._bounded(self._newest, entry.key, newest)
            else:
                self._put(entry.kind, entry.key, entry.session, entry.stored_at)

    def _expired(self, stored_at: float) -> bool:
        return self.max_age > 0 and self.clock() - stored_at >= self.max_age

    def _save(self, kind: Kind, key: str, ref: SessionRef, stored_at: float) -> None:
        if kind != "forget":
            self._put(kind, key, ref, stored_at)
        if self.persist is not None:
            self.persist(Remembered(kind, key, ref, stored_at))

    def _put(self, kind: Kind, key: str, ref: SessionRef, stored_at: float) -> None:
        table = self._tables[kind]
        table[key] = (ref, stored_at)
        table.move_to_end(key)
        # a reply is remembered under a few histories (strict, lenient, joined): room for each
        while len(table) > self.capacity * (HISTORIES_PER_REPLY if kind == "reply" else 1):
            table.popitem(last=False)
        newest = max(stored_at, self._newest.get(ref.session_id, stored_at))
        self._bounded(self._newest, ref.session_id, newest)

    def _bounded(self, table: OrderedDict[str, _V], key: str, value: _V) -> None:
        table[key] = value
        table.move_to_end(key)
        while len(table) > self.capacity:
            table.popitem(last=False)

    def _get(self, kind: Kind, key: str) -> SessionRef | None:
        """The answer stored under `key` if it is still its session's newest."""
        item = self._tables[kind].get(key)
        if item is None:
            return None
        ref, stored_at = item
        if self._expired(stored_at):
            del self._tables[kind][key]
            return None
        if self._newest.get(ref.session_id) != stored_at:
            return None  # the session went on (or a regenerate replaced the reply)
        self._tables[kind].move_to_end(key)
        self._newest.move_to_end(ref.session_id)
        return ref

    def _tick(self) -> float:
        """Now, and later than anything stored before (the newest is told by its time)."""
        self._last = max(self.clock(), self._last + 1e-6)
        return self._last

    def remember(self, model: str, messages: list[Message], reply: str, ref: SessionRef) -> None:
        """Called after a reply was delivered in full: it is now its session's newest."""
        now = self._tick()
        for history in _histories_after(messages, reply):
            self._save("reply", history_key(model, history), ref, now)
            self._save("reply", history_key(model, history, lenient=True), ref, now)
        self._save("user", history_key(model, messages), ref, now)
        seen = self._seen.get(ref.session_id, set())
        seen.update(_text_digest(m.text) for m in messages if m.role == "system")
        self._bounded(self._seen, ref.session_id, seen)

    def forget(self, session_id: str) -> None:
        """The session holds something the client did not get (a reply cut or failed): none
        of its histories can be continued or regenerated."""
        now = self._tick()
        self._bounded(self._newest, session_id, now)
        self._seen.pop(session_id, None)
        self._save("forget", session_id, SessionRef(session_id, ""), now)

    def decide(
        self, model: str, messages: list[Message], continuity: Continuity = "lenient"
    ) -> Continue | Regenerate | None:
        if not messages:
            return None
        answered = self._get("user", history_key(model, messages))
        if answered is not None:
            return Regenerate(answered)
        lenient = continuity == "lenient"
        for end in _reply_candidates(messages):
            prefix, rest = messages[: end + 1], messages[end + 1 :]
            ref = self._get("reply", history_key(model, prefix, lenient=lenient))
            if ref is not None:
                seen = self._seen.get(ref.session_id, set())
                unseen = [
                    m.text for m in prefix
                    if lenient and m.role == "system" and _text_digest(m.text) not in seen
                ]  # fmt: skip
                return _continue(ref, list(dict.fromkeys(unseen)), prefix[-1], rest)
        return None


def row_limits(capacity: int) -> dict[str, int]:
    """How many saved entries of each kind a memory of `capacity` conversations holds."""
    return {"user": capacity, "reply": capacity * HISTORIES_PER_REPLY, "forget": capacity}


def _reply_candidates(messages: list[Message]) -> list[int]:
    """Where the remembered reply can be: the last assistant message, or, when the history
    ends with an assistant message (a prefill), the one before it."""
    indexes = [i for i, m in enumerate(messages) if m.role == "assistant"]
    if messages[-1].role == "assistant":
        return indexes[-2:][::-1]
    return indexes[-1:]


def _continue(
    ref: SessionRef, unseen: list[str], reply: Message, rest: list[Message]
) -> Continue:
    """The next message of the session: system texts it has not seen, then every message
    after its reply; an ending assistant message is a prefill (CONTINUE_PREFILL), and a
    history that ends with the reply itself asks to continue it (CONTINUE_OWN)."""
    parts = [*unseen, *(m.text for m in rest if m.role != "assistant")]
    extends = None
    if not rest:
        parts.append(CONTINUE_OWN)
        extends = reply.text
    elif rest[-1].role == "assistant":
        parts.append(CONTINUE_PREFILL.format(text=rest[-1].text))
        extends = rest[-1].text
    attachments = tuple(a for m in rest if m.role == "user" for a in m.attachments)
    return Continue(ref, "\n\n".join(p for p in parts if p), attachments, extends)


def _histories_after(messages: list[Message], reply: str) -> list[list[Message]]:
    """The conversation as the client may have it after `reply`: the reply as a message of
    its own, or, when the request ended with an assistant message followed only by system
    messages (a prefill, SillyTavern's Continue), that message with the reply appended."""
    histories = []
    if messages and messages[-1].role != "assistant":
        histories.append([*messages, Message("assistant", reply)])
    for index in range(len(messages) - 1, -1, -1):
        role = messages[index].role
        if role == "assistant":
            extended = Message("assistant", messages[index].text + reply)
            histories.append([*messages[:index], extended])
        if role != "system":
            break
    return histories
