"""Run any ASGI app with uvicorn (or hypercorn, for HTTP/2) in a background thread, for tests.

    with ServerThread(app) as server:          # port 0: the OS picks a free port
        httpx.get(server.url + "/")

    server = ServerThread(app, ssl=make_self_signed(tmp_path)).start()
    ...
    server.stop()

The listening socket is bound in the constructor's caller thread by `start()`, so `.port` and
`.url` are known before uvicorn runs; `start()` then waits (polling with a deadline, no fixed
sleep) until uvicorn reports that it has started, and raises if the thread died first.
Uvicorn's logging config is left alone (`log_config=None`) so tests keep their own handlers.

`ServerThread(app, ssl=tls, http2=True)` serves with hypercorn instead (serving_h2.py): TLS with
ALPN `h2`/`http/1.1`, same interface (`.port`, `.url`, `start()`, `stop()`, context manager).
HTTP/2 needs TLS here (browsers only speak it over TLS), so `http2=True` without `ssl` is a
ValueError.
"""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType
from typing import Any

import uvicorn

from testkit.fakes.serving_h2 import HypercornRunner
from testkit.fakes.tls import TLSFiles

_POLL_SECONDS = 0.005


class ServerThread:
    """uvicorn (hypercorn with `http2=True`) serving `app` on `host:port` in a daemon thread."""

    def __init__(
        self,
        app: Any,
        host: str = "127.0.0.1",
        port: int = 0,
        ssl: TLSFiles | None = None,
        *,
        startup_timeout: float = 10.0,
        graceful_shutdown: int = 1,
        log_level: str = "warning",
        http2: bool = False,
    ) -> None:
        if http2 and ssl is None:
            raise ValueError("http2=True needs ssl= (HTTP/2 is served over TLS with ALPN)")
        self.app = app
        self.http2 = http2
        self.host = host
        self.ssl = ssl
        self._requested_port = port
        self._startup_timeout = startup_timeout
        self._config = uvicorn.Config(
            app,
            host=host,
            port=port,
            ssl_certfile=str(ssl.certfile) if ssl else None,
            ssl_keyfile=str(ssl.keyfile) if ssl else None,
            log_config=None,
            log_level=log_level,
            timeout_graceful_shutdown=graceful_shutdown,
            lifespan="auto",
        )
        self._server = uvicorn.Server(self._config)
        self._h2 = (HypercornRunner(app, ssl, graceful_shutdown=graceful_shutdown,
                                    log_level=log_level) if http2 and ssl else None)
        self._socket: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    @property
    def port(self) -> int:
        if self._socket is None:
            raise RuntimeError("ServerThread not started")
        return int(self._socket.getsockname()[1])

    @property
    def url(self) -> str:
        scheme = "https" if self.ssl else "http"
        return f"{scheme}://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        scheme = "wss" if self.ssl else "ws"
        return f"{scheme}://{self.host}:{self.port}"

    def start(self) -> ServerThread:
        """Bind, start uvicorn in a thread and wait until it accepts connections."""
        if self._thread is not None:
            raise RuntimeError("ServerThread already started")
        self._socket = _bind(self.host, self._requested_port)
        name = f"{'hypercorn' if self._h2 else 'uvicorn'}:{self.port}"
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()
        self._wait_started()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the server to exit, force it after `timeout / 2`, and join the thread."""
        if self._thread is None:
            return
        self._request_exit(force=False)
        self._thread.join(timeout / 2)
        if self._thread.is_alive():
            self._request_exit(force=True)
            self._thread.join(timeout / 2)
        if self._socket is not None:
            self._socket.close()
        self._thread = None

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _request_exit(self, *, force: bool) -> None:
        if self._h2 is not None and force:
            self._h2.force_exit()
        elif self._h2 is not None:
            self._h2.request_exit()
        elif force:
            self._server.force_exit = True
        else:
            self._server.should_exit = True

    @property
    def _started(self) -> bool:
        return self._h2.started if self._h2 is not None else bool(self._server.started)

    def _run(self) -> None:
        assert self._socket is not None
        try:
            if self._h2 is not None:
                self._h2.run(self._socket)
            else:
                self._server.run(sockets=[self._socket])
        except BaseException as error:  # surfaced by start(); SystemExit on startup failure
            self._error = error

    def _wait_started(self) -> None:
        assert self._thread is not None
        deadline = time.monotonic() + self._startup_timeout
        server = "hypercorn" if self._h2 else "uvicorn"
        while not self._started:
            if not self._thread.is_alive():
                raise RuntimeError(f"{server} failed to start: {self._error!r}")
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"{server} did not start within {self._startup_timeout} s")
            time.sleep(_POLL_SECONDS)


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock
