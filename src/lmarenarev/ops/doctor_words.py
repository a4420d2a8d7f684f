"""What to try next when the doctor's chat fails, by the error's code (which `arena.errors` and
the relay set: the same codes clients and the request log see); the error's own message says
what went wrong, in plain words."""

from __future__ import annotations

from ..arena.page import CHAT_PAGE
from ..errors import GatewayError

SEND_BUNDLE = "run `lmarenarev doctor --save DIR` and attach DIR to a bug report"

# What to try next, by the failure's code (what went wrong is the error's own message).
_HINTS: dict[str, str] = {
    "recaptcha_failed": "reload the tab and keep it visible (tokens of hidden or headless tabs "
    "are refused); if it goes on, LMArena changed its reCAPTCHA key or action: set "
    "recaptcha_site_key / recaptcha_action to what its page uses, or " + SEND_BUNDLE,
    "cloudflare_challenge": "pass the check in the tab (the gateway reloaded it), then run "
    "doctor again",
    "lmarena_login_required": "log in to LMArena in that tab, or reload it so the site makes a "
    "new session",
    "account_quota_exhausted": "open a tab logged in to another LMArena account, or try again "
    "later",
    "rate_limited": "wait as long as it says (Retry-After), then run doctor again",
    "model_not_available": "run `lmarenarev update-models` and pick another (doctor --model NAME)",
    "model_gone": "run `lmarenarev update-models` and pick another (doctor --model NAME)",
    "upstream_redirect": f"open https://arena.ai{CHAT_PAGE} in the tab (LMArena moved from "
    "lmarena.ai)",
    "upstream_bad_request": "LMArena changed what it accepts: " + SEND_BUNDLE,
    "empty_response": "LMArena may have changed its stream: " + SEND_BUNDLE,
    "upstream_truncated": "run doctor again; if every reply is cut, LMArena changed how a reply "
    "ends: " + SEND_BUNDLE,
    "arena_error": "try another model (doctor --model NAME); if every model fails, "
    + SEND_BUNDLE,
    "no_worker": f"open https://arena.ai{CHAT_PAGE} with the userscript (title starts with ✅)",
    "worker_lost": "keep the tab open and run doctor again",
    "timeout": "check the tab still shows LMArena (not a challenge), then run doctor again",
}


def failure_words(error: GatewayError, step: str) -> tuple[str, str]:
    """(what went wrong, what to try next) for a failed chat or regenerate."""
    code = error.code or ""
    hint = _HINTS.get(code, SEND_BUNDLE)
    if step == "regenerate" and code == "recaptcha_failed":
        hint = ("LMArena may want another action for its retry route: set "
                "recaptcha_retry_action to what its page uses, or " + SEND_BUNDLE)
        return f"{error.message} (the regenerate's, minted for recaptcha_retry_action)", hint
    return error.message, hint
