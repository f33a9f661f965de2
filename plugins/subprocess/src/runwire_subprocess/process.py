"""Run one program from an argument list: own process group, capped output, nothing left behind.

The program never goes through a shell. It runs in a new session (its own process group); when
it ends, times out or its run is cancelled, the whole group is killed. A helper that leaves the
group (``setsid``) would escape that; a program that runs as another user (a root server with
``RUNWIRE_RUN_AS_USER``) therefore runs as PID 1 of its own PID namespace, which takes every
process it started with it (:func:`_contained`). stdout and stderr are read concurrently; what
exceeds the cap is counted and dropped (the pipe keeps draining, the program is never blocked
or killed for it).

The program is started with :class:`subprocess.Popen` (``vfork``: fast even from a large
server process, where uvloop's ``fork`` costs milliseconds) on the event loop: a trip to a
thread, so the loop need not wait for the child's ``exec``, cost ~0.5 ms of CPU per program in
GIL hand-offs and lowered throughput on an idle machine (docs/performance.md, "Target 5, fourth
session"). Its pipes are read by the running event loop, and its exit is awaited through a
pidfd, so this works on any asyncio loop, in any thread, without a child-watcher thread per
program.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from runwire import NodeFailed
from runwire.host import RunAs

CHUNK = 64 * 1024
PIPE_GRACE = 2.0
"""Seconds to wait for the pipes to close after the program's group has been killed."""


@dataclass(slots=True)
class Captured:
    """One stream's captured bytes; ``dropped`` counts the bytes beyond the cap."""

    data: bytes
    dropped: int

    def text(self) -> str:
        """The stream as text, with a marker line when it was truncated."""
        text = self.data.decode("utf-8", errors="replace")
        if self.dropped:
            text += f"\n[runwire: output truncated, {self.dropped} more bytes dropped]\n"
        return text


@dataclass(slots=True)
class Completed:
    """A finished program: its exit code (negative: killed by that signal) and streams."""

    return_code: int
    stdout: Captured
    stderr: Captured
    timed_out: bool = False


class _Drain:
    """Reads a non-blocking pipe from the event loop, keeping at most ``cap`` bytes."""

    def __init__(self, loop: asyncio.AbstractEventLoop, pipe: IO[bytes], cap: int) -> None:
        self.loop = loop
        self.fd = pipe.fileno()
        self.pipe = pipe
        self.cap = cap
        self.parts: list[bytes] = []
        self.kept = 0
        self.dropped = 0
        self.done: asyncio.Future[None] = loop.create_future()
        os.set_blocking(self.fd, False)
        loop.add_reader(self.fd, self._read)

    def _read(self) -> None:
        while True:
            try:
                chunk = os.read(self.fd, CHUNK)
            except BlockingIOError:
                return
            except OSError:
                chunk = b""
            if not chunk:
                self.close()
                return
            room = self.cap - self.kept
            if room >= len(chunk):
                self.parts.append(chunk)
                self.kept += len(chunk)
            else:
                if room > 0:
                    self.parts.append(chunk[:room])
                    self.kept = self.cap
                self.dropped += len(chunk) - max(room, 0)

    def close(self) -> None:
        """Stop reading and close the pipe (idempotent)."""
        if not self.done.done():
            self.loop.remove_reader(self.fd)
            self.pipe.close()
            self.done.set_result(None)

    def captured(self) -> Captured:
        return Captured(b"".join(self.parts), self.dropped)


async def _feed(loop: asyncio.AbstractEventLoop, pipe: IO[bytes] | None, data: bytes | None) -> None:
    """Write ``data`` to the program's stdin without blocking the loop, then close it."""
    if pipe is None:
        return
    fd = pipe.fileno()
    os.set_blocking(fd, False)
    view = memoryview(data or b"")
    try:
        while view:
            try:
                view = view[os.write(fd, view[:CHUNK]) :]
            except BlockingIOError:
                ready = loop.create_future()
                loop.add_writer(fd, ready.set_result, None)
                try:
                    await ready
                finally:
                    loop.remove_writer(fd)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the program does not read its input: not our failure
    finally:
        pipe.close()


async def _exited(loop: asyncio.AbstractEventLoop, proc: subprocess.Popen[bytes]) -> None:
    """Return once ``proc`` has exited (a pidfd; where there is none, a waiting thread)."""
    try:
        fd = os.pidfd_open(proc.pid)
    except ProcessLookupError:
        return
    except (AttributeError, OSError):
        await asyncio.to_thread(proc.wait)
        return
    exited: asyncio.Future[None] = loop.create_future()

    def wake() -> None:
        if not exited.done():
            exited.set_result(None)

    loop.add_reader(fd, wake)
    try:
        await exited
    finally:
        loop.remove_reader(fd)
        os.close(fd)


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def check_argv(argv: Sequence[str], env: Mapping[str, str]) -> None:
    """Refuse what an operating system cannot pass to a program: NUL characters, lone UTF-16
    surrogates (``"\\ud800"``, which a template can make: not text, no bytes stand for it), empty
    argv. (The surrogates ``os.fsencode`` maps back to bytes, U+DC80-U+DCFF, are passed as those bytes.)

    :raises NodeFailed: naming the offending argument or variable.
    """
    if not argv or not argv[0]:
        raise NodeFailed("the command is empty", retryable=False)
    for i, arg in enumerate(argv):
        if "\x00" in arg:
            raise NodeFailed(
                f"argument {i} contains a NUL character, which a program cannot receive", retryable=False
            )
        if not _encodable(arg):
            raise NodeFailed(
                f"argument {i} holds a lone UTF-16 surrogate ({arg!r:.60}), which a program cannot receive",
                retryable=False,
            )
    for name, value in env.items():
        if "\x00" in value or "\x00" in name or "=" in name:
            raise NodeFailed(
                f"environment variable {name!r} contains a NUL character or '='", retryable=False
            )
        if not (_encodable(name) and _encodable(value)):
            raise NodeFailed(
                f"environment variable {name!r:.60} holds a lone UTF-16 surrogate, which a program "
                "cannot receive",
                retryable=False,
            )


