"""The managed browser's settings (`lmarenarev serve --browser`, `lmarenarev login`): one block,
`browser`, joined to `Settings` (settings.py) as a group of its own (docs/browser.md)."""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

DEFAULT_PAGE_URL = "https://arena.ai/text/direct"
PROFILE_DIR_NAME = "browser-profile"


class ManagedBrowser(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(
        False,
        description="Start the managed browser with `lmarenarev serve` (the same as `serve "
        "--browser`): a Chrome, Chromium or Edge whose tabs the gateway opens on page_url and "
        "puts the served userscript into, no userscript manager needed.",
    )
    executable: str = Field(
        "",
        description="The browser to run (a Chrome, Chromium or Edge executable). Empty: the "
        "first found of Google Chrome, Chromium and Microsoft Edge on the usual paths.",
    )
    profile_dir: str = Field(
        "",
        description="The managed browser's own profile (its login, cookies and Cloudflare "
        f"clearance survive restarts there). Empty: <data directory>/{PROFILE_DIR_NAME}; a "
        "relative path is inside the data directory.",
    )
    tabs: int = Field(
        1,
        ge=1,
        le=32,
        description="How many worker tabs the managed browser keeps open (each in its own "
        "window, each runs up to worker_capacity requests); `serve --tabs N`.",
    )
    page_url: str = Field(
        DEFAULT_PAGE_URL,
        description="The page the managed tabs open (and `lmarenarev login` shows). Its origin "
        "is accepted as a worker origin while the managed browser runs.",
    )
    headless: bool = Field(
        False,
        description="Run the managed browser without a window (`serve --headless`). reCAPTCHA "
        "may score a headless browser low, and nobody can pass a challenge in it: log in "
        "first with `lmarenarev login`.",
    )
    args: list[str] = Field(
        default_factory=list,
        description='Extra command-line switches for the browser, like "--proxy-server=socks5:'
        '//127.0.0.1:1080" or "--lang=en-US".',
    )
    away_grace_seconds: float = Field(
        120.0,
        gt=0,
        description="A managed tab that has been on another site this long (a login through "
        "another site takes a moment) is opened on page_url again.",
    )

    @field_validator("page_url")
    @classmethod
    def _page_url(cls, url: str) -> str:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{url!r} is not a web page address like {DEFAULT_PAGE_URL}")
        return url

    def page_origin(self) -> str:
        parts = urlsplit(self.page_url)
        return f"{parts.scheme}://{parts.netloc}".lower()


class BrowserSettings(BaseModel):
    browser: ManagedBrowser = Field(
        default_factory=ManagedBrowser,
        description="The managed browser of `lmarenarev serve --browser` and `lmarenarev "
        "login` (docs/browser.md).",
    )
