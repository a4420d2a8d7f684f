"""`lmarenarev doctor`: a live, step-by-step self-check through a connected tab.

For the day LMArena changes: each step says ok or failed, why in plain words, and what to try
next; a step that needs an earlier one is skipped when that one failed. The steps: tabs (and on
which origin), the page (reachable, not a challenge), the account, reCAPTCHA (a key in the page,
a token minted), the model list, one tiny chat streamed and parsed, a regenerate of it, and the
drift LMArena showed. With `bundle`, what LMArena answered is kept, redacted (doctor_bundle.py),
for a bug report. The chat goes through the relay like any request (same values, same learning).
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

from ..arena.events import TextDelta
from ..arena.page import (
    CHAT_PAGE,
    DEFAULT_RECAPTCHA_SITE_KEY,
    canonical_page,
    discover_recaptcha_site_key,
    is_challenge_title,
    page_scripts,
    page_title,
    same_origin_path,
)
from ..arena.requests import STREAM_BASE, ArenaCall, CreateCall, Recaptcha, RegenerateCall
from ..chat.conversation import SessionRef
from ..chat.relay import Relay
from ..errors import GatewayError, Timeout
from ..gateway import Gateway
from ..models.files import ModelEntry
from ..workers.page_fetch import fetch_through_worker
from ..workers.pool import Worker
from .accounts import check_account
from .catalog_read import read_model_list
from .doctor_bundle import Bundle, catalog_body, exchange
from .doctor_words import SEND_BUNDLE, failure_words

PROMPT = "Reply with the single word OK."
PAGE_TIMEOUT = 30.0
CHAT_TIMEOUT = 90.0


@dataclass
class Step:
    name: str
    status: str = "ok"  # ok | failed | skipped
    summary: str = ""
    reason: str = ""
    hint: str = ""
    notes: list[str] = field(default_factory=list)

    def fail(self, reason: str, hint: str) -> None:
        self.status, self.reason, self.hint = "failed", reason, hint

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status, "summary": self.summary,
                "reason": self.reason, "hint": self.hint, "notes": self.notes}


class Doctor:
    def __init__(self, gw: Gateway, model: str | None) -> None:
        self.gw = gw
        self.model = model
        self.steps: list[Step] = []
        self.bundle = Bundle(gw.version)
        self.scripts: list[str] = []
        self.unknown: dict[str, int] = {}
        self.cut = 0  # replies of this check that ended without their finish record

    async def run(self) -> dict[str, Any]:
        worker = self._tabs()
        if worker is not None:
            await self._page(worker)
            await self._account(worker)
            await self._recaptcha(worker)
        await self._catalog()
        session = await self._chat()
        await self._regenerate(session)
        self._drift()
        steps = [step.describe() for step in self.steps]
        return {
            "ok": all(step.status == "ok" for step in self.steps),
            "steps": steps,
            "bundle": self.bundle.describe(steps),
        }

    def _step(self, name: str) -> Step:
        step = Step(name)
        self.steps.append(step)
        self.bundle.step = name
        return step

    def _skip(self, name: str, why: str) -> None:
        self._step(name).status, self.steps[-1].reason = "skipped", why

    def _failed(self, *names: str) -> bool:
        return any(s.name in names and s.status != "ok" for s in self.steps)

    # -- the steps ---------------------------------------------------------------------------

    def _tabs(self) -> Worker | None:
        step = self._step("tabs")
        workers = list(self.gw.pool.workers.values())
        self.bundle.tabs = [
            {"origin": w.origin, "page_url": w.hello.page_url, "title": w.hello.title,
             "script_version": w.hello.script_version, "transport": w.link.kind}
            for w in workers
        ]
        if not workers:
            step.fail("no LMArena tab is connected to the gateway",
                      f"open https://arena.ai{CHAT_PAGE} in a browser with the userscript "
                      "(`lmarenarev userscript` prints its URL); its title starts with ✅ once "
                      "connected")
            for name in ("page", "account", "recaptcha"):
                self._skip(name, "no tab")
            return None
        step.summary = f"{len(workers)} connected: " + ", ".join(
            f"{w.origin} ({w.link.kind}, script {w.hello.script_version})" for w in workers)
        usable = self.gw.pool.usable(None)
        if not usable:
            step.fail("no tab can take requests: each is reloading or resting (its account's "
                      "quota is used up)", "wait, or open a tab logged in to another account")
        outdated = [w for w in workers if w.hello.script_version != self.gw.version]
        if outdated:
            step.notes.append(f"{len(outdated)} tab(s) run an older userscript: reload them")
        return (usable or workers)[0]

    async def _page(self, worker: Worker) -> None:
        step = self._step("page")
        url = same_origin_path(worker.hello.page_url)
        try:
            page = await fetch_through_worker(self.gw.pool, url, worker=worker, check=False,
                                              headers={"Accept": "text/html"},
                                              timeout=PAGE_TIMEOUT)
        except GatewayError as exc:
            await self._page_failed(step, worker, url, exc)
            return
        title = page_title(page.body)
        self.scripts = page_scripts(page.body, worker.hello.page_url)
        self.bundle.page = {**exchange(page, url), "title": title, "script_srcs": self.scripts,
                            "initial_models": "initialModels" in page.body}
        if is_challenge_title(title) or page.headers.get("cf-mitigated") == "challenge":
            step.fail(f"Cloudflare shows a challenge ({page.http_status} {title!r})",
                      "pass the check in that tab (click the box if there is one), then run "
                      "doctor again")
        elif page.http_status != 200:
            step.fail(f"{url} answered {page.http_status}", "reload the tab, or open "
                      f"https://arena.ai{CHAT_PAGE}")
        else:
            step.summary = f"{worker.origin}{url} answered 200 ({title or 'no title'}), " \
                f"{len(self.scripts)} scripts"

    async def _page_failed(self, step: Step, worker: Worker, url: str,
                           exc: GatewayError) -> None:
        """The page could not be fetched: a redirect to another origin (the site moved: a tab
        cannot follow it, CORS) says so when asked not to follow it (§1.1 2026)."""
        try:
            probe = await fetch_through_worker(self.gw.pool, url, worker=worker, check=False,
                                               redirect="manual", timeout=PAGE_TIMEOUT)
        except GatewayError:
            probe = None
        if probe is not None and probe.response_type == "opaqueredirect":
            where = canonical_page(worker.hello.page_url) or \
                f"LMArena at its current address (https://arena.ai{CHAT_PAGE})"
            step.fail(f"{worker.origin} redirects to another origin: LMArena moved (a chat "
                      "sent from this tab meets the redirect: the 405 trap)",
                      f"open {where} in the tab (the gateway moves a tab itself when a "
                      "chat meets the redirect)")
            return
        step.fail(f"the tab could not load its page: {exc.message}",
                  "reload the tab; check the browser can reach LMArena")

    async def _account(self, worker: Worker) -> None:
        step = self._step("account")
        account = await check_account(self.gw, worker)
        self.bundle.account = {"logged_in": account.logged_in, "pulse": account.pulse,
                               "note": account.note}
        if account.logged_in is None and account.note.startswith("not checked"):
            step.fail(account.note, "reload the tab")
            return
        state = {True: "logged in", False: "anonymous (chats work; sign in for higher limits)",
                 None: "unknown"}[account.logged_in]
        pulse = f", quota pulse {account.pulse}" if account.pulse is not None else ""
        step.summary = state + pulse + (f" ({account.note})" if account.note else "")

    async def _recaptcha(self, worker: Worker) -> None:
        step = self._step("recaptcha")
        settings = self.gw.settings
        found = discover_recaptcha_site_key(self.scripts) or worker.recaptcha_site_key
        key = settings.recaptcha_site_key or found or DEFAULT_RECAPTCHA_SITE_KEY
        where = "configured" if settings.recaptcha_site_key else "the page" if found else ""
        self.bundle.settings["recaptcha_key_from"] = where or "built-in"
        if not where:
            step.fail("the page's scripts name no reCAPTCHA key",
                      "LMArena may load reCAPTCHA differently now: set recaptcha_site_key "
                      "to the key in the page's source, or update lmarenarev")
            return
        spec = Recaptcha(key, settings.recaptcha_action).wire()
        try:
            minted = await fetch_through_worker(
                self.gw.pool, f"{STREAM_BASE}/create-evaluation", method="POST", body="{}",
                worker=worker, recaptcha=spec, prepare_only=True, timeout=PAGE_TIMEOUT)
        except GatewayError as exc:
            step.fail(f"the page could not mint a token: {exc.message}",
                      "keep the tab visible and reload it (hidden or headless tabs get no "
                      "usable tokens)")
            return
        token = _token(minted.body, spec["body_field"])
        if len(token) < 20:
            step.fail("the page's reCAPTCHA returned no token", "reload the tab")
            return
        step.summary = f"key {key[:10]}… from {where}; a token was minted " \
            f"(action {settings.recaptcha_action})"

    async def _catalog(self) -> None:
        step = self._step("catalogue")
        if self._failed("tabs") and not self.gw.pool.usable(None):
            step.status, step.reason = "skipped", "no tab"
            return
        try:
            read = await read_model_list(self.gw.pool, timeout=PAGE_TIMEOUT)
        except GatewayError as exc:
            step.fail(exc.message, "update lmarenarev, or " + SEND_BUNDLE)
            return
        route = read.exchanges[0]
        self.bundle.catalog = {**exchange(route, "/nextjs-api/model-catalog",
                                          body=catalog_body(route.body)),
                               "source": read.source, "note": read.note}
        if read.source == "page":  # the replay serves them in its page (public data)
            self.bundle.catalog["models"] = read.models
        arenas = ", ".join(f"{arena} {count}" for arena, count in read.arenas.items())
        where = "the catalogue" if read.source == "catalogue" else \
            f"the page's initialModels ({read.note}: an older site)"
        step.summary = f"{len(read.models)} models from {where}" + (f": {arenas}" if arenas
                                                                    else "")
        if read.unknown_fields:
            self.gw.site.drift.catalog_fields(read.unknown_fields)
            step.notes.append("fields this version does not know: " +
                              ", ".join(read.unknown_fields))
        if read.dropped:
            step.fail(f"LMArena's catalogue changed shape: {read.dropped}",
                      "a field was probably renamed: update lmarenarev, or " + SEND_BUNDLE)

    async def _chat(self) -> SessionRef | None:
        step = self._step("chat")
        if self._failed("tabs") and not self.gw.pool.usable(None):
            step.status, step.reason = "skipped", "no tab"
            return None
        entry = self._chat_model(step)
        if entry is None or entry.arena_id is None:
            return None
        call = CreateCall(entry.arena_id, entry.type, PROMPT, (), self.gw.chat.submit_recaptcha())
        relay, text, failure = await self._relay(call)
        if failure is not None:
            reason, hint = failure_words(failure, "chat")
            step.fail(reason, hint)
            return None
        records = self.bundle.records_of("chat")
        step.summary = f"{entry.name} answered {_quote(text)} ({records} records, streamed " \
            "and parsed)"
        step.notes += _learned(relay)
        session = relay.outcome().session
        self.bundle.settings["model"] = entry.name
        return session

    async def _regenerate(self, session: SessionRef | None) -> None:
        step = self._step("regenerate")
        if session is None:
            step.status, step.reason = "skipped", "the chat did not get through"
            return
        settings = self.gw.settings
        call = RegenerateCall(session.session_id, session.assistant_message_id,
                              self.gw.chat.retry_recaptcha())
        _, text, failure = await self._relay(call)
        if failure is not None:
            reason, hint = failure_words(failure, "regenerate")
            step.fail(reason, hint)
            return
        step.summary = f"answered again {_quote(text)} with a token minted for " \
            f"{settings.recaptcha_retry_action}"

    def _drift(self) -> None:
        step = self._step("drift")
        drift = self.gw.site.drift
        cut = cut_replies(self.gw)
        if cut:
            step.notes.append(f"{cut} replies since the start ended without their finish "
                              "record (lmarenarev_truncated_replies)")
        if self.cut:
            step.fail(f"LMArena ended {self.cut} of this check's replies without their finish "
                      "record (ad:)", "LMArena may have changed how a reply ends: update "
                      "lmarenarev, or " + SEND_BUNDLE)
            return
        if self.unknown:
            seen = ", ".join(f"{prefix}: ×{count}" for prefix, count in self.unknown.items())
            step.fail(f"LMArena's stream carried records this version does not know ({seen})",
                      "LMArena changed its stream format and replies may miss something: "
                      "update lmarenarev, or " + SEND_BUNDLE)
            return
        totals = drift.describe()
        before = [f"{name.replace('_', ' ')}: {', '.join(table)}"
                  for name, table in totals.items() if table]
        step.summary = "none in this check" + (f"; since the start: {'; '.join(before)}"
                                               if before else "")

    # -- helpers -----------------------------------------------------------------------------

    def _chat_model(self, step: Step) -> ModelEntry | None:
        chat = self.gw.chat
        if self.model:
            name = chat.aliases.get(self.model, self.model)
            entry = chat.models.get(name)
            if entry is None:
                step.fail(f"the model {self.model!r} is not one the gateway offers",
                          "name one of `lmarenarev status`'s models (or run update-models)")
            return entry
        texts = [e for e in chat.models.values() if e.type == "text" and e.arena_id]
        catalog_ids = [str(m.get("id")) for m in self.gw.ops.catalog.models]
        texts.sort(key=lambda e: catalog_ids.index(e.arena_id) if e.arena_id in catalog_ids
                   else len(catalog_ids))
        if not texts:
            step.fail("the gateway offers no text model", "add one to models.json, or run "
                      "`lmarenarev update-models --merge NAME`")
            return None
        return texts[0]

    async def _relay(self, call: ArenaCall) -> tuple[Relay, str, GatewayError | None]:
        gw = self.gw
        relay = Relay(gw.pool, gw.relay_config, request_id=f"doctor-{int(time.time())}",
                      site=gw.site, tap=self.bundle.tap)
        parts: list[str] = []
        try:
            async with asyncio.timeout(CHAT_TIMEOUT):
                async for event in relay.events(call):
                    if isinstance(event, TextDelta):
                        parts.append(event.text)
        except GatewayError as exc:
            return relay, "".join(parts), exc
        except TimeoutError:
            return relay, "".join(parts), Timeout(f"no answer within {CHAT_TIMEOUT:g} s")
        finally:
            for prefix, count in relay.unknown_records.items():
                self.unknown[prefix] = self.unknown.get(prefix, 0) + count
            self.cut += relay.outcome().truncated
        return relay, "".join(parts), None


def cut_replies(gw: Gateway) -> int:
    """Replies cut off since the start, over every model (the request observer's counter)."""
    counter = gw.monitoring.metrics.truncated
    return round(sum(sample.value for metric in counter.collect() for sample in metric.samples
                     if sample.name.endswith("_total")))


def _learned(relay: Relay) -> list[str]:
    return [f"LMArena refused a value; {key}={value} worked and is used from now on "
            f"(`lmarenarev status` shows it)" for key, value in relay.recovery.override.items()]


def _token(body: str, field_name: str) -> str:
    try:
        value = json.loads(body).get(field_name)
    except (ValueError, AttributeError):
        return ""
    return value if isinstance(value, str) else ""


def _quote(text: str) -> str:
    text = " ".join(text.split())
    return repr(text if len(text) <= 60 else text[:57] + "…")


async def run_doctor(gw: Gateway, model: str | None = None) -> dict[str, Any]:
    """`POST /api/admin/doctor`: every step's result, and the redacted bundle."""
    return await Doctor(gw, model).run()
