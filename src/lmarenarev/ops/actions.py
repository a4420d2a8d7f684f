"""What the admin routes do: capture ids into the config files, read and merge the catalogue.

Each action works on the running `Gateway`, writes files through `config_writer` (atomic, keeping
comments) and then makes the gateway use them at once (a reload, or new models).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass
from typing import Any

from ..arena.capture import Mode, Target
from ..arena.catalog import model_kind, model_name
from ..config.files import AVAILABLE_MODELS_FILE, ENDPOINT_MAP_FILE, MODELS_FILE
from ..config.jsonc import ConfigError
from ..config.settings import CONFIG_FILE_NAME
from ..config.writer import atomic_write, write_config_keys, write_endpoint_mapping, write_models
from ..errors import GatewayError, InvalidRequest
from ..gateway import Gateway
from ..models.catalog import MergePlan, arena_counts, plan_merge
from ..models.files import load_models
from .catalog_read import read_model_list
from .reload import refresh_models, reload_gateway

log = logging.getLogger(__name__)

CAPTURED_KEYS = ("session_id", "message_id", "id_updater_last_mode", "id_updater_battle_target")

# --- id capture ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CaptureOrder:
    mode: Mode
    target: Target
    model: str | None
    append: bool
    timeout: float


async def capture_ids(gw: Gateway, order: CaptureOrder) -> dict[str, Any]:
    """Wait for the page's ids, write them, reload; the answer of `POST /api/admin/capture-ids`."""
    captured = await gw.ops.capture.wait(
        gw.pool, order.mode, order.target, order.timeout, gw.version
    )
    ids = captured.ids
    warnings: list[str] = []
    if order.model is None:
        path = gw.home / CONFIG_FILE_NAME
        values = [ids.session_id, ids.message_id, ids.mode, ids.battle_target]
        updates = dict(zip(CAPTURED_KEYS, values, strict=True))
        await asyncio.to_thread(write_config_keys, path, updates)
        written = list(CAPTURED_KEYS)
    else:
        path = gw.home / ENDPOINT_MAP_FILE
        mapping: dict[str, str] = {"session_id": ids.session_id, "message_id": ids.message_id}
        mapping["mode"] = ids.mode
        if ids.mode == "battle":
            mapping["battle_target"] = ids.battle_target
        await asyncio.to_thread(
            write_endpoint_mapping, path, order.model, mapping, append=order.append
        )
        written = [order.model]
        if order.model not in gw.chat.models:
            warnings.append(f"{order.model!r} is not a model of models.json (yet)")
    log.info("captured ids written to %s (%s)", path, ", ".join(written))
    answer: dict[str, Any] = {
        "session_id": ids.session_id,
        "message_id": ids.message_id,
        "mode": ids.mode,
        "battle_target": ids.battle_target,
        "route": ids.route,
        "page_url": captured.page_url,
        "model": order.model,
        "file": str(path),
        "written": written,
        "reloaded": False,
    }
    try:
        report = await reload_gateway(gw)
    except ConfigError as exc:
        warnings.append(f"the ids are written, but the configuration could not be reloaded: {exc}")
    else:
        answer["reloaded"] = True
        if order.model is None:
            warnings += _shadowed(report.sources)
        if gw.settings.arena_flow != "legacy":
            warnings.append('arena_flow is "modern": the legacy flow uses these ids once you set '
                            'arena_flow to "legacy"')
    answer["warnings"] = warnings
    return answer


def _shadowed(sources: dict[str, str]) -> list[str]:
    where = {"env": "an environment variable", "cli": "the command line"}
    return [
        f"{key} is also set by {where[sources[key]]}, which wins over config.jsonc"
        for key in CAPTURED_KEYS
        if sources.get(key) in where
    ]


# --- the catalogue -------------------------------------------------------------------------------


async def refresh_catalog(gw: Gateway, *, wait: float = 0.0) -> list[dict[str, Any]]:
    """Read LMArena's models through a tab (the catalogue route, else the page), keep them and
    write available_models.json."""
    catalog = gw.ops.catalog
    async with catalog.lock:
        catalog.attempted_at = time.monotonic()
        try:
            read = await read_model_list(gw.pool, wait=wait)
        except GatewayError as exc:
            catalog.last_error = exc.message
            gw.ops.errors.record("catalog", exc)
            refresh_models(gw)  # a request for a model is told why there is none
            raise
        models = read.models
        if read.unknown_fields:
            gw.site.drift.catalog_fields(read.unknown_fields)
            log.warning("LMArena's catalogue has fields this version does not know: %s",
                        ", ".join(read.unknown_fields))
        if models != catalog.models:
            text = json.dumps(models, ensure_ascii=False, indent=2) + "\n"
            await asyncio.to_thread(atomic_write, gw.home / AVAILABLE_MODELS_FILE, text)
        catalog.models, catalog.source = models, read.source
        catalog.updated_at, catalog.refreshed_at = time.time(), time.monotonic()
        catalog.last_error = None
        catalog.gone.clear()  # a fresh list: what answered 404 before is judged anew
        refresh_models(gw)
    log.info("model catalogue: %d models (from LMArena's %s)", len(models), read.source)
    return models


async def update_models(gw: Gateway, names: list[str], merge_all: bool) -> dict[str, Any]:
    """`POST /api/admin/update-models`: refresh the catalogue, merge into models.json."""
    models = await refresh_catalog(gw)
    path = gw.home / MODELS_FILE
    try:  # the file, not what the gateway read at its start: that is what gets merged into
        configured = await asyncio.to_thread(load_models, path)
    except ConfigError as exc:
        reason = f"cannot merge into {MODELS_FILE}: {exc}"
        raise InvalidRequest(reason, code="invalid_config") from None
    plan = plan_merge(models, configured, names, merge_all)
    if plan.add:
        await asyncio.to_thread(write_models, path, plan.add)
        gw.models = await asyncio.to_thread(load_models, path)
        refresh_models(gw)
        log.info("models.json: added %s", ", ".join(plan.add))
    return {
        "file": str(gw.home / AVAILABLE_MODELS_FILE),
        "source": gw.ops.catalog.source,
        "arenas": arena_counts(models),
        "models": [_summary(gw, model) for model in models],
        "merged": _merge_answer(plan),
    }


def _summary(gw: Gateway, model: dict[str, Any]) -> dict[str, Any]:
    name = model_name(model)
    arenas = model.get("arenas")
    return {
        "name": name,
        "id": model["id"],
        "type": model_kind(model),
        "arenas": arenas if isinstance(arenas, list) else [],
        "names": [n for n in (model.get(k) for k in ("name", "displayName"))
                  if isinstance(n, str) and n and n != name],
        "organization": model.get("organization"),
        "in_models_json": name in gw.models,
    }


def _merge_answer(plan: MergePlan) -> dict[str, Any]:
    return {"added": plan.add, "already_present": plan.present, "skipped": plan.skipped}
