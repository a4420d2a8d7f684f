"""`lmarenarev logs`: the request log, read straight from `<home>/lmarenarev.sqlite3`.

It opens the file read-only, so it works whether the gateway runs or not, and never writes.
`--tail` keeps printing rows as the gateway adds them (until Ctrl+C).
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from ..store import queries
from ..store.db import db_path, open_for_reading
from ..store.records import RequestRow

TAIL_POLL_SECONDS = 1.0


def add_command(commands: Any, add_home: Callable[[argparse.ArgumentParser], None]) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "logs",
        help="show the request log",
        description="Print the newest requests of the request log in <home>/lmarenarev.sqlite3 "
        "(oldest first), whether the gateway runs or not.",
    )
    add_home(parser)
    parser.add_argument("--tail", "-f", action="store_true", help="keep printing new requests")
    parser.add_argument("--errors", action="store_true", help="only failed requests")
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    parser.add_argument(
        "-n", "--lines", type=int, default=20, metavar="N", help="how many (default 20)"
    )
    parser.add_argument("-q", "--search", default="", metavar="TEXT", help="only rows with TEXT")


def run(
    args: argparse.Namespace,
    *,
    out: TextIO | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    out = out or sys.stdout
    home: Path = args.home.resolve()
    path = db_path(home)
    conn = open_for_reading(path)
    if conn is None:
        print(f"lmarenarev: no request log at {path} yet (the gateway writes it)", file=sys.stderr)
        return 1
    where = queries.RequestFilter(q=args.search, errors_only=args.errors)
    show = _json_line if args.json else text_line
    try:
        newest = queries.list_requests(conn, where, limit=max(0, args.lines))
        seq = queries.last_seq(conn)
        for row in reversed(newest):
            print(show(row), file=out, flush=True)
        while args.tail:
            sleep(TAIL_POLL_SECONDS)
            rows = queries.rows_after(conn, seq, where)
            for _, row in rows:
                print(show(row), file=out, flush=True)
            seq = rows[-1][0] if rows else seq
    except KeyboardInterrupt:
        return 0
    except sqlite3.Error as exc:
        print(f"lmarenarev: cannot read the request log {path}: {exc}", file=sys.stderr)
        return 1
    finally:
        conn.close()
    return 0


def _json_line(row: RequestRow) -> str:
    return json.dumps(row, ensure_ascii=False, sort_keys=True)


def _seconds(ms: float | None) -> str:
    return "-" if ms is None else f"{ms / 1000:.2f}s"


def text_line(row: RequestRow) -> str:
    when = datetime.fromtimestamp(row["started_at"]).strftime("%Y-%m-%d %H:%M:%S")
    tokens = "-"
    if row["prompt_tokens"] is not None:
        mark = "~" if row["tokens_source"] == "tokenizer" else ""
        tokens = f"{mark}{row['prompt_tokens']}/{row['completion_tokens']}"
    parts = [
        when,
        f"{row['status']:<9}",
        str(row["http_status"]),
        row["api"],
        row["model"],
        row["conversation"] or "-",
        _seconds(row["duration_ms"]),
        f"ttft {_seconds(row['ttft_ms'])}",
        f"tokens {tokens}",
        f"retries {row['retries']}",
        row["key_name"] or "-",
        row["id"],
    ]
    if row["error_kind"]:
        parts.append(f"{row['error_kind']}: {row['error_message'] or ''}".strip())
    return "  ".join(parts)
