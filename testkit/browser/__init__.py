"""Browser harness for the e2e tier: headless Chromium + a Tampermonkey-like userscript host.

The real setup is a user's LMArena tab (``https://lmarena.ai/…``, a *public* https origin)
running the served userscript, which talks to the gateway on ``127.0.0.1``. This package
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

Modules: ``chromium`` (binary, flags, resolver and address-space rules), ``userscript``
(metadata and matching), ``injection`` with ``hidden.js`` and ``userscript_wrapper.js`` (the
page-side JavaScript), ``loop`` (the harness thread), ``browser``, ``profile`` (a browser
context and its ``GM_xmlhttpRequest``) and ``tab``.

See ``docs/e2e-browser.md`` for the established Chromium facts and the caveats.
"""

from testkit.browser.browser import Browser, load_userscript
from testkit.browser.chromium import (
    CHROMIUM_ENV,
    CHROMIUM_FLAGS,
    DEFAULT_HOSTS,
    LNA_PERMISSION,
    LNA_WS_ERROR,
    address_space_overrides,
    chromium_executable,
    host_resolver_rules,
    launch_args,
    managed_browser_args,
    origin_of,
    pid_alive,
)
from testkit.browser.injection import build_injection, hidden_shim
from testkit.browser.tab import Tab
from testkit.browser.userscript import (
    UserScript,
    UserScriptError,
    connect_allowed,
    glob_regex,
    match_pattern_regex,
    normalized_url,
    parse_userscript,
)

__all__ = [
    "CHROMIUM_ENV",
    "CHROMIUM_FLAGS",
    "DEFAULT_HOSTS",
    "LNA_PERMISSION",
    "LNA_WS_ERROR",
    "Browser",
    "Tab",
    "UserScript",
    "UserScriptError",
    "address_space_overrides",
    "build_injection",
    "chromium_executable",
    "connect_allowed",
    "glob_regex",
    "hidden_shim",
    "host_resolver_rules",
    "launch_args",
    "load_userscript",
    "managed_browser_args",
    "match_pattern_regex",
    "normalized_url",
    "origin_of",
    "parse_userscript",
    "pid_alive",
]
