"""Which ids a request the LMArena page made carries (arena/capture.py, protocol §1.2–§1.5)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from lmarenarev.arena.capture import CAPTURE_URL_PATTERN, extract_ids

S = "0199a1ce-70b8-70a1-bcc3-3f04b155b850"
A = "0199a1ce-70b8-70a1-bcc3-3f04b155b8aa"
B = "0199a1ce-70b8-70a1-bcc3-3f04b155b8bb"
ORIGIN = "https://lmarena.ai"
RETRY = f"{ORIGIN}/nextjs-api/stream/retry-evaluation-session-message/{S}/messages/{A}"
CREATE = f"{ORIGIN}/nextjs-api/stream/create-evaluation"
POST = f"{ORIGIN}/nextjs-api/stream/post-to-evaluation/{S}"
MODERN = {"id": S, "modelAMessageId": A, "modelBMessageId": B, "userMessageId": "u"}
OLD_BODY = {
    "id": S,
    "messages": [
        {"role": "user", "id": "u", "participantPosition": "a"},
        {"role": "assistant", "id": A, "participantPosition": "a", "evaluationSessionId": S},
        {"role": "assistant", "id": B, "participantPosition": "b", "evaluationSessionId": S},
    ],
}


def body(value: dict[str, Any] | None) -> str | None:
    return None if value is None else json.dumps(value)


@pytest.mark.parametrize(
    ("url", "payload", "mode", "target", "expected"),
    [
        (RETRY, None, "direct_chat", "A", (S, A, "retry")),
        (RETRY + "?x=1", {}, "battle", "B", (S, A, "retry")),  # the clicked message, any side
        (RETRY.replace("/nextjs-api/", "/api/"), None, "direct_chat", "A", (S, A, "retry")),
        (CREATE, MODERN, "direct_chat", "B", (S, A, "create-evaluation")),  # direct: side A
        (CREATE, MODERN, "battle", "A", (S, A, "create-evaluation")),
        (CREATE, MODERN, "battle", "B", (S, B, "create-evaluation")),
        (POST, MODERN, "battle", "B", (S, B, "post-to-evaluation")),
        (POST, {"modelAMessageId": A}, "direct_chat", "A", (S, A, "post-to-evaluation")),
        (CREATE, OLD_BODY, "battle", "B", (S, B, "create-evaluation")),
        (CREATE, OLD_BODY, "direct_chat", "A", (S, A, "create-evaluation")),
    ],
)
def test_ids_are_extracted(
    url: str, payload: dict[str, Any] | None, mode: Any, target: Any, expected: tuple[str, ...]
) -> None:
    ids = extract_ids(url, body(payload), mode=mode, target=target)
    assert ids is not None
    assert (ids.session_id, ids.message_id, ids.route) == expected
    assert (ids.mode, ids.battle_target) == (mode, target)


@pytest.mark.parametrize(
    ("url", "payload"),
    [
        (CREATE, None),  # no body
        (CREATE, {"id": S}),  # no assistant message id
        (CREATE, {"modelAMessageId": A}),  # no session
        (CREATE, {"id": "not-a-uuid", "modelAMessageId": A}),
        (f"{ORIGIN}/nextjs-api/stream/retry-evaluation-session-message/{S}", None),
        (f"{ORIGIN}/nextjs-api/sign-up", {"id": S, "modelAMessageId": A}),
        (f"{ORIGIN}/nextjs-api/stream/stop/{S}/messages/{A}", None),
    ],
)
def test_requests_without_usable_ids(url: str, payload: dict[str, Any] | None) -> None:
    assert extract_ids(url, body(payload), mode="direct_chat", target="A") is None


def test_a_body_that_is_not_json_carries_nothing() -> None:
    assert extract_ids(CREATE, "{not json", mode="direct_chat", target="A") is None


@pytest.mark.parametrize(
    ("url", "matches"),
    [
        (RETRY, True),
        (CREATE, True),
        (CREATE + "?a=b", True),
        (POST, True),
        (f"{ORIGIN}/api/stream/create-evaluation", True),
        (f"{ORIGIN}/nextjs-api/stream/create-evaluations", False),
        (f"{ORIGIN}/nextjs-api/sign-up", False),
        (f"{ORIGIN}/?mode=direct", False),
    ],
)
def test_the_pattern_the_userscript_gets(url: str, matches: bool) -> None:
    assert bool(re.search(CAPTURE_URL_PATTERN, url)) is matches
