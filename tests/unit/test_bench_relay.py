"""The benchmark's own measuring parts: if they miscounted, docs/benchmarks.md would lie.
The user's view's tables and targets included."""

from __future__ import annotations

import asyncio
import itertools
import queue
import threading
import time

from hypothesis import given, settings
from hypothesis import strategies as st

from bench.relay_client import GatewayClient, StreamResult, _CeilingServer, _SSEReader
from bench.relay_report import RunStats, Scenario, run_stats, targets
from bench.relay_user import PAGE, UserCase, setup_name
from bench.relay_user_report import (
    BATCHED,
    POOL_OFF,
    POOL_ON,
    UNBATCHED,
    user_table,
    user_targets,
    variant_table,
    where_table,
)


def _chunked(frames: list[bytes]) -> bytes:
    head = (b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
            b"transfer-encoding: chunked\r\n\r\n")
    body = b"".join(b"%x\r\n%s\r\n" % (len(f), f) for f in frames)
    return head + body + b"0\r\n\r\n"


def _frame(stamp: int) -> bytes:
    return (b'data: {"choices":[{"index":0,"delta":{"content":"@t=%d;abcdefgh"}}]}\n\n' % stamp)


class _Transport:
    def __init__(self) -> None:
        self.written = b""
        self.closed = False

    def write(self, data: bytes) -> None:
        self.written += data

    def close(self) -> None:
        self.closed = True


def _exchange(reader: _SSEReader, raw: bytes, cuts: list[int]) -> StreamResult:
    """Sends a request on `reader` and feeds it `raw` cut at `cuts`; the reply must end."""
    loop = asyncio.new_event_loop()
    try:
        done = loop.create_future()
        result = StreamResult(start=time.time())
        reader.send(b"POST / HTTP/1.1\r\n\r\n", result, done)
        edges = [0, *sorted({c % (len(raw) + 1) for c in cuts}), len(raw)]
        for start, end in itertools.pairwise(edges):
            if end > start:
                reader.data_received(raw[start:end])
        assert done.done()
        return result
    finally:
        loop.close()


def _connected() -> tuple[_SSEReader, _Transport]:
    reader, transport = _SSEReader(), _Transport()
    reader.connection_made(transport)  # type: ignore[arg-type]
    return reader, transport


@settings(max_examples=200, deadline=None)
@given(count=st.integers(1, 40), cuts=st.lists(st.integers(0, 10_000), max_size=30))
def test_every_stamp_is_counted_once_however_tcp_splits_the_body(count: int,
                                                                  cuts: list[int]) -> None:
    sent = int(time.time() * 1e6) - 1000
    frames = [_frame(sent + i) for i in range(count)]
    reader, transport = _connected()
    result = _exchange(reader, _chunked(frames), cuts)
    assert transport.written.startswith(b"POST /")
    assert result.records == count and result.error is None
    assert result.first is not None and result.end is not None
    # each latency is receive time − stamp: positive, and about a millisecond here
    assert all(0 < lat < 5e6 for lat in result.latencies_us)
    assert reader.reusable and not transport.closed  # kept alive for the next request


def test_a_kept_alive_connection_reads_each_reply_on_its_own() -> None:
    reader, transport = _connected()
    sent = int(time.time() * 1e6) - 1000
    first = _exchange(reader, _chunked([_frame(sent), _frame(sent + 1)]), [])
    second = _exchange(reader, _chunked([_frame(sent + 2)]), [7, 90])
    assert (first.records, second.records) == (2, 1)
    assert transport.written.count(b"POST /") == 2 and reader.reusable


def test_an_error_reply_is_reported_not_counted_and_its_connection_closed() -> None:
    body = b'{"error":{"message":"no tab"}}'
    raw = (b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n"
           b"content-length: %d\r\n\r\n%s" % (len(body), body))
    reader, transport = _connected()
    result = _exchange(reader, raw, [40])
    assert result.records == 0 and result.error is not None and "no tab" in result.error
    assert transport.closed and not reader.reusable


def test_a_reply_cut_short_is_an_error() -> None:
    loop = asyncio.new_event_loop()
    try:
        reader, _transport = _connected()
        done = loop.create_future()
        result = StreamResult(start=time.time())
        reader.send(b"POST / HTTP/1.1\r\n\r\n", result, done)
        reader.data_received(_chunked([_frame(1)])[:-20])  # the server went away mid-reply
        reader.connection_lost(None)
        assert done.done() and result.error is not None and result.end is None
        assert not reader.reusable
    finally:
        loop.close()


def test_the_client_reuses_its_connections_from_run_to_run() -> None:
    """Against the ceiling server (one accept per connection, replies in turn on each)."""
    accepted: list[object] = []
    ready: queue.Queue[int] = queue.Queue()
    stop = threading.Event()

    def serve() -> None:
        async def main() -> None:
            def protocol() -> _CeilingServer:
                accepted.append(object())
                return _CeilingServer(records=30, filler="abcdefgh")

            server = await asyncio.get_running_loop().create_server(protocol, "127.0.0.1", 0)
            ready.put(server.sockets[0].getsockname()[1])
            while not stop.is_set():
                await asyncio.sleep(0.02)
            server.close()

        asyncio.run(main())

    thread = threading.Thread(target=serve)
    thread.start()
    client = GatewayClient(ready.get(timeout=10))
    try:
        body = {"model": "m", "stream": True, "messages": []}
        for _ in range(3):
            client.prepare(4)
            results = client.run([body] * 4)
            assert [r.records for r in results] == [30] * 4
            assert all(r.error is None for r in results)
        assert len(accepted) == 4  # four connections, each served three replies
    finally:
        client.close()
        stop.set()
        thread.join(10)


