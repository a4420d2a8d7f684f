"""Browser harness for the e2e tier: headless Chromium + a Tampermonkey-like userscript host.

The real setup is a user's LMArena tab (``https://lmarena.ai/…``, a *public* https origin)
running the served userscript, which talks to the gateway on ``127.0.0.1``. This module
reproduces that with Debian's Chromium driven by async Playwright:

* the fake arena (served on ``127.0.0.1:<port>``) is reached as ``https://lmarena.ai:<port>/``
  through ``--host-resolver-rules``; every other host name fails to resolve, so tests are
  hermetic;
* ``--ip-address-space-overrides=127.0.0.1:<port>=public`` puts that page in the *public*
  address space, so Chromium's Local Network Access (LNA) check applies to its
  ``new WebSocket("ws://127.0.0.1:…")`` / ``fetch("http://127.0.0.1:…")`` exactly as on the
  real site; a tab gets the ``local-network-access`` permission (what the user's one-time
  "allow" gives) unless ``grant_local_network=False``;
* a userscript is parsed like Tampermonkey does (``@match``/``@include``/``@exclude``,
  ``@grant``, ``@connect``, ``@run-at``, ``@noframes``) and injected on every navigation of a
  matching document, with the GM API it ``@grant``s. ``GM_xmlhttpRequest`` is performed in
  Python with ``httpx`` (not by the page), so LNA does not apply to it, like the extension's
  privileged background request.

Playwright runs in a dedicated thread with its own event loop, so the browser keeps running
(answering pings, streaming, long-polling) while a synchronous test blocks on an HTTP call.
The public API (:class:`Browser`, :class:`Tab`) is synchronous and thread-safe; it must not be
called from the harness thread itself (e.g. from inside a coroutine passed to ``run``).

See ``docs/e2e-browser.md`` for the established Chromium facts and the caveats.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import itertools
import json
import os
import re
import shutil
import signal
import threading
import time
import weakref
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx

T = TypeVar("T")

# --------------------------------------------------------------------------------------
# Chromium facts (see docs/e2e-browser.md)
# --------------------------------------------------------------------------------------

#: Flags that work on the CI machine (no sandbox, no GPU, no background traffic).
CHROMIUM_FLAGS: tuple[str, ...] = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
)
DEFAULT_HOSTS: tuple[str, ...] = ("lmarena.ai", "arena.ai")
#: The Playwright permission name; Playwright 1.65 maps it to the CDP permissions
#: ``localNetworkAccess``, ``localNetwork`` and ``loopbackNetwork``.
LNA_PERMISSION = "local-network-access"
#: What Chromium logs for a WebSocket stopped by the LNA check.
LNA_WS_ERROR = "ERR_BLOCKED_BY_LOCAL_NETWORK_ACCESS_CHECKS"
#: Environment variable overriding the Chromium executable.
CHROMIUM_ENV = "LMARENAREV_CHROMIUM"

_GM_XHR_BINDING = "__lmarenarevHarnessGmXhr"
_GM_ABORT_BINDING = "__lmarenarevHarnessGmAbort"
_HIDDEN_KEY = "__lmarenarevHarnessHidden"
_SET_HIDDEN_FN = "__lmarenarevHarnessSetHidden"


def chromium_executable() -> str | None:
    """The Chromium to drive: ``$LMARENAREV_CHROMIUM``, else Debian's ``/usr/bin/chromium``."""
    env = os.environ.get(CHROMIUM_ENV)
    if env:
        return env if os.access(env, os.X_OK) else None
    for candidate in ("/usr/bin/chromium", "/usr/lib/chromium/chromium"):
        if os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("chromium") or shutil.which("chromium-browser")


def host_resolver_rules(hosts: Iterable[str], *, block_other_hosts: bool = True) -> str:
    """``--host-resolver-rules`` value mapping ``hosts`` (and their subdomains) to 127.0.0.1.

    With ``block_other_hosts`` every other name resolves to nothing (``~NOTFOUND``), so a page
    can never reach the real internet; ``localhost`` and IP literals are left alone.
    """
    rules: list[str] = []
    for host in hosts:
        rules += [f"MAP {host} 127.0.0.1", f"MAP *.{host} 127.0.0.1"]
    if block_other_hosts:
        rules += ["MAP * ~NOTFOUND", "EXCLUDE localhost", "EXCLUDE 127.0.0.1"]
    return ",".join(rules)


def address_space_overrides(ports: Iterable[int], space: str = "public") -> str:
    """``--ip-address-space-overrides`` value putting ``127.0.0.1:<port>`` in ``space``."""
    return ",".join(f"127.0.0.1:{int(p)}={space}" for p in ports)


def launch_args(
    hosts: Iterable[str], public_ports: Iterable[int], *, block_other_hosts: bool = True
) -> list[str]:
    """All Chromium arguments the harness launches with."""
    args = [
        *CHROMIUM_FLAGS,
        f"--host-resolver-rules={host_resolver_rules(hosts, block_other_hosts=block_other_hosts)}",
    ]
    ports = list(public_ports)
    if ports:
        args.append(f"--ip-address-space-overrides={address_space_overrides(ports)}")
    return args


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


# --------------------------------------------------------------------------------------
# Userscript metadata and matching (Tampermonkey semantics)
# --------------------------------------------------------------------------------------

_META_LINE = re.compile(r"^\s*//\s*@([\w:.-]+)(?:\s+(.*?))?\s*$")
_RUN_AT = ("document-start", "document-body", "document-end", "document-idle")
#: GM functions the harness implements (the rest of a ``@grant`` list gets warning stubs).
_GM_SUPPORTED = (
    "GM_xmlhttpRequest",
    "GM.xmlHttpRequest",
    "GM_getValue",
    "GM_setValue",
    "GM_deleteValue",
    "GM_listValues",
    "GM.getValue",
    "GM.setValue",
    "GM.deleteValue",
    "GM.listValues",
    "GM_addStyle",
    "GM.addStyle",
    "GM_log",
    "unsafeWindow",
)


