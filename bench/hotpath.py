"""Hot path: gateway CPU per relayed upstream record (worker chunk → client SSE).

`lmarenarev serve` runs as a subprocess; this process is a minimal raw WebSocket worker that
answers each `fetch` with `status`, chunk frames of K `a0:` records (each stamped with its
send time, as the fake's fast mode does) and `done`, plus N concurrent streaming clients (the
light SSE client of bench/relay_client.py). The gateway's CPU (every thread's, from
/proc/<pid>/task/*/schedstat) is read around the run: µs per record.

    python -m bench.hotpath [--records 200000] [--per-chunk 1 10] [--streams 24]
                            [--batch 1] [--rate 0] [--profile out.svg]

`--batch B` sends B chunk frames as one JSON array (docs/worker-protocol.md, "Batches");
`--rate R` paces the worker (R records/s in all) for a latency
reading below saturation; `--profile` runs py-spy on the gateway during the (last) run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from websockets.asyncio.client import connect
from websockets.typing import Origin

from bench.procs import cpu_seconds, start_gateway
from bench.relay_client import StreamResult, stream_gateway
from testkit.support import write_home

TOKEN = "hotpath-worker-token"
MODEL = {"publicName": "bench-model", "id": "0199c1e0-0000-7000-8000-000000000001"}
FINISH = 'ad:{"finishReason":"stop","usage":{"promptTokens":5,"completionTokens":%d}}\n'


class Worker:
    """Answers every fetch with `per_request` records, `per_chunk` to a chunk frame."""

    def __init__(self, per_request: int, per_chunk: int, batch: int, pause: float) -> None:
        self.per_request, self.per_chunk, self.batch = per_request, per_chunk, batch
        self.pause = pause  # between two chunk messages of a job
        self.tasks: dict[str, asyncio.Task[None]] = {}

    async def run(self, url: str, ready: asyncio.Event) -> None:
        async with connect(url, origin=Origin("https://lmarena.ai"), max_size=None,
                           compression=None, ping_interval=None) as ws:
            hello = {"type": "hello", "protocol": 1, "script_version": "bench", "tab": "bench",
                     "page_url": "https://lmarena.ai/", "capacity": 64, "title": "LMArena"}
            await ws.send(json.dumps(hello))
            async for message in ws:
                frame = json.loads(message)
                kind = frame.get("type")
                if kind == "welcome":
                    ready.set()
                elif kind == "fetch":
                    job = frame["job"]
                    self.tasks[job] = asyncio.create_task(self.answer(ws, job))
                elif kind == "abort" and frame["job"] in self.tasks:
                    self.tasks.pop(frame["job"]).cancel()
                elif kind == "ping":
                    await ws.send(json.dumps({"type": "pong", "t": frame["t"]}))

    async def answer(self, ws: object, job: str) -> None:
        send = ws.send  # type: ignore[attr-defined]
        status = {"type": "status", "job": job, "http_status": 200,
                  "headers": {"content-type": "text/plain"}}
        head = f'{{"type":"chunk","job":"{job}","seq":'
        await send(json.dumps(status))
        seq = 0
        pending: list[str] = []
        for start in range(0, self.per_request, self.per_chunk):
            lines = []
            for n in range(start, min(start + self.per_chunk, self.per_request)):
                lines.append(f'a0:"@t={time.time_ns() // 1000};w{n} "\n')
            if start + self.per_chunk >= self.per_request:
                lines.append(FINISH % self.per_request)
            frame = f'{head}{seq},"data":{json.dumps("".join(lines))}}}'
            seq += 1
            if self.batch > 1:
                pending.append(frame)
                if len(pending) < self.batch:
                    continue
                frame = "[" + ",".join(pending) + "]"
                pending.clear()
            await send(frame)
            await asyncio.sleep(self.pause)
        done = json.dumps({"type": "done", "job": job, "seq": seq})
        await send("[" + ",".join([*pending, done]) + "]" if pending else done)
        self.tasks.pop(job, None)


def body() -> dict[str, object]:
    return {"model": MODEL["publicName"], "stream": True,
            "messages": [{"role": "user", "content": "hi"}]}


async def client(port: int, requests: list[int]) -> list[StreamResult]:
    """One stream at a time until `requests` is empty (a shared countdown)."""
    results: list[StreamResult] = []
    while requests:
        requests.pop()
        results += await stream_gateway(port, [body()])
    return results


async def measure(port: int, pid: int, args: argparse.Namespace, per_chunk: int,
                  profile: str | None) -> dict[str, float]:
    # --rate: records/s over all streams, so each job sends a message every `pause` seconds
    pause = args.streams * per_chunk * args.batch / args.rate if args.rate else 0.0
    worker = Worker(args.per_request, per_chunk, args.batch, pause)
    ready = asyncio.Event()
    task = asyncio.create_task(worker.run(f"ws://127.0.0.1:{port}/ws?token={TOKEN}", ready))
    await asyncio.wait_for(ready.wait(), 10)
    await stream_gateway(port, [body() for _ in range(args.streams)])  # warm-up
    requests = list(range(max(1, args.records // args.per_request)))
    spy = None
    if profile:
        kind = {".txt": "raw", ".json": "speedscope"}.get(Path(profile).suffix, "flamegraph")
        spy = subprocess.Popen(["py-spy", "record", "-o", profile, "--pid", str(pid),
                                "--rate", "250", "--nonblocking", "--format", kind],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        await asyncio.sleep(1)
    cpu0, wall0 = cpu_seconds(pid), time.perf_counter()
    parts = await asyncio.gather(*(client(port, requests) for _ in range(args.streams)))
    cpu, wall = cpu_seconds(pid) - cpu0, time.perf_counter() - wall0
    if spy is not None:
        spy.send_signal(2)
        spy.wait(30)
    task.cancel()
    results = [result for part in parts for result in part]
    failed = [r.error for r in results if r.error]
    if failed:
        raise RuntimeError(f"{len(failed)} stream(s) failed: {failed[0]}")
    records = sum(r.records for r in results)
    expected = args.per_request * max(1, args.records // args.per_request)
    if records != expected:
        raise RuntimeError(f"received {records} records, expected {expected}")
    latencies = sorted(lat / 1000 for r in results for lat in r.latencies_us)
    return {"per_chunk": per_chunk, "records": records, "cpu_s": cpu, "wall_s": wall,
            "us_per_record": cpu / records * 1e6, "records_per_s": records / wall,
            "p50_ms": latencies[len(latencies) // 2],
            "p99_ms": latencies[int(len(latencies) * 0.99)]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--per-chunk", type=int, nargs="+", default=[1, 10])
    parser.add_argument("--per-request", type=int, default=1000)
    parser.add_argument("--streams", type=int, default=24)
    parser.add_argument("--batch", type=int, default=1,
                        help="send this many chunk frames as one JSON array (1: no arrays)")
    parser.add_argument("--rate", type=float, default=0,
                        help="paced: records/s over all streams (0: as fast as possible)")
    parser.add_argument("--profile",
                        help="py-spy output: .svg flame graph, .txt collapsed stacks, .json")
    args = parser.parse_args()
    home = write_home(Path(tempfile.mkdtemp(prefix="lmarenarev-hotpath-")), [MODEL])
    gateway = start_gateway(home, {"worker_token": TOKEN, "worker_capacity": 96,
                                   "max_waiting_requests": 1000,
                                   "model_catalog_refresh_minutes": 0,
                                   "account_check_minutes": 0}, wait=True)
    port = gateway.port
    try:
        for i, per_chunk in enumerate(args.per_chunk):
            last = i == len(args.per_chunk) - 1
            result = asyncio.run(measure(port, gateway.pid, args, per_chunk,
                                         args.profile if last else None))
            print(f"per-chunk {per_chunk:>3}: {result['records']} records, "
                  f"{result['us_per_record']:.1f} µs CPU/record, "
                  f"{result['records_per_s']:,.0f} records/s "
                  f"(CPU {result['cpu_s']:.2f} s, wall {result['wall_s']:.2f} s), "
                  f"latency p50 {result['p50_ms']:.2f} ms p99 {result['p99_ms']:.2f} ms",
                  flush=True)
    finally:
        gateway.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
