"""OpenAI `size` (e.g. "1792x1024") → one of the aspect ratios a model offers ("16:9").

LMArena's models list their ratios (`outputCapabilities.image.aspectRatios`, protocol §4.2).
A size maps to the offered ratio within 5 % of its own; "auto" or no size means no preference.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from ...errors import InvalidRequest

_SIZE = re.compile(r"^\s*(\d{1,5})\s*[xX×]\s*(\d{1,5})\s*$")
_RATIO = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*[:/]\s*(\d+(?:\.\d+)?)\s*$")
TOLERANCE = math.log(1.05)


def offered_ratios(model: Mapping[str, Any] | None) -> list[str] | None:
    """The model's aspect ratios; None when unknown (not in the catalogue, or not listed)."""
    if model is None:
        return None
    outputs = (model.get("capabilities") or {}).get("outputCapabilities") or {}
    image = outputs.get("image")
    ratios = image.get("aspectRatios") if isinstance(image, dict) else None
    if not isinstance(ratios, list) or not ratios:
        return None
    return [r for r in ratios if isinstance(r, str) and _RATIO.match(r)]


def _value(ratio: str) -> float:
    match = _RATIO.match(ratio)
    assert match is not None
    return float(match.group(1)) / float(match.group(2))


def parse_size(size: str) -> tuple[int, int]:
    match = _SIZE.match(size)
    if match is None or int(match.group(1)) == 0 or int(match.group(2)) == 0:
        raise InvalidRequest(
            f"size {size!r} is not WIDTHxHEIGHT (like 1024x1024) or \"auto\"", param="size"
        )
    return int(match.group(1)), int(match.group(2))


def aspect_ratio(size: str | None, offered: list[str] | None, model: str) -> str | None:
    """The offered ratio `size` stands for; None for no preference or when nothing is known.
    `InvalidRequest` (listing what is offered) when the model has no such ratio."""
    if size is None or size.strip().lower() == "auto":
        return None
    width, height = parse_size(size)
    if offered is None:
        return None
    wanted = math.log(width / height)
    best = min(offered, key=lambda r: abs(math.log(_value(r)) - wanted), default=None)
    if best is not None and abs(math.log(_value(best)) - wanted) <= TOLERANCE:
        return best
    divisor = math.gcd(width, height)
    raise InvalidRequest(
        f"size {size} ({width // divisor}:{height // divisor}) is not offered by {model!r}; "
        f"it offers the aspect ratios {', '.join(offered) or 'none'} "
        "(e.g. 1024x1024 for 1:1, 1792x1024 for 16:9, 1024x1792 for 9:16)",
        param="size",
    )
