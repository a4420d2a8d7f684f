"""The direct path in Chromium: the page itself fetches the same stream, no gateway.

`PAGE_STREAMS` runs in the fake LMArena page (the tab the userscript also runs in) and does what
the userscript does for a job: mint a reCAPTCHA token with the page's `grecaptcha.enterprise`,
`fetch` the create-evaluation body with the page's cookies, read the body with a reader. It finds
the fake's send-time stamps in every complete line it reads. Its clock is
`performance.timeOrigin + performance.now()`; `clock_offset_us` measures how far it is from this
process's `time.time()` so that its latencies are comparable with the fake's stamps.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

from bench.relay_client import StreamResult


class Tab(Protocol):
    """A browser tab of either driver: bench/cdp.py or testkit/browser/."""

    def evaluate(self, js: str, arg: Any = None, *, timeout: float = 30) -> Any: ...


PAGE_STREAMS = r"""
async ({bodies, siteKey, path}) => {
  const STAMP = /@t=(\d+);/g;
  const now = () => (performance.timeOrigin + performance.now()) * 1000;
  async function one(body) {
    const r = {start: now(), first: null, end: null, records: 0, lat: [], error: null, sent: null};
    try {
      const api = window.grecaptcha.enterprise;
      body.recaptchaV3Token = await api.execute(siteKey, {action: 'chat_submit'});
      r.sent = now();  // the token is there: the request leaves
      const response = await fetch(path, {
        method: 'POST', body: JSON.stringify(body), credentials: 'include',
        headers: {'content-type': 'text/plain;charset=UTF-8'},
      });
      if (response.status !== 200) {
        r.error = 'HTTP ' + response.status + ' ' + (await response.text()).slice(0, 200);
        return r;
      }
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      let tail = '';
      for (;;) {
        const {value, done} = await reader.read();
        if (done) break;
        const t = now();
        const text = tail + decoder.decode(value, {stream: true});
        const cut = text.lastIndexOf('\n') + 1;
        tail = text.slice(cut);
        STAMP.lastIndex = 0;
        const lines = text.slice(0, cut);
        let m, n = 0;
        while ((m = STAMP.exec(lines)) !== null) { r.lat.push(t - Number(m[1])); n++; }
        if (n && r.first === null) r.first = t;
        r.records += n;
      }
      r.end = now();
    } catch (e) {
      r.error = String(e);
    }
    return r;
  }
  return Promise.all(bodies.map(one));
}
"""

PAGE_NOW = "() => (performance.timeOrigin + performance.now()) * 1000"


def clock_offset_us(tab: Tab, rounds: int = 7) -> float:
    """The page clock minus `time.time()`, in µs, from the round trip with the smallest delay."""
    best: tuple[float, float] | None = None
    for _ in range(rounds):
        before = time.time()
        page = float(tab.evaluate(PAGE_NOW))
        after = time.time()
        trip = after - before
        if best is None or trip < best[0]:
            best = (trip, page - (before + after) / 2 * 1e6)
    assert best is not None
    return best[1]


def stream_pages(tabs: Sequence[Tab], offsets: Sequence[float], bodies: Sequence[dict[str, Any]],
                 *, site_key: str, path: str) -> list[StreamResult]:
    """Spread `bodies` round-robin over `tabs`, start them together, wait for every reply."""
    shares = [list(bodies[index::len(tabs)]) for index in range(len(tabs))]

    def run(index: int) -> list[StreamResult]:
        if not shares[index]:
            return []
        arg = {"bodies": shares[index], "siteKey": site_key, "path": path}
        data = tabs[index].evaluate(PAGE_STREAMS, arg, timeout=300)
        return [StreamResult.from_page(item, offsets[index]) for item in data]

    with ThreadPoolExecutor(len(tabs)) as pool:
        return [result for part in pool.map(run, range(len(tabs))) for result in part]
