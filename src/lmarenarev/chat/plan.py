"""The chat service: a request of any API → the arena call to make (pure but for the pickers).

Model lookup, the history rewritten with its tool calls (tools/history.py), the seed's request
shaping (bypass, legacy id pools) and the modern flow's conversation decision live here; routes
only call `plan()` (chat completions) or `plan_input()` (the other APIs, chat/inputs.py).
"""

from __future__ import annotations

import asyncio
import difflib
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from ..arena.requests import ArenaCall, CreateCall, Injection, LegacyCall, Recaptcha, RegenerateCall
from ..config.settings import Settings
from ..errors import InvalidRequest, ModelNotFound, UpstreamFailure
from ..messages import Message, merge_system_messages
from ..models.catalog import gone_error
from ..models.files import EndpointMapping, ModelEntry, ModelType
from ..openai_schema import ChatCompletionRequest
from ..store.tokens import load_counter
from ..tools.contract import turn_note
from ..tools.history import rewrite
from ..tools.spec import ToolSet
from .conversation import (
    Continue,
    ConversationStore,
    NewSession,
    Regenerate,
    SessionRef,
    Turn,
    fold,
    fold_history,
)
from .endpoint_pools import EndpointSelector
from .inputs import ChatInput, chat_input
from .limits import Limits
from .reply_limits import Counter
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
    conversation: str = ""  # new | folded | continued | regenerated (modern); "" (legacy)
    extends: str | None = None  # an assistant text the reply continues: dropped if repeated
    tools: ToolSet | None = None  # what the reply may call (docs/tools.md)

    @property
    def side(self) -> str:
        return self.call.side


