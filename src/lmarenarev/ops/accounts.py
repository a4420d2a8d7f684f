"""Each tab's LMArena account: logged in or anonymous (`/api/me`), and its quota where readable
(`/api/me/pulse`), through ordinary fetch jobs on that tab (protocol §10.1).

Asked when a tab connects and then every `account_check_minutes` (LMArena answers 429 to
frequent quota polls, so rarely). What a tab's account is goes on its `Worker` (`account`), shown
by `status`, /monitor and /metrics; a failed read keeps the last answer and says why.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time

from ..arena.account import ME_ROUTE, PULSE_ROUTE, Account, read_me, read_pulse
from ..errors import GatewayError
from ..gateway import Gateway
from ..workers.page_fetch import fetch_through_worker
from ..workers.pool import Worker

log = logging.getLogger(__name__)

ACCOUNT_FETCH_TIMEOUT = 30.0
LOOP_CHECK_MAX = 30.0
JSON = {"Accept": "application/json"}


async def check_account(gw: Gateway, worker: Worker, *, pulse: bool = True) -> Account:
    """Ask `worker`'s page who is logged in (and the quota); keep and return the answer."""
    account = worker.account
    try:
        me = await fetch_through_worker(
            gw.pool, ME_ROUTE, headers=JSON, worker=worker, check=False,
            timeout=ACCOUNT_FETCH_TIMEOUT,
        )
        logged_in, note = read_me(me.http_status)
        account = dataclasses.replace(account, logged_in=logged_in, note=note,
                                      checked_at=time.time())
        if pulse and logged_in:
            account = await _pulse(gw, worker, account)
    except GatewayError as exc:
        account = dataclasses.replace(account, note=f"not checked: {exc.message}")
    worker.account = account
    log.info("%s: LMArena account %s%s", worker.describe(),
             {True: "logged in", False: "anonymous", None: "unknown"}[account.logged_in],
             "" if account.pulse is None else f", pulse {account.pulse}")
    return account


async def _pulse(gw: Gateway, worker: Worker, account: Account) -> Account:
    answer = await fetch_through_worker(
        gw.pool, PULSE_ROUTE, headers=JSON, worker=worker, check=False,
        timeout=ACCOUNT_FETCH_TIMEOUT,
    )
    value, refreshed, note = read_pulse(answer.http_status, answer.body)
    if value is None:  # keep the last known pulse; say why there is no new one
        return dataclasses.replace(account, note=note)
    return dataclasses.replace(account, pulse=value, pulse_at=refreshed, note="")


def on_connect(gw: Gateway, worker: Worker) -> None:
    if gw.settings.account_check_minutes > 0:
        gw.ops.spawn(_check_quietly(gw, worker))


async def _check_quietly(gw: Gateway, worker: Worker) -> None:
    if worker.id in gw.pool.workers and not worker.reloading:
        await check_account(gw, worker)


async def accounts_loop(gw: Gateway) -> None:
    """Every `account_check_minutes`, ask every tab again (one at a time)."""
    while True:
        minutes = gw.settings.account_check_minutes
        if minutes <= 0:
            await asyncio.sleep(LOOP_CHECK_MAX)
            continue
        interval = minutes * 60
        now = time.time()
        for worker in list(gw.pool.workers.values()):
            checked = worker.account.checked_at
            if checked is not None and now - checked >= interval:
                await _check_quietly(gw, worker)
        await asyncio.sleep(min(LOOP_CHECK_MAX, interval / 4))
