"""Build LMArena requests: modern (protocol §1.3–§1.5) and legacy (§1.2).

Each `*Call` is a plan; `build()` makes a fresh `UpstreamRequest` with new ids, so a retry after
an empty reply never re-sends ids LMArena has already seen (§1.3 "Observed constraints").
`build(choices)` takes the `mode`/`modality` the site the request goes to takes (`site.Choices`:
configured, or learned after a refusal).

Since 2026 (§1.3–§1.5): `modelBMessageId` in every body, `mode` on post-to-evaluation too, and
the retry route's body `{"recaptchaV3Token"}` minted for its own action (`chat_retry`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from ..messages import Attachment, Message
from .ids import uuid4, uuid7
from .site import DEFAULT_CHOICES, Choices

STREAM_BASE = "/nextjs-api/stream"  # since 2025-08-27 (§0 timeline); same-origin path (§1.1)
# L sends text/plain like the site itself (§1.2, §1.10).
HEADERS = {"Content-Type": "text/plain;charset=UTF-8", "Accept": "*/*"}

ModelType = Literal["text", "image", "search"]


@dataclass(frozen=True, slots=True)
class Recaptcha:
    """Mint a v3 token in the page and put it in the body under `body_field` (§3.2)."""

    site_key: str
    action: str
    body_field: str = "recaptchaV3Token"

    def wire(self) -> dict[str, str]:
        return {"site_key": self.site_key, "action": self.action, "body_field": self.body_field}


@dataclass(frozen=True, slots=True)
class UpstreamRequest:
    method: str
    url: str
    body: dict[str, Any]
    recaptcha: Recaptcha | None
    side: str  # which participant's records carry the answer
    session_id: str
    assistant_message_id: str
    headers: dict[str, str] = field(default_factory=lambda: dict(HEADERS))
    # The site-dependent values this request carries: {"mode": …, "modality:<type>": …}.
    sent: dict[str, str] = field(default_factory=dict)

    def body_text(self) -> str:
        return json.dumps(self.body, ensure_ascii=False, separators=(",", ":"))


def _user_message(prompt: str, attachments: tuple[Attachment, ...]) -> dict[str, Any]:
    return {
        "content": prompt,
        "experimental_attachments": [a.wire() for a in attachments],
        "metadata": {},
    }


@dataclass(frozen=True, slots=True)
class CreateCall:
    """`POST /create-evaluation` (new session) or `/post-to-evaluation/{id}` (follow-up)."""

    model_id: str
    model_type: ModelType
    prompt: str
    attachments: tuple[Attachment, ...]
    recaptcha: Recaptcha
    session_id: str | None = None  # set → post-to-evaluation

    side = "a"

    def build(self, choices: Choices = DEFAULT_CHOICES) -> UpstreamRequest:
        session_id = self.session_id or uuid7()
        assistant_id = uuid7()
        modality = choices.modality(self.model_type)
        body: dict[str, Any] = {
            "id": session_id,
            "mode": choices.mode,  # on post-to-evaluation too (§1.4 2026)
            "modelAId": self.model_id,
            "userMessageId": uuid7(),
            "modelAMessageId": assistant_id,
            "modelBMessageId": uuid7(),  # always, direct chat included (§1.3 2026)
            "userMessage": _user_message(self.prompt, self.attachments),
            "modality": modality,
        }
        if self.session_id is None:
            url = f"{STREAM_BASE}/create-evaluation"
        else:
            url = f"{STREAM_BASE}/post-to-evaluation/{session_id}"
        sent = {"mode": choices.mode, f"modality:{self.model_type}": modality}
        return UpstreamRequest(
            "POST", url, body, self.recaptcha, "a", session_id, assistant_id, sent=sent
        )


@dataclass(frozen=True, slots=True)
class RegenerateCall:
    """Regenerate an answer we delivered: `PUT /retry-evaluation-session-message` (§1.5); the
    body is the token, minted for the retry's own action (`chat_retry`, §1.5 2026)."""

    session_id: str
    assistant_message_id: str
    recaptcha: Recaptcha
    side = "a"

    def build(self, choices: Choices = DEFAULT_CHOICES) -> UpstreamRequest:
        url = (
            f"{STREAM_BASE}/retry-evaluation-session-message/{self.session_id}"
            f"/messages/{self.assistant_message_id}"
        )
        return UpstreamRequest(
            "PUT", url, {}, self.recaptcha, "a", self.session_id, self.assistant_message_id
        )


@dataclass(frozen=True, slots=True)
class Injection:
    role: str
    content: str
    position: str  # participantPosition "a" | "b"


@dataclass(frozen=True, slots=True)
class LegacyCall:
    """The seed's flow (§1.2): the whole history through the retry route of captured ids."""

    session_id: str
    message_id: str
    model_id: str | None
    model_type: ModelType
    mode: Literal["direct_chat", "battle"]
    battle_target: Literal["A", "B"]
    messages: tuple[Message, ...]
    injection: Injection | None = None
    # The 2026 retry route wants a `chat_retry` token (§1.5); the 2025 one ignores it.
    recaptcha: Recaptcha | None = None

    @property
    def side(self) -> str:
        """The side whose records carry the answer: the battle target; in direct_chat the
        position of the last message sent (an injection on "b", as mogai's assistant_guide and
        system_prompt presets are, is answered on b; L reads both sides, §2.2)."""
        if self.mode == "battle":
            return self.battle_target.lower()
        return self.injection.position if self.injection is not None else "a"

    def _position(self, role: str) -> str:
        # §6.6: battle → every message gets the target; direct_chat → system "b", others "a".
        if self.mode == "battle":
            return self.battle_target.lower()
        return "b" if role == "system" else "a"

    def build(self, choices: Choices = DEFAULT_CHOICES) -> UpstreamRequest:
        now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        items: list[tuple[str, str, tuple[Attachment, ...], str]] = [
            (m.role, m.text, m.attachments, self._position(m.role)) for m in self.messages
        ]
        if self.injection is not None:
            position = self._position("user") if self.mode == "battle" else self.injection.position
            items.append((self.injection.role, self.injection.content, (), position))
        wire: list[dict[str, Any]] = []
        parent: str | None = None
        for index, (role, text, attachments, position) in enumerate(items):
            message_id = uuid4()
            last = index == len(items) - 1
            pending = last and self.model_type != "image"  # image requests: all "success"
            wire.append(
                {
                    "role": role,
                    "content": text or " ",  # the server replaces empty user text by a space
                    "id": message_id,
                    "evaluationId": None,
                    "evaluationSessionId": self.session_id,
                    "parentMessageIds": [parent] if parent else [],
                    "experimental_attachments": [a.wire() for a in attachments],
                    "failureReason": None,
                    "metadata": None,
                    "participantPosition": position,
                    "createdAt": now,
                    "updatedAt": now,
                    "status": "pending" if pending else "success",
                }
            )
            parent = message_id
        url = (
            f"{STREAM_BASE}/retry-evaluation-session-message/{self.session_id}"
            f"/messages/{self.message_id}"
        )
        body = {"messages": wire, "modelId": self.model_id}
        return UpstreamRequest(
            "PUT", url, body, self.recaptcha, self.side, self.session_id, self.message_id
        )


ArenaCall = CreateCall | RegenerateCall | LegacyCall
