"""Upstream request bodies for the modern (§1.3–§1.5) and legacy (§1.2) flows."""

from __future__ import annotations

import itertools
import json
import uuid

from lmarenarev.arena.ids import uuid7
from lmarenarev.arena.requests import CreateCall, Injection, LegacyCall, Recaptcha, RegenerateCall
from lmarenarev.arena.site import DEFAULT_MODALITIES, Choices
from lmarenarev.messages import Attachment, Message

RC = Recaptcha("site-key-0123456789abc", "chat_submit")


def version(value: str) -> int:
    parsed = uuid.UUID(value)
    assert parsed.variant == uuid.RFC_4122
    return parsed.version or 0


def test_uuid7_is_time_ordered_version_7() -> None:
    first, second = uuid7(1_700_000_000_000), uuid7(1_700_000_000_001)
    assert version(first) == 7 and first < second
    assert first.startswith("018bcfe5-6800")


def test_create_evaluation_body() -> None:
    attachment = Attachment("a.png", "image/png", "data:image/png;base64,AAAA", 3)
    call = CreateCall("model-1", "image", "draw", (attachment,), RC)
    request = call.build(Choices("direct", DEFAULT_MODALITIES))
    body = json.loads(request.body_text())
    assert (request.method, request.url) == ("POST", "/nextjs-api/stream/create-evaluation")
    assert body["mode"] == "direct" and body["modelAId"] == "model-1"
    assert body["modality"] == "image"
    assert body["userMessage"] == {
        "content": "draw",
        "experimental_attachments": [
            {"name": "a.png", "contentType": "image/png", "url": "data:image/png;base64,AAAA"}
        ],
        "metadata": {},
    }
    ids = [body[k] for k in ("id", "userMessageId", "modelAMessageId", "modelBMessageId")]
    assert all(version(i) == 7 for i in ids) and len(set(ids)) == 4
    assert (
        request.session_id == body["id"] and request.assistant_message_id == body["modelAMessageId"]
    )
    assert request.recaptcha == RC and request.headers["Content-Type"].startswith("text/plain")


def test_every_build_uses_fresh_ids() -> None:
    call = CreateCall("m", "text", "p", (), RC)
    assert call.build().body["id"] != call.build().body["id"]


def test_the_2026_defaults_direct_battle_and_model_b_message_id_in_direct_chat() -> None:
    """§1.3 2026: direct-battle for one model, and modelBMessageId always."""
    request = CreateCall("m", "text", "p", (), RC).build()
    assert request.body["mode"] == "direct-battle" and request.body["modality"] == "chat"
    assert version(request.body["modelBMessageId"]) == 7
    assert request.sent == {"mode": "direct-battle", "modality:text": "chat"}


def test_post_to_evaluation_keeps_the_session_and_carries_the_mode() -> None:
    """§1.4 2026: post-to-evaluation carries `mode` too."""
    request = CreateCall("m", "search", "next", (), RC, session_id="sess").build()
    assert request.url == "/nextjs-api/stream/post-to-evaluation/sess"
    assert request.body["id"] == "sess" and request.body["mode"] == "direct-battle"
    assert request.body["modality"] == "search"


def test_a_site_choice_changes_mode_and_modality_per_model_type() -> None:
    choices = Choices("direct", {**DEFAULT_MODALITIES, "text": "text"})
    text = CreateCall("m", "text", "p", (), RC).build(choices).body
    image = CreateCall("m", "image", "p", (), RC).build(choices).body
    assert (text["mode"], text["modality"]) == ("direct", "text")
    assert image["modality"] == "image"


def test_retry_route_mints_its_token_for_the_retry_action() -> None:
    """§1.5 2026: the body is the token, minted with the retry's own action."""
    retry = Recaptcha("site-key-0123456789abc", "chat_retry")
    request = RegenerateCall("sess", "msg", retry).build()
    assert (request.method, request.url) == (
        "PUT",
        "/nextjs-api/stream/retry-evaluation-session-message/sess/messages/msg",
    )
    assert request.body == {}  # the tab adds {"recaptchaV3Token": …} when it mints
    assert request.recaptcha == retry and retry.wire()["body_field"] == "recaptchaV3Token"


def history() -> tuple[Message, ...]:
    return (
        Message("system", "sys"),
        Message("user", "hi"),
        Message("assistant", "yo"),
        Message("user", ""),
    )


def test_legacy_direct_chat_body() -> None:
    call = LegacyCall("sess", "msg", "model-1", "text", "direct_chat", "A", history())
    request = call.build()
    assert request.url.endswith("/retry-evaluation-session-message/sess/messages/msg")
    assert request.recaptcha is None and request.side == "a"
    body = request.body
    assert body["modelId"] == "model-1"
    messages = body["messages"]
    assert [m["participantPosition"] for m in messages] == ["b", "a", "a", "a"]
    assert [m["status"] for m in messages] == ["success", "success", "success", "pending"]
    assert messages[-1]["content"] == " "
    assert messages[0]["parentMessageIds"] == []
    for previous, message in itertools.pairwise(messages):
        assert message["parentMessageIds"] == [previous["id"]]
    assert all(version(m["id"]) == 4 and m["evaluationSessionId"] == "sess" for m in messages)


def test_legacy_battle_targets_one_side_and_image_requests_are_all_success() -> None:
    call = LegacyCall(
        "s", "m", None, "image", "battle", "B", history(), Injection("user", " ", "a")
    )
    request = call.build()
    messages = request.body["messages"]
    assert request.side == "b" and request.body["modelId"] is None
    assert {m["participantPosition"] for m in messages} == {"b"}
    assert {m["status"] for m in messages} == {"success"}
    assert len(messages) == 5


def test_legacy_bypass_injection_is_appended_last_and_pending() -> None:
    call = LegacyCall(
        "s", "m", "x", "text", "direct_chat", "A", history(), Injection("user", ".", "a")
    )
    last = call.build().body["messages"][-1]
    assert (last["role"], last["content"], last["status"]) == ("user", ".", "pending")
