"""Images: size → aspect ratio, conversions (decoded), the LRU/TTL cache, the gallery's path
checks, downloads (retries, limits), the service's fallbacks."""

from __future__ import annotations

import asyncio
import io
import os
from collections.abc import Coroutine
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from lmarenarev.config.media import DownloadTimeout
from lmarenarev.config.settings import Settings
from lmarenarev.errors import InvalidRequest
from lmarenarev.media.images.cache import ImageCache
from lmarenarev.media.images.convert import ConversionFailed, convert, sniff_mime
from lmarenarev.media.images.download import Downloader, DownloadFailed
from lmarenarev.media.images.gallery import list_images, resolve_image
from lmarenarev.media.images.ratio import aspect_ratio, offered_ratios
from lmarenarev.media.images.save import save_image
from lmarenarev.media.images.service import ImageService
from testkit.fakes.arena_images import webp_bytes
from testkit.fakes.arena_page import png_bytes

OFFERED = ["1:1", "16:9", "9:16", "3:2", "2:3"]


def rgba_png() -> bytes:
    out = io.BytesIO()
    Image.new("RGBA", (8, 4), (255, 0, 0, 0)).save(out, "PNG")
    return out.getvalue()


def decoded(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


# --- size → aspect ratio ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        ("1024x1024", "1:1"),
        ("512x512", "1:1"),
        ("1792x1024", "16:9"),
        ("1024x1792", "9:16"),
        ("1536x1024", "3:2"),
        ("1024x1536", "2:3"),
        ("1920X1080", "16:9"),
        ("auto", None),
        (None, None),
    ],
)
def test_sizes_map_to_offered_ratios(size: str | None, expected: str | None) -> None:
    assert aspect_ratio(size, OFFERED, "m") == expected


def test_a_ratio_the_model_lacks_is_a_400_listing_what_it_offers() -> None:
    with pytest.raises(InvalidRequest) as caught:
        aspect_ratio("1024x1792", ["1:1", "16:9"], "painter")
    assert caught.value.param == "size"
    assert "9:16" in caught.value.message and "1:1, 16:9" in caught.value.message


@pytest.mark.parametrize("size", ["big", "0x100", "1024", "x1024", "-1x5"])
def test_malformed_sizes_are_400(size: str) -> None:
    with pytest.raises(InvalidRequest):
        aspect_ratio(size, OFFERED, "m")


def test_unknown_capabilities_accept_any_valid_size() -> None:
    assert aspect_ratio("1000x300", None, "m") is None


def test_offered_ratios_come_from_output_capabilities() -> None:
    model = {"capabilities": {"outputCapabilities": {"image": {"aspectRatios": ["1:1", "4:3"]}}}}
    assert offered_ratios(model) == ["1:1", "4:3"]
    assert offered_ratios({"capabilities": {"outputCapabilities": {"image": True}}}) is None
    assert offered_ratios(None) is None


# --- conversions ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "target", "pil_format", "mime"),
    [
        (png_bytes(1), "jpeg", "JPEG", "image/jpeg"),
        (png_bytes(1), "webp", "WEBP", "image/webp"),
        (webp_bytes(2), "png", "PNG", "image/png"),
        (rgba_png(), "jpeg", "JPEG", "image/jpeg"),
    ],
)
def test_conversions_decode_as_the_target(
    source: bytes, target: Any, pil_format: str, mime: str
) -> None:
    data, out_mime = convert(source, target, 90)
    image = decoded(data)
    assert image.format == pil_format and out_mime == mime
    assert image.size == decoded(source).size


def test_jpeg_flattens_transparency_on_white() -> None:
    data, _ = convert(rgba_png(), "jpeg", 100)
    red, green, blue = decoded(data).convert("RGB").getpixel((0, 0))  # type: ignore[misc]
    assert min(red, green, blue) > 240


def test_original_keeps_the_bytes() -> None:
    source = webp_bytes(3)
    assert convert(source, "original", 10) == (source, "image/webp")


def test_garbage_does_not_convert() -> None:
    with pytest.raises(ConversionFailed):
        convert(b"not an image", "png", 90)


