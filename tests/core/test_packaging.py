"""The six distributions and the public plugin API: license, type marker, one version, exports."""

from __future__ import annotations

import importlib
import importlib.metadata
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import runwire

ROOT = Path(__file__).resolve().parents[2]
DISTRIBUTIONS = {
    "core": "runwire",
    "server": "runwire_server",
    "plugins/subprocess": "runwire_subprocess",
    "plugins/http": "runwire_http",
    "plugins/llm_openai": "runwire_llm_openai",
    "plugins/auth0": "runwire_auth0",
}
PLUGINS = [package for path, package in DISTRIBUTIONS.items() if path.startswith("plugins/")]


def _project(path: str) -> dict[str, object]:
    return tomllib.loads((ROOT / path / "pyproject.toml").read_text())["project"]


@pytest.mark.parametrize("path", DISTRIBUTIONS)
def test_each_distribution_ships_the_license_and_py_typed(path: str) -> None:
    project = _project(path)
    assert project["license"] == "MIT"
    assert project["license-files"] == ["LICENSE"]
    assert (ROOT / path / "LICENSE").read_text() == (ROOT / "LICENSE").read_text()
    assert (ROOT / path / "src" / DISTRIBUTIONS[path] / "py.typed").is_file()


@pytest.mark.parametrize("path", DISTRIBUTIONS)
def test_the_version_is_written_once_in_pyproject(path: str) -> None:
    project = _project(path)
    version = str(project["version"])
    assert importlib.metadata.version(str(project["name"])) == version
    for source in (ROOT / path / "src").rglob("*.py"):
        assert f'"{version}"' not in source.read_text(), f"{source} repeats the version"


def test_runwire_version_comes_from_the_metadata() -> None:
    assert runwire.__version__ == _project("core")["version"]


def test_every_public_name_resolves() -> None:
    for name in runwire.__all__:
        assert getattr(runwire, name) is not None, name
    assert set(runwire.__all__) <= set(dir(runwire))
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        _ = runwire.Nope
    assert isinstance(runwire.PLUGIN_API_VERSION, int)


def test_import_runwire_stays_light() -> None:
    code = "import sys, runwire; print(sorted({'pydantic', 'jinja2'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("package", PLUGINS)
def test_shipped_plugins_use_the_public_api(package: str) -> None:
    module = importlib.import_module(package)
    assert runwire.PLUGIN_API_VERSION in module.RUNWIRE_PLUGIN_API
    path = next(p for p, pkg in DISTRIBUTIONS.items() if pkg == package)
    for source in (ROOT / path / "src").rglob("*.py"):
        for line in source.read_text().splitlines():
            match = re.match(r"from runwire\.[\w.]+ import (.+)", line)
            if match:
                names = [n.strip() for n in match.group(1).split(",")]
                exported = [n for n in names if n in runwire.__all__]
                assert not exported, f"{source}: import {exported} from runwire"
