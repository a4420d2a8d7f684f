"""Helpers shared by the integration and e2e tiers."""

from __future__ import annotations

import asyncio
import json
import random
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop's loop when it is installed (uvicorn[standard] brings it, and the gateway runs
    on it), else asyncio's."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def model_type(model: Mapping[str, Any]) -> str:
    outputs = model.get("capabilities", {}).get("outputCapabilities", {})
    if outputs.get("image"):
        return "image"
    if outputs.get("search"):
        return "search"
    return "text"


def models_json(models: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """The seed's models.json for a model list: "name": "id" or "id:image"/"id:search"."""
    out: dict[str, str] = {}
    for model in models:
        kind = model_type(model)
        suffix = "" if kind == "text" else f":{kind}"
        out[str(model["publicName"])] = f"{model['id']}{suffix}"
    return out


def write_home(
    home: Path,
    models: Iterable[Mapping[str, Any]],
    config: Mapping[str, Any] | None = None,
    endpoint_map: Mapping[str, Any] | None = None,
) -> Path:
    home.mkdir(parents=True, exist_ok=True)
    (home / "models.json").write_text(json.dumps(models_json(models), indent=2), "utf-8")
    if config is not None:
        (home / "config.jsonc").write_text(json.dumps(dict(config), indent=2), "utf-8")
    if endpoint_map is not None:
        (home / "model_endpoint_map.json").write_text(json.dumps(dict(endpoint_map)), "utf-8")
    return home


def wait_until(
    predicate: Callable[[], bool], timeout: float = 10.0, what: str = "condition"
) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.01)


async def wait_until_async(
    predicate: Callable[[], bool], timeout: float = 10.0, what: str = "condition"
) -> None:
    """`wait_until` for a coroutine: polls without blocking the event loop the awaited work
    may be running on."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.01)


def free_port() -> int:
    """A loopback port that is free now, for a process the test starts, which binds it a
    moment later. Taken below the kernel's ephemeral range when it can be: a port from that
    range (what binding port 0 gives) can meanwhile become the local end of any process's
    outgoing connection (a browser's, a client's), and the process then fails to start."""
    low = _ephemeral_low()
    for port in random.sample(range(20000, low), min(50, max(0, low - 20000))):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default


def stop_process(process: subprocess.Popen[Any]) -> None:
    """Ctrl-C, as a user would; killed if it does not exit within 10 s."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
