"""File beds: hosts that take an attachment and give back a link LMArena can read (the mogai
fork's `file_bed_*` settings; protocol §5.2 for the LMArenaBridge file bed; the presets of the
hosts mogai lists in config/filebed_presets.py; docs/files.md).

`FileBeds.upload` tries the enabled endpoints in the order the strategy gives (random,
round_robin, failover); an endpoint that fails is cooled down for a while and tried again after
it, or sooner when every endpoint is cooling down.
"""

from __future__ import annotations

import json
import logging
import random
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

import httpx

from ...config.media import FileBedEndpoint
from ...errors import UpstreamFailure
from ..images.convert import data_url

log = logging.getLogger(__name__)

Strategy = Literal["random", "round_robin", "failover"]
UPLOAD_TIMEOUT = 120.0


class FileBedError(Exception):
    pass


class AllFileBedsFailed(UpstreamFailure):
    def __init__(self, message: str) -> None:
        super().__init__(message, code="file_bed_failed")


@dataclass
class _Health:
    failures: int = 0
    cooled_until: float = 0.0
    last_error: str = ""


@dataclass
class FileBeds:
    endpoints: Sequence[FileBedEndpoint]
    strategy: Strategy
    cooldown: float
    client: Callable[[], httpx.AsyncClient]
    clock: Callable[[], float] = time.monotonic
    rng: random.Random = field(default_factory=random.Random)
    health: dict[str, _Health] = field(default_factory=dict)
    _turn: int = 0

    def order(self) -> list[FileBedEndpoint]:
        """Enabled endpoints in the order to try them: healthy ones by the strategy, then the
        cooling ones (soonest available first)."""
        enabled = [e for e in self.endpoints if e.enabled]
        now = self.clock()
        healthy = [e for e in enabled if self._health(e).cooled_until <= now]
        cooling = sorted(
            (e for e in enabled if self._health(e).cooled_until > now),
            key=lambda e: self._health(e).cooled_until,
        )
        if self.strategy == "random":
            self.rng.shuffle(healthy)
        elif self.strategy == "round_robin" and healthy:
            start = self._turn % len(healthy)
            self._turn += 1
            healthy = healthy[start:] + healthy[:start]
        return healthy + cooling

    async def upload(self, data: bytes, name: str, mime: str) -> str:
        errors: list[str] = []
        candidates = self.order()
        if not candidates:
            raise AllFileBedsFailed("file_bed_enabled is on but no file bed is enabled")
        for endpoint in candidates:
            try:
                url = await self._upload_one(endpoint, data, name, mime)
            except (FileBedError, httpx.HTTPError) as exc:
                self._failed(endpoint, f"{type(exc).__name__}: {exc}")
                errors.append(f"{endpoint.name}: {exc}")
                continue
            self.health[endpoint.name] = _Health()
            log.info("attachment %s uploaded to file bed %s", name, endpoint.name)
            return url
        raise AllFileBedsFailed("every file bed failed: " + "; ".join(errors))

    def _health(self, endpoint: FileBedEndpoint) -> _Health:
        return self.health.setdefault(endpoint.name, _Health())

    def _failed(self, endpoint: FileBedEndpoint, reason: str) -> None:
        health = self._health(endpoint)
        health.failures += 1
        health.cooled_until = self.clock() + self.cooldown
        health.last_error = reason[:300]
        log.warning("file bed %s failed (cooled down for %gs): %s", endpoint.name,
                    self.cooldown, reason)

    async def _upload_one(
        self, endpoint: FileBedEndpoint, data: bytes, name: str, mime: str
    ) -> str:
        client = self.client()
        if endpoint.upload_mode == "form":
            fields = dict(endpoint.form_fields)
            if endpoint.api_key:
                fields[endpoint.api_key_field] = endpoint.api_key
            files = {endpoint.form_file_field: (name, data, mime)}
            response = await client.post(
                endpoint.url, data=fields, files=files, timeout=UPLOAD_TIMEOUT
            )
        else:
            payload = {"file_name": name, "file_data": data_url(data, mime)}
            if endpoint.api_key:
                payload[endpoint.api_key_field] = endpoint.api_key
            response = await client.post(endpoint.url, json=payload, timeout=UPLOAD_TIMEOUT)
        if response.status_code >= 400:
            raise FileBedError(f"HTTP {response.status_code}: {response.text[:200]}")
        return link_from_response(endpoint, response.text)


def link_from_response(endpoint: FileBedEndpoint, text: str) -> str:
    """The uploaded file's URL in a file bed's answer (pure)."""
    if endpoint.response_type == "text":
        return link_in_text(text)
    try:
        answer: Any = json.loads(text)
    except ValueError:
        raise FileBedError(f"the answer is not JSON: {text[:100]!r}") from None
    if endpoint.json_url_key:
        value = value_at(answer, endpoint.json_url_key)
        if not isinstance(value, str):
            raise FileBedError(f"the answer has no {endpoint.json_url_key!r}: {text[:200]}")
        return _checked(value)
    if not isinstance(answer, dict) or answer.get("success") is not True:
        raise FileBedError(f"the upload was refused: {str(answer)[:200]}")
    if isinstance(answer.get("url"), str):
        return _checked(answer["url"])
    filename = answer.get("filename")
    if not isinstance(filename, str) or not filename or "/" in filename:
        raise FileBedError("the answer has no filename")
    return seed_download_url(endpoint.url, filename)


_PATH_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def value_at(answer: Any, path: str) -> Any:
    """What `path` names in a JSON value: keys joined by dots, list items by `[n]` or by a
    number between dots (`data.files[0].url`, mogai's `files.0.url`); None when it names
    nothing."""
    value = answer
    for match in _PATH_PART.finditer(path):
        key, index = match.group(1), match.group(2)
        if index is None and isinstance(value, list) and key.isdigit():
            index = key
        if index is not None:
            position = int(index)
            value = value[position] if isinstance(value, list) and position < len(value) else None
        else:
            value = value.get(key) if isinstance(value, dict) else None
    return value


_LINK = re.compile(r"https?://[^\s\"'<>`]+")


def link_in_text(text: str) -> str:
    """The first http(s) link anywhere in a text answer (0x0.st answers the link alone;
    bashupload.com a few lines with `wget <link>` among them)."""
    match = _LINK.search(text)
    if match is None:
        raise FileBedError(f"the answer holds no link: {text.strip()[:100]!r}")
    return match.group(0).rstrip(".,;:!?)]}")


def seed_download_url(upload_url: str, filename: str) -> str:
    """LMArenaBridge's file bed serves `<url without /upload>/uploads/<filename>` (§5.2)."""
    parts = urlsplit(upload_url)
    base = parts.path.removesuffix("/").removesuffix("/upload")
    return urlunsplit((parts.scheme, parts.netloc, f"{base}/uploads/{filename}", "", ""))


def _checked(url: str) -> str:
    if not url.startswith(("http://", "https://")):
        raise FileBedError(f"the answer is not a link: {url[:100]!r}")
    return url


def endpoints_from_settings(
    endpoints: Sequence[FileBedEndpoint], upload_url: str, api_key: str
) -> list[FileBedEndpoint]:
    """`file_bed_endpoints`, or the original seed's single `file_bed_upload_url`."""
    if endpoints or not upload_url:
        return list(endpoints)
    return [
        FileBedEndpoint(
            name="file_bed_upload_url", url=upload_url, api_key=api_key, preset="lmarenabridge"
        )
    ]