class UserScriptError(ValueError):
    """The userscript's metadata block is missing or asks for something unsupported."""


@dataclass(frozen=True)
class UserScript:
    """A parsed userscript: its source and the ``// ==UserScript==`` metadata."""

    source: str
    name: str
    namespace: str
    version: str
    matches: tuple[str, ...]
    includes: tuple[str, ...]
    excludes: tuple[str, ...]
    exclude_matches: tuple[str, ...]
    grants: tuple[str, ...]
    connects: tuple[str, ...]
    run_at: str
    noframes: bool
    meta: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def parse(cls, source: str) -> UserScript:
        lines = source.splitlines()
        try:
            start = next(
                i for i, ln in enumerate(lines) if ln.strip().startswith("// ==UserScript==")
            )
            end = next(
                i
                for i, ln in enumerate(lines)
                if i > start and ln.strip().startswith("// ==/UserScript==")
            )
        except StopIteration:
            raise UserScriptError("no // ==UserScript== ... // ==/UserScript== block") from None
        meta: dict[str, list[str]] = {}
        for ln in lines[start + 1 : end]:
            m = _META_LINE.match(ln)
            if m:
                meta.setdefault(m.group(1), []).append(m.group(2) or "")
        if meta.get("require"):
            raise UserScriptError(
                "@require is not supported by the harness (it would need network)"
            )
        run_at = (meta.get("run-at") or ["document-idle"])[-1]
        if run_at not in _RUN_AT:
            raise UserScriptError(f"unsupported @run-at {run_at!r}")
        grants = tuple(g for g in meta.get("grant", []) if g)
        matches = tuple(meta.get("match", []))
        includes = tuple(meta.get("include", []))
        if not matches and not includes:
            raise UserScriptError("the userscript has no @match / @include")
        script = cls(
            source=source,
            name=(meta.get("name") or ["userscript"])[0],
            namespace=(meta.get("namespace") or [""])[0],
            version=(meta.get("version") or [""])[0],
            matches=matches,
            includes=includes,
            excludes=tuple(meta.get("exclude", [])),
            exclude_matches=tuple(meta.get("exclude-match", [])),
            grants=() if grants == ("none",) else grants,
            connects=tuple(c.lower() for c in meta.get("connect", []) if c),
            run_at=run_at,
            noframes="noframes" in meta,
            meta=meta,
        )
        script.matchers()  # validate patterns now
        return script

    def matchers(self) -> dict[str, list[list[str]]]:
        """Regex sources (valid in Python and JS) for the include and exclude rules.

        Each entry is ``[kind, regex]``: kind ``"m"`` is a match pattern, tested against the
        normalized URL ``scheme://host:port/path?query`` (explicit port, no fragment); kind
        ``"g"`` is an ``@include``/``@exclude`` glob or ``/regex/``, tested against the href.
        """
        include = [["m", match_pattern_regex(p)] for p in self.matches]
        include += [["g", glob_regex(p)] for p in self.includes]
        exclude = [["m", match_pattern_regex(p)] for p in self.exclude_matches]
        exclude += [["g", glob_regex(p)] for p in self.excludes]
        return {"include": include, "exclude": exclude}

    def matches_url(self, url: str) -> bool:
        """Whether Tampermonkey would run this script on ``url`` (same rules as the page side)."""
        rules = self.matchers()
        norm, href = normalized_url(url), url.split("#", 1)[0]

        def hit(kind: str, rx: str) -> bool:
            return re.search(rx, norm if kind == "m" else href) is not None

        return any(hit(k, r) for k, r in rules["include"]) and not any(
            hit(k, r) for k, r in rules["exclude"]
        )


def parse_userscript(source: str) -> UserScript:
    return UserScript.parse(source)


def _rx_escape(text: str) -> str:
    return re.sub(r"([.*+?^${}()|\[\]\\/-])", r"\\\1", text)


def match_pattern_regex(pattern: str) -> str:
    """Chrome match pattern (``@match``) → regex over the normalized URL.

    A pattern without a port matches any port (Chrome/Tampermonkey semantics), so
    ``https://lmarena.ai/*`` matches ``https://lmarena.ai:8443/``.
    """
    if pattern == "<all_urls>":
        return r"^(?:https?|wss?|ftp|file)://.*$"
    m = re.fullmatch(r"(\*|[a-z][a-z0-9+.-]*)://([^/]*)(/.*)", pattern.strip())
    if not m:
        raise UserScriptError(f"invalid @match pattern {pattern!r}")
    scheme, hostport, path = m.groups()
    scheme_rx = "https?" if scheme == "*" else _rx_escape(scheme)
    host, _, port = hostport.partition(":")
    if host == "*":
        host_rx = r"[^/:]+"
    elif host.startswith("*."):
        host_rx = r"(?:[^/:]+\.)?" + _rx_escape(host[2:].lower())
    elif "*" in host:
        raise UserScriptError(f"invalid host in @match pattern {pattern!r}")
    else:
        host_rx = _rx_escape(host.lower())
    port_rx = r"\d*" if port in ("", "*") else _rx_escape(port)
    path_rx = ".*".join(_rx_escape(part) for part in path.split("*"))
    return f"^{scheme_rx}://{host_rx}:{port_rx}{path_rx}$"


def glob_regex(pattern: str) -> str:
    """``@include``/``@exclude``: ``/regex/`` as is, else a glob where ``*`` is anything."""
    if len(pattern) > 1 and pattern.startswith("/") and pattern.endswith("/"):
        return pattern[1:-1]
    return "^" + ".*".join(_rx_escape(part) for part in pattern.split("*")) + "$"


