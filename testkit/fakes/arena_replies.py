"""Scripted upstream answers (`Reply`) and their encoding as LMArena stream records.

A stream body is newline-delimited records `<side><code>:<JSON>` (protocol doc §2.1), e.g.
`a0:"Hel"`. A normal answer, as rendered here, is (§2.2, §2.5):

    af:{"messageId":"<assistant message id>"}
    a2:[{"type":"heartbeat"}]                     × heartbeats
    ag:"<reasoning chunk>"                        × ceil(len(reasoning) / record_chars)
    ac:{"toolCallId":"citation-source","argsTextDelta":"{\"source\":{…}}"}   per citation
    a0:"<text chunk>"                             × ceil(len(text) / record_chars)
    a2:[{"type":"image","image":"<url>"}]         per image
    ad:{"finishReason":"stop","usage":{"promptTokens":N,"completionTokens":M}}

Stamped replies (benchmark fast mode, `stamped_records=N`): the content of every side is exactly
N `a0:` records whose strings are `@t=<send time, integer µs since the Unix epoch>;` plus filler
letters up to `record_chars` characters; the stamp is filled in when the record is handed to
ASGI `send` (arena_stream.py), one record per `send`.

Two-sided answers (side-by-side/battle) put both `af:` records first, interleave the content
records of side a and side b, and end with `ad:` then `bd:` (§2.5 "Battle").

Everything here is pure: `render()` turns a `Reply` plus the request's facts into a
`StreamPlan` (arena_stream.py) and the texts that were sent.
"""

from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from itertools import zip_longest
from typing import Any, TypeVar

from testkit.fakes.arena_page import challenge_html
from testkit.fakes.arena_stream import STAMP_BYTES, STAMP_PLACEHOLDER, StreamPlan

STREAM_CONTENT_TYPE = "text/plain; charset=utf-8"
JSON_CONTENT_TYPE = "application/json"
TOO_LARGE = "Request Entity Too Large"
RECAPTCHA_FAILED = "recaptcha validation failed"
RESOURCE_EXHAUSTED = "Resource exhausted. Please try again later."

T = TypeVar("T")


