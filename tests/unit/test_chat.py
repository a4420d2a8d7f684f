"""ChatService.plan(): what LMArena receives for an OpenAI request (features.md B; protocol §6.6).

Each test builds the upstream request (`plan.call.build()`) and looks at method, url, body or
side, the way LMArena would see them.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any

import pytest

from lmarenarev.arena.requests import Injection, Recaptcha, UpstreamRequest
from lmarenarev.arena.site import SiteState
from lmarenarev.chat.conversation import CONTINUE_FOLDED, ConversationStore, SessionRef
from lmarenarev.chat.plan import (
    ChatPlan,
    ChatService,
    bypass_injection,
    pick_mapping,
    resolve_model,
)
from lmarenarev.config.settings import Settings
from lmarenarev.errors import InvalidRequest, ModelNotFound, PayloadTooLarge
from lmarenarev.models.files import EndpointMapping, ModelEntry
from lmarenarev.openai_schema import ChatCompletionRequest

STREAM = "/nextjs-api/stream"

MODELS = {
    entry.name: entry
    for entry in (
        ModelEntry("gpt-4o", "id-gpt-4o", "text"),
        ModelEntry("claude-opus", "id-claude", "text"),
        ModelEntry("flux-pro", "id-flux", "image"),
        ModelEntry("dall-e-3", None, "image"),
        ModelEntry("sonar-pro", "id-sonar", "search"),
    )
}

LEGACY: dict[str, Any] = {
    "arena_flow": "legacy",
    "session_id": "sess-default",
    "message_id": "msg-default",
}


def mapping(
    session: str = "sess-map",
    message: str = "msg-map",
    mode: Any = None,
    target: Any = None,
    kind: Any = None,
) -> EndpointMapping:
    return EndpointMapping(session, message, mode, target, kind)


def first(pool: Sequence[EndpointMapping]) -> EndpointMapping:
    return pool[0]


def service(
    endpoint_map: dict[str, tuple[EndpointMapping, ...]] | None = None, /, **overrides: Any
) -> ChatService:
    settings = Settings.model_validate(overrides)
    return ChatService(settings, MODELS, endpoint_map or {}, ConversationStore(100), first)


def msg(role: str, content: Any) -> dict[str, Any]:
    return {"role": role, "content": content}


def request(model: str, *messages: dict[str, Any]) -> ChatCompletionRequest:
    return ChatCompletionRequest.model_validate({"model": model, "messages": list(messages)})


def plan(svc: ChatService, model: str, *messages: dict[str, Any]) -> ChatPlan:
    return svc.plan(request(model, *messages))


def upstream(svc: ChatService, model: str, *messages: dict[str, Any]) -> UpstreamRequest:
    return plan(svc, model, *messages).call.build()


def wire_messages(svc: ChatService, model: str, *messages: dict[str, Any]) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = upstream(svc, model, *messages).body["messages"]
    return result


def prompt_of(svc: ChatService, model: str, *messages: dict[str, Any]) -> str:
    result: str = upstream(svc, model, *messages).body["userMessage"]["content"]
    return result


def image_part(size: int) -> dict[str, Any]:
    data = base64.b64encode(b"\0" * size).decode()
    return {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{data}"}}


# --- model resolution ----------------------------------------------------------------------------


def test_an_exact_name_resolves_to_its_entry() -> None:
    assert resolve_model(MODELS, "sonar-pro") == MODELS["sonar-pro"]


def test_an_unknown_model_is_a_404_model_not_found() -> None:
    with pytest.raises(ModelNotFound) as caught:
        plan(service(), "gpt-5", msg("user", "hi"))
    error = caught.value
    assert (error.status, error.code, error.param) == (404, "model_not_found", "model")


@pytest.mark.parametrize(
    ("name", "close"),
    [("gpt-4", "gpt-4o"), ("claude-opus-4", "claude-opus"), ("flux_pro", "flux-pro")],
)
def test_an_unknown_model_message_lists_close_names(name: str, close: str) -> None:
    with pytest.raises(ModelNotFound, match=f"Did you mean: .*{close}"):
        resolve_model(MODELS, name)


def test_an_unknown_model_without_close_names_lists_the_known_models() -> None:
    with pytest.raises(ModelNotFound) as caught:
        resolve_model(MODELS, "zzzzzzzz")
    assert "Known models: claude-opus, dall-e-3, flux-pro, gpt-4o, sonar-pro." in str(caught.value)


def test_an_unknown_model_with_no_models_says_none() -> None:
    with pytest.raises(ModelNotFound, match="Known models: none"):
        resolve_model({}, "gpt-4o")


# --- the bypass rule (mogai fork) ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("enabled", "per_type", "model_type", "injected"),
    [
        (False, {"text": True}, "text", False),  # the global switch wins
        (False, {}, "text", False),
        (True, {"text": True}, "text", True),
        (True, {"text": True, "image": False}, "image", False),
        (True, {"image": True}, "image", True),
        (True, {"search": True}, "search", True),
        (True, {"image": True}, "text", False),  # a type not listed is off
        (True, {"text": False}, "text", False),
        (True, {}, "text", True),  # no per-type settings: text only
        (True, {}, "image", False),
        (True, {}, "search", False),
    ],
)
def test_bypass_is_decided_by_the_switch_then_the_type(
    enabled: bool, per_type: dict[str, bool], model_type: str, injected: bool
) -> None:
    settings = Settings(bypass_enabled=enabled, bypass_settings=per_type)
    assert (bypass_injection(settings, model_type) is not None) is injected


PRESETS = [
    ("default", Injection("user", " ", "a")),
    ("thinking", Injection("user", "assistant:<think>", "a")),
    ("1", Injection("user", ".", "a")),
    ("custom", Injection("system", "<think>", "b")),
]
CUSTOM = {"role": "system", "content": "<think>", "participantPosition": "b"}


def bypass(preset: str, **overrides: Any) -> dict[str, Any]:
    injection = {"active_preset": preset, "custom": CUSTOM}
    return {"bypass_enabled": True, "bypass_injection": injection, **overrides}


@pytest.mark.parametrize(("preset", "expected"), PRESETS)
def test_the_active_preset_is_the_injection(preset: str, expected: Injection) -> None:
    assert bypass_injection(Settings.model_validate(bypass(preset)), "text") == expected


@pytest.mark.parametrize(("preset", "expected"), PRESETS)
def test_legacy_injection_is_the_last_message_and_pending(preset: str, expected: Injection) -> None:
    svc = service(**bypass(preset, **LEGACY))
    messages = wire_messages(svc, "gpt-4o", msg("user", "hi"))
    last = messages[-1]
    assert (last["role"], last["content"], last["participantPosition"], last["status"]) == (
        expected.role,
        expected.content,
        expected.position,
        "pending",
    )


def test_legacy_injection_comes_after_the_user_message_which_is_no_longer_pending() -> None:
    svc = service(**bypass("1", **LEGACY))
    messages = wire_messages(svc, "gpt-4o", msg("user", "hi"))
    assert [(m["content"], m["status"]) for m in messages] == [("hi", "success"), (".", "pending")]


def test_legacy_without_bypass_has_no_injection() -> None:
    svc = service(**LEGACY, bypass_settings={"text": True})
    assert [m["content"] for m in wire_messages(svc, "gpt-4o", msg("user", "hi"))] == ["hi"]


@pytest.mark.parametrize("per_type", [{"image": True}, {}])
def test_legacy_image_models_mark_every_message_success(per_type: dict[str, bool]) -> None:
    svc = service(**bypass("1", bypass_settings=per_type, **LEGACY))
    messages = wire_messages(
        svc, "flux-pro", msg("user", "a"), msg("assistant", "b"), msg("user", "c")
    )
    assert {m["status"] for m in messages} == {"success"}


@pytest.mark.parametrize(
    ("preset", "prompt"),
    [
        ("1", "User: hi\n\nUser: ."),
        ("thinking", "User: hi\n\nUser: assistant:<think>"),
        ("default", "User: hi\n\nUser:"),  # blank: an empty last turn, as the seed sends
        ("assistant_guide", "User: hi\n\nAssistant: 我理解您的需求，让我来帮您。"),
        ("custom", "<think>\n\nhi"),  # system: with the system prompt, first
        ("system_prompt", "请遵循用户的指令。\n\nhi"),
    ],
)
def test_modern_injection_of_a_new_session_is_placed_by_its_role(preset: str, prompt: str) -> None:
    assert prompt_of(service(**bypass(preset)), "gpt-4o", msg("user", "hi")) == prompt


def test_a_system_injection_joins_the_clients_system_prompt() -> None:
    svc = service(**bypass("system_prompt"))
    assert prompt_of(svc, "gpt-4o", msg("system", "be brief"), msg("user", "hi")) == (
        "be brief\n\n请遵循用户的指令。\n\nhi"
    )
    history = prompt_of(svc, "gpt-4o", msg("user", "a"), msg("assistant", "b"), msg("user", "c"))
    assert history == "System: 请遵循用户的指令。\n\nUser: a\n\nAssistant: b\n\nUser: c"


@pytest.mark.parametrize(
    ("preset", "prompt"),
    [
        ("1", "User: more\n\nUser: ."),  # its own message, every turn
        ("assistant_guide", "User: more\n\nAssistant: 我理解您的需求，让我来帮您。"),
        ("system_prompt", "more"),  # in the session's first message already
    ],
)
def test_modern_injection_of_a_follow_up_is_placed_by_its_role(preset: str, prompt: str) -> None:
    svc = service(**bypass(preset))
    first = plan(svc, "gpt-4o", msg("user", "hi"))
    reply = "Hello!"
    svc.store.remember("gpt-4o", first.messages, reply, SessionRef("s1", "a1"))
    follow_up = plan(svc, "gpt-4o", msg("user", "hi"), msg("assistant", reply), msg("user", "more"))
    request_ = follow_up.call.build()
    assert request_.url.endswith("/post-to-evaluation/s1")
    assert request_.body["userMessage"]["content"] == prompt


@pytest.mark.parametrize(
    ("model", "per_type", "prompt"),
    [
        ("flux-pro", {}, "draw"),
        ("sonar-pro", {}, "draw"),
        ("sonar-pro", {"search": True}, "User: draw\n\nUser: ."),
        ("flux-pro", {"image": True}, "User: draw\n\nUser: ."),
    ],
)
def test_modern_injection_follows_the_model_type(
    model: str, per_type: dict[str, bool], prompt: str
) -> None:
    svc = service(**bypass("1", bypass_settings=per_type))
    assert prompt_of(svc, model, msg("user", "draw")) == prompt


def test_modern_without_the_global_switch_appends_nothing() -> None:
    svc = service(bypass_settings={"text": True}, bypass_injection={"active_preset": "1"})
    assert prompt_of(svc, "gpt-4o", msg("user", "hi")) == "hi"


# --- legacy flow: ids and modes ------------------------------------------------------------------


def retry_url(session: str, message: str) -> str:
    return f"{STREAM}/retry-evaluation-session-message/{session}/messages/{message}"


def test_legacy_sends_the_whole_history_through_the_retry_route() -> None:
    history = (msg("system", "s"), msg("user", "u1"), msg("assistant", "a1"), msg("user", "u2"))
    request_ = upstream(service(**LEGACY), "gpt-4o", *history)
    assert (request_.method, request_.url) == ("PUT", retry_url("sess-default", "msg-default"))
    assert [(m["role"], m["content"]) for m in request_.body["messages"]] == [
        ("system", "s"),
        ("user", "u1"),
        ("assistant", "a1"),
        ("user", "u2"),
    ]


def test_legacy_uses_the_mapping_the_choose_function_picks() -> None:
    pool = (mapping("s1", "m1"), mapping("s2", "m2"), mapping("s3", "m3"))
    seen: list[Sequence[EndpointMapping]] = []

    def second(candidates: Sequence[EndpointMapping]) -> EndpointMapping:
        seen.append(candidates)
        return candidates[1]

    svc = ChatService(Settings(**LEGACY), MODELS, {"gpt-4o": pool}, ConversationStore(10), second)
    assert upstream(svc, "gpt-4o", msg("user", "hi")).url == retry_url("s2", "m2")
    assert seen == [pool]


def test_legacy_mapping_of_another_model_is_not_used() -> None:
    svc = service({"claude-opus": (mapping(),)}, **LEGACY)
    assert upstream(svc, "gpt-4o", msg("user", "hi")).url == retry_url(
        "sess-default", "msg-default"
    )


def test_legacy_messages_carry_the_session_id() -> None:
    svc = service({"gpt-4o": (mapping("s9", "m9"),)}, **LEGACY)
    messages = wire_messages(
        svc, "gpt-4o", msg("user", "a"), msg("assistant", "b"), msg("user", "c")
    )
    assert {m["evaluationSessionId"] for m in messages} == {"s9"}


HISTORY = (msg("system", "s"), msg("user", "u"), msg("assistant", "a"), msg("user", "v"))


@pytest.mark.parametrize(
    ("mode", "target", "global_mode", "global_target", "positions", "side"),
    [
        # the mapping's own mode and target win over the globals
        ("battle", "B", "direct_chat", "A", "bbbb", "b"),
        ("battle", "A", "battle", "B", "aaaa", "a"),
        ("direct_chat", None, "battle", "B", "baaa", "a"),
        # missing ones fall back to the globals
        (None, None, "battle", "B", "bbbb", "b"),
        (None, None, "direct_chat", "B", "baaa", "a"),
        ("battle", None, "direct_chat", "B", "bbbb", "b"),
        (None, "A", "battle", "B", "aaaa", "a"),
    ],
)
def test_legacy_mode_and_target_decide_positions_and_side(
    mode: Any, target: Any, global_mode: str, global_target: str, positions: str, side: str
) -> None:
    svc = service(
        {"gpt-4o": (mapping(mode=mode, target=target),)},
        **LEGACY,
        id_updater_last_mode=global_mode,
        id_updater_battle_target=global_target,
    )
    request_ = upstream(svc, "gpt-4o", *HISTORY)
    assert "".join(m["participantPosition"] for m in request_.body["messages"]) == positions
    assert request_.side == side


@pytest.mark.parametrize(("target", "position"), [("A", "a"), ("B", "b")])
def test_legacy_battle_injection_takes_the_target_position(target: str, position: str) -> None:
    svc = service(
        **bypass("custom", **LEGACY), id_updater_last_mode="battle", id_updater_battle_target=target
    )
    assert wire_messages(svc, "gpt-4o", msg("user", "hi"))[-1]["participantPosition"] == position


def test_legacy_global_target_in_lower_case_is_accepted() -> None:
    svc = service(**LEGACY, id_updater_last_mode="battle", id_updater_battle_target="b")
    assert plan(svc, "gpt-4o", msg("user", "hi")).side == "b"


def test_legacy_developer_messages_are_system_messages_at_position_b() -> None:
    messages = wire_messages(service(**LEGACY), "gpt-4o", msg("developer", "d"), msg("user", "u"))
    assert [(m["role"], m["participantPosition"]) for m in messages] == [
        ("system", "b"),
        ("user", "a"),
    ]


def test_legacy_without_a_mapping_uses_the_global_ids() -> None:
    chosen = pick_mapping(Settings(**LEGACY), {}, "gpt-4o", first)
    assert (chosen.session_id, chosen.message_id) == ("sess-default", "msg-default")


def test_legacy_without_a_mapping_and_without_defaults_is_a_400_naming_the_model() -> None:
    svc = service(**LEGACY, use_default_ids_if_mapping_not_found=False)
    with pytest.raises(InvalidRequest, match="'gpt-4o'") as caught:
        plan(svc, "gpt-4o", msg("user", "hi"))
    assert caught.value.status == 400


def test_legacy_with_defaults_off_still_uses_a_mapping() -> None:
    svc = service({"gpt-4o": (mapping(),)}, **LEGACY, use_default_ids_if_mapping_not_found=False)
    assert upstream(svc, "gpt-4o", msg("user", "hi")).url == retry_url("sess-map", "msg-map")


def test_legacy_with_a_mapping_needs_no_global_ids() -> None:
    svc = service({"gpt-4o": (mapping(),)}, arena_flow="legacy")
    assert upstream(svc, "gpt-4o", msg("user", "hi")).url == retry_url("sess-map", "msg-map")


@pytest.mark.parametrize(
    "ids",
    [{}, {"session_id": "s"}, {"message_id": "m"}],
)
def test_legacy_without_captured_ids_is_a_400_asking_to_capture_them(ids: dict[str, str]) -> None:
    svc = service(arena_flow="legacy", **ids)
    with pytest.raises(InvalidRequest, match="captured session_id and message_id") as caught:
        plan(svc, "gpt-4o", msg("user", "hi"))
    assert caught.value.status == 400


@pytest.mark.parametrize(("model", "model_id"), [("gpt-4o", "id-gpt-4o"), ("dall-e-3", None)])
def test_legacy_model_id_is_the_arena_id_or_null(model: str, model_id: str | None) -> None:
    assert upstream(service(**LEGACY), model, msg("user", "hi")).body["modelId"] == model_id


def test_legacy_carries_a_token_minted_for_the_retry_action() -> None:
    """The legacy flow uses the retry route, which wants a chat_retry token since 2026 (§1.5)."""
    recaptcha = upstream(service(**LEGACY), "gpt-4o", msg("user", "hi")).recaptcha
    assert recaptcha is not None and recaptcha.action == "chat_retry"


def test_an_image_mapping_makes_a_text_model_send_every_message_as_success() -> None:
    svc = service({"gpt-4o": (mapping(kind="image"),)}, **LEGACY)
    messages = wire_messages(
        svc, "gpt-4o", msg("user", "a"), msg("assistant", "b"), msg("user", "c")
    )
    assert {m["status"] for m in messages} == {"success"}


def test_an_image_mapping_makes_a_text_model_follow_the_image_bypass_rule() -> None:
    svc = service({"gpt-4o": (mapping(kind="image"),)}, **bypass("1", **LEGACY))
    assert [m["content"] for m in wire_messages(svc, "gpt-4o", msg("user", "hi"))] == ["hi"]


# --- modern flow ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tavern", "expected"),
    [
        (False, [("system", "one"), ("user", "hi"), ("system", "two"), ("user", "go")]),
        (True, [("system", "one\n\ntwo"), ("user", "hi"), ("user", "go")]),
    ],
)
def test_developer_is_system_and_tavern_mode_merges_system_prompts(
    tavern: bool, expected: list[tuple[str, str]]
) -> None:
    svc = service(tavern_mode_enabled=tavern)
    messages = [msg("system", "one"), msg("user", "hi"), msg("developer", "two"), msg("user", "go")]
    result = plan(svc, "gpt-4o", *messages)
    assert [(m.role, m.text) for m in result.messages] == expected


def test_a_first_request_creates_an_evaluation() -> None:
    request_ = upstream(service(), "gpt-4o", msg("user", "hi"))
    assert (request_.method, request_.url) == ("POST", f"{STREAM}/create-evaluation")
    assert request_.body["modelAId"] == "id-gpt-4o"


@pytest.mark.parametrize("chat_mode", ["direct", "direct-battle"])
def test_create_evaluation_mode_is_the_arena_chat_mode(chat_mode: str) -> None:
    settings = Settings.model_validate({"arena_chat_mode": chat_mode})
    site = SiteState(settings.arena_chat_mode, settings.arena_modalities)
    call = plan(service(), "gpt-4o", msg("user", "hi")).call
    assert call.build(site.choices("https://arena.ai")).body["mode"] == chat_mode


def test_the_default_mode_is_direct_battle() -> None:
    """§1.3 "Today": LMArena's own pages send direct-battle for one model since 2026-07."""
    assert upstream(service(), "gpt-4o", msg("user", "hi")).body["mode"] == "direct-battle"