def normalized_url(url: str) -> str:
    """``scheme://host:port/path?query`` (what match-pattern regexes are tested against)."""
    p = urlsplit(url)
    host = (p.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    defaults: dict[str, int | str] = {"https": 443, "http": 80, "wss": 443, "ws": 80}
    port = p.port or defaults.get(p.scheme, "")
    query = f"?{p.query}" if p.query else ""
    return f"{p.scheme}://{host}:{port}{p.path or '/'}{query}"


def connect_allowed(host: str, connects: Iterable[str], page_host: str | None) -> bool:
    """Tampermonkey's ``@connect`` rule for a ``GM_xmlhttpRequest`` to ``host``.

    Allowed: the page's own host, ``*``, ``self`` (= the page's host), an exact host/IP, or a
    subdomain of a listed domain.
    """
    host = host.lower()
    if page_host and host == page_host.lower():
        return True
    for entry in connects:
        entry = entry.lower()
        if entry == "*":
            return True
        if entry == "self":
            if page_host and host == page_host.lower():
                return True
            continue
        if host == entry or host.endswith("." + entry):
            return True
    return False


# --------------------------------------------------------------------------------------
# Page-side JavaScript
# --------------------------------------------------------------------------------------

# Always installed first in every tab: emulation of a background tab (set_hidden). The state
# lives in sessionStorage, so it survives reloads of the same tab, like a real background tab.
_HIDDEN_SHIM = r"""
(() => {
  const KEY = %(key)s;
  let hidden = false;
  try { hidden = sessionStorage.getItem(KEY) === '1'; } catch (e) {}
  const P = Document.prototype;
  const origHasFocus = P.hasFocus;
  const def = (name, get) =>
    Object.defineProperty(P, name, { configurable: true, enumerable: true, get });
  def('hidden', function () { return hidden; });
  def('webkitHidden', function () { return hidden; });
  def('visibilityState', function () { return hidden ? 'hidden' : 'visible'; });
  def('webkitVisibilityState', function () { return hidden ? 'hidden' : 'visible'; });
  Object.defineProperty(P, 'hasFocus', { configurable: true, writable: true, value: function () {
    return !hidden && origHasFocus.call(this);
  } });
  Object.defineProperty(window, %(fn)s, { configurable: false, enumerable: false, value: (h) => {
    h = !!h;
    try { sessionStorage.setItem(KEY, h ? '1' : '0'); } catch (e) {}
    if (h === hidden) return hidden;
    hidden = h;
    if (h) window.dispatchEvent(new Event('blur'));
    document.dispatchEvent(new Event('visibilitychange', { bubbles: true }));
    if (!h) window.dispatchEvent(new Event('focus'));
    return hidden;
  } });
})();
"""

# The userscript wrapper. %(...)s fields are filled with JSON; __FACTORY__ with the script
# source wrapped in a function (see build_injection).
_USERSCRIPT_WRAPPER = r"""
((factory) => {
  const META = %(meta)s;
  const RULES = %(rules)s;
  const XHR_BINDING = %(xhr)s, ABORT_BINDING = %(abort)s;
  const normUrl = (u) => {
    const dflt = { 'https:': '443', 'http:': '80', 'wss:': '443', 'ws:': '80' }[u.protocol] || '';
    return `${u.protocol}//${u.hostname}:${u.port || dflt}${u.pathname}${u.search}`;
  };
  let url;
  try { url = new URL(location.href); } catch (e) { return; }
  const norm = normUrl(url), href = location.href.split('#')[0];
  const hit = ([kind, rx]) => new RegExp(rx).test(kind === 'm' ? norm : href);
  if (!RULES.include.some(hit) || RULES.exclude.some(hit)) return;
  if (META.noframes && window.top !== window) return;
  const GUARD = '__lmarenarevHarnessInjected:' + META.id;
  if (window[GUARD]) return;
  Object.defineProperty(window, GUARD, { value: true, enumerable: false });

  const tag = '[userscript ' + META.name + ']';
  const grants = new Set(META.grants);
  const report = (e) => {
    console.error(tag, e && e.stack ? e.stack : String(e));
    setTimeout(() => { throw e; });
  };
  const GM_info = {
    script: { name: META.name, namespace: META.namespace, version: META.version,
              matches: META.matches, includes: META.includes, excludes: META.excludes,
              grant: META.grants, connects: META.connects, 'run-at': META.runAt },
    scriptMetaStr: META.metaStr, scriptHandler: 'Tampermonkey',
    version: '5.3.3 (lmarenarev harness)',
    injectInto: 'page', isIncognito: true,
  };

  let seq = 0;
  const headersToString = (h) => Object.keys(h || {}).map((k) => k + ': ' + h[k]).join('\r\n');
  function GM_xmlhttpRequest(d) {
    d = d || {};
    const id = META.id + ':' + (++seq) + ':' + Math.random().toString(36).slice(2);
    let finished = false;
    let target;
    try {
      target = new URL(String(d.url), location.href).href;
    } catch (e) {
      target = String(d.url);
    }
    const base = { readyState: 1, status: 0, statusText: '', responseHeaders: '', responseText: '',
                   response: null, finalUrl: target, context: d.context };
    const fire = (name, resp) => {
      const cb = d[name];
      if (typeof cb === 'function') { try { cb.call(d, resp); } catch (e) { report(e); } }
    };
    const headers = {};
    for (const [k, v] of Object.entries(d.headers || {})) headers[k] = String(v);
    let data = d.data;
    if (data !== undefined && data !== null && typeof data !== 'string') data = String(data);
    const req = { id, url: target, method: String(d.method || 'GET').toUpperCase(), headers,
                  data: data === undefined ? null : data, timeout: Number(d.timeout) || 0,
                  anonymous: !!d.anonymous, redirect: d.redirect || 'follow', script: META.id };
    Promise.resolve().then(() => window[XHR_BINDING](req)).then((r) => {
      if (finished) return;
      finished = true;
      if (r && r.ok) {
        let response = r.responseText;
        if (d.responseType === 'json') {
          try { response = JSON.parse(r.responseText); } catch (e) { response = null; }
        }
        const resp = Object.assign({}, base, {
          readyState: 4, status: r.status, statusText: r.statusText,
          responseHeaders: r.responseHeaders, responseText: r.responseText, response,
          finalUrl: r.finalUrl,
        });
        fire('onreadystatechange', resp); fire('onload', resp); fire('onloadend', resp);
      } else if (r && r.timeout) {
        const resp = Object.assign({}, base, { readyState: 4, error: 'timeout' });
        fire('ontimeout', resp); fire('onloadend', resp);
      } else {
        const resp = Object.assign({}, base, { readyState: 4, error: (r && r.error) || 'error',
                                               statusText: (r && r.error) || 'error' });
        fire('onerror', resp); fire('onloadend', resp);
      }
    }, (e) => {
      if (finished) return;
      finished = true;
      const resp = Object.assign({}, base, { readyState: 4, error: String(e) });
      fire('onerror', resp); fire('onloadend', resp);
    });
    return { abort() {
      if (finished) return;
      finished = true;
      try { window[ABORT_BINDING](id); } catch (e) {}
      const resp = Object.assign({}, base, { readyState: 4, error: 'aborted' });
      fire('onabort', resp); fire('onloadend', resp);
    } };
  }

  const valueKey = (k) => '__lmarenarevHarnessGM:' + META.namespace + ':' + META.name + ':' + k;
  function GM_getValue(k, dflt) {
    const raw = localStorage.getItem(valueKey(k));
    if (raw === null) return dflt;
    try { return JSON.parse(raw); } catch (e) { return dflt; }
  }
  function GM_setValue(k, v) { localStorage.setItem(valueKey(k), JSON.stringify(v)); }
  function GM_deleteValue(k) { localStorage.removeItem(valueKey(k)); }
  function GM_listValues() {
    const prefix = valueKey('');
    const out = [];
    for (let i = 0; i < localStorage.length; i++) {
      const k = localStorage.key(i);
      if (k && k.startsWith(prefix)) out.push(k.slice(prefix.length));
    }
    return out;
  }
  function GM_addStyle(css) {
    const s = document.createElement('style');
    s.textContent = css;
    (document.head || document.documentElement).appendChild(s);
    return s;
  }
  function GM_log(...args) { console.log(tag, ...args); }
  const stub = (name) => function () {
    console.warn(tag, name + ' is not implemented by the test harness');
  };

  const impl = { GM_xmlhttpRequest, GM_getValue, GM_setValue, GM_deleteValue, GM_listValues,
                 GM_addStyle, GM_log };
  const GM = { info: GM_info };
  const gmAsync = { 'GM.getValue': 'getValue', 'GM.setValue': 'setValue',
                    'GM.deleteValue': 'deleteValue',
                    'GM.listValues': 'listValues', 'GM.addStyle': 'addStyle' };
  const env = {};
  for (const g of grants) {
    if (g === 'unsafeWindow' || g === 'GM_info') continue;
    if (g === 'GM.xmlHttpRequest') {
      GM.xmlHttpRequest = (d) => {
        let handle;
        const p = new Promise((resolve, reject) => {
          handle = GM_xmlhttpRequest(Object.assign({}, d, {
            onload: (r) => { if (d && d.onload) d.onload(r); resolve(r); },
            onerror: (r) => { if (d && d.onerror) d.onerror(r); reject(r); },
            ontimeout: (r) => { if (d && d.ontimeout) d.ontimeout(r); reject(r); },
            onabort: (r) => { if (d && d.onabort) d.onabort(r); reject(r); },
          }));
        });
        p.abort = () => handle.abort();
        return p;
      };
    } else if (gmAsync[g]) {
      const f = impl['GM_' + gmAsync[g]];
      GM[gmAsync[g]] = async (...a) => f(...a);
    } else if (g.startsWith('GM.')) {
      GM[g.slice(3)] = stub(g);
    } else if (/^GM_\w+$/.test(g)) {
      env[g] = impl[g] || stub(g);
    }
  }

  const run = () => {
    try {
      // `factory` is the script text spliced in verbatim (no eval) as a function defined
      // outside this wrapper, whose parameters are exactly the granted GM names.
      factory.call(window, window, GM_info, GM%(env_args)s);
    } catch (e) { report(e); }
  };
  const whenReady = (cb) => {
    if (document.readyState !== 'loading') cb();
    else document.addEventListener('DOMContentLoaded', () => cb(), { once: true });
  };
  switch (META.runAt) {
    case 'document-start': run(); break;
    case 'document-body': {
      if (document.body) { run(); break; }
      const obs = new MutationObserver(() => { if (document.body) { obs.disconnect(); run(); } });
      obs.observe(document.documentElement || document, { childList: true, subtree: true });
      break;
    }
    case 'document-end': whenReady(run); break;
    default: whenReady(() => setTimeout(run, 0));
  }
})(__FACTORY__);
"""

_script_ids = itertools.count(1)


def build_injection(script: UserScript, script_id: int = 0) -> str:
    """The init script that injects ``script`` into every matching document."""
    # one parameter per granted GM_* name (ungranted ones stay undefined → ReferenceError)
    env_names = list(
        dict.fromkeys(g for g in script.grants if re.fullmatch(r"GM_\w+", g) and g != "GM_info")
    )
    params = ", ".join(["unsafeWindow", "GM_info", "GM", *env_names])
    factory = f"function ({params}) {{\n{script.source}\n}}"  # global scope, not the wrapper's
    env_args = "".join(f", env[{json.dumps(n)}]" for n in env_names)
    meta = {
        "id": script_id or next(_script_ids),
        "name": script.name,
        "namespace": script.namespace,
        "version": script.version,
        "matches": list(script.matches),
        "includes": list(script.includes),
        "excludes": list(script.excludes),
        "grants": list(script.grants),
        "connects": list(script.connects),
        "runAt": script.run_at,
        "noframes": script.noframes,
        "metaStr": "\n".join(f"// @{k} {v}" for k, vs in script.meta.items() for v in vs),
    }
    head = _USERSCRIPT_WRAPPER % {
        "meta": json.dumps(meta),
        "rules": json.dumps(script.matchers()),
        "xhr": json.dumps(_GM_XHR_BINDING),
        "abort": json.dumps(_GM_ABORT_BINDING),
        "env_args": env_args,
    }
    return head.replace("__FACTORY__", factory)


# --------------------------------------------------------------------------------------
# The harness thread
# --------------------------------------------------------------------------------------


class _Loop:
    """An asyncio event loop running forever in a daemon thread."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._main, name=name, daemon=True)
        self.thread.start()

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()
        # drain whatever is left so nothing complains about pending tasks
        pending = [t for t in asyncio.all_tasks(self.loop) if not t.done()]
        for t in pending:
            t.cancel()
        if pending:
            self.loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        self.loop.close()

    def run(
        self, coro: Coroutine[Any, Any, T], timeout: float | None, what: str = "operation"
    ) -> T:
        if threading.current_thread() is self.thread:
            raise RuntimeError("the sync browser API cannot be used from the harness thread")
        if self.loop.is_closed() or not self.thread.is_alive():
            raise RuntimeError("the browser harness is closed")
        fut: concurrent.futures.Future[T] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return fut.result(timeout)
        except concurrent.futures.TimeoutError:
            fut.cancel()
            raise TimeoutError(
                f"browser harness: {what} did not finish within {timeout} s"
            ) from None

    def stop(self, join_timeout: float = 10) -> None:
        if self.loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):
            self.loop.call_soon_threadsafe(self.loop.stop)
        if threading.current_thread() is not self.thread:
            self.thread.join(join_timeout)


_live_browsers: weakref.WeakSet[Browser] = weakref.WeakSet()


@atexit.register
def _close_all() -> None:
    for b in list(_live_browsers):
        with contextlib.suppress(Exception):
            b.close()


_browser_ids = itertools.count(1)


def _find_process_group_leader(marker: str) -> int | None:
    """The pid of the process group leader whose command line contains ``marker``.

    Playwright starts Chromium detached, so the browser process leads its own group.
    """
    needle = marker.encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        pid = int(entry)
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if needle not in f.read().split(b"\0"):
                    continue
            if os.getpgid(pid) == pid:
                return pid
        except OSError:
            continue
    return None


def _pid_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return state != "Z"
    except (OSError, IndexError):
        return False


class Browser:
    """One headless Chromium, driven from a background thread. Use :meth:`start`."""

    def __init__(self) -> None:  # use Browser.start()
        self._loop: _Loop | None = None
        self._pw: Any = None
        self._browser: Any = None
        self._http: httpx.AsyncClient | None = None
        self._profiles: list[_Profile] = []
        self._closed = False
        self._lock = threading.Lock()
        self.chromium_pid: int | None = None
        self._marker = ""
        self.hosts: tuple[str, ...] = ()
        self.arena_port = 0
        self.public_ports: list[int] = []
        self.args: list[str] = []
        self.version = ""
        self.user_agent = ""

    # ---- lifecycle -------------------------------------------------------------------

    @classmethod
    def start(
        cls,
        *,
        arena_port: int,
        hosts: Sequence[str] = DEFAULT_HOSTS,
        public_ports: list[int] | None = None,
        executable_path: str | None = None,
        extra_args: Sequence[str] = (),
        block_other_hosts: bool = True,
        headless: bool = True,
        timeout: float = 60,
    ) -> Browser:
        """Launch Chromium with the fake arena at ``https://<host>:<arena_port>`` as "public".

        ``public_ports`` (default ``[arena_port]``) are the 127.0.0.1 ports Chromium puts in the
        public address space; everything else on 127.0.0.1 (the gateway) stays loopback.
        """
        exe = executable_path or chromium_executable()
        if not exe:
            raise RuntimeError(f"no Chromium found (set ${CHROMIUM_ENV} or install chromium)")
        self = cls()
        self.hosts = tuple(hosts)
        self.arena_port = arena_port
        self.public_ports = list(public_ports) if public_ports is not None else [arena_port]
        # An inert switch that lets us find (and, as a last resort, kill) our Chromium.
        self._marker = f"--lmarenarev-harness={os.getpid()}-{next(_browser_ids)}-{time.time_ns()}"
        self.args = [
            *launch_args(self.hosts, self.public_ports, block_other_hosts=block_other_hosts),
            *extra_args,
            self._marker,
        ]
        self._loop = _Loop(f"e2e-browser-{arena_port}")
        _live_browsers.add(self)
        try:
            self._loop.run(self._astart(exe, headless), timeout, "launching Chromium")
        except BaseException:
            self.close()
            raise
        return self

    async def _astart(self, exe: str, headless: bool) -> None:
        from playwright.async_api import async_playwright

        self._pw = await async_playwright().start()
        self._browser = await self._pw.chromium.launch(
            executable_path=exe, headless=headless, args=self.args, timeout=30_000
        )
        self.version = self._browser.version
        major = self.version.split(".")[0]
        # The headless UA says "HeadlessChrome"; a user's tab does not.
        self.user_agent = (
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
            f"Chrome/{major}.0.0.0 Safari/537.36"
        )
        self.chromium_pid = _find_process_group_leader(self._marker)
        # One client for every GM_xmlhttpRequest of every tab; long-polls must not starve.
        self._http = httpx.AsyncClient(
            timeout=httpx.Timeout(None, connect=10),
            limits=httpx.Limits(max_connections=200, max_keepalive_connections=50),
            follow_redirects=False,
            verify=False,
            trust_env=False,
            headers={"User-Agent": self.user_agent},
        )

    def close(self) -> None:
        """Close every tab and Chromium, stop the thread. Idempotent; never raises."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        _live_browsers.discard(self)
        loop = self._loop
        if loop is not None and not loop.loop.is_closed():
            with contextlib.suppress(BaseException):
                loop.run(self._aclose(), 30, "closing Chromium")
            loop.stop()
        self._kill_leftovers()

    async def _aclose(self) -> None:
        for profile in list(self._profiles):
            for tab in profile.tabs:
                tab._closed = True
            with contextlib.suppress(Exception):
                await profile.aclose()
        if self._http is not None:
            with contextlib.suppress(Exception):
                await self._http.aclose()
        if self._browser is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._browser.close(), 15)
        if self._pw is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._pw.stop(), 15)

    def _kill_leftovers(self) -> None:
        """Last resort: SIGKILL the Chromium process group we launched if it survived."""
        pid = self.chromium_pid
        if not pid:
            return
        deadline = time.monotonic() + 5
        while _pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _pid_alive(pid):
            with contextlib.suppress(OSError):
                os.killpg(pid, signal.SIGKILL)  # Playwright starts Chromium in its own group
            deadline = time.monotonic() + 5
            while _pid_alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- helpers ---------------------------------------------------------------------

    def arena_url(
        self, path: str = "/", *, host: str | None = None, port: int | None = None
    ) -> str:
        """``https://lmarena.ai:<arena_port><path>`` (or another mapped host/port)."""
        return f"https://{host or self.hosts[0]}:{port or self.arena_port}{path}"

    def run(self, fn: Callable[[], Awaitable[T]], timeout: float = 30) -> T:
        """Run ``await fn()`` in the harness thread (for raw Playwright access) and return it."""
        assert self._loop is not None

        async def call() -> T:
            return await fn()

        return self._loop.run(call(), timeout, "Browser.run")

    def _run(self, coro: Coroutine[Any, Any, T], timeout: float, what: str) -> T:
        if self._closed or self._loop is None:
            if asyncio.iscoroutine(coro):
                coro.close()
            raise RuntimeError("the browser is closed")
        return self._loop.run(coro, timeout, what)

    # ---- tabs ------------------------------------------------------------------------

    def open_tab(
        self,
        url: str,
        *,
        userscript: str | Sequence[str] | None = None,
        grant_local_network: bool = True,
        gm_allowed_hosts: Sequence[str] | None = ("127.0.0.1", "localhost"),
        wait_until: str = "load",
        timeout: float = 30,
    ) -> Tab:
        """Open ``url`` in a fresh browser context (its own cookies, permissions, sockets).

        ``grant_local_network`` grants the LNA permission to the page's origin and to the
        other mapped hosts on the same port (what the user's one-time "allow" does).
        ``userscript``: the source (or several sources) to run like Tampermonkey would.
        ``gm_allowed_hosts``: the harness refuses ``GM_xmlhttpRequest`` to any other host, on
        top of ``@connect`` (``None`` = no extra restriction), so tests never hit the internet.
        """
        sources = [userscript] if isinstance(userscript, str) else list(userscript or [])
        profile = _Profile(self, [UserScript.parse(s) for s in sources], gm_allowed_hosts)
        tab = Tab(self, profile, owner=True)
        profile.tabs.append(tab)
        with self._lock:
            if self._closed:
                raise RuntimeError("the browser is closed")
            self._profiles.append(profile)

        async def aopen() -> None:
            await profile.setup(url, grant_local_network, timeout)
            await tab._aopen_page(url, wait_until)

        try:
            self._run(aopen(), timeout + 5, f"opening {url}")
        except BaseException:
            tab.close()
            raise
        return tab


