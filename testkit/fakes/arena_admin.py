"""Admin API of the fake LMArena, for control from another process (not part of LMArena).

- `POST /__fake/enqueue`: a JSON list (or one object) of `Reply` fields, or
  `{"kind": "<failure>", …constructor args}`; an optional `"match"` uses `enqueue_for`.
  Answers `{"queued": n}`.
- `GET /__fake/state`: counters, requests, sessions, uploads (`FakeArena.state_json()`).
- `POST /__fake/reset`: `FakeArena.reset()`.
- `POST /__fake/seed-session` `{"model_name"?, "mode"?}` → `{"session_id", "message_id"}`.
- `POST /__fake/validation` `{"<Validation field>": value, …}` → the current settings.
- `POST /__fake/auth-cookie` `{"expires_in"?}` → `{"name", "value"}` of a valid auth cookie.
- `GET /__fake/era` → the era played now (arena_era.py `Era`); `POST /__fake/era`
  `{"era": "2026-10", "<Era field>": value, …}` plays that era with those fields changed (400 on
  an unknown era or field); `POST /__fake/retire {"name"}` retires a model; `POST
  /__fake/quota {"prompts": n | null}` sets the prompt quota per account.
- `GET /__fake/defaults` → the `ReplyDefaults` as JSON; `POST /__fake/defaults`
  `{"<ReplyDefaults field>": value, …}` sets them (`FakeArena.set_defaults`) and answers the new
  defaults; an unknown field, a wrong type or a negative number is a 400 and changes nothing.

Failure kinds: rate_limited(retry_after, message), recaptcha_failed, cloudflare, unauthorized,
too_large, server_error(status), redirect(location, status), empty, resource_exhausted,
arena_error, json_error(message), cut(after_bytes).
"""

from __future__ import annotations

import dataclasses
import json
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from testkit.fakes.arena_auth import AUTH_COOKIE
from testkit.fakes.arena_http import base_url
from testkit.fakes.arena_replies import Reply

if TYPE_CHECKING:
    from testkit.fakes.arena import FakeArena


def admin_routes(arena: FakeArena) -> list[Route]:
    async def enqueue(request: Request) -> Response:
        items = await _json(request)
        items = items if isinstance(items, list) else [items]
        try:
            for item in items:
                values = dict(item)
                match = values.pop("match", None)
                reply = Reply.from_dict(values)
                if match is None:
                    arena.enqueue(reply)
                else:
                    arena.enqueue_for(str(match), reply)
        except (TypeError, ValueError) as error:
            return JSONResponse({"error": str(error)}, 400)
        return JSONResponse({"queued": len(items)})

    async def state(request: Request) -> Response:
        return JSONResponse(arena.state_json())

    async def reset(request: Request) -> Response:
        arena.reset()
        return JSONResponse({"ok": True})

    async def seed(request: Request) -> Response:
        body = await _json(request) or {}
        try:
            session_id, message_id = arena.seed_session(body.get("model_name"),
                                                        body.get("mode", "direct"))
        except KeyError as error:
            return JSONResponse({"error": f"unknown model {error}"}, 400)
        return JSONResponse({"session_id": session_id, "message_id": message_id})

    async def validation(request: Request) -> Response:
        body = await _json(request) or {}
        known = {field.name for field in dataclasses.fields(arena.validation)}
        unknown = sorted(set(body) - known)
        if unknown:
            return JSONResponse({"error": f"unknown validation fields: {unknown}"}, 400)
        for name, value in body.items():
            setattr(arena.validation, name, value)
        return JSONResponse(dataclasses.asdict(arena.validation))

    async def auth_cookie(request: Request) -> Response:
        body = await _json(request) or {}
        value = arena.issue_auth_cookie(body.get("expires_in"), base=base_url(request))
        return JSONResponse({"name": AUTH_COOKIE, "value": value})

    async def defaults(request: Request) -> Response:
        if request.method == "POST":
            body = await _json(request)
            if not isinstance(body, dict):
                return JSONResponse({"error": "expected a JSON object of ReplyDefaults fields"},
                                    400)
            try:
                arena.set_defaults(**body)
            except ValueError as error:
                return JSONResponse({"error": str(error)}, 400)
        return JSONResponse(dataclasses.asdict(arena.defaults))

    async def era(request: Request) -> Response:
        if request.method == "POST":
            body = await _json(request)
            if not isinstance(body, dict):
                return JSONResponse({"error": 'expected {"era": …, …changes}'}, 400)
            changes = {k: tuple(v) if isinstance(v, list) else v for k, v in body.items()}
            try:
                arena.use_era(str(changes.pop("era", arena.era.name)), **changes)
            except (KeyError, ValueError, TypeError) as error:
                return JSONResponse({"error": str(error)}, 400)
        return JSONResponse(arena.era.describe())

    async def retire(request: Request) -> Response:
        body = await _json(request) or {}
        try:
            return JSONResponse({"retired": arena.retire(str(body.get("name")))})
        except KeyError as error:
            return JSONResponse({"error": f"unknown model {error}"}, 400)

    async def quota(request: Request) -> Response:
        body = await _json(request) or {}
        prompts = body.get("prompts")
        arena.prompt_quota = prompts if isinstance(prompts, int) else None
        return JSONResponse({"prompts": arena.prompt_quota})

    return [
        Route("/__fake/era", era, methods=["GET", "POST"]),
        Route("/__fake/retire", retire, methods=["POST"]),
        Route("/__fake/quota", quota, methods=["POST"]),
        Route("/__fake/enqueue", enqueue, methods=["POST"]),
        Route("/__fake/state", state),
        Route("/__fake/reset", reset, methods=["POST"]),
        Route("/__fake/seed-session", seed, methods=["POST"]),
        Route("/__fake/validation", validation, methods=["POST"]),
        Route("/__fake/auth-cookie", auth_cookie, methods=["POST"]),
        Route("/__fake/defaults", defaults, methods=["GET", "POST"]),
    ]


async def _json(request: Request) -> Any:
    raw = await request.body()
    try:
        return json.loads(raw) if raw.strip() else None
    except ValueError:
        return None
