"""Start a completion for a planned chat request: the one path every request to LMArena takes.

Chat completions and image generations are built here, with their relay, renderer options,
request-log watch and the book-keeping of their end (the conversation store, per-key usage,
the legacy pools' health, the recent errors), so none of it differs between them.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from ..arena.errors import UpstreamProblem
from ..arena.requests import LegacyCall
from ..errors import GatewayError
from ..gateway import Gateway
from ..models.catalog import gone_error
from ..models.files import ModelEntry
from ..monitor.observe import RequestStart, call_name
from ..render.common import RenderOptions
from .completion import Completion, Renderers
from .correction import corrective_call
from .outcome import RelayOutcome
from .plan import ChatPlan
from .relay import Relay
from .reply_limits import ReplyLimits
from .run import RelayRun, ReplyShaping

log = logging.getLogger(__name__)

# Failures that say something about the captured session a mapping points to (not about the
# account, the tab or the client): they count towards a mapping's cooldown.
MAPPING_FAILURE_CODES = frozenset(
    {
        "upstream_not_found",
        "upstream_bad_request",
        "upstream_error",
        "upstream_redirect",
        "arena_error",
        "empty_response",
    }
)


@dataclass(frozen=True, slots=True)
class RequestInfo:
    """What the route knows of a request besides its plan."""

    id: str
    model: str  # as the client named it
    stream: bool
    key_name: str | None = None
    include_usage: bool = False
    source: str = "chat"  # which API (chat, messages, responses, images): the log says it
    stop: tuple[str, ...] = ()  # stop sequences the gateway applies (reply_limits.py)
    max_tokens: int | None = None  # the reply's content budget, counted offline
    choice_index: int = 0  # of n choices
    answer_id: str = ""  # the id the client sees when it is not `id` (a choice's row: <id>-<i>)
    closes_stream: bool = True  # False for one of n streamed choices: the caller ends it


def start_completion(
    gw: Gateway,
    info: RequestInfo,
    plan: ChatPlan,
    *,
    image_url: Callable[[str], Awaitable[str]] | None = None,
    remember: bool = True,
    renderers: Renderers | None = None,
    on_reply: Callable[[Any], None] | None = None,
) -> Completion:
    """A completion ready to run (`await completion.run.start()`, then stream or complete).

    `image_url`: what a generated image's URL becomes in the reply (chat: the images service);
    `remember`: whether a delivered reply may be continued (not for image generations);
    `renderers`: the API's (chat completions' by default); `on_reply`: called with the
    renderer of a delivered reply (the Responses API stores it)."""
    settings = gw.settings
    renderers = renderers or Renderers()
    options = render_options(gw, info, plan, renderers)
    log.info("[%s] model=%s stream=%s flow=%s call=%s conversation=%s", info.id, info.model,
             info.stream, settings.arena_flow, type(plan.call).__name__, plan.conversation or "-")
    if settings.log_prompts:
        log.info("[%s] messages=%r", info.id, [m.text for m in plan.messages])
    watch = gw.monitoring.observer.started(request_start(gw, info, plan))
    relay = Relay(
        gw.pool,
        gw.relay_config,
        request_id=info.id,
        on_attempt=watch.attempt,
        site=gw.site,
        on_gone=functools.partial(model_gone, gw, plan.model),
    )
    modern = remember and settings.arena_flow == "modern"
    shaping = ReplyShaping(plan.extends, reply_limits(gw, info, plan), plan.call.side)
    return Completion(
        run=RelayRun(relay, plan.call, image_url, shaping),
        plan=plan,
        options=options,
        keepalive_interval=settings.keepalive_interval_seconds,
        show_retries=settings.empty_response_retry.show_retry_info_to_client,
        remember=functools.partial(settle_session, gw, modern),
        on_usage=None if info.key_name is None else gw.keys.usage_recorder(info.key_name),
        on_outcome=functools.partial(after_completion, gw, info.source),
        watch=watch,
        renderers=renderers,
        on_reply=on_reply,
        follow_up=functools.partial(corrective_call, gw),
    )


def render_options(
    gw: Gateway, info: RequestInfo, plan: ChatPlan, renderers: Renderers | None = None
) -> RenderOptions:
    settings = gw.settings
    reasoning = settings.reasoning_output_mode if settings.enable_lmarena_reasoning else "off"
    if renderers is not None and renderers.reasoning_apart and reasoning != "off":
        reasoning = "openai"  # the API has a place of its own for it: never <think> tags
    return RenderOptions(
        model=info.model,
        completion_id=info.answer_id or info.id,
        created=int(time.time()),
        reasoning=reasoning,
        preserve_streaming=settings.preserve_streaming,
        include_usage=info.include_usage,
        side=plan.call.side,
        choice_index=info.choice_index,
        closes_stream=info.closes_stream,
        tools=plan.tools,
    )


def reply_limits(gw: Gateway, info: RequestInfo, plan: ChatPlan) -> ReplyLimits | None:
    """The client's stop sequences and token budget; max_tokens needs the offline tokenizer
    (`ChatService.load_counter`, awaited by the route): without it the budget is not applied."""
    count = gw.chat.counter
    max_tokens = info.max_tokens if count is not None else None
    if not info.stop and max_tokens is None:
        return None
    prompt = "\n\n".join(message.text for message in plan.messages)  # as the request log counts
    return ReplyLimits(
        stop=info.stop,
        max_tokens=max_tokens,
        count=count,
        prompt_tokens=None if count is None else functools.partial(count, prompt),
        side=plan.call.side,
    )


def request_start(gw: Gateway, info: RequestInfo, plan: ChatPlan | None = None) -> RequestStart:
    return RequestStart(
        id=info.id,
        model=info.model,
        key_name=info.key_name,
        stream=info.stream,
        flow=gw.settings.arena_flow,
        call="" if plan is None else call_name(plan.call),
        conversation="" if plan is None else plan.conversation,
        messages=() if plan is None else plan.messages,
        known_model=info.model in gw.chat.models,
        api=info.source,
    )


def model_gone(gw: Gateway, model: ModelEntry, problem: UpstreamProblem) -> GatewayError:
    """LMArena answered 404/410 for the model: it is gone (§4.1 2026). Refuse it from now on
    (until a catalogue read lists it again) and tell the client what is close."""
    if model.arena_id is not None:
        gw.ops.catalog.gone.add(model.arena_id)  # ops.reload.refresh_models keeps it out
        if gw.chat.models.get(model.name) == model:
            gw.chat.models = {n: e for n, e in gw.chat.models.items() if n != model.name}
            gw.chat.withdrawn = {**gw.chat.withdrawn, model.name: model.arena_id}
    log.warning("model %s (%s) is gone: %s", model.name, model.arena_id, problem.message)
    return gone_error(model.name, model.arena_id, list(gw.chat.models))


def refused(gw: Gateway, info: RequestInfo, error: GatewayError) -> None:
    """A request refused before any call was made: the terminal, the recent errors and the
    request log."""
    log.warning("[%s] refused: %d %s: %s", info.id, error.status, error.code or error.type,
                error.message)
    gw.ops.errors.record(info.source, error, model=info.model)
    gw.monitoring.observer.refused(request_start(gw, info), error)


def settle_session(
    gw: Gateway, modern: bool, plan: ChatPlan, outcome: RelayOutcome, reply: str | None
) -> None:
    """A reply the client got in full is its session's newest (it can be continued); None: the
    session holds what the client did not get (a cut or failed reply), so it never is."""
    if not modern or outcome.session is None:
        return
    if reply is None:
        gw.chat.store.forget(outcome.session.session_id)
    else:
        gw.chat.store.remember(plan.model.name, plan.messages, reply, outcome.session)


def after_completion(gw: Gateway, source: str, plan: ChatPlan, error: GatewayError | None) -> None:
    """Book-keeping after a completion: the legacy mapping's health, the recent errors."""
    call = plan.call
    name = plan.model.name
    if isinstance(call, LegacyCall) and name in gw.chat.endpoint_map:
        if error is None:
            gw.chat.selector.report(name, (call.session_id, call.message_id), None)
        elif error.code in MAPPING_FAILURE_CODES:
            problem = f"{error.code}: {error.message}"[:200]
            gw.chat.selector.report(name, (call.session_id, call.message_id), problem)
    if error is not None:
        gw.ops.errors.record(source, error, model=name)
