"""The fake LMArena's benchmark fast mode on real sockets: stamped records, absolute pacing,
HTTP/2 via hypercorn (concurrent streams on one connection, stream resets and closed
connections counted as disconnects) and the standalone runner's `ready <url>` line."""

from __future__ import annotations

import asyncio
import json
import os
import re
import select
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h2.config
import h2.connection
import h2.events
import httpx
import pytest

from testkit.fakes.arena import FakeArena, model_id
from testkit.fakes.arena_auth import AUTH_COOKIE
from testkit.fakes.arena_bodies import CREATE_PATH, TEXT_PLAIN, create_body
from testkit.fakes.serving import ServerThread
from testkit.fakes.tls import TLSFiles, make_self_signed

STAMP = re.compile(r"@t=(\d+);")
REPO = Path(__file__).resolve().parents[2]


@dataclass
class Stream:
    http_version: str
    records: list[tuple[str, Any]]
    stamps: list[tuple[int, int]]  # (stamp, client receive time), both µs since the epoch


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TLSFiles:
    return make_self_signed(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def arena() -> FakeArena:
    return FakeArena()


@pytest.fixture
def h2_server(arena: FakeArena, tls: TLSFiles) -> Iterator[ServerThread]:
    with ServerThread(arena.app, ssl=tls, http2=True) as server:
        yield server


def client(arena: FakeArena, url: str, *, http2: bool = False) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=url, http2=http2, verify=False, timeout=10,
                             cookies={AUTH_COOKIE: arena.issue_auth_cookie()})


def create(arena: FakeArena, text: str = "hi") -> bytes:
    return json.dumps(create_body(model_id("fake-gpt"), text, token=arena.issue_token())).encode()


async def read_stream(http: httpx.AsyncClient, arena: FakeArena) -> Stream:
    stamps: list[tuple[int, int]] = []
    records: list[tuple[str, Any]] = []
    async with http.stream("POST", CREATE_PATH, content=create(arena),
                           headers=TEXT_PLAIN) as response:
        assert response.status_code == 200
        async for line in response.aiter_lines():
            received = time.time_ns() // 1000
            if not line:
                continue
            prefix, value = line[:2], json.loads(line[3:])
            records.append((prefix, value))
            if prefix == "a0" and (match := STAMP.match(value)):
                stamps.append((int(match[1]), received))
    return Stream(response.http_version, records, stamps)


def check_stamped(stream: Stream, count: int, record_chars: int) -> None:
    assert [prefix for prefix, _ in stream.records] == ["af", "a2"] + ["a0"] * count + ["ad"]
    assert len(stream.stamps) == count
    for _, value in stream.records[2:-1]:
        assert len(value) == record_chars
        assert re.fullmatch(r"@t=\d+;[a-z]*", value) and "abc" in value
    assert all(sent <= received for sent, received in stream.stamps)
    sent_times = [sent for sent, _ in stream.stamps]
    assert sent_times == sorted(sent_times)
    assert stream.records[-1][1]["finishReason"] == "stop"
    assert stream.records[-1][1]["usage"]["completionTokens"] == count


async def test_stamped_records_over_http1(arena: FakeArena) -> None:
    arena.set_defaults(stamped_records=25, record_chars=48)
    with ServerThread(arena.app) as server:
        async with client(arena, server.url) as http:
            stream = await read_stream(http, arena)
    assert stream.http_version == "HTTP/1.1"
    check_stamped(stream, 25, 48)
    await arena.wait_for_async(lambda: arena.completed_streams == 1)


async def test_pacing_is_an_absolute_schedule(arena: FakeArena) -> None:
    arena.set_defaults(stamped_records=10, delay=0.02, record_chars=30)
    with ServerThread(arena.app) as server:
        async with client(arena, server.url) as http:
            started = time.monotonic()
            stream = await read_stream(http, arena)
            elapsed = time.monotonic() - started
    check_stamped(stream, 10, 30)
    assert elapsed >= 0.175
    first = stream.stamps[0][0]
    for index, (sent, _) in enumerate(stream.stamps):
        assert sent - first >= index * 20_000 - 1_000  # µs; a sleep never ends early
    assert stream.stamps[-1][0] - first < 1_000_000


async def test_http2_serves_the_stamped_stream(arena: FakeArena, h2_server: ServerThread) -> None:
    arena.set_defaults(stamped_records=40, record_chars=64)
    async with client(arena, h2_server.url, http2=True) as http:
        stream = await read_stream(http, arena)
    assert stream.http_version == "HTTP/2"
    check_stamped(stream, 40, 64)


async def test_http2_concurrent_streams_share_one_connection(arena: FakeArena,
                                                             h2_server: ServerThread) -> None:
    arena.set_defaults(stamped_records=10, delay=0.02, record_chars=32)
    async with client(arena, h2_server.url, http2=True) as http:
        warm = await http.get("/__fake/defaults")  # opens the one connection
        assert warm.http_version == "HTTP/2"
        local_port = warm.extensions["network_stream"].get_extra_info("client_addr")[1]
        streams = await asyncio.gather(*(read_stream(http, arena) for _ in range(5)))
        async with http.stream("GET", "/__fake/defaults") as after:
            assert after.extensions["network_stream"].get_extra_info("client_addr")[1] \
                == local_port
    for stream in streams:
        assert stream.http_version == "HTTP/2"
        check_stamped(stream, 10, 32)
    assert arena.max_concurrent_streams >= 2
    assert arena.completed_streams == 5


