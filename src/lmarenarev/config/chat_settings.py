"""Settings of chat completions as clients send them: continuity, choices, structured output.

One field per key (docs/conversations.md and the README's "Chat completions" section explain
them); `Settings` (settings.py) joins this group with the others.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class ChatSettings(BaseModel):
    conversation_continuity: Literal["lenient", "strict"] = Field(
        "lenient",
        description='When a request continues an LMArena session (modern flow). "lenient": the '
        "history ends with the session's newest reply followed by new messages, comparing the "
        "user and assistant messages only, so what roleplay clients change in system messages "
        "(lorebook entries, dialogue examples sent only at first, an author's note at a "
        "depth) keeps the session; a system text the session has not seen goes along with "
        'the new message. "strict": every earlier message must be unchanged, else the history '
        "is folded into a new session.",
    )
    max_choices: int = Field(
        8,
        ge=1,
        le=128,
        description="The largest n a chat completion may ask for; each choice is a new LMArena "
        "session run in parallel and counts as one request against the API key's rpm.",
    )
    structured_output_corrections: int = Field(
        1,
        ge=0,
        le=3,
        description="With response_format json_object/json_schema: how many corrective turns "
        "(in the same LMArena session) the gateway sends when the answer is not valid JSON "
        "for the schema, before it answers with an error.",
    )
