"""The images and files services a gateway holds (`gateway.media`), built from the settings."""

from __future__ import annotations

import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..chat.plan import ChatPlan
from ..config.jsonc import ConfigError
from ..config.settings import Settings
from ..workers.pool import WorkerPool
from .files.arena_upload import ArenaUploader
from .files.attach import AttachmentResolver
from .files.filebed import FileBeds, endpoints_from_settings
from .images.cache import ImageCache
from .images.download import Downloader, tls_context
from .images.save import images_root
from .images.service import ImageService, Spawn


@dataclass
class Media:
    settings: Callable[[], Settings]
    downloader: Downloader
    images: ImageService
    uploader: ArenaUploader
    attachments: AttachmentResolver = field(init=False)
    _beds: FileBeds | None = None
    _beds_key: tuple[object, ...] = ()

    def __post_init__(self) -> None:
        self.attachments = AttachmentResolver(self.settings, self.uploader, self.beds)

    def beds(self) -> FileBeds:
        """The file beds of the current settings (their health survives a reload)."""
        s = self.settings()
        endpoints = endpoints_from_settings(
            s.file_bed_endpoints, s.file_bed_upload_url, s.file_bed_api_key
        )
        key = (tuple(endpoints), s.file_bed_selection_strategy, s.file_bed_cooldown_seconds)
        if self._beds is None or key != self._beds_key:
            health = self._beds.health if self._beds is not None else {}
            self._beds = FileBeds(
                endpoints, s.file_bed_selection_strategy, s.file_bed_cooldown_seconds,
                client=lambda: self.downloader.client, health=health,
            )
            self._beds_key = key
        return self._beds

    async def attach(self, plan: ChatPlan) -> ChatPlan:
        """The plan with its attachments uploaded where the settings say."""
        call = await self.attachments.resolve(plan.call)
        return plan if call is plan.call else ChatPlan(plan.model, plan.messages, call)

    async def aclose(self) -> None:
        await self.downloader.aclose()


def build_media(
    settings: Callable[[], Settings],
    home: Path,
    pool: WorkerPool,
    spawn: Spawn,
    wait_for_worker: Callable[[], float],
) -> Media:
    s = settings()
    try:
        verify = tls_context(s.download_ca_bundle)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(
            f"download_ca_bundle: cannot use {s.download_ca_bundle!r}: {exc}"
        ) from None
    downloader = Downloader(
        max_concurrent=s.max_concurrent_downloads,
        timeout=s.download_timeout,
        retries=s.download_timeout.max_retries,
        verify=verify,
    )
    memory = s.memory_management
    cache = ImageCache(
        memory.image_cache_max_size,
        int(memory.image_cache_max_mb * 1024 * 1024),
        memory.image_cache_ttl_seconds,
    )
    images = ImageService(settings, images_root(home), downloader, cache, spawn)
    return Media(settings, downloader, images, ArenaUploader(pool, wait=wait_for_worker))
