"""A failed image generation keeps to the logging rule: the model's text reaches the client
that asked, never the log or the request log, unless `log_prompts` asks for it."""

from __future__ import annotations

import asyncio
import logging

import openai
import pytest

from testkit.fakes.arena import Reply

from .conftest import Arena, RunningGateway, StartGateway

SECRET_REPLY = "I cannot draw the private garden of Ms Example at 12 Hidden Lane"


async def failed_generation(gateway: RunningGateway, arena: Arena) -> openai.APIStatusError:
    arena.fake.enqueue(Reply(text=SECRET_REPLY, images=[]))
    async with gateway.worker(arena):
        with pytest.raises(openai.APIStatusError) as caught:
            await gateway.client().images.generate(model="fake-painter", prompt="x")
    return caught.value


async def logged_errors(gateway: RunningGateway) -> str:
    async with gateway.http() as http:
        for _ in range(500):  # the request log is written by its own task
            page = (await http.get("/api/monitor/logs/errors")).json()
            if page["requests"]:
                return str(page["requests"])
            await asyncio.sleep(0.02)
    raise AssertionError("the failure never reached the request log")


async def test_the_models_text_goes_to_the_client_not_to_the_logs(
    start_gateway: StartGateway, arena: Arena, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="lmarenarev")
    gateway = start_gateway()
    error = await failed_generation(gateway, arena)
    assert error.status_code == 502 and SECRET_REPLY in error.message
    assert "Hidden Lane" not in caplog.text
    assert "without an image" in caplog.text and f"{len(SECRET_REPLY)} characters" in caplog.text
    assert "Hidden Lane" not in await logged_errors(gateway)


async def test_with_log_prompts_the_text_is_logged_at_info(
    start_gateway: StartGateway, arena: Arena, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="lmarenarev")
    gateway = start_gateway(log_prompts=True)
    await failed_generation(gateway, arena)
    (record,) = [r for r in caplog.records if "Hidden Lane" in r.getMessage()]
    assert record.levelno == logging.INFO
