"""A Python worker that behaves like the userscript in a browser tab (docs/worker-protocol.md).

    async with FakeWorker(gateway.url, token, arena.url) as worker:
        ...                     # the gateway now has one worker; jobs run against `arena_url`

It "opens the page" first (`GET {arena_url}/?mode=direct`, which sets the fake's cookies, and
whose `<script src>`s go into `hello`), then connects over the WebSocket or, with
`transport="poll"`, over the long-poll routes the userscript uses when the WebSocket is blocked.
Jobs run concurrently, each like `fetch(url, {credentials: "include", signal})` in the page:
forbidden request headers are dropped, `Origin`/`Referer` are the page's, the body is decoded
like `TextDecoder` with `{stream: true}`, and `abort` cancels the job's task. Like the
userscript, its hello says `batches` (`batches=False`: an older script) and it takes a message
holding an array of frames frame by frame; `message_sizes` has how many each message held.
It keeps reCAPTCHA tokens when the gateway asks (`token_pool`, the userscript's rules:
worker_token_pool.py; `token_pool=False`: an older script, whose hello does not offer it).
A job with `redirect: "manual"` meets a 3xx as fetch does: a status 0 with response_type
"opaqueredirect" and no headers or body; `prepare_only` answers the prepared body and fetches
nothing; `navigate` loads another page (following its redirects) and connects again from there.
The tab's requests carry a browser User-Agent, as a tab's do.
"""

from __future__ import annotations

import asyncio
import base64
import codecs
import json
import logging
import re
import uuid
from collections.abc import Awaitable, Callable
from html.parser import HTMLParser
from types import TracebackType
from typing import Any, Literal
from urllib.parse import quote, urljoin, urlsplit

import httpx

from lmarenarev import __version__
from testkit.fakes.worker_token_pool import TokenPool
from testkit.fakes.worker_transport import (
    PROTOCOL,
    Frame,
    PollTransport,
    SocketTransport,
    Transport,
    WorkerRejected,
    backoff,
)

__all__ = ["NAVIGATED_AWAY", "FakeWorker", "WorkerRejected", "script_srcs"]

log = logging.getLogger(__name__)

NAVIGATED_AWAY = "page navigated away"
MAX_SCRIPT_SRCS = 100
# Names a page's fetch() may not set (Fetch standard "forbidden request-header names").
FORBIDDEN_REQUEST_HEADERS = frozenset(
    {
        "accept-charset", "accept-encoding", "access-control-request-headers",
        "access-control-request-method", "connection", "content-length", "cookie", "cookie2",
        "date", "dnt", "expect", "host", "keep-alive", "origin", "referer", "te", "trailer",
        "transfer-encoding", "upgrade", "via",
    }
)  # fmt: skip
FORBIDDEN_REQUEST_PREFIXES = ("proxy-", "sec-")
HIDDEN_RESPONSE_HEADERS = frozenset({"set-cookie", "set-cookie2"})
BROWSER_USER_AGENT = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/150.0.0.0 Safari/537.36"
)


class _ScriptSrcs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.srcs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        src = dict(attrs).get("src")
        if tag == "script" and src:
            self.srcs.append(src)


def script_srcs(html: str, base_url: str) -> list[str]:
    """Absolute `src` of the page's `<script>` elements, like `HTMLScriptElement.src`."""
    parser = _ScriptSrcs()
    parser.feed(html)
    return [urljoin(base_url, src) for src in parser.srcs[:MAX_SCRIPT_SRCS]]


