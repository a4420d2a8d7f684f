"""The `lmarenarev` command. Only this module configures logging and touches argv/env."""

from __future__ import annotations

import argparse
import errno
import logging
import os
import signal
import socket
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import __version__
from ..browser.launch import BrowserError
from ..config.docs import ensure_config_file
from ..config.files import DEFAULT_HOME, HOME_ENV, data_directory, data_error
from ..config.jsonc import ConfigError
from ..config.load import load_settings, parse_set_option
from ..config.settings import Settings
from ..media.files import filebed_server
from ..ops.update_check import PYPI_JSON_URL, check_in_background
from . import admin as admin_client
from . import browser as browser_command
from . import doctor as doctor_command
from . import logs as logs_command
from . import update as update_command

if TYPE_CHECKING:
    from ..gateway import Gateway

log = logging.getLogger("lmarenarev")

NEXT_STEP = """\
Next: open the userscript URL in a browser with Tampermonkey or Violentmonkey and install it,
then open https://arena.ai/text/direct (lmarena.ai moved there) in that browser. The tab's title
starts with ✅ once it is connected; then point any OpenAI client at the API base URL."""


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
    serve.add_argument(
        "--allow-insecure-bind",
        action="store_true",
        help="start even when --host is not a loopback address and no API key is set (anyone "
        "who reaches the gateway can then use your LMArena login); warns at every start",
    )
    serve.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    browser_command.add_serve_flags(serve)

    script = commands.add_parser(
        "userscript", help="print the userscript install URL (or the script itself)"
    )
    _add_home(script)
    script.add_argument("--print", action="store_true", help="print the script's source")
    browser_command.add_login_command(commands, _add_home)
    admin_client.add_commands(commands, _add_home)
    doctor_command.add_command(commands, _add_home)
    logs_command.add_command(commands, _add_home)
    update_command.add_command(commands, _add_home)
    filebed_server.add_command(commands)
    return parser


def _add_home(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--home",
        type=Path,
        default=None,
        help="data directory with config.jsonc, models.json, the request log (default: "
        f"${HOME_ENV}, else {DEFAULT_HOME}; the same for every command)",
    )


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    overrides: dict[str, Any] = dict(parse_set_option(item) for item in args.sets)
    if args.host is not None:
        overrides["host"] = args.host
    if args.port is not None:
        overrides["port"] = args.port
    if getattr(args, "allow_insecure_bind", False):
        overrides["allow_insecure_bind"] = True
    overrides.update(browser_command.serve_overrides(args))
    return overrides


def _check_bind(settings: Settings) -> None:
    """Listening beyond this machine needs an API key, or the user's explicit consent."""
    from ..api.access import insecure_bind

    if not insecure_bind(settings):
        return
    exposed = f"{settings.host}:{settings.port}"
    if not settings.allow_insecure_bind:
        raise ConfigError(
            f"refusing to listen on {exposed} without an API key: anyone who can reach it could "
            "use your LMArena login. Set api_key (or api_keys) in config.jsonc, keep host "
            "127.0.0.1, or pass --allow-insecure-bind to accept the risk"
        )
    log.warning(
        "INSECURE: listening on %s with no API key (--allow-insecure-bind): anyone who can "
        "reach this address can use your LMArena login. Set api_key to close it.",
        exposed,
    )


def _userscript_url(settings: Settings) -> str:
    base = f"http://{_display_host(settings.host)}:{settings.port}"
    return f"{base}/bridge.user.js" + ("?key=<your admin_key>" if settings.admin_key else "")


def _display_host(host: str) -> str:
    if host in ("0.0.0.0", "::", ""):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def _print_banner(
    settings: Settings, home: Path, *, created: str, model_count: int
) -> None:
    base = f"http://{_display_host(settings.host)}:{settings.port}"
    note = {
        "home": " (created now; its config.jsonc documents every setting)",
        "config": " (config.jsonc created, every setting documented)",
    }.get(created, "")
    lines = [
        f"lmarenarev {__version__}: an OpenAI-compatible API for LMArena",
        f"  API base URL:   {base}/v1",
        f"  Userscript:     {_userscript_url(settings)}",
        f"  Dashboard:      {base}/monitor",
        f"  Data directory: {home}{note}",
        f"  Models:         {_models_line(model_count)}, flow: {settings.arena_flow}",
    ]
    if settings.browser.enabled:  # the browser is checked for before the gateway starts
        lines += browser_command.banner_lines(settings, home)
    else:
        lines.append(NEXT_STEP)
    print("\n".join(lines), flush=True)


