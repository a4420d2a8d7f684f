"""Request bodies as LMArena clients send them, for tests that talk to the fake directly.

    body = create_body(model_id("fake-gpt"), "hi", token=arena.issue_token())
    httpx.post(url + CREATE_PATH, content=json.dumps(body),
               headers={"Content-Type": "text/plain;charset=UTF-8"}, cookies=cookies)
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from testkit.fakes.arena_ids import uuid4, uuid7

CREATE_PATH = "/nextjs-api/stream/create-evaluation"
TEXT_PLAIN = {"Content-Type": "text/plain;charset=UTF-8"}


def post_path(session_id: str) -> str:
    return f"/nextjs-api/stream/post-to-evaluation/{session_id}"


def retry_path(session_id: str, message_id: str) -> str:
    return f"/nextjs-api/stream/retry-evaluation-session-message/{session_id}/messages/{message_id}"


def create_body(model: str | None, text: str, *, token: str | None, mode: str = "direct",
                model_b: str | None = None, modality: str = "chat",
                session_id: str | None = None,
                attachments: list[dict[str, str]] | None = None) -> dict[str, Any]:
    """A §1.3 create-evaluation body with fresh UUIDv7 ids."""
    body: dict[str, Any] = {
        "id": session_id or uuid7(),
        "mode": mode,
        "userMessageId": uuid7(),
        "modelAMessageId": uuid7(),
        "modelBMessageId": uuid7(),
        "userMessage": {"content": text, "experimental_attachments": attachments or [],
                        "metadata": {}},
        "modality": modality,
        "recaptchaV3Token": token,
    }
    if model is not None:
        body["modelAId"] = model
    if model_b is not None:
        body["modelBId"] = model_b
    return body


def post_body(session_id: str, model: str | None, text: str, *, token: str | None
              ) -> dict[str, Any]:
    """A §1.4 post-to-evaluation body (G's shape: no `mode`)."""
    body = create_body(model, text, token=token, session_id=session_id)
    del body["mode"]
    return body


def legacy_body(session_id: str, history: list[tuple[str, str]], *, position: str = "a",
                model: str | None = None, image: bool = False) -> dict[str, Any]:
    """A §1.2 legacy retry body: `history` is [(role, content)], the last one pending."""
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    messages: list[dict[str, Any]] = []
    for index, (role, content) in enumerate(history):
        last = index == len(history) - 1
        messages.append({
            "role": role,
            "content": content,
            "id": uuid4(),
            "evaluationId": None,
            "evaluationSessionId": session_id,
            "parentMessageIds": [messages[-1]["id"]] if messages else [],
            "experimental_attachments": [],
            "failureReason": None,
            "metadata": None,
            "participantPosition": position,
            "createdAt": now,
            "updatedAt": now,
            "status": "pending" if last and not image else "success",
        })
    return {"messages": messages, "modelId": model}
