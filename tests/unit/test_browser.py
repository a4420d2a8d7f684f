"""The managed browser's pure parts: its settings, which executable, which switches, the profile
lock, the delays, the page script, how status shows it, and the serve flags."""

from __future__ import annotations

import argparse
import os
import re
import socket
import stat
from pathlib import Path

import pytest
import uvicorn

from lmarenarev.api.userscript import local_base_url, render_userscript
from lmarenarev.arena.page import is_arena_origin
from lmarenarev.browser import launch
from lmarenarev.browser.keeper import browser_config, restart_delay
from lmarenarev.browser.launch import (
    THROTTLING_SWITCHES,
    BrowserError,
    browser_args,
    display_problem,
    find_executable,
    profile_owner,
)
from lmarenarev.browser.tab import Timing, origin_of, page_script
from lmarenarev.cli import browser as browser_cli
from lmarenarev.cli.main import main
from lmarenarev.cli.render import status as render_status
from lmarenarev.config.jsonc import ConfigError
from lmarenarev.config.load import load_settings, parse_set_option
from lmarenarev.config.settings import Settings
from lmarenarev.errors import NoWorker
from lmarenarev.gateway import build_gateway

# --- settings -----------------------------------------------------------------------------------


def test_the_browser_block_defaults_to_one_headful_tab_on_the_2026_page() -> None:
    browser = Settings().browser
    assert (browser.enabled, browser.tabs, browser.headless) == (False, 1, False)
    assert browser.page_url == "https://arena.ai/text/direct"


def test_browser_keys_come_from_set_env_and_the_file(tmp_path: Path) -> None:
    (tmp_path / "config.jsonc").write_text('{"browser": {"tabs": 2, "headless": true}}')
    env = {"LMARENAREV_BROWSER__PAGE_URL": "https://lmarena.ai/?mode=direct"}
    overrides = dict([parse_set_option("browser.tabs=3")])
    browser = load_settings(tmp_path, env=env, overrides=overrides).settings.browser
    assert (browser.tabs, browser.headless, browser.page_url) == (
        3, True, "https://lmarena.ai/?mode=direct"
    )


@pytest.mark.parametrize(
    ("key", "value", "said"),
    [("browser.tabs", 0, "greater than or equal to 1"),
     ("browser.page_url", "arena.ai", "not a web page address")],
)
def test_a_wrong_browser_value_is_refused_with_its_key(
    tmp_path: Path, key: str, value: object, said: str
) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(tmp_path, env={}, overrides={key: value})
    assert key in str(info.value) and said in str(info.value)


def test_the_page_origin_is_a_worker_origin_only_while_the_managed_browser_runs() -> None:
    mirror = {"page_url": "https://mirror.example:8443/text/direct"}
    off = Settings(browser=mirror)
    on = Settings(browser={**mirror, "enabled": True})
    assert not is_arena_origin("https://mirror.example:8443", off.page_origins())
    assert is_arena_origin("https://mirror.example:8443", on.page_origins())
    assert not is_arena_origin("https://other.example", on.page_origins())


def test_the_served_script_runs_on_the_managed_page_origin(tmp_path: Path) -> None:
    gateway = build_gateway(tmp_path, overrides={
        "browser.enabled": True, "browser.page_url": "https://mirror.example/chat",
    })
    script = render_userscript(gateway, local_base_url(gateway.settings))
    assert 'JSON.parse("[\\"https://mirror.example\\"]")' in script
    assert gateway.browser is not None  # built, started only by the app's lifespan


async def test_no_tab_connected_points_at_the_managed_browser(tmp_path: Path) -> None:
    gateway = build_gateway(tmp_path, overrides={"browser.enabled": True})
    with pytest.raises(NoWorker, match="the managed browser's tabs are not connected"):
        await gateway.pool.acquire(0)


def test_the_profile_lives_in_the_data_directory_unless_set(tmp_path: Path) -> None:
    assert browser_config(Settings().browser, tmp_path).profile == tmp_path / "browser-profile"
    relative = Settings(browser={"profile_dir": "profiles/a"}).browser
    assert browser_config(relative, tmp_path).profile == tmp_path / "profiles/a"
    absolute = Settings(browser={"profile_dir": "/srv/profile"}).browser
    assert browser_config(absolute, tmp_path).profile == Path("/srv/profile")


