"""OpenAI messages → normalized messages and attachments (seed rules, protocol §6.6)."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from lmarenarev.errors import InvalidRequest
from lmarenarev.messages import chat_entries, merge_system_messages
from lmarenarev.openai_schema import ChatMessage
from lmarenarev.tools.history import rewrite

PNG = "data:image/png;base64," + base64.b64encode(b"\x89PNG fake").decode()


def norm(*messages: dict[str, Any], tavern: bool = False, strip: bool = True) -> list[Any]:
    parsed = [ChatMessage.model_validate(m) for m in messages]
    messages = rewrite(chat_entries(parsed, strip_history_reasoning=strip))
    return merge_system_messages(messages) if tavern else messages


def test_developer_becomes_system() -> None:
    (message,) = norm({"role": "developer", "content": "rules"})
    assert (message.role, message.text) == ("system", "rules")


def test_text_parts_are_joined_and_images_become_attachments() -> None:
    (message,) = norm(
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "look"},
                {"type": "image_url", "image_url": {"url": PNG}},
                {"type": "text", "text": "here"},
            ],
        }
    )
    assert message.text == "look\n\nhere"
    (attachment,) = message.attachments
    assert attachment.content_type == "image/png" and attachment.url == PNG
    assert attachment.size == len(b"\x89PNG fake") and attachment.name.endswith(".png")


def test_file_and_audio_parts() -> None:
    raw = base64.b64encode(b"%PDF-1.4").decode()
    (message,) = norm(
        {
            "role": "user",
            "content": [
                {"type": "file", "file": {"file_data": raw, "filename": "doc.pdf"}},
                {"type": "input_audio", "input_audio": {"data": raw, "format": "mp3"}},
            ],
        }
    )
    pdf, audio = message.attachments
    assert (pdf.name, pdf.content_type) == ("doc.pdf", "application/pdf")
    assert audio.content_type == "audio/mp3" and audio.url.startswith("data:audio/mp3;base64,")


@pytest.mark.parametrize(
    ("part", "message"),
    [
        ({"type": "video_url", "video_url": "x"}, "unsupported type 'video_url'"),
        ({"type": "image_url", "image_url": {"url": "ftp://x"}}, "data URLs"),
        ({"type": "image_url", "image_url": {"url": "data:image/png;base64,@@@"}}, "base64"),
        ({"type": "text"}, "string 'text'"),
    ],
)
def test_bad_parts_are_rejected_with_a_clear_message(part: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidRequest, match=message):
        norm({"role": "user", "content": [part]})


def test_tavern_mode_merges_system_prompts_into_one_leading_message() -> None:
    messages = norm(
        {"role": "user", "content": "a"},
        {"role": "system", "content": "one"},
        {"role": "system", "content": "two"},
        tavern=True,
    )
    assert [(m.role, m.text) for m in messages] == [("system", "one\n\ntwo"), ("user", "a")]


def test_reasoning_is_stripped_from_assistant_history_when_asked() -> None:
    reply = {"role": "assistant", "content": "<think>secret</think>\n\nanswer"}
    assert norm(reply)[0].text == "answer"
    assert "secret" in norm(reply, strip=False)[0].text
