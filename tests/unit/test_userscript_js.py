"""The userscript under node: the served script parses, the batcher's tests (tests/js, node's
own runner) pass, and the script's matcher applied to the gateway's first-output rule finds
what the stream parser finds. Skipped only when node is not installed (`.ci/run` installs it)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from lmarenarev.arena.first_output import first_output_rule
from lmarenarev.arena.stream import parse_all
from lmarenarev.cli.main import main

ROOT = Path(__file__).resolve().parents[2]
JS_TESTS = ROOT / "tests" / "js"
NODE = shutil.which("node")

pytestmark = pytest.mark.skipif(
    NODE is None, reason="node is not installed (.ci/run installs it with apt-get)"
)


def node(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    assert NODE is not None
    return subprocess.run(
        [NODE, *args], input=stdin, capture_output=True, text=True, timeout=120, cwd=ROOT,
        check=False,
    )


def test_the_served_script_with_its_values_batcher_and_token_pool_passes_node_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["userscript", "--print", "--home", str(tmp_path / "home")]) == 0
    script = capsys.readouterr().out
    assert "const batcher = (function () {" in script and "__LMARENAREV_" not in script
    assert "const tokenPool = (function () {" in script
    path = tmp_path / "bridge.user.js"
    path.write_text(script, "utf-8")

    checked = node("--check", str(path))

    assert checked.returncode == 0, checked.stderr


def test_the_batcher_tests_pass_under_nodes_test_runner() -> None:
    ran = node("--test", str(JS_TESTS))

    assert ran.returncode == 0, ran.stdout[-6000:] + ran.stderr[-2000:]
    assert "# fail 0" in ran.stdout


def test_the_js_tests_use_the_rule_the_gateway_sends() -> None:
    copy = json.loads((JS_TESTS / "stream_rule.json").read_text("utf-8"))

    assert copy == json.loads(json.dumps(first_output_rule()))


OUTPUT_LINES = [  # docs/lmarena-protocol.md §2.2 and §2.5: the parser makes an event of each
    'a0:"Hello"',
    'b0:"Hi"',
    'a0:"hasArenaError"',
    'ag:"thinking…"',
    'a2:[{"type":"image","image":"https://example.com/out.png"}]',
    'ac:{"toolCallId":"citation-source","argsTextDelta":'
    '"{\\"source\\":{\\"url\\":\\"https://example.com\\",\\"title\\":\\"Ex\\"}}"}',
    'a3:"Resource exhausted. Please try again later."',
    'ad:{"finishReason":"stop","usage":{"promptTokens":12,"completionTokens":3}}',
    'bd:{"finishReason":"stop"}',
    '0:"legacy"',  # §2.1 2026: the un-prefixed text channel
    'ag:{"thinking":"hmm"}',  # §2.2 2026: reasoning as an object
]
NOT_OUTPUT_LINES = [  # what LMArena sends before the first token, and lines the parser skips
    'af:{"messageId":"019"}',
    'a2:[{"type":"heartbeat"}]',
    'b2:[{"type":"heartbeat"}]',
    'ae:{"finishReason":"stop"}',
    '0:["$@1",["x",null]]',
    '1d:["$","div",null]',
    "",
]
MATCH_LINES = """
const { batcher } = require(process.argv[1]);
const { rule, lines } = JSON.parse(require('node:fs').readFileSync(0, 'utf8'));
console.log(JSON.stringify(lines.map((line) => batcher.outputMatcher(rule)(line + '\\n'))));
"""


def test_the_scripts_matcher_with_the_gateways_rule_agrees_with_the_parser() -> None:
    lines = OUTPUT_LINES + NOT_OUTPUT_LINES
    payload = json.dumps({"rule": first_output_rule(), "lines": lines})

    ran = node("-e", MATCH_LINES, str(JS_TESTS / "harness.js"), stdin=payload)

    assert ran.returncode == 0, ran.stderr
    verdicts = dict(zip(lines, json.loads(ran.stdout), strict=True))
    assert all(parse_all(line + "\n") for line in OUTPUT_LINES)
    assert not any(parse_all(line + "\n") for line in NOT_OUTPUT_LINES)
    assert [line for line, output in verdicts.items() if output] == OUTPUT_LINES
