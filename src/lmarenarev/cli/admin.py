"""The commands that talk to a running gateway: capture-ids, update-models, status, reload.

The gateway is found at `--url`, else at the host and port of `--home`'s settings; the admin
key (`--admin-key`, else the settings'), when there is one, goes along as `Authorization: Bearer
<admin_key>`. They never guess: settings they cannot read, or a gateway that serves another
data directory than `--home`, stop them (exit 2) before anything is asked of it. Only the
standard library is used (urllib), with proxies off: the gateway is local.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import __version__
from ..config.jsonc import ConfigError
from ..config.load import load_settings
from ..ops.update_check import cached_newer_release, notice
from . import render as admin_render

COMMANDS = ("capture-ids", "update-models", "status", "reload")
EXIT_FAILED = 1
EXIT_CANNOT_TELL = 2  # as a configuration error: nothing was asked of any gateway


class GatewayDown(Exception):
    pass


class AdminError(Exception):
    def __init__(self, status: int, code: str | None, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class GatewayClient:
    def __init__(self, url: str, admin_key: str = "") -> None:
        self.url = url.rstrip("/")
        self.admin_key = admin_key
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def call(
        self, method: str, path: str, body: dict[str, Any] | None = None, timeout: float = 30.0
    ) -> dict[str, Any]:
        headers = {"Accept": "application/json", "Content-Type": "application/json"}
        if self.admin_key:
            headers["Authorization"] = f"Bearer {self.admin_key}"
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data, headers, method=method)
        try:
            with self._opener.open(request, timeout=timeout) as response:
                answer: dict[str, Any] = json.loads(response.read() or b"{}")
                return answer
        except urllib.error.HTTPError as exc:
            raise _admin_error(exc) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            reason = getattr(reason, "strerror", None) or reason
            raise GatewayDown(f"no lmarenarev gateway answers at {self.url} ({reason})") from None


def _admin_error(exc: urllib.error.HTTPError) -> AdminError:
    try:
        error = json.loads(exc.read() or b"{}").get("error") or {}
    except (ValueError, AttributeError, OSError):
        error = {}
    message = error.get("message") if isinstance(error, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    return AdminError(exc.code, code, str(message or f"HTTP {exc.code} {exc.reason}"))


# --- the parsers ---------------------------------------------------------------------------------


def add_commands(commands: Any, add_home: Callable[[argparse.ArgumentParser], None]) -> None:
    capture = _command(
        commands,
        add_home,
        "capture-ids",
        "capture the legacy flow's ids from an LMArena tab",
        "Arm id capture in the connected LMArena tabs (🎯 in the title), wait for the page's own "
        "next retry / create-evaluation / post-to-evaluation request and write its ids into "
        "config.jsonc (or, with --model, into model_endpoint_map.json). The running gateway "
        "uses them at once.",
    )
    capture.add_argument("--mode", choices=["direct_chat", "battle"], help="default: the last one")
    capture.add_argument("--target", type=str.upper, choices=["A", "B"], help="battle side")
    capture.add_argument("--model", help="write into this model's entry of model_endpoint_map.json")
    capture.add_argument(
        "--append", action="store_true", help="with --model: add to the model's pool, not replace"
    )
    capture.add_argument("--timeout", type=float, default=120.0, help="seconds (default 120)")
    models = _command(
        commands,
        add_home,
        "update-models",
        "read LMArena's model list into available_models.json (and merge into models.json)",
        "A connected tab reads the page's models (initialModels) into available_models.json; "
        "--merge adds the named ones to models.json, --merge-all all of them, typed by their "
        "capabilities (text, image, search).",
    )
    merge = models.add_mutually_exclusive_group()
    merge.add_argument("--merge", nargs="+", default=[], metavar="NAME", help="models to add")
    merge.add_argument("--merge-all", action="store_true", help="add every model")
    _command(commands, add_home, "status", "show the running gateway's state",
             "Is the gateway up, its workers, flow, ids, models and last errors.")
    _command(commands, add_home, "reload", "re-read the config files in the running gateway",
             "Same as SIGHUP: config.jsonc, models.json and model_endpoint_map.json are read "
             "again; a file that is wrong is rejected with the reason and the old settings stay.")


def _command(
    commands: Any,
    add_home: Callable[[argparse.ArgumentParser], None],
    name: str,
    summary: str,
    description: str,
) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = commands.add_parser(
        name, help=summary, description=description
    )
    add_home(parser)
    parser.add_argument("--url", help="the gateway's address (default: from --home's settings)")
    parser.add_argument(
        "--admin-key", help="the gateway's admin_key (default: from --home's settings)"
    )
    parser.add_argument("--json", action="store_true", help="print the answer as JSON")
    return parser


# --- finding the gateway -------------------------------------------------------------------------

# What the commands read of the settings: where the gateway listens, its admin key, whether to
# tell about updates. The other keys are the gateway's business (a reload reports them).
CONNECTION_KEYS = ("host", "port", "admin_key", "enable_auto_update")


class CannotTell(Exception):
    """Which gateway to talk to is not certain: the command stops (exit 2) rather than guess."""


@dataclass(frozen=True)
class Local:
    """What the commands need of `--home`'s settings."""

    host: str
    port: int
    admin_key: str
    auto_update: bool


