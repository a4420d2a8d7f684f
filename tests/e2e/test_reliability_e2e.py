"""Reliability through the real browser: reloads, aborts, challenges, 429s, background tabs.

Each test breaks something on purpose while a request is in flight (the fake LMArena holds its
first byte back, so the moment is deterministic) and checks that the client still gets exactly
its reply, and what the fake saw upstream.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import openai
import pytest

from testkit.fakes.arena import ERA_2025, RecordedRequest, Reply, ReplyDefaults
from testkit.support import wait_until

from .conftest import (
    BOTH_ERAS,
    Arena,
    GatewayProcess,
    OpenTab,
    SentFrames,
    record_sent_frames,
)

pytestmark = pytest.mark.e2e

HELD_BACK = 30.0  # first-byte delay of a reply the test interrupts; far beyond any wait here


@pytest.fixture(autouse=True)
def _plain_fake(arena: Arena) -> Iterator[None]:
    """`reset()` keeps the fake's configuration; these tests change it, so put it back."""
    arena.fake.defaults = ReplyDefaults()
    yield
    arena.fake.defaults = ReplyDefaults()
    arena.fake.challenge_pages = False
    arena.fake.challenge_streams = False


@pytest.fixture
def background() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(max_workers=2) as pool:
        yield pool


def stream_text(client: openai.OpenAI, prompt: str) -> str:
    stream = client.chat.completions.create(
        model="fake-gpt", messages=[{"role": "user", "content": prompt}], stream=True
    )
    return "".join(c.choices[0].delta.content or "" for c in stream if c.choices)


def creates(arena: Arena) -> list[RecordedRequest]:
    return [r for r in arena.fake.requests if r.kind == "create"]


def wait_for_creates(arena: Arena, count: int, timeout: float = 15) -> None:
    wait_until(lambda: len(creates(arena)) >= count, timeout, f"{count} create request(s)")


def wait_for_streams(arena: Arena, *, completed: int, disconnected: int) -> None:
    fake = arena.fake
    fake.wait_for(
        lambda: (fake.completed_streams, fake.disconnected_streams) == (completed, disconnected),
        timeout=10,
    )


def logged(gateway: GatewayProcess, since: int, text: str) -> bool:
    return any(text in line for line in gateway.lines[since:])


def chunk_frames(sent: SentFrames) -> list[tuple[float, dict[str, Any]]]:
    """The chunks of the one job the page ran, once its `done` frame was seen."""
    # Playwright may report a frame a little after the gateway (and the client) got it.
    wait_until(lambda: any(f["type"] == "done" for _, f in sent), 5, "the done frame")
    (job,) = {f["job"] for _, f in sent if f["type"] == "status"}
    return [(t, f) for t, f in sent if f["type"] == "chunk" and f["job"] == job]


def test_a_tab_reload_during_a_request_still_delivers_the_full_reply(
    gateway: GatewayProcess, open_tab: OpenTab, arena: Arena, background: ThreadPoolExecutor
) -> None:
    tab = open_tab()
    arena.fake.enqueue(Reply(first_byte_delay=HELD_BACK))
    prompt = "a reply that survives a reload"
    reply = background.submit(stream_text, gateway.client(), prompt)
    wait_for_creates(arena, 1)
    tab.reload()
    assert reply.result(timeout=30) == f"Echo: {prompt}"
    wait_for_streams(arena, completed=1, disconnected=1)
    assert [r.status for r in creates(arena)] == [200, 200]


def test_a_client_that_goes_away_aborts_the_upstream_fetch(
    gateway: GatewayProcess, open_tab: OpenTab, arena: Arena
) -> None:
    tab = open_tab()
    arena.fake.enqueue(Reply(text="word " * 400, delay=0.02))  # 250 records: about 5 s
    stream = gateway.client().chat.completions.create(
        model="fake-gpt", messages=[{"role": "user", "content": "go away early"}], stream=True
    )
    next(c for c in stream if c.choices and c.choices[0].delta.content)
    stream.close()
    wait_for_streams(arena, completed=0, disconnected=1)
    tab.wait_for("window.__lmarenarev.status().jobs.length === 0", timeout=5)


@BOTH_ERAS
def test_a_cloudflare_challenge_is_cleared_by_reloading_the_tab(
    gateway: GatewayProcess, open_tab: OpenTab, arena: Arena, era: str
) -> None:
    """A 403 challenge (2025), a 429 with cf-mitigated: challenge (2026, §3.1): the same."""
    tab = open_tab()
    navigations: list[str] = []

    async def watch(page: Any) -> None:
        page.on(
            "framenavigated",
            lambda frame: navigations.append(frame.url) if frame == page.main_frame else None,
        )

    tab.run(watch)
    mark, before = len(gateway.lines), len(arena.fake.requests)
    arena.fake.challenge_pages = True
    arena.fake.challenge_streams = True
    prompt = f"behind a challenge ({era})"  # a new conversation in each era's run
    assert stream_text(gateway.client(), prompt) == f"Echo: {prompt}"
    after = arena.fake.requests[before:]
    seen = [(r.kind, r.status) for r in after if r.kind in ("create", "page")]
    challenged = 403 if era == ERA_2025 else 429
    assert seen == [("create", challenged), ("page", 403), ("page", 200), ("create", 200)]
    assert creates(arena)[-1].cookies.get("cf_clearance")
    wait_until(lambda: logged(gateway, mark, "Cloudflare challenge"), 5, "the reload log line")
    # The reload the gateway asked for, then the one of the solved challenge page.
    wait_until(lambda: len(navigations) >= 2, 5, "two navigations")
    assert len(navigations) == 2
    title = tab.wait_for_title_prefix("✅")
    assert "Just a moment" not in title


