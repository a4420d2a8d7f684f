"""`lmarenarev update` against real pip and git, never the network: a throwaway virtualenv
with a stand-in `lmarenarev` installed from a local package index (upgraded with pip from that
index), or as an editable install of a local git clone (upgraded with git pull and a reinstall).

The stand-in packages are built by an in-tree PEP 517 backend written here (zipfile only), so
no build requirement has to be fetched either.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from lmarenarev.ops.upgrade import UpgradeFailed, find_install, upgrade

WHEEL_WRITER = '''
import base64, hashlib, zipfile

def write_wheel(directory, version, files):
    """A wheel of the stand-in `lmarenarev` holding `files` (path -> text); its file name."""
    info = f"lmarenarev-{version}.dist-info"
    entries = dict(files)
    entries[f"{info}/METADATA"] = (
        f"Metadata-Version: 2.1\\nName: lmarenarev\\nVersion: {version}\\n")
    entries[f"{info}/WHEEL"] = (
        "Wheel-Version: 1.0\\nGenerator: test\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n")
    record = []
    for path, text in entries.items():
        data = text.encode()
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(data)}")
    record.append(f"{info}/RECORD,,")
    entries[f"{info}/RECORD"] = "\\n".join(record) + "\\n"
    name = f"lmarenarev-{version}-py3-none-any.whl"
    with zipfile.ZipFile(f"{directory}/{name}", "w") as wheel:
        for path, text in entries.items():
            wheel.writestr(path, text)
    return name
'''

BACKEND = WHEEL_WRITER + '''
import os

def _version():
    return open("VERSION").read().strip()

def get_requires_for_build_wheel(config_settings=None):
    return []

get_requires_for_build_editable = get_requires_for_build_wheel

def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    source = open("src/lmarenarev/__init__.py").read()
    return write_wheel(wheel_directory, _version(), {"lmarenarev/__init__.py": source})

def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    src = os.path.abspath("src")
    return write_wheel(wheel_directory, _version(), {"_lmarenarev_editable.pth": src + "\\n"})
'''

namespace: dict[str, object] = {}
exec(WHEEL_WRITER, namespace)  # the same writer builds the index's wheels
write_wheel = namespace["write_wheel"]


def isolated_pip_env(**extra: str) -> dict[str, str]:
    """No pip configuration of this machine (its indexes, find-links): only what a test says."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_DISABLE_PIP_VERSION_CHECK="1",
               PIP_NO_INPUT="1", PIP_NO_CACHE_DIR="1", **extra)
    return env


def run(*command: str | Path, env: dict[str, str] | None = None, cwd: Path | None = None) -> str:
    done = subprocess.run([str(c) for c in command], capture_output=True, text=True, env=env,
                          cwd=cwd, timeout=300)
    assert done.returncode == 0, f"{command}: {done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def template_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One virtualenv with pip, copied for each test (making one takes seconds)."""
    path = tmp_path_factory.mktemp("template") / "venv"
    run(sys.executable, "-m", "venv", path)
    return path


@pytest.fixture
def venv(template_venv: Path, tmp_path: Path) -> Iterator[Path]:
    copy = tmp_path / "venv"
    shutil.copytree(template_venv, copy, symlinks=True)
    text = (copy / "pyvenv.cfg").read_text()
    (copy / "pyvenv.cfg").write_text(text.replace(str(template_venv), str(copy)))
    yield copy / "bin" / "python"


def local_index(root: Path, *versions: str) -> str:
    """A PEP 503 index in a directory: simple/lmarenarev/ with a wheel of each version."""
    project = root / "simple" / "lmarenarev"
    project.mkdir(parents=True)
    source = {"lmarenarev/__init__.py": "STAND_IN = True\n"}
    names = [write_wheel(project, version, source) for version in versions]  # type: ignore[operator]
    links = "".join(f'<a href="{name}">{name}</a>\n' for name in names)
    (project / "index.html").write_text(f"<!DOCTYPE html><html><body>\n{links}</body></html>\n")
    (root / "simple" / "index.html").write_text('<a href="lmarenarev/">lmarenarev</a>\n')
    return (root / "simple").as_uri()


