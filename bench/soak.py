"""Soak: many requests of mixed outcomes through `lmarenarev serve`; is memory bounded?

    python -m bench.soak [--requests 10000] [--concurrency 16] [--workers 3] [--out docs/soak.md]
    python -m bench.soak --quick          # 500 requests, a smoke run (report printed only)

The fake LMArena runs in a thread of this process, the gateway as its own process (so its RSS,
read from /proc/<pid>/status, is the gateway's alone), and the Python fake workers on this
process's event loop (all over WebSocket but one over long-poll). Every request has a distinct
prompt tag `[soak-NNNNNN]` and its upstream answer is scripted for that tag, so its outcome is
known in advance whatever the interleaving. Method and targets: docs/soak.md.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import shlex
import shutil
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench.procs import start_gateway
from bench.soak_driver import Options, Soak, gateway_settings, until
from bench.soak_report import Verdict, judge, report
from bench.soak_workload import STREAM_TIMEOUT, label, plan
from lmarenarev.config.settings import Settings
from testkit.fakes.arena import FakeArena
from testkit.fakes.serving import ServerThread
from testkit.support import write_home

ROOT = Path(__file__).resolve().parents[1]
ABANDONED = ("client-gone", "client-gone-early", "stall")  # their upstream fetch must be aborted


def parse_args(argv: list[str] | None = None) -> tuple[Options, Path | None]:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, help="default 10000 (500 with --quick)")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--workers", type=int, default=3, help="fake tabs (one long-poll)")
    parser.add_argument("--quick", action="store_true", help="500 requests, no report file")
    parser.add_argument("--out", type=Path, help="report file (default docs/soak.md)")
    parser.add_argument("--warmup", type=int, help="requests before the reference sample")
    parser.add_argument("--sample-every", type=int, help="requests between RSS samples")
    parser.add_argument("--kill-every", type=int, help="requests between worker losses")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--stream-timeout", type=float, default=STREAM_TIMEOUT,
                        help="the gateway's first-byte and chunk timeouts; raise it on a busy "
                        "machine, where a starved fake can miss 2 s (default %(default)s)")
    args = parser.parse_args(argv)
    requests = args.requests or (500 if args.quick else 10000)
    options = Options(
        requests=requests,
        concurrency=args.concurrency,
        workers=args.workers,
        warmup=args.warmup or min(1000, requests // 5),
        sample_every=args.sample_every or max(1, min(250, requests // 10)),
        kill_every=args.kill_every or min(500, max(50, requests // 5)),
        seed=args.seed,
        stream_timeout=args.stream_timeout,
    )
    out = args.out or (None if args.quick else ROOT / "docs" / "soak.md")
    return options, out


async def soak(options: Options, home: Path, arena: FakeArena, arena_url: str) -> Verdict:
    load_start = os.getloadavg()
    settings, skipped = gateway_settings(options.stream_timeout)
    gateway = start_gateway(home, settings)
    limits = httpx.Limits(max_connections=options.concurrency + 8)
    try:
        async with httpx.AsyncClient(base_url=gateway.url, limits=limits, trust_env=False,
                                     timeout=httpx.Timeout(60, connect=10)) as client:
            run = Soak(options, arena, arena_url, gateway, client)

            async def up() -> bool:
                if gateway.process.poll() is not None:
                    raise RuntimeError(f"the gateway exited: {gateway.log_path.read_text()}")
                try:
                    return (await client.get("/health", timeout=1)).status_code == 200
                except httpx.HTTPError:
                    return False

            await until(up, 30, "the gateway to answer /health")
            await run.start_workers()
            planned = plan(options.requests, options.seed, options.stream_timeout)
            run.started = time.monotonic()
            await run.sample("start")
            await run.drive(planned)
            seconds = time.monotonic() - run.started
            idle = await run.settle()
            abandoned = {p.tag for p in planned if p.scenario.name in ABANDONED
                         and p.tag not in run.affected and p.index in run.observed}
            fetched = abandoned & run.fetched_tags()
            aborted = await run.wait_for_aborts(fetched)
            closed = await run.close_workers()
            rows, mismatches = judge(planned, run)
    finally:
        gateway.stop()
    return Verdict(
        options=options,
        command=shlex.join(["python", "-m", "bench.soak", *sys.argv[1:]]),
        gateway_command=shlex.join(["lmarenarev", *gateway.command[3:]]).replace(str(home),
                                                                                 "<tmp home>"),
        skipped_settings=skipped,
        seconds=seconds,
        samples=run.samples,
        rows=rows,
        mismatches=mismatches,
        idle_state=idle,
        closed_state=closed,
        losses=run.losses,
        affected=len(run.affected),
        abandoned=len(abandoned),
        fetched=len(fetched),
        aborted=len(aborted),
        not_aborted=[f"{p.tag} {p.scenario.name} stream={p.stream}: "
                     f"{label(p, run.observed[p.index])}"
                     for p in planned if p.tag in fetched - aborted],
        disconnected=arena.disconnected_streams,
        pending_replies=arena.pending_replies,
        log_problems=gateway.log_problems(),
        conversation_cap=int(Settings.model_fields["conversation_cache_size"].default),
        problems=run.problems,
        sent=len(run.observed),
        load_start=load_start,
    )


def main(argv: list[str] | None = None) -> int:
    options, out = parse_args(argv)
    home = Path(tempfile.mkdtemp(prefix="lmarenarev-soak-"))
    arena = FakeArena()
    write_home(home, arena.models)
    # The fakes' own noise (cut replies, fetches cut short by a crash) goes to a file.
    logging.basicConfig(filename=home / "fakes.log", level=logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    with ServerThread(arena.app) as server:
        verdict = asyncio.run(soak(options, home, arena, server.url))
    text = report(verdict)
    print(text)
    if out is not None:
        out.write_text(text, "utf-8")
        print(f"report written to {out}")
    for line in verdict.mismatches[:20]:
        print("MISMATCH", line)
    for line in verdict.log_problems[:10]:
        print("GATEWAY LOG", line)
    for line in verdict.problems:
        print("PROBLEM", line)
    for line in verdict.not_aborted[:20]:
        print("NOT ABORTED", line)
    if verdict.passed:
        shutil.rmtree(home, ignore_errors=True)
        return 0
    print(f"FAILED; gateway home and log kept in {home}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
