"""Images and files through the gateway, the fake worker and the fake LMArena: image
generations, image models in chat, downloads, the gallery, uploads through the tab."""

from __future__ import annotations

import asyncio
import base64
import io
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from PIL import Image

from lmarenarev.media.files.filebed_server import create_filebed_app
from testkit.fakes.arena import Reply
from testkit.fakes.serving import ServerThread
from testkit.fakes.worker import FakeWorker

from .conftest import Arena, RunningGateway, StartGateway

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def data_url_bytes(url: str) -> tuple[str, bytes]:
    head, _, payload = url.partition(",")
    return head, base64.b64decode(payload)


def painter_message(text: str = "paint a cat") -> list[Any]:
    return [{"role": "user", "content": text}]


# --- /v1/images/generations ------------------------------------------------------------------


@pytest.mark.parametrize("transport", ["ws", "poll"])
async def test_generate_urls_n2_in_parallel(
    gateway: RunningGateway, arena: Arena, transport: str
) -> None:
    arena.fake.image_host.delay = 0.05
    async with gateway.worker(arena, transport=transport):
        result = await gateway.client().images.generate(
            model="fake-painter", prompt="a lighthouse", n=2, size="1024x1024"
        )
    urls = [item.url for item in result.data]
    assert len(urls) == 2 and len(set(urls)) == 2
    assert all(url and "/__fake/images/" in url for url in urls)
    creates = [r for r in arena.fake.requests if r.kind == "create"]
    assert len(creates) == 2 and len({r.body["id"] for r in creates}) == 2
    assert all(r.body["modality"] == "image" for r in creates)
    assert all(r.body["userMessage"]["content"] == "a lighthouse" for r in creates)
    assert "aspectRatio" not in str(creates[0].body)  # not sent: no evidence how (docstring)


async def test_generate_b64_json_decodes_to_the_served_png(
    gateway: RunningGateway, arena: Arena, worker: FakeWorker
) -> None:
    result = await gateway.client().images.generate(
        model="fake-painter", prompt="a fox", n=2, response_format="b64_json"
    )
    assert len(result.data) == 2
    for item in result.data:
        assert item.b64_json is not None and item.url is None
        raw = base64.b64decode(item.b64_json)
        assert raw.startswith(PNG_MAGIC) and decode(raw).size == (16, 16)


async def test_generate_b64_json_converts_webp_per_settings(
    start_gateway: StartGateway, arena: Arena
) -> None:
    arena.fake.image_format = "webp"
    conversion = {"enabled": True, "target_format": "jpeg", "jpeg_quality": 80}
    gateway = start_gateway(image_return_format={"base64_conversion": conversion})
    async with gateway.worker(arena):
        result = await gateway.client().images.generate(
            model="fake-painter", prompt="x", response_format="b64_json"
        )
    assert result.data[0].b64_json is not None
    assert decode(base64.b64decode(result.data[0].b64_json)).format == "JPEG"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"model": "fake-gpt", "prompt": "x"}, "needs an image model"),
        ({"model": "fake-painter", "prompt": "x", "n": 0}, "n"),
        ({"model": "fake-painter", "prompt": "x", "n": 11}, "n"),
        ({"model": "fake-painter", "prompt": "x", "size": "big"}, "WIDTHxHEIGHT"),
        ({"model": "fake-painter", "prompt": ""}, "prompt"),
        ({"model": "fake-painter", "prompt": "x", "response_format": "png"}, "response_format"),
    ],
)
async def test_bad_generation_requests_get_400(
    gateway: RunningGateway, arena: Arena, body: dict[str, Any], message: str
) -> None:
    async with gateway.http() as http:
        response = await http.post("/v1/images/generations", json=body)
    assert response.status_code == 400, response.text
    assert message in response.json()["error"]["message"]
    assert [r for r in arena.fake.requests if r.kind == "create"] == []


