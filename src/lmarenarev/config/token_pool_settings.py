"""Settings of the tabs' reCAPTCHA token pool (docs/worker-protocol.md "Token pool").

One field per key; `Settings` (settings.py) joins this group with the others. A token pool
takes the reCAPTCHA mint (a round trip to Google, protocol §3.2) off a request's way: a tab that
holds a fresh token starts its fetch at once.
"""

from __future__ import annotations

from pydantic import BaseModel, Field


class TokenPoolSettings(BaseModel):
    token_pool_size: int = Field(
        1,
        ge=0,
        le=8,
        description="reCAPTCHA tokens each tab keeps ready for new messages (action "
        "recaptcha_action), minted while requests are coming so that a request starts without "
        "waiting for one (0-8; 0: off, every request mints its own).",
    )
    token_pool_max_age_seconds: float = Field(
        90.0,
        gt=0,
        le=110,
        description="A pooled token is used only while younger than this; older ones are "
        "dropped (LMArena's tokens live about 2 minutes; the margin covers the request's way).",
    )
    token_pool_warm_seconds: float = Field(
        120.0,
        ge=0,
        description="How long after a tab's last request (its arrival or its end) the tab "
        "keeps its pool full; an idle tab mints nothing.",
    )
