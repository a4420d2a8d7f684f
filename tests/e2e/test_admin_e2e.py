"""The admin commands through their real entry point (`lmarenarev …` processes) against
`lmarenarev serve`, with the real userscript in Chromium on the fake LMArena page."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from lmarenarev import __version__
from lmarenarev.config.jsonc import loads
from testkit.fakes.arena import ERA_2025, model_id
from testkit.support import wait_until, write_home

from .conftest import Arena, GatewayProcess, OpenTab, free_port, lmarenarev_command
from .conftest import start_gateway_process as start_process

pytestmark = pytest.mark.e2e

CONFIG = """\
// lmarenarev, legacy flow: ids come from `lmarenarev capture-ids`
{
  "port": {port},
  "arena_flow": "legacy",
  /* the captured session */
  "session_id": "", // none yet
  "message_id": "",
  "tavern_mode_enabled": false, // keep this comment
}
"""


def cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LMARENAREV_")}
    return subprocess.run(
        [*lmarenarev_command(), *args], capture_output=True, text=True, timeout=timeout, env=env
    )


@pytest.fixture
def legacy_gateway(tmp_path: Path, arena: Arena) -> Iterator[GatewayProcess]:
    """A gateway whose config.jsonc (with comments) names its port, so `--home` finds it."""
    port = free_port()
    home = write_home(tmp_path / "home", arena.fake.models)
    (home / "config.jsonc").write_text(CONFIG.replace("{port}", str(port)), "utf-8")
    gateway = start_process(home, port=port)
    yield gateway
    gateway.stop()


def click(tab: object, element: str) -> None:
    tab.evaluate(f"document.getElementById({element!r}).click()")  # type: ignore[attr-defined]


def test_capture_ids_from_the_pages_own_retry(
    legacy_gateway: GatewayProcess, open_tab: OpenTab, arena: Arena
) -> None:
    gateway, home = legacy_gateway, legacy_gateway.home
    tab = open_tab(gateway)
    client = gateway.client()
    tab.evaluate("document.getElementById('fake-input').value = 'hello from the page'")
    click(tab, "fake-send")
    tab.wait_for("document.getElementById('fake-status').textContent === 'done'")
    tab.wait_for("!document.getElementById('fake-retry').hidden")

    command = subprocess.Popen(
        [*lmarenarev_command(), "capture-ids", "--home", str(home), "--timeout", "30"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("LMARENAREV_")},
    )
    try:
        tab.wait_for_title_prefix("✅ 🎯", timeout=20)
        click(tab, "fake-retry")
        out, err = command.communicate(timeout=40)
    finally:
        command.kill()
    assert command.returncode == 0, err
    (session,) = arena.fake.sessions.values()
    message = session.turns[-1].assistant_message_id
    assert "Capture armed in 1 tab(s)" in out
    assert f"session_id  {session.id}" in out and f"message_id  {message}" in out
    tab.wait_for_title_without("✅ 🎯")
    assert tab.title().startswith("✅ ")

    text = (home / "config.jsonc").read_text("utf-8")
    assert text.startswith("// lmarenarev, legacy flow: ids come from `lmarenarev capture-ids`\n")
    assert f'  /* the captured session */\n  "session_id": "{session.id}", // none yet\n' in text
    assert '"tavern_mode_enabled": false, // keep this comment' in text
    saved = loads(text, source="config.jsonc")
    assert (saved["message_id"], saved["id_updater_last_mode"]) == (message, "direct_chat")

    reply = client.chat.completions.create(  # the legacy flow uses them, no restart
        model="fake-gpt", messages=[{"role": "user", "content": "through the captured ids"}]
    )
    assert reply.choices[0].message.content == "Echo: through the captured ids"
    (legacy,) = [r for r in arena.fake.requests if r.kind == "legacy"]
    assert legacy.session_id == session.id and legacy.path.endswith(f"/messages/{message}")


def test_capture_ids_with_no_tab_exits_non_zero(legacy_gateway: GatewayProcess) -> None:
    result = cli("capture-ids", "--home", str(legacy_gateway.home), "--timeout", "5")
    assert result.returncode == 1
    assert "no LMArena tab is connected" in result.stderr


@pytest.mark.era(ERA_2025)  # the older site: the list is the page's initialModels
def test_update_models_merge_all_against_the_page(
    legacy_gateway: GatewayProcess, open_tab: OpenTab, arena: Arena
) -> None:
    home = legacy_gateway.home
    (home / "models.json").write_text(json.dumps({"fake-gpt": model_id("fake-gpt")}), "utf-8")
    cli("reload", "--home", str(home))
    open_tab(legacy_gateway)
    result = cli("update-models", "--home", str(home), "--merge-all")
    assert result.returncode == 0, result.stderr
    assert "LMArena offers 6 models (1 image, 1 search, 4 text)" in result.stdout
    assert "Already in models.json (kept): fake-gpt" in result.stdout
    available = json.loads((home / "available_models.json").read_text("utf-8"))
    assert available == arena.fake.models
    models = json.loads((home / "models.json").read_text("utf-8"))
    assert models["fake-painter"] == model_id("fake-painter") + ":image"
    assert models["fake-searcher"] == model_id("fake-searcher") + ":search"
    assert models["fake-claude"] == model_id("fake-claude")
    listed = {m.id for m in legacy_gateway.client().models.list().data}
    assert listed == {m["publicName"] for m in available}


def test_status_json_reload_and_sighup(legacy_gateway: GatewayProcess, open_tab: OpenTab) -> None:
    home = str(legacy_gateway.home)
    open_tab(legacy_gateway)
    result = cli("status", "--json", "--home", home)
    assert result.returncode == 0, result.stderr
    status = json.loads(result.stdout)
    assert status["up"] and status["flow"] == "legacy" and status["ids"]["session_id"] is None
    (tab,) = status["workers"]
    assert (tab["script_version"], tab["transport"]) == (__version__, "websocket")
    assert tab["page_url"].startswith("https://arena.ai:")
    human = cli("status", "--home", home).stdout
    assert "Workers   1 connected" in human and "flow legacy" in human

    config = legacy_gateway.home / "config.jsonc"
    original = config.read_text("utf-8")
    config.write_text(original.replace('"arena_flow": "legacy"', '"arena_flow": "modern"'))
    reload = cli("reload", "--home", home)
    assert reload.returncode == 0 and "Changed: arena_flow" in reload.stdout

    config.write_text(original.replace('"arena_flow": "legacy"', '"arena_flow": 7'))
    rejected = cli("reload", "--home", home)
    assert rejected.returncode == 1
    assert "reload rejected, the old settings stay" in rejected.stderr
    assert "arena_flow" in rejected.stderr
    assert json.loads(cli("status", "--json", "--home", home).stdout)["flow"] == "modern"

    config.write_text(original)  # legacy again, through SIGHUP
    os.kill(legacy_gateway.process.pid, signal.SIGHUP)

    def flow() -> str:
        answer = httpx.get(f"{legacy_gateway.url}/api/admin/status", timeout=5).json()
        return str(answer["flow"])

    wait_until(lambda: flow() == "legacy", 10, "SIGHUP to reload the config")
    assert "configuration reloaded" in legacy_gateway.output()


def test_status_when_the_gateway_is_down(tmp_path: Path) -> None:
    (tmp_path / "config.jsonc").write_text(f'{{"port": {free_port()}}}')
    result = cli("status", "--home", str(tmp_path))
    assert result.returncode == 1
    assert "no lmarenarev gateway answers at http://127.0.0.1:" in result.stderr


def test_the_catalogue_is_read_when_a_tab_connects(
    tmp_path: Path, arena: Arena, open_tab: OpenTab
) -> None:
    home = write_home(tmp_path / "home", arena.fake.models)
    gateway = start_process(
        home, "--set", "model_catalog_refresh_minutes=30", "--set", "expose_available_models=true"
    )
    try:
        open_tab(gateway)
        wait_until(lambda: (home / "available_models.json").exists(), 20, "the catalogue")
        models = gateway.client().models.list().data
        painter = next(m for m in models if m.id == "fake-painter")
        assert painter.capabilities["outputCapabilities"]["image"]  # type: ignore[attr-defined]
    finally:
        gateway.stop()
