"""A scriptable fake of LMArena's web API, for every test tier (protocol doc §8 is the spec).

    arena = FakeArena()                          # state lives on the instance, nothing global
    arena = FakeArena(era="2026-10")             # the site as of 2026-10 (arena_era.py)
    with ServerThread(arena.app) as server:      # or httpx.ASGITransport(app=arena.app)
        arena.enqueue(Reply.rate_limited(7), Reply(text="hi", chunk_size=3))
        ...                                      # drive a client / the gateway / a browser
        arena.wait_for(lambda: arena.completed_streams == 1)
        assert arena.sessions[session_id].turns[-1].reply_text == "hi"

Eras (arena_era.py, docs/fake-arena.md): "2025" (the default: the site as bridges saw it up to
early 2026) or "2026-10" (`lmarena-2026.md` §1–§5: /text/direct, the model catalogue route,
`direct-battle`, tokens checked per action, Cloudflare as 429, `/api/me`, …); `use_era` switches
at any time, with changes for drifts.

What it serves (details in the sibling modules):
- the app page `GET /`, `/?mode=direct`, `/c/{session}` with `initialModels`, the JS chunk
  with server-action ids, reCAPTCHA site key and Supabase anon key, and a tiny chat UI
  (arena_page.py, §4.1); it sets `arena-auth-prod-v1` when missing or expired (§1.9, §1.11);
- the stream routes under `/nextjs-api/stream/` and the pre-2025-08-27 `/api/stream/` aliases:
  create-evaluation (§1.3), post-to-evaluation/{id} (§1.4), and the retry route in its modern
  (§1.5, body `{}`) and legacy (§1.2, body `{messages, modelId}`) shapes;
- fake reCAPTCHA (`/__fake/recaptcha/enterprise.js`, tokens single-use, 120 s, per site key),
  fake Turnstile, the Cloudflare challenge mode (`challenge_pages`/`challenge_streams`, §3.1),
  server actions + R2 uploads (arena_actions.py, §1.8, §5.3), `/nextjs-api/sign-up` (§1.7) and
  Supabase refresh `/auth/v1/token` (§1.9);
- an admin API for out-of-process control: `POST /__fake/enqueue`, `GET /__fake/state`,
  `POST /__fake/reset`, `POST /__fake/seed-session`, `POST /__fake/validation`,
  `POST /__fake/auth-cookie`, `GET|POST /__fake/defaults`.

Stream requests are checked in this order (each check toggleable on `arena.validation`): body
size 413, Cloudflare clearance 403 (challenge mode), auth cookie 401, JSON/fields/uuids 400,
unknown session/message 404, model 400, prompt length 400, reCAPTCHA 403 (burns the token),
duplicate ids 400. Only then is a reply taken: first an `enqueue_for` match (session id or prompt
substring), else the `enqueue` FIFO, else the default reply. Ids are remembered and sessions
updated only when the chosen reply has status 200, as a real rejection would not store them.

Default replies are deterministic: `Echo: <user text>` (create/post; side b of two-sided modes:
`Echo (b): …`), `Echo (retry N): <user text>` (modern retry), `Echo: <last user content>`
(legacy retry); `fake-thinker` adds `ag:` "Thinking about: <text>", `fake-painter` answers an
image `<base>/__fake/images/<n>.png` (a real PNG) instead of text, `fake-searcher` adds `ac:`
citations. See arena_replies.py for the record layout and `Reply` for scripting.

Thread safety: uvicorn may serve `app` in another thread; every scripting method and every
observability property takes `self._lock` and returns copies.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request

from testkit.fakes.arena_actions import DEFAULT_ACTION_IDS, UploadStore
from testkit.fakes.arena_auth import (
    TURNSTILE_SITE_KEY,
    V2_SITE_KEY,
    V3_SITE_KEY,
    AuthRegistry,
    IssuedToken,
    make_jwt,
)
from testkit.fakes.arena_era import DEFAULT_ALIASES, ERA_2025, ERA_2026, Era, era_named
from testkit.fakes.arena_http import AliasRedirect
from testkit.fakes.arena_ids import uuid7
from testkit.fakes.arena_images import ImageHost
from testkit.fakes.arena_models import (
    DEFAULT_ARENAS,
    DEFAULT_MODELS,
    NEW_MODELS,
    Model,
    find_model,
    modality,
    model_id,
)
from testkit.fakes.arena_page import ChunkData, chunk_path
from testkit.fakes.arena_replies import Participant, Rendered, Reply, ReplyDefaults, render
from testkit.fakes.arena_routes import build_routes
from testkit.fakes.arena_state import ArenaState, RecordedRequest, Session, Turn
from testkit.fakes.arena_stream import PlannedResponse
from testkit.fakes.arena_validate import Validation

__all__ = [
    "DEFAULT_MODELS",
    "ERA_2025",
    "ERA_2026",
    "V2_SITE_KEY",
    "V3_SITE_KEY",
    "Era",
    "FakeArena",
    "RecordedRequest",
    "Reply",
    "ReplyDefaults",
    "Session",
    "Turn",
    "Validation",
    "model_id",
]


class FakeArena:
    """The fake. `.app` is the Starlette app; the rest is scripting and observation."""

    def __init__(
        self,
        *,
        models: Iterable[Mapping[str, Any]] | None = None,
        site_key: str = V3_SITE_KEY,
        v2_site_key: str = V2_SITE_KEY,
        validation: Validation | None = None,
        defaults: ReplyDefaults | None = None,
        challenge_pages: bool = False,
        challenge_streams: bool = False,
        challenge_auto_solve: bool = True,
        reasoning_models: Sequence[str] = ("fake-thinker",),
        battle_models: tuple[str, str] = ("fake-gpt", "fake-claude"),
        action_ids: Mapping[str, str] | None = None,
        auth_ttl: int = 3600,
        clock: Callable[[], float] = time.time,
        era: str | Era = ERA_2025,
        new_models: Iterable[Mapping[str, Any]] | None = None,
        aliases: Mapping[str, str] | None = None,
    ) -> None:
        self.models: list[Model] = [dict(m) for m in copy.deepcopy(list(models or DEFAULT_MODELS))]
        # Only the 2026-10 era's catalogue offers these (arena_models.NEW_MODELS).
        self.new_models: list[Model] = [
            dict(m) for m in copy.deepcopy(list(NEW_MODELS if new_models is None else new_models))]
        self.model_arenas: dict[str, tuple[str, ...]] = dict(DEFAULT_ARENAS)
        self.retired_ids: set[str] = set()
        self.era: Era = era_named(era)
        self.aliases = dict(DEFAULT_ALIASES if aliases is None else aliases)
        self.prompt_quota: int | None = None  # prompts per account before `429 prompt failed`
        self.pulse_min_interval = 10.0  # /api/me/pulse polled sooner by one account: 429
        self.site_key = site_key
        self.v2_site_key = v2_site_key
        self.validation = validation or Validation()
        self.defaults = defaults or ReplyDefaults()
        self.challenge_pages = challenge_pages
        self.challenge_streams = challenge_streams
        self.challenge_auto_solve = challenge_auto_solve
        self.reasoning_models = tuple(reasoning_models)
        self.battle_models = battle_models
        self.action_ids = dict(action_ids or DEFAULT_ACTION_IDS)
        self.clock = clock
        self._lock = threading.Lock()
        self._state = ArenaState()
        self._auth = AuthRegistry(auth_ttl)
        self._clearances: set[str] = set()
        self._store = UploadStore(self._state.uploads)
        self.chunk = ChunkData(
            site_key=site_key,
            anon_key=make_jwt({"iss": "supabase", "ref": "fakearena", "role": "anon",
                               "iat": 1735689600, "exp": 2051222400}),
            supabase_url="https://fakearena.supabase.co",
            upload_action=self.action_ids["generateUploadUrl"],
            signed_action=self.action_ids["getSignedUrl"],
        )
        self.chunk_path = chunk_path(self.chunk)
        # Image models answer `<image_base or the request's base>/__fake/images/<n>.<format>`;
        # a fixed image_base stands for LMArena's CDN (another host than the page).
        self.image_host = ImageHost()
        self.image_format = "png"
        self.image_base: str | None = None
        self.app = AliasRedirect(Starlette(routes=build_routes(self)), self)

    # ----------------------------------------------------------------- scripting

    def enqueue(self, *replies: Reply) -> None:
        """Answer the next stream requests (any route) with `replies`, in order."""
        with self._lock:
            self._state.queue.extend(replies)

    def enqueue_for(self, match: str, reply: Reply) -> None:
        """Answer the next request whose session id equals `match` or whose prompt contains it."""
        with self._lock:
            self._state.targeted.append((match, reply))

    def use_era(self, era: str | Era, **changes: Any) -> Era:
        """Play `era` ("2025", "2026-10" or an `Era`) from now on; `changes` alter some of its
        fields (a drift: `use_era("2026-10", modes=())` refuses every mode)."""
        chosen = era_named(era, **changes)
        with self._lock:
            self.era = chosen
        return chosen

    def retire(self, name: str) -> str:
        """The model leaves the site (§4.1: models come and go): dropped from the page and the
        catalogue; create-evaluation with its id answers the era's `gone_status`."""
        wanted = model_id(name, self.models + self.new_models)
        with self._lock:
            self.retired_ids.add(wanted)
        return wanted

    def offered_models(self) -> list[Model]:
        """The models the page / catalogue lists now (the era's, minus retired ones)."""
        listed = self.models + (self.new_models if self.era.catalog else [])
        return [m for m in listed if m.get("id") not in self.retired_ids]

    def issue_token(self, action: str = "chat_submit", site_key: str | None = None,
                    age: float = 0.0) -> str:
        """Mint a reCAPTCHA token as the page's library would; `age` back-dates it."""
        with self._lock:
            issued = self._state.recaptcha.issue(site_key or self.site_key, action,
                                                 self.clock() - age)
        return issued.token

    def issue_turnstile_token(self) -> str:
        with self._lock:
            return self._state.turnstile.issue(TURNSTILE_SITE_KEY, "", self.clock()).token

    def issue_auth_cookie(self, expires_in: int | None = None, user_id: str | None = None,
                          base: str = "http://127.0.0.1", email: str | None = None) -> str:
        """A valid `arena-auth-prod-v1` value (negative `expires_in` → already expired;
        `email`: a signed-in account, else anonymous)."""
        with self._lock:
            session = self._auth.issue(self.clock(), f"{base}/auth/v1", user_id, expires_in,
                                       email)
        return session.cookie_value()

    def expire_auth_sessions(self) -> None:
        """Make every issued auth cookie expired (GET / then rotates it, §1.9)."""
        with self._lock:
            self._auth.expire_all(self.clock())

    def solve_challenge(self) -> str:
        """A valid `cf_clearance` value, as `/__fake/cf/solve` would set."""
        with self._lock:
            value = make_jwt({"clearance": uuid7()}).replace(".", "-")
            self._clearances.add(value)
        return value

    def seed_session(self, model_name: str | None = None, mode: str = "direct",
                     user_text: str = "Hello", reply_text: str = "Hi! How can I help?"
                     ) -> tuple[str, str]:
        """A session with one finished turn, as if the user chatted on the site.
        Returns (session id, assistant message id of side a)."""
        model_a = model_id(model_name or self.battle_models[0], self.models)
        two_sided = mode in ("side-by-side", "battle")
        model_b = model_id(self.battle_models[1], self.models) if two_sided else None
        turn = Turn(uuid7(), user_text, [], uuid7(), reply_text,
                    model_b_message_id=uuid7() if two_sided else None,
                    reply_text_b=reply_text if two_sided else None)
        session = Session(uuid7(), model_a, [turn], mode, model_b)
        with self._lock:
            self._state.sessions[session.id] = session
            self._state.seen_ids.update(
                i for i in (session.id, turn.user_message_id, turn.assistant_message_id,
                            turn.model_b_message_id) if i)
        return session.id, turn.assistant_message_id

    def set_defaults(self, **fields: Any) -> ReplyDefaults:
        """Set `ReplyDefaults` fields (checked; ValueError on an unknown field or bad value) and
        return a copy of the new defaults. Plain `arena.defaults.<field> = …` works too."""
        with self._lock:
            self.defaults.update(**fields)
            return dataclasses.replace(self.defaults)

    def reset(self) -> None:
        """Forget sessions, requests, queued replies, tokens, uploads and counters (open streams
        stay counted); keep auth sessions, clearances and configuration."""
        with self._lock:
            still_open = self._state.counters.open
            self._state = ArenaState()
            self._state.counters.open = still_open
            self._store = UploadStore(self._state.uploads)
        self.image_host.reset()

    # ----------------------------------------------------------------- observation

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._state.requests)

    @property
    def sessions(self) -> dict[str, Session]:
        with self._lock:
            return copy.deepcopy(self._state.sessions)

    @property
    def issued_tokens(self) -> list[IssuedToken]:
        with self._lock:
            return self._state.recaptcha.snapshot()

    @property
    def open_streams(self) -> int:
        with self._lock:
            return self._state.counters.open

    @property
    def completed_streams(self) -> int:
        with self._lock:
            return self._state.counters.completed

    @property
    def disconnected_streams(self) -> int:
        with self._lock:
            return self._state.counters.disconnected

    @property
    def cut_streams(self) -> int:
        with self._lock:
            return self._state.counters.cut

    @property
    def max_concurrent_streams(self) -> int:
        with self._lock:
            return self._state.counters.max_concurrent

    @property
    def pending_replies(self) -> int:
        with self._lock:
            return len(self._state.queue) + len(self._state.targeted)

    @property
    def uploads(self) -> dict[str, bytes]:
        with self._lock:
            return {key: upload.data for key, upload in self._state.uploads.items()}

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0,
                 interval: float = 0.005) -> None:
        """Poll `predicate` until it is true; TimeoutError after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() >= deadline:
                raise TimeoutError(f"condition not met within {timeout} s: {self.state_json()}")
            time.sleep(interval)

    async def wait_for_async(self, predicate: Callable[[], bool], timeout: float = 5.0,
                             interval: float = 0.005) -> None:
        """`wait_for` for code running on the event loop that also serves the fake."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() >= deadline:
                raise TimeoutError(f"condition not met within {timeout} s: {self.state_json()}")
            await asyncio.sleep(interval)

    def state_json(self) -> dict[str, Any]:
        """Counters, requests and sessions as JSON-ready data (also `GET /__fake/state`)."""
        with self._lock:
            state = self._state
            return {
                "counters": dataclasses.asdict(state.counters),
                "pending_replies": len(state.queue) + len(state.targeted),
                "issued_tokens": len(state.recaptcha.tokens),
                "requests": [dataclasses.asdict(item) for item in state.requests],
                "sessions": {key: dataclasses.asdict(s) for key, s in state.sessions.items()},
                "uploads": {key: len(upload.data) for key, upload in state.uploads.items()},
            }

    # ----------------------------------------------------------------- used by the routes

    def model(self, wanted_id: object) -> Model | None:
        return find_model(self.offered_models(), wanted_id)

    def participant(self, side: str, message_id: str, model: Mapping[str, Any] | None,
                    prompt: str, text: str, base: str) -> Participant:
        """Default content of one side: echo text plus what the model type adds (§4.3).
        Caller holds the lock (image numbering)."""
        model = model or {}
        reasoning = (f"Thinking about: {prompt}"
                     if model.get("publicName") in self.reasoning_models else None)
        images: list[str] = []
        citations: list[tuple[str, str]] = []
        if modality(model) == "image":
            self._state.images_issued += 1
            number, ext = self._state.images_issued, self.image_format
            images, text = [f"{self.image_base or base}/__fake/images/{number}.{ext}"], ""
        elif modality(model) == "search":
            citations = [("https://example.com/search/1", f"Result 1 for {prompt[:40]}"),
                         ("https://example.org/search/2", "Result 2")]
        return Participant(side, message_id, text, reasoning, images, citations)

    def next_reply(self, session_id: str | None, prompt: str) -> Reply:
        """Caller holds the lock."""
        for index, (match, reply) in enumerate(self._state.targeted):
            if match and (match == session_id or match in prompt):
                del self._state.targeted[index]
                return reply
        return self._state.queue.popleft() if self._state.queue else Reply()

    def respond(self, rendered: Rendered) -> PlannedResponse:
        if rendered.plan.status != 200:
            return PlannedResponse(rendered.plan)
        return PlannedResponse(rendered.plan, self._stream_started, self._stream_ended)

    def render(self, reply: Reply, participants: Sequence[Participant],
               prompt: str) -> Rendered:
        era = self.era
        return render(reply, participants, prompt, self.defaults,
                      reasoning_key=era.reasoning_key, extra_records=era.extra_records)

    def record(self, request: Request, kind: str, body: Any, status: int,
               session_id: str | None) -> None:
        entry = RecordedRequest(
            kind=kind, method=request.method, path=request.url.path, query=request.url.query,
            session_id=session_id, body=body, headers=dict(request.headers),
            cookies=dict(request.cookies), status=status, at=self.clock())
        with self._lock:
            self._state.requests.append(entry)

    @property
    def lock(self) -> threading.Lock:
        return self._lock

    @property
    def state(self) -> ArenaState:
        """The live state; only for the routes, under `lock`."""
        return self._state

    @property
    def auth(self) -> AuthRegistry:
        return self._auth

    @property
    def clearances(self) -> set[str]:
        return self._clearances

    @property
    def store(self) -> UploadStore:
        return self._store

    def _stream_started(self) -> None:
        with self._lock:
            self._state.counters.started()

    def _stream_ended(self, outcome: str) -> None:
        with self._lock:
            self._state.counters.ended(outcome)


def main(argv: Sequence[str] | None = None) -> None:
    """`python -m testkit.fakes.arena …`: the standalone runner (arena_main.py)."""
    from testkit.fakes.arena_main import run

    run(argv)


if __name__ == "__main__":
    main()