def _models_line(model_count: int) -> str:
    if model_count:
        return f"{model_count} from models.json"
    return "LMArena's whole list once a tab connects (no models.json)"


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    from ..api.access import start_warnings
    from ..api.redact import redact_server_logs
    from ..app import create_app
    from ..gateway import build_gateway

    home: Path = args.home
    new_home = not home.exists()
    try:
        created = ensure_config_file(home)
    except OSError as exc:
        raise data_error(Path(exc.filename or home), exc) from None
    gateway = build_gateway(home, env=os.environ, overrides=_overrides(args))
    settings = gateway.settings
    for warning in [*gateway.warnings, *start_warnings(settings)]:
        log.warning("%s", warning)
    unused = browser_command.unused_flags(args, settings)
    if unused is not None:
        log.warning("%s", unused)
    _check_bind(settings)
    listener = _listen(settings)  # before the banner: a port in use is one line, no banner
    _reload_on_sighup(gateway)
    made = "home" if new_home else "config" if created else ""
    _print_banner(settings, home, created=made, model_count=len(gateway.models))
    _check_for_updates(gateway)
    config = uvicorn.Config(
        create_app(gateway),
        host=settings.host,
        port=settings.port,
        log_level=args.log_level,
        access_log=args.log_level == "debug",
        ws_max_size=16 * 1024 * 1024,
        ws_per_message_deflate=False,  # tabs sit on loopback: compression is only CPU
    )
    redact_server_logs()  # after uvicorn.Config, which configures its loggers
    uvicorn.Server(config).run(sockets=[listener])
    return 0


class CannotListen(Exception):
    """The gateway's address cannot be bound (a port in use, an address not of this machine)."""


def _listen(settings: Settings) -> socket.socket:
    """The listening socket, bound here so that a taken port stops the start before anything
    is printed (uvicorn would print its own error after the banner)."""
    host = settings.host
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
    try:
        sock.bind((host, settings.port))
    except OSError as exc:
        sock.close()
        where = f"{_display_host(host)}:{settings.port}"
        if exc.errno == errno.EADDRINUSE:
            raise CannotListen(
                f"port {settings.port} is already in use on {host} (another lmarenarev? "
                "`lmarenarev status` tells): stop it, or choose another port with --port or "
                '"port" in config.jsonc'
            ) from None
        raise CannotListen(f"cannot listen on {where}: {exc.strerror or exc}") from None
    return sock


def _check_for_updates(gateway: Gateway) -> None:
    """`enable_auto_update`: the notice goes to the log (a service manager keeps it) and to
    the dashboard; "apply" installs the release first (ops/upgrade.py)."""
    mode = gateway.settings.update_mode
    if mode == "off":
        return
    from ..ops.upgrade import find_install, upgrade

    def report(latest: str, text: str) -> None:
        gateway.ops.update.latest, gateway.ops.update.notice = latest, text
        log.info("%s", text)

    def install(latest: str) -> str:
        log.info("enable_auto_update is \"apply\": installing lmarenarev %s", latest)
        return upgrade(find_install())

    url = os.environ.get("LMARENAREV_UPDATE_URL", PYPI_JSON_URL)
    check_in_background(gateway.home, __version__, report, url=url,
                        install=install if mode == "apply" else None)


def _reload_on_sighup(gateway: Gateway) -> None:
    """`kill -HUP <pid>` re-reads the config files, like `lmarenarev reload`."""
    from ..ops.reload import request_reload

    if hasattr(signal, "SIGHUP"):
        signal.signal(signal.SIGHUP, lambda signum, frame: request_reload(gateway))


def userscript(args: argparse.Namespace) -> int:
    home: Path = args.home
    loaded = load_settings(home, env=os.environ, overrides={})
    settings = loaded.settings
    base = f"http://{_display_host(settings.host)}:{settings.port}"
    if args.print:
        from ..api.userscript import render_userscript
        from ..gateway import build_gateway

        gateway = build_gateway(home, env=os.environ)
        sys.stdout.write(render_userscript(gateway, base))
    else:
        print(_userscript_url(settings))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if hasattr(args, "home"):
        args.home = data_directory(args.home, os.environ)
    if args.command == "file-bed" and args.dir is None:
        args.dir = data_directory(None, os.environ) / "file_bed_uploads"
    logging.basicConfig(
        level=getattr(logging, getattr(args, "log_level", "info").upper()),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        if args.command == "serve":
            return serve(args)
        if args.command == "logs":
            return logs_command.run(args)
        if args.command == "doctor":
            return doctor_command.run(args)
        if args.command in admin_client.COMMANDS:
            return admin_client.run(args)
        if args.command == "file-bed":
            return filebed_server.run(args)
        if args.command == "update":
            return update_command.run(args)
        if args.command == "login":
            return browser_command.run_login(args)
        return userscript(args)
    except ConfigError as exc:
        print(f"lmarenarev: configuration error: {exc}", file=sys.stderr)
        return 2
    except CannotListen as exc:
        print(f"lmarenarev: {exc}", file=sys.stderr)
        return 1
    except BrowserError as exc:
        print(f"lmarenarev: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