async def test_size_is_checked_against_the_catalogue(
    gateway: RunningGateway, arena: Arena, worker: FakeWorker
) -> None:
    gateway.gateway.ops.catalog.models = arena.fake.models  # as read from the page
    async with gateway.http() as http:
        wide = await http.post("/v1/images/generations", json={
            "model": "fake-painter", "prompt": "x", "size": "1792x1024"})
        tall = await http.post("/v1/images/generations", json={
            "model": "fake-painter", "prompt": "x", "size": "1024x1792"})
    assert wide.status_code == 200
    assert tall.status_code == 400
    assert "1:1, 16:9" in tall.json()["error"]["message"]


async def test_a_text_reply_is_a_clear_error(
    gateway: RunningGateway, arena: Arena, worker: FakeWorker
) -> None:
    arena.fake.enqueue(Reply(text="I cannot draw that", images=[]))
    with pytest.raises(openai.APIStatusError) as caught:
        await gateway.client().images.generate(model="fake-painter", prompt="x")
    assert caught.value.status_code == 502
    assert "without an image" in caught.value.message


# --- image models in chat -------------------------------------------------------------------


async def test_chat_base64_mode_embeds_data_urls(
    start_gateway: StartGateway, arena: Arena
) -> None:
    gateway = start_gateway(image_return_format={"mode": "base64"})
    async with gateway.worker(arena):
        client = gateway.client()
        completion = await client.chat.completions.create(
            model="fake-painter", messages=painter_message()
        )
        stream = await client.chat.completions.create(
            model="fake-painter", messages=painter_message("another"), stream=True
        )
        streamed = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    for content in (completion.choices[0].message.content or "", streamed):
        assert content.startswith("![image](data:image/png;base64,")
        _, raw = data_url_bytes(content.removeprefix("![image](").removesuffix(")"))
        assert decode(raw).format == "PNG"


async def test_chat_url_mode_keeps_the_link_and_saves_locally(
    start_gateway: StartGateway, arena: Arena
) -> None:
    gateway = start_gateway(
        save_images_locally=True, local_save_format={"enabled": True, "format": "webp"}
    )
    async with gateway.worker(arena):
        completion = await gateway.client().chat.completions.create(
            model="fake-painter", messages=painter_message()
        )
    content = completion.choices[0].message.content or ""
    assert content.startswith("![image](http") and "/__fake/images/" in content
    root = gateway.gateway.home / "downloaded_images"
    await wait_for(lambda: len(list(root.glob("*/*.webp"))) == 1)
    (saved,) = root.glob("*/*.webp")
    assert decode(saved.read_bytes()).format == "WEBP"
    assert saved.parent.name.isdigit() and len(saved.parent.name) == 8  # YYYYMMDD
    async with gateway.http() as http:
        listing = (await http.get("/api/images/list")).json()
        served = await http.get(listing["images"][0]["url"])
    assert listing["total"] == 1 and listing["images"][0]["filename"] == saved.name
    assert listing["save_images_locally"] is True  # the dashboard says so when it is off
    assert served.status_code == 200 and served.content == saved.read_bytes()


async def test_failed_download_falls_back_to_the_url_and_logs_it(
    start_gateway: StartGateway, arena: Arena, caplog: pytest.LogCaptureFixture
) -> None:
    gateway = start_gateway(
        image_return_format={"mode": "base64"}, download_timeout={"max_retries": 1}
    )
    arena.fake.image_host.fail_next = 5
    async with gateway.worker(arena):
        completion = await gateway.client().chat.completions.create(
            model="fake-painter", messages=painter_message()
        )
    content = completion.choices[0].message.content or ""
    assert content.startswith("![image](http")
    assert arena.fake.image_host.failed == 2  # the first try and one retry
    assert "falling back" not in content and "download failed" in caplog.text


