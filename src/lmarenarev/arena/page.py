"""Facts about the LMArena page a worker runs in (protocol §1.1, §3.2)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

# The newest v3 site key seen in public bridges (gpt4free, 2026-05-16; §3.2).
DEFAULT_RECAPTCHA_SITE_KEY = "6LeTGMcsAAAAALuIlkVwIxaAuZA8VledA6d3Nnb0"
DEFAULT_RECAPTCHA_ACTION = "chat_submit"

# G's discovery regex over script references: recaptcha/(enterprise|api).js?render=<key> (§3.2).
_RENDER_KEY = re.compile(r"recaptcha/(?:enterprise|api)\.js\?(?:[^#\s\"']*&)?render=([\w-]{20,})")

ARENA_HOSTS = ("lmarena.ai", "arena.ai")  # §1.1: historic and current origins
# §1.1 2026: lmarena.ai 301s everything to arena.ai, whose direct chat is at /text/direct.
MOVED_HOSTS = {"lmarena.ai": "arena.ai", "www.lmarena.ai": "arena.ai"}
CHAT_PAGE = "/text/direct"
_SCRIPT_SRC = re.compile(r"<script\b[^>]*\bsrc\s*=\s*[\"']([^\"'>]+)[\"']", re.I)
_TITLE = re.compile(r"<title[^>]*>([^<]*)</title>", re.I)


# Titles of Cloudflare's interstitial pages (§3.1).
_CHALLENGE_TITLES = ("just a moment", "attention required! | cloudflare")


def is_challenge_title(title: str) -> bool:
    lowered = title.strip().lower()
    return any(lowered.startswith(t) for t in _CHALLENGE_TITLES)


def discover_recaptcha_site_key(script_srcs: list[str]) -> str | None:
    for src in script_srcs:
        match = _RENDER_KEY.search(src)
        if match and match.group(1) != "explicit":
            return match.group(1)
    return None


def recaptcha_site_key(configured: str, discovered: str | None) -> str:
    """The key a tab mints with: the configured one, else the one its page loads (§3.2: keys
    change, find them at run time), else the built-in one."""
    return configured or discovered or DEFAULT_RECAPTCHA_SITE_KEY


def is_arena_origin(origin: str, extra: list[str]) -> bool:
    """lmarena.ai, arena.ai, their subdomains (https only), or an origin the user configured."""
    if not origin:
        return False
    if origin.rstrip("/") in (o.rstrip("/") for o in extra):
        return True
    parts = urlsplit(origin)
    host = (parts.hostname or "").lower()
    if parts.scheme != "https":
        return False
    return any(host == h or host.endswith("." + h) for h in ARENA_HOSTS)


def origin_of(url: str) -> str:
    """`scheme://host[:port]` of a URL ("" when it has none)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""


def canonical_page(page_url: str) -> str | None:
    """Where a tab on an origin LMArena moved should go: the same scheme and port on the new
    host, at the chat page (§1.1 2026); None when its host did not move."""
    parts = urlsplit(page_url)
    host = (parts.hostname or "").lower()
    moved = MOVED_HOSTS.get(host)
    if moved is None:
        return None
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{moved}{port}{CHAT_PAGE}"


def page_scripts(html: str, base: str) -> list[str]:
    """The `<script src>` URLs of a page (absolute), for discovery and bug reports."""
    from urllib.parse import urljoin

    return [urljoin(base, src) for src in _SCRIPT_SRC.findall(html[:2_000_000])][:200]


def page_title(html: str) -> str:
    match = _TITLE.search(html[:200_000])
    return " ".join(match.group(1).split()) if match else ""


def same_origin_path(url: str) -> str:
    """The path and query of a URL, for a fetch made in its own page (§1.1: same-origin)."""
    parts = urlsplit(url)
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
