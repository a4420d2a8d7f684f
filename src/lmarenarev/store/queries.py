"""Reads and writes of the request log, as functions of a connection (no I/O of their own).

The writer calls `insert` and `prune` on its connection; the API and the CLI call the rest on
a read-only one (`db.open_for_reading`), in a thread.
"""

from __future__ import annotations

import json
import operator
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .records import Bodies, BodiesRow, RequestRecord, RequestRow

SECONDS_PER_DAY = 86400.0
COLUMNS = (
    "id", "started_at", "model", "key_name", "stream", "flow", "call", "worker_id", "status",
    "http_status", "error_kind", "upstream_kind", "error_message", "finish_reason", "ttft_ms",
    "duration_ms", "prompt_tokens", "completion_tokens", "tokens_source", "attempts", "retries",
    "retry_kinds", "bytes_in", "conversation", "api",
)  # fmt: skip
_SELECT = (
    "SELECT r.rowid AS seq, "
    + ", ".join(f"r.{column}" for column in COLUMNS)
    + ", EXISTS (SELECT 1 FROM request_bodies b WHERE b.id = r.id) AS has_bodies FROM requests r"
)
_SEARCHED = ("id", "model", "key_name", "worker_id", "error_kind", "upstream_kind", "error_message",
             "api")


@dataclass(frozen=True, slots=True)
class RequestFilter:
    """`q` is a substring of the id, model, key, worker, error or (when kept) the bodies."""

    q: str = ""
    model: str | None = None
    status: str | None = None
    key_name: str | None = None
    errors_only: bool = False
    since: float | None = None

    def where(self) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        if self.q:
            pattern = "%" + self.q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            pattern += "%"
            like = [f"r.{column} LIKE ? ESCAPE '\\'" for column in _SEARCHED]
            like.append(
                "r.id IN (SELECT b.id FROM request_bodies b WHERE b.prompt LIKE ? ESCAPE '\\' "
                "OR b.reply LIKE ? ESCAPE '\\')"
            )
            clauses.append("(" + " OR ".join(like) + ")")
            params += [pattern] * (len(_SEARCHED) + 2)
        for column, value in (
            ("model", self.model),
            ("status", self.status),
            ("key_name", self.key_name),
        ):
            if value is not None:
                clauses.append(f"r.{column} = ?")
                params.append(value)
        if self.errors_only:
            clauses.append("r.status = 'error'")
        if self.since is not None:
            clauses.append("r.started_at >= ?")
            params.append(self.since)
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


# --- writing ----------------------------------------------------------------------------------


def well_formed(value: Any) -> Any:
    """Text SQLite can store: a lone surrogate (JSON allows "\\ud800") becomes U+FFFD."""
    if not isinstance(value, str):
        return value
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return value


_INSERT_REQUEST = (
    f"INSERT OR REPLACE INTO requests ({', '.join(COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in COLUMNS)})"
)
_INSERT_BODIES = (
    "INSERT OR REPLACE INTO request_bodies (id, prompt, reply, reasoning) VALUES (?, ?, ?, ?)"
)
_RETRY_KINDS = COLUMNS.index("retry_kinds")
_columns_of = operator.attrgetter(*COLUMNS)


def insert(conn: sqlite3.Connection, records: Iterable[RequestRecord]) -> int:
    """Insert the records (a record with the id of a row replaces it)."""
    count = 0
    for record in records:
        values = [well_formed(value) for value in _columns_of(record)]
        kinds = record.retry_kinds
        values[_RETRY_KINDS] = json.dumps(kinds, sort_keys=True) if kinds else "{}"
        conn.execute(_INSERT_REQUEST, values)
        if record.bodies is not None:
            texts = (record.id, *bodies_texts(record.bodies))
            conn.execute(_INSERT_BODIES, [well_formed(text) for text in texts])
        count += 1
    return count


def prune(conn: sqlite3.Connection, *, now: float, max_age_days: float, max_rows: int) -> int:
    """Delete requests older than `max_age_days` and beyond the newest `max_rows` (0: no limit);
    their bodies go with them. Returns how many requests were deleted."""
    deleted = 0
    if max_age_days > 0:
        cutoff = now - max_age_days * SECONDS_PER_DAY
        deleted += conn.execute("DELETE FROM requests WHERE started_at < ?", (cutoff,)).rowcount
    if max_rows > 0:
        deleted += conn.execute(
            "DELETE FROM requests WHERE id IN "
            "(SELECT id FROM requests ORDER BY started_at DESC, rowid DESC LIMIT -1 OFFSET ?)",
            (max_rows,),
        ).rowcount
    return deleted