class _Profile:
    """What the tabs of one browser context share: the context, userscripts, GM plumbing."""

    def __init__(
        self, browser: Browser, scripts: list[UserScript], gm_allowed_hosts: Sequence[str] | None
    ) -> None:
        self.browser = browser
        self.scripts = {next(_script_ids): s for s in scripts}
        self.gm_allowed_hosts = (
            None if gm_allowed_hosts is None else {h.lower() for h in gm_allowed_hosts}
        )
        self.context: Any = None
        self.gm_log: list[dict[str, Any]] = []
        self.gm_tasks: dict[str, asyncio.Task[dict[str, Any]]] = {}
        self.tabs: list[Tab] = []

    async def setup(self, first_url: str, grant: bool, timeout: float) -> None:
        b = self.browser
        self.context = await b._browser.new_context(
            ignore_https_errors=True, user_agent=b.user_agent
        )
        self.context.set_default_timeout(timeout * 1000)
        if grant:
            await self.grant_local_network(first_url)
        await self.context.add_init_script(
            _HIDDEN_SHIM % {"key": json.dumps(_HIDDEN_KEY), "fn": json.dumps(_SET_HIDDEN_FN)}
        )
        if self.scripts:
            await self.context.expose_binding(_GM_XHR_BINDING, self._gm_xhr)
            await self.context.expose_binding(_GM_ABORT_BINDING, self._gm_abort)
            for script_id, script in self.scripts.items():
                await self.context.add_init_script(build_injection(script, script_id))

    async def grant_local_network(self, url: str) -> None:
        parts = urlsplit(url)
        origins = {origin_of(url)}
        if parts.hostname in self.browser.hosts:
            for h in self.browser.hosts:
                origins.add(f"{parts.scheme}://{h}" + (f":{parts.port}" if parts.port else ""))
        for o in sorted(origins):
            await self.context.grant_permissions([LNA_PERMISSION], origin=o)

    async def aclose(self) -> None:
        for task in list(self.gm_tasks.values()):
            task.cancel()
        if self.context is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.context.close(), 10)

    # ---- GM_xmlhttpRequest (harness thread) ------------------------------------------

    def gm_refusal(self, url: str, page_url: str, connects: Sequence[str]) -> str | None:
        p = urlsplit(url)
        if p.scheme not in ("http", "https") or not p.hostname:
            return f"unsupported URL {url!r}"
        page_host = urlsplit(page_url).hostname
        if not connect_allowed(p.hostname, connects, page_host):
            return f"refused: {p.hostname} is not in @connect {list(connects)}"
        if self.gm_allowed_hosts is not None and p.hostname.lower() not in self.gm_allowed_hosts:
            return f"refused by the test harness: {p.hostname} is not in gm_allowed_hosts"
        return None

    async def _gm_xhr(self, source: dict[str, Any], req: dict[str, Any]) -> dict[str, Any]:
        page_url = ""
        with contextlib.suppress(Exception):
            page_url = source["frame"].url
        script = self.scripts.get(int(req.get("script") or 0))
        connects = script.connects if script else ()
        entry: dict[str, Any] = {"method": req.get("method"), "url": req.get("url")}
        self.gm_log.append(entry)
        task = asyncio.ensure_future(self._gm_perform(req, page_url, connects))
        self.gm_tasks[req["id"]] = task
        try:
            await asyncio.wait({task})
        finally:
            self.gm_tasks.pop(req["id"], None)
            if not task.done():
                task.cancel()
        if task.cancelled():
            result: dict[str, Any] = {"ok": False, "error": "aborted"}
        elif (exc := task.exception()) is not None:
            result = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        else:
            result = task.result()
        entry.update(
            {k: result.get(k) for k in ("ok", "status", "error", "timeout") if k in result}
        )
        return result

    async def _gm_perform(
        self, req: dict[str, Any], page_url: str, connects: Sequence[str]
    ) -> dict[str, Any]:
        http = self.browser._http
        assert http is not None
        url = str(req.get("url"))
        method = str(req.get("method") or "GET")
        headers = dict(req.get("headers") or {})
        data = req.get("data")
        timeout_ms = float(req.get("timeout") or 0)

        async def perform() -> dict[str, Any]:
            nonlocal url, method, data
            for _hop in range(10):
                refusal = self.gm_refusal(url, page_url, connects)
                if refusal:
                    return {"ok": False, "error": refusal}
                try:
                    resp = await http.request(
                        method,
                        url,
                        headers=headers,
                        content=None if data is None else str(data).encode(),
                    )
                except httpx.HTTPError as e:
                    return {"ok": False, "error": f"{type(e).__name__}: {e}"}
                if resp.is_redirect and req.get("redirect", "follow") == "follow":
                    url = str(resp.url.join(resp.headers["location"]))
                    if resp.status_code == 303 or (
                        resp.status_code in (301, 302) and method == "POST"
                    ):
                        method, data = ("HEAD" if method == "HEAD" else "GET"), None
                    continue
                text = resp.content.decode(resp.encoding or "utf-8", errors="replace")
                return {
                    "ok": True,
                    "status": resp.status_code,
                    "statusText": resp.reason_phrase,
                    "responseHeaders": "".join(
                        f"{k.lower()}: {v}\r\n" for k, v in resp.headers.multi_items()
                    ),
                    "responseText": text,
                    "finalUrl": str(resp.url),
                }
            return {"ok": False, "error": "too many redirects"}

        if timeout_ms > 0:
            try:
                return await asyncio.wait_for(perform(), timeout_ms / 1000)
            except TimeoutError:
                return {"ok": False, "timeout": True, "error": "timeout"}
        return await perform()

    async def _gm_abort(self, source: dict[str, Any], req_id: str) -> None:
        task = self.gm_tasks.get(req_id)
        if task is not None and not task.done():
            task.cancel()


