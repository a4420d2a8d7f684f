"""Images and files end to end: the official client → `lmarenarev serve` → the userscript in
Chromium → the fake LMArena, whose image host stands for LMArena's CDN (another host, reached by
the gateway's own downloads over TLS with the fake's CA)."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterator

import pytest
from PIL import Image

from .conftest import Arena, GatewayProcess, OpenTab, StartGateway

pytestmark = pytest.mark.e2e


def decoded(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


@pytest.fixture(scope="module")
def media_gateway(start_gateway: StartGateway, arena: Arena) -> GatewayProcess:
    assert arena.server.ssl is not None
    conversion = {"mode": "base64", "base64_conversion": {"target_format": "png"}}
    return start_gateway(
        "--set", f"download_ca_bundle={arena.server.ssl.certfile}",
        "--set", f"image_return_format={json.dumps(conversion)}",
        "--set", "worker_ping_interval_seconds=1",
    )


@pytest.fixture
def cdn(arena: Arena) -> Iterator[None]:
    """Image links on 127.0.0.1 (the browser's lmarena.ai name does not resolve for the gateway,
    as LMArena's CDN is another host than the page)."""
    arena.fake.image_base = f"https://127.0.0.1:{arena.server.port}"
    yield
    arena.fake.image_base = None
    arena.fake.image_format = "png"


@pytest.mark.usefixtures("cdn")
def test_images_generate_url_and_b64_json(
    media_gateway: GatewayProcess, open_tab: OpenTab, arena: Arena
) -> None:
    open_tab(media_gateway)
    client = media_gateway.client()
    by_url = client.images.generate(model="fake-painter", prompt="a red boat", n=2)
    encoded = client.images.generate(
        model="fake-painter", prompt="a blue boat", n=2, response_format="b64_json"
    )
    urls = [item.url for item in by_url.data]
    assert len(set(urls)) == 2 and all(u and "/__fake/images/" in u for u in urls)
    assert len(encoded.data) == 2
    for item in encoded.data:
        assert item.b64_json is not None
        assert decoded(base64.b64decode(item.b64_json)).format == "PNG"
    creates = [r for r in arena.fake.requests if r.kind == "create"]
    assert len(creates) == 4 and all(r.body["modality"] == "image" for r in creates)
    assert arena.fake.image_host.served == 2  # only b64_json downloads


@pytest.mark.usefixtures("cdn")
def test_an_image_model_through_chat_as_a_data_url(
    media_gateway: GatewayProcess, open_tab: OpenTab, arena: Arena
) -> None:
    arena.fake.image_format = "webp"  # served as WebP, converted to PNG by the gateway
    open_tab(media_gateway)
    stream = media_gateway.client().chat.completions.create(
        model="fake-painter", messages=[{"role": "user", "content": "a green hill"}], stream=True
    )
    content = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert content.startswith("![image](data:image/png;base64,") and content.endswith(")")
    payload = content.removeprefix("![image](").removesuffix(")").partition(",")[2]
    assert decoded(base64.b64decode(payload)).format == "PNG"


def test_an_attachment_is_uploaded_through_the_tab(
    gateway: GatewayProcess, open_tab: OpenTab, arena: Arena
) -> None:
    open_tab()
    pdf = b"%PDF-1.4 lmarenarev e2e"
    data = "data:application/pdf;base64," + base64.b64encode(pdf).decode()
    completion = gateway.client().chat.completions.create(model="fake-gpt", messages=[{
        "role": "user", "content": [
            {"type": "text", "text": "summarise the file"},
            {"type": "file", "file": {"filename": "notes.pdf", "file_data": data}},
        ]}])
    assert completion.choices[0].message.content == "Echo: summarise the file"
    assert list(arena.fake.uploads.values()) == [pdf]
    (put,) = [r for r in arena.fake.requests if r.kind == "upload"]
    assert "Chrome" in put.headers.get("user-agent", "")  # sent by the browser tab
    assert put.headers.get("content-type") == "application/pdf"
    actions = [r for r in arena.fake.requests if r.kind == "action"]
    assert [r.headers.get("next-action") for r in actions] == [
        arena.fake.action_ids["generateUploadUrl"], arena.fake.action_ids["getSignedUrl"]]
    (create,) = [r for r in arena.fake.requests if r.kind == "create"]
    (attachment,) = create.body["userMessage"]["experimental_attachments"]
    assert attachment["contentType"] == "application/pdf" and "/r2/" in attachment["url"]
    assert attachment["name"] in arena.fake.uploads
