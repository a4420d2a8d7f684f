"""Regenerate the README sections that mirror the code (checked by tests/unit/test_docs.py).

    python scripts/update_readme.py
"""

from __future__ import annotations

import contextlib
import io
import os
import re
from pathlib import Path

from lmarenarev.cli.main import main
from lmarenarev.config.docs import settings_reference_markdown

README = Path(__file__).resolve().parents[1] / "README.md"
HELP_COLUMNS = "100"


def serve_help() -> str:
    os.environ["COLUMNS"] = HELP_COLUMNS
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
        main(["serve", "--help"])
    return f"```\n{out.getvalue().rstrip()}\n```"


def replace_section(text: str, name: str, body: str) -> str:
    pattern = re.compile(rf"(<!-- {name}:start -->\n).*?(<!-- {name}:end -->)", re.DOTALL)
    if not pattern.search(text):
        raise SystemExit(f"README has no {name} markers")
    return pattern.sub(lambda m: f"{m.group(1)}{body.rstrip()}\n{m.group(2)}", text)


def render(text: str) -> str:
    text = replace_section(text, "serve-help", serve_help())
    return replace_section(text, "config-reference", settings_reference_markdown())


if __name__ == "__main__":
    README.write_text(render(README.read_text("utf-8")), "utf-8")
