"""`lmarenarev serve` will not listen beyond loopback without a key unless told to (then warns)."""

from __future__ import annotations

import logging
import os
import socket
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from lmarenarev.cli.main import main
from testkit.support import free_port


@pytest.fixture(autouse=True)
def _no_lmarenarev_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("LMARENAREV_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("LMARENAREV_ENABLE_AUTO_UPDATE", "false")  # asks PyPI for nothing


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The hosts uvicorn was asked to listen on (it is not really started; the socket `serve`
    bound for it, on a free port, is closed)."""
    hosts: list[str] = []
    monkeypatch.setenv("LMARENAREV_PORT", str(free_port()))

    def run(self: uvicorn.Server, *args: Any, sockets: list[socket.socket], **kw: Any) -> None:
        hosts.append(self.config.host)
        for sock in sockets:
            sock.close()

    monkeypatch.setattr(uvicorn.Server, "run", run)
    return hosts


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.5"])
def test_binding_beyond_loopback_without_a_key_exits_2_and_says_what_to_do(
    tmp_path: Path, host: str, started: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["serve", "--home", str(tmp_path), "--host", host]) == 2
    err = capsys.readouterr().err
    assert "without an API key" in err and "api_key" in err and "--allow-insecure-bind" in err
    assert started == []


@pytest.mark.parametrize(
    "extra", [["--set", "api_key=sk-1"], ["--set", 'api_keys=[{"name": "a", "key": "k"}]']]
)
def test_binding_beyond_loopback_with_a_key_starts(
    tmp_path: Path, extra: list[str], started: list[str]
) -> None:
    assert main(["serve", "--home", str(tmp_path), "--host", "0.0.0.0", *extra]) == 0
    assert started == ["0.0.0.0"]


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1"])
def test_loopback_needs_no_key(tmp_path: Path, host: str, started: list[str]) -> None:
    assert main(["serve", "--home", str(tmp_path), "--host", host]) == 0
    assert started == [host]


def test_the_flag_starts_anyway_and_warns_at_every_start(
    tmp_path: Path, started: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    argv = ["serve", "--home", str(tmp_path), "--host", "0.0.0.0", "--allow-insecure-bind"]
    with caplog.at_level(logging.WARNING):
        assert main(argv) == 0
        assert main(argv) == 0
    warnings = [r.getMessage() for r in caplog.records if "INSECURE" in r.getMessage()]
    assert len(warnings) == 2 and "0.0.0.0" in warnings[0]
    assert started == ["0.0.0.0", "0.0.0.0"]


def test_the_setting_is_the_same_as_the_flag(tmp_path: Path, started: list[str]) -> None:
    (tmp_path / "config.jsonc").write_text('{"allow_insecure_bind": true}', "utf-8")
    assert main(["serve", "--home", str(tmp_path), "--host", "0.0.0.0"]) == 0
    assert started == ["0.0.0.0"]


def test_a_port_in_use_is_one_line_and_no_banner(
    tmp_path: Path, started: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["serve", "--home", str(tmp_path), "--port", str(port)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""  # no banner: nothing runs
    (line,) = captured.err.strip().splitlines()
    assert line.startswith(f"lmarenarev: port {port} is already in use on 127.0.0.1")
    assert "--port" in line and started == []


@pytest.mark.parametrize(
    "keys", [["--set", "api_key=sk-1"], ["--set", 'api_keys=[{"name": "a", "key": "k"}]']]
)
def test_client_keys_without_an_admin_key_warn_at_start_what_they_lock(
    tmp_path: Path, keys: list[str], started: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        assert main(["serve", "--home", str(tmp_path), *keys]) == 0
    (warning,) = [r.getMessage() for r in caplog.records if "admin_key is not" in r.getMessage()]
    for locked in ("/monitor", "/metrics", "status", "reload", "capture-ids", "update-models"):
        assert locked in warning
    assert "Set admin_key in config.jsonc" in warning
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        assert main(["serve", "--home", str(tmp_path), *keys, "--set", "admin_key=adm"]) == 0
    assert not [r for r in caplog.records if "admin_key is not" in r.getMessage()]
