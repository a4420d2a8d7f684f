"""The two eras the fake LMArena plays (protocol doc §10.4, the two eras side by side).

    arena = FakeArena(era="2026-10")               # or "2025" (the default)
    arena.use_era("2025")                          # switch at any time (tests share a server)
    arena.use_era("2026-10", modes=("direct",))    # an era with one thing changed: a drift

An `Era` is every behaviour that differs between the site as bridges saw it up to early 2026
("2025") and the site of the 2026-02…10 sources ("2026-10", `lmarena-2026.md` §1–§5). The
fields after `accounts` are not eras of the real site: they inject the drifts `lmarenarev
doctor` must diagnose (a catalogue field renamed, an unknown record prefix).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

ERA_2025 = "2025"
ERA_2026 = "2026-10"
ROUTE_NOT_ALLOWED = "Route not allowed"


@dataclass(frozen=True)
class Era:
    """How the fake site behaves; every field is one difference between the eras."""

    name: str
    # The app page (§1.1): 2026 serves it at /text/direct and 301s /?mode=direct there.
    chat_page: str
    # The page HTML embeds `initialModels` (§4.1); 2026's anonymous HTML does not.
    initial_models: bool
    # GET /nextjs-api/model-catalog answers the catalogue by arena (§4.1 2026).
    catalog: bool
    # `mode` values create-evaluation accepts (§1.3); 2026 refuses "direct".
    modes: tuple[str, ...]
    # `modality` values accepted (§1.3, §4.3).
    modalities: tuple[str, ...]
    # `modelBMessageId` required in every mode, direct included (§1.3 2026).
    model_b_message_id_always: bool
    # post-to-evaluation requires `mode` (§1.4 2026).
    mode_on_post: bool
    # The action a create/post token must be minted for (§3.2; None: any action).
    submit_action: str | None
    # The retry body must carry a token minted for this action (§1.5 2026; None: `{}` is fine).
    retry_action: str | None
    # /api/stream/* still served (else 403 "Route not allowed", §1.2 2026).
    legacy_routes: bool
    # Alias hosts (lmarena.ai) answer 301 to the canonical host for every route (§1.1 2026).
    redirect_aliases: bool
    # Status of a Cloudflare challenge on the stream routes (§3.1: 429 in 2026).
    cloudflare_status: int
    # `ag:` payload: None → a JSON string; a key → an object `{key: text}` (§2.2 2026).
    reasoning_key: str | None
    # /api/me, /api/me/pulse and /nextjs-api/sign-in/email exist (§10.1).
    accounts: bool
    # A retired model's answer on create-evaluation: 404 (2026, §4.1) or 400 "model not found".
    gone_status: int
    # --- drifts (for doctor's tests), not eras of the real site ---------------------------
    catalog_renames: Mapping[str, str] = field(default_factory=dict)  # model field → new name
    extra_records: tuple[str, ...] = ()  # raw records every answer carries before its finish

    def with_changes(self, **changes: Any) -> Era:
        """This era with some fields changed (a drift); ValueError on an unknown field."""
        known = {item.name for item in dataclasses.fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise ValueError(f"unknown Era fields {unknown}; known: {sorted(known)}")
        return dataclasses.replace(self, **changes)

    def describe(self) -> dict[str, Any]:
        """JSON-ready (`GET /__fake/era`)."""
        data = dataclasses.asdict(self)
        data["catalog_renames"] = dict(self.catalog_renames)
        return data


ERAS: dict[str, Era] = {
    ERA_2025: Era(
        name=ERA_2025,
        chat_page="/?mode=direct",
        initial_models=True,
        catalog=False,
        modes=("direct", "direct-battle", "side-by-side", "battle"),
        modalities=("chat", "image", "search"),
        model_b_message_id_always=False,
        mode_on_post=False,
        submit_action=None,
        retry_action=None,
        legacy_routes=True,
        redirect_aliases=False,
        cloudflare_status=403,
        reasoning_key=None,
        accounts=False,
        gone_status=400,
    ),
    ERA_2026: Era(
        name=ERA_2026,
        chat_page="/text/direct",
        initial_models=False,
        catalog=True,
        modes=("direct-battle", "side-by-side", "battle", "agent"),
        modalities=("chat", "text", "image", "video", "webdev", "search"),
        model_b_message_id_always=True,
        mode_on_post=True,
        submit_action="chat_submit",
        retry_action="chat_retry",
        legacy_routes=False,
        redirect_aliases=True,
        cloudflare_status=429,
        reasoning_key="thinking",
        accounts=True,
        gone_status=404,
    ),
}

# Host aliases: a request addressed to the key is the old origin of the value (§1.1). The
# browser harness maps lmarena.ai and arena.ai to the fake; plain clients use localhost.
DEFAULT_ALIASES: dict[str, str] = {"lmarena.ai": "arena.ai", "localhost": "127.0.0.1"}


def era_named(name: str | Era, **changes: Any) -> Era:
    """The era called `name` ("2025" or "2026-10"), with `changes`; KeyError names the eras."""
    base = name if isinstance(name, Era) else ERAS.get(name)
    if base is None:
        raise KeyError(f"unknown era {name!r}; known: {', '.join(ERAS)}")
    return base.with_changes(**changes) if changes else base
