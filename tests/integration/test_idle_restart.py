"""`enable_idle_restart`: on, idle tabs are reloaded after idle_restart_timeout_seconds; off,
they are left alone however long they idle (the same timeout, watched side by side)."""

from __future__ import annotations

from .conftest import Arena, StartGateway


async def test_enable_idle_restart_false_leaves_idle_tabs_alone(
    start_gateway: StartGateway, arena: Arena
) -> None:
    on = start_gateway(idle_restart_timeout_seconds=0.3)
    off = start_gateway(idle_restart_timeout_seconds=0.3, enable_idle_restart=False)
    async with off.worker(arena) as left_alone, on.worker(arena) as reloaded:
        # two idle periods of the gateway that reloads pass: the other saw the same idle time
        await reloaded.wait_until(lambda: reloaded.reloads >= 2, timeout=10)
        assert left_alone.reloads == 0
        assert left_alone.connected
