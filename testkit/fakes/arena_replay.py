"""A fake LMArena that replays a doctor bundle (`lmarenarev doctor --save DIR`, docs/doctor.md).

    replay = ReplayArena.from_dir(Path("DIR"))        # or ReplayArena(bundle_dict)
    with ServerThread(replay.app) as server: ...      # point a tab (or FakeWorker) at it

    python -m testkit.fakes.arena --replay DIR [--port N] [--tls]

It answers what the real site answered when the bundle was made, as far as the bundle keeps it:
the page (its title and script URLs, `initialModels` when the list came from the page), `/api/me`
and `/api/me/pulse` (their statuses), the catalogue route (status, headers, body), and each
stream route with the recorded attempts of the doctor's chat (create/post) and regenerate
(retry), in order, the last one repeated: status, headers and the first records. So `doctor`
run against it gives the diagnosis the user got, on a developer's machine.

It also serves the fake reCAPTCHA library (tokens are not checked: the bundle holds none) when
the recorded page had a key. Not LMArena: nothing here validates a request.
"""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from testkit.fakes.arena_page import challenge_html, recaptcha_js, script_json

JSON_TYPE = "application/json"
STREAM_TYPE = "text/plain; charset=utf-8"
_RENDER = "recaptcha/"


class ReplayArena:
    def __init__(self, bundle: Mapping[str, Any]) -> None:
        self.bundle = dict(bundle)
        self._lock = threading.Lock()
        self._played: dict[str, int] = {}
        self.requests: list[tuple[str, str, int]] = []  # (method, path, status) answered
        stream_routes = [
            Route("/nextjs-api/stream/create-evaluation", self._chat, methods=["POST"]),
            Route("/nextjs-api/stream/post-to-evaluation/{sid}", self._chat, methods=["POST"]),
            Route("/nextjs-api/stream/retry-evaluation-session-message/{sid}/messages/{mid}",
                  self._regenerate, methods=["PUT"]),
        ]
        pages = [Route(path, self._page) for path in
                 ("/", "/text/direct", "/search/direct", "/image/direct", "/c/{sid}")]
        self.app = Starlette(routes=[
            *pages, *stream_routes,
            Route("/api/me", self._me), Route("/api/me/pulse", self._pulse),
            Route("/nextjs-api/model-catalog", self._catalog),
            Route("/__fake/recaptcha/enterprise.js", self._library),
            Route("/__fake/recaptcha/execute", self._mint, methods=["POST"]),
        ])

    @classmethod
    def from_dir(cls, directory: Path) -> ReplayArena:
        return cls(json.loads((directory / "doctor.json").read_text("utf-8")))

    # -- routes ------------------------------------------------------------------------------

    async def _page(self, request: Request) -> Response:
        page = self.bundle.get("page") or {}
        status = int(page.get("status") or 200)
        title = str(page.get("title") or "LMArena")
        if title.lower().startswith("just a moment"):
            return self._answer(request, HTMLResponse(challenge_html(auto_solve=False), status,
                                                      headers={"cf-mitigated": "challenge"}))
        return self._answer(request, HTMLResponse(self._html(page, title), status))

    async def _me(self, request: Request) -> Response:
        logged_in = (self.bundle.get("account") or {}).get("logged_in")
        status = 200 if logged_in is True else 401 if logged_in is False else 404
        body = {"id": "replayed-user", "isAnonymous": False} if status == 200 else {
            "error": "Unauthorized" if status == 401 else "Not Found"}
        return self._answer(request, JSONResponse(body, status))

    async def _pulse(self, request: Request) -> Response:
        pulse = (self.bundle.get("account") or {}).get("pulse")
        if pulse is None:
            return self._answer(request, JSONResponse({"error": "Not Found"}, 404))
        body = {"pulse": pulse, "refreshedAt": "2026-10-01T00:00:00Z"}
        return self._answer(request, JSONResponse(body))

    async def _catalog(self, request: Request) -> Response:
        catalog = self.bundle.get("catalog") or {}
        body = catalog.get("body")
        text = body if isinstance(body, str) else json.dumps(body if body is not None else
                                                             {"error": "Not Found"})
        status = int(catalog.get("status") or 404)
        headers = _replayable(catalog.get("headers") or {})
        headers.setdefault("content-type", JSON_TYPE)
        return self._answer(request, Response(text, status, headers=headers))

    async def _chat(self, request: Request) -> Response:
        return self._answer(request, self._stream("chat"))

    async def _regenerate(self, request: Request) -> Response:
        return self._answer(request, self._stream("regenerate"))

    async def _library(self, request: Request) -> Response:
        return Response(recaptcha_js(), media_type="application/javascript; charset=utf-8")

    async def _mint(self, request: Request) -> Response:
        return JSONResponse({"token": "03AReplay" + secrets.token_urlsafe(48)})

    # -- helpers -----------------------------------------------------------------------------

    def _answer(self, request: Request, response: Response) -> Response:
        with self._lock:
            self.requests.append((request.method, request.url.path, response.status_code))
        return response

    def _stream(self, step: str) -> Response:
        attempts = [s for s in self.bundle.get("streams") or [] if s.get("step") == step]
        if not attempts:
            return JSONResponse({"error": "nothing recorded for this route"}, 404)
        with self._lock:
            index = self._played.get(step, 0)
            self._played[step] = index + 1
        attempt = attempts[min(index, len(attempts) - 1)]
        if attempt.get("response_type") == "opaqueredirect":
            return Response(b"", 301, headers={"location": "/"})
        headers = _replayable(attempt.get("headers") or {})
        status = int(attempt.get("status") or 502)
        headers.setdefault("content-type", STREAM_TYPE if status == 200 else JSON_TYPE)
        body = "\n".join(attempt.get("records") or [])
        return Response(body, status, headers=headers)

    def _html(self, page: Mapping[str, Any], title: str) -> str:
        srcs = [str(src) for src in page.get("script_srcs") or []]
        keyed = next((src for src in srcs if _RENDER in src and "render=" in src), None)
        library = "/__fake/recaptcha/enterprise.js"
        if keyed is not None:
            library += "?render=" + keyed.split("render=", 1)[1].split("&", 1)[0]
        tags = "\n".join(f'<script src="{_attr(src)}" defer></script>' for src in srcs)
        models = (self.bundle.get("catalog") or {}).get("models")
        push = ""
        if page.get("initial_models") and isinstance(models, list):
            row = "2:" + json.dumps(["$", "$L1", None, {"initialModels": models}]) + "\n"
            push = f"<script>self.__next_f.push([1,{script_json(row)}])</script>"
        return (f"<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{_attr(title)}"
                f"</title>\n<script src=\"{library}\"></script>\n{tags}\n</head><body>"
                f"<main id=\"replay\">replayed from a doctor bundle</main>{push}</body></html>")


def _replayable(headers: Mapping[str, Any]) -> dict[str, str]:
    """Recorded headers a server may send again (not lengths or encodings of another body)."""
    skip = ("content-length", "content-encoding", "transfer-encoding", "connection")
    return {str(k): str(v) for k, v in headers.items() if str(k).lower() not in skip}


def _attr(text: str) -> str:
    return (text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")
            .replace(">", "&gt;"))
