"""The request log: migrations, queries, retention, the writer and `lmarenarev logs`."""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import sqlite3
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from lmarenarev.cli.logs import run as logs
from lmarenarev.cli.main import main
from lmarenarev.store import queries
from lmarenarev.store.db import db_path, open_for_reading, open_for_writing
from lmarenarev.store.migrations import MIGRATIONS, applied, migrate
from lmarenarev.store.records import Bodies, RequestRecord, ToCount
from lmarenarev.store.writer import Retention, StoreWriter
from testkit.support import wait_until_async

DAY = 86400.0
NOW = 1_800_000_000.0


def record(n: int, **changes: object) -> RequestRecord:
    base = RequestRecord(
        id=f"chatcmpl-{n:04d}",
        started_at=NOW - 1000 + n,
        model="fake-gpt",
        key_name="alice",
        stream=False,
        flow="modern",
        call="create",
        worker_id="w1",
        status="ok",
        http_status=200,
        error_kind=None,
        upstream_kind=None,
        error_message=None,
        finish_reason="stop",
        ttft_ms=100.0,
        duration_ms=500.0,
        prompt_tokens=3,
        completion_tokens=5,
        tokens_source="upstream",
        attempts=1,
        bytes_in=120,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    connection = open_for_writing(tmp_path / "log.sqlite3")
    migrate(connection)
    connection.row_factory = sqlite3.Row
    yield connection
    connection.close()


def tables(conn: sqlite3.Connection) -> set[str]:
    return {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}


# --- migrations ---------------------------------------------------------------------------------


def test_migrations_from_a_blank_database(tmp_path: Path) -> None:
    conn = open_for_writing(tmp_path / "blank.sqlite3")
    ran = migrate(conn)
    assert ran == [m.__name__ for m in MIGRATIONS] == applied(conn)
    assert {"requests", "request_bodies", "_migrations"} <= tables(conn)
    assert migrate(conn) == []  # idempotent


def test_migrations_from_the_previous_schema_keep_the_rows(tmp_path: Path) -> None:
    conn = open_for_writing(tmp_path / "old.sqlite3")
    assert migrate(conn, MIGRATIONS[:1]) == ["m001_requests"]
    old_columns = [c for c in queries.COLUMNS if c not in ("conversation", "api")]  # m001's
    values = [getattr(record(1), c) for c in old_columns]
    values[old_columns.index("retry_kinds")] = "{}"
    conn.execute("BEGIN")
    conn.execute(
        f"INSERT INTO requests ({', '.join(old_columns)}) "
        f"VALUES ({', '.join('?' for _ in old_columns)})",
        values,
    )
    conn.execute("COMMIT")
    assert migrate(conn) == [m.__name__ for m in MIGRATIONS[1:]]
    conn.row_factory = sqlite3.Row
    rows = queries.list_requests(conn, queries.RequestFilter(), limit=5)
    assert [(row["id"], row["conversation"], row["api"]) for row in rows] == [
        ("chatcmpl-0001", "", "chat")
    ]


def test_a_failing_migration_leaves_nothing_half_done(tmp_path: Path) -> None:
    def m999_broken(conn: sqlite3.Connection) -> None:
        conn.execute("CREATE TABLE half (x INTEGER)")
        raise sqlite3.OperationalError("boom")

    conn = open_for_writing(tmp_path / "broken.sqlite3")
    with pytest.raises(sqlite3.OperationalError):
        migrate(conn, (*MIGRATIONS, m999_broken))
    assert "half" not in tables(conn) and "m999_broken" not in applied(conn)
    assert applied(conn) == [m.__name__ for m in MIGRATIONS]


# --- queries ------------------------------------------------------------------------------------


def test_insert_and_read_back(conn: sqlite3.Connection) -> None:
    bodies = Bodies(prompt='[{"role": "user", "content": "hi"}]', reply="Echo: hi", reasoning="")
    queries.insert(conn, [record(1, retry_kinds={"recaptcha": 1}, bodies=bodies)])
    row = queries.get_request(conn, "chatcmpl-0001")
    assert row is not None
    assert (row["retries"], row["retry_kinds"], row["has_bodies"]) == (1, {"recaptcha": 1}, True)
    assert row["stream"] is False and row["key_name"] == "alice"
    assert queries.get_bodies(conn, "chatcmpl-0001") == {
        "prompt": bodies.prompt, "reply": "Echo: hi", "reasoning": ""
    }
    assert queries.get_request(conn, "nope") is None and queries.get_bodies(conn, "nope") is None


def test_lone_surrogates_are_stored_repaired(conn: sqlite3.Connection) -> None:
    bodies = Bodies(prompt="\ud83d prompt", reply="ok", reasoning="")
    queries.insert(conn, [record(1, model="bad\ud800model", bodies=bodies)])
    row = queries.get_request(conn, "chatcmpl-0001")
    assert row is not None and row["model"] == "bad\ufffdmodel"
    assert queries.get_bodies(conn, "chatcmpl-0001") == {
        "prompt": "\ufffd prompt", "reply": "ok", "reasoning": ""
    }


def test_the_retries_column_counts_every_kind() -> None:
    assert record(1, retry_kinds={"empty": 2, "worker": 1}).retries == 3


def test_filters_search_and_pages(conn: sqlite3.Connection) -> None:
    queries.insert(
        conn,
        [
            record(1),
            record(2, model="fake-thinker", key_name="bob"),
            record(3, status="error", http_status=429, error_kind="rate_limited",
                   error_message="LMArena rate limit: slow down"),
            record(4, model="100%_sure"),
            record(5, bodies=Bodies(prompt="find the needle", reply="", reasoning="")),
        ],
    )

    def ids(where: queries.RequestFilter, limit: int = 10, offset: int = 0) -> list[str]:
        return [r["id"][-1] for r in queries.list_requests(conn, where, limit=limit, offset=offset)]

    f = queries.RequestFilter
    assert ids(f()) == ["5", "4", "3", "2", "1"]
    assert ids(f(), limit=2, offset=1) == ["4", "3"]
    assert ids(f(model="fake-thinker")) == ["2"] and ids(f(key_name="bob")) == ["2"]
    assert ids(f(status="error")) == ids(f(errors_only=True)) == ["3"]
    assert ids(f(q="slow down")) == ["3"] and ids(f(q="RATE_LIMITED")) == ["3"]
    assert ids(f(q="needle")) == ["5"]
    assert ids(f(q="100%_")) == ["4"] and ids(f(q="%")) == ["4"] and ids(f(q="_s")) == ["4"]
    assert ids(f(since=NOW - 1000 + 4)) == ["5", "4"]
    assert queries.count_requests(conn, f(q="fake")) == 4
    assert queries.error_kinds(conn, None) == [("rate_limited", 1)]


def test_rows_after_follow_the_log(conn: sqlite3.Connection) -> None:
    queries.insert(conn, [record(1), record(2, status="error", error_kind="timeout")])
    seq = queries.last_seq(conn)
    queries.insert(conn, [record(3), record(4, status="error", error_kind="timeout")])
    assert [r["id"][-1] for _, r in queries.rows_after(conn, seq, queries.RequestFilter())] == [
        "3", "4"
    ]
    errors = queries.rows_after(conn, 0, queries.RequestFilter(errors_only=True))
    assert [r["id"][-1] for _, r in errors] == ["2", "4"]


def test_retention_by_age_and_rows_takes_the_bodies_along(conn: sqlite3.Connection) -> None:
    bodies = Bodies(prompt="p", reply="r", reasoning="")
    old = [record(n, started_at=NOW - 40 * DAY + n, bodies=bodies) for n in range(3)]
    new = [record(n, started_at=NOW - n, bodies=bodies) for n in range(10, 16)]
    queries.insert(conn, old + new)
    assert queries.prune(conn, now=NOW, max_age_days=30, max_rows=0) == 3
    assert queries.prune(conn, now=NOW, max_age_days=0, max_rows=4) == 2
    kept = [r["id"][-2:] for r in queries.list_requests(conn, queries.RequestFilter(), limit=99)]
    assert kept == ["10", "11", "12", "13"]
    assert conn.execute("SELECT COUNT(*) FROM request_bodies").fetchone()[0] == 4
    assert queries.prune(conn, now=NOW, max_age_days=0, max_rows=0) == 0


# --- the writer ---------------------------------------------------------------------------------


def writer_for(tmp_path: Path, **kwargs: object) -> StoreWriter:
    return StoreWriter(
        tmp_path / "log.sqlite3",
        retention=lambda: Retention(max_age_days=30, max_rows=0),
        clock=lambda: NOW,
        **kwargs,  # type: ignore[arg-type]
    )


def read_ids(path: Path) -> list[str]:
    conn = open_for_reading(path)
    assert conn is not None
    try:
        return [r["id"] for r in queries.list_requests(conn, queries.RequestFilter(), limit=99)]
    finally:
        conn.close()


async def test_the_writer_writes_batches_and_flushes_when_stopped(tmp_path: Path) -> None:
    writer = writer_for(tmp_path)
    batches: list[int] = []
    writer.listeners.append(lambda records: batches.append(len(records)))
    for n in range(5):
        writer.submit(record(n))
    task = asyncio.create_task(writer.run())
    deadline = asyncio.get_running_loop().time() + 10
    while not batches:  # listeners run on the loop after the thread wrote the batch
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.01)
    assert batches == [5]  # one batch, one transaction
    writer.submit(record(9))
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert writer.written == 6 and writer.pending == 0
    assert sorted(read_ids(writer.path)) == [record(n).id for n in (0, 1, 2, 3, 4, 9)]


