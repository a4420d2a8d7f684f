"""The official `openai` client as a reader for bench/relay.py's user view, in a process of its
own: a user's client runs in its own process, not in the browser's nor in the benchmark's
(where the Playwright driver's thread would share its GIL).

    python -m bench.relay_openai

reads one JSON command per line on stdin, `{"base_url": "http://127.0.0.1:<port>/v1",
"bodies": [<chat completion request>, …]}`, sends every body at once with
`AsyncOpenAI(max_retries=0).chat.completions.create(**body)` (one client per base URL, kept
from run to run: its connections stay alive, as in an application) and answers one JSON line:
the streams' results (`StreamResult` fields; times `time.time()` seconds, latencies µs from the
fake's `@t=<µs>;` stamps in the content).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.relay_client import STAMP_TEXT, StreamResult

ROOT = Path(__file__).resolve().parents[1]


async def _one(client: Any, body: dict[str, Any], sent: dict[str, float]) -> StreamResult:
    import openai

    result = StreamResult(start=time.time())
    key = json.dumps(body["messages"])
    try:
        stream = await client.chat.completions.create(**body)
        async for chunk in stream:
            if not chunk.choices:
                continue
            content = chunk.choices[0].delta.content
            if content:
                result.see(time.time(), STAMP_TEXT.findall(content))
        result.end = time.time()
        result.sent = sent.pop(key, None)
    except openai.OpenAIError as exc:
        result.error = f"{type(exc).__name__}: {exc}"[:300]
    return result


async def _serve() -> None:
    import openai

    clients: dict[str, Any] = {}
    sent: dict[str, float] = {}  # a request's messages → when httpx was about to send it

    async def on_request(request: Any) -> None:
        with contextlib.suppress(ValueError, KeyError):  # not a chat request
            sent[json.dumps(json.loads(request.content)["messages"])] = time.time()

    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            return
        command = json.loads(line)
        base_url = command["base_url"]
        client = clients.get(base_url)
        if client is None:
            # The client's own httpx defaults, plus a hook that notes when a request leaves.
            http = openai.DefaultAsyncHttpxClient(event_hooks={"request": [on_request]})
            client = clients[base_url] = openai.AsyncOpenAI(
                base_url=base_url, api_key="bench", max_retries=0, timeout=120, http_client=http)
        results = await asyncio.gather(*(_one(client, body, sent) for body in command["bodies"]))
        print(json.dumps([dataclasses.asdict(r) for r in results]), flush=True)


class OpenAIReader:
    """The reader process, driven from the benchmark."""

    def __init__(self, log_path: Path) -> None:
        self._log = log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.relay_openai"], cwd=ROOT, stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=self._log, text=True)

    def run(self, base_url: str, bodies: Sequence[dict[str, Any]]) -> list[StreamResult]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps({"base_url": base_url, "bodies": list(bodies)}) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the openai reader exited {self.process.poll()}")
        return [StreamResult(**item) for item in json.loads(line)]

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
        self._log.close()


if __name__ == "__main__":
    asyncio.run(_serve())