def test_run_stats_measure_from_the_first_start_to_the_last_end() -> None:
    a = StreamResult(start=10.0, first=10.010, end=10.5, records=3, latencies_us=[100, 200, 300])
    b = StreamResult(start=10.1, first=10.130, end=11.0, records=1, latencies_us=[5000])
    stats = run_stats([a, b], record_chars=32, cpu_seconds=0.004)
    assert round(stats.ttft_ms, 3) == 70.0  # from the run's start: mean of 10 ms and 130 ms
    assert round(stats.total_ms) == 1000
    assert stats.records == 4 and stats.chars == 128
    assert stats.p50_us == 300 and stats.p99_us == 5000
    assert stats.cpu_us_per_record == 1000.0
    assert round(stats.records_per_s) == 4


def test_targets_judge_the_median_run_of_one_tab() -> None:
    def runs(ttft: float, total: float) -> list[RunStats]:
        return [RunStats(ttft, total, 0, 0, 100, 3200, (), 10.0)] * 3

    one = Scenario("HTTP/2", "1 tab", 1, 50, 5.0, runs(10, 260), runs(12.5, 262))
    many = Scenario("HTTP/2", "1 tab", 24, 50, 5.0, runs(100, 300), runs(130, 360))
    judged = {t.name: t for t in targets([one, many], rss_growth_mb=4.0)}
    assert judged["TTFT over direct, 1 stream"].met is True
    assert judged["TTFT over direct, 24 streams, HTTP/2"].met is False  # +30 ms
    assert judged["total time ÷ direct, 24 streams × 5 ms/record, HTTP/2"].met is False  # 1.2×
    assert judged["gateway CPU per record, 24 streams, no delay, HTTP/2"].met is None  # not run
    assert judged["gateway RSS growth over 10,000 requests"].met is True


def _user_case(setup: str, streams: int, page: float, routes: dict[str, float],
               delay_ms: float = 5.0) -> UserCase:
    def runs(ttft: float) -> list[RunStats]:
        return [RunStats(ttft, ttft + 250, 0, 0, 50, 1600, (), None, ttft - 5, 1.0)] * 5

    case = UserCase(setup_name(setup), streams, 50, delay_ms)
    case.runs[PAGE] = runs(page)
    for name, ttft in routes.items():
        case.runs[name] = runs(ttft)
        case.pool_uses[name] = (5, 0) if name == POOL_ON else (0, 0)
    return case


def test_the_users_view_targets_compare_each_route_with_the_pages_path() -> None:
    cases = [
        _user_case("cdp+raw", 1, 700, {POOL_OFF: 703, POOL_ON: 500}),
        _user_case("cdp+raw", 6, 720, {POOL_OFF: 724, POOL_ON: 721}),  # 1 ms slower: missed
        _user_case("cdp+raw", 24, 800, {POOL_OFF: 830, POOL_ON: 838}),  # 1.0475 ×: met
        _user_case("playwright+openai", 24, 900, {BATCHED: 925, UNBATCHED: 930}),
    ]
    judged = {t.name: t for t in user_targets(cases)}
    assert judged["user's view, pool on: TTFT over the page's (mint, then fetch), 1 stream"
                  ].value == -200
    assert judged["user's view, pool on: TTFT over the page's, 6 streams"].met is False
    assert judged["user's view, pool on: TTFT ÷ the page's, 24 streams"].met is True
    playwright = "Playwright + openai, 24 streams × 5 ms"
    assert judged[f"{playwright}, HTTP/2: TTFT over the page's"].met is False  # +25 ms
    assert judged[f"{playwright}: TTFT, batching on − off"].value == -5
    assert judged[f"{playwright}: TTFT, batching on − off"].met is True


def test_the_users_view_tables_show_every_route_and_where_the_time_goes() -> None:
    user = _user_case("cdp+raw", 24, 800, {POOL_OFF: 830, POOL_ON: 810})
    variant = _user_case("playwright+openai", 24, 900, {BATCHED: 925, UNBATCHED: 930})
    variant.marks[BATCHED] = [(3.0, 910.0)] * 5
    rows = user_table([user, variant])
    assert len(rows) == 3 and rows[2].startswith("| 24 | 800 / 800 / 800 | 830 / 830 / 830 ")
    assert rows[2].endswith("| 5 of 5 |")
    rows = variant_table([user, variant])
    assert len(rows) == 3 and rows[2].startswith("| Playwright + openai client | 24 × 50, 5 ms")
    where = where_table([variant])
    batched = next(r for r in where if "gateway, batching on" in r)
    cells = [c.strip() for c in batched.strip("|").split("|")]
    assert cells[2:] == ["1.0", "3.0", "920.0", "910.0", "925.0", "5.0"]
    unbatched = next(r for r in where if "gateway, batching off" in r)
    assert "| – |" in unbatched  # no marks read: said, not invented


def test_run_stats_find_when_the_first_record_was_sent_and_the_request_left() -> None:
    a = StreamResult(start=10.0, first=10.5, end=11, records=1, latencies_us=[20_000],
                     sent=10.0)
    b = StreamResult(start=10.0, first=10.7, end=11, records=1, latencies_us=[40_000],
                     sent=10.2)
    stats = run_stats([a, b], record_chars=8)
    assert round(stats.first_sent_ms or 0, 3) == 570.0  # (480 + 660) / 2
    assert round(stats.request_sent_ms or 0, 3) == 100.0
    unknown = run_stats([StreamResult(start=10.0, first=10.5, end=11, records=1,
                                      latencies_us=[1])], record_chars=8)
    assert unknown.request_sent_ms is None
