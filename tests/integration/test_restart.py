"""What survives a restart of the gateway on the same data directory: a conversation continues
in the same LMArena session, and each key's usage totals carry on (store/state.py)."""

from __future__ import annotations

from typing import Any

from .conftest import Arena, StartGateway

ADMIN = "restart-admin-key"
ALICE = "sk-restart-alice"
KEYS: dict[str, Any] = {
    "admin_key": ADMIN,
    "api_keys": [{"name": "alice", "key": ALICE}],
}


async def ask(gateway: Any, arena: Arena, messages: list[dict[str, str]]) -> str:
    async with gateway.worker(arena):
        completion = await gateway.client(api_key=ALICE).chat.completions.create(
            model="fake-gpt", messages=messages
        )
    return str(completion.choices[0].message.content)


async def test_a_conversation_continues_in_its_session_after_a_restart(
    start_gateway: StartGateway, arena: Arena
) -> None:
    first = start_gateway(**KEYS)
    messages = [{"role": "user", "content": "before the restart"}]
    messages.append({"role": "assistant", "content": await ask(first, arena, messages)})
    first.stop()

    second = start_gateway(home=first.gateway.home, **KEYS)
    assert len(second.gateway.chat.store) == 1  # read back from lmarenarev.sqlite3
    messages.append({"role": "user", "content": "after the restart"})
    assert await ask(second, arena, messages) == "Echo: after the restart"
    assert [r.kind for r in arena.fake.requests if r.kind in ("create", "post")] == [
        "create",
        "post",
    ]
    (session,) = arena.fake.sessions.values()  # one LMArena session, both turns in it
    assert [t.user_text for t in session.turns] == ["before the restart", "after the restart"]
    second.stop()


async def test_an_expired_conversation_starts_a_new_session_after_a_restart(
    start_gateway: StartGateway, arena: Arena
) -> None:
    first = start_gateway(**KEYS)
    messages = [{"role": "user", "content": "long ago"}]
    messages.append({"role": "assistant", "content": await ask(first, arena, messages)})
    first.stop()
    # a tiny max age: the saved entry is too old by the time the second gateway reads it
    second = start_gateway(home=first.gateway.home, conversation_max_age_hours=1e-9, **KEYS)
    assert len(second.gateway.chat.store) == 0
    messages.append({"role": "user", "content": "and now"})
    await ask(second, arena, messages)
    assert [r.kind for r in arena.fake.requests if r.kind in ("create", "post")] == [
        "create",
        "create",
    ]
    second.stop()


async def test_key_usage_totals_carry_on_after_a_restart(
    start_gateway: StartGateway, arena: Arena
) -> None:
    first = start_gateway(**KEYS)
    for text in ("one", "two"):
        await ask(first, arena, [{"role": "user", "content": text}])
    first.stop()
    second = start_gateway(home=first.gateway.home, **KEYS)
    await ask(second, arena, [{"role": "user", "content": "three"}])
    async with second.http() as http:
        report = (await http.get("/api/admin/keys", headers={"X-Admin-Key": ADMIN})).json()
    alice = {row["name"]: row for row in report["keys"]}["alice"]
    assert alice["requests"] == 3
    assert alice["completion_tokens"] > 0 and alice["last_used"] is not None
    second.stop()
