"""When LMArena changes (issue 20): the real userscript in Chromium on the fake's 2026-10 site —
the model catalogue read through the tab, a tab moved off an origin the site left, an account
out of quota handing its requests on, each tab's account shown (`lmarenarev doctor`:
test_doctor_e2e.py)."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from testkit.fakes.arena import ERA_2025, ERA_2026
from testkit.support import free_port, wait_until, write_home

from .conftest import (
    Arena,
    GatewayProcess,
    OpenTab,
    lmarenarev_command,
    start_gateway_process,
)

pytestmark = pytest.mark.e2e


def cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LMARENAREV_")}
    return subprocess.run(
        [*lmarenarev_command(), *args], capture_output=True, text=True, timeout=timeout, env=env
    )


@pytest.fixture
def own_gateway(tmp_path: Path, arena: Arena) -> Iterator[GatewayProcess]:
    """A gateway of its own whose config.jsonc names its port (so `--home` finds it), with
    accounts checked when a tab connects."""
    port = free_port()
    home = write_home(tmp_path / "home", arena.fake.models, config={"port": port})
    gateway = start_gateway_process(home, "--set", "account_check_minutes=60", port=port)
    yield gateway
    gateway.stop()


def ask(gateway: GatewayProcess, text: str, model: str = "fake-gpt") -> str:
    reply = gateway.client().chat.completions.create(
        model=model, messages=[{"role": "user", "content": text}])
    return reply.choices[0].message.content or ""


def status(gateway: GatewayProcess) -> dict[str, Any]:
    answer: dict[str, Any] = httpx.get(f"{gateway.url}/api/admin/status", timeout=10).json()
    return answer


def test_update_models_reads_todays_catalogue_and_every_name_works(
    own_gateway: GatewayProcess, open_tab: OpenTab, arena: Arena
) -> None:
    """The page has no initialModels any more (§4.1 2026): the list comes from the catalogue
    route through the tab; a model answers to its publicName, name and displayName."""
    open_tab(own_gateway)
    result = cli("update-models", "--home", str(own_gateway.home), "--merge-all")
    assert result.returncode == 0, result.stderr
    assert "read from its model catalogue" in result.stdout
    assert "Arenas: text 5, code 3, document 2, text-to-video 1, text-to-image 1, search 1" \
        in result.stdout
    assert "Skipped fake-director: video-only model" in result.stdout
    available = json.loads((own_gateway.home / "available_models.json").read_text("utf-8"))
    assert {m["publicName"]: m["arenas"] for m in available}["fake-gpt"] == [
        "text", "code", "document"]
    assert [r.path for r in arena.fake.requests if r.kind == "catalog"] == [
        "/nextjs-api/model-catalog"]
    for name in ("fake-gpt", "fake-gpt-2026-09-01", "Fake GPT 5"):
        assert ask(own_gateway, f"as {name}", model=name) == f"Echo: as {name}"
    listed = {m.id: m for m in own_gateway.client().models.list().data}
    assert listed["kiteki"].arenas == ["text", "document"]  # type: ignore[attr-defined]


@pytest.mark.era(ERA_2025)
def test_a_tab_left_on_lmarena_ai_is_moved_to_arena_ai_when_the_site_moves(
    gateway: GatewayProcess, open_tab: OpenTab, arena: Arena
) -> None:
    """The 405 trap (§1.1 2026): the tab's stream POST meets lmarena.ai's 301 and does not
    follow it (redirect: "manual"); the gateway moves the tab to arena.ai and the chat goes
    through there."""
    open_tab()
    (before,) = gateway.health()["workers"]
    assert before["page_url"].startswith("https://lmarena.ai:")
    arena.fake.use_era(ERA_2026)  # the site moves under the open tab
    assert ask(gateway, "after the move") == "Echo: after the move"
    (after,) = gateway.health()["workers"]
    assert after["page_url"].startswith("https://arena.ai:") and "/text/direct" in after[
        "page_url"]
    seen = [(r.kind, r.method, r.status) for r in arena.fake.requests]
    assert ("redirect", "POST", 301) in seen
    assert not any(status == 405 for _, _, status in seen)  # the POST never became a GET


def test_an_account_out_of_quota_hands_its_requests_to_another_tab(
    gateway: GatewayProcess, open_tab: OpenTab, arena: Arena
) -> None:
    """`429 prompt failed` (§3.5 2026): that tab rests and the request moves to another tab (a
    browser profile of its own: another account); with none left, a 429 saying so."""
    open_tab()
    open_tab()
    arena.fake.prompt_quota = 1
    assert ask(gateway, "quota one") == "Echo: quota one"
    assert ask(gateway, "quota two") == "Echo: quota two"
    with pytest.raises(openai.RateLimitError) as used:
        ask(gateway, "quota three")
    assert used.value.code == "account_quota_exhausted"
    refused = [r for r in arena.fake.requests if r.kind == "create" and r.status == 429]
    assert len(refused) == 2
    resting = [w for w in status(gateway)["workers"] if w["resting_seconds"] > 0]
    assert len(resting) == 2 and "prompt failed" in resting[0]["resting_reason"]


def test_status_monitor_and_metrics_show_each_tabs_account(
    own_gateway: GatewayProcess, open_tab: OpenTab
) -> None:
    tab = open_tab(own_gateway)
    wait_until(lambda: status(own_gateway)["workers"][0]["account"]["state"] == "anonymous",
               15, "the anonymous account")
    signed = tab.evaluate("""async () => {
        const r = await fetch('/nextjs-api/sign-in/email', {method: 'POST',
          body: JSON.stringify({email: 'me@example.com', password: 'pw'})});
        return r.status; }""")
    assert signed == 200
    tab.reload()
    tab.wait_for_title_prefix("✅", timeout=20)

    def account() -> dict[str, Any]:
        workers = status(own_gateway)["workers"]
        found: dict[str, Any] = workers[0]["account"] if len(workers) == 1 else {}
        return found

    wait_until(lambda: account().get("state") == "logged_in", 15, "the signed-in account")
    assert account()["pulse"] == 0
    human = cli("status", "--home", str(own_gateway.home)).stdout
    assert "logged in, pulse 0" in human and "Drift     none seen" in human
    (worker,) = httpx.get(f"{own_gateway.url}/api/monitor/workers", timeout=10).json()["workers"]
    assert (worker["account"], worker["pulse"]) == ("logged_in", 0)
    metrics = httpx.get(f"{own_gateway.url}/metrics", timeout=10).text
    assert 'lmarenarev_worker_accounts{state="logged_in"} 1.0' in metrics
