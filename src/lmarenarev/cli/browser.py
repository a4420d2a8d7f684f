"""The managed browser on the command line: `serve --browser [--tabs N] [--headless]` and
`lmarenarev login` (docs/browser.md)."""

from __future__ import annotations

import argparse
import asyncio
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..browser.keeper import browser_config
from ..browser.launch import BrowserError, display_problem, find_executable
from ..browser.login import enter_pressed, login
from ..config.load import load_settings, parse_set_option
from ..config.settings import Settings

NEXT_STEP = """\
Next: the gateway opens the browser's tabs and puts the userscript into them (their titles start
with ✅ once connected). Log in to LMArena in its window once if you want your account's limits
(or run `lmarenarev login` before); then point any OpenAI client at the API base URL."""


def add_serve_flags(serve: argparse.ArgumentParser) -> None:
    serve.add_argument(
        "--browser",
        action="store_true",
        help="also run a managed browser (Chrome, Chromium or Edge) whose tabs are the workers: "
        "no userscript manager needed (browser.enabled)",
    )
    serve.add_argument(
        "--tabs", type=int, metavar="N", help="with --browser: how many tabs (browser.tabs)"
    )
    serve.add_argument(
        "--headless",
        action="store_true",
        help="with --browser: no window (browser.headless; log in first with lmarenarev login)",
    )


def serve_overrides(args: argparse.Namespace) -> dict[str, Any]:
    overrides: dict[str, Any] = {}
    if getattr(args, "browser", False):
        overrides["browser.enabled"] = True
    if getattr(args, "tabs", None) is not None:
        overrides["browser.tabs"] = args.tabs
    if getattr(args, "headless", False):
        overrides["browser.headless"] = True
    return overrides


def unused_flags(args: argparse.Namespace, settings: Settings) -> str | None:
    """A warning for --tabs / --headless given while no managed browser runs (never silent)."""
    given = [flag for flag, value in (("--tabs", getattr(args, "tabs", None)),
                                      ("--headless", getattr(args, "headless", False)))
             if value not in (None, False)]
    if not given or settings.browser.enabled:
        return None
    return f"{' and '.join(given)} do nothing without --browser (or browser.enabled)"


def banner_lines(settings: Settings, home: Path) -> list[str]:
    """The managed browser's lines of the start banner; a `BrowserError` (raised before the
    gateway starts) when there is no browser to run or no display to show it on."""
    browser = settings.browser
    executable = find_executable(browser.executable)
    problem = display_problem(browser.headless)
    if problem is not None:
        raise BrowserError(problem)
    config = browser_config(browser, home)
    tabs = f"{browser.tabs} tab{'s' if browser.tabs > 1 else ''}"
    mode = "headless" if browser.headless else "in a window"
    return [
        f"  Browser:        {executable}, {tabs} on {browser.page_url}, {mode}",
        f"  Profile:        {config.profile}",
        NEXT_STEP,
    ]


def add_login_command(
    commands: Any, add_home: Callable[[argparse.ArgumentParser], None]
) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "login",
        help="log in to LMArena in the managed browser's profile",
        description="Open the managed browser's profile (browser.profile_dir) in a window on "
        "browser.page_url, to log in to LMArena and pass a challenge once; `serve --browser` "
        "then uses that login. Closes when you close the window or press Enter here.",
    )
    add_home(parser)
    parser.add_argument(
        "--set",
        dest="sets",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config.jsonc key, like browser.executable=/usr/bin/chromium",
    )


def run_login(args: argparse.Namespace) -> int:
    home: Path = args.home.resolve()
    overrides = dict(parse_set_option(item) for item in args.sets)
    settings = load_settings(home, env=os.environ, overrides=overrides).settings
    config = browser_config(settings.browser, home)
    print(
        f"Opening {config.page_url} in the managed browser (profile {config.profile}).\n"
        "Log in to LMArena there (and pass a challenge if one shows). Close the window or press "
        "Enter here when you are done.",
        flush=True,
    )

    async def session() -> str:
        done = asyncio.Event()
        enter_pressed(asyncio.get_running_loop(), done)
        return await login(config, done)

    how = asyncio.run(session())
    print(f"Closed ({how}). The login is kept in {config.profile}.")
    return 0
