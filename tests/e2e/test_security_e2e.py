"""A page on a foreign origin, open in the same Chromium as the user's LMArena tab, tries to
become a worker and to read replies (issue 7, point 3 and 8).

The browser maps `evil.example` to a second small HTTPS server, like `lmarena.ai` to the fake
arena; both are public pages. The foreign page is granted Local Network Access (as if the user
had clicked "allow", or in a browser without that check), so what stops it is the gateway.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from testkit.browser import Browser, Tab
from testkit.fakes.serving import ServerThread
from testkit.fakes.tls import make_self_signed
from testkit.support import wait_until

from .conftest import Arena, GatewayProcess, StartGateway

pytestmark = pytest.mark.e2e

EVIL_HOST = "evil.example"


async def evil_page(request: Request) -> HTMLResponse:
    return HTMLResponse("<!doctype html><title>a page of another site</title><p>hello</p>")


@dataclass
class World:
    browser: Browser
    gateway: GatewayProcess
    evil_port: int

    @property
    def evil_url(self) -> str:
        return f"https://{EVIL_HOST}:{self.evil_port}/"


@pytest.fixture(scope="module")
def world(
    arena: Arena, start_gateway: StartGateway, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    tls = make_self_signed(Path(tmp_path_factory.mktemp("evil-tls")))
    app = Starlette(routes=[Route("/", evil_page)])
    with ServerThread(app, ssl=tls) as evil:
        ports = [arena.server.port, evil.port]
        hosts = ("lmarena.ai", "arena.ai", EVIL_HOST)
        with Browser.start(arena_port=arena.server.port, hosts=hosts, public_ports=ports) as b:
            gateway = start_gateway("--set", "worker_ping_interval_seconds=1")
            yield World(b, gateway, evil.port)


@pytest.fixture
def tabs(world: World) -> Iterator[tuple[Tab, Tab]]:
    """The user's LMArena tab (connected) and a tab of a foreign site in the same profile."""
    arena_tab = world.browser.open_tab(
        world.browser.arena_url("/?mode=direct"), userscript=world.gateway.userscript()
    )
    try:
        arena_tab.wait_for_title_prefix("✅", timeout=20)
        evil_tab = arena_tab.open_sibling(world.evil_url)
        evil_tab.grant_local_network(world.evil_url)
        yield arena_tab, evil_tab
    finally:
        arena_tab.close()
        wait_until(lambda: world.gateway.health()["workers"] == [], 15, "the tab to go")


ATTACKS = """async ({gateway, ws, token, prompt}) => {
  const out = {};
  // The gateway is reachable from this page (Local Network Access granted): a no-cors probe.
  out.reachable = await fetch(gateway + '/health', {mode: 'no-cors'})
    .then(() => true, () => false);
  // 1. Run the served userscript as a script of this page (it would hold the token).
  out.script = await new Promise((resolve) => {
    const el = document.createElement('script');
    el.src = gateway + '/bridge.user.js';
    el.onload = () => resolve('ran');
    el.onerror = () => resolve('refused');
    document.head.appendChild(el);
  });
  out.bridge = typeof window.__lmarenarev;
  // 2. Connect as a worker over the WebSocket with the stolen token.
  out.socket = await new Promise((resolve) => {
    const socket = new WebSocket(ws + '/ws?token=' + encodeURIComponent(token));
    socket.onopen = () => { resolve('open'); socket.close(); };
    socket.onclose = (e) => resolve('closed ' + e.code);
  });
  // 3. The long-poll transport with the token: a CORS preflight nobody answers.
  out.connect = await fetch(gateway + '/worker/connect', {
    method: 'POST', headers: {'X-Worker-Token': token, 'Content-Type': 'application/json'},
    body: JSON.stringify({type: 'hello', protocol: 1, page_url: location.href}),
  }).then((r) => 'status ' + r.status, (e) => 'failed: ' + e.name);
  // 4. A simple (no-preflight) POST that would run a prompt on the user's LMArena login.
  out.blind = await fetch(gateway + '/v1/chat/completions', {
    method: 'POST', mode: 'no-cors', headers: {'Content-Type': 'text/plain'},
    body: JSON.stringify({model: 'fake-gpt', messages: [{role: 'user', content: prompt}]}),
  }).then((r) => r.type, (e) => 'failed: ' + e.name);
  // 5. Read anything back.
  out.read = await fetch(gateway + '/v1/models')
    .then((r) => r.text(), (e) => 'failed: ' + e.name);
  out.poll = await fetch(gateway + '/worker/poll', {
    method: 'POST', headers: {'X-Worker-Token': token}, body: '{}',
  }).then((r) => r.text(), (e) => 'failed: ' + e.name);
  return out;
}"""