async def test_records_that_come_within_the_linger_share_one_batch(tmp_path: Path) -> None:
    writer = writer_for(tmp_path, linger=0.3)
    batches: list[int] = []
    writer.listeners.append(lambda records: batches.append(len(records)))
    task = asyncio.create_task(writer.run())
    writer.submit(record(1))
    await wait_until_async(lambda: writer.pending == 0, what="the writer to hold record 1")
    writer.submit(record(2))  # while it waits for company
    deadline = asyncio.get_running_loop().time() + 10
    while not batches:
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.01)
    assert batches == [2]
    writer.submit(record(3))
    await wait_until_async(lambda: writer.pending == 0, what="the writer to hold record 3")
    task.cancel()  # during the linger: the held record is written all the same
    with pytest.raises(asyncio.CancelledError):
        await task
    assert sorted(read_ids(writer.path)) == [record(n).id for n in (1, 2, 3)]


async def test_stopped_at_once_the_writer_still_writes_everything(tmp_path: Path) -> None:
    writer = writer_for(tmp_path, batch_size=2)
    for n in range(5):
        writer.submit(record(n))
    task = asyncio.create_task(writer.run())
    await asyncio.sleep(0)  # the task starts opening the file, and is cancelled meanwhile
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert writer.written == 5 and len(read_ids(writer.path)) == 5