async def test_downloads_respect_max_concurrent_downloads(
    start_gateway: StartGateway, arena: Arena
) -> None:
    gateway = start_gateway(
        image_return_format={"mode": "base64"}, max_concurrent_downloads=2, worker_capacity=8
    )
    arena.fake.image_host.delay = 0.2
    async with gateway.worker(arena, capacity=8):
        result = await gateway.client().images.generate(
            model="fake-painter", prompt="many", n=6, response_format="b64_json"
        )
    assert len(result.data) == 6 and all(item.b64_json for item in result.data)
    assert arena.fake.image_host.served == 6
    assert arena.fake.image_host.max_active == 2


async def test_gallery_refuses_paths_outside_the_folder(
    gateway: RunningGateway, tmp_path: Path
) -> None:
    root = gateway.gateway.home / "downloaded_images" / "20250101"
    root.mkdir(parents=True)
    (root / "a.png").write_bytes(PNG_MAGIC)
    secret = gateway.gateway.home / "secret.png"
    secret.write_bytes(b"secret")
    (root / "link.png").symlink_to(secret)
    async with gateway.http() as http:
        ok = await http.get("/api/images/20250101/a.png")
        refused = [
            await http.get(path)
            for path in (
                "/api/images/20250101/link.png",
                "/api/images/%2e%2e/secret.png",
                "/api/images/20250101/%2e%2e%2f%2e%2e%2fsecret.png",
                "/api/images/%2Fetc%2Fpasswd",
                "/api/images/..%5csecret.png",
            )
        ]
    assert ok.status_code == 200 and ok.content == PNG_MAGIC
    assert [r.status_code for r in refused] == [404] * len(refused)
    assert all(b"secret" not in r.content or b"no image" in r.content for r in refused)


# --- attachments ----------------------------------------------------------------------------


async def test_attachments_are_uploaded_through_the_tab_once(
    client: openai.AsyncOpenAI, arena: Arena, worker: FakeWorker
) -> None:
    png = base64.b64encode(PNG_MAGIC + b"pixels").decode()
    pdf = base64.b64encode(b"%PDF-1.4 a document").decode()
    files: list[Any] = [
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{png}"}},
        {"type": "file", "file": {"filename": "doc.pdf",
                                  "file_data": f"data:application/pdf;base64,{pdf}"}},
    ]
    for text in ("read these", "and again"):  # two new conversations with the same files
        await client.chat.completions.create(model="fake-gpt", messages=[
            {"role": "user", "content": [{"type": "text", "text": text}, *files]}])
    uploads = arena.fake.uploads
    assert sorted(uploads.values()) == sorted([PNG_MAGIC + b"pixels", b"%PDF-1.4 a document"])
    creates = [r for r in arena.fake.requests if r.kind == "create"]
    first, second = (r.body["userMessage"]["experimental_attachments"] for r in creates)
    assert first == second  # the second request reused the cached uploads
    assert [a["contentType"] for a in first] == ["image/png", "application/pdf"]
    assert all("/r2/" in a["url"] and "X-Amz-Signature" in a["url"] for a in first)
    assert {a["name"] for a in first} == set(uploads)
    async with httpx.AsyncClient() as http:  # the signed links serve the bytes
        assert (await http.get(first[1]["url"])).content == b"%PDF-1.4 a document"
    actions = [r for r in arena.fake.requests if r.kind == "action"]
    assert len(actions) == 4  # generateUploadUrl + getSignedUrl per file, once


