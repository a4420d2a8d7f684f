"""The managed browser with a window, on a virtual display (Xvfb), as on a server:
`lmarenarev login` shows the fake LMArena in the managed profile and closes on Enter or when
the window is closed; the login it leaves in the profile is what `serve --browser` (headful,
the default, its windows kept visible) then uses."""

from __future__ import annotations

import os
import select
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from lmarenarev.browser.launch import profile_processes
from testkit.browser import chromium_executable
from testkit.fakes.arena_auth import AUTH_COOKIE
from testkit.support import wait_until, write_home

from .conftest import Arena, lmarenarev_command, start_gateway_process
from .test_managed_browser_e2e import ask, browser_block, wait_for_tabs

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(chromium_executable() is None, reason="no Chromium"),
    pytest.mark.skipif(shutil.which("Xvfb") is None, reason="no Xvfb (apt-get install xvfb)"),
]


@pytest.fixture(scope="module")
def display() -> Iterator[str]:
    """A virtual X display; Xvfb picks a free number and says which (-displayfd)."""
    read, write = os.pipe()
    xvfb = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write), "-screen", "0", "1280x900x24", "-nolisten", "tcp"],
        pass_fds=(write,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    os.close(write)
    try:
        ready, _, _ = select.select([read], [], [], 20)
        assert ready, "Xvfb did not start"
        number = os.read(read, 64).decode().strip()
        yield f":{number}"
    finally:
        os.close(read)
        xvfb.terminate()
        xvfb.wait(10)


def page_loads(arena: Arena) -> list[dict[str, str]]:
    # Pages served, not the 301 of /?mode=direct to /text/direct (the fake's 2026-10 era).
    return [dict(r.cookies) for r in arena.fake.requests if r.kind == "page" and r.status == 200]


def start_login(home: Path, display: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LMARENAREV_")}
    env["DISPLAY"] = display
    return subprocess.Popen(
        [*lmarenarev_command(), "login", "--home", str(home)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env=env,
    )


def test_login_keeps_its_login_for_serve_browser_in_a_window(
    tmp_path: Path, arena: Arena, display: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = write_home(tmp_path / "home", arena.fake.models,
                      config={"browser": browser_block(arena)})
    login = start_login(home, display)
    try:
        wait_until(lambda: len(page_loads(arena)) == 1, 30, "the login window's page")
        assert AUTH_COOKIE not in page_loads(arena)[0]  # a fresh profile: the fake logs it in
        out, _ = login.communicate("\n", timeout=30)  # Enter: done
    finally:
        if login.poll() is None:
            login.kill()
    assert login.returncode == 0 and "Closed (Enter pressed)" in out, out
    assert profile_processes(home / "browser-profile") == []

    monkeypatch.setenv("DISPLAY", display)
    gateway = start_gateway_process(home, "--browser", "--tabs", "2")  # headful: the default
    try:
        state = wait_for_tabs(gateway, 2)
        assert state["browser"]["headless"] is False
        # Two windows on one screen, one covering the other: both pages stay visible.
        assert [t["visibility"] for t in state["browser"]["tabs"]] == ["visible", "visible"]
        assert AUTH_COOKIE in page_loads(arena)[1]  # the login's cookie, from the profile
        assert ask(gateway, "in a window") == "Echo: in a window"
    finally:
        gateway.stop()


@pytest.mark.skipif(shutil.which("xdotool") is None, reason="no xdotool")
def test_login_ends_when_its_window_is_closed(
    tmp_path: Path, arena: Arena, display: str
) -> None:
    home = write_home(tmp_path / "home", arena.fake.models,
                      config={"browser": browser_block(arena)})
    login = start_login(home, display)
    try:
        wait_until(lambda: len(page_loads(arena)) == 1, 30, "the login window's page")
        env = {**os.environ, "DISPLAY": display}
        window = subprocess.run(
            ["xdotool", "search", "--sync", "--onlyvisible", "--class", "chromium"],
            capture_output=True, text=True, timeout=20, env=env, check=True,
        ).stdout.split()[0]
        subprocess.run(["xdotool", "windowfocus", "--sync", window, "key", "ctrl+shift+w"],
                       timeout=20, env=env, check=True)
        out, _ = login.communicate(timeout=30)  # no Enter: the closed window ends it
    finally:
        if login.poll() is None:
            login.kill()
    assert login.returncode == 0 and "Closed (the window was closed)" in out, out
    assert profile_processes(home / "browser-profile") == []
