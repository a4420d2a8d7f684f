"""What the gateway knows of LMArena's catalogue, and the models it therefore offers.

`Catalog` holds the page's model objects (as in available_models.json). The pure functions say
which models clients may use (`effective_models`: models.json, plus with
`expose_available_models` every catalogue model, minus models LMArena no longer lists; without
any models.json entry, every catalogue model, "automatic"), how `/v1/models` describes them,
what a request for an unknown model is told, and what `update-models --merge` adds to
models.json.

Since 2026 a model has three names that may all differ (§4.2); `model_aliases` lets a client use
any of them, or the id, for a usable model. A model LMArena dropped from the catalogue, or that
answered 404/410 (`Catalog.gone`), is refused with a 404 naming close alternatives.
"""

from __future__ import annotations

import asyncio
import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from ..arena.catalog import (
    KINDS,
    model_kind,
    model_name,
    model_names,
    model_type,
    models_json_value,
)
from ..errors import InvalidRequest, ModelNotFound
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
    source: str | None = None  # where the last read found the list: the catalogue or the page
    # Model ids LMArena answered 404/410 for (§4.1 2026): refused until the next successful
    # catalogue read (which starts afresh).
    gone: set[str] = field(default_factory=set)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def by_id(self) -> dict[str, Model]:
        return {str(model["id"]): model for model in self.models}


def effective_models(
    configured: dict[str, ModelEntry],
    catalog: list[Model],
    expose: bool,
    gone: set[str] | frozenset[str] = frozenset(),
) -> tuple[dict[str, ModelEntry], dict[str, str]]:
    """(the models clients may use, models LMArena no longer offers: name → id).

    Without any models.json entry, every model of the catalogue is offered under its public
    name, marked automatic: a new user gets models without editing a file, and the first
    models.json entry makes models.json the list again. A models.json entry whose id the page
    no longer lists but whose name it does (LMArena gave the model a new id) uses the page's id.
    `gone`: ids that answered 404/410, whatever the catalogue says.
    """
    if gone:
        present, dropped = _without(configured, gone)
        usable, refused = effective_models(present, catalog, expose)
        kept, also = _without(usable, gone)
        return kept, {**refused, **dropped, **also}
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


def _without(
    models: dict[str, ModelEntry], ids: set[str] | frozenset[str]
) -> tuple[dict[str, ModelEntry], dict[str, str]]:
    kept = {n: e for n, e in models.items() if e.arena_id is None or e.arena_id not in ids}
    return kept, {n: str(e.arena_id) for n, e in models.items() if n not in kept}


def model_aliases(models: dict[str, ModelEntry], catalog: list[Model]) -> dict[str, str]:
    """Every other name of a usable model → its name: the catalogue's id, publicName, name and
    displayName (§4.2 2026), and the id of models the catalogue does not know."""
    by_id = {entry.arena_id: name for name, entry in models.items() if entry.arena_id}
    aliases: dict[str, str] = {arena_id: name for arena_id, name in by_id.items()}
    for model in catalog:
        name = by_id.get(str(model.get("id")))
        if name is None:
            continue
        for alias in model_names(model):
            aliases.setdefault(alias, name)
    return {alias: name for alias, name in aliases.items() if alias not in models}


def gone_error(name: str, arena_id: str | None, usable: list[str]) -> ModelNotFound:
    """A 404 for a model LMArena no longer offers, naming the closest usable models."""
    close = difflib.get_close_matches(name, usable, n=3, cutoff=0.3)
    hint = f" Close alternatives: {', '.join(close)}." if close else ""
    which = f" (id {arena_id})" if arena_id else ""
    return ModelNotFound(
        f"LMArena no longer offers the model {name!r}{which}: it left LMArena's model list.{hint}"
        " Run `lmarenarev update-models` to see what LMArena offers now.",
        code="model_not_available",
        param="model",
    )


def model_cards(
    models: dict[str, ModelEntry], catalog: list[Model], expose: bool, created: int
) -> list[ModelCard]:
    """`/v1/models`: every usable model with its type and, where the catalogue knows it, its
    arenas; with `expose`, and for a model offered automatically, its capabilities and
    organization (an automatic one is marked `automatic: true`), and the catalogue's models
    the gateway cannot serve yet (video, code), typed as what they are."""
    known = {str(model["id"]): model for model in catalog}
    cards: list[ModelCard] = []
    for name, entry in models.items():
        automatic = True if entry.automatic else None
        model = known.get(entry.arena_id or "")
        if model is None or not (expose or entry.automatic):
            cards.append(ModelCard(id=name, created=created, type=entry.type,
                                   arenas=_arenas(model), automatic=automatic))
            continue
        cards.append(_exposed_card(name, model, created, entry.type, automatic))
    if expose:
        ids = {entry.arena_id for entry in models.values()}
        cards += [
            _exposed_card(model_name(model), model, created, model_kind(model), None)
            for model in catalog
            if model_type(model) is None and model.get("id") not in ids
        ]
    return cards


def _arenas(model: Model | None) -> list[str] | None:
    arenas = model.get("arenas") if model is not None else None
    return [str(arena) for arena in arenas] if isinstance(arenas, list) else None


def _exposed_card(
    name: str, model: Model, created: int, kind: str, automatic: bool | None
) -> ModelCard:
    return ModelCard(
        id=name,
        created=created,
        type=kind,
        arenas=_arenas(model),
        owned_by=str(model.get("organization") or "lmarena"),
        capabilities=model.get("capabilities"),
        automatic=automatic,
    )


def no_models_hint(catalog: Catalog, refresh_minutes: float) -> str:
    """What a request for a model is told when the gateway offers none yet: how to get some."""
    if refresh_minutes <= 0:
        read = ("reading it when a tab connects is off (model_catalog_refresh_minutes is 0): "
                "run `lmarenarev update-models` once a tab is connected")
    elif catalog.last_error:
        read = f"the last read failed: {catalog.last_error}"
    else:
        read = ("it is read when a tab with the lmarenarev userscript connects: open "
                "https://arena.ai/text/direct in that browser")
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
            skipped[name] = _unservable(model_kind(by_name[name]))
        else:
            add[name] = value
    return MergePlan(add, present, skipped)


def _unservable(kind: str) -> str:
    if kind == "video":
        return "video-only model (the gateway has no video output)"
    return f"{kind} model (the gateway cannot serve LMArena's {kind} arena yet)"


def _unknown_message(unknown: list[str], names: list[str]) -> str:
    hints = []
    for name in unknown:
        close = difflib.get_close_matches(name, names, n=3, cutoff=0.5)
        hints.append(f"{name!r}" + (f" (did you mean {', '.join(close)}?)" if close else ""))
    return f"LMArena's page has no model named {', '.join(hints)}"


def type_counts(catalog: list[Model]) -> dict[str, int]:
    counts = dict.fromkeys(KINDS, 0)
    for model in catalog:
        kind = model_kind(model)
        counts[kind] = counts.get(kind, 0) + 1
    return counts


def arena_counts(catalog: list[Model]) -> dict[str, int]:
    """Models per arena of the catalogue (empty for a list read from the page)."""
    counts: dict[str, int] = {}
    for model in catalog:
        for arena in _arenas(model) or []:
            counts[arena] = counts.get(arena, 0) + 1
    return counts