@dataclass(frozen=True)
class Reply:
    """One scripted upstream answer. Every field is optional; `Reply()` is the default answer.

    Content (200 streams): `text`/`reasoning`/`images`/`citations` replace the request-dependent
    defaults one by one (None keeps the default, `[]` removes it); `text_b` is side b's text in
    two-sided modes. `finish=None` omits the final `ad:`; `usage=None` counts words;
    `send_usage=False` omits `usage`. `records` replaces all generated records with raw ones
    (e.g. `'ae:{}'`, `'a8:[…]'`); `separator` ends every record (use "" for records without
    newlines). `body` (str/bytes) replaces the whole body verbatim, for any status.
    Transport: `chunk_size` bytes per write (cuts anywhere, also mid-UTF-8; None = one write per
    record), `delay` between writes, `first_byte_delay` before the status line,
    `cut_after_bytes` drops the connection after that many body bytes (with `cut_when`, a
    `threading.Event`, only once the test sets it: the bytes before the cut stay in flight until
    then, so a client can see them before the cut), `record_chars`
    characters per `a0:`/`ag:` record, `heartbeats` `a2:` heartbeats after `af:`,
    `stamped_records` N replaces each side's content with N time-stamped `a0:` records (only for
    200 replies without `body`/`records`/`cut_after_bytes`; `chunk_size` is then ignored and
    `delay` is an absolute schedule: stamped record i goes out at t0 + i * delay).
    None for a transport field means "use `FakeArena.defaults`".
    """

    text: str | None = None
    reasoning: str | None = None
    images: Sequence[str] | None = None
    citations: Sequence[tuple[str, str]] | None = None
    text_b: str | None = None
    finish: str | None = "stop"
    usage: tuple[int, int] | None = None
    send_usage: bool = True
    records: Sequence[str] | None = None
    separator: str = "\n"
    heartbeats: int | None = None
    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    body: str | bytes | None = None
    chunk_size: int | None = None
    delay: float | None = None
    first_byte_delay: float | None = None
    cut_after_bytes: int | None = None
    cut_when: threading.Event | None = None
    record_chars: int | None = None
    stamped_records: int | None = None

    @classmethod
    def rate_limited(cls, retry_after: int = 7, message: str = "Too Many Requests") -> Reply:
        """429 + `Retry-After` (§3.5); `message="prompt failed"` for F's special case."""
        body = {"error": "Too Many Requests", "message": message}
        return cls._json(429, body, {"Retry-After": str(retry_after)})

    @classmethod
    def prompt_failed(cls) -> Reply:
        """`429 prompt failed` without Retry-After: this account's quota (§3.5 2026)."""
        return cls._json(429, {"error": "prompt failed", "message": "429 prompt failed"})

    @classmethod
    def recaptcha_failed(cls) -> Reply:
        return cls._json(403, {"error": RECAPTCHA_FAILED})

    @classmethod
    def cloudflare(cls, status: int = 403) -> Reply:
        """Cloudflare challenge page (§3.1): 403, or 429 as in 2026 (`cf-mitigated`)."""
        headers = {"Content-Type": "text/html; charset=UTF-8", "cf-mitigated": "challenge",
                   "Server": "cloudflare"}
        return cls(status=status, headers=headers, body=challenge_html(auto_solve=False))

    @classmethod
    def gone(cls, status: int = 404) -> Reply:
        """The model has left the site (§4.1 2026: 404 / 410)."""
        return cls._json(status, {"error": "This model is no longer available"})

    @classmethod
    def unauthorized(cls) -> Reply:
        return cls._json(401, {"error": "unauthorized"})

    @classmethod
    def too_large(cls) -> Reply:
        return cls._json(413, {"error": TOO_LARGE})

    @classmethod
    def server_error(cls, status: int = 502) -> Reply:
        headers = {"Content-Type": "text/plain; charset=UTF-8", "Server": "cloudflare"}
        return cls(status=status, headers=headers, body=f"error code: {status}")

    @classmethod
    def redirect(cls, location: str = "https://arena.ai/nextjs-api/stream/create-evaluation",
                 status: int = 301) -> Reply:
        """A 3xx to the other origin (§1.1, §3.5)."""
        return cls(status=status, headers={"Location": location}, body=b"")

    @classmethod
    def empty(cls) -> Reply:
        return cls(body=b"")

    @classmethod
    def resource_exhausted(cls) -> Reply:
        return cls(records=[f"a3:{_dump(RESOURCE_EXHAUSTED)}"])

    @classmethod
    def arena_error(cls) -> Reply:
        return cls(records=['a0:"hasArenaError"'])

    @classmethod
    def json_error(cls, message: str = "Internal Server Error") -> Reply:
        return cls(body=_dump({"error": message}) + "\n")

    @classmethod
    def cut(cls, after_bytes: int) -> Reply:
        return cls(cut_after_bytes=after_bytes)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Reply:
        """Build from JSON (admin API): Reply fields, or `kind` + that constructor's arguments."""
        values = dict(data)
        kind = values.pop("kind", None)
        if kind is not None:
            if kind not in FAILURE_KINDS:
                raise ValueError(f"unknown reply kind {kind!r}; known: {', '.join(FAILURE_KINDS)}")
            constructor: Callable[..., Reply] = getattr(cls, kind)
            return constructor(**values)
        if "citations" in values and values["citations"] is not None:
            values["citations"] = [tuple(pair) for pair in values["citations"]]
        if values.get("usage") is not None:
            values["usage"] = tuple(values["usage"])
        return cls(**values)

    @classmethod
    def _json(cls, status: int, body: Mapping[str, Any],
              headers: Mapping[str, str] | None = None) -> Reply:
        return cls(status=status, headers={"Content-Type": JSON_CONTENT_TYPE, **(headers or {})},
                   body=_dump(body))


FAILURE_KINDS = (
    "rate_limited", "prompt_failed", "gone", "recaptcha_failed", "cloudflare", "unauthorized",
    "too_large",
    "server_error", "redirect", "empty", "resource_exhausted", "arena_error", "json_error", "cut",
)


