"""What the gateway knows of LMArena's catalogue, and the models it therefore offers.

`Catalog` holds the page's model objects (as in available_models.json). The pure functions say
which models clients may use (`effective_models`: models.json, plus with
`expose_available_models` every catalogue model, minus models LMArena no longer lists; without
any models.json entry, every catalogue model, "automatic"), how `/v1/models` describes them,
what a request for an unknown model is told, and what `update-models --merge` adds to
models.json.
"""

from __future__ import annotations

import asyncio
import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from ..arena.catalog import model_name, model_type, models_json_value
from ..errors import InvalidRequest
from ..openai_schema import ModelCard
from .files import ModelEntry

Model = dict[str, Any]


@dataclass
class Catalog:
    models: list[Model] = field(default_factory=list)
    updated_at: float | None = None  # wall clock of the last successful read of the page
    refreshed_at: float | None = None  # monotonic clock of the same
    attempted_at: float | None = None  # monotonic clock of the last attempt, for scheduling
    last_error: str | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def by_id(self) -> dict[str, Model]:
        return {str(model["id"]): model for model in self.models}


def effective_models(
    configured: dict[str, ModelEntry], catalog: list[Model], expose: bool
) -> tuple[dict[str, ModelEntry], dict[str, str]]:
    """(the models clients may use, models.json entries LMArena no longer lists: name → id).

    Without any models.json entry, every model of the catalogue is offered under its public
    name, marked automatic: a new user gets models without editing a file, and the first
    models.json entry makes models.json the list again. A models.json entry whose id the page
    no longer lists but whose name it does (LMArena gave the model a new id) uses the page's id.
    """
    listed = {
        model_name(model): ModelEntry(model_name(model), str(model["id"]), kind, automatic=True)
        for model in catalog
        if (kind := model_type(model)) is not None
    }
    if not configured:
        return listed, {}
    if not expose or not catalog:
        return configured, {}
    offered = {str(model["id"]) for model in catalog}
    models: dict[str, ModelEntry] = {}
    withdrawn: dict[str, str] = {}
    for name, entry in configured.items():
        if entry.arena_id is None or entry.arena_id in offered:
            models[name] = entry
        elif name in listed:
            models[name] = replace(listed[name], automatic=False)
        else:
            withdrawn[name] = entry.arena_id
    for name, entry in listed.items():
        models.setdefault(name, entry)
    return models, withdrawn


def model_cards(
    models: dict[str, ModelEntry], catalog: list[Model], expose: bool, created: int
) -> list[ModelCard]:
    """`/v1/models`: every usable model; with `expose`, and for a model offered automatically,
    its capabilities and organization (an automatic one is marked `automatic: true`)."""
    known = {str(model["id"]): model for model in catalog}
    cards: list[ModelCard] = []
    for name, entry in models.items():
        automatic = True if entry.automatic else None
        model = known.get(entry.arena_id or "") if expose or entry.automatic else None
        if model is None:
            cards.append(ModelCard(id=name, created=created, type=entry.type, automatic=automatic))
            continue
        cards.append(
            ModelCard(
                id=name,
                created=created,
                type=entry.type,
                owned_by=str(model.get("organization") or "lmarena"),
                capabilities=model.get("capabilities"),
                automatic=automatic,
            )
        )
    return cards


def no_models_hint(catalog: Catalog, refresh_minutes: float) -> str:
    """What a request for a model is told when the gateway offers none yet: how to get some."""
    if refresh_minutes <= 0:
        read = ("reading it when a tab connects is off (model_catalog_refresh_minutes is 0): "
                "run `lmarenarev update-models` once a tab is connected")
    elif catalog.last_error:
        read = f"the last read failed: {catalog.last_error}"
    else:
        read = ("it is read when a tab with the lmarenarev userscript connects: open "
                "https://lmarena.ai/ in that browser")
    return (
        "No model is offered yet. Without models.json the gateway offers every model of "
        f"LMArena's list under its public name; {read}. Or list the models you want in "
        "models.json (`lmarenarev update-models --merge-all` writes them all). "
        "GET /v1/models lists what is offered."
    )


@dataclass(frozen=True)
class MergePlan:
    add: dict[str, str]  # name → the value to write to models.json
    present: list[str]  # already in models.json (never overwritten)
    skipped: dict[str, str]  # name → why (video-only models)


def plan_merge(
    catalog: list[Model], configured: dict[str, ModelEntry], names: Iterable[str], merge_all: bool
) -> MergePlan:
    """What `update-models --merge NAME…` / `--merge-all` adds to models.json."""
    by_name = {model_name(model): model for model in catalog}
    wanted = list(by_name) if merge_all else list(dict.fromkeys(names))
    unknown = [name for name in wanted if name not in by_name]
    if unknown:
        raise InvalidRequest(_unknown_message(unknown, list(by_name)), param="merge")
    add: dict[str, str] = {}
    present: list[str] = []
    skipped: dict[str, str] = {}
    for name in wanted:
        value = models_json_value(by_name[name])
        if name in configured:
            present.append(name)
        elif value is None:
            skipped[name] = "video-only model (the gateway has no video output)"
        else:
            add[name] = value
    return MergePlan(add, present, skipped)


def _unknown_message(unknown: list[str], names: list[str]) -> str:
    hints = []
    for name in unknown:
        close = difflib.get_close_matches(name, names, n=3, cutoff=0.5)
        hints.append(f"{name!r}" + (f" (did you mean {', '.join(close)}?)" if close else ""))
    return f"LMArena's page has no model named {', '.join(hints)}"


def type_counts(catalog: list[Model]) -> dict[str, int]:
    counts = {"text": 0, "image": 0, "search": 0, "video": 0}
    for model in catalog:
        counts[model_type(model) or "video"] += 1
    return counts