async def test_unknown_action_ids_are_read_again(
    client: openai.AsyncOpenAI, gateway: RunningGateway, arena: Arena, worker: FakeWorker
) -> None:
    gateway.gateway.media.uploader.action_ids = {
        "generateUploadUrl": "0" * 42, "getSignedUrl": "1" * 42}
    png = base64.b64encode(PNG_MAGIC).decode()
    await client.chat.completions.create(model="fake-gpt", messages=[{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{png}"}}]}])
    assert list(arena.fake.uploads.values()) == [PNG_MAGIC]
    assert gateway.gateway.media.uploader.action_ids["generateUploadUrl"] == arena.fake.action_ids[
        "generateUploadUrl"]


async def test_oversized_attachments_get_413_before_anything_is_sent(
    start_gateway: StartGateway, arena: Arena
) -> None:
    gateway = start_gateway(max_attachment_bytes=1000)
    data = base64.b64encode(b"\0" * 1001).decode()
    async with gateway.worker(arena):
        with pytest.raises(openai.APIStatusError) as caught:
            await gateway.client().chat.completions.create(model="fake-gpt", messages=[{
                "role": "user", "content": [{"type": "input_audio", "input_audio": {
                    "data": data, "format": "mp3"}}]}])
    assert caught.value.status_code == 413 and "max_attachment_bytes" in caught.value.message
    assert [r for r in arena.fake.requests if r.kind in ("create", "action", "upload")] == []


async def test_legacy_flow_sends_data_urls_inline(
    start_gateway: StartGateway, arena: Arena
) -> None:
    session, message = arena.fake.seed_session()
    gateway = start_gateway(arena_flow="legacy", session_id=session, message_id=message)
    png = f"data:image/png;base64,{base64.b64encode(PNG_MAGIC).decode()}"
    async with gateway.worker(arena):
        await gateway.client().chat.completions.create(model="fake-gpt", messages=[{
            "role": "user", "content": [{"type": "text", "text": "look"},
                                        {"type": "image_url", "image_url": {"url": png}}]}])
    (legacy,) = [r for r in arena.fake.requests if r.kind == "legacy"]
    assert legacy.body["messages"][-1]["experimental_attachments"][0]["url"] == png
    assert arena.fake.uploads == {}


async def wait_for(predicate: Any, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)


async def test_file_bed_takes_attachments_instead(
    start_gateway: StartGateway, arena: Arena, tmp_path: Path
) -> None:
    bed_app = create_filebed_app(tmp_path / "bed", key="k", retention=3600)
    with ServerThread(bed_app) as bed:
        gateway = start_gateway(
            file_bed_enabled=True,
            file_bed_selection_strategy="failover",
            file_bed_endpoints=[
                {"name": "down", "url": "http://127.0.0.1:9/upload"},
                {"name": "mine", "url": f"{bed.url}/upload", "api_key": "k"},
            ],
        )
        data = "data:text/plain;base64," + base64.b64encode(b"hello file bed").decode()
        file = {"type": "file", "file": {"filename": "a.txt", "file_data": data}}
        async with gateway.worker(arena):
            await gateway.client().chat.completions.create(model="fake-gpt", messages=[{
                "role": "user", "content": [{"type": "text", "text": "read"}, file]}])
        (create,) = [r for r in arena.fake.requests if r.kind == "create"]
        (attachment,) = create.body["userMessage"]["experimental_attachments"]
        assert attachment["url"].startswith(f"{bed.url}/uploads/")
        async with httpx.AsyncClient() as http:
            assert (await http.get(attachment["url"])).content == b"hello file bed"
    assert arena.fake.uploads == {}  # not LMArena's upload
    assert gateway.gateway.media.beds().health["down"].failures == 1


async def test_each_generated_image_is_a_row_in_the_request_log(
    gateway: RunningGateway, arena: Arena
) -> None:
    async with gateway.worker(arena):
        await gateway.client().images.generate(model="fake-painter", prompt="two owls", n=2)
    async with gateway.http() as http:
        for _ in range(200):  # the log is written by its own task: wait for both rows
            page = (await http.get("/api/monitor/logs/requests",
                                   params={"model": "fake-painter"})).json()
            if page["total"] >= 2:
                break
            await asyncio.sleep(0.05)
    rows = page["requests"]
    assert len(rows) == 2 and {row["status"] for row in rows} == {"ok"}
    assert all(row["id"].startswith("img-") for row in rows)
