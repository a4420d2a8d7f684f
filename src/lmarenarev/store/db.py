"""Opening the request log's SQLite file.

The writer's connection creates the file and migrates it; readers open it read-only (one
connection per query, in a thread), so the dashboard and `lmarenarev logs` never write and can
read while the gateway writes (WAL).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

DB_FILE_NAME = "lmarenarev.sqlite3"
BUSY_TIMEOUT_MS = 5000


def db_path(home: Path) -> Path:
    return home / DB_FILE_NAME


def open_for_writing(path: Path) -> sqlite3.Connection:
    """The writer's connection (autocommit: transactions are explicit), the file made if new."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


def open_for_reading(path: Path) -> sqlite3.Connection | None:
    """A read-only connection, or None while the file does not exist yet."""
    if not path.exists():
        return None
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None)
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.row_factory = sqlite3.Row
    return conn
