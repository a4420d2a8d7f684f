"""A burst of requests: the gateway's CPU per request and the burst's time to first token.

`lmarenarev serve` runs as a subprocess; a raw WebSocket worker (its own process, `batches` in
its hello, as the userscript) answers each job at once with its status and one chunk of one
stamped `a0:` record, and sends `done` `--done-after` ms later (so a reply's end does not mix
with the burst's first tokens). This process sends `--bursts` bursts of `--streams` requests
at once on kept-alive connections (bench/relay_client.py `GatewayClient`, as the `openai`
client's pool) and reads, around each burst, the CPU of each gateway thread from
/proc/<pid>/task/*/schedstat.

    python -m bench.burst [--bursts 150] [--streams 24] [--done-after 50] [--profile out.txt]

It prints the CPU per request of the gateway's event loop thread and of its other threads (the
request log's writer), and the median over bursts of the mean time to first token: what the
gateway alone adds when a burst arrives (no browser, no fake LMArena). `--profile` runs py-spy
on the gateway during the measured bursts (`.txt`: collapsed stacks, else a flame graph).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Origin

from bench.hotpath import MODEL
from bench.procs import start_gateway, thread_cpu_ns
from bench.relay_client import GatewayClient
from testkit.support import write_home

TOKEN = "burst-worker-token"
FINISH = 'ad:{"finishReason":"stop","usage":{"promptTokens":5,"completionTokens":1}}\n'


async def _worker(url: str, done_after: float, ready: multiprocessing.synchronize.Event) -> None:
    async with connect(url, origin=Origin("https://lmarena.ai"), max_size=None,
                       compression=None, ping_interval=None) as ws:
        hello = {"type": "hello", "protocol": 1, "script_version": "bench", "tab": "burst",
                 "page_url": "https://lmarena.ai/", "capacity": 128, "title": "LMArena",
                 "batches": True}
        await ws.send(json.dumps(hello))
        later: set[asyncio.Task[None]] = set()
        async for message in ws:
            data = json.loads(message)
            out: list[str] = []
            for frame in data if isinstance(data, list) else [data]:
                kind = frame.get("type")
                if kind == "welcome":
                    ready.set()
                elif kind == "ping":
                    out.append(json.dumps({"type": "pong", "t": frame["t"]}))
                elif kind == "fetch":
                    job = frame["job"]
                    record = f'a0:"@t={time.time_ns() // 1000};w0 "\n'
                    out.append(json.dumps({"type": "status", "job": job, "http_status": 200,
                                           "headers": {"content-type": "text/plain"}}))
                    out.append(json.dumps({"type": "chunk", "job": job, "seq": 0,
                                           "data": record + FINISH}))
                    task = asyncio.create_task(_done(ws, job, done_after))
                    later.add(task)
                    task.add_done_callback(later.discard)
            if out:
                await ws.send("[" + ",".join(out) + "]")


async def _done(ws: ClientConnection, job: str, after: float) -> None:
    await asyncio.sleep(after)
    await ws.send(json.dumps({"type": "done", "job": job, "seq": 1}))


def run_worker(url: str, done_after: float, ready: multiprocessing.synchronize.Event) -> None:
    asyncio.run(_worker(url, done_after, ready))


def body(index: int) -> dict[str, object]:
    return {"model": MODEL["publicName"], "stream": True,
            "messages": [{"role": "user", "content": f"burst stream {index}"}]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bursts", type=int, default=150)
    parser.add_argument("--streams", type=int, default=24)
    parser.add_argument("--done-after", type=float, default=50, help="ms after the first chunk")
    parser.add_argument("--profile", help="py-spy output: .txt collapsed stacks, else .svg")
    args = parser.parse_args()
    home = write_home(Path(tempfile.mkdtemp(prefix="lmarenarev-burst-")), [MODEL])
    gateway = start_gateway(home, {"worker_token": TOKEN, "worker_capacity": 128,
                                   "max_waiting_requests": 1000,
                                   "model_catalog_refresh_minutes": 0,
                                   "account_check_minutes": 0}, wait=True)
    ready = multiprocessing.Event()
    worker = multiprocessing.Process(
        target=run_worker, daemon=True,
        args=(f"ws://127.0.0.1:{gateway.port}/ws?token={TOKEN}", args.done_after / 1000, ready))
    worker.start()
    client = GatewayClient(gateway.port)
    spy: subprocess.Popen[bytes] | None = None
    try:
        if not ready.wait(30):
            raise RuntimeError("the worker did not connect")
        bodies = [body(index) for index in range(args.streams)]
        for _ in range(10):  # warm-up
            client.prepare(args.streams)
            client.run(bodies)
        if args.profile:
            kind = "raw" if args.profile.endswith(".txt") else "flamegraph"
            spy = subprocess.Popen(["py-spy", "record", "-o", args.profile, "--pid",
                                    str(gateway.pid), "--rate", "1000", "--nonblocking",
                                    "--format", kind],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(1)
        main_ns = other_ns = 0
        ttfts: list[float] = []
        for _ in range(args.bursts):
            client.prepare(args.streams)
            before = thread_cpu_ns(gateway.pid)
            results = client.run(bodies)
            after = thread_cpu_ns(gateway.pid)
            failed = [r.error for r in results if r.error]
            if failed:
                raise RuntimeError(f"{len(failed)} stream(s) failed: {failed[0]}")
            for tid, ns in after.items():
                spent = ns - before.get(tid, 0)
                if tid == gateway.pid:
                    main_ns += spent
                else:
                    other_ns += spent
            start = min(r.start for r in results)
            ttfts.append(statistics.fmean((r.first or 0) - start for r in results) * 1000)
        if spy is not None:
            spy.send_signal(2)
            spy.wait(30)
        requests = args.bursts * args.streams
        print(f"{args.bursts} bursts of {args.streams}: gateway CPU per request "
              f"{main_ns / requests / 1000:.0f} µs (event loop thread) + "
              f"{other_ns / requests / 1000:.0f} µs (other threads); mean TTFT over a burst: "
              f"median {statistics.median(ttfts):.2f} ms, min {min(ttfts):.2f} ms", flush=True)
    finally:
        client.close()
        worker.terminate()
        gateway.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
