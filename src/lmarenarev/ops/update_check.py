"""Is a newer lmarenarev released? Asked of PyPI at most once a day, never in the way.

The answer is cached in `<home>/.update_check.json` with the time of the last attempt, so a
start asks at most daily even when offline. Every failure (offline, timeout, odd JSON, a home
that cannot be written) is silent: the check is a courtesy. Pre-releases are never suggested.
`serve` runs it in the background (`enable_auto_update`): the notice is logged and shown on the
dashboard; with "apply" the release is also installed (ops/upgrade.py) and the notice says to
restart.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..config.writer import atomic_write

PYPI_JSON_URL = "https://pypi.org/pypi/lmarenarev/json"
CACHE_FILE = ".update_check.json"
CHECK_EVERY_SECONDS = 24 * 3600.0
TIMEOUT_SECONDS = 3.0
_RELEASE = re.compile(r"^\d+(?:\.\d+)*$")


def release(version: str) -> tuple[int, ...] | None:
    """(1, 2, 3) for "1.2.3"; None for pre-releases and anything else."""
    text = version.strip().removeprefix("v")
    if not _RELEASE.match(text):
        return None
    parts = [int(part) for part in text.split(".")]
    while len(parts) > 1 and parts[-1] == 0:
        parts.pop()
    return tuple(parts)


def is_newer(latest: str, current: str) -> bool:
    new, old = release(latest), release(current.split("+")[0])
    if new is None:
        return False
    return old is None or new > old


def read_cache(home: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((home / CACHE_FILE).read_text("utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("checked_at"), int | float):
        return None
    return data


def _fetch_latest(url: str, timeout: float) -> str | None:
    opener = urllib.request.build_opener()
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    with opener.open(request, timeout=timeout) as response:
        data = json.loads(response.read(1024 * 1024))
    version = data.get("info", {}).get("version") if isinstance(data, dict) else None
    return version if isinstance(version, str) else None


def latest_version(
    home: Path,
    *,
    url: str = PYPI_JSON_URL,
    now: float | None = None,
    timeout: float = TIMEOUT_SECONDS,
) -> str | None:
    """The newest release PyPI lists: cached for a day, None when unknown."""
    now = time.time() if now is None else now
    cached = read_cache(home)
    if cached is not None and 0 <= now - cached["checked_at"] < CHECK_EVERY_SECONDS:
        latest = cached.get("latest")
        return latest if isinstance(latest, str) else None
    try:
        latest = _fetch_latest(url, timeout)
    except Exception:  # offline, DNS, TLS, HTTP error, bad JSON: say nothing
        latest = None
    if latest is None and cached is not None and isinstance(cached.get("latest"), str):
        latest = cached["latest"]
    with contextlib.suppress(OSError):  # a read-only home: ask again next time
        atomic_write(home / CACHE_FILE, json.dumps({"checked_at": now, "latest": latest}) + "\n")
    return latest


def newer_release(home: Path, current: str, **kwargs: Any) -> str | None:
    latest = latest_version(home, **kwargs)
    return latest if latest is not None and is_newer(latest, current) else None


def cached_newer_release(home: Path, current: str) -> str | None:
    """What the last check found, without asking anyone (for the short commands)."""
    cached = read_cache(home)
    latest = cached.get("latest") if cached else None
    return latest if isinstance(latest, str) and is_newer(latest, current) else None


def notice(latest: str, current: str) -> str:
    return f"lmarenarev {latest} is available (this is {current}): run `lmarenarev update`"


def applied(latest: str, current: str, install: Callable[[str], str]) -> str:
    """Install the release with `install` (it returns the version installed); what to say."""
    try:
        installed = install(latest)
    except Exception as exc:  # a failed pip or git: say so, keep running what runs
        return (f"lmarenarev {latest} is available (this is {current}) but installing it "
                f"failed: {exc}; run `lmarenarev update` to see why")
    return (f"lmarenarev {installed} is installed (this process still runs {current}): "
            "restart the gateway to use it")


def check_in_background(
    home: Path,
    current: str,
    report: Callable[[str, str], None],
    *,
    url: str = PYPI_JSON_URL,
    install: Callable[[str], str] | None = None,
) -> threading.Thread:
    """Run the check in a daemon thread; `report(latest, notice)` only when a newer release
    exists. With `install` ("apply") the release is installed first and the notice says how
    that went."""

    def run() -> None:
        latest = newer_release(home, current, url=url)
        if latest is None:
            return
        text = notice(latest, current) if install is None else applied(latest, current, install)
        report(latest, text)

    thread = threading.Thread(target=run, name="lmarenarev-update-check", daemon=True)
    thread.start()
    return thread
