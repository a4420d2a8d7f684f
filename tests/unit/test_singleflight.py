from __future__ import annotations

import asyncio

import pytest

from lmarenarev.media.singleflight import SingleFlight


async def test_concurrent_calls_for_one_key_share_one_run() -> None:
    flight: SingleFlight[str, int] = SingleFlight(lambda: RuntimeError("cancelled"))
    runs = 0
    gate = asyncio.Event()

    async def work() -> int:
        nonlocal runs
        runs += 1
        await gate.wait()
        return 42

    calls = [asyncio.create_task(flight.run("k", work)) for _ in range(3)]
    await asyncio.sleep(0)
    gate.set()
    assert await asyncio.gather(*calls) == [42, 42, 42]
    assert runs == 1 and len(flight) == 0


async def test_the_first_callers_cancellation_reaches_the_others_as_an_error() -> None:
    flight: SingleFlight[str, int] = SingleFlight(lambda: RuntimeError("upload cancelled"))
    started = asyncio.Event()

    async def work() -> int:
        started.set()
        await asyncio.Event().wait()
        return 0

    first = asyncio.create_task(flight.run("k", work))
    await started.wait()
    second = asyncio.create_task(flight.run("k", work))
    await asyncio.sleep(0)
    first.cancel()
    with pytest.raises(RuntimeError, match="upload cancelled"):
        await second
    assert first.cancelled() and len(flight) == 0
