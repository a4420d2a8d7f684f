"""Upgrading the install lmarenarev runs from (`lmarenarev update`, `enable_auto_update:
"apply"`), as the seeds updated themselves.

Which install it is comes from the interpreter's own package metadata (PEP 610
`direct_url.json`): installed from a directory that is a git work tree, it is a **clone** —
`git pull --ff-only` there, then `pip install` it again (editable when it was); otherwise it
came from a package index — `pip install --upgrade lmarenarev`, from whatever index pip is set
up to use (PIP_INDEX_URL, pip.conf). Everything runs with the interpreter of that install, in
subprocesses; the running gateway keeps the code it started with until it is restarted.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import unquote, urlsplit

PACKAGE = "lmarenarev"
_PROBE = (
    "import importlib.metadata as m, json\n"
    "d = m.distribution('lmarenarev')\n"
    "print(json.dumps({'version': d.version, 'direct_url': d.read_text('direct_url.json')}))\n"
)
Runner = Callable[..., "subprocess.CompletedProcess[str]"]


class UpgradeFailed(Exception):
    pass


@dataclass(frozen=True, slots=True)
class Install:
    kind: Literal["index", "clone"]
    python: str  # the interpreter of the install
    version: str
    root: Path | None = None  # the clone's work tree
    editable: bool = False

    def describe(self) -> str:
        if self.kind == "clone":
            how = "editable install" if self.editable else "install"
            return f"lmarenarev {self.version}, an {how} of the git clone {self.root}"
        return f"lmarenarev {self.version}, installed from a package index"


def install_from_metadata(python: str, version: str, direct_url: str | None) -> Install:
    """How it was installed, from its `direct_url.json` (pure)."""
    info = json.loads(direct_url) if direct_url else {}
    url = str(info.get("url", ""))
    if url.startswith("file://"):
        root = Path(unquote(urlsplit(url).path))
        if (root / ".git").exists():
            editable = bool(info.get("dir_info", {}).get("editable", False))
            return Install("clone", python, version, root, editable)
    return Install("index", python, version)


def find_install(python: str = sys.executable, *, run: Runner = subprocess.run) -> Install:
    """The install `python` runs lmarenarev from (asked of that interpreter)."""
    probe = run([python, "-c", _PROBE], capture_output=True, text=True, timeout=60)
    if probe.returncode != 0:
        raise UpgradeFailed(f"{python} has no lmarenarev installed: {_tail(probe.stderr)}")
    found = json.loads(probe.stdout)
    return install_from_metadata(python, found["version"], found["direct_url"])


def upgrade_commands(install: Install, pip_args: Sequence[str] = ()) -> list[list[str]]:
    """The commands that upgrade `install`, in order (pure)."""
    pip = [install.python, "-m", "pip", "install", "--upgrade", *pip_args]
    if install.kind == "clone":
        assert install.root is not None
        target = ["-e", str(install.root)] if install.editable else [str(install.root)]
        return [["git", "-C", str(install.root), "pull", "--ff-only"], [*pip, *target]]
    return [[*pip, PACKAGE]]


def upgrade(
    install: Install,
    *,
    pip_args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    run: Runner = subprocess.run,
    echo: Callable[[str], None] | None = None,
) -> str:
    """Run the upgrade; the version installed afterwards. `UpgradeFailed` says which command
    failed and why (the install is left as pip or git left it)."""
    for command in upgrade_commands(install, pip_args):
        if echo is not None:
            echo("$ " + " ".join(command))
        done = run(command, capture_output=True, text=True, env=dict(env) if env else None,
                   timeout=900)
        if done.returncode != 0:
            raise UpgradeFailed(f"`{' '.join(command)}` failed: {_tail(done.stderr)}")
    return find_install(install.python, run=run).version


def _tail(text: str, lines: int = 3) -> str:
    kept = [line for line in text.strip().splitlines() if line.strip()][-lines:]
    return " / ".join(kept) or "(no output)"
