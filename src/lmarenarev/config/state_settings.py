"""Settings of what the gateway keeps across restarts (store/state.py): how long the modern
flow's conversation map holds an entry. `conversation_cache_size` (gateway_settings.py) bounds
how many it holds."""

from __future__ import annotations

from pydantic import BaseModel, Field


class StateSettings(BaseModel):
    conversation_max_age_hours: float = Field(
        168.0,
        ge=0,
        description="How long after its last reply a conversation can still be continued in "
        "the same LMArena session (also after a restart: the conversation map is kept in "
        "lmarenarev.sqlite3, as digests of the histories and LMArena's ids, never their text). "
        "Older ones start a new session with the history folded in. 0: no age limit (only "
        "conversation_cache_size bounds it).",
    )
