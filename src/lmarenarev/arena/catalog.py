"""LMArena's model catalogue: `initialModels` in the app page, and what each model is (§4).

Since 2026 the list is `GET /nextjs-api/model-catalog` (catalog_route.py); the page is the
older era's source and the fallback (§4.1 "Today").

The page (`CATALOG_PAGE`) carries the list as a JSON array under `initialModels` inside the
React Server Components payload, `self.__next_f.push([1,"…"])` scripts whose string is escaped
JSON, so the raw HTML holds `{\\"initialModels\\":[…]` (§4.1). `extract_models` tries, in order:
the decoded push payloads, the raw text (an unescaped JSON, e.g. `__NEXT_DATA__`), and the
escaped text unescaped on the fly; each finds the array by bracket matching, not by a regex over
its contents.

A model's kind comes from the catalogue's arenas when it has them (text, search, image, video,
code, document; `arena_kind`), else from its capabilities (§4.3); the gateway serves text,
search and image models (`model_type`), and lists the others as what they are.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Literal

__all__ = [
    "CATALOG_PAGE",
    "KINDS",
    "arena_kind",
    "extract_models",
    "model_kind",
    "model_name",
    "model_names",
    "model_type",
    "models_json_value",
]

CATALOG_PAGE = "/?mode=direct"  # the page every bridge uses as the browser's home (§1.1)

ModelType = Literal["text", "image", "search"]
SERVED: tuple[ModelType, ...] = ("text", "image", "search")
KINDS = ("text", "search", "image", "video", "code", "document")
# The catalogue's arenas (§4.1 2026) and what kind of model each holds.
ARENA_KINDS = {
    "text": "text",
    "search": "search",
    "text-to-image": "image",
    "image-edit": "image",
    "text-to-video": "video",
    "image-to-video": "video",
    "code": "code",
    "webdev": "code",
    "document": "document",
}
# When a model is in several arenas, the first kind here wins: an image model in `text` too is
# asked for images, a search model for search.
_KIND_ORDER = ("image", "search", "text", "document", "code", "video")
NAME_FIELDS = ("publicName", "name", "displayName")  # §4.2 2026: any of them may differ

_KEY = '"initialModels"'
_ESCAPED_KEY = '\\"initialModels\\"'
_PUSH = re.compile(r"self\.__next_f\.push\(\[\s*1\s*,\s*(\"(?:[^\"\\]|\\.)*\")\s*\]\)", re.DOTALL)
_HEX = frozenset("0123456789abcdefABCDEF")
_SIMPLE_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f"}


def extract_models(page: str) -> list[dict[str, Any]]:
    """The page's model objects (with an `id` and a name), de-duplicated by id; [] if none."""
    for text in (_push_payload(page), page):
        found = _array_after(text, _KEY, iter)
        if found is not None:
            return _clean(found)
    found = _array_after(page, _ESCAPED_KEY, _unescaped)
    return _clean(found) if found is not None else []


def model_name(model: Mapping[str, Any]) -> str:
    """The name clients use: `publicName`, as every bridge does (§4.2), else `name`, else
    `displayName`."""
    for key in NAME_FIELDS:
        value = model.get(key)
        if isinstance(value, str) and value:
            return value
    return ""


def model_names(model: Mapping[str, Any]) -> list[str]:
    """Every name a client may use for the model: its id and its three names (§4.2 2026)."""
    names = [model.get("id"), *(model.get(key) for key in NAME_FIELDS)]
    return list(dict.fromkeys(n for n in names if isinstance(n, str) and n))


def arena_kind(arena: str) -> str:
    """The kind of model an arena holds; an arena this version does not know by name is read
    from its words (it stays listed, never dropped)."""
    known = ARENA_KINDS.get(arena)
    if known is not None:
        return known
    for word, kind in (("video", "video"), ("image", "image"), ("search", "search"),
                       ("code", "code"), ("web", "code"), ("doc", "document")):
        if word in arena:
            return kind
    return "text"


