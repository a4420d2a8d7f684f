"""HTTP routes of the fake LMArena: thin adapters between Starlette and `FakeArena`.

Stream routes (protocol doc §1.2–§1.5) run their checks and pick the reply synchronously under the
arena's lock, then return a `PlannedResponse` that plays the reply outside the lock. The order of
checks is documented in arena.py; error bodies in arena_validate.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.routing import Route

from testkit.fakes.arena_accounts import account_of, account_routes, check_quota, count_prompt
from testkit.fakes.arena_admin import admin_routes
from testkit.fakes.arena_auth import CLEARANCE_COOKIE, auth_cookie
from testkit.fakes.arena_era import ROUTE_NOT_ALLOWED
from testkit.fakes.arena_http import base_url, recorded
from testkit.fakes.arena_ids import uuid7
from testkit.fakes.arena_page import challenge_html
from testkit.fakes.arena_replies import Rendered
from testkit.fakes.arena_state import Session, Turn
from testkit.fakes.arena_stream import PlannedResponse
from testkit.fakes.arena_validate import (
    ArenaHTTPError,
    attachments,
    check_legacy,
    check_modern,
    check_prompt,
    check_size,
    last_user_content,
    legacy_ids,
    modern_ids,
    parse_body,
    user_text,
)
from testkit.fakes.arena_web import WebRoutes

if TYPE_CHECKING:
    from testkit.fakes.arena import FakeArena
    from testkit.fakes.arena_models import Model

STREAM_PREFIXES = ("/nextjs-api/stream", "/api/stream")  # §1.2: /api/ before 2025-08-27


def build_routes(arena: FakeArena) -> list[Route]:
    streams = StreamRoutes(arena)
    web = WebRoutes(arena)

    def page_kind(request: Request, body: Any) -> str:
        # A GET of a page route is "page" even when it answers 301 (§1.1 2026: /?mode=direct).
        return "action" if request.method == "POST" else "page"
    routes = [
        Route(path, recorded(arena, page_kind, web.page), methods=["GET", "POST"])
        for path in ("/", "/c/{session_id}")
    ]
    for prefix in STREAM_PREFIXES:
        routes += [
            Route(f"{prefix}/create-evaluation", recorded(arena, "create", streams.create),
                  methods=["POST"]),
            Route(f"{prefix}/post-to-evaluation/{{session_id}}",
                  recorded(arena, "post", streams.post), methods=["POST"]),
            Route(f"{prefix}/retry-evaluation-session-message/{{session_id}}/messages/"
                  "{message_id}", recorded(arena, _retry_kind, streams.retry), methods=["PUT"]),
        ]
    routes += [
        Route("/nextjs-api/sign-up", recorded(arena, "signup", web.sign_up), methods=["POST"]),
        Route("/auth/v1/token", recorded(arena, "refresh", web.refresh), methods=["POST"]),
        Route("/r2/{key:path}", recorded(arena, _r2_kind, web.r2), methods=["GET", "PUT"]),
        Route("/nextjs-api/model-catalog", recorded(arena, "catalog", web.catalog),
              methods=["GET"]),
    ]
    routes += [Route(path, recorded(arena, page_kind, web.page), methods=["GET", "POST"])
               for path in ("/text/direct", "/search/direct", "/image/direct")]
    return routes + account_routes(arena) + web.static_routes() + admin_routes(arena)


class StreamRoutes:
    """create-evaluation, post-to-evaluation and both shapes of the retry route."""

    def __init__(self, arena: FakeArena) -> None:
        self.arena = arena

    def create(self, request: Request, raw: bytes) -> PlannedResponse:
        arena = self.arena
        with arena.lock:
            body = self._admit(request, raw)
            check_modern(body, arena.validation, creating=True, era=arena.era)
            mode = str(body.get("mode") or "direct")
            model_a, model_b = self._models(body, mode)
            session = Session(str(body.get("id") or uuid7()), _id(model_a), [], mode,
                              _id(model_b))
            rendered = self._turn(request, body, session, model_a, model_b, creating=True)
            if rendered.plan.status == 200:
                arena.state.sessions[session.id] = session
        return arena.respond(rendered)

    def post(self, request: Request, raw: bytes) -> PlannedResponse:
        arena = self.arena
        with arena.lock:
            body = self._admit(request, raw)
            session = self._session(request)
            rules = arena.validation
            if rules.required_fields and body.get("id") != session.id:
                raise ArenaHTTPError(400, "invalid field: id")
            check_modern(body, rules, creating=False, era=arena.era)
            if rules.required_fields and session.two_sided and not body.get("modelBMessageId"):
                raise ArenaHTTPError(400, "missing field: modelBMessageId")
            model_a = (self._known(body["modelAId"]) if body.get("modelAId")
                       else arena.model(session.model_id))
            model_b = arena.model(session.model_b_id)
            rendered = self._turn(request, body, session, model_a, model_b, creating=False)
        return arena.respond(rendered)

    def retry(self, request: Request, raw: bytes) -> PlannedResponse:
        arena = self.arena
        with arena.lock:
            body = self._admit(request, raw)
            if "messages" in body:
                rendered = self._legacy(request, body)
            else:
                rendered = self._modern_retry(request, body)
        return arena.respond(rendered)

    def _modern_retry(self, request: Request, body: Mapping[str, Any]) -> Rendered:
        """§1.5: regenerate an assistant message; it keeps its id."""
        arena = self.arena
        session, turn, side = self._message(request)
        action = arena.era.retry_action  # 2026: the body must carry a chat_retry token (§1.5)
        if action is not None or "recaptchaV3Token" in body or "recaptchaV2Token" in body:
            self._redeem(body, action)
        account = account_of(arena, request)
        check_quota(arena, account)
        count = turn.retries + 1
        model = arena.model(session.model_id if side == "a" else session.model_b_id)
        message_id = request.path_params["message_id"]
        text = turn.user_text
        person = arena.participant(side, message_id, model, text,
                                   f"Echo (retry {count}): {text}", base_url(request))
        rendered = arena.render(arena.next_reply(session.id, text), [person], text)
        if rendered.plan.status == 200:
            count_prompt(arena, account)
            turn.retries = count
            _set_reply(turn, side, rendered.texts.get(side, ""))
        return rendered

    def _legacy(self, request: Request, body: Mapping[str, Any]) -> Rendered:
        """§1.2: the whole history re-sent; answer on the last message's participantPosition."""
        arena = self.arena
        session, turn, found_side = self._message(request)
        check_legacy(body, arena.validation, session.id)
        if arena.era.retry_action is not None:
            self._redeem(body, arena.era.retry_action)
        messages = body["messages"]
        if body.get("modelId") is not None:
            model = self._known(body["modelId"])
        else:
            model = arena.model(session.model_id if found_side == "a" else session.model_b_id)
        last = messages[-1] if isinstance(messages[-1], dict) else {}
        side = "b" if last.get("participantPosition") == "b" else "a"
        text = last_user_content(body)
        check_prompt("".join(str(m.get("content", "")) for m in messages if isinstance(m, dict)),
                     arena.validation)
        ids = legacy_ids(body)
        self._check_fresh(ids)
        person = arena.participant(side, request.path_params["message_id"], model, text,
                                   f"Echo: {text}", base_url(request))
        rendered = arena.render(arena.next_reply(session.id, text), [person], text)
        if rendered.plan.status == 200:
            arena.state.seen_ids.update(ids)
            turn.retries += 1
            _set_reply(turn, found_side, rendered.texts.get(side, ""))
        return rendered

    def _turn(self, request: Request, body: Mapping[str, Any], session: Session,
              model_a: Model | None, model_b: Model | None, *, creating: bool) -> Rendered:
        """Shared tail of create/post: prompt, reCAPTCHA, ids, reply, history."""
        arena = self.arena
        text = user_text(body)
        check_prompt(text, arena.validation)
        self._redeem(body, arena.era.submit_action)
        ids = modern_ids(body, creating=creating)
        self._check_fresh(ids)
        account = account_of(arena, request)
        check_quota(arena, account)
        base = base_url(request)
        a_id = str(body.get("modelAMessageId") or uuid7())
        people = [arena.participant("a", a_id, model_a, text, f"Echo: {text}", base)]
        b_id = str(body.get("modelBMessageId") or uuid7()) if session.two_sided else None
        if b_id is not None:
            people.append(arena.participant("b", b_id, model_b, text, f"Echo (b): {text}", base))
        rendered = arena.render(arena.next_reply(session.id, text), people, text)
        if rendered.plan.status == 200:
            count_prompt(arena, account)
            arena.state.seen_ids.update(ids)
            session.turns.append(Turn(
                str(body.get("userMessageId") or ""), text, attachments(body), a_id,
                rendered.texts.get("a", ""), model_b_message_id=b_id,
                reply_text_b=rendered.texts.get("b", "") if b_id else None))
        return rendered

    def _admit(self, request: Request, raw: bytes) -> dict[str, Any]:
        """Size, Cloudflare clearance, auth cookie, JSON — the checks every stream route shares."""
        arena, rules = self.arena, self.arena.validation
        if request.url.path.startswith("/api/stream/") and not arena.era.legacy_routes:
            raise ArenaHTTPError(403, ROUTE_NOT_ALLOWED)  # §1.2 2026
        check_size(raw, rules)
        if arena.challenge_streams and request.cookies.get(CLEARANCE_COOKIE) not in \
                arena.clearances:
            raise ArenaHTTPError(arena.era.cloudflare_status, "cloudflare challenge",
                                 html=challenge_html(auto_solve=False),
                                 headers={"cf-mitigated": "challenge"})
        if rules.auth and arena.auth.check(auth_cookie(request.cookies), arena.clock()) is None:
            raise ArenaHTTPError(401, "unauthorized")
        return parse_body(raw, rules)

    def _models(self, body: Mapping[str, Any], mode: str) -> tuple[Model | None, Model | None]:
        if mode == "battle":  # §1.3: no model given, an anonymous pair is drawn
            first, second = self.arena.battle_models
            return self._named(first), self._named(second)
        model_a = self._known(body.get("modelAId"))
        model_b = self._known(body.get("modelBId")) if mode == "side-by-side" else None
        return model_a, model_b

    def _known(self, wanted: object) -> Model | None:
        arena = self.arena
        if wanted in arena.retired_ids:  # §4.1: models leave; 2026 answers 404
            status = arena.era.gone_status
            raise ArenaHTTPError(status, "model not found" if status == 400
                                 else "This model is no longer available")
        model = arena.model(wanted)
        if model is None and arena.validation.known_model:
            raise ArenaHTTPError(400, "model not found")
        return model

    def _named(self, name: str) -> Model | None:
        return next((m for m in self.arena.offered_models()
                     if m.get("publicName") == name), None)

    def _session(self, request: Request) -> Session:
        session = self.arena.state.sessions.get(request.path_params["session_id"])
        if session is None:
            raise ArenaHTTPError(404, "evaluation session not found")
        return session

    def _message(self, request: Request) -> tuple[Session, Turn, str]:
        session = self._session(request)
        found = session.find_message(request.path_params["message_id"])
        if found is None:
            raise ArenaHTTPError(404, "message not found")
        return session, found[0], found[1]

    def _redeem(self, body: Mapping[str, Any], action: str | None = None) -> None:
        """§3.2/§3.3: a v3 token for the v3 key, or a v2 token for the v2 key; single use.
        `action`: what the era wants the token minted for (§3.2 2026: per route)."""
        arena, rules = self.arena, self.arena.validation
        if not rules.recaptcha:
            return
        registry, now = arena.state.recaptcha, arena.clock()
        v3, v2 = body.get("recaptchaV3Token"), body.get("recaptchaV2Token")
        if v3:
            ok = registry.redeem(v3, (arena.site_key,), now, rules.recaptcha_max_age,
                                 rules.recaptcha_action or action)
        else:
            ok = bool(v2) and registry.redeem(v2, (arena.v2_site_key,), now,
                                              rules.recaptcha_max_age)
        if not ok:
            raise ArenaHTTPError(403, "recaptcha validation failed")

    def _check_fresh(self, ids: list[str]) -> None:
        if not self.arena.validation.duplicate_ids:
            return
        if len(set(ids)) != len(ids) or any(i in self.arena.state.seen_ids for i in ids):
            raise ArenaHTTPError(400, "duplicate ids")


def _set_reply(turn: Turn, side: str, text: str) -> None:
    if side == "b":
        turn.reply_text_b = text
    else:
        turn.reply_text = text


def _id(model: Mapping[str, Any] | None) -> str | None:
    return str(model["id"]) if model else None


def _retry_kind(request: Request, body: Any) -> str:
    return "legacy" if isinstance(body, dict) and "messages" in body else "retry"


def _r2_kind(request: Request, body: Any) -> str:
    return "upload" if request.method == "PUT" else "download"