class FakeWorker:
    """One fake LMArena tab running the bridge userscript."""

    def __init__(
        self,
        gateway_url: str,
        token: str,
        arena_url: str,
        *,
        origin: str = "https://lmarena.ai",
        capacity: int = 6,
        tab: str | None = None,
        transport: Literal["ws", "poll"] = "ws",
        verify_tls: bool = False,
        chunk_delay: float = 0.0,
        reconnect: bool = False,
        start_timeout: float = 5.0,
        http2: bool = False,
        batches: bool = True,
        token_pool: bool = True,
    ) -> None:
        self.gateway_url = gateway_url.rstrip("/")
        self.token = token
        self.arena_url = arena_url.rstrip("/")
        self.origin = origin
        self.capacity = capacity
        self.tab = tab or uuid.uuid4().hex
        self.transport = transport
        self.verify_tls = verify_tls
        self.chunk_delay = chunk_delay
        self.reconnect = reconnect  # reconnect like the userscript after the gateway drops us
        self.start_timeout = start_timeout
        self.http2 = http2  # speak HTTP/2 to the arena (needs https and the `h2` package)
        self.batches = batches  # take the gateway's frames in arrays, as the userscript does
        self.token_pool = token_pool  # offer to keep tokens, as the userscript does
        self.tokens = TokenPool(self._mint_recaptcha, self._report_tokens)
        self.script_version = __version__

        self.respond_to_pings = True
        self.jobs_seen: list[Frame] = []
        self.aborted: set[str] = set()
        self.pings = 0
        self.reloads = 0
        self.capture_pattern: re.Pattern[str] | None = None  # armed by `capture_ids`
        self.received: list[Frame] = []  # every gateway → worker frame
        self.sent: list[Frame] = []  # every worker → gateway frame, hello included
        self.worker_id: str | None = None
        self.page_url = f"{self.arena_url}/?mode=direct"
        self.navigations: list[str] = []  # URLs the gateway sent this tab to (`navigate`)
        self.page_status: int | None = None
        self.script_srcs: list[str] = []
        self.close_code: int | None = None
        self.close_reason = ""
        self.disconnected = asyncio.Event()

        self._arena: httpx.AsyncClient | None = None
        self._link: Transport | None = None
        self._welcomed = asyncio.Event()
        self._jobs: dict[str, asyncio.Task[None]] = {}
        self._background: set[asyncio.Task[None]] = set()
        self._stopped = False

    # -- lifecycle --------------------------------------------------------------------------

    @property
    def message_sizes(self) -> list[int]:
        """Frames per gateway → worker WebSocket message on the current connection."""
        link = self._link
        return link.message_sizes if isinstance(link, SocketTransport) else []

    @property
    def connected(self) -> bool:
        return self._link is not None and self._welcomed.is_set()

    @property
    def running_jobs(self) -> set[str]:
        return set(self._jobs)

    async def start(self) -> None:
        """Open the page, connect, send `hello` and wait for `welcome`."""
        self._stopped = False
        self._arena = httpx.AsyncClient(
            verify=self.verify_tls,
            http2=self.http2,
            trust_env=False,
            follow_redirects=True,
            timeout=httpx.Timeout(None, connect=10.0),  # fetch() has no read timeout
            headers={"User-Agent": BROWSER_USER_AGENT},
        )
        try:
            await self._load_page()
            await self._connect()
        except BaseException:
            self._stopped = True
            await self._arena.aclose()
            raise

    async def stop(self) -> None:
        """Close the tab: running jobs get "page navigated away", then the connection closes."""
        if self._stopped:
            return
        self._stopped = True
        await self._leave_page()
        await self.tokens.close()
        await self._cancel_background()
        if self._arena is not None:
            await self._arena.aclose()

    async def close_abruptly(self) -> None:
        """Crash the tab: the socket is dropped without a close handshake and nothing is sent."""
        self._stopped = True
        link, self._link = self._link, None
        await self._cancel_jobs()
        if link is not None:
            await link.drop()
        await self.tokens.close()
        await self._cancel_background()
        if self._arena is not None:
            await self._arena.aclose()

    async def __aenter__(self) -> FakeWorker:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def wait_until(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        """Wait (polling) until `predicate()` holds; raise TimeoutError after `timeout`."""
        async with asyncio.timeout(timeout):
            while not predicate():
                await asyncio.sleep(0.005)

    def frames_for(self, job: str) -> list[Frame]:
        """The frames this worker sent for `job`, in order."""
        return [frame for frame in self.sent if frame.get("job") == job]

    # -- page and connection ----------------------------------------------------------------

    async def _load_page(self, url: str | None = None) -> None:
        assert self._arena is not None
        response = await self._arena.get(url or f"{self.arena_url}/?mode=direct")
        self.page_url = str(response.url)
        self.page_status = response.status_code
        is_html = "html" in response.headers.get("content-type", "")
        self.script_srcs = script_srcs(response.text, self.page_url) if is_html else []

    def _hello(self) -> Frame:
        return {
            "type": "hello",
            "protocol": PROTOCOL,
            "script_version": self.script_version,
            "page_url": self.page_url,
            "tab": self.tab,
            "capacity": self.capacity,
            "script_srcs": self.script_srcs,
            "batches": self.batches,
            "token_pool": self.token_pool,
            "navigate": True,
        }

    def _new_transport(self) -> Transport:
        if self.transport == "poll":
            return PollTransport(
                self.gateway_url, self.token, self.verify_tls, self._on_frame, self._on_lost
            )
        scheme, rest = self.gateway_url.split(":", 1)
        ws_scheme = "wss" if scheme == "https" else "ws"
        url = f"{ws_scheme}:{rest}/ws?token={quote(self.token, safe='')}"
        return SocketTransport(url, self.origin, self.verify_tls, self._on_frame, self._on_lost)

    async def _connect(self) -> None:
        self._welcomed = asyncio.Event()
        self.disconnected = asyncio.Event()
        self.close_code, self.close_reason = None, ""
        link = self._new_transport()
        self._link = link
        hello = self._hello()
        try:
            await asyncio.wait_for(link.open(hello), self.start_timeout)
            self.sent.append(hello)
            await self._await_welcome()
        except BaseException:
            self._link = None
            await link.drop()
            raise

    async def _await_welcome(self) -> None:
        welcomed = asyncio.create_task(self._welcomed.wait())
        lost = asyncio.create_task(self.disconnected.wait())
        try:
            await asyncio.wait(
                {welcomed, lost}, timeout=self.start_timeout, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            welcomed.cancel()
            lost.cancel()
        if not self._welcomed.is_set():
            if self.disconnected.is_set():
                raise WorkerRejected(self.close_code, self.close_reason)
            raise TimeoutError(f"no welcome within {self.start_timeout} s")

    def _on_lost(self, code: int | None, reason: str) -> None:
        """The gateway side went away (closed socket, unknown worker): what a tab would notice."""
        self.close_code, self.close_reason = code, reason
        link, self._link = self._link, None
        self.capture_pattern = None
        self.tokens.configure(None)  # the next gateway says again whether to keep tokens
        self.disconnected.set()
        if link is not None:
            self._spawn(link.drop())
        for task in self._jobs.values():  # their frames would be dropped by the gateway
            task.cancel()
        if self.reconnect and not self._stopped:
            self._spawn(self._reconnect_loop())

    async def _reconnect_loop(self) -> None:
        attempt = 0
        while not self._stopped and self._link is None:
            attempt += 1
            await asyncio.sleep(backoff(attempt))
            try:
                await self._connect()
            except (OSError, WorkerRejected, TimeoutError, httpx.HTTPError) as exc:
                log.info("fake worker %s: reconnect failed: %r", self.tab, exc)

    async def page_request(self, url: str, *, method: str = "PUT", body: str | None = None) -> bool:
        """The page itself made a request (the user clicked Retry, sent a message): report it
        like the userscript's fetch wrapper when capture is armed and the URL matches."""
        absolute = urljoin(self.page_url, url)
        if self.capture_pattern is None or not self.capture_pattern.search(absolute):
            return False
        await self._send({"type": "captured", "url": absolute, "method": method, "body": body})
        return True

    async def browse(self, method: str, url: str, body: Any = None) -> httpx.Response:
        """The person at the tab does something on the page (e.g. signs in): a request from
        the page, with its cookies (kept for the tab's jobs)."""
        assert self._arena is not None
        content = None if body is None else json.dumps(body)
        headers = self._request_headers(method, {"Content-Type": "application/json"}, content)
        return await self._arena.request(method, urljoin(self.page_url, url), headers=headers,
                                         content=content)

    async def _leave_page(self) -> None:
        """pagehide: report running jobs as failed, then close the connection."""
        self.capture_pattern = None
        self.tokens.drop()  # minted for this page
        running = list(self._jobs)
        await self._cancel_jobs()
        for job in running:
            await self._send({"type": "error", "job": job, "message": NAVIGATED_AWAY})
        link, self._link = self._link, None
        if link is not None:
            await link.close()

    async def _reload(self, url: str | None = None) -> None:
        await self._leave_page()
        try:
            await self._load_page(url or self.page_url)
            await self._connect()
        except (OSError, WorkerRejected, TimeoutError, httpx.HTTPError) as exc:
            log.warning("fake worker %s: reconnect after reload failed: %r", self.tab, exc)

    # -- frames -----------------------------------------------------------------------------

    async def _send(self, frame: Frame) -> None:
        link = self._link
        if link is None:
            return
        self.sent.append(frame)
        await link.send(frame)

    async def _on_frame(self, frame: Frame) -> None:
        if not isinstance(frame, dict):
            return
        self.received.append(frame)
        kind = frame.get("type")
        if kind == "welcome":
            self.worker_id = frame.get("worker")
            self._welcomed.set()
        elif kind == "fetch":
            self._start_job(frame)
        elif kind == "abort":
            self._abort_job(str(frame.get("job")))
        elif kind == "ping":
            self.pings += 1
            if self.respond_to_pings:
                await self._send({"type": "pong", "t": frame.get("t")})
        elif kind == "reload":
            self.reloads += 1
            self._spawn(self._reload())
        elif kind == "navigate" and isinstance(frame.get("url"), str):
            self.navigations.append(frame["url"])
            self._spawn(self._reload(urljoin(self.page_url, frame["url"])))
        elif kind == "capture_ids":
            self.capture_pattern = re.compile(str(frame.get("match") or ""))
        elif kind == "capture_cancel":
            self.capture_pattern = None
        elif kind == "token_pool":
            self.tokens.configure(frame)
        elif kind == "token_pool_drop":
            self.tokens.drop()

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _cancel_background(self) -> None:
        tasks = [t for t in self._background if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- jobs -------------------------------------------------------------------------------

    def _start_job(self, frame: Frame) -> None:
        self.jobs_seen.append(frame)
        job = frame.get("job")
        if not isinstance(job, str) or job in self._jobs:
            return
        task = asyncio.create_task(self._run_job(job, frame))
        self._jobs[job] = task
        task.add_done_callback(lambda done: self._forget_job(job, done))

    def _forget_job(self, job: str, task: asyncio.Task[None]) -> None:
        if self._jobs.get(job) is task:
            del self._jobs[job]

    def _abort_job(self, job: str) -> None:
        self.aborted.add(job)
        task = self._jobs.pop(job, None)
        if task is not None:
            task.cancel()

    async def _cancel_jobs(self) -> None:
        tasks = list(self._jobs.values())
        self._jobs.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _run_job(self, job: str, frame: Frame) -> None:
        recaptcha = frame.get("recaptcha")
        use = None  # (a pooled token or None, "hit" | "miss" | None) when it needs a token
        if isinstance(recaptcha, dict):
            use = self.tokens.take(str(recaptcha.get("site_key")), str(recaptcha.get("action")))
        try:
            await self._fetch(job, frame, use)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug here must reach the gateway, not vanish in a task
            log.exception("fake worker job %s failed", job)
            await self._send({"type": "error", "job": job, "message": f"fake worker: {exc!r}"})
        finally:
            if use is not None:
                self.tokens.done()

    def _report_tokens(self, expired: int, dropped: int) -> None:
        frame = {"type": "token_pool_report", "expired": expired, "dropped": dropped}
        self._spawn(self._send(frame))

    async def _fetch(self, job: str, frame: Frame,
                     use: tuple[str | None, str | None] | None) -> None:
        assert self._arena is not None
        token, pool = use or (None, None)
        said: Frame = {"pool": pool} if pool else {}  # the job's first answer tells the gateway
        body: str | bytes | None = frame.get("body")
        if isinstance(frame.get("body_base64"), str):  # binary upload; `credentials` is not
            body = base64.b64decode(frame["body_base64"])  # emulated (the fake is same-origin)
        recaptcha = frame.get("recaptcha")
        if recaptcha:
            try:
                body = await self._inject_recaptcha(body if isinstance(body, str) else None,
                                                    recaptcha, token)
            except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
                message = f"reCAPTCHA could not be minted: {exc}"
                await self._send({"type": "error", "job": job, "message": message, **said})
                return
        if frame.get("prepare_only"):  # the body the request would carry; nothing fetched
            await self._send({"type": "status", "job": job, "http_status": 200, "headers": {}})
            seq = await self._chunk(job, 0, body if isinstance(body, str) else "")
            await self._send({"type": "done", "job": job, "seq": seq})
            return
        method = str(frame.get("method") or "GET")
        manual = frame.get("redirect") == "manual"
        http_status: int | None = None
        try:
            async with self._arena.stream(
                method,
                urljoin(self.page_url, str(frame.get("url"))),
                headers=self._request_headers(method, frame.get("headers"), body),
                content=body,
                follow_redirects=not manual,
            ) as response:
                http_status = response.status_code
                if manual and response.is_redirect:  # fetch's opaque redirect: nothing readable
                    opaque = {"type": "status", "job": job, "http_status": 0, "headers": {}}
                    await self._send({**opaque, "response_type": "opaqueredirect"})
                    await self._send({"type": "done", "job": job, "seq": 0})
                    return
                headers = _visible_headers(response.headers)
                status = {"type": "status", "job": job, "http_status": http_status, **said}
                await self._send({**status, "headers": headers})
                seq = await self._stream_body(job, response)
        except httpx.HTTPError as exc:
            error: Frame = {"type": "error", "job": job, "message": f"network error: {exc!r}"}
            if http_status is not None:
                error["http_status"] = http_status
            await self._send(error)
            return
        await self._send({"type": "done", "job": job, "seq": seq})

    async def _stream_body(self, job: str, response: httpx.Response) -> int:
        # TextDecoder('utf-8') with {stream: true}: split sequences carry over, a BOM is dropped,
        # invalid bytes become U+FFFD.
        decoder = codecs.getincrementaldecoder("utf-8-sig")(errors="replace")
        seq = 0
        async for raw in response.aiter_bytes():
            seq = await self._chunk(job, seq, decoder.decode(raw))
        return await self._chunk(job, seq, decoder.decode(b"", final=True))

    async def _chunk(self, job: str, seq: int, data: str) -> int:
        if not data:
            return seq
        if self.chunk_delay:
            await asyncio.sleep(self.chunk_delay)
        await self._send({"type": "chunk", "job": job, "seq": seq, "data": data})
        return seq + 1

    def _request_headers(
        self, method: str, given: Any, body: str | bytes | None
    ) -> dict[str, str]:
        headers = {
            str(name): str(value)
            for name, value in (given or {}).items()
            if not _forbidden_request_header(str(name))
        }
        names = {name.lower() for name in headers}
        if body is not None and "content-type" not in names:
            headers["content-type"] = "text/plain;charset=UTF-8"
        if method.upper() not in ("GET", "HEAD"):
            page = urlsplit(self.page_url)
            headers["origin"] = f"{page.scheme}://{page.netloc}"
        headers["referer"] = self.page_url
        return headers

    async def _inject_recaptcha(self, body: str | None, recaptcha: dict[str, Any],
                                pooled: str | None) -> str:
        token = pooled or await self._mint_recaptcha(str(recaptcha["site_key"]),
                                                     str(recaptcha["action"]))
        data = json.loads(body) if body else {}
        if not isinstance(data, dict):
            raise ValueError("body is not a JSON object")
        data[str(recaptcha["body_field"])] = token
        return json.dumps(data, ensure_ascii=False, separators=(",", ":"))

    async def _mint_recaptcha(self, site_key: str, action: str) -> str:
        """What the fake page's `grecaptcha.enterprise.execute(site_key, {action})` does."""
        assert self._arena is not None
        response = await self._arena.post(
            urljoin(self.page_url, "/__fake/recaptcha/execute"),
            json={"site_key": site_key, "action": action},
            timeout=10.0,
        )
        response.raise_for_status()
        token = response.json().get("token")
        if not isinstance(token, str) or not token:
            raise ValueError("grecaptcha.execute returned no token")
        return token


def _forbidden_request_header(name: str) -> bool:
    lower = name.lower()
    return lower in FORBIDDEN_REQUEST_HEADERS or lower.startswith(FORBIDDEN_REQUEST_PREFIXES)


def _visible_headers(headers: httpx.Headers) -> dict[str, str]:
    """`Response.headers` as a page sees them: lower-case, repeats joined, no Set-Cookie."""
    return {name: value for name, value in headers.items() if name not in HIDDEN_RESPONSE_HEADERS}