def test_sniffing() -> None:
    assert sniff_mime(png_bytes(0)) == "image/png"
    assert sniff_mime(webp_bytes(0)) == "image/webp"
    assert sniff_mime(b"GIF89a....") == "image/gif"
    assert sniff_mime(b"???") == "application/octet-stream"


# --- cache ---------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_cache_is_lru_by_entries() -> None:
    cache = ImageCache(2, 1000, 60)
    cache.put("a", b"1")
    cache.put("b", b"2")
    assert cache.get("a") == b"1"  # a is now the most recent
    cache.put("c", b"3")
    assert cache.get("b") is None and cache.get("a") == b"1" and cache.get("c") == b"3"


def test_cache_is_bounded_by_bytes() -> None:
    cache = ImageCache(10, 10, 60)
    cache.put("a", b"x" * 6)
    cache.put("b", b"y" * 6)
    assert cache.get("a") is None and cache.get("b") == b"y" * 6 and cache.bytes == 6
    cache.put("huge", b"z" * 11)
    assert cache.get("huge") is None and len(cache) == 1


def test_cache_entries_expire() -> None:
    clock = Clock()
    cache = ImageCache(10, 100, 60, clock=clock)
    cache.put("a", b"1")
    clock.now = 59.9
    assert cache.get("a") == b"1"
    clock.now = 60.0
    assert cache.get("a") is None and len(cache) == 0 and cache.bytes == 0


# --- gallery -------------------------------------------------------------------------------


@pytest.fixture
def gallery(tmp_path: Path) -> Path:
    root = tmp_path / "downloaded_images"
    (root / "20250101").mkdir(parents=True)
    (root / "20250101" / "a.png").write_bytes(png_bytes(1))
    (root / "20250101" / "notes.txt").write_text("x")
    (tmp_path / "secret.png").write_bytes(b"secret")
    (root / "20250101" / "out.png").symlink_to(tmp_path / "secret.png")
    (root / "20250101" / "in.png").symlink_to(root / "20250101" / "a.png")
    (root / "escape").symlink_to(tmp_path)
    return root


@pytest.mark.parametrize(
    "path",
    [
        "../secret.png",
        "20250101/../../secret.png",
        "20250101/out.png",  # a symlink leading out
        "escape/secret.png",  # a directory symlink leading out
        "/etc/passwd",
        "//etc/passwd",
        "20250101\\..\\..\\secret.png",
        "20250101/notes.txt",  # not an image
        "20250101/missing.png",
        "",
        ".",
        "20250101/a.png\x00.txt",
    ],
)
def test_paths_outside_the_gallery_are_refused(gallery: Path, path: str) -> None:
    assert resolve_image(gallery, path) is None


def test_paths_inside_are_found(gallery: Path) -> None:
    assert resolve_image(gallery, "20250101/a.png") == (gallery / "20250101/a.png").resolve()
    assert resolve_image(gallery, "20250101/in.png") == (gallery / "20250101/a.png").resolve()
    assert resolve_image(gallery, "20250101/./a.png") is not None


def test_list_is_paged_newest_first(tmp_path: Path) -> None:
    root = tmp_path / "images"
    for day in range(1, 4):
        save_image(root, png_bytes(day), "png", datetime(2025, 1, day, 12, 0, 0))
    paths = sorted(root.glob("*/*.png"))
    for age, path in enumerate(reversed(paths)):  # newest file: the 3rd of January
        stamp = 1_700_000_000 - age * 100
        os.utime(path, (stamp, stamp))
    first = list_images(root, 1, 2)
    second = list_images(root, 2, 2)
    assert first["total"] == 3
    assert [i["folder"] for i in first["images"]] == ["20250103", "20250102"]
    assert [i["folder"] for i in second["images"]] == ["20250101"]
    assert first["images"][0]["url"].startswith("/api/images/20250103/20250103_120000_")
    assert list_images(tmp_path / "none", 1, 10) == {
        "total": 0, "page": 1, "per_page": 10, "images": []}


# --- downloads -----------------------------------------------------------------------------


class FlakyHost:
    """An image host (httpx transport) failing the first `failures` requests with `status`."""

    def __init__(self, failures: int, status: int = 503, delay: float = 0.0) -> None:
        self.failures = failures
        self.status = status
        self.delay = delay
        self.requests = 0
        self.active = 0
        self.max_active = 0

    async def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        self.active += 1
        self.max_active = max(self.max_active, self.active)
        try:
            await asyncio.sleep(self.delay)
            if self.requests <= self.failures:
                return httpx.Response(self.status)
            return httpx.Response(200, content=png_bytes(7))
        finally:
            self.active -= 1


