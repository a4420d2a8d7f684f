"""Arming id capture in the worker tabs and waiting for the page's own request (§6.4).

`IdCapture.wait` arms every connected tab (`capture_ids`: the userscript reports the page's own
requests to the stream routes and shows 🎯 in the title), returns the first request that carries
ids (`arena.capture.extract_ids`), and disarms every tab (`capture_cancel`) however it ends. A
tab that connects while capture is armed is armed too. One capture at a time.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from ..arena.capture import CAPTURE_URL_PATTERN, CapturedIds, Mode, Target, extract_ids
from ..errors import GatewayError, NoWorker
from ..workers.pool import Worker, WorkerPool
from ..workers.protocol import CapturedFrame, capture_cancel_frame, capture_frame

log = logging.getLogger(__name__)

Spawn = Callable[[Coroutine[Any, Any, None]], None]


class NothingCaptured(GatewayError):
    status = 408
    type = "timeout_error"
    code = "nothing_captured"


class CaptureBusy(GatewayError):
    status = 409
    type = "invalid_request_error"
    code = "capture_in_progress"


@dataclass(frozen=True, slots=True)
class Captured:
    ids: CapturedIds
    page_url: str
    request_url: str


@dataclass
class _Armed:
    mode: Mode
    target: Target
    result: asyncio.Future[Captured]
    workers: set[str] = field(default_factory=set)


class IdCapture:
    def __init__(self) -> None:
        self.armed: _Armed | None = None

    async def wait(
        self, pool: WorkerPool, mode: Mode, target: Target, timeout: float, version: str
    ) -> Captured:
        workers = [w for w in pool.workers.values() if not w.reloading]
        if not workers:
            raise NoWorker(
                "no LMArena tab is connected: open https://arena.ai/text/direct in the browser "
                "with the lmarenarev userscript (its title starts with ✅), then run capture-ids "
                "again"
            )
        if self.armed is not None:
            raise CaptureBusy("another capture-ids is already waiting; let it finish first")
        armed = _Armed(mode, target, asyncio.get_running_loop().create_future())
        self.armed = armed
        try:
            for worker in workers:
                await self.arm(pool, worker)
            async with asyncio.timeout(timeout):
                return await armed.result
        except TimeoutError:
            raise NothingCaptured(self._nothing_message(workers, timeout, version)) from None
        finally:
            self.armed = None
            for worker_id in list(armed.workers):
                still = pool.workers.get(worker_id)
                if still is not None:
                    await pool.send(still, capture_cancel_frame())

    async def arm(self, pool: WorkerPool, worker: Worker) -> None:
        armed = self.armed
        if armed is None or worker.id in armed.workers:
            return
        armed.workers.add(worker.id)
        await pool.send(worker, capture_frame(CAPTURE_URL_PATTERN))
        log.info("id capture armed in %s", worker.describe())

    def on_connect(self, pool: WorkerPool, worker: Worker, spawn: Spawn) -> None:
        if self.armed is not None:
            spawn(self.arm(pool, worker))

    def on_captured(self, worker: Worker, frame: CapturedFrame) -> None:
        armed = self.armed
        if armed is None or worker.id not in armed.workers or armed.result.done():
            return
        ids = extract_ids(frame.url, frame.body, mode=armed.mode, target=armed.target)
        path = urlsplit(frame.url).path
        if ids is None:
            log.info("id capture: %s %s carries no ids the legacy flow can use", frame.method, path)
            return
        log.info("id capture: session %s, message %s from %s %s",
                 ids.session_id, ids.message_id, frame.method, path)
        armed.result.set_result(Captured(ids, worker.hello.page_url, frame.url))

    @staticmethod
    def _nothing_message(workers: list[Worker], timeout: float, version: str) -> str:
        message = (
            f"nothing was captured within {timeout:g} s. In the LMArena tab whose title shows 🎯, "
            "click Retry under an answer (battle mode: under the answer of the side you chose), "
            "while capture-ids is waiting"
        )
        old = sorted({w.hello.script_version for w in workers} - {version})
        if old:
            message += (
                f". Tabs running an older userscript ({', '.join(old)}) cannot capture: reload "
                "them (the userscript manager updates the script) or reinstall it"
            )
        return message
