"""What the gateway does with a generated image: keep it (disk, cache) and hand it to the client
as the settings ask (LMArena's URL, or a data URL, or base64 for `b64_json`).

A failed download never fails the reply: the client gets LMArena's URL and the log says why.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import Callable, Coroutine
from datetime import datetime
from pathlib import Path
from typing import Any

from ...config.settings import Settings
from ..singleflight import SingleFlight
from .cache import ImageCache
from .convert import ConversionFailed, convert, data_url, extension, sniff_mime
from .download import Downloader, DownloadFailed
from .save import save_image

log = logging.getLogger(__name__)

Spawn = Callable[[Coroutine[Any, Any, None]], None]


class ImageService:
    def __init__(
        self,
        settings: Callable[[], Settings],
        root: Path,
        downloader: Downloader,
        cache: ImageCache,
        spawn: Spawn,
        now: Callable[[], datetime] = datetime.now,
    ) -> None:
        self.settings = settings
        self.root = root
        self.downloader = downloader
        self.cache = cache
        self.spawn = spawn
        self.now = now
        self._inflight: SingleFlight[str, bytes] = SingleFlight(
            lambda: DownloadFailed("download cancelled")
        )

    async def for_chat(self, url: str) -> str:
        """The URL a chat reply shows for this image (a data URL in base64 mode)."""
        settings = self.settings()
        if settings.image_return_format.mode == "url":
            self.keep(url)
            return url
        try:
            data = await self.fetch(url)
        except DownloadFailed as exc:
            log.warning("image download failed, the reply keeps its URL %s: %s", url, exc)
            return url
        if settings.save_images_locally:
            await self.save(data)
        return data_url(*await self._for_base64(data))

    async def b64_json(self, url: str) -> str | None:
        """Base64 of the image for `response_format=b64_json`; None when it cannot be had."""
        try:
            data = await self.fetch(url)
        except DownloadFailed as exc:
            log.warning("image download failed, answering with its URL %s: %s", url, exc)
            return None
        if self.settings().save_images_locally:
            await self.save(data)
        encoded, _ = await self._for_base64(data)
        return base64.b64encode(encoded).decode("ascii")

    def keep(self, url: str) -> None:
        """Save the image in the background when the settings ask (URL replies)."""
        if self.settings().save_images_locally:
            self.spawn(self._save_from(url))

    async def fetch(self, url: str) -> bytes:
        """The image's bytes: from the cache, or downloaded once however many ask at once."""
        cached = self.cache.get(url)
        if cached is not None:
            return cached
        data = await self._inflight.run(url, lambda: self.downloader.fetch(url))
        self.cache.put(url, data)
        return data

    async def save(self, data: bytes) -> Path | None:
        fmt = self.settings().local_save_format
        if fmt.enabled:
            try:
                data, mime = await asyncio.to_thread(convert, data, fmt.format, fmt.jpeg_quality)
            except ConversionFailed as exc:
                log.warning("saving the image as served: %s", exc)
                mime = sniff_mime(data)
        else:
            mime = sniff_mime(data)
        try:
            path = await asyncio.to_thread(save_image, self.root, data, extension(mime), self.now())
        except OSError as exc:
            log.warning("could not save an image under %s: %s", self.root, exc)
            return None
        log.info("image saved: %s", path)
        return path

    async def _save_from(self, url: str) -> None:
        try:
            data = await self.fetch(url)
        except DownloadFailed as exc:
            log.warning("image not saved, its download failed (%s): %s", url, exc)
            return
        await self.save(data)

    async def _for_base64(self, data: bytes) -> tuple[bytes, str]:
        conversion = self.settings().image_return_format.base64_conversion
        if conversion.enabled:
            try:
                return await asyncio.to_thread(
                    convert, data, conversion.target_format, conversion.jpeg_quality
                )
            except ConversionFailed as exc:
                log.warning("sending the image as served: %s", exc)
        return data, sniff_mime(data)
