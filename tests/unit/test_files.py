"""Files: the seed's attachment tricks, server-action parsing, file beds (strategies, cooldown,
recovery) against fake file beds, the built-in file-bed server, data URLs."""

from __future__ import annotations

import base64
import os
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from lmarenarev.arena.actions import ActionFailed, action_result, chunk_urls, find_action_ids
from lmarenarev.chat.conversation import ConversationStore
from lmarenarev.chat.plan import ChatService
from lmarenarev.chat.shaping import (
    assistant_images,
    bypass_images,
    split_image_attachments,
    take_bypass_suffix,
)
from lmarenarev.config.media import FileBedEndpoint
from lmarenarev.config.settings import Settings
from lmarenarev.errors import InvalidRequest
from lmarenarev.media.files.arena_upload import signed_url_expiry
from lmarenarev.media.files.attach import data_url_bytes
from lmarenarev.media.files.filebed import (
    AllFileBedsFailed,
    FileBeds,
    endpoints_from_settings,
    link_from_response,
    seed_download_url,
)
from lmarenarev.media.files.filebed_server import create_filebed_app, parse_duration, prune
from lmarenarev.messages import Attachment, Message
from lmarenarev.models.files import ModelEntry
from lmarenarev.openai_schema import ChatCompletionRequest
from testkit.fakes.arena_actions import DEFAULT_ACTION_IDS
from testkit.fakes.arena_page import ChunkData, app_chunk_js
from testkit.fakes.filebed import FakeFileBeds

PNG = Attachment("a.png", "image/png", "data:image/png;base64,iVBORw0K", 6)
PDF = Attachment("d.pdf", "application/pdf", "data:application/pdf;base64,JVBE", 3)


# --- markdown images in assistant history ----------------------------------------------------


def test_assistant_markdown_images_become_attachments() -> None:
    data = "data:image/png;base64," + base64.b64encode(b"\x89PNG....").decode()
    text = f"Here: ![cat](https://cdn.example/cat.webp) and ![](  {data} ) done"
    shaped = assistant_images(Message("assistant", text))
    link, inline = shaped.attachments
    assert (link.url, link.content_type) == ("https://cdn.example/cat.webp", "image/webp")
    assert (inline.url, inline.content_type, inline.size) == (data, "image/png", 8)
    assert "![cat](https://cdn.example/cat.webp)" in shaped.text  # a link stays readable
    assert data not in shaped.text and f"[image: {inline.name}]" in shaped.text
    assert assistant_images(Message("assistant", text)) == shaped  # deterministic names


def test_user_messages_and_plain_text_are_left_alone() -> None:
    user = Message("user", "![x](https://a.example/x.png)")
    plain = Message("assistant", "no images ![not a link]")
    assert assistant_images(user) == user and assistant_images(plain) == plain


def chat(**settings: Any) -> ChatService:
    models = {"painter": ModelEntry("painter", "id-p", "image"),
              "gpt": ModelEntry("gpt", "id-g", "text")}
    return ChatService(Settings.model_validate(settings), models, {}, ConversationStore(10))


def history_with_image() -> list[dict[str, Any]]:
    return [
        {"role": "user", "content": "draw a cat"},
        {"role": "assistant", "content": "![image](https://cdn.example/1.png)"},
        {"role": "user", "content": "now make it a dog"},
    ]


def test_a_folded_history_carries_the_assistant_image() -> None:
    request = ChatCompletionRequest.model_validate(
        {"model": "painter", "messages": history_with_image()})
    body = chat().plan(request).call.build().body
    (attachment,) = body["userMessage"]["experimental_attachments"]
    assert attachment["url"] == "https://cdn.example/1.png"


def test_legacy_history_sends_the_image_on_the_assistant_message() -> None:
    request = ChatCompletionRequest.model_validate(
        {"model": "painter", "messages": history_with_image()})
    svc = chat(arena_flow="legacy", session_id="s", message_id="m")
    wire = svc.plan(request).call.build().body["messages"]
    assert wire[1]["role"] == "assistant"
    assert wire[1]["experimental_attachments"][0]["url"] == "https://cdn.example/1.png"


