"""Run Claude Code and Codex CLI against lmarenarev with the fake LMArena behind it and print
what each printed (docs/agents.md quotes it):

    scripts/install-agent-clis          # once: the CLIs from npm into .agent-clis/
    .venv/bin/python scripts/agent_clis.py [claude|codex]

Each is asked to create hello.txt; the fake LMArena answers with a tool call in the contract's
form, then with a closing sentence (testkit/agent_clis.py).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # testkit, from the repository

from testkit.agent_clis import Run, find_cli, run_claude, run_codex
from testkit.stack import agent_stack

RUNNERS = {"claude": run_claude, "codex": run_codex}


def show(name: str, run: Run) -> None:
    command = [Path(run.command[0]).name, *run.command[1:]]
    print("$ " + " ".join(command))
    print(run.stdout.rstrip())
    print(f"--- stderr ---\n{run.stderr.rstrip()}" if run.stderr.strip() else "")
    print(f"exit code {run.returncode}; hello.txt: {run.file!r}")
    print(f"LMArena calls: {[kind for kind, _ in run.arena_calls]}, "
          f"one session: {run.one_session}\n")


def main(names: list[str]) -> int:
    failed = 0
    for name in names or list(RUNNERS):
        binary = find_cli(name)
        if binary is None:
            print(f"{name}: not installed (scripts/install-agent-clis)\n")
            failed += 1
            continue
        with tempfile.TemporaryDirectory() as tmp, agent_stack(Path(tmp) / "gateway") as stack:
            run = RUNNERS[name](stack, binary, Path(tmp) / "agent")
        show(name, run)
        failed += run.returncode != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