@pytest.mark.parametrize(
    ("model", "modality"), [("gpt-4o", "chat"), ("flux-pro", "image"), ("sonar-pro", "search")]
)
def test_modality_follows_the_model_type(model: str, modality: str) -> None:
    assert upstream(service(), model, msg("user", "hi")).body["modality"] == modality


def test_system_prompts_are_joined_before_the_user_text() -> None:
    messages = (msg("system", "be brief"), msg("developer", "use English"), msg("user", "hi"))
    assert prompt_of(service(), "gpt-4o", *messages) == "be brief\n\nuse English\n\nhi"


def test_modern_user_attachments_are_sent() -> None:
    content = [{"type": "text", "text": "look"}, image_part(3)]
    body = upstream(service(), "gpt-4o", msg("user", content)).body
    assert [a["contentType"] for a in body["userMessage"]["experimental_attachments"]] == [
        "image/png"
    ]


def answered(svc: ChatService, *messages: dict[str, Any]) -> tuple[ChatPlan, str]:
    """Plan a request and remember its reply as the route does after a full answer."""
    first_plan = plan(svc, "gpt-4o", *messages)
    svc.store.remember(first_plan.model.name, first_plan.messages, "hello!", SessionRef("S", "A"))
    return first_plan, "hello!"


def test_a_follow_up_posts_only_the_new_message_to_the_evaluation() -> None:
    svc = service()
    _, reply = answered(svc, msg("system", "sys"), msg("user", "hi"))
    request_ = upstream(
        svc,
        "gpt-4o",
        msg("system", "sys"),
        msg("user", "hi"),
        msg("assistant", reply),
        msg("user", "and then?"),
    )
    assert (request_.method, request_.url) == ("POST", f"{STREAM}/post-to-evaluation/S")
    assert (request_.body["id"], request_.body["userMessage"]["content"]) == ("S", "and then?")