# --- --bypass and image_attachment_bypass ------------------------------------------------------


def test_bypass_suffix_needs_images() -> None:
    plain = [Message("user", "hello --bypass")]
    assert take_bypass_suffix(plain) == (plain, False)
    shaped, found = take_bypass_suffix([Message("user", "look --bypass  ", (PNG,))])
    assert found and shaped == [Message("user", "look", (PNG,))]


def test_bypass_moves_images_to_a_fake_assistant_message() -> None:
    messages = [Message("user", "look", (PNG,))]
    assert bypass_images(messages) == [
        Message("user", "Hi"),
        Message("assistant", "", (PNG,)),
        Message("user", "look"),
    ]
    longer = [Message("user", "a"), Message("assistant", "b"), Message("user", "c", (PNG,))]
    assert bypass_images(longer) == [
        Message("user", "a"), Message("assistant", "b"),
        Message("assistant", "", (PNG,)), Message("user", "c"),
    ]


def test_bypass_in_the_legacy_flow() -> None:
    svc = chat(arena_flow="legacy", session_id="s", message_id="m")
    request = ChatCompletionRequest.model_validate({"model": "gpt", "messages": [{
        "role": "user", "content": [{"type": "text", "text": "what is it --bypass"},
                                    {"type": "image_url", "image_url": {"url": PNG.url}}]}]})
    wire = svc.plan(request).call.build().body["messages"]
    assert [(m["role"], m["content"]) for m in wire] == [
        ("user", "Hi"), ("assistant", " "), ("user", "what is it")]
    assert wire[1]["experimental_attachments"][0]["url"] == PNG.url
    assert wire[2]["experimental_attachments"] == []


def test_bypass_marker_is_removed_in_the_modern_flow() -> None:
    request = ChatCompletionRequest.model_validate({"model": "gpt", "messages": [{
        "role": "user", "content": [{"type": "text", "text": "what is it --bypass"},
                                    {"type": "image_url", "image_url": {"url": PNG.url}}]}]})
    body = chat().plan(request).call.build().body
    assert body["userMessage"]["content"] == "what is it"
    assert len(body["userMessage"]["experimental_attachments"]) == 1


def test_image_attachment_bypass_splits_images_from_text() -> None:
    messages = [Message("user", "make it blue", (PNG, PDF))]
    assert split_image_attachments(messages) == [
        Message("user", " ", (PNG, PDF)), Message("user", "make it blue")]
    no_text = [Message("user", "  ", (PNG,))]
    assert split_image_attachments(no_text) == no_text
    svc = chat(arena_flow="legacy", session_id="s", message_id="m",
               image_attachment_bypass_enabled=True)
    request = ChatCompletionRequest.model_validate({"model": "painter", "messages": [{
        "role": "user", "content": [{"type": "text", "text": "bluer"},
                                    {"type": "image_url", "image_url": {"url": PNG.url}}]}]})
    wire = svc.plan(request).call.build().body["messages"]
    assert [m["content"] for m in wire] == [" ", "bluer"]


# --- server actions --------------------------------------------------------------------------


def test_action_ids_are_found_in_the_fake_pages_chunk() -> None:
    chunk = app_chunk_js(ChunkData("key", "anon", "https://x", DEFAULT_ACTION_IDS[
        "generateUploadUrl"], DEFAULT_ACTION_IDS["getSignedUrl"]))
    assert find_action_ids(chunk) == dict(DEFAULT_ACTION_IDS)


def test_action_ids_in_minified_nextjs_output() -> None:
    text = ('let a=(0,n.createServerReference)("7012303914af71fce235a732cde90253f7e2986f2b",'
            'n.callServer,void 0,n.findSourceMapURL,"generateUploadUrl");'
            'createServerReference("tooshort",x,"getSignedUrl")')
    assert find_action_ids(text) == {
        "generateUploadUrl": "7012303914af71fce235a732cde90253f7e2986f2b"}


