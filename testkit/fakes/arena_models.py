"""The fake LMArena's model catalogue, shaped like the page's `initialModels` (protocol doc §4.2).

`DEFAULT_MODELS` is read-only by convention: `FakeArena` deep-copies whatever list it is given.
Ids are fixed so tests can hard-code them; newer models carry UUIDv7-looking ids, `fake-claude`
an older v4 id (§4.2: "v4 older, v7 newer"), and `fake-stealth` has no `organization` (§4.2:
absent on anonymous/stealth models).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
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
