"""The model catalogue route of 2026: `GET /nextjs-api/model-catalog` (protocol §4.1 2026).

It answers anonymous callers (with a browser User-Agent: the tab's own) a JSON array of arenas,
`{"arena", "complete", "models": [...]}`; a model can be in several arenas (§4.1). `read_catalog`
merges them into one object per model id with an `arenas` list (what available_models.json keeps)
and reports what this version does not know: fields of the model objects (§4.2) and arenas,
which the gateway counts as drift, and models with none of the three names (a renamed field).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from .catalog import ARENA_KINDS, NAME_FIELDS, model_name

CATALOG_ROUTE = "/nextjs-api/model-catalog"
# Model fields seen in the catalogue and on the pages (§4.2); `arenas` is ours.
KNOWN_FIELDS = frozenset(
    {
        "id",
        "organization",
        "provider",
        "publicName",
        "name",
        "displayName",
        "capabilities",
        "userSelectable",
        "rank",
        "rankByModality",
        "arenas",
    }
)


@dataclass
class CatalogRead:
    models: list[dict[str, Any]] = field(default_factory=list)  # one per id, with `arenas`
    arenas: dict[str, int] = field(default_factory=dict)  # arena → models in it
    unknown_fields: list[str] = field(default_factory=list)
    unknown_arenas: list[str] = field(default_factory=list)
    nameless: int = 0  # entries with no id, or none of publicName, name, displayName (dropped)


def read_catalog(text: str) -> CatalogRead | None:
    """The catalogue in `text`, or None when it is not an array of arenas."""
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
        return None
    read = CatalogRead()
    by_id: dict[str, dict[str, Any]] = {}
    unknown: set[str] = set()
    nameless: set[str] = set()
    for item in data:
        arena, models = item.get("arena"), item.get("models")
        if not isinstance(arena, str) or not isinstance(models, list):
            continue
        read.arenas[arena] = 0
        if arena not in ARENA_KINDS:
            read.unknown_arenas.append(arena)
        for index, model in enumerate(models):
            if not isinstance(model, dict):
                continue
            unknown.update(key for key in model if key not in KNOWN_FIELDS)
            if not isinstance(model.get("id"), str) or not model_name(model):
                nameless.add(str(model.get("id") or f"{arena}#{index}"))
                continue
            read.arenas[arena] += 1
            merged = by_id.setdefault(model["id"], {**model, "arenas": []})
            if arena not in merged["arenas"]:
                merged["arenas"].append(arena)
    read.models = list(by_id.values())
    read.unknown_fields = sorted(unknown)
    read.nameless = len(nameless)
    return read


def missing_names_hint(read: CatalogRead) -> str:
    """Plain words for models that lost their id or names (a field renamed upstream)."""
    fields = ", ".join(NAME_FIELDS)
    renamed = f"; fields this version does not know: {', '.join(read.unknown_fields)}" \
        if read.unknown_fields else ""
    return f"{read.nameless} of its entries lack an id or all of {fields}{renamed}"
