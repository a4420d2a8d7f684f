"""`/v1/images/generations`: n prompts to an image model, run in parallel across the workers.

Each image is one arena call in a new LMArena session, planned by the chat service like a chat
message (so both flows, bypass settings and limits apply) and run as a completion of its own
(chat/engine.py: logged, counted and reported to the pools like a chat); the image records
(`a2:`, protocol §2.2) of the reply are collected.

The aspect ratio a `size` stands for is checked against what the model offers (catalogue), but
it is not sent: how LMArena's page passes a ratio is not in any public bridge we know of
(protocol doc, §9), so LMArena uses the model's default.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import replace
from typing import Any

from ..arena.events import Event, Finish, ImageOut, TextDelta, Usage
from ..errors import GatewayError, InvalidRequest, UpstreamFailure
from ..gateway import Gateway
from ..media.images.ratio import aspect_ratio, offered_ratios
from ..openai_schema import (
    ChatCompletionRequest,
    ChatMessage,
    Image,
    ImageGenerationRequest,
    ImagesResponse,
)
from .engine import RequestInfo, refused, start_completion
from .plan import ChatPlan, resolve_model

log = logging.getLogger(__name__)


class NoImage(UpstreamFailure):
    """The reply had text but no image. Its `message` (the logs, the request log, the recent
    errors) says how much text, not what: replies are not logged unless asked (`log_prompts`).
    The client, whose reply it is, gets the start of the text in its error."""

    def __init__(self, text: str) -> None:
        self.said = " ".join(text.split())[:300]
        how_much = f" (it wrote {len(text.strip())} characters of text)" if self.said else ""
        super().__init__(f"the model answered without an image{how_much}", code="no_image")

    def envelope(self) -> dict[str, Any]:
        envelope = super().envelope()
        if self.said:
            envelope["error"]["message"] = f"the model answered without an image: {self.said!r}"
        return envelope


async def generate_images(
    gw: Gateway, body: ImageGenerationRequest, request_id: str, key_name: str | None = None
) -> ImagesResponse:
    info = RequestInfo(request_id, body.model, stream=False, key_name=key_name, source="images")
    try:
        plans = _plan(gw, body)
    except GatewayError as exc:
        refused(gw, info, exc)
        raise
    runs = [
        _one_image(gw, replace(info, id=f"{request_id}-{i}"), plan) for i, plan in enumerate(plans)
    ]
    results = await asyncio.gather(*runs, return_exceptions=True)
    urls = [url for result in results if isinstance(result, list) for url in result][: body.n]
    failures = [r for r in results if isinstance(r, BaseException)]
    for failure in failures:
        if not isinstance(failure, GatewayError):
            raise failure
        log.warning("[%s] one image failed: %s", request_id, failure.message)
        if isinstance(failure, NoImage) and gw.settings.log_prompts:
            log.info("[%s] the model wrote: %r", request_id, failure.said)
    if not urls:
        raise failures[0]
    if body.response_format == "b64_json":
        data = list(await asyncio.gather(*(_b64_image(gw, url) for url in urls)))
    else:
        for url in urls:
            gw.media.images.keep(url)
        data = [Image(url=url) for url in urls]
    return ImagesResponse(created=int(time.time()), data=data)


def _plan(gw: Gateway, body: ImageGenerationRequest) -> list[ChatPlan]:
    """One plan per image, each a new LMArena session (a pool's mapping picked for each)."""
    entry = resolve_model(gw.chat.models, body.model, gw.chat.no_models_hint, gw.chat.aliases)
    if entry.type != "image":
        raise InvalidRequest(
            f"{body.model!r} is a {entry.type} model; /v1/images/generations needs an image "
            "model (\"<id>:image\" in models.json)",
            param="model",
        )
    catalog = gw.ops.catalog.by_id().get(entry.arena_id or "")
    ratio = aspect_ratio(body.size, offered_ratios(catalog), body.model)
    log.info("images model=%s n=%d size=%s ratio=%s format=%s", body.model, body.n, body.size,
             ratio, body.response_format or "url")
    request = ChatCompletionRequest(
        model=body.model, messages=[ChatMessage(role="user", content=body.prompt)]
    )
    return [gw.chat.plan(request, fresh=True) for _ in range(body.n)]


async def _one_image(gw: Gateway, info: RequestInfo, plan: ChatPlan) -> list[str]:
    completion = start_completion(gw, info, plan, remember=False)  # one log row per image
    await completion.run.start()
    urls: list[str] | None = await completion.complete(ImageCollector())
    return urls or []


class ImageCollector:
    """The image URLs of a reply (its `a2:` image records); without any, `NoImage`."""

    def __init__(self) -> None:
        self.usage: Usage | None = None
        self.urls: list[str] = []
        self.text: list[str] = []

    def feed(self, event: Event) -> None:
        if isinstance(event, ImageOut):
            self.urls.append(event.url)
        elif isinstance(event, TextDelta):
            self.text.append(event.text)
        elif isinstance(event, Finish):
            self.usage = event.usage

    def content(self) -> str:
        return "\n".join(f"![image]({url})" for url in self.urls)

    def result(self) -> list[str]:
        if not self.urls:
            raise NoImage("".join(self.text))
        return self.urls


async def _b64_image(gw: Gateway, url: str) -> Image:
    encoded = await gw.media.images.b64_json(url)
    return Image(url=url) if encoded is None else Image(b64_json=encoded)
