"""`lmarenarev doctor` as a user runs it: the real userscript in Chromium on the fake LMArena,
the command as a process; healthy on both eras (with its redacted bundle) and a drift named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from testkit.fakes.arena import ERA_2026

from .conftest import BOTH_ERAS, Arena, GatewayProcess, OpenTab
from .test_lmarena_changes_e2e import cli, own_gateway

pytestmark = pytest.mark.e2e
__all__ = ["own_gateway"]  # the fixture, shared with test_lmarena_changes_e2e.py


@BOTH_ERAS
def test_doctor_passes_on_a_healthy_set_up_and_saves_a_redacted_bundle(
    own_gateway: GatewayProcess, open_tab: OpenTab, tmp_path: Path, era: str
) -> None:
    open_tab(own_gateway)
    saved = tmp_path / "bundle"
    result = cli("doctor", "--home", str(own_gateway.home), "--save", str(saved))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "All 9 checks passed." in result.stdout
    catalogue = "from the catalogue" if era == ERA_2026 else "initialModels"
    assert catalogue in result.stdout
    bundle = (saved / "doctor.json").read_text("utf-8")
    assert "arena-auth-prod-v1" not in bundle and "03AFake" not in bundle
    assert json.loads(bundle)["tabs"][0]["origin"].startswith(
        "https://arena.ai:" if era == ERA_2026 else "https://lmarena.ai:")


def test_doctor_names_what_broke_and_exits_non_zero(
    own_gateway: GatewayProcess, open_tab: OpenTab, arena: Arena
) -> None:
    """LMArena refuses both mode values: the chat step fails with the reason and the setting."""
    open_tab(own_gateway)
    arena.fake.use_era(ERA_2026, modes=("battle",))
    result = cli("doctor", "--home", str(own_gateway.home))
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    (chat,) = [line for line in lines if "FAILED  chat" in line]
    assert "Invalid mode" in chat and "refused mode 'direct-battle', then 'direct'" in chat
    assert any("skipped regenerate" in line for line in lines)
    assert lines[-1] == "1 of 9 checks failed: chat."
