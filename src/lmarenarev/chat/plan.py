"""The chat service: a request of any API → the arena call to make (pure but for the pickers).

Model lookup, the history rewritten with its tool calls (tools/history.py), the seed's request
shaping (bypass, legacy id pools) and the modern flow's conversation decision live here; routes
only call `plan()` (chat completions) or `plan_input()` (the other APIs, chat/inputs.py).
"""

from __future__ import annotations

import difflib
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..arena.requests import ArenaCall, CreateCall, Injection, LegacyCall, Recaptcha, RegenerateCall
from ..config.settings import Settings
from ..errors import InvalidRequest, ModelNotFound
from ..messages import Message, merge_system_messages
from ..models.files import EndpointMapping, ModelEntry, ModelType
from ..openai_schema import ChatCompletionRequest
from ..tools.contract import turn_note
from ..tools.history import rewrite
from ..tools.spec import ToolSet
from .conversation import Continue, ConversationStore, NewSession, Regenerate, fold_history
from .endpoint_pools import EndpointSelector
from .inputs import ChatInput, chat_input
from .limits import Limits
from .shaping import (
    bypass_images,
    history_images,
    split_image_attachments,
    take_bypass_suffix,
    with_injection,
)


@dataclass(frozen=True, slots=True)
class ChatPlan:
    model: ModelEntry
    messages: list[Message]
    call: ArenaCall
    tools: ToolSet | None = None  # what the reply may call (docs/tools.md)

    @property
    def side(self) -> str:
        return self.call.side


def resolve_model(
    models: dict[str, ModelEntry], name: str, none_known: str = "Known models: none."
) -> ModelEntry:
    """The entry of `name`; a 404 that lists close names, or says `none_known` (how to get
    models) when none is offered at all."""
    entry = models.get(name)
    if entry is not None:
        return entry
    if not models:
        raise ModelNotFound(f"The model {name!r} does not exist. {none_known}", param="model")
    close = difflib.get_close_matches(name, list(models), n=5, cutoff=0.5)
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    known = "" if close else f" Known models: {', '.join(sorted(models)[:20]) or 'none'}."
    raise ModelNotFound(f"The model {name!r} does not exist.{hint}{known}", param="model")


def bypass_injection(settings: Settings, model_type: ModelType) -> Injection | None:
    """The mogai fork's rule: the global switch wins; then per-type settings; else text only."""
    if not settings.bypass_enabled:
        return None
    if settings.bypass_settings:
        enabled = bool(settings.bypass_settings.get(model_type, False))
    else:
        enabled = model_type == "text"
    if not enabled:
        return None
    chosen = settings.bypass_injection.active()
    return Injection(chosen.role, chosen.content, chosen.participantPosition)


def pick_mapping(
    settings: Settings,
    pools: dict[str, tuple[EndpointMapping, ...]],
    model: str,
    choose: Callable[[Sequence[EndpointMapping]], EndpointMapping],
) -> EndpointMapping:
    pool = pools.get(model)
    if pool:
        return choose(pool)
    if not settings.use_default_ids_if_mapping_not_found:
        raise InvalidRequest(
            f"model {model!r} has no entry in model_endpoint_map.json and "
            "use_default_ids_if_mapping_not_found is off",
            param="model",
        )
    if not settings.session_id or not settings.message_id:
        raise InvalidRequest(
            "the legacy flow needs a captured session_id and message_id in config.jsonc "
            "(or a model_endpoint_map.json entry for this model)"
        )
    return EndpointMapping(settings.session_id, settings.message_id, None, None, None)


