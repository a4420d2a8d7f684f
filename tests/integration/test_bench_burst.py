"""`python -m bench.burst` runs from a checkout and reports what it promises
(docs/benchmarks.md)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
REPORT = re.compile(
    r"3 bursts of 4: gateway CPU per request (\d+) µs \(event loop thread\) \+ (\d+) µs "
    r"\(other threads\); mean TTFT over a burst: median ([\d.]+) ms, min ([\d.]+) ms"
)


def test_the_burst_benchmark_reports_the_gateways_cpu_per_request() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench.burst",
         "--bursts", "3", "--streams", "4", "--done-after", "5"],
        cwd=ROOT, capture_output=True, text=True, timeout=180,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    found = REPORT.search(done.stdout)
    assert found, done.stdout
    main_us, _other_us, median_ms, min_ms = found.groups()
    assert int(main_us) > 0  # the gateway did work for the requests, and it was counted
    assert 0 < float(min_ms) <= float(median_ms)
