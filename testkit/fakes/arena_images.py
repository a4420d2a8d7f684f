"""The fake LMArena's image host: the images its image models answer with, as real PNG or WebP
bytes, at `/__fake/images/<n>.png|webp`.

It counts downloads (`active`, `max_active`, `served`) so tests can check a client's
concurrency limit, can hold each download (`delay`) and can fail the next ones (`fail_next`,
503) to exercise retries. Thread-safe: the counters change under a lock.
"""

from __future__ import annotations

import asyncio
import io
import threading

from PIL import Image
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from testkit.fakes.arena_page import png_bytes

MEDIA_TYPES = {"png": "image/png", "webp": "image/webp"}


def webp_bytes(seed: int, size: int = 16) -> bytes:
    """A valid lossless WebP whose colour depends on `seed` (same colour as `png_bytes`)."""
    colour = ((seed * 67 + 40) % 256, (seed * 131 + 90) % 256, (seed * 199 + 160) % 256)
    out = io.BytesIO()
    Image.new("RGB", (size, size), colour).save(out, "WEBP", lossless=True)
    return out.getvalue()


class ImageHost:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.delay = 0.0
        self.fail_next = 0
        self.active = 0
        self.max_active = 0
        self.served = 0
        self.failed = 0

    def reset(self) -> None:
        with self._lock:
            self.delay, self.fail_next = 0.0, 0
            self.active = self.max_active = self.served = self.failed = 0

    def routes(self) -> list[Route]:
        return [Route("/__fake/images/{number:int}.{ext}", self.serve)]

    async def serve(self, request: Request) -> Response:
        ext = request.path_params["ext"]
        if ext not in MEDIA_TYPES:
            return Response(b"not found", 404)
        with self._lock:
            self.active += 1
            self.max_active = max(self.max_active, self.active)
            failing = self.fail_next > 0
            self.fail_next -= 1 if failing else 0
        try:
            await asyncio.sleep(self.delay)
            if failing:
                with self._lock:
                    self.failed += 1
                return Response(b"busy", 503)
            number = request.path_params["number"]
            data = png_bytes(number) if ext == "png" else webp_bytes(number)
            with self._lock:
                self.served += 1
            return Response(data, media_type=MEDIA_TYPES[ext])
        finally:
            with self._lock:
                self.active -= 1
