"""The processes a benchmark starts: `lmarenarev serve`, the fake LMArena, a Python fake worker.

Each runs in its own process so that its CPU time and RSS (read from /proc) are its own and no
two of them share a GIL. Used by bench/relay.py and bench/soak.py.

    python -m bench.procs worker --gateway URL --token T --arena URL [--http2] [--capacity N]

runs one Python fake worker (testkit/fakes/worker.py) until SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from testkit.support import free_port, new_event_loop, stop_process

ROOT = Path(__file__).resolve().parents[1]

T = TypeVar("T")


def thread_cpu_ns(pid: int) -> dict[int, int]:
    """CPU time in ns of each thread of `pid` (by thread id), from /proc/<pid>/task/*/schedstat
    (ns resolution; /proc/<pid>/stat counts 10 ms ticks, too coarse for one run)."""
    out: dict[int, int] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            out[int(task.name)] = int((task / "schedstat").read_text().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            continue  # a thread that just ended
    return out


def cpu_seconds(pid: int) -> float:
    """CPU time of every thread of `pid` (`thread_cpu_ns`), in seconds."""
    return sum(thread_cpu_ns(pid).values()) / 1e9


def rss_kb(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    line = next(li for li in status.splitlines() if li.startswith("VmRSS:"))
    return int(line.split()[1])


def clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LMARENAREV_")}
    env["LMARENAREV_ENABLE_AUTO_UPDATE"] = "false"  # a benchmark asks PyPI for nothing
    return env


@dataclass
class Process:
    """A child process whose output goes to a log file."""

    process: subprocess.Popen[bytes]
    log_path: Path
    command: list[str]

    @property
    def pid(self) -> int:
        return self.process.pid

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.pid)

    def rss_kb(self) -> int:
        return rss_kb(self.pid)

    def log(self) -> str:
        return self.log_path.read_text("utf-8", "replace")

    def log_problems(self) -> list[str]:
        lines = self.log().splitlines()
        return [li for li in lines if "Traceback" in li or " ERROR " in li or "ERROR:" in li]

    def check_alive(self, what: str) -> None:
        if self.process.poll() is not None:
            raise RuntimeError(f"{what} exited {self.process.returncode}:\n{self.log()[-3000:]}")

    def stop(self) -> None:
        stop_process(self.process)


def spawn(command: list[str], log_path: Path) -> Process:
    """Start `command` in the repository root, where `python -m bench.x` / `testkit.x` import."""
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=clean_env(),
                                   cwd=ROOT)
    return Process(process, log_path, command)


def wait_for(predicate: Callable[[], bool], timeout: float, what: str,
             alive: Process | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if alive is not None:
            alive.check_alive(what)
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(0.02)


@dataclass
class GatewayProcess(Process):
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def start_gateway(home: Path, settings: dict[str, Any], *, wait: bool = False) -> GatewayProcess:
    """`lmarenarev serve --home home --set k=v …`; `wait` blocks until /health answers."""
    port = free_port()
    sets = [part for key, value in settings.items()
            for part in ("--set", f"{key}={json.dumps(value, separators=(',', ':'))}")]
    command = [sys.executable, "-m", "lmarenarev", "serve", "--home", str(home),
               "--port", str(port), "--log-level", "warning", *sets]
    started = spawn(command, home / "gateway.log")
    gateway = GatewayProcess(started.process, started.log_path, command, port)
    if wait:
        wait_for(lambda: _answers(f"{gateway.url}/health"), 30, "the gateway", gateway)
    return gateway


def _answers(url: str) -> bool:
    import httpx

    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


@dataclass
class ArenaProcess(Process):
    url: str = ""
    port: int = 0


def start_arena(workdir: Path, *, http2: bool, stamped_records: int, record_chars: int,
                delay_ms: float, cert_dir: Path) -> ArenaProcess:
    """The fake LMArena over TLS (HTTP/2 + HTTP/1.1 by ALPN, or HTTP/1.1 only) in fast mode."""
    command = [sys.executable, "-m", "testkit.fakes.arena", "--host", "127.0.0.1", "--port", "0",
               "--tls", "--cert-dir", str(cert_dir), "--stamped-records", str(stamped_records),
               "--record-chars", str(record_chars), "--delay-ms", str(delay_ms)]
    if http2:
        command.append("--http2")
    name = "arena-h2" if http2 else "arena-h1"
    started = spawn(command, workdir / f"{name}.log")
    url = ""

    def ready() -> bool:
        nonlocal url
        for line in started.log().splitlines():
            if line.startswith("ready "):
                url = line.split()[1]
                return True
        return False

    wait_for(ready, 30, f"the fake LMArena ({name})", started)
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    return ArenaProcess(started.process, started.log_path, command, url, port)


def set_arena_defaults(arena_url: str, **defaults: Any) -> dict[str, Any]:
    import httpx

    response = httpx.post(f"{arena_url}/__fake/defaults", json=defaults, verify=False, timeout=10)
    response.raise_for_status()
    result: dict[str, Any] = response.json()
    return result


def start_worker(workdir: Path, *, gateway_url: str, token: str, arena_url: str, http2: bool,
                 capacity: int, name: str = "worker") -> Process:
    command = [sys.executable, "-m", "bench.procs", "worker", "--gateway", gateway_url,
               "--token", token, "--arena", arena_url, "--capacity", str(capacity)]
    if http2:
        command.append("--http2")
    started = spawn(command, workdir / f"{name}.log")
    wait_for(lambda: "ready" in started.log(), 30, f"the Python fake worker ({name})", started)
    return started


async def _run_worker(args: argparse.Namespace) -> None:
    from testkit.fakes.worker import FakeWorker

    worker = FakeWorker(args.gateway, args.token, args.arena, capacity=args.capacity,
                        http2=args.http2, start_timeout=20)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await worker.start()
    print("ready", flush=True)
    await stop.wait()
    with contextlib.suppress(Exception):
        await worker.stop()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    worker = sub.add_parser("worker", help="one Python fake worker until SIGTERM")
    worker.add_argument("--gateway", required=True)
    worker.add_argument("--token", required=True)
    worker.add_argument("--arena", required=True)
    worker.add_argument("--capacity", type=int, default=128)
    worker.add_argument("--http2", action="store_true")
    args = parser.parse_args(argv)
    run_fast(_run_worker(args))


def run_fast(main: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run` on uvloop (testkit.support.new_event_loop), as the gateway itself runs."""
    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        return runner.run(main)


if __name__ == "__main__":
    main()
