"""Accounts of the fake LMArena's 2026-10 era (protocol doc §10.1, lmarena-2026.md §5).

- `GET /api/me`: 401 for an anonymous session (or none), 200 `{"id", "email", "isAnonymous"}`
  for a signed-in one;
- `GET /api/me/pulse`: `{"pulse": 0..100, "refreshedAt"}` for a signed-in account, the share of
  its prompt quota used (`FakeArena.prompt_quota`); 429 when the same account asks again within
  `FakeArena.pulse_min_interval` seconds ("polling it often gives 429"); 401 when anonymous;
- `POST /nextjs-api/sign-in/email {email, password, shouldLinkHistory}`: any non-empty email
  and password sign in; the answer sets a signed-in `arena-auth-prod-v1` (§10.1).

The quota (`check_quota`/`count_prompt`, called by the stream routes): with `prompt_quota` set,
an account that has sent that many prompts gets `429 prompt failed` (§3.5 2026: this account's
quota is used up) on every create/post/retry, in either era.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from testkit.fakes.arena_auth import AUTH_COOKIE, AuthSession, auth_cookie
from testkit.fakes.arena_http import base_url, cookie_header, recorded
from testkit.fakes.arena_validate import ArenaHTTPError, parse_body

if TYPE_CHECKING:
    from testkit.fakes.arena import FakeArena

PROMPT_FAILED = "prompt failed"
ANONYMOUS = "(no session)"


def account_routes(arena: FakeArena) -> list[Route]:
    routes = AccountRoutes(arena)
    return [
        Route("/api/me", recorded(arena, "me", routes.me), methods=["GET"]),
        Route("/api/me/pulse", recorded(arena, "pulse", routes.pulse), methods=["GET"]),
        Route("/nextjs-api/sign-in/email", recorded(arena, "signin", routes.sign_in),
              methods=["POST"]),
    ]


class AccountRoutes:
    def __init__(self, arena: FakeArena) -> None:
        self.arena = arena

    def me(self, request: Request, raw: bytes) -> Response:
        session = self._signed_in(request)
        return JSONResponse({"id": session.user_id, "email": session.email,
                             "isAnonymous": False})

    def pulse(self, request: Request, raw: bytes) -> Response:
        session = self._signed_in(request)
        arena = self.arena
        with arena.lock:
            now, state = arena.clock(), arena.state
            last = state.pulse_polled.get(session.user_id)
            if last is not None and now - last < arena.pulse_min_interval:
                raise ArenaHTTPError(429, "Too Many Requests")
            state.pulse_polled[session.user_id] = now
            used = state.prompts_by_user.get(session.user_id, 0)
        quota = arena.prompt_quota
        pulse = 0 if not quota else min(100, round(100 * used / quota))
        refreshed = datetime.fromtimestamp(now, UTC).isoformat().replace("+00:00", "Z")
        return JSONResponse({"pulse": pulse, "refreshedAt": refreshed})

    def sign_in(self, request: Request, raw: bytes) -> Response:
        arena = self.arena
        self._exists()
        body = parse_body(raw, arena.validation)
        email, password = body.get("email"), body.get("password")
        if not isinstance(email, str) or not email or not isinstance(password, str) \
                or not password:
            raise ArenaHTTPError(400, "invalid credentials")
        with arena.lock:
            session = arena.auth.issue(arena.clock(), f"{base_url(request)}/auth/v1",
                                       email=email)
        response = JSONResponse({"ok": True, "user": {"id": session.user_id, "email": email}})
        response.headers.append(
            "set-cookie", cookie_header(AUTH_COOKIE, session.cookie_value(), request))
        return response

    def _exists(self) -> None:
        if not self.arena.era.accounts:  # the 2025 era has none of these routes
            raise ArenaHTTPError(404, "Not Found")

    def _signed_in(self, request: Request) -> AuthSession:
        self._exists()
        arena = self.arena
        with arena.lock:
            session = arena.auth.check(auth_cookie(request.cookies), arena.clock())
        if session is None or session.email is None:
            raise ArenaHTTPError(401, "Unauthorized")
        return session


def account_of(arena: FakeArena, request: Request) -> str:
    """Who sends a stream request (caller holds the lock): the session's user, else a marker."""
    session = arena.auth.check(auth_cookie(request.cookies), arena.clock())
    return session.user_id if session is not None else ANONYMOUS


def check_quota(arena: FakeArena, account: str) -> None:
    """429 `prompt failed` once the account used its quota (caller holds the lock)."""
    quota = arena.prompt_quota
    if quota is not None and arena.state.prompts_by_user.get(account, 0) >= quota:
        raise ArenaHTTPError(429, PROMPT_FAILED, body={"error": PROMPT_FAILED,
                                                       "message": f"429 {PROMPT_FAILED}"})


def count_prompt(arena: FakeArena, account: str) -> None:
    state = arena.state
    state.prompts_by_user[account] = state.prompts_by_user.get(account, 0) + 1
