"""Uploading attachments the way the LMArena page does, through a worker tab (protocol §5.3):
`generateUploadUrl(name, mime)` → `PUT uploadUrl` (the bytes) → `getSignedUrl(key)`.

Action ids are read from the page's JS chunks through a tab and kept until an action is
unknown (a new deployment): then they are read again, once. Uploads are cached by content hash
until their signed URL expires, so a resent attachment is not uploaded again.
"""

from __future__ import annotations

import asyncio
import base64
import calendar
import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from ...arena.actions import (
    ACTION_PAGE,
    UPLOAD_ACTIONS,
    ActionFailed,
    action_body,
    action_headers,
    action_result,
    chunk_urls,
    find_action_ids,
)
from ...errors import GatewayError, UpstreamFailure
from ...messages import Attachment
from ...workers.page_fetch import fetch_through_worker
from ...workers.pool import WorkerPool
from ..singleflight import SingleFlight

log = logging.getLogger(__name__)

MAX_CHUNKS = 60  # a real page references a few dozen chunks
CHUNKS_AT_ONCE = 4
EXPIRY_MARGIN = 120.0  # never hand out a link about to expire
DEFAULT_LIFETIME = 600.0  # a signed URL without X-Amz-* dates


class UploadFailed(UpstreamFailure):
    def __init__(self, message: str) -> None:
        super().__init__(f"uploading an attachment through the LMArena tab failed: {message}",
                         code="upload_failed")


@dataclass(frozen=True, slots=True)
class _Cached:
    attachment: Attachment
    expires_at: float


def signed_url_expiry(url: str, default: float) -> float:
    """Unix time when an S3-style signed URL expires (`X-Amz-Date` + `X-Amz-Expires`)."""
    query = parse_qs(urlsplit(url).query)
    try:
        issued = calendar.timegm(time.strptime(query["X-Amz-Date"][0], "%Y%m%dT%H%M%SZ"))
        return issued + int(query["X-Amz-Expires"][0])
    except (KeyError, ValueError, IndexError):
        return default


class ArenaUploader:
    def __init__(
        self,
        pool: WorkerPool,
        *,
        wait: Callable[[], float],
        timeout: float = 120.0,
        clock: Callable[[], float] = time.time,
        cache_size: int = 256,
    ) -> None:
        self.pool = pool
        self.wait = wait
        self.timeout = timeout
        self.clock = clock
        self.cache_size = cache_size
        self.action_ids: dict[str, str] = {}
        self._cache: dict[str, _Cached] = {}
        self._discovery = asyncio.Lock()
        self._inflight: SingleFlight[str, Attachment] = SingleFlight(
            lambda: UploadFailed("upload cancelled")
        )

    async def upload(self, data: bytes, name: str, mime: str) -> Attachment:
        """The attachment as LMArena's upload holds it; the same bytes twice at once, or again
        while the link is valid, are uploaded once."""
        digest = hashlib.sha256(mime.encode() + b"\x00" + data).hexdigest()
        cached = self._cache.get(digest)
        if cached is not None and cached.expires_at - EXPIRY_MARGIN > self.clock():
            return cached.attachment
        return await self._inflight.run(digest, lambda: self._upload(digest, data, name, mime))

    async def _upload(self, digest: str, data: bytes, name: str, mime: str) -> Attachment:
        grant = await self._action("generateUploadUrl", [name, mime])
        upload_url, key = grant.get("uploadUrl"), grant.get("key")
        if not isinstance(upload_url, str) or not isinstance(key, str):
            raise UploadFailed("generateUploadUrl gave no uploadUrl/key")
        await self._fetch(
            upload_url, "PUT", {"Content-Type": mime}, None,
            base64.b64encode(data).decode("ascii"), credentials="omit",
        )
        signed = (await self._action("getSignedUrl", [key])).get("url")
        if not isinstance(signed, str):
            raise UploadFailed("getSignedUrl gave no url")
        attachment = Attachment(name=key, content_type=mime, url=signed, size=len(data))
        self._remember(digest, _Cached(attachment, signed_url_expiry(
            signed, self.clock() + DEFAULT_LIFETIME)))
        log.info("attachment %s (%s, %d bytes) uploaded to LMArena", name, mime, len(data))
        return attachment

    def _remember(self, digest: str, entry: _Cached) -> None:
        now = self.clock()
        for stale in [k for k, v in self._cache.items() if v.expires_at <= now]:
            del self._cache[stale]
        while len(self._cache) >= self.cache_size:
            del self._cache[next(iter(self._cache))]
        self._cache[digest] = entry

    async def _action(self, name: str, args: list[object]) -> dict[str, object]:
        for attempt in (1, 2):
            action_id = (await self._ids(refresh=attempt == 2)).get(name)
            if action_id is None:
                raise UploadFailed(f"the page's scripts have no {name} action")
            try:
                text = await self._fetch(
                    ACTION_PAGE, "POST", action_headers(action_id), action_body(list(args))
                )
                return action_result(text)
            except UpstreamFailure as exc:
                if exc.code != "upstream_not_found" or attempt == 2:
                    raise UploadFailed(exc.message) from None
                log.info("server action %s is unknown (a new deployment?): reading ids again", name)
            except ActionFailed as exc:
                raise UploadFailed(f"{name}: {exc}") from None
        raise AssertionError("unreachable")

    async def _ids(self, *, refresh: bool) -> dict[str, str]:
        async with self._discovery:
            if refresh or not all(name in self.action_ids for name in UPLOAD_ACTIONS):
                self.action_ids = await self._discover()
        return self.action_ids

    async def _discover(self) -> dict[str, str]:
        page = await self._fetch(ACTION_PAGE, "GET", {}, None)
        srcs = [src for worker in self.pool.workers.values() for src in worker.hello.script_srcs]
        found: dict[str, str] = {}
        chunks = chunk_urls(page, srcs)[:MAX_CHUNKS]
        for start in range(0, len(chunks), CHUNKS_AT_ONCE):
            batch = chunks[start : start + CHUNKS_AT_ONCE]
            texts = await asyncio.gather(*(self._chunk(path) for path in batch))
            for text in texts:
                found.update(find_action_ids(text))
            if all(name in found for name in UPLOAD_ACTIONS):
                break
        log.info("server actions found in the page's scripts: %s", ", ".join(sorted(found)))
        return found

    async def _chunk(self, path: str) -> str:
        try:
            return await self._fetch(path, "GET", {}, None)
        except GatewayError as exc:
            log.debug("chunk %s not read: %s", path, exc.message)
            return ""

    async def _fetch(
        self,
        url: str,
        method: str,
        headers: dict[str, str],
        body: str | None,
        body_base64: str | None = None,
        credentials: str | None = None,
    ) -> str:
        response = await fetch_through_worker(
            self.pool, url, method=method, headers=headers, body=body, wait=self.wait(),
            timeout=self.timeout, body_base64=body_base64, credentials=credentials,
        )
        return response.body

