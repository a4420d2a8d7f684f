"""`/monitor` and its JSON: stats, active requests, workers, the request log, one request,
performance; the live channel (`/api/monitor/events`); `/metrics`, `/health`'s sibling `/ready`.

Every path but `/ready` is an admin path (`auth.ADMIN_PREFIXES`): the access middleware checks
the admin key before these routes run. `/monitor` itself is a page shell without data
(`auth.ADMIN_SHELL_PATHS`); its script sends the key with every call.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any

import jinja2
from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from fastapi.templating import Jinja2Templates

from ..arena.account import state_name
from ..errors import GatewayError
from ..gateway import Gateway
from ..monitor import page
from ..monitor import stats as summaries
from ..monitor.metrics import CONTENT_TYPE
from ..monitor.observe import RequestWatch
from ..monitor.schema import (
    ActiveRequest,
    ActiveRequests,
    ErrorKindCount,
    ErrorLogQuery,
    LogQuery,
    ManagedBrowserInfo,
    ModelStats,
    Readiness,
    RequestDetail,
    RequestLogEntry,
    RequestPage,
    Stats,
    StatsQuery,
    Totals,
    UpdateInfo,
    WorkerInfo,
    Workers,
)
from ..monitor.service import Monitoring
from ..monitor.status import managed_workers
from ..openai_schema import ErrorResponse
from ..store import queries
from ..store.queries import RequestFilter
from ..store.records import RequestRow

router = APIRouter(tags=["monitor"])
_StatsRead = tuple[
    list[summaries.StatRow], list[ErrorKindCount], dict[str, list[ErrorKindCount]]
]
MONITOR_DIR = Path(__file__).resolve().parent.parent / "monitor"
STATIC_URL = "/static/monitor"
LIVE_STREAM_SECONDS = 10.0  # then the page reconnects: a stream never holds up a shutdown long
LIVE_TICK_SECONDS = 5.0
LIVE_MIN_GAP_SECONDS = 0.5
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorResponse, "description": "No request with this id in the log"}
}


class RequestNotFound(GatewayError):
    status = 404
    type = "invalid_request_error"
    code = "request_not_found"


def _gateway(request: Request) -> Gateway:
    gateway: Gateway = request.app.state.gateway
    return gateway


def _monitoring(request: Request) -> Monitoring:
    return _gateway(request).monitoring


def templates() -> Jinja2Templates:
    """Autoescaping on: whatever a template is given is shown as text."""
    loader = jinja2.FileSystemLoader(MONITOR_DIR / "templates")
    return Jinja2Templates(env=jinja2.Environment(loader=loader, autoescape=True))


# --- the page -----------------------------------------------------------------------------------


@router.get("/monitor", response_class=HTMLResponse, include_in_schema=False)
async def monitor_page(request: Request) -> Response:
    gateway = _gateway(request)
    response = request.app.state.templates.TemplateResponse(
        request,
        "monitor.html",
        page.context(STATIC_URL, gateway.version),
    )
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    return response  # type: ignore[no-any-return]


# --- JSON ---------------------------------------------------------------------------------------


@router.get("/api/monitor/stats", response_model=Stats)
async def monitor_stats(request: Request, query: Annotated[StatsQuery, Query()]) -> Stats:
    gateway = _gateway(request)
    monitoring = gateway.monitoring
    hours = query.hours
    since = time.time() - hours * 3600 if hours > 0 else None

    def read(conn: sqlite3.Connection) -> _StatsRead:
        rows = [summaries.StatRow(*row) for row in queries.stats_rows(conn, since)]
        kinds = [ErrorKindCount(kind=k, count=n) for k, n in queries.error_kinds(conn, since)]
        by_model: dict[str, list[ErrorKindCount]] = {}
        for model, kind, count in queries.error_kinds_by_model(conn, since):
            by_model.setdefault(model, []).append(ErrorKindCount(kind=kind, count=count))
        return rows, kinds, by_model

    nothing: _StatsRead = ([], [], {})
    rows, kinds, by_model = await monitoring.read(read, nothing)
    update = gateway.ops.update
    return Stats(
        version=gateway.version,
        started_at=monitoring.started_at,
        uptime_seconds=time.time() - monitoring.started_at,
        window_hours=hours,
        active_requests=len(monitoring.observer.active),
        workers=len(gateway.pool.workers),
        totals=Totals.model_validate(summaries.summarize(rows), from_attributes=True),
        models=[
            ModelStats.model_validate(
                {"model": model, **_fields(summary), "error_kinds": by_model.get(model, [])}
            )
            for model, summary in summaries.per_model(rows)
        ],
        error_kinds=kinds,
        update=UpdateInfo(latest=update.latest, notice=update.notice) if update.notice else None,
    )


def _fields(summary: summaries.Summary) -> dict[str, object]:
    return {name: getattr(summary, name) for name in summaries.Summary.__slots__}


@router.get("/api/monitor/active", response_model=ActiveRequests)
async def monitor_active(request: Request) -> ActiveRequests:
    return ActiveRequests(requests=active_requests(_monitoring(request)))


def active_requests(monitoring: Monitoring) -> list[ActiveRequest]:
    observer = monitoring.observer
    now = observer.clock()
    watches = sorted(list(observer.active.values()), key=lambda w: w.started_mono)
    return [_active(watch, now) for watch in watches]


def _active(watch: RequestWatch, now: float) -> ActiveRequest:
    start, worker = watch.start, watch.worker_id
    first = watch.first_token_at
    return ActiveRequest(
        id=start.id,
        model=start.model,
        key_name=start.key_name,
        stream=start.stream,
        call=start.call,
        conversation=start.conversation,
        started_at=watch.started_at,
        elapsed_ms=(now - watch.started_mono) * 1000,
        first_token_ms=None if first is None else (first - watch.started_mono) * 1000,
        worker_id=worker,
        attempts=watch.attempts,
        phase="waiting" if worker is None else "running" if first is None else "streaming",
    )


@router.get("/api/monitor/workers", response_model=Workers)
async def monitor_workers(request: Request) -> Workers:
    gateway = _gateway(request)
    browser = gateway.browser
    return Workers(
        workers=workers(gateway),
        browser=None if browser is None else ManagedBrowserInfo.model_validate(browser.snapshot()),
    )


def workers(gateway: Gateway) -> list[WorkerInfo]:
    pool = gateway.pool
    now = pool.clock()
    silent_after = 2 * pool.ping_interval
    managed = managed_workers(gateway)
    return [
        WorkerInfo(
            id=w.id,
            transport=w.link.kind,
            page_url=w.hello.page_url,
            script_version=w.hello.script_version,
            tab=w.hello.tab,
            connected_seconds=now - w.connected_at,
            last_seen_seconds=now - w.last_seen,
            jobs=len(w.jobs),
            capacity=w.capacity,
            load=w.load,
            health="reloading" if w.reloading
            else "silent" if now - w.last_seen > silent_after
            else "resting" if w.cooled_until > now
            else "ready",
            managed=w.id in managed,
            account=state_name(w.account.logged_in),
            pulse=w.account.pulse,
        )
        for w in list(pool.workers.values())
    ]


async def _page(
    monitoring: Monitoring, where: RequestFilter, limit: int, offset: int
) -> RequestPage:
    def read(conn: sqlite3.Connection) -> tuple[int, list[RequestRow]]:
        total = queries.count_requests(conn, where)
        return total, queries.list_requests(conn, where, limit=limit, offset=offset)

    nothing: tuple[int, list[RequestRow]] = (0, [])
    total, rows = await monitoring.read(read, nothing)
    entries = [RequestLogEntry.model_validate(row) for row in rows]
    return RequestPage(total=total, limit=limit, offset=offset, requests=entries)


@router.get("/api/monitor/logs/requests", response_model=RequestPage)
async def monitor_requests(request: Request, query: Annotated[LogQuery, Query()]) -> RequestPage:
    where = RequestFilter(
        q=query.q,
        model=query.model or None,
        status=None if query.status == "all" else query.status,
        key_name=query.key or None,
    )
    return await _page(_monitoring(request), where, query.limit, query.offset)


@router.get("/api/monitor/logs/errors", response_model=RequestPage)
async def monitor_errors(request: Request, query: Annotated[ErrorLogQuery, Query()]) -> RequestPage:
    where = RequestFilter(q=query.q, model=query.model or None, errors_only=True)
    return await _page(_monitoring(request), where, query.limit, query.offset)


@router.get("/api/request/{request_id}", response_model=RequestDetail, responses=_NOT_FOUND)
async def request_detail(request: Request, request_id: str) -> RequestDetail:
    def read(conn: sqlite3.Connection) -> RequestDetail | None:
        row = queries.get_request(conn, request_id)
        if row is None:
            return None
        return RequestDetail.model_validate({**row, "bodies": queries.get_bodies(conn, request_id)})

    detail = await _monitoring(request).read(read, None)
    if detail is None:
        raise RequestNotFound(f"no request {request_id[:100]!r} in the request log")
    return detail


# --- live ---------------------------------------------------------------------------------------


@router.get("/api/monitor/events", include_in_schema=False)
async def monitor_events(request: Request) -> StreamingResponse:
    """Server-sent events: `change` with the active requests whenever a request starts or ends
    (at most every 0.5 s) and every 5 s; after 10 s `reconnect`, and the stream ends. The page
    reads it with `fetch` (so the admin key goes in a header, never in the URL)."""
    gateway = _gateway(request)
    return StreamingResponse(
        _live(gateway),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _live(gateway: Gateway) -> AsyncIterator[bytes]:
    loop = asyncio.get_running_loop()
    changes = gateway.monitoring.observer.changes
    deadline = loop.time() + LIVE_STREAM_SECONDS
    seen = -1
    yield b"retry: 1000\n\n"
    while (remaining := deadline - loop.time()) > 0:
        version = await changes.wait(seen, min(LIVE_TICK_SECONDS, remaining))
        seen = version
        yield _event("change", _snapshot(gateway, version))
        await asyncio.sleep(LIVE_MIN_GAP_SECONDS)
    yield _event("reconnect", {})


def _snapshot(gateway: Gateway, version: int) -> dict[str, object]:
    active = active_requests(gateway.monitoring)
    return {
        "version": version,
        "active": [item.model_dump() for item in active],
        "workers": len(gateway.pool.workers),
    }


def _event(name: str, data: object) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


# --- scraping and probes --------------------------------------------------------------------------


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format"}},
)
async def metrics(request: Request) -> Response:
    body = _monitoring(request).metrics.render()
    return Response(body, media_type=CONTENT_TYPE)


@router.get(
    "/ready",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "No worker tab is connected"}},
    tags=["probes"],
)
async def ready(request: Request) -> Response:
    count = len(_gateway(request).pool.workers)
    answer = Readiness(status="ready" if count else "not_ready", workers=count)
    return JSONResponse(answer.model_dump(), status_code=200 if count else 503)
