"""Background upkeep of a running gateway, started by the app's lifespan.

- the model catalogue is read through a tab when one connects (at most once a minute) and every
  `model_catalog_refresh_minutes` (every minute while no model is offered);
- each tab's LMArena account (logged in? its quota) is asked when it connects and every
  `account_check_minutes` (accounts.py);
- after `idle_restart_timeout_seconds` without requests (`enable_idle_restart`), every worker tab
  is reloaded for a fresh page state (the seed restarted its whole server instead);
- the pool's listeners route page requests to id capture and arm tabs that connect meanwhile;
  a tab that connects is told what reCAPTCHA tokens to keep ready (chat/token_pool.py).
"""

from __future__ import annotations

import asyncio
import logging
import time

from ..chat.token_pool import configure_tab
from ..config.files import load_catalog_file
from ..config.jsonc import ConfigError
from ..errors import GatewayError
from ..gateway import Gateway
from ..workers.pool import Worker
from . import accounts
from .actions import refresh_catalog
from .reload import refresh_models

log = logging.getLogger(__name__)

CONNECT_REFRESH_GAP = 60.0  # several tabs connecting at once read the page once
IDLE_CHECK_MAX = 5.0
CATALOG_CHECK_MAX = 30.0


async def run_upkeep(gw: Gateway) -> None:
    ops = gw.ops
    ops.loop = asyncio.get_running_loop()
    _load_saved_catalog(gw)

    def on_connect(worker: Worker) -> None:
        ops.capture.on_connect(gw.pool, worker, ops.spawn)
        if worker.hello.token_pool:
            ops.spawn(configure_tab(gw.settings, gw.pool, worker))
        attempted = ops.catalog.attempted_at
        due = attempted is None or time.monotonic() - attempted > CONNECT_REFRESH_GAP
        if gw.settings.model_catalog_refresh_minutes > 0 and due:
            ops.spawn(_refresh_quietly(gw))
        accounts.on_connect(gw, worker)

    gw.pool.connect_listeners.append(on_connect)
    gw.pool.capture_listeners.append(ops.capture.on_captured)
    try:
        await asyncio.gather(_catalog_loop(gw), _idle_loop(gw), accounts.accounts_loop(gw))
    finally:
        gw.pool.connect_listeners.remove(on_connect)
        gw.pool.capture_listeners.remove(ops.capture.on_captured)
        for task in list(ops.tasks):
            task.cancel()
        await asyncio.gather(*ops.tasks, return_exceptions=True)


def _load_saved_catalog(gw: Gateway) -> None:
    try:
        gw.ops.catalog.models = load_catalog_file(gw.home)
    except ConfigError as exc:
        log.warning("ignoring available_models.json: %s", exc)
    refresh_models(gw)


async def _refresh_quietly(gw: Gateway) -> None:
    try:
        await refresh_catalog(gw)
    except GatewayError as exc:
        log.warning("could not read LMArena's model list: %s", exc.message)


async def _catalog_loop(gw: Gateway) -> None:
    while True:
        minutes = gw.settings.model_catalog_refresh_minutes
        if minutes <= 0:
            await asyncio.sleep(CATALOG_CHECK_MAX)
            continue
        interval = catalog_interval(minutes, offering=bool(gw.chat.models))
        attempted = gw.ops.catalog.attempted_at
        due = attempted is None or time.monotonic() - attempted >= interval
        if due and gw.pool.workers:
            await _refresh_quietly(gw)
        await asyncio.sleep(min(CATALOG_CHECK_MAX, interval / 4))


def catalog_interval(minutes: float, *, offering: bool) -> float:
    """Seconds between reads of the catalogue: the setting's, or at most a minute while the
    gateway offers no model (no models.json, and the last read failed): a new user's models
    should not wait half an hour for a tab past Cloudflare's check."""
    interval = minutes * 60
    return interval if offering else min(interval, CONNECT_REFRESH_GAP)


async def _idle_loop(gw: Gateway) -> None:
    ops = gw.ops
    while True:
        settings = gw.settings
        timeout = settings.idle_restart_timeout_seconds
        if not settings.enable_idle_restart or timeout <= 0:
            await asyncio.sleep(IDLE_CHECK_MAX)
            continue
        idle_for = time.monotonic() - max(ops.last_request_at, ops.last_idle_reload_at)
        if idle_for < timeout:
            await asyncio.sleep(min(IDLE_CHECK_MAX, timeout - idle_for))
            continue
        pool = gw.pool
        workers = list(pool.workers.values())
        if workers and not pool.jobs and not pool.waiting:
            log.info("no requests for %g s: reloading %d tab(s)", timeout, len(workers))
            for worker in workers:
                await pool.reload(worker, f"idle for {timeout:g} s (enable_idle_restart)")
        ops.last_idle_reload_at = time.monotonic()