async def test_http2_keeps_one_connection_past_a_thousand_requests(
    arena: FakeArena, h2_server: ServerThread
) -> None:
    """Hypercorn's default closes a connection after 1,000 requests; the benchmark sends
    thousands over one, so the fake lifts that limit (and 120 streams run at once, above
    hypercorn's default of 100)."""
    async with client(arena, h2_server.url, http2=True) as http:

        async def port() -> int:
            answer = await http.get("/__fake/defaults")
            assert answer.status_code == 200 and answer.http_version == "HTTP/2"
            return int(answer.extensions["network_stream"].get_extra_info("client_addr")[1])

        first = await port()
        for _ in range(11):
            ports = await asyncio.gather(*(port() for _ in range(120)))
            assert set(ports) == {first}


def test_http2_needs_tls(arena: FakeArena) -> None:
    with pytest.raises(ValueError, match="ssl"):
        ServerThread(arena.app, http2=True)


async def test_http2_stream_reset_counts_as_disconnected(arena: FakeArena,
                                                         h2_server: ServerThread) -> None:
    """RST_STREAM (what a browser sends when fetch is aborted) on a connection that stays open."""
    arena.set_defaults(stamped_records=200, delay=0.05)
    connection = await RawH2.open(h2_server.port)
    try:
        stream_id = connection.post(CREATE_PATH, create(arena), arena.issue_auth_cookie())
        await connection.flush()
        await connection.read_until(stream_id, b'a0:"@t=')
        connection.h2.reset_stream(stream_id)
        await connection.flush()
        await arena.wait_for_async(lambda: arena.disconnected_streams == 1)
        assert arena.completed_streams == 0 and arena.open_streams == 0
    finally:
        connection.close()


async def test_http2_closed_connection_counts_as_disconnected(arena: FakeArena,
                                                              h2_server: ServerThread) -> None:
    arena.set_defaults(stamped_records=200, delay=0.05)
    async with client(arena, h2_server.url, http2=True) as http, http.stream(
            "POST", CREATE_PATH, content=create(arena), headers=TEXT_PLAIN) as response:
        assert response.http_version == "HTTP/2"
        async for line in response.aiter_lines():
            if STAMP.search(line):
                break
    await arena.wait_for_async(lambda: arena.disconnected_streams == 1)
    assert arena.completed_streams == 0


def test_standalone_runner_prints_ready_and_serves_http2(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "testkit.fakes.arena", "--port", "0", "--tls", "--http2",
               "--cert-dir", str(tmp_path), "--stamped-records", "7", "--record-chars", "40",
               "--delay-ms", "1", "--no-recaptcha", "--no-auth"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        readable, _, _ = select.select([process.stdout], [], [], 30)  # a deadline, not a sleep
        assert readable, "no `ready` line within 30 s"
        line = process.stdout.readline()  # the runner prints it once listening (or exits)
        assert line.startswith("ready https://127.0.0.1:"), process.stderr and process.stderr.read()
        url = line.split()[1]
        assert (tmp_path / "cert.pem").is_file() and (tmp_path / "key.pem").is_file()
        body = create_body(model_id("fake-gpt"), "hi", token="any")
        trust = ssl.create_default_context(cafile=tmp_path / "cert.pem")
        with httpx.Client(http2=True, verify=trust, timeout=10) as http:
            response = http.post(url + CREATE_PATH, content=json.dumps(body), headers=TEXT_PLAIN)
            assert response.http_version == "HTTP/2"
            assert len(STAMP.findall(response.text)) == 7
            assert http.get(url + "/__fake/defaults").json()["delay"] == 0.001
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


class RawH2:
    """A bare HTTP/2 client, for what httpx cannot do: reset one stream, keep the connection."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 authority: str) -> None:
        self.reader, self.writer, self.authority = reader, writer, authority
        self.h2 = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        self.h2.initiate_connection()
        self.received: dict[int, bytes] = {}

    @classmethod
    async def open(cls, port: int) -> RawH2:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        context.set_alpn_protocols(["h2"])
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context)
        assert writer.get_extra_info("ssl_object").selected_alpn_protocol() == "h2"
        connection = cls(reader, writer, f"127.0.0.1:{port}")
        await connection.flush()
        return connection

    def post(self, path: str, body: bytes, cookie: str) -> int:
        stream_id = self.h2.get_next_available_stream_id()
        self.h2.send_headers(stream_id, [
            (":method", "POST"), (":scheme", "https"), (":authority", self.authority),
            (":path", path), ("content-type", TEXT_PLAIN["Content-Type"]),
            ("content-length", str(len(body))), ("cookie", f"{AUTH_COOKIE}={cookie}"),
        ])
        self.h2.send_data(stream_id, body, end_stream=True)
        return stream_id

    async def flush(self) -> None:
        self.writer.write(self.h2.data_to_send())
        await self.writer.drain()

    async def read_until(self, stream_id: int, needle: bytes, timeout: float = 5.0) -> None:
        async with asyncio.timeout(timeout):
            while needle not in self.received.get(stream_id, b""):
                data = await self.reader.read(65536)
                assert data, "connection closed"
                for event in self.h2.receive_data(data):
                    if isinstance(event, h2.events.DataReceived):
                        self.received[event.stream_id] = \
                            self.received.get(event.stream_id, b"") + event.data
                        self.h2.acknowledge_received_data(event.flow_controlled_length,
                                                          event.stream_id)
                await self.flush()

    def close(self) -> None:
        self.writer.close()
