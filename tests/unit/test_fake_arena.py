"""The fake LMArena behaves as protocol doc §8 asks, as a client sees it."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from testkit.fakes.arena import FakeArena, Reply, Validation, model_id
from testkit.fakes.arena_auth import AUTH_COOKIE, CLEARANCE_COOKIE, decode_cookie, jwt_payload
from testkit.fakes.arena_bodies import (
    CREATE_PATH,
    TEXT_PLAIN,
    create_body,
    legacy_body,
    post_body,
    post_path,
    retry_path,
)
from testkit.fakes.arena_ids import uuid4, uuid7
from testkit.fakes.arena_replies import Participant, ReplyDefaults, render
from testkit.fakes.serving import ServerThread

BASE = "https://lmarena.ai"


class Clock:
    def __init__(self) -> None:
        self.now = 1_760_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def arena(clock: Clock) -> FakeArena:
    return FakeArena(clock=clock)


@pytest.fixture
async def client(arena: FakeArena) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=arena.app)
    cookies = {AUTH_COOKIE: arena.issue_auth_cookie()}
    async with httpx.AsyncClient(transport=transport, base_url=BASE, cookies=cookies) as http:
        yield http


@pytest.fixture
def served(arena: FakeArena) -> Iterator[httpx.Client]:
    """A real socket: needed for streaming, delays, cuts and disconnects."""
    with ServerThread(arena.app) as server, httpx.Client(
        base_url=server.url, cookies={AUTH_COOKIE: arena.issue_auth_cookie()}, timeout=5
    ) as http:
        yield http


def records(body: str) -> list[tuple[str, Any]]:
    return [(line[:2], json.loads(line[3:])) for line in body.splitlines() if line]


def text_of(body: str, side: str = "a") -> str:
    return "".join(value for prefix, value in records(body) if prefix == f"{side}0")


async def create(http: httpx.AsyncClient, arena: FakeArena, text: str = "hi",
                 model: str = "fake-gpt", **options: Any) -> tuple[dict[str, Any], httpx.Response]:
    body = create_body(model_id(model), text, token=arena.issue_token(), **options)
    response = await http.post(CREATE_PATH, content=json.dumps(body), headers=TEXT_PLAIN)
    return body, response


# --------------------------------------------------------------------------- the page


async def test_page_embeds_initial_models_for_a_regex_scraper(client: httpx.AsyncClient) -> None:
    html = (await client.get("/?mode=direct")).text
    assert "<title>LMArena</title>" in html and "Just a moment" not in html
    found = re.search(r'\{\\"initialModels\\":(\[.*?\]),\\"initialModel[A-Z]Id', html, re.S)
    assert found is not None
    models = json.loads(found.group(1).encode().decode("unicode_escape"))
    names = {model["publicName"] for model in models}
    assert {"fake-gpt", "fake-claude", "fake-thinker", "fake-painter", "fake-searcher"} <= names
    assert any("organization" not in model for model in models)  # the stealth model


async def test_page_flight_rows_hold_the_props_and_the_chunk(client: httpx.AsyncClient) -> None:
    html = (await client.get("/")).text
    pushes = re.findall(r"self\.__next_f\.push\((\[1,.*?\])\)</script>", html)
    rows = [row for push in pushes for row in json.loads(push)[1].splitlines()]
    tree = json.loads(next(row for row in rows if row.startswith("2:"))[2:])
    assert tree[3]["initialModelAId"] == model_id("fake-gpt")
    assert tree[3]["initialModelBId"] is None
    reference = json.loads(next(row for row in rows if row.startswith("1:I"))[3:])
    assert reference[2] == "Evaluation" and f'src="/_next/{reference[1][0]}"' in html


async def test_chunk_has_action_ids_recaptcha_key_and_anon_key(
        client: httpx.AsyncClient, arena: FakeArena) -> None:
    html = (await client.get("/")).text
    assert f"recaptcha/enterprise.js?render={arena.site_key}" in html
    chunk = re.search(r'src="(/_next/static/chunks/app-[0-9a-f]+\.js)"', html)
    assert chunk is not None
    js = (await client.get(chunk.group(1))).text
    actions = dict((name, action) for action, name in re.findall(
        r'createServerReference\("([0-9a-f]{42})", callServer, findSourceMapURL, "(\w+)"\)', js))
    assert set(actions) == {"generateUploadUrl", "getSignedUrl"}
    assert f'execute("{arena.site_key}",{{action:"chat_submit"}})' in js
    anon = re.search(r"eyJ[\w-]+\.[\w-]+\.[\w-]+", js)
    assert anon is not None and (jwt_payload(anon.group(0)) or {})["role"] == "anon"


async def test_page_sets_the_auth_cookie_only_when_missing_or_expired(
        arena: FakeArena, clock: Clock) -> None:
    transport = httpx.ASGITransport(app=arena.app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as http:
        first = await http.get("/")
        cookie = first.cookies[AUTH_COOKIE]
        session = decode_cookie(cookie)
        assert session is not None and session["expires_at"] == int(clock.now) + 3600
        assert "Secure" in first.headers["set-cookie"] and "SameSite=Lax" in first.headers[
            "set-cookie"]
        assert AUTH_COOKIE not in (await http.get("/")).cookies
        clock.now += 3601
        rotated = decode_cookie((await http.get("/")).cookies[AUTH_COOKIE])
    assert rotated is not None and rotated["user"]["id"] == session["user"]["id"]
    assert rotated["expires_at"] == int(clock.now) + 3600


async def test_recaptcha_library_mints_tokens_the_server_remembers(
        client: httpx.AsyncClient, arena: FakeArena) -> None:
    library = (await client.get(f"/__fake/recaptcha/enterprise.js?render={arena.site_key}")).text
    assert "window.grecaptcha" in library and "/__fake/recaptcha/execute" in library
    minted = await client.post("/__fake/recaptcha/execute",
                               json={"site_key": arena.site_key, "action": "chat_submit"})
    token = minted.json()["token"]
    assert len(token) >= 20
    issued = arena.issued_tokens[-1]
    assert (issued.token, issued.site_key, issued.action) == (token, arena.site_key, "chat_submit")


# --------------------------------------------------------------------------- validation


async def test_tokens_are_single_use(client: httpx.AsyncClient, arena: FakeArena) -> None:
    token = arena.issue_token()
    statuses = []
    for _ in range(2):
        body = create_body(model_id("fake-gpt"), "hi", token=token)
        statuses.append((await client.post(CREATE_PATH, json=body)).status_code)
    assert statuses == [200, 403]


@pytest.mark.parametrize("token_kind", ["empty", "unknown", "stale", "other_key"])
async def test_bad_recaptcha_tokens_get_403(client: httpx.AsyncClient, arena: FakeArena,
                                            token_kind: str) -> None:
    token = {
        "empty": "",
        "unknown": "03A" + "x" * 40,
        "stale": arena.issue_token(age=121),
        "other_key": arena.issue_token(site_key="6LeSomeOtherKey"),
    }[token_kind]
    body = create_body(model_id("fake-gpt"), "hi", token=token)
    response = await client.post(CREATE_PATH, content=json.dumps(body), headers=TEXT_PLAIN)
    assert (response.status_code, response.json()) == (
        403, {"error": "recaptcha validation failed"})


async def test_v2_token_is_accepted_instead_of_v3(client: httpx.AsyncClient,
                                                  arena: FakeArena) -> None:
    body = create_body(model_id("fake-gpt"), "hi", token=None)
    body["recaptchaV2Token"] = arena.issue_token(site_key=arena.v2_site_key, action="")
    assert (await client.post(CREATE_PATH, json=body)).status_code == 200


@pytest.mark.parametrize("cookie", [None, "garbage", "expired"])
async def test_auth_cookie_missing_garbage_or_expired_is_401(arena: FakeArena,
                                                             cookie: str | None) -> None:
    cookies = {} if cookie is None else {
        AUTH_COOKIE: "base64-bm90IGpzb24=" if cookie == "garbage"
        else arena.issue_auth_cookie(expires_in=-5)}
    transport = httpx.ASGITransport(app=arena.app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE, cookies=cookies) as http:
        _, response = await create(http, arena)
    assert (response.status_code, response.json()) == (401, {"error": "unauthorized"})


async def test_oversized_body_is_413(client: httpx.AsyncClient, arena: FakeArena) -> None:
    arena.validation.max_body_bytes = 1000
    _, response = await create(client, arena, text="x" * 2000)
    assert response.status_code == 413


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"modelAId": str(uuid4())}, "model not found"),
        ({"userMessageId": str(uuid4())}, "invalid uuid: userMessageId"),
        ({"mode": "solo"}, "invalid field: mode"),
        ({"modelAMessageId": None}, "missing field: modelAMessageId"),
        ({"userMessage": {"content": "x" * 113_568}}, "prompt too long"),
    ],
)
async def test_invalid_create_bodies_are_400(client: httpx.AsyncClient, arena: FakeArena,
                                             change: dict[str, Any], error: str) -> None:
    body = create_body(model_id("fake-gpt"), "hi", token=arena.issue_token()) | change
    response = await client.post(CREATE_PATH, json=body)
    assert (response.status_code, response.json()) == (400, {"error": error})


async def test_non_json_body_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post(CREATE_PATH, content=b"{not json", headers=TEXT_PLAIN)
    assert (response.status_code, response.json()) == (400, {"error": "invalid json"})


async def test_v4_ids_pass_when_strict_uuid7_is_off(client: httpx.AsyncClient,
                                                    arena: FakeArena) -> None:
    arena.validation = Validation(strict_uuid7=False)
    _, response = await create(client, arena, session_id=uuid4())
    assert response.status_code == 200


async def test_reused_ids_are_400_duplicate(client: httpx.AsyncClient, arena: FakeArena) -> None:
    body, first = await create(client, arena)
    body["recaptchaV3Token"] = arena.issue_token()
    again = await client.post(CREATE_PATH, json=body)
    assert first.status_code == 200
    assert (again.status_code, again.json()) == (400, {"error": "duplicate ids"})


# --------------------------------------------------------------------------- default replies


async def test_default_reply_echoes_the_prompt(client: httpx.AsyncClient,
                                               arena: FakeArena) -> None:
    body, response = await create(client, arena, text="Grüße, 世界 👋")
    parsed = records(response.text)
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert parsed[0] == ("af", {"messageId": body["modelAMessageId"]})
    assert ("a2", [{"type": "heartbeat"}]) in parsed
    assert text_of(response.text) == "Echo: Grüße, 世界 👋"
    assert len([prefix for prefix, _ in parsed if prefix == "a0"]) > 1
    assert parsed[-1] == ("ad", {"finishReason": "stop",
                                 "usage": {"promptTokens": 3, "completionTokens": 4}})


async def test_thinker_reasons_searcher_cites_painter_paints(client: httpx.AsyncClient,
                                                              arena: FakeArena) -> None:
    _, thinker = await create(client, arena, text="why", model="fake-thinker")
    _, searcher = await create(client, arena, text="news", model="fake-searcher",
                               modality="search")
    _, painter = await create(client, arena, text="a cat", model="fake-painter",
                              modality="image")
    reasoning = "".join(value for prefix, value in records(thinker.text) if prefix == "ag")
    assert reasoning == "Thinking about: why"
    citation = next(value for prefix, value in records(searcher.text) if prefix == "ac")
    assert json.loads(citation["argsTextDelta"])["source"]["url"].startswith("https://")
    images = [part["image"] for prefix, value in records(painter.text) if prefix == "a2"
              for part in value if part["type"] == "image"]
    png = await client.get(images[0])
    assert png.headers["content-type"] == "image/png" and png.content.startswith(b"\x89PNG")


async def test_side_by_side_interleaves_and_finishes_both_sides(client: httpx.AsyncClient,
                                                               arena: FakeArena) -> None:
    _, response = await create(client, arena, text="duel", mode="side-by-side",
                               model_b=model_id("fake-claude"))
    prefixes = [prefix for prefix, _ in records(response.text)]
    assert prefixes[-2:] == ["ad", "bd"]
    assert "a0b0" in "".join(p for p in prefixes if p in ("a0", "b0"))
    assert (text_of(response.text, "a"), text_of(response.text, "b")) == (
        "Echo: duel", "Echo (b): duel")


async def test_battle_draws_an_anonymous_pair(client: httpx.AsyncClient,
                                              arena: FakeArena) -> None:
    _, response = await create(client, arena, text="who wins", mode="battle")
    session = next(iter(arena.sessions.values()))
    assert (session.model_id, session.model_b_id) == (model_id("fake-gpt"),
                                                      model_id("fake-claude"))
    assert text_of(response.text, "b") == "Echo (b): who wins"


def test_chunk_size_cuts_inside_utf8_sequences() -> None:
    person = Participant("a", uuid7(), "👋é")
    plan = render(Reply(chunk_size=1), [person], "x", ReplyDefaults()).plan
    assert all(len(piece) == 1 for piece in plan.pieces)
    assert text_of(b"".join(plan.pieces).decode()) == "👋é"


# --------------------------------------------------------------------------- sessions


async def test_session_history_after_create_and_post(client: httpx.AsyncClient,
                                                     arena: FakeArena) -> None:
    first, _ = await create(client, arena, text="one")
    follow = post_body(first["id"], model_id("fake-gpt"), "two", token=arena.issue_token())
    response = await client.post(post_path(first["id"]), json=follow)
    assert text_of(response.text) == "Echo: two"
    turns = arena.sessions[first["id"]].turns
    assert [(t.user_text, t.reply_text) for t in turns] == [("one", "Echo: one"),
                                                            ("two", "Echo: two")]
    assert turns[1].assistant_message_id == follow["modelAMessageId"]
    assert [r.kind for r in arena.requests] == ["create", "post"]


async def test_post_to_unknown_session_is_404(client: httpx.AsyncClient,
                                              arena: FakeArena) -> None:
    session = uuid7()
    body = post_body(session, model_id("fake-gpt"), "x", token=arena.issue_token())
    response = await client.post(post_path(session), json=body)
    assert (response.status_code, response.json()) == (
        404, {"error": "evaluation session not found"})


async def test_modern_retry_regenerates_and_keeps_the_message_id(
        client: httpx.AsyncClient, arena: FakeArena) -> None:
    body, _ = await create(client, arena, text="again")
    path = retry_path(body["id"], body["modelAMessageId"])
    first = await client.put(path, content=b"{}", headers=TEXT_PLAIN)
    second = await client.put(path, json={"recaptchaV3Token": arena.issue_token()})
    assert records(first.text)[0] == ("af", {"messageId": body["modelAMessageId"]})
    assert [text_of(first.text), text_of(second.text)] == [
        "Echo (retry 1): again", "Echo (retry 2): again"]
    assert arena.sessions[body["id"]].turns[0].retries == 2
    missing = await client.put(retry_path(body["id"], uuid7()), json={})
    assert missing.status_code == 404


async def test_legacy_retry_answers_on_side_b(client: httpx.AsyncClient,
                                              arena: FakeArena) -> None:
    session, message = arena.seed_session("fake-claude")
    history = [("system", "be brief"), ("user", "first"), ("assistant", "ok"), ("user", "last")]
    body = legacy_body(session, [*history, ("assistant", "")], position="b")
    response = await client.put(retry_path(session, message), json=body)
    prefixes = {prefix for prefix, _ in records(response.text)}
    assert response.status_code == 200 and prefixes <= {"bf", "b2", "b0", "bd"}
    assert text_of(response.text, "b") == "Echo: last"
    assert arena.requests[-1].kind == "legacy"


async def test_pre_august_api_stream_alias_serves_legacy_retry(client: httpx.AsyncClient,
                                                                arena: FakeArena) -> None:
    session, message = arena.seed_session()
    body = legacy_body(session, [("user", "old path"), ("assistant", "")])
    path = retry_path(session, message).replace("/nextjs-api/", "/api/")
    response = await client.put(path, content=json.dumps(body), headers=TEXT_PLAIN)
    assert text_of(response.text) == "Echo: old path"


async def test_legacy_retry_rejects_a_broken_parent_chain(client: httpx.AsyncClient,
                                                          arena: FakeArena) -> None:
    session, message = arena.seed_session()
    body = legacy_body(session, [("user", "a"), ("assistant", "")])
    body["messages"][1]["parentMessageIds"] = []
    response = await client.put(retry_path(session, message), json=body)
    assert response.json() == {"error": "invalid field: messages[1].parentMessageIds"}


# --------------------------------------------------------------------------- scripting


async def test_enqueued_failures_come_first_then_defaults(client: httpx.AsyncClient,
                                                          arena: FakeArena) -> None:
    arena.enqueue(Reply.rate_limited(7), Reply.cloudflare(), Reply.resource_exhausted())
    limited = (await create(client, arena))[1]
    challenge = (await create(client, arena))[1]
    exhausted = (await create(client, arena))[1]
    normal = (await create(client, arena, text="ok"))[1]
    assert (limited.status_code, limited.headers["retry-after"], limited.json()) == (
        429, "7", {"error": "Too Many Requests", "message": "Too Many Requests"})
    assert challenge.status_code == 403 and "<title>Just a moment...</title>" in challenge.text
    assert exhausted.text == 'a3:"Resource exhausted. Please try again later."\n'
    assert text_of(normal.text) == "Echo: ok"


@pytest.mark.parametrize(
    ("reply", "status", "needle"),
    [
        (Reply.recaptcha_failed(), 403, '{"error":"recaptcha validation failed"}'),
        (Reply.unauthorized(), 401, "unauthorized"),
        (Reply.too_large(), 413, "Too Large"),
        (Reply.server_error(504), 504, "error code: 504"),
        (Reply.redirect(), 301, ""),
        (Reply.empty(), 200, ""),
        (Reply.arena_error(), 200, 'a0:"hasArenaError"'),
        (Reply.json_error(), 200, '{"error":"Internal Server Error"}'),
        (Reply.rate_limited(message="prompt failed"), 429, "prompt failed"),
    ],
)
async def test_failure_constructors(client: httpx.AsyncClient, arena: FakeArena, reply: Reply,
                                    status: int, needle: str) -> None:
    arena.enqueue(reply)
    _, response = await create(client, arena)
    assert response.status_code == status and needle in response.text
    assert len(arena.sessions) == (1 if status == 200 else 0)  # rejected turns are not kept


async def test_enqueue_for_matches_a_prompt_substring(client: httpx.AsyncClient,
                                                      arena: FakeArena) -> None:
    arena.enqueue_for("special", Reply(text="targeted", finish="length", usage=(1, 2)))
    other = (await create(client, arena, text="plain"))[1]
    hit = (await create(client, arena, text="a special one"))[1]
    assert text_of(other.text) == "Echo: plain"
    assert records(hit.text)[-1] == ("ad", {"finishReason": "length",
                                            "usage": {"promptTokens": 1, "completionTokens": 2}})


async def test_raw_records_without_newlines(client: httpx.AsyncClient, arena: FakeArena) -> None:
    arena.enqueue(Reply(records=['a0:"x"', "ae:{}", 'a8:[{"k":1}]'], separator=""))
    _, response = await create(client, arena)
    assert response.text == 'a0:"x"ae:{}a8:[{"k":1}]'


async def test_admin_api_enqueues_and_reports(client: httpx.AsyncClient,
                                              arena: FakeArena) -> None:
    queued = await client.post("/__fake/enqueue", json=[
        {"kind": "server_error", "status": 520}, {"text": "scripted", "citations": [["u", "t"]]}])
    assert queued.json() == {"queued": 2}
    failed = (await create(client, arena))[1]
    scripted = (await create(client, arena))[1]
    state = (await client.get("/__fake/state")).json()
    assert failed.status_code == 520 and text_of(scripted.text) == "scripted"
    assert [r["status"] for r in state["requests"]] == [520, 200]
    assert len(state["sessions"]) == 1


# --------------------------------------------------------------------------- real sockets


def test_chunking_mid_utf8_reassembles(served: httpx.Client, arena: FakeArena) -> None:
    arena.enqueue(Reply(text="héllo 👋 wörld ✓", chunk_size=3, delay=0.001))
    body = create_body(model_id("fake-gpt"), "x", token=arena.issue_token())
    with served.stream("POST", CREATE_PATH, json=body) as response:
        chunks = list(response.iter_raw())
    assert text_of(b"".join(chunks).decode()) == "héllo 👋 wörld ✓"
    assert max(len(chunk) for chunk in chunks) < 50  # it really streamed in pieces


def test_cut_after_bytes_drops_the_connection(served: httpx.Client, arena: FakeArena) -> None:
    arena.enqueue(Reply.cut(40))
    body = create_body(model_id("fake-gpt"), "x", token=arena.issue_token())
    received = b""
    with pytest.raises(httpx.RemoteProtocolError), served.stream(
            "POST", CREATE_PATH, json=body) as response:
        for chunk in response.iter_raw():
            received += chunk
    assert len(received) == 40
    arena.wait_for(lambda: arena.cut_streams == 1)


def test_client_disconnect_is_counted(served: httpx.Client, arena: FakeArena) -> None:
    arena.enqueue(Reply(text="slow " * 40, delay=0.02))
    body = create_body(model_id("fake-gpt"), "x", token=arena.issue_token())
    with served.stream("POST", CREATE_PATH, json=body) as response:
        chunks = response.iter_raw()  # keep a reference: a dropped iterator closes the response
        next(chunks)
        assert arena.open_streams == 1
    arena.wait_for(lambda: arena.disconnected_streams == 1, timeout=2)
    assert (arena.open_streams, arena.completed_streams) == (0, 0)


def test_concurrent_clients_each_get_their_own_echo(served: httpx.Client,
                                                    arena: FakeArena) -> None:
    arena.defaults.delay = 0.02
    texts: dict[int, str] = {}

    def ask(number: int) -> None:
        body = create_body(model_id("fake-gpt"), f"client {number}", token=arena.issue_token())
        texts[number] = text_of(served.post(CREATE_PATH, json=body).text)

    workers = [threading.Thread(target=ask, args=(n,)) for n in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert texts == {n: f"Echo: client {n}" for n in range(4)}
    assert arena.max_concurrent_streams >= 2 and arena.completed_streams == 4


# --------------------------------------------------------------------------- other endpoints


async def test_challenge_mode_clears_with_cf_clearance(arena: FakeArena) -> None:
    arena.challenge_pages = True
    transport = httpx.ASGITransport(app=arena.app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as http:
        blocked = await http.get("/?mode=direct")
        solved = await http.post("/__fake/cf/solve")
        page = await http.get("/?mode=direct")
    assert blocked.status_code == 403 and "Enable JavaScript and cookies" in blocked.text
    assert 'id="cf-turnstile"' in blocked.text and "challenges.cloudflare.com" in blocked.text
    assert CLEARANCE_COOKIE in solved.cookies and page.status_code == 200


async def test_challenge_streams_answer_the_challenge_page(client: httpx.AsyncClient,
                                                           arena: FakeArena) -> None:
    arena.challenge_streams = True
    _, blocked = await create(client, arena)
    client.cookies.set(CLEARANCE_COOKIE, arena.solve_challenge())
    _, allowed = await create(client, arena)
    assert blocked.status_code == 403 and "<title>Just a moment...</title>" in blocked.text
    assert allowed.status_code == 200


async def test_upload_round_trip_through_server_actions(client: httpx.AsyncClient,
                                                        arena: FakeArena) -> None:
    async def action(name: str, args: list[str]) -> dict[str, Any]:
        response = await client.post("/?mode=direct", content=json.dumps(args), headers={
            "Next-Action": arena.action_ids[name], "Accept": "text/x-component", **TEXT_PLAIN})
        assert response.headers["content-type"].startswith("text/x-component")
        row = next(line for line in response.text.splitlines() if line.startswith("1:"))
        data: dict[str, Any] = json.loads(row[2:])["data"]
        return data

    grant = await action("generateUploadUrl", ["cat.png", "image/png"])
    put = await client.put(grant["uploadUrl"], content=b"PNGDATA",
                           headers={"Content-Type": "image/png"})
    signed = await action("getSignedUrl", [grant["key"]])
    assert put.status_code == 200 and "X-Amz-Expires=" in signed["url"]
    assert (await client.get(signed["url"])).content == b"PNGDATA"
    assert (await client.get(grant["uploadUrl"])).status_code == 403  # PUT URL can't GET


async def test_sign_up_issues_a_session_once(arena: FakeArena) -> None:
    user = uuid4()
    transport = httpx.ASGITransport(app=arena.app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as http:
        results = []
        for _ in range(2):
            body = {"turnstileToken": arena.issue_turnstile_token(),
                    "recaptchaToken": arena.issue_token("sign_up"), "provisionalUserId": user}
            results.append(await http.post("/nextjs-api/sign-up", json=body))
    assert results[0].status_code == 200 and AUTH_COOKIE in results[0].cookies
    assert results[0].json()["user"]["id"] == user
    assert (results[1].status_code, results[1].json()) == (400, {"error": "User already exists"})


def test_wait_for_times_out(arena: FakeArena) -> None:
    with pytest.raises(TimeoutError):
        arena.wait_for(lambda: False, timeout=0.02)
