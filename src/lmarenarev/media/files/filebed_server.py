"""`lmarenarev file-bed`: a small file bed to self-host, compatible with LMArenaBridge's
(protocol §5.2): `POST /upload` with `{file_name, file_data: <data URL>, api_key}` answers
`{success, filename}` and the file is served at `GET /uploads/<filename>`. Files older than the
retention are deleted.

What it is for (docs/files.md): LMArena's servers fetch an attachment from the link a file bed
returns, so the file bed must be reachable from the internet. Run it on a machine LMArena can
reach (a public address, or behind a reverse proxy with TLS) and point `file_bed_endpoints` at
its public URL; on 127.0.0.1 (the seed's example) it only serves local tests, and the gateway
warns at start that LMArena cannot fetch from it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import re
import secrets
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse

from ...errors import InvalidRequest
from .attach import data_url_bytes

log = logging.getLogger(__name__)

MAX_UPLOAD_BYTES = 100 * 1024 * 1024
_NAME = re.compile(r"^[0-9a-f]{32}(\.[A-Za-z0-9]{1,10})?$")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> float:
    """"3600", "90m", "24h", "7d" → seconds."""
    match = _DURATION.match(text)
    if match is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration like 3600, 90m, 24h or 7d")
    return float(match.group(1)) * _UNITS[match.group(2)]


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"success": False, "error": message}, status_code=status)


def prune(directory: Path, retention: float, now: float) -> int:
    """Delete uploads older than `retention` seconds; how many were deleted."""
    removed = 0
    for path in directory.iterdir():
        if _NAME.match(path.name) and path.stat().st_mtime < now - retention:
            path.unlink(missing_ok=True)
            removed += 1
    return removed


def _stored_name(file_name: str) -> str:
    suffix = Path(file_name).suffix
    ext = suffix if re.fullmatch(r"\.[A-Za-z0-9]{1,10}", suffix) else ""
    return secrets.token_hex(16) + ext.lower()


def create_filebed_app(
    directory: Path, *, key: str, retention: float, clock: Callable[[], float] = time.time
) -> FastAPI:
    directory.mkdir(parents=True, exist_ok=True)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async def sweep() -> None:
            while True:
                await asyncio.to_thread(prune, directory, retention, clock())
                await asyncio.sleep(min(retention, 600.0))

        task = asyncio.create_task(sweep())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    app = FastAPI(title="lmarenarev file bed", lifespan=lifespan)

    @app.post("/upload")
    async def upload(request: Request) -> JSONResponse:
        body = await request.body()
        if len(body) > MAX_UPLOAD_BYTES * 4 // 3 + 1024:
            return _error(413, f"the upload is over {MAX_UPLOAD_BYTES} bytes")
        try:
            payload: Any = await request.json()
        except ValueError:
            return _error(400, "the body must be JSON {file_name, file_data, api_key}")
        if not isinstance(payload, dict):
            return _error(400, "the body must be JSON {file_name, file_data, api_key}")
        given = payload.get("api_key")
        if key and not (isinstance(given, str) and secrets.compare_digest(given, key)):
            return _error(401, "missing or wrong api_key")
        name, data = payload.get("file_name"), payload.get("file_data")
        if not isinstance(name, str) or not isinstance(data, str):
            return _error(400, "file_name and file_data (a data URL) are required")
        try:
            content = data_url_bytes(data)
        except InvalidRequest as exc:
            return _error(400, exc.message)
        stored = _stored_name(name)
        await asyncio.to_thread((directory / stored).write_bytes, content)
        log.info("stored %s (%d bytes) as %s", name[:100], len(content), stored)
        return JSONResponse({"success": True, "filename": stored})

    @app.get("/uploads/{name}")
    async def download(name: str) -> Any:
        path = directory / name
        if not _NAME.match(name) or not path.is_file():
            return _error(404, "no such file")
        return FileResponse(path, headers={"X-Content-Type-Options": "nosniff"})

    return app


def add_command(commands: Any) -> None:
    parser = commands.add_parser(
        "file-bed",
        help="run a small file bed to upload attachments to (on a machine LMArena can reach)",
        description="Run a file bed compatible with LMArenaBridge's: POST /upload, "
        "GET /uploads/<name>. LMArena's servers fetch attachments from the links it returns, "
        "so run it where LMArena can reach it (a public address, or behind a reverse proxy "
        "with TLS) and point file_bed_endpoints (or file_bed_upload_url) at its public "
        "<url>/upload. On 127.0.0.1 it only serves local tests.",
    )
    parser.add_argument(
        "--host", default="127.0.0.1",
        help="address to bind (127.0.0.1: local tests only; a public or proxied address for use)",
    )
    parser.add_argument("--port", type=int, default=5104, help="port (5104, as LMArenaBridge)")
    parser.add_argument("--key", default="", help="api_key uploads must carry (default: none)")
    parser.add_argument(
        "--retention",
        type=parse_duration,
        default=parse_duration("24h"),
        help="delete files older than this: seconds, or 90m, 24h, 7d (default 24h)",
    )
    parser.add_argument(
        "--dir", type=Path, default=None,
        help="where the files go (default: file_bed_uploads in the data directory, "
        "$LMARENAREV_HOME or ~/lmarenarev)",
    )


def run(args: argparse.Namespace) -> int:
    import uvicorn

    directory: Path = args.dir.resolve()
    if not args.key:
        log.warning("no --key: anyone who reaches %s:%d can upload files", args.host, args.port)
    app = create_filebed_app(directory, key=args.key, retention=args.retention)
    print(f"lmarenarev file bed: http://{args.host}:{args.port}/upload → {directory} "
          f"(files kept {args.retention:g} s)", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="info")
    return 0
