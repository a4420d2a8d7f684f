"""The real agent CLIs against the gateway (testkit/agent_clis.py): Claude Code over
`/v1/messages`, Codex over `/v1/responses`, each creating a file through an emulated tool call,
the whole loop in one LMArena session. Skipped when the CLI is not installed
(`scripts/install-agent-clis`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from testkit.agent_clis import CLOSING, GREETING, Run, find_cli, run_claude, run_codex
from testkit.stack import Stack, agent_stack

pytestmark = pytest.mark.timeout(300)


def cli(name: str) -> str:
    found = find_cli(name)
    if found is None:
        pytest.skip(f"{name} is not installed: run scripts/install-agent-clis (npm), or set "
                    f"LMARENAREV_{name.upper()} to its executable")
    return found


def scripted(tmp_path: Path, runner: Callable[[Stack, str, Path], Run], binary: str) -> Run:
    with agent_stack(tmp_path / "gateway") as stack:
        return runner(stack, binary, tmp_path / "agent")


def test_claude_code_writes_a_file_through_an_emulated_tool_call(tmp_path: Path) -> None:
    run = scripted(tmp_path, run_claude, cli("claude"))
    assert run.returncode == 0, run.stderr
    assert run.file == f"{GREETING}\n"
    assert CLOSING in run.stdout
    assert run.one_session and len(run.arena_calls) == 2, run.arena_calls


def test_codex_runs_a_command_through_an_emulated_tool_call(tmp_path: Path) -> None:
    run = scripted(tmp_path, run_codex, cli("codex"))
    assert run.returncode == 0, run.stderr
    assert run.file == f"{GREETING}\n"
    assert CLOSING in run.stdout
    assert run.one_session and len(run.arena_calls) == 2, run.arena_calls
