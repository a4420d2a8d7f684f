"""`/v1/images/generations`: n prompts to an image model, run in parallel across the workers.

Each image is one arena call in a new LMArena session, planned by the chat service like a chat
message (so both flows, bypass settings and limits apply) and run by its own `Relay`; the image
records (`a2:`, protocol §2.2) of the reply are collected.

The aspect ratio a `size` stands for is checked against what the model offers (catalogue), but
it is not sent: how LMArena's page passes a ratio is not in any public bridge we know of
(protocol doc, §9), so LMArena uses the model's default.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from ...arena.events import ImageOut, TextDelta
from ...chat.plan import resolve_model
from ...chat.relay import Relay
from ...errors import GatewayError, InvalidRequest, UpstreamFailure
from ...monitor.observe import RequestStart, call_name
from ...openai_schema import (
    ChatCompletionRequest,
    ChatMessage,
    Image,
    ImageGenerationRequest,
    ImagesResponse,
)
from .ratio import aspect_ratio, offered_ratios

if TYPE_CHECKING:
    from ...gateway import Gateway

log = logging.getLogger(__name__)


class NoImage(UpstreamFailure):
    def __init__(self, text: str) -> None:
        said = f": {' '.join(text.split())[:300]!r}" if text.strip() else ""
        super().__init__(f"the model answered without an image{said}", code="no_image")


async def generate_images(
    gw: Gateway, body: ImageGenerationRequest, request_id: str, key_name: str | None = None
) -> ImagesResponse:
    entry = resolve_model(gw.chat.models, body.model)
    if entry.type != "image":
        raise InvalidRequest(
            f"{body.model!r} is a {entry.type} model; /v1/images/generations needs an image "
            "model (\"<id>:image\" in models.json)",
            param="model",
        )
    catalog = gw.ops.catalog.by_id().get(entry.arena_id or "")
    ratio = aspect_ratio(body.size, offered_ratios(catalog), body.model)
    log.info("[%s] images model=%s n=%d size=%s ratio=%s format=%s", request_id, body.model,
             body.n, body.size, ratio, body.response_format or "url")
    request = ChatCompletionRequest(
        model=body.model, messages=[ChatMessage(role="user", content=body.prompt)]
    )
    runs = [_one_image(gw, request, f"{request_id}-{i}", key_name) for i in range(body.n)]
    results = await asyncio.gather(*runs, return_exceptions=True)
    urls = [url for result in results if isinstance(result, list) for url in result][: body.n]
    failures = [r for r in results if isinstance(r, BaseException)]
    for failure in failures:
        if not isinstance(failure, GatewayError):
            raise failure
        log.warning("[%s] one image failed: %s", request_id, failure.message)
    if not urls:
        raise failures[0]
    if body.response_format == "b64_json":
        data = list(await asyncio.gather(*(_b64_image(gw, url) for url in urls)))
    else:
        for url in urls:
            gw.media.images.keep(url)
        data = [Image(url=url) for url in urls]
    return ImagesResponse(created=int(time.time()), data=data)


async def _one_image(
    gw: Gateway, request: ChatCompletionRequest, request_id: str, key_name: str | None
) -> list[str]:
    plan = gw.chat.plan(request, fresh=True)
    relay = Relay(gw.pool, gw.relay_config, request_id=request_id)
    start = RequestStart(
        id=request_id, model=request.model, key_name=key_name, stream=False,
        flow=gw.settings.arena_flow, call=call_name(plan.call), messages=plan.messages,
    )
    watch = gw.monitoring.observer.started(start, relay)  # one log row per image
    urls: list[str] = []
    text: list[str] = []
    try:
        async for event in relay.events(plan.call):
            if event.side != plan.side:
                continue
            watch.event(event)
            if isinstance(event, ImageOut):
                urls.append(event.url)
            elif isinstance(event, TextDelta):
                text.append(event.text)
        if not urls:
            raise NoImage("".join(text))
        watch.done("\n".join(f"![image]({url})" for url in urls), None)
        return urls
    except GatewayError as exc:
        watch.failed(exc)
        raise
    finally:
        watch.close()


async def _b64_image(gw: Gateway, url: str) -> Image:
    encoded = await gw.media.images.b64_json(url)
    return Image(url=url) if encoded is None else Image(b64_json=encoded)
