"""Userscript metadata and matching, with Tampermonkey's semantics: the ``// ==UserScript==``
block, ``@match``/``@include``/``@exclude`` rules (as regexes valid in Python and in the page's
JavaScript) and the ``@connect`` rule for ``GM_xmlhttpRequest``."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

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

