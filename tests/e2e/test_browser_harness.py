"""The e2e browser harness itself, against tiny local servers (no gateway, no fake arena).

* an HTTPS page on 127.0.0.1:<page port>, opened as https://lmarena.ai:<page port>/ and put in
  the *public* address space;
* a plain HTTP + WebSocket server on 127.0.0.1:<local port> (loopback: "the gateway").
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from testkit.browser import (
    LNA_WS_ERROR,
    Browser,
    Tab,
    UserScript,
    UserScriptError,
    chromium_executable,
    pid_alive,
)
from testkit.fakes.serving import ServerThread
from testkit.fakes.tls import make_self_signed

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(chromium_executable() is None, reason="no Chromium installed"),
]

PAGE_TITLE = "harness page"


# ---- servers ---------------------------------------------------------------------------


async def page(request: Request) -> Response:
    return HTMLResponse(
        f"<!doctype html><html><head><title>{PAGE_TITLE}</title></head>"
        "<body><p>fake page</p></body></html>"
    )


async def favicon(request: Request) -> Response:
    return Response(status_code=204)


def cors(resp: Response) -> Response:
    resp.headers["Access-Control-Allow-Origin"] = "*"
    return resp


async def ping(request: Request) -> Response:
    return cors(JSONResponse({"pong": True}))


async def echo(request: Request) -> Response:
    body = (await request.body()).decode()
    return cors(
        JSONResponse(
            {"method": request.method, "body": body, "headers": dict(request.headers)},
            headers={"X-Echo": "1"},
        )
    )


async def slow(request: Request) -> Response:
    ms = int(request.query_params.get("ms", "1000"))
    await asyncio.sleep(ms / 1000)
    return cors(JSONResponse({"slept": ms}))


HANGS: dict[str, str] = {}


async def hang(request: Request) -> Response:
    """A long-poll that never answers; records whether the client went away."""
    key = request.query_params["key"]
    HANGS[key] = "waiting"
    for _ in range(300):
        if await request.is_disconnected():
            HANGS[key] = "disconnected"
            break
        await asyncio.sleep(0.05)
    return cors(JSONResponse({}))


async def redirect_in(request: Request) -> Response:
    return RedirectResponse("/ping", status_code=302)


async def redirect_out(request: Request) -> Response:
    port = request.url.port
    return RedirectResponse(f"http://localhost:{port}/ping", status_code=302)


async def ws_echo(websocket: WebSocket) -> None:
    await websocket.accept()
    try:
        while True:
            await websocket.send_text("echo:" + await websocket.receive_text())
    except WebSocketDisconnect:
        pass


PAGE_APP = Starlette(
    routes=[Route("/", page), Route("/other", page), Route("/favicon.ico", favicon)]
)
LOCAL_APP = Starlette(
    routes=[
        Route("/ping", ping),
        Route("/echo", echo, methods=["GET", "POST"]),
        Route("/slow", slow),
        Route("/hang", hang),
        Route("/redirect-in", redirect_in),
        Route("/redirect-out", redirect_out),
        WebSocketRoute("/ws", ws_echo),
    ]
)


@pytest.fixture(scope="module")
def page_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    tls = make_self_signed(tmp_path_factory.mktemp("cert"))
    with ServerThread(PAGE_APP, ssl=tls) as server:
        yield server


@pytest.fixture(scope="module")
def local_server() -> Iterator[ServerThread]:
    with ServerThread(LOCAL_APP) as server:
        yield server


@pytest.fixture(scope="module")
def browser(page_server: ServerThread) -> Iterator[Browser]:
    with Browser.start(arena_port=page_server.port) as b:
        yield b


@pytest.fixture
def tabs(browser: Browser) -> Iterator[Callable[..., Tab]]:
    opened: list[Tab] = []

    def open_tab(url: str | None = None, **kw: Any) -> Tab:
        tab = browser.open_tab(url or browser.arena_url("/"), **kw)
        opened.append(tab)
        return tab

    yield open_tab
    for tab in opened:
        tab.close()


# ---- userscripts ---------------------------------------------------------------------

SCRIPT_A = """// ==UserScript==
// @name         harness-a
// @namespace    lmarenarev-test
// @version      1.2.3
// @match        https://lmarena.ai/*
// @match        https://arena.ai/*
// @grant        GM_xmlhttpRequest
// @grant        unsafeWindow
// @connect      127.0.0.1
// @connect      example.com
// @run-at       document-start
// ==/UserScript==
(function () {
  const runs = Number(sessionStorage.getItem('a-runs') || 0) + 1;
  sessionStorage.setItem('a-runs', String(runs));
  unsafeWindow.__a = {
    readyState: document.readyState, runs, name: GM_info.script.name,
    gmXhr: typeof GM_xmlhttpRequest, gmGetValue: typeof GM_getValue,
  };
  unsafeWindow.__gm = (details) => new Promise((resolve) => {
    GM_xmlhttpRequest(Object.assign({}, details, {
      onload: (r) => resolve({ event: 'load', status: r.status, text: r.responseText,
                               headers: r.responseHeaders, finalUrl: r.finalUrl }),
      onerror: (r) => resolve({ event: 'error', error: r.error }),
      ontimeout: () => resolve({ event: 'timeout' }),
    }));
  });
  unsafeWindow.__gmAbort = (details) => new Promise((resolve) => {
    const h = GM_xmlhttpRequest(Object.assign({}, details, {
      onload: () => resolve('load'), onerror: () => resolve('error'),
      onabort: () => resolve('abort'),
    }));
    setTimeout(() => h.abort(), 50);
  });
})();
"""

SCRIPT_B = """// ==UserScript==
// @name         harness-b
// @match        https://example.com/*
// @grant        none
// @run-at       document-start
// ==/UserScript==
window.__b = true;
"""

SCRIPT_C = """// ==UserScript==
// @name         harness-c
// @match        https://lmarena.ai/*
// @exclude      https://lmarena.ai:*/other*
// @grant        none
// @run-at       document-end
// ==/UserScript==
window.__c = { readyState: document.readyState, gmXhr: typeof GM_xmlhttpRequest };
document.title = '[C] ' + document.title;
"""

SCRIPT_D = """// ==UserScript==
// @name         harness-d
// @match        https://*.lmarena.ai/*
// @match        https://lmarena.ai/*
// @grant        GM.xmlHttpRequest
// @grant        GM_getValue
// @grant        GM_setValue
// @connect      localhost
// ==/UserScript==
const n = GM_getValue('n', 0) + 1;
GM_setValue('n', n);
window.__d = { n, runAt: document.readyState };
window.__gm4 = async (url) => {
  try { const r = await GM.xmlHttpRequest({ url }); return 'load:' + r.status; }
  catch (r) { return 'error:' + r.error; }
};
"""

WS_OPEN = """async (url) => await new Promise((resolve) => {
  const ws = new WebSocket(url);
  ws.onopen = () => ws.send('hi');
  ws.onmessage = (e) => { resolve('open:' + e.data); ws.close(); };
  ws.onerror = () => resolve('error');
  ws.onclose = (e) => resolve('close:' + e.code);
})"""

FETCH = """async (url) => {
  try { const r = await fetch(url); return 'ok:' + r.status; } catch (e) { return 'error:' + e; }
}"""


def wait_until(pred: Callable[[], Any], timeout: float = 10, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def gm(tab: Tab, details: dict[str, Any]) -> dict[str, Any]:
    return tab.evaluate("(d) => window.__gm(d)", details)


# ---- tests -----------------------------------------------------------------------------


def test_metadata_and_match_rules() -> None:
    a = UserScript.parse(SCRIPT_A)
    assert a.grants == ("GM_xmlhttpRequest", "unsafeWindow")
    assert a.connects == ("127.0.0.1", "example.com")
    assert a.run_at == "document-start"
    # a pattern without a port matches every port, like Chrome/Tampermonkey
    assert a.matches_url("https://lmarena.ai:8443/c/abc?x=1#frag")
    assert a.matches_url("https://arena.ai/")
    assert not a.matches_url("https://evil.example/lmarena.ai/")
    assert not a.matches_url("http://lmarena.ai/")
    c = UserScript.parse(SCRIPT_C)
    assert c.grants == () and c.run_at == "document-end"
    assert c.matches_url("https://lmarena.ai:1234/")
    assert not c.matches_url("https://lmarena.ai:1234/other")
    with pytest.raises(UserScriptError):
        UserScript.parse("console.log('no metadata')")


def test_page_opens_as_lmarena_and_userscripts_follow_match(
    tabs: Callable[..., Tab], browser: Browser
) -> None:
    tab = tabs(userscript=[SCRIPT_A, SCRIPT_B, SCRIPT_C])
    assert tab.evaluate("location.origin") == f"https://lmarena.ai:{browser.arena_port}"
    assert tab.evaluate("isSecureContext") is True
    assert tab.wait_for_title_prefix("[C] ") == f"[C] {PAGE_TITLE}"
    a = tab.evaluate("window.__a")
    assert a == {
        "readyState": "loading",  # document-start: before the page's own content
        "runs": 1,
        "name": "harness-a",
        "gmXhr": "function",
        "gmGetValue": "undefined",  # not @granted
    }
    assert tab.evaluate("window.__b") is None  # @match https://example.com/* does not run
    assert tab.evaluate("window.__c") == {"readyState": "interactive", "gmXhr": "undefined"}
    assert tab.evaluate("typeof window.GM_xmlhttpRequest") == "undefined"  # not leaked to the page

    tab.reload()  # injected again, once, on every navigation
    assert tab.wait_for("window.__a && window.__a.runs") == 2
    assert tab.wait_for_title_prefix("[C] ") == f"[C] {PAGE_TITLE}"
    tab.evaluate("setTimeout(() => { document.title = 'changed'; }, 100)")
    assert tab.wait_for_title_without("[C]") == "changed"
    sibling = tab.open_sibling()  # a second tab of the same profile: own sessionStorage
    assert sibling.wait_for("window.__a && window.__a.runs") == 1
    sibling.close()
    assert sibling.closed and not tab.closed
    tab.goto(browser.arena_url("/other"))  # @exclude
    assert tab.wait_for("window.__a && window.__a.runs") == 3
    assert tab.evaluate("window.__c") is None
    assert tab.title() == PAGE_TITLE


def test_without_lna_permission_websocket_and_fetch_are_blocked_but_gm_works(
    tabs: Callable[..., Tab], local_server: ServerThread
) -> None:
    tab = tabs(userscript=SCRIPT_A, grant_local_network=False)
    ws = tab.evaluate(WS_OPEN, f"ws://127.0.0.1:{local_server.port}/ws")
    if ws.startswith("open"):
        pytest.skip(
            "this Chromium does not enforce Local Network Access for a public page "
            f"(ws://127.0.0.1 opened without the permission; flags: {tab.browser.args})"
        )
    assert ws == "error"
    assert (
        tab.evaluate(
            "navigator.permissions.query({name: 'local-network-access'}).then(p => p.state)"
        )
        == "denied"
    )
    tab.wait_for_console(LNA_WS_ERROR)
    assert tab.evaluate(FETCH, f"http://127.0.0.1:{local_server.port}/ping").startswith("error:")

    r = gm(tab, {"url": f"http://127.0.0.1:{local_server.port}/ping"})
    assert r["event"] == "load" and r["status"] == 200 and '"pong":true' in r["text"]


def test_with_lna_permission_websocket_opens(
    tabs: Callable[..., Tab], local_server: ServerThread
) -> None:
    tab = tabs(grant_local_network=True)
    assert tab.evaluate(WS_OPEN, f"ws://127.0.0.1:{local_server.port}/ws") == "open:echo:hi"
    assert tab.evaluate(FETCH, f"http://127.0.0.1:{local_server.port}/ping") == "ok:200"
    assert (
        tab.evaluate(
            "navigator.permissions.query({name: 'local-network-access'}).then(p => p.state)"
        )
        == "granted"
    )


def test_late_grant_takes_effect_without_reload(
    tabs: Callable[..., Tab], local_server: ServerThread
) -> None:
    tab = tabs(grant_local_network=False)
    url = f"ws://127.0.0.1:{local_server.port}/ws"
    first = tab.evaluate(WS_OPEN, url)
    if first.startswith("open"):
        pytest.skip("this Chromium does not enforce Local Network Access here")
    tab.grant_local_network()
    assert tab.evaluate(WS_OPEN, url) == "open:echo:hi"


def test_gm_xmlhttprequest_honours_connect(
    tabs: Callable[..., Tab], local_server: ServerThread
) -> None:
    tab = tabs(userscript=SCRIPT_A)
    port = local_server.port
    # not in @connect (only 127.0.0.1 is): refused like Tampermonkey would
    r = gm(tab, {"url": f"http://localhost:{port}/ping"})
    assert r["event"] == "error" and "@connect" in r["error"]
    # a redirect leaving @connect is refused too
    r = gm(tab, {"url": f"http://127.0.0.1:{port}/redirect-out"})
    assert r["event"] == "error" and "@connect" in r["error"]
    # in @connect but not in the harness's gm_allowed_hosts: refused, never hits the internet
    r = gm(tab, {"url": "http://example.com/"})
    assert r["event"] == "error" and "gm_allowed_hosts" in r["error"]
    # redirects inside @connect are followed
    r = gm(tab, {"url": f"http://127.0.0.1:{port}/redirect-in"})
    assert r["event"] == "load" and r["finalUrl"] == f"http://127.0.0.1:{port}/ping"
    # method, headers, data and the response headers string
    r = gm(
        tab,
        {
            "method": "POST",
            "url": f"http://127.0.0.1:{port}/echo",
            "headers": {"Content-Type": "application/json", "X-Worker-Token": "tok"},
            "data": '{"x": 1}',
        },
    )
    assert r["event"] == "load" and r["status"] == 200
    assert "x-echo: 1" in r["headers"].lower()
    body = json.loads(r["text"])
    assert body["method"] == "POST" and body["body"] == '{"x": 1}'
    assert body["headers"]["x-worker-token"] == "tok"
    assert [e["ok"] for e in tab.gm_requests()] == [False, False, False, True, True]


def test_gm_long_polls_run_concurrently_timeout_and_abort(
    tabs: Callable[..., Tab], local_server: ServerThread
) -> None:
    tab = tabs(userscript=SCRIPT_A)
    base = f"http://127.0.0.1:{local_server.port}"
    t0 = time.monotonic()
    r = tab.evaluate(
        """async (base) => {
          let slowDone = 0;
          const slow = [1, 2, 3, 4, 5, 6, 7, 8].map(
            () => window.__gm({url: base + '/slow?ms=1500'})
              .then((x) => { slowDone++; return x; }));
          const quick = await window.__gm({url: base + '/ping'});
          const slowDoneWhenQuickDone = slowDone;
          const all = await Promise.all(slow);
          return { slowDoneWhenQuickDone, quick: quick.status, slow: all.map((x) => x.status) };
        }""",
        base,
    )
    elapsed = time.monotonic() - t0
    assert r["quick"] == 200
    assert r["slowDoneWhenQuickDone"] == 0  # not stuck behind the long-polls
    assert r["slow"] == [200] * 8
    assert elapsed < 6.0  # 8 × 1.5 s ran in parallel (12 s one after another)

    r = gm(tab, {"url": base + "/slow?ms=3000", "timeout": 200})
    assert r == {"event": "timeout"}

    assert tab.evaluate("(u) => window.__gmAbort({url: u})", base + "/slow?ms=3000") == "abort"
    wait_until(
        lambda: any(e.get("error") == "aborted" for e in tab.gm_requests()),
        what="the aborted request to be cancelled in Python",
    )


def test_closing_a_tab_aborts_its_gm_requests(
    tabs: Callable[..., Tab], local_server: ServerThread
) -> None:
    tab = tabs(userscript=SCRIPT_A)
    tab.evaluate("(u) => { window.__gm({url: u}); }", f"{local_server.url}/hang?key=close")
    wait_until(lambda: HANGS.get("close") == "waiting", what="the long-poll to arrive")
    tab.close()
    wait_until(lambda: HANGS.get("close") == "disconnected", what="the long-poll to be dropped")


def test_gm4_promise_api_values_and_per_script_connect(
    tabs: Callable[..., Tab], local_server: ServerThread
) -> None:
    tab = tabs(userscript=[SCRIPT_A, SCRIPT_D])
    d = tab.wait_for("window.__d")
    assert d["n"] == 1 and d["runAt"] in ("interactive", "complete")  # document-idle default
    port = local_server.port
    assert tab.evaluate("(u) => window.__gm4(u)", f"http://localhost:{port}/ping") == "load:200"
    # D's @connect is localhost only; A's 127.0.0.1 does not extend to D
    r = tab.evaluate("(u) => window.__gm4(u)", f"http://127.0.0.1:{port}/ping")
    assert r.startswith("error:") and "@connect" in r
    tab.reload()
    assert tab.wait_for("window.__d")["n"] == 2  # GM_setValue persisted


def test_set_hidden_flips_visibility(tabs: Callable[..., Tab]) -> None:
    tab = tabs()
    tab.evaluate(
        "window.__vis = []; document.addEventListener('visibilitychange', "
        "() => window.__vis.push(document.visibilityState))"
    )
    state = "[document.hidden, document.visibilityState, document.hasFocus()]"
    assert tab.evaluate(state)[:2] == [False, "visible"]
    tab.set_hidden(True)
    assert tab.evaluate(state) == [True, "hidden", False]
    assert tab.evaluate("window.__vis") == ["hidden"]
    tab.reload()  # a background tab stays in the background after a reload
    assert tab.evaluate(state)[:2] == [True, "hidden"]
    tab.evaluate(
        "window.__vis = []; document.addEventListener('visibilitychange', "
        "() => window.__vis.push(document.visibilityState))"
    )
    tab.set_hidden(False)
    assert tab.evaluate(state)[:2] == [False, "visible"]
    assert tab.evaluate("window.__vis") == ["visible"]


def test_other_hosts_do_not_resolve(tabs: Callable[..., Tab]) -> None:
    tab = tabs()
    assert tab.evaluate(FETCH, "https://example.com/").startswith("error:")
    tab.wait_for_console("ERR_NAME_NOT_RESOLVED")


def test_close_is_idempotent_and_leaks_nothing(page_server: ServerThread) -> None:
    b = Browser.start(arena_port=page_server.port)
    pid = b.chromium_pid
    assert pid is not None
    tab = b.open_tab(b.arena_url("/"))
    assert tab.title() == PAGE_TITLE
    tab.close()
    tab.close()
    with pytest.raises(RuntimeError):
        tab.title()
    b.open_tab(b.arena_url("/"))  # left open: Browser.close() closes it
    b.close()
    b.close()
    assert b.closed
    assert not pid_alive(pid), "Chromium survived Browser.close()"
    with pytest.raises(RuntimeError):
        b.open_tab(page_server.url)