def test_a_follow_up_carries_the_mode() -> None:
    """§1.4 2026: post-to-evaluation carries `mode` like create-evaluation."""
    svc = service()
    _, reply = answered(svc, msg("user", "hi"))
    body = upstream(
        svc, "gpt-4o", msg("user", "hi"), msg("assistant", reply), msg("user", "x")
    ).body
    assert body["mode"] == "direct-battle"


def test_the_same_request_again_takes_the_retry_route() -> None:
    svc = service()
    answered(svc, msg("user", "hi"))
    request_ = upstream(svc, "gpt-4o", msg("user", "hi"))
    assert (request_.method, request_.url, request_.body) == ("PUT", retry_url("S", "A"), {})


def test_a_remembered_conversation_of_another_model_is_a_new_session() -> None:
    svc = service()
    answered(svc, msg("user", "hi"))
    assert upstream(svc, "claude-opus", msg("user", "hi")).url == f"{STREAM}/create-evaluation"


def test_a_model_without_an_arena_id_is_a_400_in_the_modern_flow() -> None:
    with pytest.raises(InvalidRequest, match="'dall-e-3'") as caught:
        plan(service(), "dall-e-3", msg("user", "draw"))
    assert (caught.value.status, caught.value.param) == (400, "model")


@pytest.mark.parametrize(("limit", "fits"), [(10, True), (9, False)])
def test_attachments_over_max_attachment_bytes_are_a_413(limit: int, fits: bool) -> None:
    content = [{"type": "text", "text": "look"}, image_part(4), image_part(6)]
    svc = service(max_attachment_bytes=limit)
    if fits:
        assert plan(svc, "gpt-4o", msg("user", content)).messages[0].attachments
    else:
        with pytest.raises(PayloadTooLarge) as caught:
            plan(svc, "gpt-4o", msg("user", content))
        assert caught.value.status == 413


