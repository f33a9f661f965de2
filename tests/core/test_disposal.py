"""Background removal of finished run directories: complete, bounded, drained at stop and exit."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest

from runwire.disposal import Disposal, remove_tree
from runwire.host import HostPolicy


def tree(root: Path, files: int = 3) -> Path:
    """A run directory like a program leaves one: files, ``out/`` with files, a link."""
    root.mkdir()
    (root / "out").mkdir()
    for i in range(files):
        (root / f"f{i}").write_text("x")
        (root / "out" / f"r{i}.txt").write_text("x")
    (root / "out" / "root").symlink_to("/")
    return root


def run_python(code: str, *args: Path) -> None:
    """Run ``code`` in a new Python process with ``args`` as its arguments; it must succeed."""
    done = subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_submitted_directories_are_all_removed_by_the_drain(tmp_path: Path) -> None:
    disposal = Disposal()
    paths = [tree(tmp_path / f"run-{i}") for i in range(40)]
    assert all(disposal.submit(path) for path in paths)
    assert disposal.drain(timeout=30)
    assert disposal.pending() == 0
    assert not any(path.exists() for path in paths)
    assert Path("/").is_dir()  # the link was removed, not followed


def test_submits_from_many_threads_while_it_removes(tmp_path: Path) -> None:
    disposal = Disposal(backlog=1_000)
    refused: list[Path] = []

    def submit_some(n: int) -> None:
        for i in range(25):
            path = tree(tmp_path / f"t{n}-{i}", files=1)
            if not disposal.submit(path):
                refused.append(path)

    threads = [threading.Thread(target=submit_some, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert disposal.drain(timeout=30)
    assert refused == [] and list(tmp_path.iterdir()) == []


def test_a_full_backlog_refuses_and_the_caller_keeps_the_directory(tmp_path: Path) -> None:
    disposal = Disposal(backlog=2)
    big = [tree(tmp_path / f"big-{i}", files=5_000) for i in range(2)]  # seconds of removal
    assert disposal.submit(big[0]) and disposal.submit(big[1])
    extra = tree(tmp_path / "extra")
    assert not disposal.submit(extra)
    assert extra.exists()  # refused: left to the caller, untouched
    assert disposal.drain(timeout=60)
    assert not any(path.exists() for path in big)
    assert disposal.submit(extra) and disposal.drain(timeout=30) and not extra.exists()


def test_a_new_thread_takes_over_after_the_last_one_ended(tmp_path: Path) -> None:
    disposal = Disposal()
    first = tree(tmp_path / "first")
    assert disposal.submit(first) and disposal.drain(timeout=30)
    for thread in threading.enumerate():
        if thread.name == "runwire-disposal":
            thread.join(timeout=10)  # it lingers a moment for more work, then ends
    second = tree(tmp_path / "second")
    assert disposal.submit(second) and disposal.drain(timeout=30)
    assert not first.exists() and not second.exists()


@pytest.mark.parametrize("empty", [(), ("out",)])
@pytest.mark.parametrize(
    "layout",
    ["out empty", "out missing", "files in out", "a file beside out", "out a file", "out a link to a dir"],
)
def test_remove_tree_removes_every_layout_and_follows_no_link(
    tmp_path: Path, layout: str, empty: tuple[str, ...]
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()  # empty: an rmdir through a link would remove it
    run = tmp_path / "run"
    run.mkdir()
    if layout in ("out empty", "files in out", "a file beside out"):
        (run / "out").mkdir()
    if layout == "files in out":
        (run / "out" / "r.csv").write_text("a,b")
        (run / "out" / "root").symlink_to("/")
    if layout == "a file beside out":
        (run / "stdout.txt").write_text("x")
    if layout == "out a file":
        (run / "out").write_text("not a directory")
    if layout == "out a link to a dir":
        (run / "out").symlink_to(elsewhere)
    remove_tree(run, empty)
    assert not run.exists() and not run.is_symlink()
    assert elsewhere.is_dir() and list(elsewhere.iterdir()) == []
    assert Path("/").is_dir()


def test_remove_tree_of_a_missing_directory_does_nothing(tmp_path: Path) -> None:
    remove_tree(tmp_path / "gone", ("out",))
    assert list(tmp_path.iterdir()) == []


def test_the_disposal_removes_with_the_empty_names_given(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    plain, linked = tmp_path / "plain", tmp_path / "linked"
    plain.mkdir()
    (plain / "out").mkdir()
    linked.mkdir()
    (linked / "out").symlink_to(elsewhere)
    disposal = Disposal()
    assert disposal.submit(plain, ("out",)) and disposal.submit(linked, ("out",))
    assert disposal.drain(timeout=30)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["elsewhere"]
    assert elsewhere.is_dir()


def test_every_host_has_its_own_disposal() -> None:
    assert HostPolicy().disposal is not HostPolicy().disposal


def test_a_process_exiting_at_once_still_removes_what_it_handed_over(tmp_path: Path) -> None:
    paths = [tree(tmp_path / f"run-{i}", files=500) for i in range(4)]
    code = (
        "import sys; from pathlib import Path; from runwire.host import DEFAULT_HOST\n"
        "assert all(DEFAULT_HOST.disposal.submit(Path(p)) for p in sys.argv[1:])\n"
    )
    run_python(code, *paths)
    assert not any(path.exists() for path in paths)


def test_no_thread_to_be_had_refuses_and_a_later_submit_starts_one(tmp_path: Path) -> None:
    """A thread that cannot be started (a process's memory or a container's task limit) makes the
    caller remove its directory itself; the next submit tries again (nothing stays queued with no
    thread to remove it)."""
    first, second = tree(tmp_path / "first"), tree(tmp_path / "second")
    code = (
        "import resource, sys; from pathlib import Path; from runwire.disposal import Disposal\n"
        "disposal = Disposal()\n"
        "size = next(int(line.split()[1]) for line in open('/proc/self/status') if line.startswith('VmSize:'))\n"
        "soft, hard = resource.getrlimit(resource.RLIMIT_AS)\n"
        "resource.setrlimit(resource.RLIMIT_AS, (size * 1024 + 2**20, hard))  # no room for a stack\n"
        "try:\n"
        "    refused = not disposal.submit(Path(sys.argv[1]))\n"
        "finally:\n"
        "    resource.setrlimit(resource.RLIMIT_AS, (soft, hard))\n"
        "assert refused and disposal.pending() == 0 and Path(sys.argv[1]).exists()\n"
        "assert disposal.submit(Path(sys.argv[2])) and disposal.drain(timeout=30)\n"
    )
    run_python(code, first, second)
    assert first.exists() and not second.exists()


@pytest.mark.parametrize("empty", [(), ("out",)])
def test_remove_tree_of_a_run_directory_swapped_for_a_link_removes_nothing_through_it(
    tmp_path: Path, empty: tuple[str, ...]
) -> None:
    """A program that may rename its own run directory (it owns it, in a sticky directory such as
    ``/tmp``) can leave a link in its place: nothing behind the link is removed, not even an empty
    ``out/`` (an ``rmdir`` of ``<link>/out`` follows the link)."""
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "out").mkdir(parents=True)
    run = tmp_path / "run"
    run.symlink_to(elsewhere)
    remove_tree(run, empty)
    assert (elsewhere / "out").is_dir()


def test_a_forked_child_removes_what_it_hands_over(tmp_path: Path) -> None:
    """A process that forks while its disposal's thread lingers (or holds its lock): the child has
    no such thread, yet its disposal took it for running, so nothing the child handed over was
    removed and every drain waited out its timeout (60 s at the child's exit)."""
    before, after = tree(tmp_path / "before"), tree(tmp_path / "after")
    code = (
        "import os, sys; from pathlib import Path; from runwire.host import DEFAULT_HOST\n"
        "disposal = DEFAULT_HOST.disposal\n"
        "assert disposal.submit(Path(sys.argv[1])) and disposal.drain(timeout=30)\n"
        "pid = os.fork()  # the thread lingers for more work: it runs in the parent only\n"
        "if pid == 0:\n"
        "    ok = disposal.submit(Path(sys.argv[2])) and disposal.drain(timeout=10)\n"
        "    os._exit(0 if ok and disposal.pending() == 0 else 3)\n"
        "_, status = os.waitpid(pid, 0)\n"
        "sys.exit(os.waitstatus_to_exitcode(status))\n"
    )
    run_python(code, before, after)
    assert not before.exists() and not after.exists()