async def no_sleep(delay: float) -> None:
    pass


def downloader(host: FlakyHost, *, retries: int = 2, limit: int = 4) -> Downloader:
    return Downloader(
        max_concurrent=limit,
        timeout=DownloadTimeout(),
        retries=retries,
        transport=httpx.MockTransport(host.handle),
        sleep=no_sleep,
    )


async def test_transient_failures_are_retried() -> None:
    host = FlakyHost(failures=2)
    assert await downloader(host).fetch("https://cdn.example/a.png") == png_bytes(7)
    assert host.requests == 3


async def test_retries_are_bounded() -> None:
    host = FlakyHost(failures=10)
    with pytest.raises(DownloadFailed):
        await downloader(host, retries=2).fetch("https://cdn.example/a.png")
    assert host.requests == 3


async def test_client_errors_are_not_retried() -> None:
    host = FlakyHost(failures=10, status=404)
    with pytest.raises(DownloadFailed, match="404"):
        await downloader(host).fetch("https://cdn.example/a.png")
    assert host.requests == 1


async def test_concurrency_is_limited() -> None:
    host = FlakyHost(failures=0, delay=0.02)
    fetcher = downloader(host, limit=3)
    await asyncio.gather(*(fetcher.fetch(f"https://cdn.example/{i}.png") for i in range(10)))
    assert host.max_active == 3 and fetcher.active == 0


async def test_only_http_urls_are_downloaded() -> None:
    with pytest.raises(DownloadFailed):
        await downloader(FlakyHost(0)).fetch("file:///etc/passwd")


# --- the service -----------------------------------------------------------------------------


def service(host: FlakyHost, tmp_path: Path, **settings: Any) -> ImageService:
    config = Settings.model_validate(settings)
    spawned: list[Coroutine[Any, Any, None]] = []

    def spawn(coro: Coroutine[Any, Any, None]) -> None:
        spawned.append(coro)

    svc = ImageService(
        lambda: config, tmp_path / "images", downloader(host, retries=0),
        ImageCache(10, 10**6, 60), spawn, now=lambda: datetime(2025, 2, 3, 4, 5, 6),
    )
    svc.spawned = spawned  # type: ignore[attr-defined]
    return svc


async def test_base64_mode_gives_a_converted_data_url(tmp_path: Path) -> None:
    svc = service(FlakyHost(0), tmp_path, image_return_format={
        "mode": "base64", "base64_conversion": {"target_format": "webp", "jpeg_quality": 50}})
    url = await svc.for_chat("https://cdn.example/a.png")
    assert url.startswith("data:image/webp;base64,")


async def test_a_failed_download_keeps_the_url(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    svc = service(FlakyHost(5), tmp_path, image_return_format={"mode": "base64"})
    assert await svc.for_chat("https://cdn.example/a.png") == "https://cdn.example/a.png"
    assert "keeps its URL" in caplog.text
    assert await svc.b64_json("https://cdn.example/a.png") is None


async def test_downloads_are_cached_and_shared(tmp_path: Path) -> None:
    host = FlakyHost(0, delay=0.02)
    svc = service(host, tmp_path)
    results = await asyncio.gather(*(svc.fetch("https://cdn.example/a.png") for _ in range(5)))
    await svc.fetch("https://cdn.example/a.png")
    assert host.requests == 1 and len(set(results)) == 1


async def test_url_mode_saves_in_the_background(tmp_path: Path) -> None:
    svc = service(FlakyHost(0), tmp_path, save_images_locally=True,
                  local_save_format={"enabled": True, "format": "jpeg", "jpeg_quality": 70})
    assert await svc.for_chat("https://cdn.example/a.png") == "https://cdn.example/a.png"
    (task,) = svc.spawned  # type: ignore[attr-defined]
    await task
    (saved,) = (tmp_path / "images" / "20250203").glob("20250203_040506_*.jpg")
    assert decoded(saved.read_bytes()).format == "JPEG"
