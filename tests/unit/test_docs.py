"""The README's reference sections are what the code says (regenerate: scripts/update_readme.py)."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType

import pytest

from lmarenarev.config.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def updater() -> ModuleType:
    path = ROOT / "scripts" / "update_readme.py"
    spec = importlib.util.spec_from_file_location("update_readme", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_readme_sections_are_current(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "100")
    text = (ROOT / "README.md").read_text("utf-8")
    assert updater().render(text) == text, "run: python scripts/update_readme.py"


def test_every_setting_is_in_the_readme_reference() -> None:
    text = (ROOT / "README.md").read_text("utf-8")
    section = text.split("<!-- config-reference:start -->")[1].split("<!-- config-reference:end")[0]
    documented = set(re.findall(r"^\| `([\w.]+)` \|", section, re.MULTILINE))
    assert set(Settings.model_fields) <= documented
