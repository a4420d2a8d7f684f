"""`lmarenarev serve --browser`: the gateway starts headless Chromium itself, opens the fake
LMArena in its tabs with the served userscript put in (no userscript manager), and keeps it
running. The fake is reached as https://lmarena.ai:<port> (host-resolver rules, its own
certificate trusted by its key) in the *public* address space, so Local Network Access applies:
the tabs connect over the WebSocket only because the gateway grants the permission.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from lmarenarev.browser.launch import group_members, profile_processes
from testkit.browser import Browser, chromium_executable, managed_browser_args
from testkit.fakes.arena import Reply
from testkit.fakes.tls import spki_sha256
from testkit.support import wait_until, write_home

from .conftest import ERA_PAGES, Arena, GatewayProcess, lmarenarev_command, start_gateway_process

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(chromium_executable() is None, reason="no Chromium"),
]

#: The pages a managed tab may be told to open: the older site's home (in 2026 it 301s to
#: /text/direct) and the 2026 chat page (protocol §1.1).
PAGE_PATHS = ("/?mode=direct", "/text/direct")


def browser_block(arena: Arena, path: str | None = None, **more: Any) -> dict[str, Any]:
    """The `browser` block of a data directory whose managed browser opens the fake (by
    default at the page of the era it plays, on that era's host)."""
    port = arena.server.port
    assert arena.server.ssl is not None
    host, page = ERA_PAGES[arena.fake.era.name]
    return {
        "executable": chromium_executable(),
        "page_url": f"https://{host}:{port}{path or page}",
        "args": managed_browser_args(port, spki_sha256(arena.server.ssl.certfile)),
        **more,
    }


@pytest.fixture
def managed(
    tmp_path: Path, arena: Arena
) -> Iterator[Callable[..., GatewayProcess]]:
    started: list[GatewayProcess] = []

    def start(*extra: str, home: Path | None = None, **browser: Any) -> GatewayProcess:
        home = home or write_home(tmp_path / f"home{len(started)}", arena.fake.models,
                                  config={"browser": browser_block(arena, **browser)})
        gateway = start_gateway_process(
            home, "--browser", "--set", "worker_ping_interval_seconds=1", *extra
        )
        started.append(gateway)
        return gateway

    yield start
    for gateway in started:
        gateway.stop()


def status(gateway: GatewayProcess) -> dict[str, Any]:
    answer: dict[str, Any] = httpx.get(f"{gateway.url}/api/admin/status", timeout=10).json()
    return answer


def wait_for_tabs(gateway: GatewayProcess, count: int, timeout: float = 40) -> dict[str, Any]:
    """Until `count` managed tabs are connected as workers; the status then."""
    found: dict[str, Any] = {}

    def ready() -> bool:
        found.update(status(gateway))
        tabs = (found.get("browser") or {}).get("tabs", [])
        managed = [w for w in found["workers"] if w["managed"]]
        return len(managed) == count and all(t["state"] == "connected" for t in tabs)

    wait_until(ready, timeout, f"{count} managed tab(s) to connect")
    return found


def served_by(gateway: GatewayProcess, count: int) -> list[str]:
    """The worker of each of the last `count` requests, once the request log has them."""
    rows: list[dict[str, Any]] = []

    def logged() -> bool:
        answer = httpx.get(f"{gateway.url}/api/monitor/logs/requests", timeout=10).json()
        rows[:] = answer["requests"]
        return len(rows) >= count

    wait_until(logged, 10, f"{count} request(s) in the request log")
    return [str(row["worker_id"]) for row in rows[:count]]


def ask(gateway: GatewayProcess, text: str) -> str:
    reply = gateway.client().chat.completions.create(
        model="fake-gpt", messages=[{"role": "user", "content": text}]
    )
    return reply.choices[0].message.content or ""


@pytest.mark.parametrize("path", PAGE_PATHS)
def test_serve_browser_answers_through_its_managed_tab(
    managed: Callable[..., GatewayProcess], path: str
) -> None:
    began = time.monotonic()
    gateway = managed("--headless", path=path)
    wait_until(lambda: any(w["managed"] for w in status(gateway)["workers"]), 40, "a tab")
    assert ask(gateway, "hello from the managed tab") == "Echo: hello from the managed tab"
    print(f"start-up to the first answer: {time.monotonic() - began:.2f} s")
    state = wait_for_tabs(gateway, 1)
    (worker,) = state["workers"]
    assert worker["transport"] == "websocket"  # Local Network Access granted by the gateway
    tab = state["browser"]["tabs"][0]
    assert (tab["worker"], tab["visibility"]) == (worker["id"], "visible")
    text = subprocess.run(
        [*lmarenarev_command(), "status", "--home", str(gateway.home), "--url", gateway.url],
        capture_output=True, text=True, timeout=30, check=True,
    ).stdout
    assert "Browser   running:" in text and "headless" in text
    assert f"tab 1  connected      worker {worker['id']} (ws)" in text
    assert f"{worker['id']}  websocket" in text and "(managed)" in text
    shown = httpx.get(f"{gateway.url}/api/monitor/workers", timeout=10).json()
    assert shown["browser"]["tabs"][0]["worker"] == worker["id"]
    assert shown["workers"][0]["managed"] is True


def test_a_killed_browser_is_restarted_and_the_request_in_flight_ends_honestly(
    managed: Callable[..., GatewayProcess], arena: Arena
) -> None:
    gateway = managed("--headless")
    pid = wait_for_tabs(gateway, 1)["browser"]["pid"]
    arena.fake.enqueue(Reply(text="slow " * 200, chunk_size=10, delay=0.05))
    got: list[str] = []
    failure: list[BaseException] = []

    def read() -> None:
        try:
            stream = gateway.client().chat.completions.create(
                model="fake-gpt", messages=[{"role": "user", "content": "cut me"}], stream=True
            )
            for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    got.append(chunk.choices[0].delta.content)
        except BaseException as exc:
            failure.append(exc)

    reader = threading.Thread(target=read)
    reader.start()
    wait_until(lambda: bool(got), 20, "the first streamed text")
    os.kill(pid, signal.SIGKILL)
    reader.join(30)
    # Text reached the client, so the stream cannot start over: it ends in an error.
    assert failure and isinstance(failure[0], openai.APIError), (failure, "".join(got))
    assert "went away" in str(failure[0])
    again = wait_for_tabs(gateway, 1)
    assert again["browser"]["pid"] != pid and again["browser"]["restarts"] == 1
    assert again["browser"]["last_exit"] == "killed by signal 9"
    assert group_members(pid) == []
    assert ask(gateway, "after the restart") == "Echo: after the restart"
    assert any("managed browser (pid" in line and "killed by signal 9" in line
               for line in gateway.lines)


def test_a_request_the_browser_died_under_before_its_first_byte_runs_again(
    managed: Callable[..., GatewayProcess], arena: Arena
) -> None:
    gateway = managed("--headless")
    pid = wait_for_tabs(gateway, 1)["browser"]["pid"]
    arena.fake.enqueue(Reply(first_byte_delay=30))  # held back until the browser is gone
    with ThreadPoolExecutor(1) as pool:
        answer = pool.submit(ask, gateway, "run me again")
        wait_until(lambda: arena.fake.open_streams == 1, 20, "the request to reach LMArena")
        os.kill(pid, signal.SIGKILL)
        # Nothing reached the client yet: the request waits for a tab and runs on the new one.
        assert answer.result(60) == "Echo: run me again"
    creates = [r for r in arena.fake.requests if r.kind == "create"]
    assert len(creates) == 2
    assert status(gateway)["browser"]["restarts"] == 1


def test_two_managed_tabs_share_concurrent_requests(
    managed: Callable[..., GatewayProcess], arena: Arena
) -> None:
    gateway = managed("--headless", "--tabs", "2")
    state = wait_for_tabs(gateway, 2)
    tab_workers = {t["worker"] for t in state["browser"]["tabs"]}
    arena.fake.enqueue(Reply(text="one", delay=0.5), Reply(text="two", delay=0.5))
    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda n: ask(gateway, f"both {n}"), range(2)))
    assert sorted(answers) == ["one", "two"]
    assert set(served_by(gateway, 2)) == tab_workers


