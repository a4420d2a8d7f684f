"""The seeds' legacy flow in battle mode, end to end: a model_endpoint_map.json mapping with
`mode: battle` and `battle_target: B` (ids of side B of a battle session, as capture-ids takes
them), through `lmarenarev serve`, the real userscript in Chromium and the fake LMArena."""

from __future__ import annotations

import pytest

from .conftest import Arena, OpenTab, StartGateway

pytestmark = pytest.mark.e2e


def battle_mapping(arena: Arena, target: str) -> dict[str, str]:
    session_id, side_a_message = arena.fake.seed_session("fake-gpt", mode="battle")
    turn = arena.fake.sessions[session_id].turns[0]
    message = side_a_message if target == "A" else turn.model_b_message_id
    assert message is not None
    return {"session_id": session_id, "message_id": message, "mode": "battle",
            "battle_target": target}


@pytest.mark.parametrize("target", ["A", "B"])
def test_a_battle_mapping_answers_from_its_target_side(
    start_gateway: StartGateway, open_tab: OpenTab, arena: Arena, target: str
) -> None:
    mapping = battle_mapping(arena, target)
    gateway = start_gateway(config={"arena_flow": "legacy"},
                            endpoint_map={"fake-gpt": mapping})
    open_tab(gateway)
    client = gateway.client()
    history = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "an answer"},
        {"role": "user", "content": "who wins?"},
    ]
    reply = client.chat.completions.create(model="fake-gpt", messages=history)
    assert reply.choices[0].message.content == "Echo: who wins?"
    stream = client.chat.completions.create(model="fake-gpt", messages=history, stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == (
        "Echo: who wins?"
    )
    legacy = [r for r in arena.fake.requests if r.kind == "legacy"]
    assert len(legacy) == 2
    for request in legacy:  # the whole history, every message on the target's side (§6.6)
        assert request.session_id == mapping["session_id"]
        assert request.path.endswith(f"/messages/{mapping['message_id']}")
        messages = request.body["messages"]
        assert [m["content"] for m in messages] == ["be brief", "first", "an answer", "who wins?"]
        assert {m["participantPosition"] for m in messages} == {target.lower()}
        assert [m["status"] for m in messages] == ["success"] * 3 + ["pending"]
