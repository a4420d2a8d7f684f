"""`lmarenarev doctor`: ask the running gateway to check itself through a tab, step by step.

Prints each step as ok / FAILED / skipped with the reason and what to try next; exits 1 when a
step failed (or the gateway is not running), 0 otherwise. `--save DIR` writes the redacted
bundle (doctor.json) and the printed report (doctor.txt) for a bug report (docs/doctor.md).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import admin

EXIT_OK, EXIT_FAILED = 0, 1
DOCTOR_TIMEOUT = 400.0
WIDTH = 11  # the step names' column


def add_command(commands: Any, add_home: Callable[[argparse.ArgumentParser], None]) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "doctor",
        help="check, step by step, that the gateway still works with LMArena",
        description="A live self-check through a connected tab: the tabs and their origin, "
        "the page (no challenge), the account, reCAPTCHA, the model list, one tiny chat and a "
        "regenerate of it, and what LMArena sent that this version does not know. Each step "
        "says ok or FAILED, why, and what to try next; the exit status is 1 when one failed.",
    )
    add_home(parser)
    parser.add_argument("--url", help="the gateway's address (default: from --home's settings)")
    parser.add_argument(
        "--admin-key", help="the gateway's admin_key (default: from --home's settings)"
    )
    parser.add_argument("--model", help="the model to chat with (default: the first text model)")
    parser.add_argument("--save", type=Path, metavar="DIR",
                        help="write the redacted bundle (doctor.json) and this report "
                        "(doctor.txt) into DIR, to attach to a bug report")
    parser.add_argument("--json", action="store_true", help="print the answer as JSON")


def run(args: argparse.Namespace) -> int:
    try:
        local = admin.local_settings(args)
    except admin.CannotTell as exc:
        print(f"lmarenarev doctor: {exc}", file=sys.stderr)
        return admin.EXIT_CANNOT_TELL
    client = admin.client_for(args, local)
    body = {"model": args.model, "bundle": args.save is not None}
    try:
        admin.identify(client, args)  # the gateway of --home, not another one
        answer = client.call("POST", "/api/admin/doctor", body, timeout=DOCTOR_TIMEOUT)
    except admin.GatewayDown as exc:
        answer = {"ok": False, "steps": [{
            "name": "gateway", "status": "failed", "summary": "", "notes": [],
            "reason": str(exc), "hint": "start it with `lmarenarev serve` (or pass --url)",
        }]}
    except admin.CannotTell as exc:
        print(f"lmarenarev doctor: {exc}", file=sys.stderr)
        return admin.EXIT_CANNOT_TELL
    except admin.AdminError as exc:
        print(f"lmarenarev doctor: {exc.message}", file=sys.stderr)
        return EXIT_FAILED
    else:
        answer["steps"].insert(0, {"name": "gateway", "status": "ok", "notes": [],
                                   "summary": f"answers at {client.url}", "reason": "",
                                   "hint": ""})
    text = "\n".join(report(answer, client.url))
    print(json.dumps(answer, indent=2, ensure_ascii=False) if args.json else text)
    if args.save is not None:
        save(args.save, answer, text)
        print(f"Saved {args.save / 'doctor.json'} (redacted: no cookies, tokens or page HTML) "
              f"and {args.save / 'doctor.txt'}", file=sys.stderr)
    return EXIT_OK if answer["ok"] else EXIT_FAILED


def report(answer: dict[str, Any], url: str) -> list[str]:
    """The steps as text (pure)."""
    lines = [f"lmarenarev doctor: {url}"]
    for step in answer["steps"]:
        mark = {"ok": "ok", "failed": "FAILED", "skipped": "skipped"}[step["status"]]
        first = step["summary"] if step["status"] == "ok" else step["reason"]
        lines.append(f"  {mark:<8}{step['name']:<{WIDTH}}{first}")
        pad = " " * (10 + WIDTH)
        if step["status"] == "failed" and step.get("hint"):
            lines.append(f"{pad}try: {step['hint']}")
        lines += [f"{pad}note: {note}" for note in step.get("notes") or []]
    failed = [s["name"] for s in answer["steps"] if s["status"] == "failed"]
    total = len(answer["steps"])
    if failed:
        lines.append(f"{len(failed)} of {total} checks failed: {', '.join(failed)}.")
    else:
        skipped = sum(1 for s in answer["steps"] if s["status"] == "skipped")
        lines.append(f"All {total - skipped} checks passed." if not skipped
                     else f"No check failed ({skipped} skipped).")
    return lines


def save(directory: Path, answer: dict[str, Any], text: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    bundle = answer.get("bundle") or {"steps": answer["steps"]}
    bundle["steps"] = answer["steps"]
    (directory / "doctor.json").write_text(
        json.dumps(bundle, indent=2, ensure_ascii=False) + "\n", "utf-8")
    (directory / "doctor.txt").write_text(text + "\n", "utf-8")
