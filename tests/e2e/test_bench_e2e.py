"""`python -m bench.relay --quick` runs from a checkout and writes the report
docs/benchmarks.md shows: the real fake arena over HTTP/2, the `lmarenarev` process, a Chromium
tab with the served userscript, the direct path and the gateway path in one run."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NUMBER = r"-?[\d,]+(?:\.\d+)?"

# ≈ 20 s on a 2-core machine; its subprocess may take 300 s, and so may the test.
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(360)]


def _row(text: str, *cells: str) -> list[str]:
    """The cells of the markdown table row that starts with `cells`."""
    start = "| " + " | ".join(cells) + " |"
    rows = [line for line in text.splitlines() if line.startswith(start)]
    assert len(rows) == 1, f"no single row {start!r} in:\n{text}"
    return [cell.strip() for cell in rows[0].strip("|").split("|")]


def _min_median_max(cell: str) -> tuple[float, float, float]:
    found = re.fullmatch(rf"({NUMBER}) / ({NUMBER}) / ({NUMBER})", cell)
    assert found, cell
    low, mid, high = (float(x.replace(",", "")) for x in found.groups())
    assert low <= mid <= high
    return low, mid, high


def test_the_quick_relay_benchmark_reports_both_paths(tmp_path: Path) -> None:
    out = tmp_path / "bench.md"
    done = subprocess.run(
        [sys.executable, "-m", "bench.relay", "--quick", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "gateway log problems" not in done.stdout, done.stdout[-3000:]
    text = out.read_text("utf-8")
    latency = text.split("### Latency", 1)[1].split("### Throughput", 1)[0]
    throughput = text.split("### Throughput", 1)[1]
    assert "python -m bench.relay --quick --out" in text  # the exact command is recorded

    # Targets: every one measured but memory (the quick mode skips its 10,000 requests).
    for target in ("TTFT over direct, 1 stream", "TTFT over direct, 24 streams, HTTP/2"):
        measured = _row(text, target)[2]
        assert re.fullmatch(rf"{NUMBER} ms", measured), measured
    assert _row(text, "gateway RSS growth over 10,000 requests")[2] == "–"

    # Latency, both paths, 1 and 24 streams: every stream's records arrived and were timed.
    for streams in ("1", "24"):
        cells = _row(latency, "HTTP/2", "1 tab", streams)
        ttft_direct, ttft_gateway = _min_median_max(cells[3]), _min_median_max(cells[4])
        assert ttft_direct[0] > 0 and ttft_gateway[0] > 0
        total_direct, total_gateway = _min_median_max(cells[6]), _min_median_max(cells[7])
        assert min(total_direct[0], total_gateway[0]) >= 39 * 5  # 40 records, 5 ms apart
        assert _min_median_max(cells[11])[0] > 0  # the gateway's CPU was read

    # Throughput through the tab, and the client's own ceiling in the same run.
    rates = _row(throughput, "HTTP/2", "1 tab", "24")
    assert all(_min_median_max(cell)[0] > 0 for cell in rates[3:5])
    ceiling = _row(throughput, "–", "the client alone (its ceiling)", "24")[4]
    assert float(ceiling.replace(",", "")) > 0

    chart = out.with_suffix(".png")
    if importlib.util.find_spec("matplotlib") is not None:  # the `bench` extra
        assert chart.read_bytes().startswith(b"\x89PNG")
        assert f"]({chart.name})" in text


def test_the_users_view_compares_the_pages_path_with_the_gateway_pool_off_and_on(
    tmp_path: Path,
) -> None:
    """The user's view with the fake's modelled waits: the page mints then fetches; through the
    gateway a tab with a pooled token starts at once; and the Playwright + openai set-up with
    batching on and off, each against its page path."""
    out = tmp_path / "user.md"
    done = subprocess.run(
        [sys.executable, "-m", "bench.relay", "--quick", "--phases", "user", "variant",
         "--user-streams", "1", "--variant-setups", "playwright+openai", "--repeats", "2",
         "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    text = out.read_text("utf-8")
    assert "### Latency" not in text  # the raw phase was not asked for

    row = _row(text, "1")  # the user's view, one stream; the fastest of each path's runs
    page, pool_off, pool_on = (_min_median_max(row[i])[0] for i in (1, 2, 4))
    assert page >= 700  # the fake's 200 ms mint and 500 ms to the first token
    assert pool_on < page - 100 < pool_off  # the pooled token saved the mint; without, none
    assert row[7] == "2 of 2"

    measured = _row(text, "user's view, pool on: TTFT over the page's (mint, then fetch), "
                          "1 stream")[2]
    assert re.fullmatch(rf"{NUMBER} ms", measured), measured
    variant = _row(text, "Playwright + openai client", "24 × 40, 5 ms apart")
    assert _min_median_max(variant[2])[0] > 0 and _min_median_max(variant[5])[0] > 0
    where = _row(text, "Playwright + openai client", "gateway, batching on")
    assert all(re.fullmatch(NUMBER, cell) for cell in where[2:]), where
