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

if not os.environ.get("HYPOTHESIS_STORAGE_DIRECTORY"):  # else wherever the user said
    set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "lmarenarev-hypothesis")


@pytest.fixture(scope="session", autouse=True)
def _default_data_directory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LMARENAREV_HOME", str(tmp_path_factory.mktemp("lmarenarev-home")))
        yield
