"""The admin commands in-process (`lmarenarev.cli.main`) against a running gateway."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from lmarenarev.cli.main import main
from testkit.fakes.arena import ERA_2025
from testkit.fakes.worker import FakeWorker

from .conftest import BOTH_ERAS, Arena, RunningGateway

RETRY = (
    "/nextjs-api/stream/retry-evaluation-session-message/"
    "0199a1ce-70b8-70a1-bcc3-3f04b155b850/messages/0199a1ce-70b8-70a1-bcc3-3f04b155b851"
)


def run(gateway: RunningGateway, *args: str) -> int:
    return main([*args, "--home", str(gateway.gateway.home), "--url", gateway.url])


async def test_capture_ids_shows_what_it_waits_for_and_the_result(
    gateway: RunningGateway, worker: FakeWorker, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ("capture-ids", "--timeout", "10")
    command = asyncio.ensure_future(asyncio.to_thread(run, gateway, *args))
    await worker.wait_until(lambda: worker.capture_pattern is not None)
    await worker.page_request(RETRY)
    assert await command == 0
    out = capsys.readouterr().out
    assert "Capture armed in 1 tab(s)" in out and "click Retry under an answer" in out
    assert "session_id  0199a1ce-70b8-70a1-bcc3-3f04b155b850" in out
    assert "The gateway uses them now" in out


async def test_capture_ids_without_a_tab_fails_clearly(
    gateway: RunningGateway, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await asyncio.to_thread(run, gateway, "capture-ids") == 1
    assert "no LMArena tab is connected" in capsys.readouterr().err


async def test_capture_ids_that_times_out_fails_clearly(
    gateway: RunningGateway, worker: FakeWorker, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await asyncio.to_thread(run, gateway, "capture-ids", "--timeout", "0.2") == 1
    assert "nothing was captured within 0.2 s" in capsys.readouterr().err


async def test_status_json_and_text(
    gateway: RunningGateway, worker: FakeWorker, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await asyncio.to_thread(run, gateway, "status", "--json") == 0
    status = json.loads(capsys.readouterr().out)
    assert status["up"] and len(status["workers"]) == 1
    assert await asyncio.to_thread(run, gateway, "status") == 0
    text = capsys.readouterr().out
    assert "Workers   1 connected" in text
    assert "Ids" not in text  # the modern flow needs no captured ids: no hint to capture them


def test_status_of_a_gateway_that_is_down(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = "http://127.0.0.1:9"
    assert main(["status", "--json", "--url", url, "--home", str(tmp_path)]) == 1
    assert json.loads(capsys.readouterr().out)["up"] is False
    assert main(["status", "--url", url, "--home", str(tmp_path)]) == 1
    assert f"no lmarenarev gateway answers at {url}" in capsys.readouterr().err


async def test_reload_reports_a_rejected_config(
    gateway: RunningGateway, capsys: pytest.CaptureFixture[str]
) -> None:
    (gateway.gateway.home / "config.jsonc").write_text('{"arena_flow": "sideways"}')
    assert await asyncio.to_thread(run, gateway, "reload") == 1
    err = capsys.readouterr().err
    assert "reload rejected, the old settings stay" in err and "arena_flow" in err
    (gateway.gateway.home / "config.jsonc").write_text('{"arena_flow": "legacy"}')
    assert await asyncio.to_thread(run, gateway, "reload") == 0
    assert "Changed: arena_flow" in capsys.readouterr().out
    assert gateway.gateway.settings.arena_flow == "legacy"


@BOTH_ERAS
async def test_update_models_lists_and_merges(
    gateway: RunningGateway, arena: Arena, worker: FakeWorker, capsys: pytest.CaptureFixture[str],
    era: str,
) -> None:
    (gateway.gateway.home / "models.json").write_text("{}")
    code = await asyncio.to_thread(run, gateway, "update-models", "--merge", "fake-searcher")
    assert code == 0
    out = capsys.readouterr().out
    if era == ERA_2025:
        assert "LMArena offers 6 models (1 image, 1 search, 4 text), read from its page" in out
    else:
        assert "LMArena offers 9 models (1 code, 1 image, 1 search, 5 text, 1 video), read " \
            "from its model catalogue" in out
        assert "fake-gpt       text      -               openai        fake-gpt-2026-09-01, " \
            "Fake GPT 5" in out
    assert "Added to models.json: fake-searcher (search)" in out


# --- which gateway: never a guess -----------------------------------------------------------------


def port_of(gateway: RunningGateway) -> int:
    return int(gateway.url.rsplit(":", 1)[1])


def home_naming(home: Path, port: int, **more: object) -> Path:
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.jsonc").write_text(json.dumps({"port": port, **more}), "utf-8")
    return home


async def test_reload_names_the_gateway_and_its_data_directory_before_acting(
    gateway: RunningGateway, capsys: pytest.CaptureFixture[str]
) -> None:
    home = home_naming(gateway.gateway.home, port_of(gateway), arena_flow="legacy")
    assert await asyncio.to_thread(main, ["reload", "--home", str(home)]) == 0
    first, second = capsys.readouterr().out.splitlines()[:2]
    assert first == f"Gateway {gateway.url} (data directory {home})"
    assert second.startswith("Reloaded. Changed: ") and "arena_flow" in second


async def test_a_config_the_commands_cannot_read_stops_them_with_exit_2(
    gateway: RunningGateway, capsys: pytest.CaptureFixture[str]
) -> None:
    home = gateway.gateway.home
    (home / "config.jsonc").write_text('{\n  "port": 5102,\n  "admin_key": "k"\n  "x": 1\n}')
    for command in ("status", "reload", "update-models", "capture-ids"):
        assert await asyncio.to_thread(main, [command, "--home", str(home)]) == 2
        err = capsys.readouterr().err
        assert f"cannot read the settings of {home}" in err
        assert f"{home / 'config.jsonc'}:4:3: invalid JSON" in err
        assert "--url" in err and "--admin-key" in err
    # named explicitly, the gateway is used (and rejects the file in its own words)
    argv = ["reload", "--home", str(home), "--url", gateway.url, "--admin-key", "unused"]
    assert await asyncio.to_thread(main, argv) == 1
    assert "reload rejected, the old settings stay" in capsys.readouterr().err


async def test_a_gateway_of_another_data_directory_is_not_acted_on(
    gateway: RunningGateway, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    served = gateway.gateway.home
    (served / "config.jsonc").write_text('{"arena_flow": "legacy"}')
    mine = home_naming(tmp_path / "mine", port_of(gateway))  # another home, the same port
    for command in ("reload", "status"):
        assert await asyncio.to_thread(main, [command, "--home", str(mine)]) == 2
        err = capsys.readouterr().err
        assert f"the gateway at {gateway.url} serves the data directory {served}, not {mine}" in err
        assert f"--home {served}" in err
    assert gateway.gateway.settings.arena_flow == "modern"  # not reloaded
