"""The release check: a local fake of PyPI's JSON API (the internet is never asked)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from lmarenarev.cli.main import main
from lmarenarev.config.settings import Settings
from lmarenarev.ops.update_check import (
    CACHE_FILE,
    cached_newer_release,
    check_in_background,
    is_newer,
    latest_version,
    newer_release,
)
from lmarenarev.ops.upgrade import (
    UpgradeFailed,
    find_install,
    install_from_metadata,
    upgrade_commands,
)
from testkit.fakes.serving import ServerThread


class FakePyPI:
    def __init__(self) -> None:
        self.version = "9.0.0"
        self.status = 200
        self.hits = 0

    async def project(self, request: Request) -> Response:
        self.hits += 1
        if self.status != 200:
            return Response("no", status_code=self.status)
        return JSONResponse({"info": {"name": "lmarenarev", "version": self.version}})


@pytest.fixture
def pypi() -> Iterator[tuple[FakePyPI, str]]:
    fake = FakePyPI()
    app = Starlette(routes=[Route("/pypi/lmarenarev/json", fake.project)])
    with ServerThread(app) as server:
        yield fake, f"{server.url}/pypi/lmarenarev/json"


DAY = 24 * 3600


def test_a_newer_release_is_found_and_cached_for_a_day(
    tmp_path: Path, pypi: tuple[FakePyPI, str]
) -> None:
    fake, url = pypi
    assert newer_release(tmp_path, "0.1.0", url=url, now=1000.0) == "9.0.0"
    fake.version = "9.1.0"
    assert newer_release(tmp_path, "0.1.0", url=url, now=1000.0 + DAY - 1) == "9.0.0"
    assert fake.hits == 1
    assert newer_release(tmp_path, "0.1.0", url=url, now=1000.0 + DAY) == "9.1.0"
    assert fake.hits == 2
    assert json.loads((tmp_path / CACHE_FILE).read_text()) == {
        "checked_at": 1000.0 + DAY,
        "latest": "9.1.0",
    }
    assert cached_newer_release(tmp_path, "0.1.0") == "9.1.0"
    assert cached_newer_release(tmp_path, "9.1.0") is None


def test_the_same_version_is_not_newer(tmp_path: Path, pypi: tuple[FakePyPI, str]) -> None:
    fake, url = pypi
    fake.version = "0.1.0"
    assert newer_release(tmp_path, "0.1.0", url=url) is None


def test_offline_is_silent_and_not_retried_within_the_day(tmp_path: Path) -> None:
    url = "http://127.0.0.1:9/pypi/lmarenarev/json"  # nothing listens there
    assert latest_version(tmp_path, url=url, now=5.0, timeout=1) is None
    assert json.loads((tmp_path / CACHE_FILE).read_text())["checked_at"] == 5.0


def test_an_error_answer_keeps_what_was_known(tmp_path: Path, pypi: tuple[FakePyPI, str]) -> None:
    fake, url = pypi
    assert latest_version(tmp_path, url=url, now=0.0) == "9.0.0"
    fake.status = 503
    assert latest_version(tmp_path, url=url, now=DAY + 1.0) == "9.0.0"


def test_an_unwritable_home_is_fine(tmp_path: Path, pypi: tuple[FakePyPI, str]) -> None:
    _, url = pypi
    assert newer_release(tmp_path / "missing" / "dir", "0.1.0", url=url) == "9.0.0"


def test_the_background_check_reports_only_news(
    tmp_path: Path, pypi: tuple[FakePyPI, str]
) -> None:
    _, url = pypi
    said: list[tuple[str, str]] = []
    check_in_background(tmp_path, "0.1.0", lambda *news: said.append(news), url=url).join(10)
    assert said == [("9.0.0", "lmarenarev 9.0.0 is available (this is 0.1.0): run "
                              "`lmarenarev update`")]
    check_in_background(tmp_path, "9.0.0", lambda *news: said.append(news), url=url).join(10)
    assert len(said) == 1


def test_apply_installs_the_release_and_says_to_restart(
    tmp_path: Path, pypi: tuple[FakePyPI, str]
) -> None:
    _, url = pypi
    said: list[tuple[str, str]] = []
    installed: list[str] = []

    def install(latest: str) -> str:
        installed.append(latest)
        return latest

    check_in_background(tmp_path, "0.1.0", lambda *news: said.append(news), url=url,
                        install=install).join(10)
    assert installed == ["9.0.0"]
    assert said == [("9.0.0", "lmarenarev 9.0.0 is installed (this process still runs 0.1.0): "
                              "restart the gateway to use it")]
    check_in_background(tmp_path, "9.0.0", lambda *news: said.append(news), url=url,
                        install=install).join(10)
    assert installed == ["9.0.0"]  # nothing newer: nothing installed


def test_a_failed_apply_says_so_and_what_to_run(tmp_path: Path, pypi: tuple[FakePyPI, str]) -> None:
    _, url = pypi
    said: list[tuple[str, str]] = []

    def install(latest: str) -> str:
        raise UpgradeFailed("`pip install` failed: no space left on device")

    check_in_background(tmp_path, "0.1.0", lambda *news: said.append(news), url=url,
                        install=install).join(10)
    ((latest, text),) = said
    assert latest == "9.0.0" and "installing it failed" in text and "no space left" in text
    assert "`lmarenarev update`" in text


@pytest.mark.parametrize(
    ("value", "mode"), [(True, "notify"), ("notify", "notify"), ("apply", "apply"), (False, "off")]
)
def test_the_seeds_auto_update_key_means_notify_or_apply(value: object, mode: str) -> None:
    assert Settings.model_validate({"enable_auto_update": value}).update_mode == mode


@pytest.mark.parametrize(
    ("latest", "current", "newer"),
    [
        ("0.2.0", "0.1.0", True),
        ("0.10.0", "0.9.9", True),
        ("1.0", "1.0.0", False),
        ("0.1.0", "0.2.0", False),
        ("0.3.0rc1", "0.2.0", False),  # pre-releases are never suggested
        ("0.2.0", "0.2.0.dev3", True),
        ("not a version", "0.1.0", False),
    ],
)
def test_versions(latest: str, current: str, newer: bool) -> None:
    assert is_newer(latest, current) is newer


# --- the installs `lmarenarev update` upgrades (real runs: tests/integration/test_upgrade.py) ---


@pytest.mark.parametrize(
    ("direct_url", "kind", "editable"),
    [
        (None, "index", False),  # from an index: pip writes no direct_url.json
        ('{"url": "file://{root}", "dir_info": {"editable": true}}', "clone", True),
        ('{"url": "file://{root}", "dir_info": {}}', "clone", False),
        ('{"url": "https://example.org/lmarenarev-1.0.tar.gz", "archive_info": {}}', "index",
         False),
    ],
)
def test_the_kind_of_install_comes_from_its_metadata(
    tmp_path: Path, direct_url: str | None, kind: str, editable: bool
) -> None:
    (tmp_path / ".git").mkdir()
    text = None if direct_url is None else direct_url.replace("{root}", str(tmp_path))
    install = install_from_metadata("/usr/bin/python3", "0.1.0", text)
    assert (install.kind, install.editable) == (kind, editable)
    assert install.root == (tmp_path if kind == "clone" else None)


def test_a_directory_that_is_no_git_work_tree_is_not_a_clone(tmp_path: Path) -> None:
    url = json.dumps({"url": tmp_path.as_uri(), "dir_info": {"editable": True}})
    assert install_from_metadata("py", "0.1.0", url).kind == "index"


def test_update_dry_run_prints_the_commands_for_this_install(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["update", "--dry-run"]) == 0
    out = capsys.readouterr().out
    install = find_install()
    assert install.describe() in out
    for command in upgrade_commands(install):
        assert "$ " + " ".join(command) in out