@pytest.mark.parametrize(
    ("host", "url"),
    [("127.0.0.1", "http://127.0.0.1:5102"), ("0.0.0.0", "http://127.0.0.1:5102"),
     ("::", "http://[::1]:5102"), ("192.168.1.5", "http://192.168.1.5:5102")],
)
def test_the_managed_tabs_reach_the_gateway_on_this_machine(host: str, url: str) -> None:
    assert local_base_url(Settings(host=host, allow_insecure_bind=True)) == url


# --- the executable, its switches, the display, the profile lock -------------------------------


def executable(folder: Path, name: str) -> Path:
    path = folder / name
    path.write_text("#!/bin/sh\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_chrome_is_preferred_to_chromium_and_edge_on_the_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("microsoft-edge", "chromium", "google-chrome"):
        executable(tmp_path, name)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert find_executable("") == str(tmp_path / "google-chrome")
    assert find_executable("chromium") == str(tmp_path / "chromium")


def test_no_browser_found_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(launch, "USUAL_PATHS", ())
    with pytest.raises(BrowserError, match="apt-get install chromium"):
        find_executable("")
    with pytest.raises(BrowserError, match=re.escape("browser.executable '/no/such/chrome'")):
        find_executable("/no/such/chrome")


def test_the_switches_keep_tabs_unthrottled_and_put_extra_ones_before_the_page(
    tmp_path: Path,
) -> None:
    args = browser_args(tmp_path, headless=False, extra=["--lang=en-US"], start_url="https://x/")
    assert args[:2] == ["--remote-debugging-pipe", f"--user-data-dir={tmp_path}"]
    assert set(THROTTLING_SWITCHES) <= set(args)
    assert "--headless=new" not in args
    assert args[-2:] == ["--lang=en-US", "https://x/"]
    assert "--headless=new" in browser_args(tmp_path, headless=True, extra=[])


def test_a_browser_run_as_root_has_no_sandbox(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    assert "--no-sandbox" in browser_args(tmp_path, headless=True, extra=[])
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert "--no-sandbox" not in browser_args(tmp_path, headless=True, extra=[])


def test_a_window_without_a_display_points_at_xvfb_or_headless(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(launch.sys, "platform", "linux")
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    problem = display_problem(headless=False)
    assert problem is not None and "Xvfb" in problem and "--headless" in problem
    assert display_problem(headless=True) is None
    monkeypatch.setenv("DISPLAY", ":99")
    assert display_problem(headless=False) is None


def test_serve_browser_without_a_display_stops_before_the_gateway_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(launch.sys, "platform", "linux")
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    exe = executable(tmp_path, "chromium")
    settings = Settings(browser={"enabled": True, "executable": str(exe)})
    with pytest.raises(BrowserError, match="no display"):
        browser_cli.banner_lines(settings, tmp_path)
    lines = browser_cli.banner_lines(
        Settings(browser={"enabled": True, "executable": str(exe), "headless": True}), tmp_path
    )
    assert f"{exe}, 1 tab on https://arena.ai/text/direct, headless" in lines[0]


def test_serve_browser_exits_2_before_listening_when_it_has_nothing_to_show_a_window_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(launch.sys, "platform", "linux")
    for name in ("DISPLAY", "WAYLAND_DISPLAY", *[n for n in os.environ if "LMARENAREV_" in n]):
        monkeypatch.delenv(name, raising=False)
    listened: list[bool] = []
    monkeypatch.setattr(uvicorn.Server, "run", lambda self, **_: listened.append(True))
    exe = executable(tmp_path, "chromium")
    home = str(tmp_path / "home")
    assert main(["serve", "--home", home, "--browser", "--set", f"browser.executable={exe}"]) == 2
    assert "DISPLAY is not set" in capsys.readouterr().err and listened == []
    assert main(["serve", "--home", home, "--browser", "--headless",
                 "--set", f"browser.executable={exe}"]) == 0
    assert listened == [True]


def test_a_profile_held_by_a_live_browser_is_in_use(tmp_path: Path) -> None:
    assert profile_owner(tmp_path) is None
    lock = tmp_path / "SingletonLock"
    lock.symlink_to(f"{socket.gethostname()}-{os.getpid()}")
    assert profile_owner(tmp_path) == os.getpid()
    lock.unlink()
    lock.symlink_to(f"{socket.gethostname()}-999999999")  # a browser that died: stale
    assert profile_owner(tmp_path) is None
    lock.unlink()
    lock.symlink_to(f"another-host-{os.getpid()}")
    assert profile_owner(tmp_path) is None


# --- tabs, restarts, the script ------------------------------------------------------------------


def test_a_browser_that_keeps_exiting_waits_longer_each_time() -> None:
    timing = Timing(restart_delay=1.0, restart_max_delay=60.0)
    assert [restart_delay(timing, n) for n in range(9)] == [
        1.0, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0
    ]


def test_the_page_runs_the_script_in_its_top_document_only() -> None:
    wrapped = page_script("run();")
    assert wrapped.startswith("if (window.top === window) {\n") and "\nrun();\n}" in wrapped


def test_origins_keep_their_port() -> None:
    assert origin_of("https://lmarena.ai:8443/?mode=direct") == "https://lmarena.ai:8443"
    assert origin_of("https://Arena.ai/text/direct") == "https://arena.ai"
    assert origin_of("about:blank") == "about:blank"


# --- the command line -----------------------------------------------------------------------------


def test_serve_flags_become_browser_settings() -> None:
    args = argparse.Namespace(browser=True, tabs=3, headless=True)
    assert browser_cli.serve_overrides(args) == {
        "browser.enabled": True, "browser.tabs": 3, "browser.headless": True
    }
    none = argparse.Namespace(browser=False, tabs=None, headless=False)
    assert browser_cli.serve_overrides(none) == {}


def test_tabs_or_headless_without_a_managed_browser_are_not_ignored_silently() -> None:
    args = argparse.Namespace(browser=False, tabs=2, headless=True)
    warning = browser_cli.unused_flags(args, Settings())
    assert warning == "--tabs and --headless do nothing without --browser (or browser.enabled)"
    assert browser_cli.unused_flags(args, Settings(browser={"enabled": True})) is None


def status_data(browser: dict[str, object] | None) -> dict[str, object]:
    return {
        "uptime_seconds": 5, "version": "0.1.0", "pid": 1, "flow": "modern", "home": "/h",
        "workers": [], "capture_armed": False, "browser": browser,
        "ids": {"session_id": None, "message_id": None, "mode": "direct_chat",
                "battle_target": "A"},
        "endpoint_map": {"strategy": "random", "models": {}},
        "models": {"configured": [], "offered": 0, "withdrawn": [],
                   "expose_available_models": False,
                   "catalog": {"count": 0, "types": {}, "updated_at": None, "last_error": None}},
        "errors": [],
    }


def test_status_shows_the_managed_browser_and_why_a_tab_was_reopened() -> None:
    browser = {
        "state": "running", "pid": 42, "executable": "/usr/bin/chromium",
        "version": "Chrome/150", "profile": "/h/browser-profile", "headless": True,
        "page_url": "https://arena.ai/text/direct", "restarts": 1, "uptime_seconds": 65,
        "next_start_seconds": None, "last_exit": "killed by signal 9", "last_error": None,
        "tabs": [{"index": 1, "state": "connected", "url": "https://arena.ai/text/direct",
                  "title": "LMArena", "worker": "abc", "transport": "ws",
                  "visibility": "visible", "reopened": 2, "last_reason": "the page crashed",
                  "open_seconds": 3}],
    }
    text = "\n".join(render_status(status_data(browser), "http://127.0.0.1:5102"))
    assert "Browser   running: Chrome/150, pid 42, up 1m 5s, restarts 1, headless" in text
    assert "last exit: killed by signal 9" in text
    assert "tab 1  connected      worker abc (ws)  https://arena.ai/text/direct" in text
    assert "reopened 2: the page crashed" in text
    assert "the managed browser's tabs connect by themselves" in text
    plain = "\n".join(render_status(status_data(None), "http://127.0.0.1:5102"))
    assert "Browser" not in plain
