"""One request/response job on a worker: its status and whole body (for pages, not streams).

The relay streams chat replies; this is for everything the gateway needs read in full through a
tab, like the app page that holds the model catalogue. A non-2xx answer is classified once, by
`arena.errors`, like every other upstream failure.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from ..arena.errors import classify_http
from ..errors import Timeout, UpstreamFailure, WorkerLost
from .jobs import Data, End, Failed, Lost, Signal, Status
from .mailbox import Mailbox
from .pool import Worker, WorkerPool
from .protocol import fetch_frame

PAGE_BODY_LIMIT = 32 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class PageResponse:
    http_status: int
    headers: dict[str, str]
    body: str
    worker_id: str = ""  # the tab that fetched it
    response_type: str = "basic"


async def fetch_through_worker(
    pool: WorkerPool,
    url: str,
    *,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    body: str | None = None,
    wait: float = 0.0,
    timeout: float = 60.0,
    limit: int = PAGE_BODY_LIMIT,
    body_base64: str | None = None,
    credentials: str | None = None,
    worker: Worker | None = None,
    check: bool = True,
    recaptcha: dict[str, str] | None = None,
    prepare_only: bool = False,
    redirect: str | None = None,
) -> PageResponse:
    """`fetch(url)` in the least-loaded tab (or in `worker`); raises `NoWorker`, `WorkerLost`,
    `Timeout` or, for a non-2xx answer with `check`, the classified `UpstreamFailure`.
    `body_base64` sends bytes; `recaptcha` + `prepare_only` mint a token and answer the body
    the request would have carried, fetching nothing (protocol.fetch_frame)."""
    if worker is None:
        worker = await pool.acquire(wait)
    job = pool.start_job(worker)
    frame = fetch_frame(
        job.id,
        url=url,
        method=method,
        headers=headers or {},
        body=body,
        recaptcha=recaptcha,
        body_base64=body_base64,
        credentials=credentials,
        prepare_only=prepare_only,
        redirect=redirect,
    )
    try:
        if not await pool.send(worker, frame):
            job.lose("the worker's connection failed")
        async with asyncio.timeout(timeout):
            status = await _status(job.signals)
            text = await _body(job.signals, limit)
    except TimeoutError:
        raise Timeout(f"the LMArena tab did not fetch {url} within {timeout:g} s") from None
    finally:
        await pool.release(job, abort=not job.finished)
    if check:
        problem = classify_http(status.http_status, status.headers, text, status.response_type)
        if problem is not None:
            raise problem.to_error()
    return PageResponse(status.http_status, status.headers, text, worker.id, status.response_type)


async def _status(signals: Mailbox[Signal]) -> Status:
    signal = await signals.get()
    if isinstance(signal, Status):
        return signal
    raise _failure(signal)


async def _body(signals: Mailbox[Signal], limit: int) -> str:
    parts: list[str] = []
    size = 0
    while True:
        signal = await signals.get()
        if isinstance(signal, End):
            return "".join(parts)
        if not isinstance(signal, Data):
            raise _failure(signal)
        size += len(signal.text)
        if size > limit:
            raise UpstreamFailure(f"the page is larger than {limit} characters")
        parts.append(signal.text)


def _failure(signal: Signal | None) -> Exception:
    if isinstance(signal, Lost):
        return WorkerLost(f"the LMArena tab went away: {signal.reason}")
    if isinstance(signal, Failed):
        return UpstreamFailure(f"the LMArena tab could not fetch: {signal.message}")
    return UpstreamFailure(f"unexpected reply from the worker: {signal!r}")
