"""Next.js server actions of the LMArena page (protocol §1.8) and how their ids are found.

An action is `POST <page url>` with `Next-Action: <42-hex id>` and a JSON array of arguments;
the answer is React-Server-Components text, lines `N:<json>`, the result on the line `1:`.
Ids change with every deployment; they are read from the page's JS chunks, where each action is
`createServerReference("<id>", callServer, …, "<name>")` (§4.1).
"""

from __future__ import annotations

import json
import re
from typing import Any

ACTION_PAGE = "/?mode=direct"
UPLOAD_ACTIONS = ("generateUploadUrl", "getSignedUrl")

_REFERENCE = re.compile(
    r"createServerReference\)?\s*\(\s*[\"']([0-9a-f]{42})[\"']([^()]{0,400}?)[\"'](\w+)[\"']\s*\)"
)
_CHUNK = re.compile(r"(?:/_next/)?(static/chunks/[\w\-./~%]+?\.js)")


class ActionFailed(Exception):
    """The action answered, but not with `{"success": true, "data": …}`."""


def find_action_ids(script: str) -> dict[str, str]:
    """Action name → id, for every `createServerReference` in a JS chunk."""
    return {match.group(3): match.group(1) for match in _REFERENCE.finditer(script)}


def chunk_urls(page: str, script_srcs: list[str]) -> list[str]:
    """Same-origin paths of the page's JS chunks (its `<script src>`s first, then the chunks
    the flight data names), without repeats."""
    found: list[str] = []
    for text in [*script_srcs, page]:
        for match in _CHUNK.finditer(text.replace("\\/", "/")):
            path = "/_next/" + match.group(1)
            if path not in found:
                found.append(path)
    return found


def action_headers(action_id: str) -> dict[str, str]:
    return {
        "Accept": "text/x-component",
        "Content-Type": "text/plain;charset=UTF-8",
        "Next-Action": action_id,
    }


def action_body(args: list[Any]) -> str:
    return json.dumps(args, ensure_ascii=False, separators=(",", ":"))


def action_result(text: str) -> dict[str, Any]:
    """The `data` of the `1:` line; `ActionFailed` when it is missing or not a success."""
    for line in text.splitlines():
        if not line.startswith("1:"):
            continue
        try:
            result = json.loads(line[2:])
        except ValueError:
            raise ActionFailed("the action's answer is not JSON") from None
        if isinstance(result, dict) and result.get("success") is True:
            data = result.get("data")
            if isinstance(data, dict):
                return data
        error = result.get("error") if isinstance(result, dict) else None
        raise ActionFailed(f"the action failed: {str(error or result)[:200]}")
    raise ActionFailed("the action's answer has no result line")
