"""Every tier: the tests write nothing into the repository's working tree, and never use the
real ~/lmarenarev.

Hypothesis keeps its directory (the example database, which remembers failing examples from one
run to the next) in the system's temporary directory, and `LMARENAREV_HOME` points at a
directory of the session's own for any command run without `--home`.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis.configuration import set_hypothesis_home_dir

from testkit.fakes.arena import ERA_2025, ERA_2026

# The fake LMArena's era in the integration and e2e tiers (docs/fake-arena.md): today's site
# unless a test says otherwise with `@pytest.mark.era("2025")`, or runs on both (`BOTH_ERAS`).
DEFAULT_ERA = ERA_2026
BOTH_ERAS = pytest.mark.parametrize("era", [ERA_2025, ERA_2026], indirect=True)

if not os.environ.get("HYPOTHESIS_STORAGE_DIRECTORY"):  # else wherever the user said
    set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "lmarenarev-hypothesis")


@pytest.fixture(scope="session", autouse=True)
def _default_data_directory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LMARENAREV_HOME", str(tmp_path_factory.mktemp("lmarenarev-home")))
        yield


@pytest.fixture
def era(request: pytest.FixtureRequest) -> str:
    """This test's era: a parameter (`BOTH_ERAS`), else its `era` mark, else `DEFAULT_ERA`."""
    if hasattr(request, "param"):
        return str(request.param)
    mark = request.node.get_closest_marker("era")
    return str(mark.args[0]) if mark is not None else DEFAULT_ERA
