"""Reliability: waiting for a tab, lost tabs, clients that leave, LMArena's failures, stalls.

Each test checks what the client sees, what the fake LMArena and the fake worker saw, and that
the gateway holds no per-request state afterwards. Timeouts are shortened through settings.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import openai
import pytest

from lmarenarev.chat.retry import RetryPolicy
from testkit.fakes.arena import RecordedRequest, Reply
from testkit.fakes.worker import FakeWorker

from .conftest import Arena, RunningGateway, StartGateway

FAST: dict[str, Any] = {
    "keepalive_interval_seconds": 0.2,
    "retry_timeout_seconds": 2,
    "first_byte_timeout_seconds": 5,
    "stream_response_timeout_seconds": 5,
    "request_timeout_seconds": 20,
    "empty_response_retry.base_delay_ms": 50,
    "empty_response_retry.max_delay_ms": 200,
}
LONG_TEXT = "one two three four five six seven eight nine ten eleven twelve thirteen"
DEADLINE = 10.0


@pytest.fixture
def start(start_gateway: StartGateway) -> StartGateway:
    """`start_gateway` with short timeouts; keyword arguments override them."""

    def start(**overrides: Any) -> RunningGateway:
        return start_gateway(**{**FAST, **overrides})

    return start


# -- helpers ---------------------------------------------------------------------------------------


def chat(content: str, *, stream: bool = False) -> dict[str, Any]:
    return {
        "model": "fake-gpt",
        "messages": [{"role": "user", "content": content}],
        "stream": stream,
    }


@dataclass
class Sse:
    """What a client read from an event stream, line by line."""

    comments: list[str] = field(default_factory=list)
    data: list[str] = field(default_factory=list)

    def add(self, line: str) -> None:
        if line.startswith(":"):
            self.comments.append(line[1:].strip())
        elif line.startswith("data: "):
            self.data.append(line[6:])

    @property
    def chunks(self) -> list[dict[str, Any]]:
        return [json.loads(d) for d in self.data if d != "[DONE]"]

    @property
    def content(self) -> str:
        return "".join(
            c["choices"][0]["delta"].get("content") or "" for c in self.chunks if c.get("choices")
        )

    @property
    def error(self) -> dict[str, Any] | None:
        errors = [c["error"] for c in self.chunks if "error" in c]
        return errors[-1] if errors else None

    def ended_with_error(self, code: str) -> bool:
        return (
            self.data[-1] == "[DONE]"
            and "error" in json.loads(self.data[-2])
            and self.error is not None
            and self.error["code"] == code
        )


async def read_sse(
    lines: AsyncIterator[str], sse: Sse, until: Callable[[Sse], bool] | None = None
) -> Sse:
    """Read lines into `sse` until `until(sse)` holds, else to the end of the stream."""
    async with asyncio.timeout(DEADLINE):
        async for line in lines:
            sse.add(line)
            if until is not None and until(sse):
                return sse
    assert until is None, f"the stream ended first: {sse}"
    return sse


def chat_jobs(worker: FakeWorker) -> list[str]:
    """The jobs the worker ran for chat replies (not page fetches such as the model list)."""
    return [frame["job"] for frame in worker.jobs_seen if "/stream/" in frame["url"]]


def creates(arena: Arena) -> list[RecordedRequest]:
    return [r for r in arena.fake.requests if r.kind == "create"]


def gaps(requests: list[RecordedRequest]) -> list[float]:
    return [later.at - earlier.at for earlier, later in itertools.pairwise(requests)]


async def settled(gateway: RunningGateway, arena: Arena, timeout: float = 5.0) -> None:
    """Wait until the gateway holds no job, waiter or busy slot and no upstream stream is open."""
    deadline = time.monotonic() + timeout
    sizes: dict[str, int] | None = None
    while True:
        try:
            sizes = gateway.gateway.sizes()
        except RuntimeError:  # a dict changed size while read from this thread: look again
            sizes = None
        idle = sizes is not None and sizes["jobs"] == sizes["waiting"] == sizes["busy_slots"] == 0
        if idle and arena.fake.open_streams == 0:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"left over: {sizes}, open streams {arena.fake.open_streams}")
        await asyncio.sleep(0.01)


async def stream_text(gateway: RunningGateway, content: str) -> Sse:
    async with (
        gateway.http() as http,
        http.stream("POST", "/v1/chat/completions", json=chat(content, stream=True)) as response,
    ):
        assert response.status_code == 200
        return await read_sse(response.aiter_lines(), Sse())


async def wait_for(predicate: Callable[[], bool], what: str) -> None:
    async with asyncio.timeout(DEADLINE):
        while not predicate():
            await asyncio.sleep(0.005)
    assert predicate(), what


# -- 1. no worker yet ------------------------------------------------------------------------------


async def a_tab_came_and_went(gateway: RunningGateway, arena: Arena) -> None:
    """A tab connects and leaves (as one does when it reloads): from now on requests wait the
    whole `retry_timeout_seconds` for a tab, not only `first_tab_wait_seconds`."""
    async with gateway.worker(arena):
        pass
    await wait_for(lambda: not gateway.gateway.pool.workers, "the tab to leave")


def counting_client(gateway: RunningGateway, sent: list[str]) -> openai.AsyncOpenAI:
    """The official client as a user makes it: its default retries (2), every attempt counted."""

    async def count(request: httpx.Request) -> None:
        sent.append(request.url.path)

    http = httpx.AsyncClient(event_hooks={"request": [count]})
    return openai.AsyncOpenAI(base_url=f"{gateway.url}/v1", api_key="any", http_client=http)


@pytest.mark.parametrize("stream", [False, True])
async def test_before_any_tab_the_openai_client_gets_one_quick_503_that_says_what_to_do(
    start: StartGateway, arena: Arena, stream: bool
) -> None:
    gateway = start(retry_timeout_seconds=60, first_tab_wait_seconds=0.5)
    sent: list[str] = []
    started = time.monotonic()
    async with counting_client(gateway, sent) as client:
        with pytest.raises(openai.APIStatusError) as caught:
            await client.chat.completions.create(
                model="fake-gpt", messages=[{"role": "user", "content": "anyone?"}], stream=stream
            )
    assert time.monotonic() - started < DEADLINE  # not 60 s, nor three times that
    assert sent == ["/v1/chat/completions"]  # x-should-retry: false, so no retry
    response = caught.value.response
    assert response.status_code == 503  # a stream too: no 200 and an error frame later
    assert response.headers["x-should-retry"] == "false"
    assert response.headers["retry-after"].isdigit()
    error = response.json()["error"]
    assert error["code"] == "no_worker" and "(waited 0.5 s)" in error["message"]
    assert "userscript" in error["message"] and "https://arena.ai/text/direct" in error["message"]
    await settled(gateway, arena)


async def test_a_stream_sent_before_the_first_tab_is_answered_when_a_tab_connects_in_time(
    start: StartGateway, arena: Arena
) -> None:
    gateway = start(first_tab_wait_seconds=DEADLINE)
    asking = asyncio.create_task(stream_text(gateway, "just in time"))
    await wait_for(lambda: gateway.gateway.pool.waiting == 1, "the stream to wait")
    async with gateway.worker(arena):
        sse = await asyncio.wait_for(asking, DEADLINE)
    assert sse.content == "Echo: just in time" and sse.data[-1] == "[DONE]"
    await settled(gateway, arena)


async def test_a_stream_waiting_for_a_tab_to_come_back_gets_keepalives_then_the_reply(
    start: StartGateway, arena: Arena
) -> None:
    gateway = start(retry_timeout_seconds=5)
    await a_tab_came_and_went(gateway, arena)
    async with (
        gateway.http() as http,
        http.stream("POST", "/v1/chat/completions", json=chat("patience", stream=True)) as response,
    ):
        assert response.status_code == 200
        lines = response.aiter_lines()
        sse = await read_sse(lines, Sse(), until=lambda s: "keep-alive" in s.comments)
        assert sse.data == []
        async with gateway.worker(arena):
            await read_sse(lines, sse)
    assert sse.content == "Echo: patience" and sse.data[-1] == "[DONE]"
    await settled(gateway, arena)


async def test_a_stream_that_finds_no_worker_ends_with_a_no_worker_error_frame(
    start: StartGateway, arena: Arena
) -> None:
    gateway = start(retry_timeout_seconds=1)
    await a_tab_came_and_went(gateway, arena)
    sse = await stream_text(gateway, "anyone?")
    assert sse.comments.count("keep-alive") >= 2
    assert sse.ended_with_error("no_worker") and sse.content == ""
    await settled(gateway, arena)


async def test_a_request_that_finds_no_worker_is_a_503_that_says_what_to_do(
    start: StartGateway, arena: Arena
) -> None:
    gateway = start(retry_timeout_seconds=1)
    await a_tab_came_and_went(gateway, arena)
    started = time.monotonic()
    async with gateway.http() as http:
        response = await http.post("/v1/chat/completions", json=chat("anyone?"))
    assert time.monotonic() - started >= 1  # the whole wait: the tab may have been reloading
    assert response.status_code == 503
    assert response.headers["x-should-retry"] == "false"
    error = response.json()["error"]
    assert error["code"] == "no_worker" and "(waited 1 s)" in error["message"]
    assert "userscript" in error["message"] and "arena.ai" in error["message"]
    await settled(gateway, arena)


@pytest.mark.parametrize("stream", [False, True])
async def test_a_full_wait_queue_refuses_at_once_with_retry_after(
    start: StartGateway, arena: Arena, stream: bool
) -> None:
    gateway = start(retry_timeout_seconds=10, max_waiting_requests=1)
    await a_tab_came_and_went(gateway, arena)
    async with gateway.http() as http:
        waiting = asyncio.create_task(http.post("/v1/chat/completions", json=chat("first")))
        await wait_for(lambda: gateway.gateway.pool.waiting == 1, "a request waiting")
        started = time.monotonic()
        refused = await http.post("/v1/chat/completions", json=chat("second", stream=stream))
        assert time.monotonic() - started < 2
        assert refused.status_code == 503 and refused.headers["retry-after"].isdigit()
        assert refused.json()["error"]["code"] == "queue_full"
        async with gateway.worker(arena):
            served = await asyncio.wait_for(waiting, DEADLINE)
    assert served.json()["choices"][0]["message"]["content"] == "Echo: first"
    assert [r.body["userMessage"]["content"] for r in creates(arena)] == ["first"]
    await settled(gateway, arena)


@pytest.mark.parametrize("stream", [False, True])
async def test_a_client_that_gives_up_while_waiting_leaves_the_queue(
    start: StartGateway, arena: Arena, stream: bool
) -> None:
    gateway = start(retry_timeout_seconds=10)
    await a_tab_came_and_went(gateway, arena)
    async with gateway.http() as http:
        if stream:
            async with http.stream(
                "POST", "/v1/chat/completions", json=chat("gone", stream=True)
            ) as response:
                await read_sse(response.aiter_lines(), Sse(), until=lambda s: bool(s.comments))
        else:
            asking = asyncio.create_task(http.post("/v1/chat/completions", json=chat("gone")))
            await wait_for(lambda: gateway.gateway.pool.waiting == 1, "a request waiting")
            asking.cancel()
            with pytest.raises(asyncio.CancelledError):
                await asking
    await settled(gateway, arena)
    async with gateway.worker(arena) as worker:
        await settled(gateway, arena)
        assert chat_jobs(worker) == [] and creates(arena) == []


# -- 2. worker lost --------------------------------------------------------------------------------


async def test_a_job_lost_before_any_output_moves_to_another_worker_unnoticed(
    start: StartGateway, arena: Arena
) -> None:
    gateway = start()
    arena.fake.enqueue(Reply(first_byte_delay=5))
    async with gateway.worker(arena) as first:
        reading = asyncio.create_task(stream_text(gateway, "still here?"))
        await arena.fake.wait_for_async(lambda: arena.fake.open_streams == 1)
        async with gateway.worker(arena) as second:
            await first.close_abruptly()
            sse = await asyncio.wait_for(reading, DEADLINE)
            assert sse.content == "Echo: still here?" and sse.error is None
            assert len(chat_jobs(first)) == 1 and len(chat_jobs(second)) == 1
    await arena.fake.wait_for_async(lambda: arena.fake.disconnected_streams == 1)
    assert [r.status for r in creates(arena)] == [200, 200]
    await settled(gateway, arena)


async def test_a_job_lost_after_output_ends_with_an_error_frame(
    start: StartGateway, arena: Arena
) -> None:
    gateway = start()
    arena.fake.enqueue(Reply(text=LONG_TEXT, chunk_size=24, delay=0.2, heartbeats=0))
    async with (
        gateway.worker(arena) as worker,
        gateway.http() as http,
        http.stream("POST", "/v1/chat/completions", json=chat("go", stream=True)) as response,
    ):
        lines = response.aiter_lines()
        sse = await read_sse(lines, Sse(), until=lambda s: s.content != "")
        await worker.close_abruptly()
        await read_sse(lines, sse)
    assert sse.ended_with_error("worker_lost")
    assert LONG_TEXT.startswith(sse.content) and sse.content != LONG_TEXT
    assert len(creates(arena)) == 1  # not retried once the client got text
    await arena.fake.wait_for_async(lambda: arena.fake.disconnected_streams == 1)
    await settled(gateway, arena)


async def test_a_job_of_a_worker_that_stops_answering_pings_moves_to_another(
    start: StartGateway, arena: Arena
) -> None:
    gateway = start(worker_ping_interval_seconds=0.1, worker_ping_timeout_seconds=0.5)
    arena.fake.enqueue(Reply(first_byte_delay=5))
    async with gateway.worker(arena) as silent:
        reading = asyncio.create_task(stream_text(gateway, "ping?"))
        await arena.fake.wait_for_async(lambda: arena.fake.open_streams == 1)
        async with gateway.worker(arena) as healthy:
            silent.respond_to_pings = False
            sse = await asyncio.wait_for(reading, DEADLINE)
            assert sse.content == "Echo: ping?" and sse.error is None
            await silent.wait_until(silent.disconnected.is_set)
            assert silent.pings > 0
            assert len(chat_jobs(silent)) == 1 and len(chat_jobs(healthy)) == 1
    await arena.fake.wait_for_async(lambda: arena.fake.disconnected_streams == 1)
    await settled(gateway, arena)


# -- 3. client gone --------------------------------------------------------------------------------


async def test_a_stream_client_that_leaves_aborts_the_job_and_the_upstream_request(
    start: StartGateway, arena: Arena
) -> None:
    gateway = start()
    arena.fake.enqueue(Reply(text=LONG_TEXT, chunk_size=24, delay=0.2, heartbeats=0))
    async with gateway.worker(arena) as worker:
        async with (
            gateway.http() as http,
            http.stream("POST", "/v1/chat/completions", json=chat("bye", stream=True)) as response,
        ):
            await read_sse(response.aiter_lines(), Sse(), until=lambda s: s.content != "")
        (job,) = chat_jobs(worker)
        await worker.wait_until(lambda: worker.aborted == {job})
        await arena.fake.wait_for_async(lambda: arena.fake.disconnected_streams == 1)
        await settled(gateway, arena)
    assert arena.fake.completed_streams == 0


async def test_a_non_stream_client_that_leaves_aborts_the_job_and_the_upstream_request(
    start: StartGateway, arena: Arena
) -> None:
    gateway = start()
    arena.fake.enqueue(Reply(first_byte_delay=5))
    async with gateway.worker(arena) as worker, gateway.http() as http:
        asking = asyncio.create_task(http.post("/v1/chat/completions", json=chat("bye")))
        await arena.fake.wait_for_async(lambda: arena.fake.open_streams == 1)
        asking.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asking
        (job,) = chat_jobs(worker)
        await worker.wait_until(lambda: worker.aborted == {job})
        await arena.fake.wait_for_async(lambda: arena.fake.disconnected_streams == 1)
        await settled(gateway, arena)
    assert arena.fake.completed_streams == 0


# -- 4. upstream failures: rate limits ------------------------------------------------------------


async def test_a_429_is_retried_after_its_retry_after(start: StartGateway, arena: Arena) -> None:
    gateway = start()
    arena.fake.enqueue(Reply.rate_limited(1))
    async with gateway.worker(arena), gateway.http() as http:
        response = await http.post("/v1/chat/completions", json=chat("later"))
    assert response.json()["choices"][0]["message"]["content"] == "Echo: later"
    requests = creates(arena)
    assert [r.status for r in requests] == [429, 200]
    assert gaps(requests)[0] >= 1
    await settled(gateway, arena)


async def test_a_long_retry_after_is_capped_by_rate_limit_max_wait(
    start: StartGateway, arena: Arena
) -> None:
    gateway = start(rate_limit_max_wait_seconds=0.3)
    arena.fake.enqueue(Reply.rate_limited(30))
    async with gateway.worker(arena), gateway.http() as http:
        response = await http.post("/v1/chat/completions", json=chat("later"))
    assert response.json()["choices"][0]["message"]["content"] == "Echo: later"
    (gap,) = gaps(creates(arena))
    assert 0.3 <= gap < 5
    await settled(gateway, arena)


async def test_a_persistent_429_reaches_the_client_with_retry_after(
    start: StartGateway, arena: Arena
) -> None:
    gateway = start(rate_limit_max_wait_seconds=0.1)
    attempts = 1 + RetryPolicy().rate_limit_retries
    arena.fake.enqueue(*[Reply.rate_limited(7)] * (attempts + 2))
    async with gateway.worker(arena), gateway.http() as http:
        response = await http.post("/v1/chat/completions", json=chat("now"))
    assert response.status_code == 429 and response.headers["retry-after"] == "7"
    assert response.json()["error"]["code"] == "rate_limited"
    assert len(creates(arena)) == attempts
    await settled(gateway, arena)


# -- 4. upstream failures: reCAPTCHA, Cloudflare, auth, size -------------------------------------


async def test_a_rejected_recaptcha_token_is_replaced_by_a_fresh_one(
    start: StartGateway, arena: Arena
) -> None:
    gateway = start()
    arena.fake.enqueue(Reply.recaptcha_failed())
    async with gateway.worker(arena), gateway.http() as http:
        response = await http.post("/v1/chat/completions", json=chat("human"))
    assert response.json()["choices"][0]["message"]["content"] == "Echo: human"
    requests = creates(arena)
    assert [r.status for r in requests] == [403, 200]
    tokens = [r.body["recaptchaV3Token"] for r in requests]
    assert all(tokens) and tokens[0] != tokens[1]
    await settled(gateway, arena)


async def test_a_recaptcha_that_always_fails_ends_after_bounded_attempts(
    start: StartGateway, arena: Arena
) -> None:
    gateway = start(recaptcha_site_key="6LwrongSiteKeyThatLMArenaDoesNotAccept00")
    async with gateway.worker(arena), gateway.http() as http:
        response = await http.post("/v1/chat/completions", json=chat("human"))
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "recaptcha_failed"
    requests = creates(arena)
    assert len(requests) == 1 + RetryPolicy().recaptcha_retries
    assert {r.status for r in requests} == {403}
    await settled(gateway, arena)


async def test_a_cloudflare_challenge_reloads_the_tab_and_another_tab_serves(
    start: StartGateway, arena: Arena
) -> None:
    gateway = start()
    pool = gateway.gateway.pool
    arena.fake.enqueue(Reply.cloudflare())
    async with gateway.worker(arena, reconnect=True) as challenged, gateway.worker(arena) as other:

        def back() -> bool:
            hellos = [frame for frame in challenged.sent if frame["type"] == "hello"]
            workers = list(pool.workers.values())
            return len(hellos) == 2 and len(workers) == 2 and not any(w.reloading for w in workers)

        await settled(gateway, arena)  # the tabs are idle: the first one gets the next job
        async with gateway.http() as http:
            response = await http.post("/v1/chat/completions", json=chat("through"))
            assert response.json()["choices"][0]["message"]["content"] == "Echo: through"
            assert challenged.reloads == 1
            assert len(chat_jobs(challenged)) == 1 and len(chat_jobs(other)) == 1
            await wait_for(back, "the reloaded tab to reconnect")
            assert challenged.tab in {w.hello.tab for w in pool.workers.values()}
            again = await http.post("/v1/chat/completions", json=chat("again"))
        assert again.json()["choices"][0]["message"]["content"] == "Echo: again"
    assert [r.status for r in creates(arena)] == [403, 200, 200]
    await settled(gateway, arena)


async def test_a_401_tells_the_user_to_log_in_in_the_worker_tab(
    start: StartGateway, arena: Arena
) -> None:
    gateway = start()
    arena.fake.enqueue(Reply.unauthorized())
    async with gateway.worker(arena), gateway.http() as http:
        response = await http.post("/v1/chat/completions", json=chat("me"))
    assert response.status_code == 401
    error = response.json()["error"]
    assert error["code"] == "lmarena_login_required"
    assert "log in to LMArena" in error["message"] and "tab" in error["message"]
    assert len(creates(arena)) == 1
    await settled(gateway, arena)


async def test_a_413_is_attachment_too_large_with_the_limit(
    start: StartGateway, arena: Arena
) -> None:
    gateway = start()
    arena.fake.enqueue(Reply.too_large())
    async with gateway.worker(arena), gateway.http() as http:
        response = await http.post("/v1/chat/completions", json=chat("big"))
    assert response.status_code == 413
    error = response.json()["error"]
    assert error["code"] == "attachment_too_large" and "5 MB" in error["message"]
    assert len(creates(arena)) == 1
    await settled(gateway, arena)


# -- 4. upstream failures: empty replies and in-band errors ---------------------------------------

EMPTY_KINDS = [
    pytest.param(Reply.empty(), "empty_response", id="empty"),
    pytest.param(Reply.resource_exhausted(), "empty_response", id="resource-exhausted"),
    pytest.param(Reply.arena_error(), "arena_error", id="hasArenaError"),
]
IDS = ("id", "userMessageId", "modelAMessageId")


@pytest.mark.parametrize(("bad", "code"), EMPTY_KINDS)
async def test_an_empty_reply_is_retried_with_fresh_ids_and_exponential_backoff(
    start: StartGateway, arena: Arena, bad: Reply, code: str
) -> None:
    gateway = start(
        **{
            "empty_response_retry.max_retries": 4,
            "empty_response_retry.base_delay_ms": 100,
            "empty_response_retry.max_delay_ms": 250,
        }
    )
    arena.fake.enqueue(bad, bad, bad, bad)
    async with gateway.worker(arena), gateway.http() as http:
        response = await http.post("/v1/chat/completions", json=chat("hello?"))
    assert response.json()["choices"][0]["message"]["content"] == "Echo: hello?"
    requests = creates(arena)
    assert len(requests) == 5
    for key in IDS:
        assert len({r.body[key] for r in requests}) == 5, key
    # Delays 0.1, 0.2, then capped at 0.25 (uncapped, the last would be 0.8).
    spacing = gaps(requests)
    assert all(gap >= least for gap, least in zip(spacing, (0.1, 0.2, 0.25, 0.25), strict=True))
    assert spacing[-1] < 0.8
    await settled(gateway, arena)


@pytest.mark.parametrize(("bad", "code"), EMPTY_KINDS)
async def test_an_empty_reply_is_not_retried_when_disabled(
    start: StartGateway, arena: Arena, bad: Reply, code: str
) -> None:
    gateway = start(**{"empty_response_retry.enabled": False})
    arena.fake.enqueue(bad)
    async with gateway.worker(arena), gateway.http() as http:
        response = await http.post("/v1/chat/completions", json=chat("hello?"))
    assert response.status_code == 502 and response.json()["error"]["code"] == code
    assert len(creates(arena)) == 1
    await settled(gateway, arena)


@pytest.mark.parametrize(("bad", "code"), EMPTY_KINDS)
async def test_empty_replies_end_in_an_error_after_max_retries(
    start: StartGateway, arena: Arena, bad: Reply, code: str
) -> None:
    gateway = start(**{"empty_response_retry.max_retries": 2})
    arena.fake.enqueue(*[bad] * 5)
    async with gateway.worker(arena), gateway.http() as http:
        response = await http.post("/v1/chat/completions", json=chat("hello?"))
    assert response.status_code == 502 and response.json()["error"]["code"] == code
    assert len(creates(arena)) == 3
    await settled(gateway, arena)


# -- 4. stalls and the total budget ---------------------------------------------------------------


async def test_no_first_byte_in_time_is_a_504_and_the_job_is_aborted(
    start: StartGateway, arena: Arena
) -> None:
    gateway = start(first_byte_timeout_seconds=0.5)
    arena.fake.enqueue(Reply(first_byte_delay=5))
    async with gateway.worker(arena) as worker, gateway.http() as http:
        response = await http.post("/v1/chat/completions", json=chat("slow"))
        assert response.status_code == 504 and response.json()["error"]["code"] == "timeout"
        (job,) = chat_jobs(worker)
        await worker.wait_until(lambda: worker.aborted == {job})
        await arena.fake.wait_for_async(lambda: arena.fake.disconnected_streams == 1)
        await settled(gateway, arena)


async def test_a_stall_between_chunks_ends_the_stream_with_an_error_frame(
    start: StartGateway, arena: Arena
) -> None:
    gateway = start(stream_response_timeout_seconds=0.5)
    arena.fake.enqueue(Reply(text=LONG_TEXT, chunk_size=80, delay=5, heartbeats=0))
    async with gateway.worker(arena) as worker:
        sse = await stream_text(gateway, "stall")
        assert sse.ended_with_error("timeout")
        assert sse.content and LONG_TEXT.startswith(sse.content) and sse.content != LONG_TEXT
        await worker.wait_until(lambda: worker.aborted == set(chat_jobs(worker)))
        await arena.fake.wait_for_async(lambda: arena.fake.disconnected_streams == 1)
        await settled(gateway, arena)


async def test_the_total_budget_ends_a_request_that_keeps_retrying(
    start: StartGateway, arena: Arena
) -> None:
    gateway = start(
        request_timeout_seconds=1.5,
        **{
            "empty_response_retry.max_retries": 100,
            "empty_response_retry.base_delay_ms": 100,
            "empty_response_retry.max_delay_ms": 100,
        },
    )
    arena.fake.enqueue(*[Reply.empty()] * 100)
    started = time.monotonic()
    async with gateway.worker(arena), gateway.http() as http:
        response = await http.post("/v1/chat/completions", json=chat("forever"))
    assert time.monotonic() - started < 3
    assert response.status_code == 504 and response.json()["error"]["code"] == "timeout"
    assert "1.5 s budget" in response.json()["error"]["message"]
    assert len(creates(arena)) > 3
    await settled(gateway, arena)


# -- 4. retries shown to a streaming client -------------------------------------------------------


@pytest.mark.parametrize("show", [True, False])
async def test_retries_are_shown_as_sse_comments_only_when_asked(
    start: StartGateway, arena: Arena, show: bool
) -> None:
    gateway = start(**{"empty_response_retry.show_retry_info_to_client": show})
    arena.fake.enqueue(Reply.empty(), Reply.empty())
    async with gateway.worker(arena):
        sse = await stream_text(gateway, "retry me")
    assert sse.content == "Echo: retry me" and sse.error is None
    notices = [c for c in sse.comments if "retry" in c]
    assert len(notices) == (2 if show else 0)
    await settled(gateway, arena)


# -- 5. bounded state ------------------------------------------------------------------------------


async def test_a_burst_of_mixed_outcomes_leaves_no_per_request_state(
    start: StartGateway, arena: Arena
) -> None:
    gateway = start()
    fake = arena.fake
    fake.enqueue_for("refused", Reply.unauthorized())
    fake.enqueue_for("empty once", Reply.empty())
    fake.enqueue_for("cut", Reply(text=LONG_TEXT, cut_after_bytes=150, chunk_size=20))
    fake.enqueue_for("left", Reply(text=LONG_TEXT, chunk_size=24, delay=0.2))
    fake.enqueue_for("timed out", Reply(first_byte_delay=5))
    fake.enqueue_for("cancelled", Reply(first_byte_delay=5))

    async def post(content: str, **kwargs: Any) -> httpx.Response:
        return await http.post("/v1/chat/completions", json=chat(content), **kwargs)

    async def leave_after_first_text() -> None:
        async with http.stream(
            "POST", "/v1/chat/completions", json=chat("left", stream=True)
        ) as response:
            await read_sse(response.aiter_lines(), Sse(), until=lambda s: s.content != "")

    def upstream(*prompts: str) -> bool:
        return set(prompts) <= {r.body["userMessage"]["content"] for r in creates(arena)}

    async with gateway.worker(arena) as one, gateway.worker(arena) as two, gateway.http() as http:
        cancelled = asyncio.create_task(post("cancelled"))
        timed_out = asyncio.create_task(post("timed out", timeout=1))
        await fake.wait_for_async(lambda: upstream("cancelled", "timed out"))
        fine, refused, empty, cut, _ = await asyncio.gather(
            asyncio.gather(*(post(f"fine {i}") for i in range(4))),
            post("refused"),
            post("empty once"),
            stream_text(gateway, "cut"),
            leave_after_first_text(),
        )
        cancelled.cancel()
        with pytest.raises(httpx.ReadTimeout):
            await timed_out
        assert [r.json()["choices"][0]["message"]["content"] for r in fine] == [
            f"Echo: fine {i}" for i in range(4)
        ]
        assert refused.status_code == 401
        assert empty.json()["choices"][0]["message"]["content"] == "Echo: empty once"
        assert cut.ended_with_error("upstream_error")
        await settled(gateway, arena)
        assert one.running_jobs == two.running_jobs == set()
    assert (fake.completed_streams, fake.disconnected_streams, fake.cut_streams) == (6, 3, 1)
