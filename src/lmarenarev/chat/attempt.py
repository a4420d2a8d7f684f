"""The pieces of one relay attempt that need no relay: the frame a stream job is sent as, the
exception a failed attempt raises, and what a worker's failure signal means."""

from __future__ import annotations

from typing import NoReturn

from ..arena.errors import Kind, UpstreamProblem
from ..arena.first_output import first_output_rule
from ..arena.page import recaptcha_site_key
from ..arena.requests import UpstreamRequest
from ..errors import GatewayError, UpstreamFailure, WorkerLost
from ..workers.jobs import Failed, Lost, Signal
from ..workers.pool import Worker
from ..workers.protocol import fetch_frame


def utf8_size(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


class Retryable(Exception):
    """An attempt failed before the client saw any of it (so another attempt may follow)."""

    def __init__(self, problem: UpstreamProblem | None, final: GatewayError) -> None:
        super().__init__(final.message)
        self.problem = problem  # None: the worker failed, not LMArena
        self.final = final
        self.worker: Worker | None = None


def server_error(failure: Retryable) -> bool:
    return failure.problem is not None and failure.problem.kind is Kind.SERVER_ERROR


def stream_job(
    job_id: str, worker: Worker, request: UpstreamRequest, site_key: str
) -> dict[str, object]:
    """The `fetch` frame of a stream request: the token minted with the configured key, else
    the one the tab's page names, else the built-in one (§3.2); the first-output rule; and
    never a followed redirect (§1.1: the 405 trap)."""
    recaptcha = None
    if request.recaptcha is not None:
        recaptcha = request.recaptcha.wire()
        recaptcha["site_key"] = recaptcha_site_key(site_key, worker.recaptcha_site_key)
    return fetch_frame(
        job_id,
        url=request.url,
        method=request.method,
        headers=request.headers,
        body=request.body_text(),
        recaptcha=recaptcha,
        first_output=first_output_rule(),
        redirect="manual",
    )


def worker_failure(signal: Signal) -> NoReturn:
    """A signal that is not LMArena's answer: the tab went away or could not fetch."""
    if isinstance(signal, Lost):
        raise Retryable(None, WorkerLost(f"the LMArena tab went away: {signal.reason}"))
    if isinstance(signal, Failed):
        raise Retryable(
            None, UpstreamFailure(f"the LMArena tab could not fetch: {signal.message}")
        )
    raise Retryable(None, UpstreamFailure(f"unexpected reply from the worker: {signal!r}"))
