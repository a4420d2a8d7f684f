"""Next.js server actions and the R2-style upload store of the fake LMArena (protocol doc §1.8,
§5.3).

A server action is `POST <page url>` with header `Next-Action: <42-hex id>` and a JSON array of
arguments; the answer is React-Server-Components text (`text/x-component`):

    0:{"a":"$@1","f":"","b":"fake-build"}
    1:{"success":true,"data":{…}}

`generateUploadUrl(fileName, mimeType)` → `{uploadUrl, key}`; `PUT uploadUrl` stores the bytes;
`getSignedUrl(key)` → `{url}` whose GET serves them back. Upload and download URLs are
"pre-signed" S3-style (`X-Amz-Date` = YYYYMMDDTHHMMSSZ, `X-Amz-Expires` seconds,
`X-Amz-Signature` = HMAC over method, key, date and expiry), so a URL can't be reused for the
other method, for another key or after it expires.
"""

from __future__ import annotations

import calendar
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from testkit.fakes.arena_ids import uuid4
from testkit.fakes.arena_state import Upload

RSC_CONTENT_TYPE = "text/x-component"
DEFAULT_ACTION_IDS: Mapping[str, str] = {
    # generateUploadUrl is the example id from §1.8 (F@079a5fd2); the other is made up.
    "generateUploadUrl": "7012303914af71fce235a732cde90253f7e2986f2b",
    "getSignedUrl": "60a5c8f1e2d3b4a59687f0e1d2c3b4a5968778695a",
}
URL_TTL_SECONDS = 3600


@dataclass(frozen=True)
class ActionResult:
    status: int
    body: str


def rsc_body(result: Mapping[str, Any]) -> str:
    header = {"a": "$@1", "f": "", "b": "fake-build"}
    return f"0:{_dump(header)}\n1:{_dump(result)}\n"


def action_not_found() -> ActionResult:
    return ActionResult(404, "Server action not found.")


class UploadStore:
    """Pre-signed upload/download URLs over a dict of `Upload`s (owned by `ArenaState`)."""

    def __init__(self, uploads: dict[str, Upload]) -> None:
        self.uploads = uploads
        self._secret = secrets.token_bytes(32)

    def grant_upload(self, base: str, args: Sequence[Any], now: float) -> dict[str, str]:
        file_name = str(args[0]) if args else "file"
        key = f"{uuid4()}/{file_name}"
        return {"uploadUrl": self._signed(base, "PUT", key, now), "key": key}

    def grant_download(self, base: str, args: Sequence[Any], now: float) -> dict[str, str]:
        key = str(args[0]) if args else ""
        return {"url": self._signed(base, "GET", key, now)}

    def verify(self, method: str, key: str, query: Mapping[str, str], now: float) -> bool:
        date = query.get("X-Amz-Date", "")
        expires = query.get("X-Amz-Expires", "")
        expected = self._signature(method, key, date, expires)
        if not hmac.compare_digest(expected, query.get("X-Amz-Signature", "")):
            return False
        try:
            issued = calendar.timegm(time.strptime(date, "%Y%m%dT%H%M%SZ"))
        except ValueError:
            return False
        return now <= issued + int(expires)

    def _signed(self, base: str, method: str, key: str, now: float) -> str:
        date = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
        expires = str(URL_TTL_SECONDS)
        query = {
            "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
            "X-Amz-Credential": f"FAKEKEY/{date[:8]}/auto/s3/aws4_request",
            "X-Amz-Date": date,
            "X-Amz-Expires": expires,
            "X-Amz-Signature": self._signature(method, key, date, expires),
            "X-Amz-SignedHeaders": "host",
        }
        return f"{base}/r2/{quote(key)}?{urlencode(query)}"

    def _signature(self, method: str, key: str, date: str, expires: str) -> str:
        message = "\n".join((method, key, date, expires)).encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()


def run_action(name: str, args: Any, store: UploadStore, base: str, now: float) -> ActionResult:
    """Dispatch a known action by name."""
    if not isinstance(args, list):
        return ActionResult(200, rsc_body({"success": False, "error": "invalid arguments"}))
    if name == "generateUploadUrl":
        data = store.grant_upload(base, args, now)
    elif name == "getSignedUrl":
        data = store.grant_download(base, args, now)
    else:
        return action_not_found()
    return ActionResult(200, rsc_body({"success": True, "data": data}))


def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
