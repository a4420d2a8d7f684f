"""The hypercorn runner behind `ServerThread(app, ssl=tls, http2=True)` (serving.py).

Hypercorn (asyncio worker) serves the app over TLS with ALPN `h2`, `http/1.1`, so clients that
offer HTTP/2 get it. It listens on a duplicate (`fd://`) of the socket `ServerThread` bound, so
the port is known before the server runs; the socket is "started" once hypercorn has called
`listen()` on it (`SO_ACCEPTCONN`). `request_exit()` fires hypercorn's `shutdown_trigger`
(graceful: open streams get `graceful_timeout` seconds), `force_exit()` cancels the server task.
Hypercorn's error log goes to the `hypercorn.error` logger, without handlers of its own.
It runs on uvloop when installed (as uvicorn does for the HTTP/1.1 fake) and takes up to
1,000 concurrent streams per connection (hypercorn's default, 100, is below what one tab may
open in the benchmark; a real HTTP/2 server negotiates its own limit). Hypercorn also closes
a connection after 1,000 requests by default, and Chromium then failed some of the fetches
it had just opened on it ("network error", seen in the benchmark, which makes thousands of
requests over one connection); the fake keeps its connections for as long as the client does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from typing import Any

from hypercorn.asyncio import serve
from hypercorn.config import Config

from testkit.fakes.tls import TLSFiles
from testkit.support import new_event_loop

MAX_CONCURRENT_STREAMS = 1000
MAX_REQUESTS_PER_CONNECTION = 2**62


class HypercornRunner:
    def __init__(self, app: Any, ssl: TLSFiles, *, graceful_shutdown: float = 1.0,
                 log_level: str = "warning") -> None:
        self.app = app
        self.config = Config()
        self.config.certfile = str(ssl.certfile)
        self.config.keyfile = str(ssl.keyfile)
        self.config.alpn_protocols = ["h2", "http/1.1"]
        self.config.graceful_timeout = graceful_shutdown
        self.config.accesslog = None
        self.config.errorlog = logging.getLogger("hypercorn.error")
        self.config.loglevel = log_level.upper()
        self.config.h2_max_concurrent_streams = MAX_CONCURRENT_STREAMS
        self.config.keep_alive_max_requests = MAX_REQUESTS_PER_CONNECTION
        self._socket: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._shutdown = asyncio.Event()
        self._exit_requested = False

    @property
    def started(self) -> bool:
        sock = self._socket
        if sock is None or sock.fileno() < 0:
            return False
        return bool(sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN))

    def run(self, sock: socket.socket) -> None:
        """Serve on `sock` until `request_exit()` (blocking; call in the server thread)."""
        self._socket = sock
        self.config.bind = [f"fd://{os.dup(sock.fileno())}"]  # hypercorn owns and closes the dup
        loop = new_event_loop()
        try:
            self._task = loop.create_task(
                serve(self.app, self.config, shutdown_trigger=self._shutdown.wait))
            self._loop = loop
            if self._exit_requested:  # stop() came before the loop existed
                self._shutdown.set()
            with contextlib.suppress(asyncio.CancelledError):
                loop.run_until_complete(self._task)
        finally:
            self._loop = None
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    def request_exit(self) -> None:
        self._exit_requested = True
        self._call(self._shutdown.set)

    def force_exit(self) -> None:
        if self._task is not None:
            self._call(self._task.cancel)

    def _call(self, callback: Any) -> None:
        loop = self._loop
        if loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(callback)