def bodies_texts(bodies: Bodies) -> tuple[str, str, str]:
    return bodies.prompt, bodies.reply, bodies.reasoning


# --- reading ----------------------------------------------------------------------------------


def _row(row: sqlite3.Row) -> RequestRow:
    data = dict(row)
    data.pop("seq", None)
    data["stream"] = bool(data["stream"])
    data["has_bodies"] = bool(data["has_bodies"])
    data["retry_kinds"] = json.loads(data["retry_kinds"] or "{}")
    result: RequestRow = RequestRow(**data)  # type: ignore[typeddict-item]
    return result


def count_requests(conn: sqlite3.Connection, where: RequestFilter) -> int:
    sql, params = where.where()
    row = conn.execute(f"SELECT COUNT(*) FROM requests r{sql}", params).fetchone()
    return int(row[0])


def list_requests(
    conn: sqlite3.Connection, where: RequestFilter, *, limit: int, offset: int = 0
) -> list[RequestRow]:
    """Newest first."""
    sql, params = where.where()
    rows = conn.execute(
        f"{_SELECT}{sql} ORDER BY r.started_at DESC, r.rowid DESC LIMIT ? OFFSET ?",
        [*params, limit, offset],
    )
    return [_row(row) for row in rows]


def get_request(conn: sqlite3.Connection, request_id: str) -> RequestRow | None:
    row = conn.execute(f"{_SELECT} WHERE r.id = ?", (request_id,)).fetchone()
    return None if row is None else _row(row)


def get_bodies(conn: sqlite3.Connection, request_id: str) -> BodiesRow | None:
    row = conn.execute(
        "SELECT prompt, reply, reasoning FROM request_bodies WHERE id = ?", (request_id,)
    ).fetchone()
    return None if row is None else BodiesRow(prompt=row[0], reply=row[1], reasoning=row[2])


def rows_after(
    conn: sqlite3.Connection, seq: int, where: RequestFilter, limit: int = 500
) -> list[tuple[int, RequestRow]]:
    """Rows written after the row with rowid `seq`, oldest first, with their rowid (for
    `lmarenarev logs --tail`)."""
    sql, params = where.where()
    sql = f"{sql} AND r.rowid > ?" if sql else " WHERE r.rowid > ?"
    rows = conn.execute(f"{_SELECT}{sql} ORDER BY r.rowid LIMIT ?", [*params, seq, limit])
    return [(int(row["seq"]), _row(row)) for row in rows]


def last_seq(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT COALESCE(MAX(rowid), 0) FROM requests").fetchone()
    return int(row[0])


def stats_rows(conn: sqlite3.Connection, since: float | None) -> list[sqlite3.Row]:
    """What `monitor.stats` summarizes: one short row per request in the window."""
    sql, params = RequestFilter(since=since).where()
    return list(
        conn.execute(
            "SELECT r.model, r.status, r.duration_ms, r.ttft_ms, r.prompt_tokens, "
            f"r.completion_tokens, r.retries FROM requests r{sql}",
            params,
        )
    )


def error_kinds(conn: sqlite3.Connection, since: float | None) -> list[tuple[str, int]]:
    sql, params = RequestFilter(since=since, errors_only=True).where()
    rows = conn.execute(
        f"SELECT COALESCE(r.error_kind, '?') AS kind, COUNT(*) FROM requests r{sql} "
        "GROUP BY kind ORDER BY COUNT(*) DESC",
        params,
    )
    return [(str(row[0]), int(row[1])) for row in rows]


def series_rows(conn: sqlite3.Connection, since: float) -> list[tuple[Any, ...]]:
    """What `monitor.timeseries` buckets: one short row per request started since `since`."""
    rows = conn.execute(
        "SELECT started_at, status, duration_ms, ttft_ms, prompt_tokens, completion_tokens "
        "FROM requests WHERE started_at >= ? ORDER BY started_at",
        (since,),
    )
    return [tuple(row) for row in rows]


def error_kinds_by_model(
    conn: sqlite3.Connection, since: float | None
) -> list[tuple[str, str, int]]:
    """(model, error kind, count) of the failed requests in the window, most frequent first."""
    sql, params = RequestFilter(since=since, errors_only=True).where()
    rows = conn.execute(
        f"SELECT r.model, COALESCE(r.error_kind, '?') AS kind, COUNT(*) FROM requests r{sql} "
        "GROUP BY r.model, kind ORDER BY COUNT(*) DESC, kind",
        params,
    )
    return [(str(row[0]), str(row[1]), int(row[2])) for row in rows]
