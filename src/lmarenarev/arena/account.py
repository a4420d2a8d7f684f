"""Who a tab's LMArena account is, as far as the site tells (protocol §10.1, lmarena-2026 §5).

`GET /api/me` answers 401 for an anonymous session and 200 with the user when logged in; older
sites have no such route (404). `GET /api/me/pulse` answers `{"pulse": 0..100, "refreshedAt"}`;
polling it often gets 429. Whether the pulse meters direct chat is not established (§9), so it
is shown, never acted on; `429 prompt failed` on a chat is what cools an account down.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

ME_ROUTE = "/api/me"
PULSE_ROUTE = "/api/me/pulse"


@dataclass(frozen=True, slots=True)
class Account:
    """What one tab's account looks like now."""

    logged_in: bool | None = None  # None: unknown (not asked yet, or the site has no /api/me)
    pulse: int | None = None  # 0..100, where readable
    pulse_at: str | None = None  # LMArena's refreshedAt
    checked_at: float | None = None  # wall clock of the last answer
    note: str = ""  # why something is unknown, in plain words

    def describe(self) -> dict[str, Any]:
        return {
            "logged_in": self.logged_in,
            "state": state_name(self.logged_in),
            "pulse": self.pulse,
            "pulse_refreshed_at": self.pulse_at,
            "checked_at": self.checked_at,
            "note": self.note,
        }


def state_name(logged_in: bool | None) -> str:
    return {True: "logged_in", False: "anonymous", None: "unknown"}[logged_in]


def read_me(status: int) -> tuple[bool | None, str]:
    """`/api/me`'s status → (logged in?, a note). The body is not kept: it names the user."""
    if status == 200:
        return True, ""
    if status == 401:
        return False, ""
    if status == 404:
        return None, "this LMArena has no /api/me (an older site)"
    return None, f"/api/me answered {status}"


def read_pulse(status: int, body: str) -> tuple[int | None, str | None, str]:
    """`/api/me/pulse` → (pulse, refreshedAt, a note)."""
    if status == 429:
        return None, None, "LMArena answered 429: the quota is polled too often"
    if status != 200:
        return None, None, f"/api/me/pulse answered {status}"
    try:
        data = json.loads(body)
    except ValueError:
        return None, None, "/api/me/pulse did not answer JSON"
    pulse = data.get("pulse") if isinstance(data, dict) else None
    if isinstance(pulse, bool) or not isinstance(pulse, int | float):
        return None, None, "/api/me/pulse has no pulse number"
    refreshed = data.get("refreshedAt")
    return round(pulse), refreshed if isinstance(refreshed, str) else None, ""