@dataclass
class ReplyDefaults:
    """Transport defaults for replies that leave a field None (settable on `FakeArena.defaults`),
    and the fast mode's modelled waits: `first_token_delay` (seconds between a stamped reply's
    `af:`/heartbeats and its first record: the model's time to its first token) and
    `recaptcha_delay` (seconds the reCAPTCHA stand-in takes to mint a token: the real
    `grecaptcha.enterprise.execute` is a round trip to Google)."""

    chunk_size: int | None = None
    delay: float = 0.0
    first_byte_delay: float = 0.0
    record_chars: int = 8
    heartbeats: int = 1
    stamped_records: int | None = None
    first_token_delay: float = 0.0
    recaptcha_delay: float = 0.0

    def update(self, **fields: Any) -> None:
        """Set several fields at once after checking names and types (nothing set on error)."""
        types = {item.name: item.type for item in dataclasses.fields(self)}
        for name, value in fields.items():
            if name not in types:
                raise ValueError(f"unknown ReplyDefaults field {name!r}; known: {sorted(types)}")
            if not _fits(value, str(types[name])):
                raise ValueError(f"ReplyDefaults.{name} must be {types[name]} and >= 0, "
                                 f"got {value!r}")
        for name, value in fields.items():
            setattr(self, name, float(value) if str(types[name]) == "float" else value)


@dataclass(frozen=True)
class Participant:
    """One answering side of a request and its default content."""

    side: str
    message_id: str
    text: str
    reasoning: str | None = None
    images: Sequence[str] = ()
    citations: Sequence[tuple[str, str]] = ()


@dataclass(frozen=True)
class Rendered:
    plan: StreamPlan
    texts: Mapping[str, str]


def render(reply: Reply, participants: Sequence[Participant], prompt: str,
           defaults: ReplyDefaults, *, reasoning_key: str | None = None,
           extra_records: Sequence[str] = ()) -> Rendered:
    """The plan for `reply` answering `participants` (one side, or a then b).

    `reasoning_key` (the 2026-10 era): each `ag:` payload is `{key: text}`, not a string;
    `extra_records` go before the finish records of a generated answer (a drift)."""
    if reply.body is not None:
        body = reply.body.encode() if isinstance(reply.body, str) else reply.body
        return Rendered(_plan(reply, defaults, [body], _error_type(reply.status)), {})
    if reply.status != 200:
        body = _dump({"error": HTTPStatus(reply.status).phrase}).encode()
        return Rendered(_plan(reply, defaults, [body], JSON_CONTENT_TYPE), {})
    if reply.records is not None:
        records = list(reply.records)
        texts = _texts_in(records)
    else:
        stamped = _stamped_count(reply, defaults)
        sides = [_resolve(reply, person, participants[0].side, stamped)
                 for person in participants]
        records = _interleave([_message(reply, person, prompt, defaults, stamped,
                                        reasoning_key) for person in sides])
        if extra_records:
            finish = sum(1 for record in records if record[1:3] == "d:")
            records[len(records) - finish:len(records) - finish] = list(extra_records)
        texts = {person.side: person.text for person in sides}
    pieces = [(record + reply.separator).encode() for record in records]
    return Rendered(_plan(reply, defaults, pieces, STREAM_CONTENT_TYPE), texts)


def encode_record(side: str, code: str, payload: Any) -> str:
    """One record without its terminator, e.g. `a0:"Hi"` (§2.1)."""
    return f"{side}{code}:{_dump(payload)}"


def split_text(text: str, size: int) -> list[str]:
    size = max(size, 1)
    return [text[start:start + size] for start in range(0, len(text), size)]


def word_count(text: str) -> int:
    return len(text.split())


def _stamped_count(reply: Reply, defaults: ReplyDefaults) -> int | None:
    if reply.cut_after_bytes is not None:
        return None
    return _pick(reply.stamped_records, defaults.stamped_records)


def _resolve(reply: Reply, person: Participant, first_side: str,
             stamped: int | None) -> Participant:
    if stamped is not None:  # stamps are filled in at send time: the text is not known here
        return dataclasses.replace(person, text="", reasoning=None, images=(), citations=())
    scripted_text = reply.text if person.side == first_side else reply.text_b
    return dataclasses.replace(
        person,
        text=person.text if scripted_text is None else scripted_text,
        reasoning=person.reasoning if reply.reasoning is None else reply.reasoning,
        images=person.images if reply.images is None else reply.images,
        citations=person.citations if reply.citations is None else reply.citations,
    )