def test_an_install_from_an_index_is_upgraded_with_pip_from_that_index(
    venv: Path, tmp_path: Path
) -> None:
    env = isolated_pip_env(PIP_INDEX_URL=local_index(tmp_path / "index", "0.0.1", "99.0.0"))
    run(venv, "-m", "pip", "install", "lmarenarev==0.0.1", env=env)
    install = find_install(str(venv))
    assert (install.kind, install.version) == ("index", "0.0.1")
    said: list[str] = []
    assert upgrade(install, env=env, echo=said.append) == "99.0.0"
    assert said == [f"$ {venv} -m pip install --upgrade lmarenarev"]
    assert find_install(str(venv)).version == "99.0.0"


def test_a_failing_pip_is_a_failure_that_says_why(venv: Path, tmp_path: Path) -> None:
    env = isolated_pip_env(PIP_INDEX_URL=local_index(tmp_path / "index", "0.0.1", "99.0.0"))
    run(venv, "-m", "pip", "install", "lmarenarev==0.0.1", env=env)
    broken = tmp_path / "index" / "simple" / "lmarenarev" / "lmarenarev-99.0.0-py3-none-any.whl"
    broken.write_bytes(b"not a zip file")  # the index's newest release is damaged
    with pytest.raises(UpgradeFailed, match=r"pip install --upgrade lmarenarev` failed: .*invalid"):
        upgrade(find_install(str(venv)), env=env)
    assert find_install(str(venv)).version == "0.0.1"  # what ran before still runs


def git(*args: str, cwd: Path) -> str:
    return run("git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "init.defaultBranch=main",
               *args, cwd=cwd)


def stand_in_project(root: Path, version: str) -> None:
    (root / "src" / "lmarenarev").mkdir(parents=True)
    (root / "src" / "lmarenarev" / "__init__.py").write_text("STAND_IN = True\n")
    (root / "VERSION").write_text(version)
    (root / "backend.py").write_text(BACKEND)
    (root / "pyproject.toml").write_text(textwrap.dedent("""\
        [build-system]
        requires = []
        build-backend = "backend"
        backend-path = ["."]
        """))


def installed_clone(venv: Path, tmp_path: Path) -> tuple[Path, Path, dict[str, str]]:
    """A stand-in project at 0.0.1 in a git repository (origin), its clone installed editable
    in `venv`; and the pip environment used."""
    origin, clone = tmp_path / "origin", tmp_path / "clone"
    origin.mkdir()
    stand_in_project(origin, "0.0.1")
    git("init", "-q", cwd=origin)
    git("add", ".", cwd=origin)
    git("commit", "-qm", "0.0.1", cwd=origin)
    git("clone", "-q", str(origin), str(clone), cwd=tmp_path)
    env = isolated_pip_env(PIP_NO_INDEX="1")  # nothing to fetch: the backend needs nothing
    run(venv, "-m", "pip", "install", "-e", clone, env=env)
    return origin, clone, env


def test_an_editable_install_of_a_clone_is_pulled_and_reinstalled(
    venv: Path, tmp_path: Path
) -> None:
    origin, clone, env = installed_clone(venv, tmp_path)
    (origin / "VERSION").write_text("0.0.2")  # a new release lands upstream
    git("commit", "-qam", "0.0.2", cwd=origin)

    install = find_install(str(venv))
    assert (install.kind, install.root, install.editable, install.version) == (
        "clone", clone, True, "0.0.1")
    said: list[str] = []
    assert upgrade(install, env=env, echo=said.append) == "0.0.2"
    assert said == [f"$ git -C {clone} pull --ff-only",
                    f"$ {venv} -m pip install --upgrade -e {clone}"]
    assert git("rev-parse", "HEAD", cwd=clone) == git("rev-parse", "HEAD", cwd=origin)


def test_a_clone_that_cannot_fast_forward_is_left_as_it_is(venv: Path, tmp_path: Path) -> None:
    origin, clone, env = installed_clone(venv, tmp_path)
    (origin / "VERSION").write_text("0.0.2")
    git("commit", "-qam", "upstream", cwd=origin)
    (clone / "VERSION").write_text("0.0.1-local")
    git("commit", "-qam", "a local change", cwd=clone)  # diverged: no fast-forward
    with pytest.raises(UpgradeFailed, match="git -C"):
        upgrade(find_install(str(venv)), env=env)
    assert (clone / "VERSION").read_text() == "0.0.1-local"