@pytest.mark.parametrize(
    ("messages", "prompt", "extends"),
    [
        ((msg("system", "s"),), "s", None),
        ((msg("assistant", "a"),), f"Assistant: a\n\n{CONTINUE_FOLDED}", "a"),
        (
            (msg("system", "s"), msg("assistant", "a")),
            f"System: s\n\nAssistant: a\n\n{CONTINUE_FOLDED}",
            "a",
        ),
        ((msg("user", "u"), msg("system", "[Continue]")), "u\n\n[Continue]", None),
    ],
)
def test_a_history_without_a_final_user_message_is_served(
    messages: tuple[dict[str, Any], ...], prompt: str, extends: str | None
) -> None:
    planned = plan(service(), "gpt-4o", *messages)
    assert planned.call.build().body["userMessage"]["content"] == prompt
    assert (planned.conversation, planned.extends) == (
        "folded" if extends else "new", extends
    )


@pytest.mark.parametrize(
    "messages",
    [(msg("system", "s"),), (msg("assistant", "a"),), (msg("system", "s"), msg("assistant", "a"))],
)
def test_the_legacy_flow_sends_a_history_without_a_user_message_as_one(
    messages: tuple[dict[str, Any], ...],
) -> None:
    sent = upstream(service(**LEGACY), "gpt-4o", *messages).body["messages"]
    assert [m["role"] for m in sent] == ["user"]


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({}, Recaptcha("", "chat_submit")),  # empty: the relay fills it per worker
        (
            {"recaptcha_site_key": "6Lsite", "recaptcha_action": "sign_up"},
            Recaptcha("6Lsite", "sign_up"),
        ),
    ],
)
def test_the_recaptcha_spec_comes_from_settings(
    overrides: dict[str, str], expected: Recaptcha
) -> None:
    assert upstream(service(**overrides), "gpt-4o", msg("user", "hi")).recaptcha == expected


