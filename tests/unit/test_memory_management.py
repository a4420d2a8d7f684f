"""The seeds' `memory_management` block sizes the gateway's image cache: entries, megabytes and
time to live, as a gateway built from the settings uses them."""

from __future__ import annotations

from pathlib import Path

import httpx

from lmarenarev.gateway import build_gateway
from testkit.support import write_home


async def test_memory_management_bounds_the_image_cache_of_the_gateway(tmp_path: Path) -> None:
    home = write_home(tmp_path, [])
    memory = {"image_cache_max_size": 2, "image_cache_ttl_seconds": 3600, "image_cache_max_mb": 1}
    gw = build_gateway(home, overrides={"memory_management": memory})
    downloads: list[str] = []

    def serve(request: httpx.Request) -> httpx.Response:
        downloads.append(request.url.path)
        size = 700_000 if request.url.path == "/big.png" else 10
        return httpx.Response(200, content=b"x" * size)

    gw.media.downloader.transport = httpx.MockTransport(serve)  # before the client is made
    images = gw.media.images
    try:
        for name in ("a", "b", "a", "c", "a"):
            await images.fetch(f"https://img.test/{name}.png")
        # a, b downloaded; a cached; c evicts b (2 entries); a still cached
        assert downloads == ["/a.png", "/b.png", "/c.png"]
        await images.fetch("https://img.test/b.png")  # evicted: downloaded again
        assert downloads[-1] == "/b.png" and len(images.cache) == 2
        await images.fetch("https://img.test/big.png")
        await images.fetch("https://img.test/big.png")  # 700 kB of 1 MB: kept
        assert downloads.count("/big.png") == 1
        assert images.cache.bytes <= 1024 * 1024
    finally:
        await gw.media.aclose()


async def test_the_image_cache_ttl_comes_from_memory_management(tmp_path: Path) -> None:
    home = write_home(tmp_path, [])
    gw = build_gateway(home, overrides={"memory_management.image_cache_ttl_seconds": 30})
    cache = gw.media.images.cache
    now = [1000.0]
    cache.clock = lambda: now[0]
    cache.put("u", b"data")
    now[0] += 29.9
    assert cache.get("u") == b"data"
    now[0] += 0.1
    assert cache.get("u") is None
    assert (cache.max_entries, cache.max_bytes) == (500, 100 * 1024 * 1024)  # the defaults