def test_a_full_queue_drops_and_counts(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    writer = writer_for(tmp_path, queue_size=2)
    assert [writer.submit(record(n)) for n in range(5)] == [True, True, False, False, False]
    assert (writer.dropped, writer.pending) == (3, 2)
    assert sum("dropping" in message for message in caplog.messages) == 1  # logged once


async def test_without_a_data_directory_the_log_is_off(tmp_path: Path) -> None:
    writer = StoreWriter(
        tmp_path / "missing" / "log.sqlite3", retention=lambda: Retention(30, 0)
    )
    await writer.run()  # returns: nothing to write to
    assert writer.error is not None and "cannot open" in writer.error
    assert not (tmp_path / "missing").exists()


async def test_tokens_without_usage_are_counted_in_the_writer(tmp_path: Path) -> None:
    loads: list[int] = []

    def load() -> object:
        loads.append(1)
        return lambda text: len(text.split())

    writer = writer_for(tmp_path, count_tokens=load)
    unknown = record(1, prompt_tokens=None, completion_tokens=None, tokens_source=None,
                     to_count=ToCount(prompt="one two three", completion=("four", "five")))
    writer.submit(unknown)
    writer.submit(replace(unknown, id="chatcmpl-0002"))
    task = asyncio.create_task(writer.run())
    await wait_until_async(lambda: writer.written >= 2, what="both records written")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    conn = open_for_reading(writer.path)
    assert conn is not None
    row = queries.get_request(conn, "chatcmpl-0001")
    conn.close()
    assert row is not None and loads == [1]  # loaded once
    assert (row["prompt_tokens"], row["completion_tokens"], row["tokens_source"]) == (
        3, 2, "tokenizer"
    )


async def test_without_a_tokenizer_tokens_stay_unknown(tmp_path: Path) -> None:
    writer = writer_for(tmp_path, count_tokens=lambda: None)
    writer.submit(record(1, prompt_tokens=None, completion_tokens=None, tokens_source=None,
                         to_count=ToCount(prompt="a b", completion=("c",))))
    task = asyncio.create_task(writer.run())
    await wait_until_async(lambda: writer.written >= 1, what="the record written")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    conn = open_for_reading(writer.path)
    assert conn is not None
    row = queries.get_request(conn, "chatcmpl-0001")
    conn.close()
    assert row is not None and row["prompt_tokens"] is None and row["tokens_source"] is None


def test_the_offline_tokenizer_is_real() -> None:
    from lmarenarev.store.tokens import load_counter

    count = load_counter()
    assert count is not None
    assert count("hello world") == 2 and count("") == 0


# --- lmarenarev logs ------------------------------------------------------------------------------


@pytest.fixture
def home(tmp_path: Path) -> Path:
    conn = open_for_writing(db_path(tmp_path))
    migrate(conn)
    queries.insert(
        conn,
        [
            record(1),
            record(2, status="error", http_status=504, error_kind="timeout",
                   error_message="took too long", prompt_tokens=None, completion_tokens=None),
            record(3, tokens_source="tokenizer"),
        ],
    )
    conn.close()
    return tmp_path


def logs_args(home: Path, *extra: str) -> argparse.Namespace:
    namespace = argparse.Namespace(
        home=home, tail=False, errors=False, json=False, lines=20, search=""
    )
    flags = {"--tail": "tail", "--errors": "errors", "--json": "json"}
    for flag in extra:
        setattr(namespace, flags[flag], True)
    return namespace


def test_logs_prints_the_newest_rows_oldest_first(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["logs", "--home", str(home)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split("  ")[-1] if "timeout" not in line else "err" for line in lines] == [
        "chatcmpl-0001", "err", "chatcmpl-0003"
    ]
    assert "timeout: took too long" in lines[1] and "tokens ~3/5" in lines[2]


def test_logs_json_and_errors(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["logs", "--home", str(home), "--json", "--errors"]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    row = json.loads(line)
    assert (row["id"], row["error_kind"], row["http_status"]) == ("chatcmpl-0002", "timeout", 504)


def test_logs_without_a_log(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["logs", "--home", str(tmp_path)]) == 1
    assert "no request log" in capsys.readouterr().err


def test_logs_tail_follows_new_rows(home: Path) -> None:
    out = io.StringIO()
    polls: list[float] = []

    def sleep(seconds: float) -> None:
        polls.append(seconds)
        if len(polls) == 1:
            conn = open_for_writing(db_path(home))
            queries.insert(conn, [record(4), record(5, status="error", error_kind="timeout")])
            conn.close()
        else:
            raise KeyboardInterrupt

    assert logs(logs_args(home, "--tail", "--json"), out=out, sleep=sleep) == 0
    ids = [json.loads(line)["id"] for line in out.getvalue().splitlines()]
    assert ids == [f"chatcmpl-000{n}" for n in (1, 2, 3, 4, 5)]