def test_the_retry_route_carries_a_token_minted_for_chat_retry() -> None:
    """§1.5 2026: the retry's token is minted for its own action, not chat_submit."""
    svc = service(recaptcha_site_key="6Lsite")
    answered(svc, msg("user", "hi"))
    assert upstream(svc, "gpt-4o", msg("user", "hi")).recaptcha == Recaptcha(
        "6Lsite", "chat_retry"
    )


# --- issue 21: an instruction for structured output, the corrective turn ------------------------


def test_the_structured_output_instruction_ends_the_users_message_before_a_bypass_turn() -> None:
    svc = service(**bypass("custom"))  # a system injection opens the session
    planned = svc.plan(request("gpt-4o", msg("user", "hi")), instruction="[JSON only]")
    assert planned.call.build().body["userMessage"]["content"] == "<think>\n\nhi\n\n[JSON only]"
    svc = service(**bypass("default"))  # a user injection is a turn of its own, last
    planned = svc.plan(request("gpt-4o", msg("user", "hi")), instruction="[JSON only]")
    content = planned.call.build().body["userMessage"]["content"]
    assert content == "User: hi\n\n[JSON only]\n\nUser:"
    legacy = service(**LEGACY).plan(request("gpt-4o", msg("user", "hi")), instruction="[JSON]")
    assert [m["content"] for m in legacy.call.build().body["messages"]] == ["hi\n\n[JSON]"]


