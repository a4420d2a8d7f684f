"""What the gateway asks of the tabs' reCAPTCHA token pools (docs/worker-protocol.md "Token
pool"): the key and action of new messages' tokens (protocol §3.2), how many to keep, how long
one may be used and how long "requests are coming" lasts. Sent when a tab connects and again
when a reload changes any of it; a tab whose hello does not say `token_pool` gets nothing."""

from __future__ import annotations

from typing import Any

from ..arena.page import recaptcha_site_key
from ..config.settings import Settings
from ..workers.pool import Worker, WorkerPool
from ..workers.protocol import token_pool_frame

# The settings the frame is made of: a reload that changes one sends it again.
POOL_KEYS = frozenset({
    "arena_flow",  # the legacy flow mints no token for a message: no pool
    "token_pool_size",
    "token_pool_max_age_seconds",
    "token_pool_warm_seconds",
    "recaptcha_site_key",
    "recaptcha_action",
})


def pool_frame(settings: Settings, worker: Worker) -> dict[str, Any]:
    size = settings.token_pool_size if settings.arena_flow == "modern" else 0
    return token_pool_frame(
        site_key=recaptcha_site_key(settings.recaptcha_site_key, worker.recaptcha_site_key),
        action=settings.recaptcha_action,
        size=size,
        max_age=settings.token_pool_max_age_seconds,
        warm=settings.token_pool_warm_seconds,
    )


async def configure_tab(settings: Settings, pool: WorkerPool, worker: Worker) -> None:
    if worker.hello.token_pool and worker.id in pool.workers:
        await pool.send(worker, pool_frame(settings, worker))


async def configure_tabs(settings: Settings, pool: WorkerPool) -> None:
    for worker in list(pool.workers.values()):
        await configure_tab(settings, pool, worker)
