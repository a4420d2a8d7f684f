"""Settings for today's LMArena (arena.ai, late 2026): request values, tokens, accounts.

One field per key; `Settings` (settings.py) joins this group with the others. The defaults are
the 2026 ones (protocol §1.3, §3.2, §10.1); the values LMArena refuses are learned per site at
run time (arena/site.py), so an older or newer site keeps working.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from ..arena.site import DEFAULT_MODALITIES

ModelKind = Literal["text", "search", "image", "video", "code", "document"]


def _modalities() -> dict[ModelKind, str]:
    kinds: tuple[ModelKind, ...] = ("text", "search", "image", "video", "code", "document")
    return {kind: DEFAULT_MODALITIES[kind] for kind in kinds}


class ArenaSettings(BaseModel):
    arena_modalities: dict[ModelKind, str] = Field(
        default_factory=_modalities,
        description='The "modality" sent to LMArena per model type (text, search, image, '
        'video, code, document), e.g. {"text": "chat", "search": "search"}. A type not listed '
        "keeps its default (text chat, search search, image image, video video, code webdev, "
        "document chat).",
    )
    arena_learn_values: bool = Field(
        True,
        description='When LMArena refuses our "mode" or "modality" with an error naming it, try '
        "the alternative once (direct-battle ↔ direct, chat ↔ text, search → chat) and keep "
        "using what worked on that site (shown by `lmarenarev status`).",
    )
    recaptcha_retry_action: str = Field(
        "chat_retry",
        description="reCAPTCHA action of the token a regenerate (LMArena's retry route) carries; "
        "LMArena checks the action per route.",
    )
    account_check_minutes: float = Field(
        60.0,
        ge=0,
        description="Ask each tab whether its LMArena account is logged in (/api/me) when it "
        "connects, and again with its quota (/api/me/pulse) every this many minutes; LMArena "
        "answers 429 to frequent polls. 0: never.",
    )
    account_quota_cooldown_seconds: float = Field(
        3600.0,
        gt=0,
        description='After LMArena answers "429 prompt failed" (this account\'s quota is used '
        "up), the tab gets no requests for this long; requests go to the other tabs.",
    )