def test_a_regenerate_with_an_instruction_is_a_new_session() -> None:
    svc = service()
    first = svc.plan(request("gpt-4o", msg("user", "q"))).messages[0]
    svc.store.remember("gpt-4o", [first], "a", SessionRef("s", "m"))
    assert plan(svc, "gpt-4o", msg("user", "q")).conversation == "regenerated"
    planned = svc.plan(request("gpt-4o", msg("user", "q")), instruction="[JSON]")
    assert planned.conversation == "new"
    assert planned.call.build().url.endswith("/create-evaluation")


def test_a_corrective_turn_goes_to_the_same_session_or_extends_the_legacy_history() -> None:
    svc = service()
    first = plan(svc, "gpt-4o", msg("user", "q"))
    follow = svc.follow_up(first, SessionRef("sess-1", "m1"), "prose", "[fix it]")
    built = follow.call.build()
    assert built.url.endswith("/post-to-evaluation/sess-1")
    assert built.body["userMessage"]["content"] == "[fix it]"
    assert (follow.conversation, [m.role for m in follow.messages]) == (
        "continued", ["user", "assistant", "user"]
    )
    legacy = service(**LEGACY)
    again = legacy.follow_up(plan(legacy, "gpt-4o", msg("user", "q")), None, "prose", "[fix]")
    assert [m["content"] for m in again.call.build().body["messages"]] == ["q", "prose", "[fix]"]
