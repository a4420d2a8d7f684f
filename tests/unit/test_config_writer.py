"""Writing config.jsonc, model_endpoint_map.json and models.json: atomic, comments kept."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from lmarenarev.config import writer as config_writer
from lmarenarev.config.docs import config_template
from lmarenarev.config.jsonc import ConfigError, loads
from lmarenarev.config.load import load_settings
from lmarenarev.config.writer import (
    atomic_write,
    write_config_keys,
    write_endpoint_mapping,
    write_models,
)

CONFIG = """\
// my LMArena setup
{
  "session_id": "old-session", // captured last week
  /* the message */
  "message_id": "old-message",
  "tavern_mode_enabled": true,
}
"""
IDS = {
    "session_id": "new-session",
    "message_id": "new-message",
    "id_updater_last_mode": "battle",
    "id_updater_battle_target": "B",
}


def test_captured_ids_keep_comments_and_formatting(tmp_path: Path) -> None:
    path = tmp_path / "config.jsonc"
    path.write_text(CONFIG)
    write_config_keys(path, IDS)
    text = path.read_text()
    assert text.startswith("// my LMArena setup\n{\n")
    assert '  "session_id": "new-session", // captured last week\n' in text
    assert '  /* the message */\n  "message_id": "new-message",\n' in text
    assert loads(text, source="x") == {"tavern_mode_enabled": True, **IDS}
    settings = load_settings(tmp_path, env={}, overrides={}).settings
    assert (settings.session_id, settings.id_updater_battle_target) == ("new-session", "B")


def test_a_missing_config_starts_from_the_documented_template(tmp_path: Path) -> None:
    path = tmp_path / "config.jsonc"
    write_config_keys(path, IDS)
    text = path.read_text()
    assert text.startswith(config_template().split("{")[0])  # the header comments
    assert loads(text, source="x")["session_id"] == "new-session"


def test_an_invalid_file_is_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "config.jsonc"
    path.write_text('{"session_id": ')
    with pytest.raises(ConfigError, match="invalid JSON"):
        write_config_keys(path, IDS)
    assert path.read_text() == '{"session_id": '


def test_atomic_write_keeps_the_mode_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    path = tmp_path / "config.jsonc"
    path.write_text("{}")
    os.chmod(path, 0o600)
    atomic_write(path, "{ }\n")
    assert path.read_text() == "{ }\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.jsonc"]


def test_a_failed_write_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "config.jsonc"
    path.write_text(CONFIG)

    def broken(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(config_writer.os, "replace", broken)
    with pytest.raises(ConfigError, match="No space left"):
        write_config_keys(path, IDS)
    assert path.read_text() == CONFIG
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.jsonc"]


MAP = """{
  // pools per model
  "gpt": {"session_id": "s1", "message_id": "m1"},
  "claude": [{"session_id": "c1", "message_id": "c1m"}]
}
"""


def test_a_mapping_replaces_the_models_entry(tmp_path: Path) -> None:
    path = tmp_path / "model_endpoint_map.json"
    path.write_text(MAP)
    write_endpoint_mapping(path, "gpt", {"session_id": "s2", "message_id": "m2"}, append=False)
    data = loads(path.read_text(), source="x")
    assert data["gpt"] == {"session_id": "s2", "message_id": "m2"}
    assert data["claude"] == [{"session_id": "c1", "message_id": "c1m"}]
    assert "// pools per model" in path.read_text()


def test_append_adds_to_the_pool_once(tmp_path: Path) -> None:
    path = tmp_path / "model_endpoint_map.json"
    path.write_text(MAP)
    new = {"session_id": "s2", "message_id": "m2", "mode": "direct_chat"}
    write_endpoint_mapping(path, "gpt", new, append=True)
    write_endpoint_mapping(path, "gpt", new, append=True)
    write_endpoint_mapping(path, "new-model", new, append=True)
    data = loads(path.read_text(), source="x")
    assert data["gpt"] == [{"session_id": "s1", "message_id": "m1"}, new]
    assert data["new-model"] == new


def test_a_missing_map_or_models_file_is_created(tmp_path: Path) -> None:
    mapping = {"session_id": "s", "message_id": "m"}
    write_endpoint_mapping(tmp_path / "model_endpoint_map.json", "gpt", mapping, append=False)
    assert json.loads((tmp_path / "model_endpoint_map.json").read_text()) == {"gpt": mapping}
    write_models(tmp_path / "models.json", {"a": "id-a", "b": "id-b:image"})
    assert json.loads((tmp_path / "models.json").read_text()) == {"a": "id-a", "b": "id-b:image"}
