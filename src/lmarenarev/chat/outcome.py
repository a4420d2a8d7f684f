"""What a relay did, as one value once it stopped: for the request log, the dashboard, the
conversation store and the endpoint pools (nobody reads a running `Relay`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from .conversation import SessionRef


@dataclass(frozen=True, slots=True)
class RelayOutcome:
    attempts: int = 0
    retries: dict[str, int] = field(default_factory=dict)  # re-attempts by the failure's kind
    worker_id: str | None = None  # the tab of the latest attempt
    bytes_received: int = 0  # of LMArena's answers, over all attempts
    last_failure: str | None = None  # the latest failure's kind (arena.errors.Kind, or "worker")
    session: SessionRef | None = None  # LMArena's session and answer of the latest attempt
    truncated: int = 0  # replies cut off (a body without its finish record), over all attempts