class Tab:
    """A browser tab. Sync methods are safe from any thread except the harness thread.

    :meth:`Browser.open_tab` gives a tab in a fresh context (a separate "profile");
    :meth:`open_sibling` another tab of the same context (shared cookies, permissions,
    userscripts, like a second tab of the same user).
    """

    def __init__(self, browser: Browser, profile: _Profile, *, owner: bool) -> None:
        self.browser = browser
        self._profile = profile
        self._owner = owner
        #: The Playwright page: use only inside the harness thread (``Browser.run``/``Tab.run``).
        self.page: Any = None
        self._console: list[str] = []
        self._closed = False

    @property
    def context(self) -> Any:
        """The Playwright browser context (harness thread only)."""
        return self._profile.context

    @property
    def scripts(self) -> list[UserScript]:
        return list(self._profile.scripts.values())

    async def _aopen_page(self, url: str, wait_until: str) -> None:
        self.page = await self._profile.context.new_page()
        self.page.on("console", lambda m: self._console.append(f"{m.type}: {m.text}"))
        self.page.on("pageerror", lambda e: self._console.append(f"pageerror: {e}"))
        await self.page.goto(url, wait_until=wait_until)

    # ---- sync API ----------------------------------------------------------------------

    def _run(self, coro: Coroutine[Any, Any, T], timeout: float, what: str) -> T:
        if self._closed:
            coro.close()
            raise RuntimeError("the tab is closed")
        return self.browser._run(coro, timeout, what)

    def run(self, fn: Callable[[Any], Awaitable[T]], timeout: float = 30) -> T:
        """Run ``await fn(page)`` in the harness thread and return its result."""

        async def call() -> T:
            return await fn(self.page)

        return self._run(call(), timeout, "Tab.run")

    def open_sibling(
        self, url: str | None = None, *, wait_until: str = "load", timeout: float = 30
    ) -> Tab:
        """Open another tab in this tab's context (default URL: this tab's)."""
        tab = Tab(self.browser, self._profile, owner=False)
        self._profile.tabs.append(tab)
        target = url or self.url
        try:
            self._run(tab._aopen_page(target, wait_until), timeout + 5, f"opening {target}")
        except BaseException:
            tab.close()
            raise
        return tab

    @property
    def url(self) -> str:
        return str(self.page.url) if self.page is not None else ""

    def title(self) -> str:
        return self._run(self.page.title(), 15, "title()")

    def evaluate(self, js: str, arg: Any = None, *, timeout: float = 30) -> Any:
        """``page.evaluate(js, arg)``: an expression, or a function (maybe async) of ``arg``."""
        return self._run(self.page.evaluate(js, arg), timeout, "evaluate()")

    async def _poll(self, check: Callable[[], Awaitable[T | None]], timeout: float, what: str) -> T:
        deadline = time.monotonic() + timeout
        last: Any = None
        while True:
            try:
                value = await check()
                if value is not None:
                    return value
                last = value
            except Exception as e:  # a navigation in progress destroys the context; retry
                last = e
            if time.monotonic() >= deadline:
                raise TimeoutError(f"{what} within {timeout} s (last: {last!r})")
            await asyncio.sleep(0.05)

    def wait_for_title_prefix(self, prefix: str, timeout: float = 15) -> str:
        """Wait until ``document.title`` starts with ``prefix``; return the title."""

        async def check() -> str | None:
            t: str = await self.page.title()
            return t if t.startswith(prefix) else None

        return self._run(
            self._poll(check, timeout, f"title never started with {prefix!r}"),
            timeout + 5,
            "wait_for_title_prefix()",
        )

    def wait_for_title_without(self, prefix: str, timeout: float = 15) -> str:
        """Wait until ``document.title`` does not start with ``prefix``; return the title."""

        async def check() -> str | None:
            t: str = await self.page.title()
            return None if t.startswith(prefix) else t

        return self._run(
            self._poll(check, timeout, f"title kept starting with {prefix!r}"),
            timeout + 5,
            "wait_for_title_without()",
        )

    def wait_for(self, js: str, arg: Any = None, timeout: float = 15) -> Any:
        """Wait until ``page.evaluate(js, arg)`` is truthy (survives navigations); return it."""

        async def check() -> Any:
            v = await self.page.evaluate(js, arg)
            return v if v else None

        return self._run(
            self._poll(check, timeout, f"{js!r} never became truthy"), timeout + 5, "wait_for()"
        )

    def wait_for_console(self, substring: str, timeout: float = 15) -> str:
        """Wait until a collected console message contains ``substring``; return it."""

        async def check() -> str | None:
            return next((m for m in list(self._console) if substring in m), None)

        return self._run(
            self._poll(check, timeout, f"no console message with {substring!r}"),
            timeout + 5,
            "wait_for_console()",
        )

    def reload(self, *, wait_until: str = "load", timeout: float = 30) -> None:
        self._run(
            self.page.reload(wait_until=wait_until, timeout=timeout * 1000),
            timeout + 5,
            "reload()",
        )

    def goto(self, url: str, *, wait_until: str = "load", timeout: float = 30) -> None:
        self._run(
            self.page.goto(url, wait_until=wait_until, timeout=timeout * 1000),
            timeout + 5,
            f"goto({url})",
        )

    def grant_local_network(self, url: str | None = None) -> None:
        """Grant LNA to ``url``'s origin (default: the current page), like clicking "allow"."""
        self._run(self._profile.grant_local_network(url or self.url), 15, "grant_local_network()")

    def set_hidden(self, hidden: bool) -> None:
        """Emulate a background (``True``) or foreground tab.

        ``document.hidden``/``visibilityState``/``hasFocus()`` flip and ``visibilitychange``
        (plus ``blur``/``focus`` on window) is dispatched in every frame. The state persists
        across reloads of this tab (sessionStorage). Timers are *not* throttled.
        """

        async def apply() -> None:
            for frame in self.page.frames:
                with contextlib.suppress(Exception):
                    await frame.evaluate(f"(h) => window[{json.dumps(_SET_HIDDEN_FN)}](h)", hidden)

        self._run(apply(), 15, "set_hidden()")

    def console_messages(self) -> list[str]:
        """Console messages so far, as ``"<type>: <text>"`` (page errors: ``"pageerror: …"``)."""
        return list(self._console)

    def gm_requests(self) -> list[dict[str, Any]]:
        """``GM_xmlhttpRequest`` calls of this context: method, url, ok/status/error/timeout."""
        return [dict(e) for e in self._profile.gm_log]

    def screenshot(self, path: str) -> None:
        self._run(self.page.screenshot(path=path), 30, "screenshot()")

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Close the tab (the first tab of a context closes the whole context). Idempotent."""
        if self._closed:
            return
        profile = self._profile
        doomed = list(profile.tabs) if self._owner else [self]
        for tab in doomed:
            tab._closed = True
            with contextlib.suppress(ValueError):
                profile.tabs.remove(tab)
        b = self.browser
        with b._lock:
            if self._owner and profile in b._profiles:
                b._profiles.remove(profile)
        if b._closed or b._loop is None:
            return

        async def aclose() -> None:
            if self._owner:
                await profile.aclose()
            elif self.page is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(self.page.close(), 10)

        with contextlib.suppress(Exception):
            b._loop.run(aclose(), 20, "closing a tab")

    def __enter__(self) -> Tab:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --------------------------------------------------------------------------------------
# Servers and certificates: testkit/fakes/serving.py and testkit/fakes/tls.py
# --------------------------------------------------------------------------------------


def load_userscript(url: str, timeout: float = 10) -> str:
    """Fetch a served userscript (e.g. ``http://127.0.0.1:<port>/bridge.user.js``)."""
    r = httpx.get(url, timeout=timeout, trust_env=False)
    r.raise_for_status()
    return r.text
