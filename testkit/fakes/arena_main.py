"""The fake LMArena as a process: `python -m testkit.fakes.arena --host 127.0.0.1 --port 8443
[--tls [--http2]] [--era 2025|2026-10] [--replay DIR] …` (docs/fake-arena.md)."""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from testkit.fakes import arena as arena_module
from testkit.fakes.arena import ERA_2025, ERA_2026, FakeArena
from testkit.fakes.tls import TLSFiles, make_self_signed


def run(argv: Sequence[str] | None = None) -> None:
    """`python -m testkit.fakes.arena --host 127.0.0.1 --port 8443 [--tls [--http2]] …`.

    Once listening it prints one line `ready <url>` to stdout (the port is the real one, also
    with `--port 0`) and serves until SIGTERM/SIGINT. Other messages go to stderr."""
    from testkit.fakes.serving import ServerThread

    parser = argparse.ArgumentParser(prog="python -m testkit.fakes.arena",
                                     description=arena_module.__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8443, help="0 picks a free port")
    parser.add_argument("--tls", action="store_true", help="serve https with a self-signed cert")
    parser.add_argument("--http2", action="store_true",
                        help="serve with hypercorn, ALPN h2 + http/1.1 (needs --tls)")
    parser.add_argument("--cert-dir", help="write (or reuse) cert.pem/key.pem here")
    parser.add_argument("--stamped-records", type=int, metavar="N",
                        help="answer N time-stamped a0: records (benchmark fast mode)")
    parser.add_argument("--record-chars", type=int, metavar="N", help="characters per record")
    parser.add_argument("--delay-ms", type=float, metavar="F", help="delay between records")
    parser.add_argument("--first-token-ms", type=float, metavar="F",
                        help="wait before a stamped reply's first record (the model's first token)")
    parser.add_argument("--recaptcha-ms", type=float, metavar="F",
                        help="time the reCAPTCHA stand-in takes to mint a token")
    parser.add_argument("--challenge-pages", action="store_true")
    parser.add_argument("--challenge-streams", action="store_true")
    parser.add_argument("--no-recaptcha", action="store_true", help="accept any token")
    parser.add_argument("--no-auth", action="store_true", help="accept requests without cookie")
    parser.add_argument("--era", default=ERA_2025, choices=[ERA_2025, ERA_2026],
                        help="the site to play (arena_era.py)")
    parser.add_argument("--replay", type=Path, metavar="DIR",
                        help="replay a doctor bundle (DIR/doctor.json) instead (arena_replay.py)")
    args = parser.parse_args(argv)
    if args.http2 and not args.tls:
        parser.error("--http2 needs --tls")
    arena = FakeArena(challenge_pages=args.challenge_pages,
                      challenge_streams=args.challenge_streams, era=args.era)
    arena.validation.recaptcha = not args.no_recaptcha
    arena.validation.auth = not args.no_auth
    fields = {"stamped_records": args.stamped_records, "record_chars": args.record_chars,
              "delay": _seconds(args.delay_ms),
              "first_token_delay": _seconds(args.first_token_ms),
              "recaptcha_delay": _seconds(args.recaptcha_ms)}
    try:
        arena.set_defaults(**{name: value for name, value in fields.items() if value is not None})
    except ValueError as error:
        parser.error(str(error))
    tls = _tls_files(args.cert_dir) if args.tls else None
    if tls is not None:
        print(f"certificate (trust it as a CA): {tls.certfile}", file=sys.stderr, flush=True)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    app: Any = arena.app
    if args.replay is not None:
        from testkit.fakes.arena_replay import ReplayArena

        app = ReplayArena.from_dir(args.replay).app
    with ServerThread(app, args.host, args.port, tls, http2=args.http2) as server:
        print(f"ready {server.url}", flush=True)
        while not stop.wait(0.5):  # a timed wait, so the main thread sees signals promptly
            pass


def _seconds(ms: float | None) -> float | None:
    return None if ms is None else ms / 1000


def _tls_files(cert_dir: str | None) -> TLSFiles:
    """The self-signed cert in `cert_dir` (made there if missing), else in a fresh temp dir."""
    if cert_dir is not None:
        files = TLSFiles(Path(cert_dir) / "cert.pem", Path(cert_dir) / "key.pem")
        if files.certfile.is_file() and files.keyfile.is_file():
            return files
    return make_self_signed(cert_dir or tempfile.mkdtemp(prefix="fake-arena-tls-"))


