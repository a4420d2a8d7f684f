"""The dashboard in Chromium against `lmarenarev serve`, with the real userscript on the fake
LMArena page serving the requests, and `/metrics` parsed by prometheus_client.

Screenshots go to conftest.ARTIFACTS (in the temporary directory); with
LMARENAREV_UPDATE_SCREENSHOTS=1 the overview, charts drawn, is also saved as docs/monitor.png
(the README's picture).
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import threading
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families

from testkit.browser import Browser, Tab
from testkit.fakes.arena import Reply, model_id
from testkit.support import write_home

from .conftest import ARTIFACTS, Arena, GatewayProcess, OpenTab, start_gateway_process

pytestmark = pytest.mark.e2e

ADMIN_KEY = "monitor-admin-key"
HOSTILE = '<img src=x onerror="window.__pwned=1">'  # a model name that is HTML
DOCS_SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "monitor.png"


@pytest.fixture
def monitored(tmp_path: Path, arena: Arena, browser: Browser) -> Iterator[GatewayProcess]:
    """A gateway with an admin key, a model named like HTML, and one connected tab."""
    home = write_home(tmp_path / "home", arena.fake.models, config={"admin_key": ADMIN_KEY})
    models = json.loads((home / "models.json").read_text("utf-8"))
    models[HOSTILE] = model_id("fake-gpt")
    (home / "models.json").write_text(json.dumps(models), "utf-8")
    saved = home / "downloaded_images" / "20260101"
    saved.mkdir(parents=True)
    (saved / "20260101_120000_cafe.png").write_bytes(png(4, 4))
    gateway = start_gateway_process(home)
    script = httpx.get(f"{gateway.url}/bridge.user.js", params={"key": ADMIN_KEY}, timeout=10)
    script.raise_for_status()
    worker = browser.open_tab(browser.arena_url("/?mode=direct"), userscript=script.text)
    try:
        worker.wait_for_title_prefix("✅", timeout=20)
        yield gateway
    finally:
        worker.close()
        gateway.stop()


def png(width: int, height: int) -> bytes:
    """A valid PNG of one colour (no imaging library needed)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    rows = b"".join(b"\x00" + b"\x3b\x5b\xdb" * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def ask(gateway: GatewayProcess, text: str, model: str = "fake-gpt", **extra: Any) -> str:
    completion = gateway.client().chat.completions.create(
        model=model, messages=[{"role": "user", "content": text}], **extra
    )
    if extra.get("stream"):
        return str(next(iter(completion)).id)  # type: ignore[call-overload]
    return str(completion.id)


def open_dashboard(browser: Browser, gateway: GatewayProcess) -> Tab:
    tab = browser.open_tab(f"{gateway.url}/monitor")
    tab.run(lambda page: page.set_viewport_size({"width": 1360, "height": 640}))
    tab.wait_for("!document.getElementById('login').hidden")  # it asks for the key
    tab.evaluate(
        """(key) => {
            document.getElementById('key-input').value = key;
            document.getElementById('key-submit').click();
        }""",
        ADMIN_KEY,
    )
    tab.wait_for("!document.getElementById('dashboard').hidden", timeout=10)
    tab.wait_for("!document.getElementById('live').classList.contains('off')", timeout=10)
    return tab


# True once the requests chart's canvas shows enough pixels of its series' colour (#3b5bdb).
CHART_DRAWN = """(() => {
    const canvas = document.querySelector('#chart-requests canvas');
    if (!canvas || !canvas.width) return false;
    const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
    let n = 0;
    for (let i = 0; i < data.length; i += 4) {
        if (Math.abs(data[i] - 59) < 16 && Math.abs(data[i + 1] - 91) < 16
            && Math.abs(data[i + 2] - 219) < 16 && data[i + 3] > 200) n++;
    }
    return n > 20;
})()"""


def request_ids(tab: Tab) -> list[str]:
    ids: list[str] = tab.evaluate(
        "[...document.querySelectorAll('#requests-table tbody tr')].map(tr => tr.dataset.id)"
    )
    return ids


def wait_for_row(tab: Tab, request_id: str, timeout: float = 8) -> None:
    tab.wait_for(
        "(id) => [...document.querySelectorAll('#requests-table tbody tr')]"
        ".some(tr => tr.dataset.id === id)",
        request_id,
        timeout=timeout,
    )


def screenshot(tab: Tab, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    tab.run(lambda page: page.screenshot(path=str(path), full_page=True))
    assert path.stat().st_size > 10_000
    return path


def test_the_dashboard_shows_requests_live_and_finds_them(
    monitored: GatewayProcess, browser: Browser, arena: Arena
) -> None:
    tab = open_dashboard(browser, monitored)
    try:
        assert tab.evaluate("sessionStorage.getItem('lmarenarev.adminKey')") == ADMIN_KEY
        tab.evaluate("document.querySelector('[data-tab=requests]').click()")
        first = ask(monitored, "hello from the dashboard test")
        wait_for_row(tab, first)  # live: no reload, within seconds
        streamed = ask(monitored, "and a streamed one", stream=True)
        ask(monitored, "a thinker", model="fake-thinker")
        arena.fake.enqueue(Reply.unauthorized())
        with pytest.raises(openai.AuthenticationError):
            ask(monitored, "this one fails")
        wait_for_row(tab, streamed)
        tab.wait_for("document.querySelectorAll('#requests-table tbody tr').length === 4")

        tab.evaluate(
            """(text) => {
                const search = document.getElementById('search');
                search.value = text;
                search.dispatchEvent(new Event('input', {bubbles: true}));
            }""",
            first[-10:],
        )
        tab.wait_for(
            "(id) => { const rows = [...document.querySelectorAll('#requests-table tbody tr')];"
            " return rows.length === 1 && rows[0].dataset.id === id; }",
            first,
        )
        tab.evaluate("document.querySelector('#requests-table tbody tr').click()")
        tab.wait_for("(id) => document.getElementById('detail-id').textContent === id", first)
        session = "document.querySelector('#requests-table tbody tr').children[3].textContent"
        assert tab.evaluate(session) == "new"  # a new LMArena session (docs/conversations.md)
        assert "LMArena sessionnew" in tab.evaluate(
            "document.getElementById('detail-fields').textContent"
        )
        screenshot(tab, "monitor-requests.png")

        tab.evaluate("document.querySelector('[data-tab=errors]').click()")
        tab.wait_for("document.querySelectorAll('#errors-table tbody tr').length === 1")
        assert "lmarena_login_required" in tab.evaluate(
            "document.getElementById('error-kinds').textContent"
        )
        tab.evaluate("document.querySelector('[data-tab=workers]').click()")
        tab.wait_for(
            "[...document.querySelectorAll('#workers-table tbody tr')]"
            ".map(tr => tr.children[1].textContent).join() === 'ready'"
        )
        tab.evaluate("document.querySelector('[data-tab=images]').click()")
        tab.wait_for(  # fetched with the admin key, shown from a blob: URL
            "(() => { const img = document.querySelector('#gallery img');"
            " return img && img.src.startsWith('blob:') && img.naturalWidth === 4; })()"
        )

        tab.evaluate("document.querySelector('[data-tab=overview]').click()")
        tab.wait_for("document.querySelectorAll('#models-table tbody tr').length === 2")
        tab.wait_for("document.getElementById('card-total').textContent === '4'")
        tab.wait_for(CHART_DRAWN)
        assert "lmarena_login_required" in tab.evaluate(  # why fake-gpt's request failed
            "document.getElementById('models-table').textContent"
        )
        arena.fake.enqueue(Reply(text="at last", first_byte_delay=3))
        slow = threading.Thread(target=ask, args=(monitored, "a slow one"))
        slow.start()
        tab.wait_for("document.querySelectorAll('#active-table tbody tr').length === 1")
        overview = screenshot(tab, "monitor-overview.png")
        if os.environ.get("LMARENAREV_UPDATE_SCREENSHOTS"):
            shutil.copyfile(overview, DOCS_SCREENSHOT)
        slow.join(30)
        tab.wait_for("document.querySelectorAll('#active-table tbody tr').length === 0")
        tab.wait_for("document.getElementById('card-total').textContent === '5'")
    finally:
        tab.close()


def test_a_model_named_like_html_is_shown_as_text(
    monitored: GatewayProcess, browser: Browser
) -> None:
    tab = open_dashboard(browser, monitored)
    try:
        tab.evaluate("document.querySelector('[data-tab=requests]').click()")
        request_id = ask(monitored, "is this escaped?", model=HOSTILE)
        wait_for_row(tab, request_id)
        cell = tab.evaluate(
            "(id) => document.querySelector(`#requests-table tr[data-id='${id}'] td:nth-child(2)`)"
            ".textContent",
            request_id,
        )
        assert cell == HOSTILE
        tab.evaluate("document.querySelector('[data-tab=overview]').click()")
        tab.wait_for(
            "(name) => [...document.querySelectorAll('#models-table td')]"
            ".some(td => td.textContent === name)",
            HOSTILE,
        )
        assert tab.evaluate("document.querySelectorAll('img[src=\"x\"]').length") == 0
        assert tab.evaluate("window.__pwned === undefined")
        screenshot(tab, "monitor-html-model.png")
    finally:
        tab.close()


def test_metrics_parse_and_count_the_requests(monitored: GatewayProcess) -> None:
    for text in ("one", "two", "three"):
        ask(monitored, text, stream=text == "two")
    headers = {"X-Admin-Key": ADMIN_KEY}
    assert httpx.get(f"{monitored.url}/metrics", timeout=10).status_code == 401
    answer = httpx.get(f"{monitored.url}/metrics", headers=headers, timeout=10)
    assert answer.status_code == 200
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
    }
    ok = (("error_kind", ""), ("model", "fake-gpt"), ("status", "ok"))
    assert samples[("lmarenarev_requests_total", ok)] == 3
    duration = (("model", "fake-gpt"), ("status", "ok"))
    assert samples[("lmarenarev_request_duration_seconds_count", duration)] == 3
    assert samples[("lmarenarev_workers", ())] == 1
    assert samples[("lmarenarev_active_requests", ())] == 0
    ready = httpx.get(f"{monitored.url}/ready", timeout=10)
    assert (ready.status_code, ready.json()["workers"]) == (200, 1)


def test_the_charts_draw_with_no_network_under_the_strict_csp(
    monitored: GatewayProcess, browser: Browser
) -> None:
    """Every request of the page is let through only to the gateway (anything else, a CDN say,
    is aborted and recorded); the charts must draw all the same, with no CSP violation."""
    for text in ("one", "two", "three"):
        ask(monitored, text)
    tab = open_dashboard(browser, monitored)
    elsewhere: list[str] = []

    async def offline(page: Any) -> None:
        async def only_the_gateway(route: Any) -> None:
            if route.request.url.startswith(monitored.url + "/"):
                await route.continue_()
            else:
                elsewhere.append(route.request.url)
                await route.abort()

        await page.route("**/*", only_the_gateway)
        await page.add_init_script(
            "window.__csp = []; document.addEventListener('securitypolicyviolation',"
            " (e) => window.__csp.push(`${e.violatedDirective} ${e.blockedURI}`));"
        )

    try:
        tab.run(offline)
        tab.reload()  # the key is kept in the tab's sessionStorage: the dashboard opens again
        tab.wait_for("!document.getElementById('dashboard').hidden", timeout=10)
        tab.wait_for("document.querySelectorAll('.chart canvas').length === 4")
        tab.wait_for(CHART_DRAWN)
        assert tab.evaluate("typeof window.uPlot") == "function"  # the vendored file, served here
        legend = tab.evaluate("document.getElementById('chart-requests').textContent")
        assert "requests" in legend and "errors" in legend
        screenshot(tab, "monitor-charts-offline.png")
        tab.goto(f"{monitored.url}/docs")  # the API docs need no network either
        tab.wait_for("document.querySelectorAll('#operations tbody tr').length > 10")
        assert tab.evaluate("window.__csp") == []
        assert elsewhere == []
        assert not [m for m in tab.console_messages() if m.startswith("pageerror")]
    finally:
        tab.close()


def test_the_gallery_shows_a_page_at_a_time(monitored: GatewayProcess, browser: Browser) -> None:
    folder = monitored.home / "downloaded_images" / "20260101"
    for n in range(29):  # with the fixture's one: 30 images, 24 a page
        (folder / f"20260101_1201{n:02d}_beef.png").write_bytes(png(2, 2))
    tab = open_dashboard(browser, monitored)
    try:
        tab.evaluate("document.querySelector('[data-tab=images]').click()")
        tab.wait_for("document.getElementById('gallery-info').textContent === '1–24 of 30'")
        assert tab.evaluate("document.querySelectorAll('#gallery figure').length") == 24
        assert tab.evaluate("document.getElementById('gallery-newer').disabled")
        tab.evaluate("document.getElementById('gallery-older').click()")
        tab.wait_for("document.getElementById('gallery-info').textContent === '25–30 of 30'")
        assert tab.evaluate("document.querySelectorAll('#gallery figure').length") == 6
        assert tab.evaluate("document.getElementById('gallery-older').disabled")
        tab.wait_for(  # the oldest page holds the fixture's image, fetched with the key
            "[...document.querySelectorAll('#gallery img')].some(img => img.naturalWidth === 4)"
        )
    finally:
        tab.close()


def test_the_dashboard_says_when_no_tab_is_connected_and_why_the_gallery_is_empty(
    gateway: GatewayProcess, browser: Browser, open_tab: OpenTab
) -> None:
    tab = browser.open_tab(f"{gateway.url}/monitor")  # no admin key: this machine may look
    try:
        tab.wait_for("!document.getElementById('dashboard').hidden", timeout=10)
        banner = tab.wait_for(
            "(() => { const p = document.getElementById('no-tab');"
            " return !p.hidden && p.textContent; })()"
        )
        assert "No LMArena tab is connected" in banner and "lmarenarev userscript" in banner
        worker = open_tab()
        tab.wait_for("document.getElementById('no-tab').hidden")  # live, through the events
        tab.evaluate("document.querySelector('[data-tab=images]').click()")
        off = tab.wait_for(
            "(() => { const p = document.getElementById('gallery-off');"
            " return !p.hidden && p.textContent; })()"
        )
        assert "save_images_locally is off" in " ".join(off.split())
        assert tab.evaluate("document.getElementById('gallery-empty').hidden")
        worker.close()
        tab.wait_for("!document.getElementById('no-tab').hidden")
    finally:
        tab.close()
