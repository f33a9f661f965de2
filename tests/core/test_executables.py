"""LSO executable resolution: only from the executables directory, with the reference's refusals."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from runwire.executables import (
    ExecutableIsDirectory,
    ExecutableNameInvalid,
    ExecutableNotExecutable,
    ExecutableNotFound,
    ExecutableOutsideRoot,
    ExecutablesNotConfigured,
    resolve_executable,
)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    base = tmp_path / "bin"
    (base / "sub").mkdir(parents=True)
    for name, mode in (("ok.sh", 0o755), ("sub/nested.sh", 0o755), ("plain.txt", 0o644)):
        (base / name).write_text("#!/bin/sh\necho hi\n")
        (base / name).chmod(mode)
    outside = tmp_path / "outside.sh"
    outside.write_text("#!/bin/sh\necho out\n")
    outside.chmod(0o755)
    os.symlink(outside, base / "escape.sh")
    os.symlink(base / "ok.sh", base / "inner-link.sh")
    os.symlink(tmp_path, base / "updir")
    return base


def test_resolves_files_and_inner_symlinks(root: Path) -> None:
    assert resolve_executable("ok.sh", root) == (root / "ok.sh").resolve()
    assert resolve_executable("sub/nested.sh", str(root)) == (root / "sub" / "nested.sh").resolve()
    assert resolve_executable("inner-link.sh", root) == (root / "ok.sh").resolve()
    assert resolve_executable("sub/../ok.sh", root) == (root / "ok.sh").resolve()


@pytest.mark.parametrize(
    "name,error",
    [
        ("/bin/sh", ExecutableOutsideRoot),
        ("../outside.sh", ExecutableOutsideRoot),
        ("sub/../../outside.sh", ExecutableOutsideRoot),
        ("escape.sh", ExecutableOutsideRoot),
        ("updir/outside.sh", ExecutableOutsideRoot),
        ("ok.sh; rm -rf /", ExecutableNameInvalid),
        ("$(id)", ExecutableNameInvalid),
        ("`id`", ExecutableNameInvalid),
        ("ok.sh\n", ExecutableNameInvalid),
        ("ok\x00.sh", ExecutableNameInvalid),
        ("", ExecutableNameInvalid),
        ("o k.sh", ExecutableNameInvalid),
        ("missing.sh", ExecutableNotFound),
        ("plain.txt", ExecutableNotExecutable),
        ("sub", ExecutableIsDirectory),
        (".", ExecutableIsDirectory),
    ],
)
def test_refusals(root: Path, name: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        resolve_executable(name, root)


def test_messages_do_not_disclose_server_paths(root: Path) -> None:
    with pytest.raises(ExecutableOutsideRoot) as err:
        resolve_executable("escape.sh", root)
    assert str(root) not in str(err.value)


def test_unconfigured_directory_runs_nothing() -> None:
    with pytest.raises(ExecutablesNotConfigured):
        resolve_executable("ok.sh", None)
