"""Scripted runs of the real agent CLIs against lmarenarev with the fake LMArena behind it:
Claude Code (`claude -p`, Anthropic's Messages API) and Codex (`codex exec`, OpenAI's
Responses API). Each is asked to create a file; the fake LMArena answers with a tool call in
the contract's form (testkit/fakes/arena_tools.py), then, once the tool's result comes back,
with a closing sentence. Used by tests/integration/test_agent_clis.py and
scripts/agent_clis.py (docs/agents.md shows what each printed).

The CLIs are npm packages; `scripts/install-agent-clis` puts them in `.agent-clis/` (ignored by
git). `find_cli` looks there, then at `LMARENAREV_CLAUDE` / `LMARENAREV_CODEX`, then on PATH.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from testkit.fakes.arena import Reply
from testkit.fakes.arena_tools import tool_call_text
from testkit.stack import Stack

ROOT = Path(__file__).resolve().parents[1]
INSTALLED = ROOT / ".agent-clis" / "node_modules" / ".bin"
GREETING = "hi from lmarenarev"
TASK = "Create hello.txt with a greeting"
CLOSING = "Done: hello.txt holds the greeting."


@dataclass
class Run:
    command: list[str]
    returncode: int
    stdout: str
    stderr: str
    file: str | None  # hello.txt as the agent left it
    arena_calls: list[tuple[str, str | None]]  # (kind, LMArena session) of each call

    @property
    def one_session(self) -> bool:
        kinds = [kind for kind, _ in self.arena_calls]
        sessions = {session for _, session in self.arena_calls}
        return kinds[:1] == ["create"] and set(kinds[1:]) <= {"post"} and len(sessions) == 1


def find_cli(name: str) -> str | None:
    """The `claude` or `codex` executable, or None when it is not installed."""
    for candidate in (os.environ.get(f"LMARENAREV_{name.upper()}"), str(INSTALLED / name)):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return shutil.which(name)


def _script(stack: Stack, tool: str, arguments: dict[str, str]) -> None:
    stack.arena.enqueue_for(TASK, Reply(text=tool_call_text(tool, arguments,
                                                            before="I will write the file.")))
    stack.arena.enqueue_for("<tool_result", Reply(text=CLOSING))


def _run(stack: Stack, command: list[str], work: Path, env: dict[str, str],
         timeout: float) -> Run:
    before = len(stack.arena.requests)
    done = subprocess.run(command, cwd=work, env=env, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)
    target = work / "hello.txt"
    calls = [(r.kind, r.session_id) for r in stack.arena.requests[before:]
             if r.kind in ("create", "post", "retry")]
    return Run(command, done.returncode, done.stdout, done.stderr,
               target.read_text() if target.exists() else None, calls)


def run_claude(stack: Stack, binary: str, home: Path, timeout: float = 180) -> Run:
    """`claude -p` with the gateway as its Anthropic API (every model name mapped to
    fake-gpt, nonessential traffic off, file edits allowed)."""
    work = home / "work"
    work.mkdir(parents=True, exist_ok=True)
    _script(stack, "Write", {"file_path": str(work / "hello.txt"), "content": f"{GREETING}\n"})
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(home),
        "ANTHROPIC_BASE_URL": stack.url,
        "ANTHROPIC_API_KEY": "any",
        "ANTHROPIC_MODEL": "fake-gpt",
        "ANTHROPIC_SMALL_FAST_MODEL": "fake-gpt",
        "ANTHROPIC_DEFAULT_HAIKU_MODEL": "fake-gpt",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_AUTOUPDATER": "1",
    }
    command = [binary, "-p", TASK, "--output-format", "text", "--permission-mode", "acceptEdits"]
    return _run(stack, command, work, env, timeout)


def codex_config(gateway_url: str) -> str:
    """Codex's config.toml for lmarenarev (docs/agents.md): a model provider on the Responses
    API, and the two built-in tools LMArena's models cannot have turned off."""
    return f"""model = "fake-gpt"
model_provider = "lmarenarev"
web_search = "disabled"

[agents]
enabled = false

[model_providers.lmarenarev]
name = "lmarenarev"
base_url = "{gateway_url}/v1"
wire_api = "responses"
env_key = "LMARENAREV_API_KEY"
"""


def run_codex(stack: Stack, binary: str, home: Path, timeout: float = 180) -> Run:
    """`codex exec` with the gateway as its model provider, in a workspace-write sandbox."""
    work = home / "work"
    work.mkdir(parents=True, exist_ok=True)
    codex_home = home / "codex"
    codex_home.mkdir(exist_ok=True)
    (codex_home / "config.toml").write_text(codex_config(stack.url), "utf-8")
    _script(stack, "exec_command", {"cmd": f"printf '{GREETING}\\n' > hello.txt"})
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(home), "CODEX_HOME": str(codex_home),
           "LMARENAREV_API_KEY": "any"}
    command = [binary, "exec", "--skip-git-repo-check", "-s", "workspace-write", TASK]
    return _run(stack, command, work, env, timeout)