class ChatService:
    def __init__(
        self,
        settings: Settings,
        models: dict[str, ModelEntry],
        endpoint_map: dict[str, tuple[EndpointMapping, ...]],
        store: ConversationStore,
        choose: Callable[[Sequence[EndpointMapping]], EndpointMapping] = random.choice,
        *,
        selector: EndpointSelector | None = None,
    ) -> None:
        self.settings = settings
        self.models = models
        self.endpoint_map = endpoint_map
        self.store = store
        self.choose = choose
        self.selector = selector or EndpointSelector(choose=choose)
        self.selector.configure(
            settings.endpoint_selection_strategy,
            settings.endpoint_failure_threshold,
            settings.endpoint_cooldown_seconds,
        )
        # Models of models.json LMArena's page no longer lists (name → id); see model_catalog.
        self.withdrawn: dict[str, str] = {}
        self.no_models_hint = "Known models: none."  # how to get some (ops/reload.py sets it)
        self.limits = Limits(
            settings.max_messages, settings.max_attachment_bytes, settings.max_prompt_chars
        )

    def plan(self, request: ChatCompletionRequest, *, fresh: bool = False) -> ChatPlan:
        """`fresh`: a new LMArena session whatever the history (image generations)."""
        strip = self.settings.strip_reasoning_from_history
        return self.plan_input(chat_input(request, strip_history_reasoning=strip), fresh=fresh)

    def plan_input(self, request: ChatInput, *, fresh: bool = False) -> ChatPlan:
        settings = self.settings
        self.limits.check_message_count(len(request.entries))
        if request.model in self.withdrawn:
            raise ModelNotFound(
                f"LMArena no longer offers the model {request.model!r} (id "
                f"{self.withdrawn[request.model]}): it is not in the page's model list. Run "
                "`lmarenarev update-models` to see what it offers, then update models.json.",
                code="model_not_available",
                param="model",
            )
        entry = resolve_model(self.models, request.model, self.no_models_hint)
        messages = rewrite(request.entries, request.tools)
        if settings.tavern_mode_enabled:
            messages = merge_system_messages(messages)
        if not any(m.role == "user" for m in messages):
            raise InvalidRequest(
                "messages must contain at least one user message", param="messages"
            )
        self.limits.check_attachments(messages)
        _, bypass = take_bypass_suffix(messages)
        note = None if request.tools is None else turn_note(request.tools.choice)
        if settings.arena_flow == "legacy":
            call: ArenaCall = self._legacy(entry, messages, bypass, note)
        else:
            call = self._modern(entry, messages, bypass=bypass, fresh=fresh, note=note)
        self.limits.check_prompt(call)
        return ChatPlan(entry, messages, call, request.tools)

    def _recaptcha(self) -> Recaptcha:
        # An empty site key is filled per worker: discovered from its page, else the default.
        return Recaptcha(self.settings.recaptcha_site_key, self.settings.recaptcha_action)

    def _modern(
        self,
        entry: ModelEntry,
        messages: list[Message],
        *,
        bypass: bool,
        fresh: bool,
        note: str | None = None,
    ) -> ArenaCall:
        if entry.arena_id is None:
            raise InvalidRequest(
                f"model {entry.name!r} has no LMArena id in models.json; the modern flow needs one",
                param="model",
            )
        turn = None if fresh else self.store.decide(entry.name, messages)
        if isinstance(turn, Regenerate):
            return RegenerateCall(
                turn.session.session_id, turn.session.assistant_message_id, self._recaptcha()
            )
        if bypass:  # the modern flow sends one message: only the marker goes (chat/shaping.py)
            messages = take_bypass_suffix(messages)[0]
        injection = bypass_injection(self.settings, entry.type)
        if isinstance(turn, Continue):
            sent = with_injection([messages[-1]], injection, first_of_session=False)
            prompt, attachments = fold_history(sent), turn.attachments
            session: str | None = turn.session.session_id
        else:
            new = new_session(messages, injection)
            prompt, attachments, session = new.prompt, new.attachments, None
        if note is not None:  # this turn's tool choice: sent, not part of the remembered history
            prompt = f"{prompt}\n\n{note}"
        return CreateCall(
            model_id=entry.arena_id,
            model_type=entry.type,
            prompt=prompt,
            attachments=attachments,
            recaptcha=self._recaptcha(),
            chat_mode=self.settings.arena_chat_mode,
            session_id=session,
        )

    def _legacy(
        self, entry: ModelEntry, messages: list[Message], bypass: bool, note: str | None = None
    ) -> LegacyCall:
        settings = self.settings
        name = entry.name
        mapping = pick_mapping(
            settings, self.endpoint_map, name, lambda pool: self.selector.pick(name, pool)
        )
        model_type = mapping.type or entry.type
        messages = history_images(messages)
        if bypass:
            messages = bypass_images(take_bypass_suffix(messages)[0])
        elif settings.image_attachment_bypass_enabled and model_type == "image":
            messages = split_image_attachments(messages)
        if note is not None:
            messages = with_note(messages, note)
        return LegacyCall(
            session_id=mapping.session_id,
            message_id=mapping.message_id,
            model_id=entry.arena_id,
            model_type=model_type,
            mode=mapping.mode or settings.id_updater_last_mode,
            battle_target=mapping.battle_target or settings.id_updater_battle_target,
            messages=tuple(messages),
            injection=bypass_injection(settings, model_type),
        )


def new_session(messages: list[Message], injection: Injection | None = None) -> NewSession:
    """A history LMArena has not seen, folded into one message (with the bypass injection
    placed by its role); images of the assistant's replies come along as attachments
    (chat/shaping.py)."""
    shaped = history_images(messages)
    attachments = tuple(a for m in shaped for a in m.attachments if m.role != "system")
    folded = fold_history(with_injection(shaped, injection, first_of_session=True))
    return NewSession(folded, attachments)


def with_note(messages: list[Message], note: str) -> list[Message]:
    """The last user message with this turn's tool choice added (the legacy flow)."""
    last = max((i for i, m in enumerate(messages) if m.role == "user"), default=None)
    if last is None:
        return messages
    message = messages[last]
    noted = Message("user", f"{message.text}\n\n{note}", message.attachments)
    return [*messages[:last], noted, *messages[last + 1 :]]