def _message(reply: Reply, person: Participant, prompt: str, defaults: ReplyDefaults,
             stamped: int | None, reasoning_key: str | None = None
             ) -> tuple[list[str], list[str], list[str]]:
    """(start, content, end) records of one side."""
    side, size = person.side, _pick(reply.record_chars, defaults.record_chars)
    heartbeats = _pick(reply.heartbeats, defaults.heartbeats)
    start = [encode_record(side, "f", {"messageId": person.message_id})]
    start += [encode_record(side, "2", [{"type": "heartbeat"}])] * heartbeats
    content = [encode_record(side, "g", part if reasoning_key is None else {reasoning_key: part})
               for part in split_text(person.reasoning or "", size)]
    content += [encode_record(side, "c", _citation(url, title)) for url, title in person.citations]
    content += [encode_record(side, "0", part) for part in split_text(person.text, size)]
    content += [encode_record(side, "2", [{"type": "image", "image": url}])
                for url in person.images]
    if stamped is not None:
        content = [f'{side}0:"{STAMP_PLACEHOLDER}"'] * stamped
    return start, content, _finish(reply, side, prompt, person.text, stamped)


def _citation(url: str, title: str) -> dict[str, str]:
    # §2.2: argsTextDelta is itself a JSON string whose object has a `source`.
    return {"toolCallId": "citation-source",
            "argsTextDelta": _dump({"source": {"url": url, "title": title}})}


def _finish(reply: Reply, side: str, prompt: str, text: str,
            stamped: int | None = None) -> list[str]:
    if reply.finish is None:
        return []
    payload: dict[str, Any] = {"finishReason": reply.finish}
    if reply.send_usage:
        completion = word_count(text) if stamped is None else stamped
        prompt_tokens, completion_tokens = reply.usage or (word_count(prompt), completion)
        payload["usage"] = {"promptTokens": prompt_tokens, "completionTokens": completion_tokens}
    return [encode_record(side, "d", payload)]


def _interleave(messages: list[tuple[list[str], list[str], list[str]]]) -> list[str]:
    records = [record for start, _, _ in messages for record in start]
    for group in zip_longest(*(content for _, content, _ in messages)):
        records += [record for record in group if record is not None]
    return records + [record for _, _, end in messages for record in end]


def _texts_in(records: Sequence[str]) -> dict[str, str]:
    """Concatenated `a0:`/`b0:` text of raw records (unparseable ones are skipped)."""
    texts: dict[str, str] = {}
    for record in records:
        side, code, payload = record[:1], record[1:3], record[3:]
        if code != "0:":
            continue
        try:
            value = json.loads(payload)
        except ValueError:
            continue
        if isinstance(value, str):
            texts[side] = texts.get(side, "") + value
    return texts


def _plan(reply: Reply, defaults: ReplyDefaults, pieces: list[bytes],
          content_type: str) -> StreamPlan:
    chunk_size = _pick(reply.chunk_size, defaults.chunk_size)
    stamped = any(STAMP_BYTES in piece for piece in pieces)
    if chunk_size is not None and not stamped:
        data = b"".join(pieces)
        pieces = [data[start:start + chunk_size] for start in range(0, len(data), chunk_size)]
    abort = reply.cut_after_bytes is not None
    if reply.cut_after_bytes is not None:
        pieces = _truncate(pieces, reply.cut_after_bytes)
    headers = {"content-type": content_type}
    headers.update({name.lower(): value for name, value in reply.headers.items()})
    return StreamPlan(
        status=reply.status,
        headers=tuple(headers.items()),
        pieces=tuple(piece for piece in pieces if piece),
        delay=_pick(reply.delay, defaults.delay),
        first_byte_delay=_pick(reply.first_byte_delay, defaults.first_byte_delay),
        first_token_delay=defaults.first_token_delay if stamped else 0.0,
        abort=abort,
        cut_when=reply.cut_when if abort else None,
        stamped=stamped,
        record_chars=_pick(reply.record_chars, defaults.record_chars),
    )


def _truncate(pieces: list[bytes], limit: int) -> list[bytes]:
    kept: list[bytes] = []
    remaining = limit
    for piece in pieces:
        if remaining <= 0:
            break
        kept.append(piece[:remaining])
        remaining -= len(piece)
    return kept


def _error_type(status: int) -> str:
    return STREAM_CONTENT_TYPE if status == 200 else JSON_CONTENT_TYPE


def _fits(value: Any, annotation: str) -> bool:
    """Does a JSON value fit a field annotated `int`, `float`, `int | None`, …?"""
    allowed = {part.strip() for part in annotation.split("|")}
    if value is None:
        return "None" in allowed
    if isinstance(value, bool):
        return False
    if isinstance(value, int) and allowed & {"int", "float"}:
        return value >= 0
    return isinstance(value, float) and "float" in allowed and value >= 0


def _pick(value: T | None, default: T) -> T:
    return default if value is None else value


def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
