"""The upload shapes of the file beds the mogai fork lists, as presets of `file_bed_endpoints`.

An entry names one with `"preset"`, or gets the one whose host its `url` is on; the preset
gives every key the entry leaves out. Each shape is written from the host's public page (see
`SOURCES` and docs/files.md, "File beds"); none of these hosts can be reached from the test
machines, so the tests run each shape against testkit/fakes/filebed.py, which answers the
same way.

An entry with neither gets the defaults of a minimal entry (`minimal_defaults`): an upload URL
ending in `/upload` is taken for the LMArenaBridge file bed (and `lmarenarev file-bed`), any
other one for the shape most anonymous hosts share: a multipart form with a `file` field,
answered with text holding the link.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

PRESETS: dict[str, dict[str, Any]] = {
    # {file_name, file_data: <data URL>, api_key} → {success, filename} (protocol §5.2)
    "lmarenabridge": {
        "upload_mode": "json",
        "api_key_field": "api_key",
        "response_type": "json",
        "json_url_key": "",
    },
    "imgbb": {
        "url": "https://api.imgbb.com/1/upload",
        "upload_mode": "form",
        "api_key_field": "key",
        "form_file_field": "image",
        "response_type": "json",
        "json_url_key": "data.url",
    },
    "freeimage": {
        "url": "https://freeimage.host/api/1/upload",
        "upload_mode": "form",
        "api_key_field": "key",
        "form_file_field": "source",
        "form_fields": {"action": "upload", "format": "json"},
        "response_type": "json",
        "json_url_key": "image.url",
    },
    "0x0": {
        "url": "https://0x0.st",
        "upload_mode": "form",
        "form_file_field": "file",
        "response_type": "text",
    },
    "uguu": {
        "url": "https://uguu.se/upload",
        "upload_mode": "form",
        "form_file_field": "files[]",
        "response_type": "json",
        "json_url_key": "files[0].url",
    },
    "bashupload": {
        "url": "https://bashupload.com/",
        "upload_mode": "form",
        "form_file_field": "file",
        "response_type": "text",
    },
    "tempsh": {
        "url": "https://temp.sh/upload",
        "upload_mode": "form",
        "form_file_field": "file",
        "response_type": "text",
    },
}

# Where each shape comes from (also in docs/files.md).
SOURCES: dict[str, str] = {
    "lmarenabridge": "LMArenaBridge's file_bed_server/main.py (protocol §5.2)",
    "imgbb": "https://api.imgbb.com/ (API v1: POST key + image, JSON data.url)",
    "freeimage": "https://freeimage.host/page/api (API v1: key, action=upload, source, "
    "format=json; JSON image.url)",
    "0x0": "https://0x0.st (its front page: a form field `file`, the link as text)",
    "uguu": "https://uguu.se/faq and Uguu's source (a form field `files[]`; JSON "
    "{success, files: [{url, ...}]})",
    "bashupload": "https://bashupload.com (a form field `file`; a text answer with the link "
    "in a `wget <link>` line)",
    "tempsh": "https://temp.sh (its front page: a form field `file` POSTed to /upload, the "
    "link as text)",
}

_HOSTS = {
    "api.imgbb.com": "imgbb",
    "freeimage.host": "freeimage",
    "0x0.st": "0x0",
    "uguu.se": "uguu",
    "bashupload.com": "bashupload",
    "temp.sh": "tempsh",
}

GENERIC: dict[str, Any] = {
    "upload_mode": "form",
    "form_file_field": "file",
    "response_type": "text",
}


def preset_for_url(url: str) -> str:
    """The preset whose host `url` is on ("" when none is)."""
    host = (urlsplit(url).hostname or "").lower().removeprefix("www.")
    return _HOSTS.get(host, "")


def minimal_defaults(url: str) -> tuple[str, dict[str, Any]]:
    """(preset name or "", the defaults) of an entry that names no preset and no upload_mode."""
    preset = preset_for_url(url)
    if preset:
        return preset, PRESETS[preset]
    if urlsplit(url).path.rstrip("/").endswith("/upload"):
        return "lmarenabridge", PRESETS["lmarenabridge"]
    return "", GENERIC