def _encodable(text: str) -> bool:
    """Whether ``text`` has bytes for a program (as ``subprocess`` makes them: ``os.fsencode``)."""
    if text.isascii():
        return True
    try:
        os.fsencode(text)
    except UnicodeEncodeError:
        return False
    return True


UNSHARE = shutil.which("unshare")
"""util-linux's ``unshare``: programs of a switched user run as PID 1 of their own PID namespace."""


def _contained(argv: Sequence[str], env: Mapping[str, str], run_as: RunAs) -> list[str]:
    """``argv`` wrapped to run as ``run_as`` in a PID namespace of its own.

    A process group does not hold what a program starts: a child that calls ``setsid`` leaves
    it and would outlive every timeout and limit (and could keep touching the run directory).
    As PID 1 of its own namespace, the program takes everything it started with it when it
    ends: the kernel kills the rest of the namespace, and ``--kill-child`` ends the program
    when ``unshare`` is killed (the group kill). ``unshare`` needs root, as switching users does.
    """
    program = argv[0]
    found = program if "/" in program else shutil.which(program, path=env.get("PATH", os.defpath))
    if found is None or not os.path.exists(found):
        raise NodeFailed(f"command not found: {program!r}", retryable=False)
    if os.path.isdir(found) or not os.access(found, os.X_OK):
        raise NodeFailed(f"command is not executable: {program!r}", retryable=False)
    assert UNSHARE is not None
    wrapper = [UNSHARE, "--pid", "--kill-child", f"--setgid={run_as.gid}", f"--setuid={run_as.uid}", "--"]
    return [*wrapper, found, *argv[1:]]


def _start(
    argv: Sequence[str], cwd: Path | None, env: Mapping[str, str], stdin: bool, run_as: RunAs | None
) -> subprocess.Popen[bytes]:
    user: int | None = None
    group: int | None = None
    extra_groups: list[int] | None = None
    command = list(argv)
    if run_as is not None and run_as.switches:  # its own user, its own group, no supplementary ones
        if UNSHARE is not None and os.geteuid() == 0:
            command = _contained(argv, env, run_as)  # unshare drops the supplementary groups
        else:
            user, group, extra_groups = run_as.uid, run_as.gid, []
    try:
        return subprocess.Popen(
            command,
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
            close_fds=True,
            user=user,
            group=group,
            extra_groups=extra_groups,
        )
    except FileNotFoundError:
        raise NodeFailed(f"command not found: {argv[0]!r}", retryable=False) from None
    except PermissionError:
        raise NodeFailed(f"command is not executable: {argv[0]!r}", retryable=False) from None
    except OSError as exc:
        raise NodeFailed(f"command {argv[0]!r} cannot be started: {exc.strerror or exc}") from None


async def run_program(
    argv: Sequence[str],
    *,
    cwd: Path | None,
    env: Mapping[str, str],
    stdin: bytes | None,
    max_output: int,
    timeout: float | None = None,
    run_as: RunAs | None = None,
) -> Completed:
    """Run ``argv`` (as ``run_as`` when given) and return its exit code and capped output.

    The program gets its own session. After ``timeout`` seconds its whole process group is
    killed and the result says ``timed_out``; cancelling the awaiting task (an engine node
    timeout) kills the group too, before the cancellation propagates.

    :raises NodeFailed: the program cannot be started (not found, not executable, NUL in argv).
    """
    check_argv(argv, env)
    loop = asyncio.get_running_loop()
    proc = _start(argv, cwd, env, stdin is not None, run_as)
    assert proc.stdout is not None and proc.stderr is not None
    out = _Drain(loop, proc.stdout, max_output)
    err = _Drain(loop, proc.stderr, max_output)
    reaped = False
    try:
        timed_out = False
        try:
            async with asyncio.timeout(timeout):
                await asyncio.gather(_feed(loop, proc.stdin, stdin), _exited(loop, proc))
        except TimeoutError:
            timed_out = True
        # Whatever the program left running in its group would keep the pipes open: end it.
        _kill_group(proc.pid)
        if timed_out:
            await _exited(loop, proc)
        # a process that left the group (its own setsid) may still hold the pipes: stop waiting
        await asyncio.wait((out.done, err.done), timeout=PIPE_GRACE)
        return_code = proc.wait()  # it has exited: reaping does not block
        reaped = True
        return Completed(return_code, out.captured(), err.captured(), timed_out)
    finally:
        if not reaped:
            _kill_group(proc.pid)
            with contextlib.suppress(BaseException):
                await asyncio.shield(asyncio.to_thread(proc.wait))
        out.close()
        err.close()
        if proc.stdin is not None and not proc.stdin.closed:
            proc.stdin.close()
