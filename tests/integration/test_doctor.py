"""`lmarenarev doctor` in-process against a running gateway with a fake worker: healthy on both
eras, and the right diagnosis for each drift LMArena could bring (lmarena-2026.md §1–§5); the
bundle it saves holds no secret, and the fake replays it into the same diagnosis."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import openai
import pytest

from lmarenarev.cli.main import main
from testkit.fakes.arena import ERA_2025, ERA_2026, Reply
from testkit.fakes.arena_replay import ReplayArena
from testkit.fakes.serving import ServerThread

from .conftest import BOTH_ERAS, Arena, RunningGateway, StartGateway

STEPS = ["gateway", "tabs", "page", "account", "recaptcha", "catalogue", "chat", "regenerate",
         "drift"]


def doctor(gateway: RunningGateway, *args: str) -> int:
    return main(["doctor", *args, "--home", str(gateway.gateway.home), "--url", gateway.url])


async def run_doctor(
    gateway: RunningGateway, capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, dict[str, dict[str, Any]], str]:
    """(exit status, the steps by name, the printed report) of `doctor --json` then plain."""
    code = await asyncio.to_thread(doctor, gateway, "--json", *args)
    answer = json.loads(capsys.readouterr().out)
    steps = {step["name"]: step for step in answer["steps"]}
    assert list(steps) == STEPS
    return code, steps, answer_text(answer)


def answer_text(answer: dict[str, Any]) -> str:
    from lmarenarev.cli.doctor import report

    return "\n".join(report(answer, "http://gateway"))


def failed(steps: dict[str, dict[str, Any]]) -> list[str]:
    return [name for name, step in steps.items() if step["status"] == "failed"]


@BOTH_ERAS
async def test_a_healthy_set_up_passes_every_step(
    gateway: RunningGateway, arena: Arena, era: str, capsys: pytest.CaptureFixture[str]
) -> None:
    async with gateway.worker(arena):
        code, steps, _ = await run_doctor(gateway, capsys)
        assert await asyncio.to_thread(doctor, gateway) == 0
    report = capsys.readouterr().out
    assert code == 0 and failed(steps) == []
    assert "All 9 checks passed." in report
    assert "a token was minted" in steps["recaptcha"]["summary"]
    assert "Echo: Reply with the single word OK." in steps["chat"]["summary"]
    assert "chat_retry" in steps["regenerate"]["summary"]
    if era == ERA_2026:
        assert "from the catalogue: text 5" in steps["catalogue"]["summary"]
        assert steps["account"]["summary"].startswith("anonymous")
    else:
        assert "initialModels" in steps["catalogue"]["summary"]
        assert "no /api/me" in steps["account"]["summary"]


async def test_without_a_tab_it_says_what_to_open(
    gateway: RunningGateway, capsys: pytest.CaptureFixture[str]
) -> None:
    code, steps, report = await run_doctor(gateway, capsys)
    assert code == 1 and failed(steps) == ["tabs"]
    assert "arena.ai/text/direct" in steps["tabs"]["hint"]
    skipped = [name for name, step in steps.items() if step["status"] == "skipped"]
    assert skipped == ["page", "account", "recaptcha", "catalogue", "chat", "regenerate"]
    assert "1 of 9 checks failed: tabs." in report


async def test_a_stopped_gateway_is_the_first_failed_step(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = await asyncio.to_thread(
        main, ["doctor", "--home", str(tmp_path), "--url", "http://127.0.0.1:9"])
    out = capsys.readouterr().out
    assert code == 1
    assert "FAILED  gateway" in out and "lmarenarev serve" in out


DRIFTS: list[tuple[str, dict[str, Any], str, str]] = [
    ("catalogue missing", {"catalog": False}, "catalogue", "model list was not found"),
    ("a field renamed", {"catalog_renames": {"id": "modelId"}}, "catalogue", "modelId"),
    ("a new record prefix", {"extra_records": ('ax:{"x":1}',)}, "drift", "ax: ×"),
    ("a mode refused", {"modes": ("battle",)}, "chat",
     "refused mode 'direct-battle', then 'direct'"),
]


@pytest.mark.era(ERA_2026)
@pytest.mark.parametrize(("drift", "changes", "step", "words"), DRIFTS,
                         ids=[d[0] for d in DRIFTS])
async def test_each_drift_gets_its_diagnosis(
    gateway: RunningGateway, arena: Arena, capsys: pytest.CaptureFixture[str],
    drift: str, changes: dict[str, Any], step: str, words: str,
) -> None:
    arena.fake.use_era(ERA_2026, **changes)
    async with gateway.worker(arena):
        code, steps, _ = await run_doctor(gateway, capsys)
    assert code == 1 and failed(steps) == [step]
    assert words in steps[step]["reason"] and steps[step]["hint"]


@pytest.mark.era(ERA_2026)
async def test_refused_tokens_get_their_diagnosis(
    gateway: RunningGateway, arena: Arena, capsys: pytest.CaptureFixture[str]
) -> None:
    """LMArena starts checking another action (or key): tokens are minted but refused."""
    arena.fake.validation.recaptcha_action = "chat_submit_v2"
    async with gateway.worker(arena):
        code, steps, _ = await run_doctor(gateway, capsys)
    assert code == 1 and failed(steps) == ["chat"]
    assert steps["recaptcha"]["status"] == "ok"
    assert "rejected the reCAPTCHA token" in steps["chat"]["reason"]
    assert "recaptcha_action" in steps["chat"]["hint"]
    assert steps["regenerate"]["status"] == "skipped"


@pytest.mark.era(ERA_2026)
async def test_the_bundle_is_redacted_and_the_fake_replays_it_into_the_same_diagnosis(
    gateway: RunningGateway, start_gateway: StartGateway, arena: Arena, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    arena.fake.use_era(ERA_2026, extra_records=('ax:{"x":1}',))
    saved = tmp_path / "bundle"
    async with gateway.worker(arena):
        assert await asyncio.to_thread(doctor, gateway, "--save", str(saved)) == 1
    report = capsys.readouterr().out
    text = (saved / "doctor.json").read_text("utf-8")
    bundle = json.loads(text)
    assert (saved / "doctor.txt").read_text("utf-8").strip() == report.strip()
    assert "arena-auth-prod-v1" not in text and "03AFake" not in text  # no cookie, no token
    assert {s["step"] for s in bundle["streams"]} == {"chat", "regenerate"}
    assert any(line.startswith("ax:") for line in bundle["streams"][0]["records"])
    assert bundle["page"]["script_srcs"] and bundle["catalog"]["status"] == 200

    replay = ReplayArena.from_dir(saved)
    replaying = start_gateway()
    with ServerThread(replay.app) as server:
        async with replaying.worker(Arena(arena.fake, server.url)):
            code, steps, _ = await run_doctor(replaying, capsys)
    assert code == 1 and failed(steps) == ["drift"]
    assert "ax: ×" in steps["drift"]["reason"]
    assert steps["catalogue"]["summary"].startswith("9 models from the catalogue")
    assert ("POST", "/nextjs-api/stream/create-evaluation", 200) in replay.requests


@pytest.mark.era(ERA_2025)
async def test_a_bundle_of_the_older_site_replays_too(
    gateway: RunningGateway, start_gateway: StartGateway, arena: Arena, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    saved = tmp_path / "bundle"
    async with gateway.worker(arena):
        assert await asyncio.to_thread(doctor, gateway, "--save", str(saved)) == 0
    capsys.readouterr()
    replaying = start_gateway()
    with ServerThread(ReplayArena.from_dir(saved).app) as server:
        async with replaying.worker(Arena(arena.fake, server.url)):
            code, steps, _ = await run_doctor(replaying, capsys)
    assert code == 0, steps
    assert "initialModels" in steps["catalogue"]["summary"]


async def test_the_chat_goes_to_the_model_named_by_any_of_its_names(
    gateway: RunningGateway, arena: Arena, capsys: pytest.CaptureFixture[str]
) -> None:
    async with gateway.worker(arena), gateway.http() as http:
        await http.post("/api/admin/update-models", json={})  # the catalogue: its other names
        code, steps, _ = await run_doctor(gateway, capsys, "--model", "Fake GPT 5")
        unknown, named, _ = await run_doctor(gateway, capsys, "--model", "no-such-model")
    assert code == 0 and steps["chat"]["summary"].startswith("fake-gpt answered")
    assert unknown == 1 and failed(named) == ["chat"]
    assert "'no-such-model' is not one the gateway offers" in named["chat"]["reason"]
    assert named["regenerate"]["status"] == "skipped"


@pytest.mark.era(ERA_2026)
async def test_replies_ending_without_their_finish_record_are_named(
    gateway: RunningGateway, arena: Arena, capsys: pytest.CaptureFixture[str]
) -> None:
    """Replies cut before their `ad:` (issue 27's counter, lmarenarev_truncated_replies): the
    chat fails, and drift says so, with the count since the start."""
    arena.fake.enqueue(Reply(finish=None), Reply(finish=None))
    async with gateway.worker(arena):
        with pytest.raises(openai.APIStatusError):  # a client's reply, cut: counted
            await gateway.client().chat.completions.create(
                model="fake-gpt", messages=[{"role": "user", "content": "cut"}])
        code, steps, _ = await run_doctor(gateway, capsys)
    assert code == 1 and failed(steps) == ["chat", "drift"]
    assert "cut off" in steps["chat"]["reason"]
    assert "ended 1 of this check's replies without their finish record" in steps["drift"][
        "reason"]
    assert steps["drift"]["notes"] == [
        "1 replies since the start ended without their finish record "
        "(lmarenarev_truncated_replies)"]
