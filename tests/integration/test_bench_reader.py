"""`python -m bench.reader` runs from a checkout and reports the `openai` client's own cost
(docs/benchmarks.md, ninth round), from bodies the gateway's renderer made."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from bench.reader import reply_body
from tests.unit.test_render import _deltas, _frames

ROOT = Path(__file__).resolve().parents[2]
REPORT = re.compile(
    r"the server had the request +([\d.]+) ms after the burst began\n"
    r" +the first token at the app +([\d.]+) ms\n.*"
    r"one chunk per record +([\d.]+) ms .*\n +one per 10 +([\d.]+) ms",
    re.S,
)


def test_the_two_shapes_carry_the_same_reply_in_one_and_a_tenth_of_the_chunks() -> None:
    each, joined = _deltas(_frames(reply_body(40, 1))), _deltas(_frames(reply_body(40, 10)))
    assert (len(each), len(joined)) == (41, 5)  # + the finish chunk
    text = "".join(f"token {i:04d} " for i in range(40))
    assert "".join(d.get("content", "") for d in each) == text
    assert "".join(d.get("content", "") for d in joined) == text


def test_the_reader_benchmark_reports_the_floor_and_the_parse_cost() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench.reader",
         "--streams", "4", "--bursts", "2", "--records", "40", "--replies", "3"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    found = REPORT.search(done.stdout)
    assert found, done.stdout
    arrival, first, each, joined = map(float, found.groups())
    assert 0 < arrival <= first  # a request reaches the server before its answer the app
    assert each > 0 and joined > 0