def test_chunk_urls_from_scripts_and_flight_data() -> None:
    page = ('<script src="/_next/static/chunks/main-1.js"></script>'
            '<script>self.__next_f.push([1,"1:I[7,[\\"static/chunks/app-2.js\\"],\\"E\\"]"])'
            '</script>')
    srcs = ["https://lmarena.ai/_next/static/chunks/webpack-0.js", "https://x/recaptcha.js"]
    assert chunk_urls(page, srcs) == [
        "/_next/static/chunks/webpack-0.js", "/_next/static/chunks/main-1.js",
        "/_next/static/chunks/app-2.js"]


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ('0:{"a":1}\n1:{"success":true,"data":{"url":"u"}}\n', None),
        ('0:{}\n1:{"success":false,"error":"nope"}\n', "nope"),
        ("0:{}\n", "no result line"),
        ("1:not json\n", "not JSON"),
    ],
)
def test_action_results(text: str, error: str | None) -> None:
    if error is None:
        assert action_result(text) == {"url": "u"}
    else:
        with pytest.raises(ActionFailed, match=error):
            action_result(text)


def test_signed_url_expiry() -> None:
    url = "https://r2.example/k?X-Amz-Date=20250101T000000Z&X-Amz-Expires=3600&X-Amz-Signature=s"
    assert signed_url_expiry(url, 0) == 1735689600 + 3600
    assert signed_url_expiry("https://r2.example/k", 42.0) == 42.0


@pytest.mark.parametrize(
    ("url", "data"),
    [
        ("data:image/png;base64,iVBORw==", b"\x89PNG"),
        ("data:text/plain;charset=utf-8,hi%20there", b"hi there"),
        ("data:,x", b"x"),
    ],
)
def test_data_url_bytes(url: str, data: bytes) -> None:
    assert data_url_bytes(url) == data


def test_a_bad_data_url_is_400() -> None:
    with pytest.raises(InvalidRequest):
        data_url_bytes("data:image/png;base64")


# --- file beds -----------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def endpoint(name: str, **fields: Any) -> FileBedEndpoint:
    return FileBedEndpoint(name=name, url=f"http://{name}/upload", **fields)


def beds(fake: FakeFileBeds, strategy: Any, clock: Clock, *names: str) -> FileBeds:
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=fake.app))
    return FileBeds([endpoint(n) for n in names], strategy, 60.0, lambda: client, clock=clock)


async def test_failover_uses_the_first_working_bed_then_recovers() -> None:
    fake, clock = FakeFileBeds("a", "b"), Clock()
    pool = beds(fake, "failover", clock, "a", "b")
    fake.beds["a"].failing = True
    assert await pool.upload(b"1", "x.png", "image/png") == "http://b/uploads/f1.bin"
    assert await pool.upload(b"2", "y.png", "image/png") == "http://b/uploads/f2.bin"
    assert fake.beds["a"].attempts == 1  # cooled down: not tried for the second upload
    fake.beds["a"].failing = False
    clock.now += 61  # the cooldown is over: the first bed is back
    assert await pool.upload(b"3", "z.png", "image/png") == "http://a/uploads/f1.bin"
    assert fake.beds["a"].uploads == [("z.png", b"3")]


async def test_round_robin_takes_turns() -> None:
    fake, clock = FakeFileBeds("a", "b", "c"), Clock()
    pool = beds(fake, "round_robin", clock, "a", "b", "c")
    for i in range(6):
        await pool.upload(bytes([i]), f"{i}.bin", "application/octet-stream")
    assert [len(fake.beds[n].uploads) for n in "abc"] == [2, 2, 2]


async def test_round_robin_skips_a_failing_bed() -> None:
    fake, clock = FakeFileBeds("a", "b", "c"), Clock()
    fake.beds["b"].failing = True
    pool = beds(fake, "round_robin", clock, "a", "b", "c")
    for i in range(6):
        await pool.upload(bytes([i]), f"{i}.bin", "application/octet-stream")
    assert fake.beds["b"].attempts == 1 and len(fake.beds["b"].uploads) == 0
    assert len(fake.beds["a"].uploads) + len(fake.beds["c"].uploads) == 6