def resolve_model(
    models: dict[str, ModelEntry],
    name: str,
    none_known: str = "Known models: none.",
    aliases: dict[str, str] | None = None,
) -> ModelEntry:
    """The model a client names: by its name, else by any other name LMArena gives it (its
    id, publicName, name or displayName: `models.catalog.model_aliases`); a 404 that lists
    close names, or says `none_known` (how to get models) when none is offered at all."""
    entry = models.get(name)
    if entry is None and aliases:
        entry = models.get(aliases.get(name, ""))
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
        # Models LMArena no longer offers (name → id): dropped by its catalogue or answering
        # 404/410; other names of usable models (→ name); listed models of kinds the gateway
        # cannot serve yet (name → kind). All set by ops.reload.refresh_models.
        self.withdrawn: dict[str, str] = {}
        self.no_models_hint = "Known models: none."  # how to get some (ops/reload.py sets it)
        self.aliases: dict[str, str] = {}
        self.unservable: dict[str, str] = {}
        self.limits = Limits(
            settings.max_messages, settings.max_attachment_bytes, settings.max_prompt_chars
        )
        self.counter: Counter | None = None  # the offline tokenizer, once `load_counter` ran
        self._counter_loaded = False

    async def load_counter(self) -> Counter | None:
        """The offline tokenizer (max_tokens, usage of a cut reply), loaded once, in a thread."""
        if not self._counter_loaded:
            self.counter = await asyncio.to_thread(load_counter)
            self._counter_loaded = True
        return self.counter

    def plan(
        self, request: ChatCompletionRequest, *, fresh: bool = False, instruction: str = ""
    ) -> ChatPlan:
        """`fresh`: a new LMArena session whatever the history (n choices, image generations);
        `instruction`: appended to what LMArena gets (structured output, json_output.py)."""
        strip = self.settings.strip_reasoning_from_history
        chat = chat_input(request, strip_history_reasoning=strip)
        return self.plan_input(chat, fresh=fresh, instruction=instruction)

    def plan_input(
        self, request: ChatInput, *, fresh: bool = False, instruction: str = ""
    ) -> ChatPlan:
        """A request of any API, read into entries (chat/inputs.py)."""
        settings = self.settings
        self.limits.check_message_count(len(request.entries))
        if request.model in self.withdrawn:
            raise gone_error(request.model, self.withdrawn[request.model], list(self.models))
        if request.model in self.unservable:
            kind = self.unservable[request.model]
            raise InvalidRequest(
                f"{request.model!r} is a {kind} model of LMArena's catalogue; the gateway "
                f"cannot serve LMArena's {kind} models yet",
                code="model_type_not_supported",
                param="model",
            )
        entry = resolve_model(self.models, request.model, self.no_models_hint, self.aliases)
        messages = rewrite(request.entries, request.tools)
        if settings.tavern_mode_enabled:
            messages = merge_system_messages(messages)
        self.limits.check_attachments(messages)
        note = None if request.tools is None else turn_note(request.tools.choice)
        if note:  # this turn's tool choice: sent, never part of the remembered history
            instruction = _with_paragraph(note, instruction)
        _, bypass = take_bypass_suffix(messages)
        if settings.arena_flow == "legacy":
            plan = ChatPlan(entry, messages, self._legacy(entry, messages, bypass, instruction))
        else:
            plan = self._modern(
                entry, messages, bypass=bypass, fresh=fresh, instruction=instruction
            )
        self.limits.check_prompt(plan.call)
        return replace(plan, tools=request.tools)

    def follow_up(
        self, plan: ChatPlan, session: SessionRef | None, reply: str, text: str
    ) -> ChatPlan:
        """The next turn after `reply` with `text` (a correction), in the same LMArena session
        (modern) or with the reply and the text added to the history (legacy)."""
        added = [Message("assistant", reply), Message("user", text)]
        call = plan.call
        if isinstance(call, LegacyCall):
            call = replace(call, messages=(*call.messages, *added))
            return replace(plan, call=call, extends=None)
        if session is None or plan.model.arena_id is None:
            raise UpstreamFailure("LMArena did not say which session answered")
        follow = CreateCall(
            model_id=plan.model.arena_id,
            model_type=plan.model.type,
            prompt=text,
            attachments=(),
            recaptcha=self.submit_recaptcha(),
            session_id=session.session_id,
        )
        return ChatPlan(plan.model, [*plan.messages, *added], follow, "continued",
                        tools=plan.tools)

    def submit_recaptcha(self, action: str | None = None) -> Recaptcha:
        # An empty site key is filled per worker: discovered from its page, else the default.
        settings = self.settings
        return Recaptcha(settings.recaptcha_site_key, action or settings.recaptcha_action)

    def retry_recaptcha(self) -> Recaptcha:
        """The retry route's token is minted for its own action (§1.5, §3.2 2026)."""
        return self.submit_recaptcha(self.settings.recaptcha_retry_action)

    def _modern(
        self,
        entry: ModelEntry,
        messages: list[Message],
        *,
        bypass: bool,
        fresh: bool,
        instruction: str,
    ) -> ChatPlan:
        if entry.arena_id is None:
            raise InvalidRequest(
                f"model {entry.name!r} has no LMArena id in models.json; the modern flow needs one",
                param="model",
            )
        continuity = self.settings.conversation_continuity
        found = None if fresh else self.store.decide(entry.name, messages, continuity)
        if isinstance(found, Regenerate) and instruction:
            found = None  # the retry route cannot carry the instruction
        turn: Turn = new_session(messages) if found is None else found
        if isinstance(turn, Regenerate):
            session = turn.session
            again = RegenerateCall(
                session.session_id, session.assistant_message_id, self.retry_recaptcha()
            )
            return ChatPlan(entry, messages, again, turn.kind)
        injection = bypass_injection(self.settings, entry.type)
        if isinstance(turn, Continue):
            prompt = turn.prompt
            if bypass:  # the modern flow sends one message: only the marker goes (shaping.py)
                prompt = prompt.rstrip().removesuffix("--bypass").rstrip()
            prompt = _follow_up(_with_paragraph(prompt, instruction), injection)
        else:
            sent = take_bypass_suffix(messages)[0] if bypass else messages
            turn = new_session(sent, injection, instruction)
            prompt = turn.prompt
        return ChatPlan(entry, messages, self._create(entry, turn, prompt), turn.kind, turn.extends)

    def _create(self, entry: ModelEntry, turn: Continue | NewSession, prompt: str) -> CreateCall:
        assert entry.arena_id is not None
        session = turn.session.session_id if isinstance(turn, Continue) else None
        return CreateCall(
            model_id=entry.arena_id,
            model_type=entry.type,
            prompt=prompt,
            attachments=turn.attachments,
            recaptcha=self.submit_recaptcha(),
            session_id=session,
        )

    def _legacy(
        self, entry: ModelEntry, messages: list[Message], bypass: bool, instruction: str
    ) -> LegacyCall:
        settings = self.settings
        if not any(m.role == "user" for m in messages):  # a system-only request
            messages = [Message("user", fold_history(messages))]
        if instruction:
            last = messages[-1]
            messages = [*messages[:-1], replace(last, text=f"{last.text}\n\n{instruction}")]
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
        return LegacyCall(
            session_id=mapping.session_id,
            message_id=mapping.message_id,
            model_id=entry.arena_id,
            model_type=model_type,
            mode=mapping.mode or settings.id_updater_last_mode,
            battle_target=mapping.battle_target or settings.id_updater_battle_target,
            messages=tuple(messages),
            injection=bypass_injection(settings, model_type),
            recaptcha=self.retry_recaptcha(),
        )


def new_session(
    messages: list[Message], injection: Injection | None = None, instruction: str = ""
) -> NewSession:
    """A history LMArena has not seen, folded into one message: `instruction` (the structured
    output's) ends the newest user message, and the bypass injection is placed by its role
    (before an ending prefill, which stays last); images of the assistant's replies come along
    as attachments (chat/shaping.py)."""
    shaped = history_images(messages)
    prefill = bool(shaped) and shaped[-1].role == "assistant"
    body = shaped[:-1] if prefill else shaped
    users = [i for i, m in enumerate(body) if m.role == "user"]
    if instruction:
        at = users[-1] if users else len(body) - 1
        body = [*body[:at], replace(body[at], text=_with_paragraph(body[at].text, instruction)),
                *body[at + 1 :]] if body else [Message("user", instruction)]
    placed = with_injection(body, injection, first_of_session=True)
    turn = fold([*placed, shaped[-1]] if prefill else placed, prefill=prefill)
    if turn.extends is not None:  # what the client will see repeated is its own text
        turn = replace(turn, extends=messages[-1].text)
    return turn


def _with_paragraph(text: str, paragraph: str) -> str:
    return f"{text}\n\n{paragraph}" if paragraph and text else text or paragraph


def _follow_up(prompt: str, injection: Injection | None) -> str:
    """A session's next message with the bypass injection: a `user`/`assistant` one is a turn
    of its own after it, folded with the standard template; a `system` one the session has."""
    if injection is None or injection.role == "system":
        return prompt
    turn = with_injection([Message("user", prompt)], injection, first_of_session=False)
    return fold_history(turn)
