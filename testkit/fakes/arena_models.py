"""The fake LMArena's model catalogue, shaped like the page's `initialModels` (protocol doc §4.2).

`DEFAULT_MODELS` is read-only by convention: `FakeArena` deep-copies whatever list it is given.
Ids are fixed so tests can hard-code them; newer models carry UUIDv7-looking ids, `fake-claude`
an older v4 id (§4.2: "v4 older, v7 newer"), and `fake-stealth` has no `organization` (§4.2:
absent on anonymous/stealth models).

The 2026-10 era (arena_era.py) also serves `GET /nextjs-api/model-catalog` (§4.1 2026): the
models grouped by arena (`DEFAULT_ARENAS`), with the 2026 fields (`displayName`,
`userSelectable`, `rank`; `CATALOG_NAMES` gives some models a `name` and a `displayName` that
differ from `publicName`, §4.2), plus `NEW_MODELS` that only that era offers: a model known by
three names (`kiteki`), a video model and a code-only model.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

Model = dict[str, Any]

_TEXT_IN: Final = {"text": True}
_TEXT_IMAGE_IN: Final = {"text": True, "image": True}


def _model(
    model_id: str,
    name: str,
    organization: str | None,
    provider: str,
    inputs: Mapping[str, Any],
    outputs: Mapping[str, Any],
) -> Model:
    model: Model = {"id": model_id, "publicName": name, "name": name}
    if organization is not None:
        model["organization"] = organization
    model["provider"] = provider
    model["capabilities"] = {
        "inputCapabilities": dict(inputs),
        "outputCapabilities": dict(outputs),
    }
    return model


DEFAULT_MODELS: Final[list[Model]] = [
    _model(
        "0198a4c1-2f3e-7a10-8b21-0c5d6e7f8a01",
        "fake-gpt",
        "openai",
        "openai",
        _TEXT_IMAGE_IN,
        {"text": True},
    ),
    _model(
        "5f0c9d3e-8b7a-4c61-9d2e-1a3b5c7d9e02",
        "fake-claude",
        "anthropic",
        "anthropic",
        _TEXT_IN,
        {"text": True},
    ),
    _model(
        "0198a4c1-2f3e-7a10-8b21-0c5d6e7f8a03",
        "fake-thinker",
        "deepseek",
        "fireworks",
        _TEXT_IN,
        {"text": True},
    ),
    _model(
        "0198a4c1-2f3e-7a10-8b21-0c5d6e7f8a04",
        "fake-painter",
        "google",
        "googleVertex",
        {"text": True, "image": {"multipleImages": True, "requiresUpload": True}},
        {"image": {"aspectRatios": ["1:1", "16:9"]}},
    ),
    _model(
        "0198a4c1-2f3e-7a10-8b21-0c5d6e7f8a05",
        "fake-searcher",
        "perplexity",
        "perplexity",
        _TEXT_IN,
        {"text": True, "search": True},
    ),
    _model(
        "0198a4c1-2f3e-7a10-8b21-0c5d6e7f8a06",
        "fake-stealth",
        None,
        "stealth",
        _TEXT_IN,
        {"text": True},
    ),
]


def model_id(name: str, models: Iterable[Mapping[str, Any]] = DEFAULT_MODELS) -> str:
    """The id of the model whose `publicName` is `name` (KeyError if there is none)."""
    for model in models:
        if model.get("publicName") == name:
            return str(model["id"])
    raise KeyError(name)


def find_model(models: Iterable[Model], wanted_id: object) -> Model | None:
    return next((model for model in models if model.get("id") == wanted_id), None)


def outputs(model: Mapping[str, Any]) -> Mapping[str, Any]:
    capabilities = model.get("capabilities") or {}
    return capabilities.get("outputCapabilities") or {}


def modality(model: Mapping[str, Any]) -> str:
    """The `modality` a client sends for this model (§4.3: image, else search, else chat)."""
    out = outputs(model)
    if out.get("image"):
        return "image"
    if out.get("search"):
        return "search"
    return "chat"


NEW_MODELS: Final[list[Model]] = [
    _model(
        "019a0b1c-2d3e-7f40-8a51-6b7c8d9e0a07",
        "kiteki",
        "alibaba",
        "alibaba",
        _TEXT_IMAGE_IN,
        {"text": True},
    ),
    _model(
        "019a0b1c-2d3e-7f40-8a51-6b7c8d9e0a08",
        "fake-director",
        "google",
        "googleVertex",
        {"text": True, "image": {"requiresUpload": True}},
        {"video": True},
    ),
    _model(
        "019a0b1c-2d3e-7f40-8a51-6b7c8d9e0a09",
        "fake-coder",
        "anthropic",
        "anthropic",
        _TEXT_IN,
        {"web": True},
    ),
]

# Arenas of the 2026 catalogue by publicName (§4.1: a model can be in several).
DEFAULT_ARENAS: Final[dict[str, tuple[str, ...]]] = {
    "fake-gpt": ("text", "code", "document"),
    "fake-claude": ("text", "code"),
    "fake-thinker": ("text",),
    "fake-painter": ("text-to-image",),
    "fake-searcher": ("search",),
    "fake-stealth": ("text",),
    "kiteki": ("text", "document"),
    "fake-director": ("text-to-video",),
    "fake-coder": ("code",),
}
ARENA_ORDER: Final = ("text", "code", "document", "text-to-video", "text-to-image", "search")

# (name, displayName) where they differ from publicName (§4.2 2026: e.g. kiteki).
CATALOG_NAMES: Final[dict[str, tuple[str, str]]] = {
    "fake-gpt": ("fake-gpt-2026-09-01", "Fake GPT 5"),
    "kiteki": ("fake-qwen3.5-max-preview-20261001", "fake-qwen3.5-max-preview"),
}


def catalog_entry(model: Mapping[str, Any], rank: int,
                  renames: Mapping[str, str] | None = None) -> Model:
    """A model as the 2026 catalogue lists it (`renames`: a drift, field → new name)."""
    entry: Model = dict(model)
    name, display = CATALOG_NAMES.get(str(model.get("publicName")), (None, None))
    entry["name"] = name or model.get("name") or model.get("publicName")
    entry["displayName"] = display or model.get("publicName")
    entry["userSelectable"] = True
    entry["rank"] = rank
    for old, new in (renames or {}).items():
        if old in entry:
            entry[new] = entry.pop(old)
    return entry


def catalog_body(models: Iterable[Mapping[str, Any]], arenas: Mapping[str, Sequence[str]],
                 renames: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """`GET /nextjs-api/model-catalog`: `[{"arena", "complete", "models"}]` (§4.1 2026)."""
    listed = list(models)
    body = []
    for arena in ARENA_ORDER:
        members = [m for m in listed if arena in arenas.get(str(m.get("publicName")), ())]
        entries = [catalog_entry(m, rank + 1, renames) for rank, m in enumerate(members)]
        body.append({"arena": arena, "complete": True, "models": entries})
    return body
