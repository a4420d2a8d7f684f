"""The `lmarenarev` command in-process: worker token, userscript URL and source, config errors."""

from __future__ import annotations

import json
import os
import stat
import textwrap
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from lmarenarev.cli.main import main
from testkit.support import free_port


@pytest.fixture(autouse=True)
def _no_lmarenarev_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith("LMARENAREV_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path / "user"))  # ~/lmarenarev is never the real one


@pytest.fixture(autouse=True)
def _no_server(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every failure here must stop the start while loading, before uvicorn runs."""

    def refuse(self: uvicorn.Server, *args: Any, **kwargs: Any) -> None:
        raise AssertionError("the server was started")

    monkeypatch.setattr(uvicorn.Server, "run", refuse)


def write(home: Path, name: str, text: str) -> Path:
    home.mkdir(parents=True, exist_ok=True)
    path = home / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def printed_script(home: Path, capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["userscript", "--print", "--home", str(home)]) == 0
    return capsys.readouterr().out


def baked_token(script: str) -> str:
    line = next(line for line in script.splitlines() if "const TOKEN = " in line)
    token: str = json.loads(line.split("=", 1)[1].strip().rstrip(";"))
    return token


# --- worker token ---------------------------------------------------------------------------------


def test_worker_token_is_generated_into_home_with_mode_0600(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    token = baked_token(printed_script(tmp_path, capsys))

    path = tmp_path / "worker_token"
    assert path.read_text("utf-8").strip() == token
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_worker_token_is_reused_on_the_next_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = baked_token(printed_script(tmp_path, capsys))

    assert baked_token(printed_script(tmp_path, capsys)) == first


def test_a_configured_worker_token_wins_over_the_kept_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path, "worker_token", "kept-token\n")
    write(tmp_path, "config.jsonc", '{"worker_token": "configured-token"}')

    assert baked_token(printed_script(tmp_path, capsys)) == "configured-token"


def test_a_configured_worker_token_writes_no_token_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path, "config.jsonc", '{"worker_token": "configured-token"}')

    printed_script(tmp_path, capsys)

    assert not (tmp_path / "worker_token").exists()


# --- userscript ----------------------------------------------------------------------------------


def test_userscript_prints_the_install_url_on_the_configured_port(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path, "config.jsonc", '{"port": 6123}')

    assert main(["userscript", "--home", str(tmp_path)]) == 0

    assert capsys.readouterr().out == "http://127.0.0.1:6123/bridge.user.js\n"


def test_userscript_url_defaults_to_port_5102(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["userscript", "--home", str(tmp_path)]) == 0

    assert capsys.readouterr().out == "http://127.0.0.1:5102/bridge.user.js\n"


def test_userscript_print_leaves_no_placeholder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert "__LMARENAREV_" not in printed_script(tmp_path, capsys)


def test_userscript_print_bakes_in_the_token_and_the_gateway(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path, "config.jsonc", '{"port": 6123, "worker_token": "configured-token"}')

    script = printed_script(tmp_path, capsys)

    assert 'const TOKEN = "configured-token";' in script
    assert 'const GATEWAY = "http://127.0.0.1:6123"' in script


@pytest.mark.parametrize(
    ("host", "connects"),
    [
        ("127.0.0.1", ["127.0.0.1", "localhost"]),
        ("localhost", ["localhost", "127.0.0.1"]),
        ("192.168.1.5", ["192.168.1.5", "127.0.0.1", "localhost"]),
    ],
)
def test_the_userscript_names_each_host_it_may_connect_to_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], host: str, connects: list[str]
) -> None:
    write(tmp_path, "config.jsonc", json.dumps({"host": host}))

    script = printed_script(tmp_path, capsys)

    header = script.split("// ==/UserScript==")[0]
    assert [line.split()[-1] for line in header.splitlines() if "@connect" in line] == connects


def test_userscript_print_creates_a_missing_home(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "new" / "home"

    token = baked_token(printed_script(home, capsys))

    assert (home / "worker_token").read_text("utf-8").strip() == token


# --- the data directory ---------------------------------------------------------------------------


def test_every_command_uses_lmarenarev_in_the_home_directory_by_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    default = tmp_path / "user" / "lmarenarev"

    token = baked_token(printed(capsys, "userscript", "--print"))

    assert (default / "worker_token").read_text("utf-8").strip() == token
    assert main(["logs"]) == 1
    assert f"no request log at {default / 'lmarenarev.sqlite3'}" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["user"]  # nothing in the cwd


def test_lmarenarev_home_moves_the_data_directory_and_home_beats_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path / "from-env", "config.jsonc", '{"port": 6001}')
    write(tmp_path / "from-option", "config.jsonc", '{"port": 6002}')
    monkeypatch.setenv("LMARENAREV_HOME", str(tmp_path / "from-env"))

    assert printed(capsys, "userscript") == "http://127.0.0.1:6001/bridge.user.js\n"
    option = ("--home", str(tmp_path / "from-option"))
    assert printed(capsys, "userscript", *option) == "http://127.0.0.1:6002/bridge.user.js\n"


def test_serve_creates_and_announces_a_new_data_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(uvicorn.Server, "run", lambda self, sockets: sockets[0].close())
    monkeypatch.setenv("LMARENAREV_PORT", str(free_port()))
    default = tmp_path / "user" / "lmarenarev"

    assert main(["serve"]) == 0
    first = capsys.readouterr().out
    assert main(["serve"]) == 0
    second = capsys.readouterr().out

    assert f"Data directory: {default} (created now" in first
    assert (default / "config.jsonc").is_file()
    assert f"Data directory: {default}\n" in second


def printed(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert main(list(argv)) == 0
    return capsys.readouterr().out


# --- configuration errors stop the start ----------------------------------------------------------


def serve_fails(home: Path, capsys: pytest.CaptureFixture[str], *args: str) -> str:
    """Run `serve`, expect exit status 2, return what it wrote to stderr."""
    assert main(["serve", "--home", str(home), *args]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    return captured.err


def test_invalid_json_names_the_file_and_the_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(
        tmp_path,
        "config.jsonc",
        """
        {
          // the gateway
          "port": 6000
          "host": "127.0.0.1"
        }
        """,
    )

    err = serve_fails(tmp_path, capsys)

    assert f"{path}:4:" in err
    assert "invalid JSON" in err


def test_a_value_of_the_wrong_type_names_the_file_the_line_and_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(
        tmp_path,
        "config.jsonc",
        """
        {
          "host": "127.0.0.1",
          // the gateway's port
          "port": "abc"
        }
        """,
    )

    err = serve_fails(tmp_path, capsys)

    assert f"{path}:4: 'port':" in err
    assert "integer" in err


def test_a_config_error_is_one_line_without_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path, "config.jsonc", '{"port": "abc"}')

    err = serve_fails(tmp_path, capsys)

    assert err.startswith("lmarenarev: configuration error: ")
    assert "Traceback" not in err


def test_an_unknown_set_key_suggests_close_names(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    err = serve_fails(tmp_path, capsys, "--set", "prot=6000")

    assert "'prot'" in err
    assert "did you mean 'port'" in err


def test_a_set_option_without_a_value_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    err = serve_fails(tmp_path, capsys, "--set", "port")

    assert "expected key=value" in err


def test_a_set_value_of_the_wrong_type_names_the_option(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    err = serve_fails(tmp_path, capsys, "--set", "worker_capacity=many")

    assert "command line (worker_capacity)" in err


def test_a_bad_env_value_names_the_variable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LMARENAREV_PORT", "abc")

    err = serve_fails(tmp_path, capsys)

    assert "environment variable LMARENAREV_PORT" in err


def test_a_non_string_model_names_models_json_the_line_and_the_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(
        tmp_path,
        "models.json",
        """
        {
          "gpt-good": "0199-aaaa",
          "gpt-bad": 42
        }
        """,
    )

    err = serve_fails(tmp_path, capsys)

    assert f"{path}:3:" in err
    assert "'gpt-bad'" in err


def test_a_home_that_is_a_file_is_a_config_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = write(tmp_path, "not-a-dir", "")

    err = serve_fails(home, capsys)

    assert f"cannot use the data directory: {home}" in err


def test_an_unreadable_worker_token_is_a_config_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "worker_token").mkdir()

    assert main(["userscript", "--print", "--home", str(tmp_path)]) == 2

    assert f"cannot use the data directory: {tmp_path / 'worker_token'}" in capsys.readouterr().err


def test_a_config_file_that_is_a_directory_is_a_config_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "config.jsonc").mkdir()

    err = serve_fails(tmp_path, capsys)

    assert f"{tmp_path / 'config.jsonc'}: not a file" in err


def test_a_models_json_that_is_a_directory_is_a_config_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "models.json").mkdir()

    err = serve_fails(tmp_path, capsys)

    assert f"{tmp_path / 'models.json'}: not a file" in err