def test_a_foreign_page_in_the_same_browser_can_neither_work_nor_read(
    world: World, tabs: tuple[Tab, Tab], arena: Arena
) -> None:
    arena_tab, evil_tab = tabs
    gateway = world.gateway
    token = json.loads(
        next(ln for ln in gateway.userscript().splitlines() if "const TOKEN = " in ln)
        .split("=", 1)[1]
        .strip()
        .rstrip(";")
    )
    prompt = "a prompt sent by evil.example"
    args = {
        "gateway": gateway.url,
        "ws": gateway.url.replace("http", "ws", 1),
        "token": token,
        "prompt": prompt,
    }
    result = evil_tab.evaluate(ATTACKS, args, timeout=60)

    assert result["reachable"] is True  # so what follows is the gateway's doing
    assert (result["script"], result["bridge"]) == ("refused", "undefined")
    assert result["socket"].startswith("closed") and result["socket"] != "open"
    assert result["connect"] == "failed: TypeError"
    assert result["blind"] == "opaque"
    assert result["read"].startswith("failed") and result["poll"].startswith("failed")
    origin = f"https://{EVIL_HOST}:{world.evil_port}"
    wait_until(
        lambda: f"origin {origin!r} is not an LMArena page" in gateway.output(),
        10,
        "the gateway to log the refused socket",
    )
    assert len(gateway.health()["workers"]) == 1
    assert not any(prompt in json.dumps(r.body) for r in arena.fake.requests)
    assert token not in gateway.output()  # uvicorn logs the handshake's URL, redacted

    reply = gateway.client().chat.completions.create(
        model="fake-gpt", messages=[{"role": "user", "content": "still mine"}]
    )
    assert reply.choices[0].message.content == "Echo: still mine"
    assert arena_tab.title().startswith("✅")


def test_a_leaked_copy_of_the_userscript_does_not_run_on_another_site(
    world: World, tabs: tuple[Tab, Tab]
) -> None:
    """Even run as this page's own code (the gateway can't refuse that), the script stops at
    its first line: it never connects, so it never hands its token to the page's WebSocket."""
    _, evil_tab = tabs
    source = world.gateway.userscript()
    # The 1.5 s wait in the page is a "nothing happens" window: the script would connect
    # within milliseconds if it ran past its first line.
    result = evil_tab.evaluate(
        """async (source) => {
          const seen = [];
          const Real = window.WebSocket;
          window.WebSocket = function (url) { seen.push(String(url)); return new Real(url); };
          const el = document.createElement('script');
          el.textContent = source;
          document.head.appendChild(el);
          await new Promise((r) => setTimeout(r, 1500));
          return {seen, bridge: typeof window.__lmarenarev};
        }""",
        source,
    )
    assert result == {"seen": [], "bridge": "undefined"}
    assert not any("[lmarenarev]" in m for m in evil_tab.console_messages())
    assert len(world.gateway.health()["workers"]) == 1


# docs/security.md §3: https pages of lmarena.ai, arena.ai and their subdomains.
PAGES = {
    "https://lmarena.ai/": True,
    "https://x.lmarena.ai/c/1": True,  # a subdomain is LMArena's own
    "https://arena.ai/?mode=direct": True,
    "https://evillmarena.ai/": False,  # ends with "lmarena.ai", no dot before it
    "https://evilarena.ai/": False,
    "https://lmarena.ai.evil.example/": False,
    "http://lmarena.ai/": False,
    "https://evil.example/lmarena.ai/": False,
}

# Runs the served script with `unsafeWindow` standing in for a page at `href` (the script takes
# its window from there). The first thing the script reads after its page check is
# `__lmarenarev` (one bridge per page): answering `true` makes it stop right there, so a page
# that passed the check is told apart without connecting anything.
PAGE_CHECK = """({source, pages}) => {
  const passed = {};
  for (const href of pages) {
    const url = new URL(href);
    const location = {href: url.href, origin: url.origin, protocol: url.protocol,
                      host: url.host, hostname: url.hostname, pathname: url.pathname};
    passed[href] = false;
    const page = new Proxy(window, {get(target, name) {
      if (name === 'location') return location;
      if (name === '__lmarenarev') { passed[href] = true; return true; }
      const value = Reflect.get(target, name);
      return typeof value === 'function' ? value.bind(target) : value;
    }});
    new Function('unsafeWindow', source)(page);
  }
  return passed;
}"""


def test_the_userscript_does_not_run_on_lookalikes_of_lmarena(
    browser: Browser, gateway: GatewayProcess
) -> None:
    """A page check written `host.endswith("lmarena.ai")` would run on `evillmarena.ai`."""
    tab = browser.open_tab("about:blank", grant_local_network=False)
    try:
        passed = tab.evaluate(PAGE_CHECK, {"source": gateway.userscript(), "pages": list(PAGES)})
    finally:
        tab.close()
    assert {page for page, ran in passed.items() if ran} == {p for p, ok in PAGES.items() if ok}