async def test_random_spreads_and_survives_a_failing_bed() -> None:
    fake, clock = FakeFileBeds("a", "b", "c"), Clock()
    fake.beds["c"].failing = True
    pool = beds(fake, "random", clock, "a", "b", "c")
    pool.rng.seed(5)
    for i in range(30):
        await pool.upload(bytes([i]), f"{i}.bin", "application/octet-stream")
    assert len(fake.beds["a"].uploads) > 5 and len(fake.beds["b"].uploads) > 5
    assert fake.beds["c"].attempts <= 1


async def test_every_bed_failing_is_an_error_naming_them() -> None:
    fake, clock = FakeFileBeds("a", "b"), Clock()
    fake.beds["a"].failing = fake.beds["b"].failing = True
    pool = beds(fake, "failover", clock, "a", "b")
    with pytest.raises(AllFileBedsFailed) as caught:
        await pool.upload(b"1", "x", "image/png")
    assert "a: " in caught.value.message and "b: " in caught.value.message
    assert caught.value.status == 502
    fake.beds["b"].failing = False  # every bed cooling: they are still tried, soonest first
    assert await pool.upload(b"1", "x", "image/png") == "http://b/uploads/f1.bin"


async def test_form_uploads_with_a_key_and_a_json_path() -> None:
    fake, clock = FakeFileBeds("img"), Clock()
    fake.beds["img"].key = "k"
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=fake.app))
    form = endpoint("img", upload_mode="form", api_key="k", api_key_field="key",
                    json_url_key="data.url")
    pool = FileBeds([form], "random", 60, lambda: client, clock=clock)
    assert await pool.upload(b"png!", "a.png", "image/png") == "http://img/uploads/1"
    assert fake.beds["img"].uploads == [("a.png", b"png!")]


@pytest.mark.parametrize(
    ("fields", "text", "expected"),
    [
        ({}, '{"success": true, "filename": "f.png"}', "http://h:5104/uploads/f.png"),
        ({}, '{"success": true, "url": "https://x/y"}', "https://x/y"),
        ({"json_url_key": "data.url"}, '{"data": {"url": "https://i.example/1"}}',
         "https://i.example/1"),
        ({"response_type": "text"}, "https://0x0.example/abc.png\n", "https://0x0.example/abc.png"),
    ],
)
def test_links_in_answers(fields: dict[str, Any], text: str, expected: str) -> None:
    bed = FileBedEndpoint(name="b", url="http://h:5104/upload", **fields)
    assert link_from_response(bed, text) == expected


def test_seed_keys_make_one_endpoint() -> None:
    (bed,) = endpoints_from_settings([], "http://127.0.0.1:5104/upload", "k")
    assert bed.url == "http://127.0.0.1:5104/upload" and bed.api_key == "k"
    assert endpoints_from_settings([], "", "") == []
    assert seed_download_url("https://h/fb/upload", "x.png") == "https://h/fb/uploads/x.png"


# --- the built-in file bed -------------------------------------------------------------------


def test_filebed_server_roundtrip_and_key(tmp_path: Path) -> None:
    app = create_filebed_app(tmp_path / "files", key="secret", retention=3600)
    data = "data:application/pdf;base64," + base64.b64encode(b"%PDF-1.4").decode()
    with TestClient(app) as client:
        refused = client.post("/upload", json={"file_name": "a.pdf", "file_data": data})
        stored = client.post("/upload", json={
            "file_name": "a.pdf", "file_data": data, "api_key": "secret"}).json()
        served = client.get(f"/uploads/{stored['filename']}")
        traversal = client.get("/uploads/..%2f..%2fetc%2fpasswd")
    assert refused.status_code == 401
    assert stored["success"] is True and stored["filename"].endswith(".pdf")
    assert served.content == b"%PDF-1.4"
    assert traversal.status_code == 404


def test_filebed_retention_deletes_old_files(tmp_path: Path) -> None:
    old, new = tmp_path / ("a" * 32 + ".png"), tmp_path / ("b" * 32 + ".png")
    for path in (old, new):
        path.write_bytes(b"x")
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    assert prune(tmp_path, 3600, time.time()) == 1
    assert not old.exists() and new.exists()


@pytest.mark.parametrize(("text", "seconds"), [("3600", 3600), ("90m", 5400), ("24h", 86400),
                                               ("7d", 604800)])
def test_retention_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds
