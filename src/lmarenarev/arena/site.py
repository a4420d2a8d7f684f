"""What the gateway learned about each LMArena origin, and the drift the site showed.

`mode` and `modality` (protocol §1.3, §4.3) are sent per model type with the 2026 defaults
(configurable). The values moved once already (`direct` → `direct-battle`, 2026-07) and sources
still disagree (`modality` chat vs text), so when LMArena refuses a value with a 4xx that names
it, the relay tries the alternative once (US10 does the same for `mode`); what worked is
remembered per origin (arena.ai and lmarena.ai may differ) and shown in `status`.

`Drift` counts what the site sent that this version does not know: record prefixes (§2.2),
catalogue fields and arenas (§4.1, §4.2), refused values. /metrics and `status` show it; `doctor`
reports it. State only, built in `build_gateway`; no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from .errors import Kind, UpstreamProblem

Field = Literal["mode", "modality"]

# 2026 defaults (§1.3 "Today", §4.3): direct-battle; chat for text, search for search models.
DEFAULT_MODE = "direct-battle"
DEFAULT_MODALITIES: dict[str, str] = {
    "text": "chat",
    "search": "search",
    "image": "image",
    "video": "video",
    "code": "webdev",
    "document": "chat",
}
# The one alternative tried after a refusal (§1.3, §9: the values sources disagree on).
ALTERNATIVES: dict[Field, dict[str, str]] = {
    "mode": {"direct-battle": "direct", "direct": "direct-battle"},
    "modality": {"chat": "text", "text": "chat", "search": "chat", "webdev": "chat"},
}
_NAMES = {"mode": re.compile(r"\bmode\b", re.I), "modality": re.compile(r"\bmodality\b", re.I)}


def refused_field(problem: UpstreamProblem) -> Field | None:
    """Which of our values a 4xx refused, when its text names it ("Invalid mode")."""
    if problem.kind is not Kind.BAD_REQUEST:
        return None
    if _NAMES["modality"].search(problem.message):
        return "modality"
    if _NAMES["mode"].search(problem.message):
        return "mode"
    return None


@dataclass(frozen=True, slots=True)
class Choices:
    """The `mode` and `modality` a create/post request sends on one site."""

    mode: str
    modalities: Mapping[str, str]

    def modality(self, model_type: str) -> str:
        return self.modalities.get(model_type) or DEFAULT_MODALITIES.get(model_type, "chat")


DEFAULT_CHOICES = Choices(DEFAULT_MODE, DEFAULT_MODALITIES)


MAX_DRIFT_KEYS = 100  # per table: a label set of /metrics stays bounded


def _count(table: dict[str, int], key: str, count: int = 1) -> None:
    if key in table or len(table) < MAX_DRIFT_KEYS:
        table[key] = table.get(key, 0) + count


@dataclass
class Drift:
    """What LMArena sent that this version does not know, counted since the start."""

    unknown_records: dict[str, int] = field(default_factory=dict)  # record prefix → count
    unknown_catalog_fields: dict[str, int] = field(default_factory=dict)  # field → reads
    refused: dict[str, int] = field(default_factory=dict)  # "mode=direct" → refusals

    def records(self, unknown: Mapping[str, int]) -> None:
        for prefix, count in unknown.items():
            _count(self.unknown_records, prefix[:8], count)

    def catalog_fields(self, names: list[str]) -> None:
        for name in names:
            _count(self.unknown_catalog_fields, name[:80])

    def describe(self) -> dict[str, dict[str, int]]:
        return {
            "unknown_record_prefixes": dict(self.unknown_records),
            "unknown_catalog_fields": dict(self.unknown_catalog_fields),
            "refused_values": dict(self.refused),
        }


class SiteState:
    """Per origin: the values learned after a refusal (else the configured ones), and drift."""

    def __init__(self, mode: str = DEFAULT_MODE,
                 modalities: Mapping[Any, str] | None = None, *, learn: bool = True) -> None:
        self.drift = Drift()
        self.learned: dict[str, dict[str, str]] = {}  # origin → {"mode" | "modality:<type>"}
        self.configure(mode, modalities or DEFAULT_MODALITIES, learn=learn)

    def configure(self, mode: str, modalities: Mapping[Any, str], *, learn: bool) -> None:
        """The configured values (at start and on reload); what was learned stays.
        (`modalities`' keys are model types: the settings type them as a Literal.)"""
        chosen = {str(kind): value for kind, value in modalities.items()}
        self.configured = Choices(mode, {**DEFAULT_MODALITIES, **chosen})
        self.learn = learn

    def choices(self, origin: str, override: Mapping[str, str] | None = None) -> Choices:
        """What to send on `origin`; `override` ("mode" / "modality:<type>") wins."""
        learned = {**self.learned.get(origin, {}), **(override or {})}
        if not learned:
            return self.configured
        mode = learned.get("mode", self.configured.mode)
        modalities = dict(self.configured.modalities)
        for key, value in learned.items():
            if key.startswith("modality:"):
                modalities[key.removeprefix("modality:")] = value
        return Choices(mode, modalities)

    def alternative(self, name: Field, refused: str) -> str | None:
        """The value to try after `refused` was refused, if learning is on and there is one."""
        return ALTERNATIVES[name].get(refused) if self.learn else None

    def refusal(self, name: Field, value: str) -> None:
        _count(self.drift.refused, f"{name}={value}"[:80])

    def worked(self, origin: str, key: str, value: str) -> None:
        """An alternative got an answer: use it on `origin` from now on."""
        self.learned.setdefault(origin, {})[key] = value

    def describe(self) -> dict[str, object]:
        configured = self.configured
        return {
            "configured": {"mode": configured.mode, "modality": dict(configured.modalities)},
            "learning": self.learn,
            "learned": {origin: dict(values) for origin, values in self.learned.items()},
            "drift": self.drift.describe(),
        }