def model_kind(model: Mapping[str, Any]) -> str:
    """text, search, image, video, code or document: from the arenas the catalogue put the
    model in, else from its capabilities (§4.3)."""
    arenas = model.get("arenas")
    if isinstance(arenas, list) and arenas:
        kinds = {arena_kind(str(arena)) for arena in arenas}
        return next(kind for kind in _KIND_ORDER if kind in kinds)
    capabilities = model.get("capabilities")
    outputs = capabilities.get("outputCapabilities") if isinstance(capabilities, dict) else None
    if not isinstance(outputs, dict) or not outputs:
        return "text"
    if outputs.get("image"):
        return "image"
    if outputs.get("search"):
        return "search"
    if outputs.get("video") and not (outputs.get("text") or outputs.get("web")):
        return "video"
    return "text"


def model_type(model: Mapping[str, Any]) -> ModelType | None:
    """The type the gateway serves the model as (text, image, search); None for the kinds it
    cannot serve yet (video, code, document-only)."""
    kind = model_kind(model)
    return next((served for served in SERVED if served == kind), None)


def models_json_value(model: Mapping[str, Any]) -> str | None:
    """The model's value in the seed's models.json: "<id>", "<id>:image" or "<id>:search"."""
    kind = model_type(model)
    if kind is None:
        return None
    return str(model["id"]) if kind == "text" else f"{model['id']}:{kind}"


# --- finding the array -------------------------------------------------------------------------


def _push_payload(page: str) -> str:
    """The decoded strings of all `self.__next_f.push([1, "…"])` scripts, joined (a row may be
    split across pushes)."""
    parts: list[str] = []
    for match in _PUSH.finditer(page):
        try:
            parts.append(json.loads(match.group(1)))
        except ValueError:
            continue
    return "".join(parts)


def _array_after(
    text: str, key: str, decode: Callable[[str], Iterator[str]]
) -> list[Any] | None:
    """The JSON array that follows `key:` in `text`, read through `decode` (identity or
    unescaping), for the first occurrence that parses."""
    start = text.find(key)
    while start != -1:
        chars: Iterator[str] = decode(text[start + len(key) :])
        parsed = _parse_array(chars)
        if parsed is not None:
            return parsed
        start = text.find(key, start + 1)
    return None


def _parse_array(chars: Iterator[str]) -> list[Any] | None:
    """`: [ … ]` from `chars`, bracket-matched (strings and escapes respected), parsed."""
    head = ""
    for char in chars:
        if char in " \t\r\n:":
            head += char
            continue
        if char != "[" or head.count(":") != 1:
            return None
        text = _balanced(char, chars)
        if text is None:
            return None
        try:
            value = json.loads(text)
        except ValueError:
            return None
        return value if isinstance(value, list) else None
    return None


def _balanced(first: str, chars: Iterator[str]) -> str | None:
    out = [first]
    depth, in_string, escaped = 1, False, False
    for char in chars:
        out.append(char)
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
        elif char in "]}":
            depth -= 1
            if depth == 0:
                return "".join(out)
    return None


def _unescaped(text: str) -> Iterator[str]:
    """The characters of a JS string literal's body (`text` starts inside it), decoded."""
    i, size = 0, len(text)
    pending_high: str | None = None
    while i < size:
        char = text[i]
        if char == '"':
            return
        if char == "\\" and i + 1 < size:
            escape = text[i + 1]
            code = text[i + 2 : i + 6]
            if escape == "u" and len(code) == 4 and all(c in _HEX for c in code):
                char = chr(int(code, 16))
                i += 6
            else:
                char = _SIMPLE_ESCAPES.get(escape, escape)
                i += 2
        else:
            i += 1
        if "\ud800" <= char <= "\udbff":
            pending_high = char
            continue
        if pending_high is not None:
            pair = (pending_high + char).encode("utf-16", "surrogatepass").decode(
                "utf-16", "replace"
            )
            pending_high = None
            yield from pair
            continue
        yield char


def _clean(models: Iterable[Any]) -> list[dict[str, Any]]:
    seen: set[str] = set()
    out: list[dict[str, Any]] = []
    for model in models:
        if not isinstance(model, dict) or not isinstance(model.get("id"), str):
            continue
        if not model_name(model) or model["id"] in seen:
            continue
        seen.add(model["id"])
        out.append(model)
    return out
