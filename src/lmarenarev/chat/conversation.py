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
session, or a reply the gateway cut, the older histories of that session start over.

Continuity is "lenient" by default: system messages before the reply are left out of the
comparison, so what roleplay clients change there between requests (lorebook entries that
come and go, dialogue examples sent only at first, an author's note that moves with the
chat) keeps the session; a system text the session has not seen yet goes along with the new
message. "strict" continues only when every earlier message is unchanged.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal, TypeVar

from ..messages import Attachment, Message, strip_reasoning

Continuity = Literal["lenient", "strict"]
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
    return "\n\n".join(f"{_role_label(m.role)}: {m.text}" for m in messages)


def fold(messages: list[Message]) -> NewSession:
    """A new session for `messages`; an ending assistant message is a prefill to continue."""
    attachments = tuple(a for m in messages for a in m.attachments if m.role != "system")
    prompt = fold_history(messages)
    extends = None
    if messages and messages[-1].role == "assistant":
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


@dataclass(slots=True)
class _Session:
    tip: SessionRef  # the session's newest reply
    tip_keys: frozenset[str]  # the histories that end with it, as the client has them
    seen: set[str] = field(default_factory=set)  # digests of the system texts sent in it


class ConversationStore:
    """Bounded LRUs of delivered replies and their sessions, in memory."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._replies: OrderedDict[str, SessionRef] = OrderedDict()  # history + reply → ref
        self._answered: OrderedDict[str, SessionRef] = OrderedDict()  # request → its answer
        self._sessions: OrderedDict[str, _Session] = OrderedDict()

    def __len__(self) -> int:
        return len(self._sessions)

    def _put(self, table: OrderedDict[str, _V], key: str, value: _V) -> None:
        table[key] = value
        table.move_to_end(key)
        while len(table) > self.capacity:
            table.popitem(last=False)

    def _get(self, table: OrderedDict[str, _V], key: str) -> _V | None:
        value = table.get(key)
        if value is not None:
            table.move_to_end(key)
        return value

    def remember(self, model: str, messages: list[Message], reply: str, ref: SessionRef) -> None:
        """Called after a reply was delivered in full: it is now its session's newest."""
        keys: list[str] = []
        for history in _histories_after(messages, reply):
            keys += (history_key(model, history), history_key(model, history, lenient=True))
        for key in keys:
            self._put(self._replies, key, ref)
        self._put(self._answered, history_key(model, messages), ref)
        previous = self._sessions.get(ref.session_id)
        seen = previous.seen if previous is not None else set()
        seen.update(_text_digest(m.text) for m in messages if m.role == "system")
        self._put(self._sessions, ref.session_id, _Session(ref, frozenset(keys), seen))

    def forget(self, session_id: str) -> None:
        """The session holds something the client did not get (a reply cut or failed): none
        of its histories can be continued or regenerated."""
        self._sessions.pop(session_id, None)

    def decide(
        self, model: str, messages: list[Message], continuity: Continuity = "lenient"
    ) -> Continue | Regenerate | None:
        if not messages:
            return None
        answered = self._get(self._answered, history_key(model, messages))
        if answered is not None and self._newest(answered) is not None:
            return Regenerate(answered)
        lenient = continuity == "lenient"
        for end in _reply_candidates(messages):
            prefix, rest = messages[: end + 1], messages[end + 1 :]
            key = history_key(model, prefix, lenient=lenient)
            ref = self._get(self._replies, key)
            session = None if ref is None else self._newest(ref, key)
            if ref is not None and session is not None:
                unseen = [
                    m.text for m in prefix
                    if lenient and m.role == "system" and _text_digest(m.text) not in session.seen
                ]  # fmt: skip
                return _continue(ref, list(dict.fromkeys(unseen)), prefix[-1], rest)
        return None

    def _newest(self, ref: SessionRef, key: str | None = None) -> _Session | None:
        session = self._sessions.get(ref.session_id)
        if session is None or session.tip != ref:
            return None
        if key is not None and key not in session.tip_keys:
            return None  # an older version of the reply (before a regenerate)
        self._sessions.move_to_end(ref.session_id)
        return session


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
