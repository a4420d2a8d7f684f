"""`GET /api/admin/status`: what `lmarenarev status` shows, as JSON-ready data."""

from __future__ import annotations

import os
import time
from typing import Any

from ..chat.endpoint_pools import mapping_key
from ..gateway import Gateway
from ..models.catalog import arena_counts, type_counts
from ..workers.pool import Worker


def gateway_status(gw: Gateway) -> dict[str, Any]:
    settings = gw.settings
    return {
        "up": True,
        "version": gw.version,
        "pid": os.getpid(),
        "home": str(gw.home),
        "started_at": gw.started_at,
        "uptime_seconds": round(time.time() - gw.started_at, 1),
        "flow": settings.arena_flow,
        "workers": [_worker(gw, worker) for worker in gw.pool.workers.values()],
        "browser": gw.browser.snapshot() if gw.browser is not None else None,
        "capture_armed": gw.ops.capture.armed is not None,
        "ids": {
            "session_id": settings.session_id or None,
            "message_id": settings.message_id or None,
            "mode": settings.id_updater_last_mode,
            "battle_target": settings.id_updater_battle_target,
        },
        "endpoint_map": _endpoint_map(gw),
        "models": _models(gw),
        "site": gw.site.describe(),
        "load": gw.sizes(),
        "errors": gw.ops.errors.latest(),
    }


def _worker(gw: Gateway, worker: Worker) -> dict[str, Any]:
    hello = worker.hello
    return {
        "id": worker.id,
        "transport": worker.link.kind,
        "page_url": hello.page_url,
        "title": hello.title,
        "script_version": hello.script_version,
        "script_outdated": hello.script_version != gw.version,
        "jobs": len(worker.jobs),
        "capacity": worker.capacity,
        "reloading": worker.reloading,
        "connected_seconds": round(gw.pool.clock() - worker.connected_at, 1),
        "managed": worker.id in managed_workers(gw),
        "origin": worker.origin,
        "account": worker.account.describe(),
        "resting_seconds": round(max(0.0, worker.cooled_until - gw.pool.clock()), 1),
        "resting_reason": worker.cooled_reason if worker.cooled_until > gw.pool.clock() else "",
    }


def managed_workers(gw: Gateway) -> set[str]:
    """The workers that are tabs of the managed browser (each tab's userscript says which)."""
    if gw.browser is None:
        return set()
    return {tab.worker for tab in gw.browser.tabs if tab.worker is not None}


def _endpoint_map(gw: Gateway) -> dict[str, Any]:
    selector = gw.chat.selector
    return {
        "strategy": gw.settings.endpoint_selection_strategy,
        "models": {
            model: [
                {
                    "session_id": mapping.session_id,
                    "message_id": mapping.message_id,
                    "mode": mapping.mode,
                    "battle_target": mapping.battle_target,
                    **selector.state(mapping_key(mapping)),
                }
                for mapping in pool
            ]
            for model, pool in gw.chat.endpoint_map.items()
        },
    }


def _models(gw: Gateway) -> dict[str, Any]:
    catalog = gw.ops.catalog
    return {
        "configured": sorted(gw.models),
        "offered": len(gw.chat.models),
        "automatic": sum(entry.automatic for entry in gw.chat.models.values()),
        "catalog_refresh_minutes": gw.settings.model_catalog_refresh_minutes,
        "withdrawn": sorted(gw.chat.withdrawn),
        "unservable": dict(sorted(gw.chat.unservable.items())),
        "expose_available_models": gw.settings.expose_available_models,
        "catalog": {
            "count": len(catalog.models),
            "types": type_counts(catalog.models),
            "arenas": arena_counts(catalog.models),
            "source": catalog.source,
            "gone": sorted(catalog.gone),
            "updated_at": catalog.updated_at,
            "last_error": catalog.last_error,
        },
    }
