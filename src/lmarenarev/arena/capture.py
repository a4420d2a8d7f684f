"""The legacy flow's ids, read from a request the LMArena page made itself (§1.2–§1.5, §6.4).

The userscript reports the page's own requests whose URL matches `CAPTURE_URL_PATTERN` (a
JavaScript-compatible regex sent with `capture_ids`); `extract_ids` decides whether one of them
carries the ids the legacy flow retries, and which:

- the retry route `…/retry-evaluation-session-message/{session}/messages/{message}` (§1.2, §1.5):
  the message is the assistant message the user retried, exactly what the legacy flow needs;
- `create-evaluation` / `post-to-evaluation/{session}` (§1.3, §1.4): the body's `id` is the
  session, and `modelAMessageId` / `modelBMessageId` the assistant messages; battle mode takes
  the side of `target`. The pre-2025-11 body (`messages` with `participantPosition`) works too.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

Mode = Literal["direct_chat", "battle"]
Target = Literal["A", "B"]

# Both the current `/nextjs-api/stream/` and the pre-2025-08-27 `/api/stream/` prefixes (§0).
CAPTURE_URL_PATTERN = (
    r"/(?:nextjs-api|api)/stream/"
    r"(?:retry-evaluation-session-message|create-evaluation|post-to-evaluation)(?:[/?#]|$)"
)

_ID = r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}"
_RETRY_PATH = re.compile(
    rf"/(?:nextjs-api|api)/stream/retry-evaluation-session-message/({_ID})/messages/({_ID})/?$"
)
_CREATE_PATH = re.compile(r"/(?:nextjs-api|api)/stream/create-evaluation/?$")
_POST_PATH = re.compile(rf"/(?:nextjs-api|api)/stream/post-to-evaluation/({_ID})/?$")
_UUID = re.compile(rf"^{_ID}$")


@dataclass(frozen=True, slots=True)
class CapturedIds:
    session_id: str
    message_id: str
    mode: Mode
    battle_target: Target
    route: str  # "retry", "create-evaluation" or "post-to-evaluation"


def extract_ids(
    url: str, body: str | None, *, mode: Mode, target: Target
) -> CapturedIds | None:
    """The ids in one page request, or None when it carries none the legacy flow can use."""
    path = unquote(urlsplit(url).path)
    retry = _RETRY_PATH.search(path)
    if retry:
        return CapturedIds(retry.group(1), retry.group(2), mode, target, "retry")
    post = _POST_PATH.search(path)
    if post or _CREATE_PATH.search(path):
        route = "post-to-evaluation" if post else "create-evaluation"
        ids = _ids_from_body(_json_object(body), mode, target)
        if ids is None:
            return None
        session_id = ids[0] or (post.group(1) if post else "")
        if not session_id:
            return None
        return CapturedIds(session_id, ids[1], mode, target, route)
    return None


def _json_object(body: str | None) -> dict[str, Any]:
    try:
        data = json.loads(body or "")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _uuid(value: Any) -> str | None:
    return value if isinstance(value, str) and _UUID.match(value) else None


def _ids_from_body(body: dict[str, Any], mode: Mode, target: Target) -> tuple[str, str] | None:
    """(session id or "", assistant message id) of the side the legacy flow will retry."""
    side = target if mode == "battle" else "A"
    session = _uuid(body.get("id")) or ""
    message = _uuid(body.get(f"model{side}MessageId"))
    if message:
        return session, message
    return _ids_from_messages(body.get("messages"), side.lower(), session)


def _ids_from_messages(messages: Any, position: str, session: str) -> tuple[str, str] | None:
    """The pre-2025-11 body: the pending assistant message of `position` (§1.3)."""
    if not isinstance(messages, list):
        return None
    for message in messages:
        if not isinstance(message, dict) or message.get("role") != "assistant":
            continue
        if message.get("participantPosition", "a") != position:
            continue
        message_id = _uuid(message.get("id"))
        if message_id:
            return session or _uuid(message.get("evaluationSessionId")) or "", message_id
    return None
