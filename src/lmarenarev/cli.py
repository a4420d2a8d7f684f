"""The `lmarenarev` command. Only this module configures logging and touches argv/env."""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import __version__
from .jsonc import ConfigError
from .model_files import load_endpoint_map, load_models
from .settings import Settings, ensure_config_file, load_settings, parse_set_option

log = logging.getLogger("lmarenarev")

NEXT_STEP = """\
Next: open the userscript URL in a browser with Tampermonkey or Violentmonkey and install it,
then open https://lmarena.ai/ (or https://arena.ai/) in that browser. The tab's title starts
with ✅ once it is connected; then point any OpenAI client at the API base URL."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lmarenarev",
        description="An OpenAI-compatible API for the models on LMArena, relayed through a "
        "browser tab running the lmarenarev userscript.",
    )
    parser.add_argument("--version", action="version", version=f"lmarenarev {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser(
        "serve",
        help="run the gateway",
        description="Run the gateway. Settings come from CLI flags, then LMARENAREV_* "
        "environment variables, then <home>/config.jsonc, then defaults.",
    )
    _add_home(serve)
    serve.add_argument("--host", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default 5102)")
    serve.add_argument(
        "--set",
        dest="sets",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override any config.jsonc key (VALUE is JSON, or a plain string); repeatable",
    )
    serve.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])

    script = commands.add_parser(
        "userscript", help="print the userscript install URL (or the script itself)"
    )
    _add_home(script)
    script.add_argument("--print", action="store_true", help="print the script's source")
    return parser


def _add_home(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--home",
        type=Path,
        default=Path.cwd(),
        help="data directory with config.jsonc, models.json, model_endpoint_map.json "
        "(default: the current directory)",
    )


def worker_token(settings: Settings, home: Path) -> str:
    """The configured token, else the one kept in <home>/worker_token (made on first start)."""
    if settings.worker_token:
        return settings.worker_token
    path = home / "worker_token"
    try:
        if path.exists():
            token = path.read_text("utf-8").strip()
            if token:
                return token
        token = secrets.token_urlsafe(24)
        home.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(token + "\n")
    except (OSError, UnicodeDecodeError) as exc:
        raise _data_error(path, exc) from None
    return token


def _data_error(path: Path, exc: OSError | UnicodeDecodeError) -> ConfigError:
    reason = exc.reason if isinstance(exc, UnicodeDecodeError) else exc.strerror or str(exc)
    return ConfigError(f"cannot use the data directory: {path}: {reason}")


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    overrides: dict[str, Any] = dict(parse_set_option(item) for item in args.sets)
    if args.host is not None:
        overrides["host"] = args.host
    if args.port is not None:
        overrides["port"] = args.port
    return overrides


def _display_host(host: str) -> str:
    if host in ("0.0.0.0", "::", ""):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def _print_banner(settings: Settings, home: Path, *, created: bool, model_count: int) -> None:
    base = f"http://{_display_host(settings.host)}:{settings.port}"
    note = " (config.jsonc created, every setting documented)" if created else ""
    lines = [
        f"lmarenarev {__version__}: an OpenAI-compatible API for LMArena",
        f"  API base URL:   {base}/v1",
        f"  Userscript:     {base}/bridge.user.js",
        f"  Data directory: {home}{note}",
        f"  Models:         {model_count} from models.json, flow: {settings.arena_flow}",
        NEXT_STEP,
    ]
    print("\n".join(lines), flush=True)


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    from .app import create_app
    from .state import build_gateway

    home: Path = args.home.resolve()
    try:
        created = ensure_config_file(home)
    except OSError as exc:
        raise _data_error(Path(exc.filename or home), exc) from None
    loaded = load_settings(home, env=os.environ, overrides=_overrides(args))
    settings = loaded.settings
    for warning in loaded.warnings:
        log.warning("%s", warning)
    models = load_models(home / "models.json")
    endpoint_map = load_endpoint_map(home / "model_endpoint_map.json")
    gateway = build_gateway(
        settings,
        home=home,
        worker_token=worker_token(settings, home),
        version=__version__,
        models=models,
        endpoint_map=endpoint_map,
    )
    _print_banner(settings, home, created=created, model_count=len(models))
    config = uvicorn.Config(
        create_app(gateway),
        host=settings.host,
        port=settings.port,
        log_level=args.log_level,
        access_log=args.log_level == "debug",
        ws_max_size=16 * 1024 * 1024,
    )
    uvicorn.Server(config).run()
    return 0


def userscript(args: argparse.Namespace) -> int:
    home: Path = args.home.resolve()
    loaded = load_settings(home, env=os.environ, overrides={})
    settings = loaded.settings
    base = f"http://{_display_host(settings.host)}:{settings.port}"
    if args.print:
        from .api.workers import render_userscript
        from .state import build_gateway

        gateway = build_gateway(
            settings,
            home=home,
            worker_token=worker_token(settings, home),
            version=__version__,
            models={},
            endpoint_map={},
        )
        sys.stdout.write(render_userscript(gateway, base))
    else:
        print(f"{base}/bridge.user.js")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=getattr(logging, getattr(args, "log_level", "info").upper()),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        if args.command == "serve":
            return serve(args)
        return userscript(args)
    except ConfigError as exc:
        print(f"lmarenarev: configuration error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