def local_settings(args: argparse.Namespace) -> Local:
    """The gateway's address and admin key as `--home`'s settings give them (with --admin-key
    winning). A config the commands cannot read stops them, unless --url says where to go."""
    try:
        settings = load_settings(
            args.home, env=os.environ, overrides={}, only=CONNECTION_KEYS
        ).settings
    except ConfigError as exc:
        if not args.url:
            raise CannotTell(
                f"cannot read the settings of {args.home}, so neither the gateway's address "
                f"nor its admin key is known: {exc}\nFix the file, or name the gateway with "
                "--url (and --admin-key)"
            ) from None
        return Local("127.0.0.1", 0, args.admin_key or "", False)
    admin_key = args.admin_key if args.admin_key is not None else settings.admin_key
    return Local(settings.host, settings.port, admin_key, settings.update_mode != "off")


def client_for(args: argparse.Namespace, local: Local) -> GatewayClient:
    if args.url:
        return GatewayClient(args.url, local.admin_key)
    host = "127.0.0.1" if local.host in ("0.0.0.0", "::", "") else local.host
    host = f"[{host}]" if ":" in host else host
    return GatewayClient(f"http://{host}:{local.port}", local.admin_key)


def identify(client: GatewayClient, args: argparse.Namespace) -> dict[str, Any]:
    """The gateway's status, once it is known to serve `--home` (or --url named it)."""
    status = client.call("GET", "/api/admin/status")
    served = status.get("home")
    if served and not args.url and Path(served) != args.home:
        raise CannotTell(
            f"the gateway at {client.url} serves the data directory {served}, not {args.home}: "
            f"pass --home {served} to talk to it, or start the gateway of {args.home} on "
            "another port (or --url to use this one anyway)"
        )
    return status


# --- running them --------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> int:
    actions = {
        "capture-ids": _capture,
        "update-models": _update_models,
        "status": _status,
        "reload": _reload,
    }
    try:
        local = local_settings(args)
        client = client_for(args, local)
        status = identify(client, args)
        if args.command != "status" and not args.json:
            print(f"Gateway {client.url} (data directory {status.get('home')})", flush=True)
        code = actions[args.command](client, args, status)
    except CannotTell as exc:
        print(f"lmarenarev {args.command}: {exc}", file=sys.stderr)
        return EXIT_CANNOT_TELL
    except GatewayDown as exc:
        if args.command == "status" and args.json:
            print(json.dumps({"up": False, "url": client.url, "error": str(exc)}))
        else:
            print(f"lmarenarev: {exc}. Start it with: lmarenarev serve", file=sys.stderr)
        return EXIT_FAILED
    except AdminError as exc:
        print(f"lmarenarev {args.command}: {exc.message}", file=sys.stderr)
        return EXIT_FAILED
    if local.auto_update:
        _update_notice(args.home)
    return code


def _print(args: argparse.Namespace, answer: dict[str, Any], lines: list[str]) -> int:
    print(json.dumps(answer, indent=2, ensure_ascii=False) if args.json else "\n".join(lines))
    return 0


def _capture(client: GatewayClient, args: argparse.Namespace, status: dict[str, Any]) -> int:
    tabs = status["workers"]
    if not tabs:
        raise AdminError(503, "no_worker", "no LMArena tab is connected: open "
                         "https://arena.ai/text/direct with the lmarenarev userscript (title "
                         "starts with ✅), then try again")
    mode = args.mode or status["ids"]["mode"]
    target = args.target or status["ids"]["battle_target"]
    if not args.json:
        print(admin_render.waiting_for(mode, target, args.model, tabs), flush=True)
    body = {"mode": mode, "target": target, "model": args.model, "append": args.append,
            "timeout": args.timeout}
    answer = client.call("POST", "/api/admin/capture-ids", body, timeout=args.timeout + 30)
    return _print(args, answer, admin_render.captured(answer))


def _update_models(
    client: GatewayClient, args: argparse.Namespace, status: dict[str, Any]
) -> int:
    if not args.json:
        print("Reading LMArena's model list through a connected tab…", flush=True)
    body = {"merge": args.merge, "merge_all": args.merge_all}
    answer = client.call("POST", "/api/admin/update-models", body, timeout=120)
    return _print(args, answer, admin_render.models(answer))


def _status(client: GatewayClient, args: argparse.Namespace, status: dict[str, Any]) -> int:
    return _print(args, status, admin_render.status(status, client.url))


def _reload(client: GatewayClient, args: argparse.Namespace, status: dict[str, Any]) -> int:
    answer = client.call("POST", "/api/admin/reload")
    return _print(args, answer, admin_render.reloaded(answer))


def _update_notice(home: Path) -> None:
    if not sys.stderr.isatty():
        return
    latest = cached_newer_release(home, __version__)
    if latest is not None:
        print(notice(latest, __version__), file=sys.stderr)
