"""Browser-facing routes of the fake LMArena: the app page and its assets, server actions, R2
uploads, sign-up, Supabase refresh, the fake reCAPTCHA/Turnstile endpoints and the Cloudflare
challenge solver (protocol doc §1.7–§1.9, §3.1–§3.4, §4.1, §5.3), and the 2026-10 era's model
catalogue (§4.1 2026: anonymous callers with a browser User-Agent get it)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
)
from starlette.routing import Route

from testkit.fakes.arena_actions import RSC_CONTENT_TYPE, action_not_found, run_action
from testkit.fakes.arena_auth import (
    AUTH_COOKIE,
    CLEARANCE_COOKIE,
    PROVISIONAL_COOKIE,
    TURNSTILE_SITE_KEY,
    AuthSession,
    auth_cookie,
)
from testkit.fakes.arena_http import base_url, cookie_header
from testkit.fakes.arena_ids import is_uuid, uuid4
from testkit.fakes.arena_models import catalog_body, modality
from testkit.fakes.arena_page import (
    PageData,
    app_chunk_js,
    challenge_html,
    page_html,
    png_bytes,
    recaptcha_js,
    turnstile_js,
)
from testkit.fakes.arena_state import Upload
from testkit.fakes.arena_validate import ArenaHTTPError, parse_body

if TYPE_CHECKING:
    from testkit.fakes.arena import FakeArena

JS_TYPE = "application/javascript; charset=utf-8"
TURNSTILE_MAX_AGE = 300.0


class WebRoutes:
    def __init__(self, arena: FakeArena) -> None:
        self.arena = arena

    def static_routes(self) -> list[Route]:
        return [*self.arena.image_host.routes(),
            Route("/_next/static/chunks/{name}", self.chunk),
            Route("/__fake/recaptcha/enterprise.js", self.recaptcha_library),
            Route("/__fake/recaptcha/api.js", self.recaptcha_library),
            Route("/__fake/recaptcha/execute", self.recaptcha_execute, methods=["POST"]),
            Route("/__fake/turnstile/api.js", self.turnstile_library),
            Route("/__fake/turnstile/execute", self.turnstile_execute, methods=["POST"]),
            Route("/__fake/cf/solve", self.solve_challenge, methods=["POST"]),
            Route("/favicon.ico", self.favicon),
        ]

    # ------------------------------------------------------------------ page and actions

    def page(self, request: Request, raw: bytes) -> Response:
        if request.method == "POST":
            return self._action(request, raw)
        arena = self.arena
        moved = _moved_page(request, arena.era.chat_page)
        if moved is not None:  # §1.1 2026: /?mode=direct → 301 /text/direct
            return RedirectResponse(moved, 301)
        if arena.challenge_pages and not self._cleared(request):
            return HTMLResponse(challenge_html(auto_solve=arena.challenge_auto_solve), 403,
                                headers={"cf-mitigated": "challenge"})
        now = arena.clock()
        current = auth_cookie(request.cookies)
        with arena.lock:
            data = self._page_data(request)
            fresh: AuthSession | None = None
            if arena.auth.check(current, now) is None:  # §1.9: rotate a missing/expired session
                known = arena.auth.known(current)
                fresh = arena.auth.issue(now, _issuer(request),
                                         known.user_id if known else None,
                                         email=known.email if known else None)
        response = HTMLResponse(page_html(data))
        if fresh is not None:
            response.headers.append(
                "set-cookie", cookie_header(AUTH_COOKIE, fresh.cookie_value(), request))
        if current is None and PROVISIONAL_COOKIE not in request.cookies:
            response.headers.append(
                "set-cookie", cookie_header(PROVISIONAL_COOKIE, uuid4(), request))
        return response

    def _page_data(self, request: Request) -> PageData:
        arena, era = self.arena, self.arena.era
        models = arena.offered_models()
        session = arena.state.sessions.get(request.path_params.get("session_id", ""))
        default_a = next((m["id"] for m in models
                          if m.get("publicName") == arena.battle_models[0]), None)
        model_a = session.model_id if session and session.model_id else default_a
        turns = session.turns if session else []
        state = {
            "sessionId": session.id if session else None,
            "lastAssistantId": turns[-1].assistant_message_id if turns else None,
            "modelId": model_a,
            "models": [{"id": m.get("id"), "name": m.get("publicName"), "modality": modality(m)}
                       for m in models],
            "turns": [{"user": turn.user_text, "reply": turn.reply_text} for turn in turns],
            # What the site's own UI sends in this era (§1.3, §1.5).
            "mode": "direct" if "direct" in era.modes else "direct-battle",
            "retryAction": era.retry_action or "chat_submit",
        }
        shown = models if era.initial_models else None  # §4.1 2026: no initialModels
        return PageData(shown, model_a, None, arena.site_key, arena.chunk_path, state)

    def catalog(self, request: Request, raw: bytes) -> Response:
        """§4.1 2026: the catalogue by arena; 404 in the 2025 era."""
        arena = self.arena
        if not arena.era.catalog:
            raise ArenaHTTPError(404, "Not Found")
        if "Mozilla/" not in request.headers.get("user-agent", ""):
            raise ArenaHTTPError(403, "Forbidden")  # a browser User-Agent is needed (§1.10)
        with arena.lock:
            body = catalog_body(arena.offered_models(), arena.model_arenas,
                                arena.era.catalog_renames)
        return JSONResponse(body)

    def _action(self, request: Request, raw: bytes) -> Response:
        """§1.8: `Next-Action: <id>`, JSON array of arguments, RSC text back."""
        arena = self.arena
        action_id = request.headers.get("next-action")
        if not action_id:
            return PlainTextResponse("Method Not Allowed", 405)
        self._require_auth(request)
        names = {value: key for key, value in arena.action_ids.items()}
        if action_id not in names:
            result = action_not_found()
        else:
            args = _json_array(raw)
            with arena.lock:
                result = run_action(names[action_id], args, arena.store, base_url(request),
                                    arena.clock())
        media = RSC_CONTENT_TYPE if result.status == 200 else "text/plain"
        return Response(result.body, result.status, media_type=media)

    def r2(self, request: Request, raw: bytes) -> Response:
        """§5.3: pre-signed PUT stores bytes, pre-signed GET serves them."""
        arena = self.arena
        key = request.path_params["key"]
        with arena.lock:
            if not arena.store.verify(request.method, key, request.query_params, arena.clock()):
                return _s3_error(403, "SignatureDoesNotMatch")
            if request.method == "PUT":
                content_type = request.headers.get("content-type", "application/octet-stream")
                arena.state.uploads[key] = Upload(key, content_type, raw)
                return Response(b"", 200, headers={"ETag": f'"{len(raw):x}"'})
            upload = arena.state.uploads.get(key)
        if upload is None:
            return _s3_error(404, "NoSuchKey")
        return Response(upload.data, media_type=upload.content_type)

    # ------------------------------------------------------------------ auth endpoints

    def sign_up(self, request: Request, raw: bytes) -> Response:
        """§1.7: Turnstile + reCAPTCHA(sign_up) + provisionalUserId → a Supabase session."""
        arena, rules = self.arena, self.arena.validation
        body = parse_body(raw, rules)
        user = body.get("provisionalUserId")
        user = user if isinstance(user, str) else ""
        with arena.lock:
            now, state = arena.clock(), arena.state
            if rules.recaptcha and not state.recaptcha.redeem(
                    body.get("recaptchaToken"), (arena.site_key,), now, rules.recaptcha_max_age):
                raise ArenaHTTPError(403, "recaptcha validation failed")
            if rules.recaptcha and not state.turnstile.redeem(
                    body.get("turnstileToken"), (TURNSTILE_SITE_KEY,), now, TURNSTILE_MAX_AGE):
                raise ArenaHTTPError(403, "turnstile validation failed")
            if not is_uuid(user):
                raise ArenaHTTPError(400, "invalid uuid: provisionalUserId")
            if user in state.signed_up:
                raise ArenaHTTPError(400, "User already exists")
            state.signed_up.add(user)
            session = arena.auth.issue(now, _issuer(request), user)
        response = JSONResponse(session.as_json())
        response.headers.append(
            "set-cookie", cookie_header(AUTH_COOKIE, session.cookie_value(), request))
        return response

    def refresh(self, request: Request, raw: bytes) -> Response:
        """§1.9: Supabase `POST /auth/v1/token?grant_type=refresh_token`."""
        arena = self.arena
        token = _json_object(raw).get("refresh_token")
        with arena.lock:
            session = arena.auth.refresh(str(token), arena.clock(), _issuer(request))
        if request.query_params.get("grant_type") != "refresh_token" or session is None:
            return JSONResponse({"error": "invalid_grant",
                                 "error_description": "Invalid Refresh Token"}, 400)
        return JSONResponse(session.as_json())

    # ------------------------------------------------------------------ static + fake widgets

    async def chunk(self, request: Request) -> Response:
        if f"static/chunks/{request.path_params['name']}" != self.arena.chunk_path:
            return PlainTextResponse("Not Found", 404)
        return Response(app_chunk_js(self.arena.chunk), media_type=JS_TYPE)

    async def recaptcha_library(self, request: Request) -> Response:
        return Response(recaptcha_js(), media_type=JS_TYPE)

    async def recaptcha_execute(self, request: Request) -> Response:
        body = _json_object(await request.body())
        arena = self.arena
        with arena.lock:
            wait = arena.defaults.recaptcha_delay
        if wait:  # the real execute's round trip to Google; the token is made at its end
            await asyncio.sleep(wait)
        with arena.lock:
            issued = arena.state.recaptcha.issue(str(body.get("site_key") or ""),
                                                 str(body.get("action") or ""), arena.clock())
        return JSONResponse({"token": issued.token})

    async def turnstile_library(self, request: Request) -> Response:
        return Response(turnstile_js(), media_type=JS_TYPE)

    async def turnstile_execute(self, request: Request) -> Response:
        return JSONResponse({"token": self.arena.issue_turnstile_token()})

    async def solve_challenge(self, request: Request) -> Response:
        response = JSONResponse({"ok": True})
        value = self.arena.solve_challenge()
        response.headers.append("set-cookie", cookie_header(
            CLEARANCE_COOKIE, value, request, http_only=True, cross_site=True))
        return response

    async def favicon(self, request: Request) -> Response:
        return Response(png_bytes(0), media_type="image/png")

    def _cleared(self, request: Request) -> bool:
        with self.arena.lock:
            return request.cookies.get(CLEARANCE_COOKIE) in self.arena.clearances

    def _require_auth(self, request: Request) -> None:
        arena = self.arena
        if not arena.validation.auth:
            return
        with arena.lock:
            valid = arena.auth.check(auth_cookie(request.cookies), arena.clock())
        if valid is None:
            raise ArenaHTTPError(401, "unauthorized")


def _moved_page(request: Request, chat_page: str) -> str | None:
    """Where `/?mode=direct` moved to, when the era moved the chat page (§1.1 2026)."""
    if chat_page.startswith("/?") or request.url.path != "/":
        return None
    return chat_page if request.query_params.get("mode") == "direct" else None


def _issuer(request: Request) -> str:
    return f"{base_url(request)}/auth/v1"


def _json_object(raw: bytes) -> Mapping[str, Any]:
    try:
        value = json.loads(raw or b"{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _json_array(raw: bytes) -> Any:
    try:
        return json.loads(raw or b"[]")
    except ValueError:
        return None


def _s3_error(status: int, code: str) -> Response:
    body = f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code></Error>'
    return Response(body, status, media_type="application/xml")
