"""The official `openai` client's own cost as a reader, with no gateway, browser or LMArena:
a server in another process answers every streamed chat completion at once with bytes the
gateway's own renderer (render/sse.py) made.

    python -m bench.reader [--streams 24] [--bursts 15] [--records 200] [--replies 40]

- *burst floor*: `--streams` streaming requests at once from one `AsyncOpenAI(max_retries=0)`
  on kept-alive connections (as bench/relay_openai.py), against a server that answers each
  at once: the mean over the streams of when the server had the request and when the
  application had the first content chunk, from the burst's start (medians over the bursts,
  the first burst, which opens the connections, left out). What the `openai` client alone
  adds to the first token of a burst, whatever the server.
- *parse cost*: one reply of `--records` text records read `--replies` times, the client's
  CPU time per reply (`time.process_time`, alternating the two shapes): one chunk per record
  (the relay before the third round joined the records of a batch, `arena.events.join_text`)
  and one chunk per 10 records (what it sends now when a tab's batch carries 10 records of a
  stream, as in a burst of 24 streams 5 ms apart: a 48 ms batch window).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import Any

from lmarenarev.arena.events import Event, Finish, TextDelta, join_text
from lmarenarev.render.common import RenderOptions
from lmarenarev.render.sse import SSERenderer

OPTIONS = RenderOptions("bench-model", "chatcmpl-bench", 1_700_000_000, "openai", True, False)


def reply_body(records: int, per_feed: int) -> bytes:
    """A reply as the gateway streams it when `per_feed` records reach it together (the relay
    joins them, chat/relay.py)."""
    renderer = SSERenderer(OPTIONS)
    events: list[Event] = [TextDelta(f"token {i:04d} ") for i in range(records)]
    body = b"".join(
        renderer.feed_all(join_text(events[i : i + per_feed])) for i in range(0, records, per_feed)
    )
    return body + renderer.feed(Finish("stop")) + renderer.finish()


async def serve(records: int) -> None:
    """Answers `POST …/chat/completions` at once, the model name picking the body; a burst's
    reply carries when the request arrived. Prints the port; stops when stdin closes."""
    bodies = {"burst": reply_body(1, 1), "per-record": reply_body(records, 1),
              "per-10": reply_body(records, 10)}

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                              if line.lower().startswith(b"content-length:"))
                request = json.loads(await reader.readexactly(length))
                arrived = time.time()
                body = bodies[request["model"]]
                if request["model"] == "burst":  # the request's arrival, in the first delta
                    body = body.replace(b"token 0000 ", f"{arrived:.6f}".encode(), 1)
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream; "
                             b"charset=utf-8\r\ncontent-length: %d\r\n\r\n" % len(body) + body)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


async def _read(client: Any, model: str) -> tuple[float, str]:
    """(when the first content chunk reached the application, its content)."""
    stream = await client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "x"}], stream=True)
    first: tuple[float, str] | None = None
    async for chunk in stream:
        if first is None and chunk.choices and chunk.choices[0].delta.content:
            first = (time.time(), chunk.choices[0].delta.content)
    assert first is not None
    return first


async def measure(port: int, streams: int, bursts: int, replies: int) -> dict[str, Any]:
    import openai

    client = openai.AsyncOpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="bench",
                                max_retries=0, timeout=60)
    arrivals, firsts = [], []
    for burst in range(bursts + 1):
        start = time.time()
        got = await asyncio.gather(*(_read(client, "burst") for _ in range(streams)))
        if burst:  # the first burst opens the connections
            arrivals.append(statistics.mean(float(text) - start for _, text in got) * 1000)
            firsts.append(statistics.mean(at - start for at, _ in got) * 1000)
    cpu: dict[str, list[float]] = {"per-record": [], "per-10": []}
    for _ in range(replies):
        for shape, times in cpu.items():
            before = time.process_time()
            await _read(client, shape)
            times.append((time.process_time() - before) * 1e6)
    await client.close()
    return {"arrival_ms": statistics.median(arrivals), "first_ms": statistics.median(firsts),
            "cpu_us": {shape: statistics.median(times) for shape, times in cpu.items()}}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--streams", type=int, default=24)
    parser.add_argument("--bursts", type=int, default=15)
    parser.add_argument("--records", type=int, default=200)
    parser.add_argument("--replies", type=int, default=40)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        asyncio.run(serve(args.records))
        return 0
    server = subprocess.Popen(
        [sys.executable, "-m", "bench.reader", "--serve", "--records", str(args.records)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        result = asyncio.run(measure(port, args.streams, args.bursts, args.replies))
    finally:
        server.kill()
        server.wait(5)
    cpu = result["cpu_us"]
    print(f"openai {_version()}, {args.streams} streams at once, an instant server "
          f"(medians of {args.bursts} bursts):")
    print(f"  the server had the request  {result['arrival_ms']:6.1f} ms after the burst began")
    print(f"  the first token at the app  {result['first_ms']:6.1f} ms")
    print(f"a reply of {args.records} records, the client's CPU (median of {args.replies}):")
    for shape, label in (("per-record", "one chunk per record"), ("per-10", "one per 10")):
        print(f"  {label:22} {cpu[shape] / 1000:7.2f} ms  ({cpu[shape] / args.records:5.1f} µs"
              " per record)")
    return 0


def _version() -> str:
    import openai

    return str(openai.__version__)


if __name__ == "__main__":
    sys.exit(main())