@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_clean_stop_leaves_no_browser_process(
    managed: Callable[..., GatewayProcess], how: signal.Signals
) -> None:
    gateway = managed("--headless", "--tabs", "2")
    pid = wait_for_tabs(gateway, 2)["browser"]["pid"]
    gateway.process.send_signal(how)
    gateway.process.wait(30)  # uvicorn ends by the same signal, after its shutdown
    assert any("Application shutdown complete" in line for line in gateway.lines)
    assert group_members(pid) == []
    assert profile_processes(gateway.home / "browser-profile") == []
    assert any("managed browser closed" in line for line in gateway.lines)


def test_the_browser_goes_with_a_gateway_that_is_killed(
    managed: Callable[..., GatewayProcess],
) -> None:
    gateway = managed("--headless")
    pid = wait_for_tabs(gateway, 1)["browser"]["pid"]
    gateway.process.kill()  # no shutdown code runs: the browser sees its DevTools pipe close
    gateway.process.wait(10)
    wait_until(lambda: group_members(pid) == [], 20, "the browser to exit by itself")


def test_managed_tabs_and_a_userscript_tab_serve_one_gateway(
    managed: Callable[..., GatewayProcess], arena: Arena, browser: Browser
) -> None:
    gateway = managed("--headless")
    wait_for_tabs(gateway, 1)
    own = browser.open_tab(browser.arena_url("/?mode=direct"), userscript=gateway.userscript())
    try:
        own.wait_for_title_prefix("✅", timeout=20)
        wait_until(lambda: len(status(gateway)["workers"]) == 2, 10, "both workers")
        arena.fake.enqueue(Reply(text="a", delay=0.5), Reply(text="b", delay=0.5))
        with ThreadPoolExecutor(2) as pool:
            answers = sorted(pool.map(lambda n: ask(gateway, f"mixed {n}"), range(2)))
        assert answers == ["a", "b"]
        workers = {w["id"]: w["managed"] for w in status(gateway)["workers"]}
        assert sorted(workers[worker] for worker in served_by(gateway, 2)) == [False, True]
    finally:
        own.close()


def test_the_dashboard_shows_the_managed_browser_and_its_tabs(
    managed: Callable[..., GatewayProcess], browser: Browser
) -> None:
    gateway = managed("--headless")
    worker = wait_for_tabs(gateway, 1)["browser"]["tabs"][0]["worker"]
    tab = browser.open_tab(f"{gateway.url}/monitor")
    try:
        tab.wait_for("!document.getElementById('dashboard').hidden", timeout=10)
        tab.evaluate("document.querySelector('[data-tab=workers]').click()")
        tab.wait_for("!document.getElementById('browser-panel').hidden")
        row = tab.wait_for(
            "(() => { const r = document.querySelector('#browser-tabs tbody tr');"
            " return r && [...r.children].map(td => td.textContent); })()"
        )
        assert row[:3] == ["1", "connected", worker]
        facts = tab.evaluate("document.getElementById('browser-facts').textContent")
        assert "running" in facts and "headless" in facts
        assert tab.evaluate(
            "document.querySelector('#workers-table tbody tr').children[0].textContent"
        ) == f"{worker} (managed)"
    finally:
        tab.close()
