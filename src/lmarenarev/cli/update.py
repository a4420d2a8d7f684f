"""`lmarenarev update`: upgrade the install this command runs from (ops/upgrade.py)."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from .. import __version__
from ..ops.update_check import PYPI_JSON_URL, latest_version
from ..ops.upgrade import UpgradeFailed, find_install, upgrade, upgrade_commands

EXIT_FAILED = 1


def add_command(commands: Any, add_home: Any) -> None:
    parser = commands.add_parser(
        "update",
        help="upgrade lmarenarev where it is installed (pip, or git pull in a clone)",
        description="Upgrade the lmarenarev this command runs from: installed from a package "
        "index, `pip install --upgrade lmarenarev` (the index pip is set up for); installed "
        "from a git clone, `git pull --ff-only` there and `pip install` it again. Restart the "
        "gateway afterwards.",
    )
    add_home(parser)
    parser.add_argument(
        "--dry-run", action="store_true", help="print the commands, run nothing"
    )
    parser.add_argument(
        "--check", action="store_true",
        help="only say whether the package index has a newer release (pip installs)",
    )


def run(args: argparse.Namespace) -> int:
    try:
        install = find_install()
    except UpgradeFailed as exc:
        print(f"lmarenarev update: {exc}", file=sys.stderr)
        return EXIT_FAILED
    print(f"This is {install.describe()}.")
    if args.check:
        return _check(args, install.kind)
    if args.dry_run:
        for command in upgrade_commands(install):
            print("$ " + " ".join(command))
        return 0
    try:
        installed = upgrade(install, echo=print)
    except UpgradeFailed as exc:
        print(f"lmarenarev update: {exc}", file=sys.stderr)
        return EXIT_FAILED
    if installed == __version__:
        print(f"lmarenarev {installed} stays: nothing newer was found.")
    else:
        print(f"lmarenarev {installed} is installed (was {__version__}). Restart the gateway "
              "(lmarenarev serve) to use it.")
    return 0


def _check(args: argparse.Namespace, kind: str) -> int:
    if kind == "clone":
        print("A clone is updated with git: `lmarenarev update` pulls and reinstalls it.")
        return 0
    url = os.environ.get("LMARENAREV_UPDATE_URL", PYPI_JSON_URL)
    latest = latest_version(args.home.resolve(), url=url, now=0.0)  # now=0: always ask
    if latest is None:
        print("Could not ask the package index (offline?).")
        return EXIT_FAILED
    print(f"The newest release is {latest}; this is {__version__}.")
    return 0
