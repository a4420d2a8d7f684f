"""The served userscript: the template with this gateway's address, token and page origins, the
batcher (userscript/batcher.js) and the token pool (userscript/tokenpool.js): files of their own
so that node can test them, one served file for the script manager."""

from __future__ import annotations

import json
import re
from importlib import resources
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import Response

from ..arena.page import ARENA_HOSTS
from ..config.settings import Settings
from ..gateway import Gateway

router = APIRouter()

BATCHER_PLACEHOLDER = "/* __LMARENAREV_BATCHER__ */"
TOKEN_POOL_PLACEHOLDER = "/* __LMARENAREV_TOKEN_POOL__ */"
CONNECT_LINE = "// @connect      __LMARENAREV_CONNECT_HOSTS__"


def _source(name: str) -> str:
    return resources.files("lmarenarev").joinpath(f"userscript/{name}").read_text("utf-8")


def local_base_url(settings: Settings) -> str:
    """The gateway's address as a browser on this machine reaches it (a wildcard bind is
    reached on loopback)."""
    host = settings.host
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    return f"http://[{host}]:{settings.port}" if ":" in host else f"http://{host}:{settings.port}"


def render_userscript(gw: Gateway, base_url: str) -> str:
    template = _source("bridge.user.js")
    host = base_url.split("://", 1)[-1].split("/", 1)[0].rsplit(":", 1)[0].strip("[]")
    # The gateway's host and the loopback names, each once (a script manager lists them all).
    hosts = dict.fromkeys([host, "127.0.0.1", "localhost"])
    connect = "\n".join(CONNECT_LINE.replace("__LMARENAREV_CONNECT_HOSTS__", h) for h in hosts)
    template = template.replace(CONNECT_LINE, connect, 1)
    values = {
        "__LMARENAREV_VERSION__": gw.version,
        "__LMARENAREV_GATEWAY__": base_url,
        "__LMARENAREV_TOKEN__": gw.worker_token,
        # Update checks come from the script manager, which sends no admin key.
        "__LMARENAREV_TOKEN_QUERY__": quote(gw.worker_token, safe=""),
        # The script runs only on these pages (its @match is advice a <script src> ignores).
        "__LMARENAREV_PAGE_HOSTS__": json.dumps(list(ARENA_HOSTS)),
        "__LMARENAREV_PAGE_ORIGINS__": json.dumps(gw.settings.page_origins()),
    }
    for placeholder, value in values.items():
        template = template.replace(placeholder, json.dumps(value)[1:-1])
    # After the values, in one pass: code is put in as it is, never searched for placeholders.
    code = {BATCHER_PLACEHOLDER: "batcher.js", TOKEN_POOL_PLACEHOLDER: "tokenpool.js"}
    pattern = re.compile("|".join(re.escape(placeholder) for placeholder in code))
    return pattern.sub(lambda found: _source(code[found.group(0)]).rstrip("\n"), template)


@router.get("/bridge.user.js", include_in_schema=False)
async def userscript(request: Request) -> Response:
    gw: Gateway = request.app.state.gateway
    refusal = gw.access.userscript_refusal(request, gw.worker_token)
    if refusal is not None:
        raise refusal
    base = f"{request.url.scheme}://{request.url.netloc}"
    return Response(
        render_userscript(gw, base),
        media_type="text/javascript; charset=utf-8",
        # CORP: a browser will not run it as another site's <script src> (it holds the token).
        headers={"Cache-Control": "no-store", "Cross-Origin-Resource-Policy": "same-origin"},
    )
