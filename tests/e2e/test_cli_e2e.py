"""`lmarenarev` as a process: help, version, first start, precedence, a broken config."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path

import httpx
import pytest

import lmarenarev
from lmarenarev.config.load import load_settings
from testkit.support import wait_until
from tests.e2e.conftest import GatewayProcess, free_port, lmarenarev_command

pytestmark = pytest.mark.e2e


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LMARENAREV_")}
    env["LMARENAREV_ENABLE_AUTO_UPDATE"] = "false"  # no test asks PyPI for a release
    return {**env, **extra}


def run(*args: str, env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*lmarenarev_command(), *args],
        capture_output=True,
        text=True,
        timeout=30,
        env=dict(env) if env is not None else clean_env(),
    )


def answers_health(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


class Launcher:
    """Starts `lmarenarev serve` processes and stops whatever is still running at the end."""

    def __init__(self) -> None:
        self.started: list[GatewayProcess] = []
        self._pumps: dict[int, threading.Thread] = {}

    def __call__(
        self, home: Path, *args: str, port: int, env: Mapping[str, str] | None = None
    ) -> GatewayProcess:
        """Run `serve --home <home> <args>`; return once /health answers on `port`."""
        process = subprocess.Popen(
            [*lmarenarev_command(), "serve", "--home", str(home), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=dict(env) if env is not None else clean_env(),
        )
        gateway = GatewayProcess(home, port, process)
        self.started.append(gateway)
        pump = threading.Thread(target=self._pump, args=(gateway,), daemon=True)
        self._pumps[id(gateway)] = pump
        pump.start()

        def up() -> bool:
            if process.poll() is not None:
                raise RuntimeError(f"lmarenarev exited {process.returncode}:\n{gateway.output()}")
            return answers_health(port)

        wait_until(up, 20, f"the gateway to answer /health on port {port}")
        return gateway

    @staticmethod
    def _pump(gateway: GatewayProcess) -> None:
        assert gateway.process.stdout is not None
        for line in gateway.process.stdout:
            gateway.lines.append(line.rstrip("\n"))

    def all_output(self, gateway: GatewayProcess, timeout: float = 10) -> str:
        """Everything the process printed, once its output has closed."""
        pump = self._pumps[id(gateway)]
        pump.join(timeout)
        assert not pump.is_alive(), "the output of lmarenarev did not close"
        return gateway.output()

    def stop_all(self) -> None:
        for gateway in self.started:
            gateway.stop()


@pytest.fixture
def launch() -> Iterator[Launcher]:
    launcher = Launcher()
    yield launcher
    launcher.stop_all()


def wait_for_line(gateway: GatewayProcess, text: str) -> str:
    def printed() -> bool:
        return any(text in line for line in list(gateway.lines))

    wait_until(printed, 10, f"lmarenarev to print {text!r}")
    return next(line for line in list(gateway.lines) if text in line)


# --- help and version ----------------------------------------------------------------------------


def test_serve_help_documents_the_options() -> None:
    result = run("serve", "--help")

    assert result.returncode == 0
    for option in ("--host", "--port", "--home", "--set"):
        assert option in result.stdout


def test_version_prints_the_package_version() -> None:
    result = run("--version")

    assert result.returncode == 0
    assert result.stdout.strip() == f"lmarenarev {lmarenarev.__version__}"


# --- the first start in an empty directory --------------------------------------------------------


@pytest.fixture
def first_start(tmp_path: Path, launch: Launcher) -> GatewayProcess:
    home = tmp_path / "home"
    home.mkdir()
    port = free_port()
    return launch(home, "--port", str(port), port=port)


def test_first_start_prints_the_urls_and_the_next_step(first_start: GatewayProcess) -> None:
    base = first_start.url

    assert wait_for_line(first_start, "API base URL:").endswith(f"{base}/v1")
    assert wait_for_line(first_start, "Userscript:").endswith(f"{base}/bridge.user.js")
    assert wait_for_line(first_start, "Next:").startswith("Next:")


def test_first_start_writes_a_config_file_that_loads_back_cleanly(
    first_start: GatewayProcess,
) -> None:
    assert (first_start.home / "config.jsonc").is_file()

    loaded = load_settings(first_start.home, env={}, overrides={})

    assert loaded.warnings == []


def test_first_start_answers_health(first_start: GatewayProcess) -> None:
    response = httpx.get(f"{first_start.url}/health", timeout=5)

    assert response.status_code == 200


def test_sigint_stops_the_gateway_cleanly(first_start: GatewayProcess, launch: Launcher) -> None:
    wait_for_line(first_start, "Next:")

    first_start.process.send_signal(signal.SIGINT)

    # uvicorn re-raises the signal once it has shut down; the CLI turns that into the usual 130.
    assert first_start.process.wait(15) in (0, 130)
    output = launch.all_output(first_start)
    assert "Application shutdown complete" in output
    assert "Traceback" not in output


# --- precedence: CLI > env > file ----------------------------------------------------------------


def write_port_config(home: Path, port: int) -> Path:
    home.mkdir(parents=True, exist_ok=True)
    path = home / "config.jsonc"
    path.write_text(f'{{\n  // from the file\n  "port": {port}\n}}\n', "utf-8")
    return path


def test_the_port_option_beats_the_env_and_the_file(tmp_path: Path, launch: Launcher) -> None:
    file_port, env_port, cli_port = free_port(), free_port(), free_port()
    write_port_config(tmp_path, file_port)
    env = clean_env(LMARENAREV_PORT=str(env_port))

    gateway = launch(tmp_path, "--port", str(cli_port), port=cli_port, env=env)

    assert wait_for_line(gateway, "API base URL:").endswith(f":{cli_port}/v1")
    assert not answers_health(env_port)
    assert not answers_health(file_port)


def test_the_env_port_beats_the_file(tmp_path: Path, launch: Launcher) -> None:
    file_port, env_port = free_port(), free_port()
    write_port_config(tmp_path, file_port)
    env = clean_env(LMARENAREV_PORT=str(env_port))

    gateway = launch(tmp_path, port=env_port, env=env)

    assert wait_for_line(gateway, "API base URL:").endswith(f":{env_port}/v1")
    assert not answers_health(file_port)


# --- a broken config stops the start --------------------------------------------------------------


def test_a_broken_config_exits_2_naming_the_file_the_line_and_the_key(tmp_path: Path) -> None:
    path = tmp_path / "config.jsonc"
    path.write_text('{\n  "host": "127.0.0.1",\n  "port": "abc"\n}\n', "utf-8")

    result = run("serve", "--home", str(tmp_path))

    assert result.returncode == 2
    assert f"{path}:3: 'port':" in result.stderr
    assert "API base URL" not in result.stdout


def test_a_second_gateway_on_a_taken_port_says_so_in_one_line(
    first_start: GatewayProcess, tmp_path: Path
) -> None:
    result = run("serve", "--home", str(tmp_path / "other"), "--port", str(first_start.port))

    assert result.returncode == 1
    assert result.stdout == ""  # no banner
    assert result.stderr.strip().splitlines() == [
        f"lmarenarev: port {first_start.port} is already in use on 127.0.0.1 (another "
        "lmarenarev? `lmarenarev status` tells): stop it, or choose another port with --port "
        'or "port" in config.jsonc'
    ]
