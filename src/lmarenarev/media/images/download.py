"""Downloading generated images: one pooled HTTP client, a concurrency limit, timeouts and
bounded retries. The same client serves the file-bed uploads.

The client is made on first use, on the event loop that serves the gateway, and closed by the
app's lifespan (`aclose`).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx

from ...config.media import DownloadTimeout

log = logging.getLogger(__name__)

MAX_IMAGE_BYTES = 64 * 1024 * 1024
RETRY_BASE_DELAY = 0.5
_RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504, 520, 522, 524})


class DownloadFailed(Exception):
    pass


@dataclass
class DownloadCounts:
    """What the downloads did, for /api/monitor/performance."""

    completed: int = 0
    failed: int = 0
    retries: int = 0
    bytes: int = 0
    total_ms: float = 0.0
    slowest_ms: float | None = None

    def done(self, size: int, took_ms: float) -> None:
        self.completed += 1
        self.bytes += size
        self.total_ms += took_ms
        self.slowest_ms = took_ms if self.slowest_ms is None else max(self.slowest_ms, took_ms)


def tls_context(ca_bundle: str) -> ssl.SSLContext:
    """The system's trust store, plus `ca_bundle` when given (verification stays on)."""
    context = ssl.create_default_context()
    if ca_bundle:
        context.load_verify_locations(cafile=ca_bundle)
    return context


class Downloader:
    def __init__(
        self,
        *,
        max_concurrent: int,
        timeout: DownloadTimeout,
        retries: int,
        verify: ssl.SSLContext | bool = True,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.max_concurrent = max_concurrent
        self.timeout = timeout
        self.retries = retries
        self.verify = verify
        self.transport = transport
        self.sleep = sleep
        self.active = 0
        self.counts = DownloadCounts()
        self._semaphore = asyncio.Semaphore(max_concurrent)
        self._client: httpx.AsyncClient | None = None

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(
                    self.timeout.total,
                    connect=self.timeout.connect,
                    read=self.timeout.sock_read,
                ),
                limits=httpx.Limits(
                    max_connections=max(self.max_concurrent, 10),
                    max_keepalive_connections=max(self.max_concurrent, 10),
                ),
                verify=self.verify,
                follow_redirects=True,
                trust_env=False,
                transport=self.transport,
            )
        return self._client

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    async def fetch(self, url: str) -> bytes:
        """The body of `url`; `DownloadFailed` after the retries (4xx are not retried)."""
        if not url.startswith(("http://", "https://")):
            raise DownloadFailed(f"not an http(s) URL: {url[:100]}")
        started = time.monotonic()
        try:
            data = await self._fetch_with_retries(url)
        except DownloadFailed:
            self.counts.failed += 1
            raise
        self.counts.done(len(data), (time.monotonic() - started) * 1000)
        return data

    async def _fetch_with_retries(self, url: str) -> bytes:
        attempt = 0
        while True:
            try:
                async with self._semaphore:
                    self.active += 1
                    try:
                        async with asyncio.timeout(self.timeout.total):
                            return await self._get(url)
                    except TimeoutError:
                        raise _Transient(f"timed out after {self.timeout.total:g} s") from None
                    finally:
                        self.active -= 1
            except _Transient as exc:
                if attempt >= self.retries:
                    raise DownloadFailed(str(exc)) from None
                delay = RETRY_BASE_DELAY * 2**attempt
                attempt += 1
                self.counts.retries += 1
                log.info("image download retry %d in %.1fs: %s", attempt, delay, exc)
                await self.sleep(delay)

    async def _get(self, url: str) -> bytes:
        try:
            async with self.client.stream("GET", url) as response:
                if response.status_code in _RETRY_STATUSES:
                    raise _Transient(f"HTTP {response.status_code} from {_host(url)}")
                if response.status_code >= 400:
                    raise DownloadFailed(f"HTTP {response.status_code} from {_host(url)}")
                chunks: list[bytes] = []
                size = 0
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > MAX_IMAGE_BYTES:
                        raise DownloadFailed(f"the image is larger than {MAX_IMAGE_BYTES} bytes")
                    chunks.append(chunk)
                return b"".join(chunks)
        except httpx.TransportError as exc:
            raise _Transient(f"{type(exc).__name__} from {_host(url)}: {exc}") from None


class _Transient(Exception):
    pass


def _host(url: str) -> str:
    return httpx.URL(url).host