def test_a_429_is_honoured_before_the_retry(
    gateway: GatewayProcess, open_tab: OpenTab, arena: Arena
) -> None:
    open_tab()
    arena.fake.enqueue(Reply.rate_limited(retry_after=2), Reply())
    completion = gateway.client().chat.completions.create(
        model="fake-gpt", messages=[{"role": "user", "content": "patience"}]
    )
    assert completion.choices[0].message.content == "Echo: patience"
    limited, retried = creates(arena)
    assert (limited.status, retried.status) == (429, 200)
    assert retried.at - limited.at >= 2.0


def test_twelve_streams_on_two_tabs_survive_a_reload_of_one(
    gateway: GatewayProcess, open_tab: OpenTab, arena: Arena
) -> None:
    reloaded, _ = open_tab(), open_tab()
    arena.fake.defaults.first_byte_delay = 2.0
    client = gateway.async_client()
    prompts = [f"stream {i}: " + " ".join(f"w{i}x{j}" for j in range(10)) for i in range(12)]

    async def ask(prompt: str) -> str:
        stream = await client.chat.completions.create(
            model="fake-gpt", messages=[{"role": "user", "content": prompt}], stream=True
        )
        return "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])

    async def run() -> list[str]:
        asks = [asyncio.create_task(ask(prompt)) for prompt in prompts]
        await asyncio.to_thread(wait_for_creates, arena, 12)
        await asyncio.to_thread(reloaded.reload)
        return list(await asyncio.gather(*asks))

    replies = asyncio.run(run())
    assert replies == [f"Echo: {prompt}" for prompt in prompts]
    assert arena.fake.max_concurrent_streams >= 12  # a tab fetches at most 6 at once: both ran
    wait_for_streams(arena, completed=12, disconnected=6)


def test_a_background_tab_batches_its_chunks(
    gateway: GatewayProcess, open_tab: OpenTab, arena: Arena
) -> None:
    tab = open_tab()
    sent = record_sent_frames(tab, gateway)
    tab.set_hidden(True)
    text = " ".join(f"word{i}" for i in range(150))
    arena.fake.enqueue(Reply(text=text, chunk_size=4, delay=0.005))
    assert stream_text(gateway.client(), "many small writes") == text
    chunks = chunk_frames(sent)
    assert [f["seq"] for _, f in chunks] == list(range(len(chunks)))
    body = "".join(f["data"] for _, f in chunks).encode()
    upstream_writes = math.ceil(len(body) / 4)
    assert len(chunks) < upstream_writes / 4
    spread = chunks[-1][0] - chunks[0][0]
    assert len(chunks) <= spread / 0.1 + 2


def test_showing_a_background_tab_flushes_its_buffer_at_once(
    gateway: GatewayProcess, open_tab: OpenTab, arena: Arena, background: ThreadPoolExecutor
) -> None:
    tab = open_tab()
    sent = record_sent_frames(tab, gateway)
    # Background tabs throttle timers (to once a minute after a while): emulate that, so the
    # buffer can only leave through the visibility change or the next upstream write.
    tab.evaluate(
        """() => {
        const plain = window.setTimeout;
        window.__throttled = 0;
        window.setTimeout = (fn, ms, ...args) => {
          if (!document.hidden || !(ms > 0)) return plain(fn, ms, ...args);
          window.__throttled++;
          return plain(fn, Math.max(ms, 60000), ...args);
        };
      }"""
    )
    # Writes: af at once, a0 after 1.5 s, ad after 3 s.
    arena.fake.enqueue(Reply(text="shown at once", record_chars=100, heartbeats=0, delay=1.5))
    reply = background.submit(stream_text, gateway.client(), "flush on show")
    wait_until(lambda: any(f["type"] == "chunk" for _, f in sent), 15, "the first chunk")
    tab.set_hidden(True)
    tab.wait_for("window.__throttled > 0", timeout=5)  # the a0 record waits in the buffer
    tab.set_hidden(False)
    assert reply.result(timeout=15) == "shown at once"
    (_, _), (flushed_at, flushed), (next_at, after) = chunk_frames(sent)
    assert flushed["data"] == 'a0:"shown at once"\n'
    assert after["data"].startswith("ad:")
    assert next_at - flushed_at > 0.5  # sent when shown, not held until the ad: write came


def test_navigating_away_while_a_job_waits_reports_it_and_it_is_retried(
    gateway: GatewayProcess, open_tab: OpenTab, arena: Arena, background: ThreadPoolExecutor
) -> None:
    tab = open_tab()
    arena.fake.enqueue(Reply(first_byte_delay=HELD_BACK))
    mark = len(gateway.lines)
    prompt = "still answered after navigating"
    reply = background.submit(stream_text, gateway.client(), prompt)
    wait_for_creates(arena, 1)
    elsewhere = tab.url.split("?")[0] + "?mode=side-by-side"
    tab.goto(elsewhere)
    assert reply.result(timeout=30) == f"Echo: {prompt}"
    wait_for_streams(arena, completed=1, disconnected=1)
    wait_until(lambda: logged(gateway, mark, "page navigated away"), 5, "the job's failure")
    wait_until(lambda: len(gateway.health()["workers"]) == 1, 5, "the old connection to go")
    (worker,) = gateway.health()["workers"]
    assert worker["page_url"] == elsewhere
