"""Run one program from an argument list: own process group, capped output, nothing left behind.

The program never goes through a shell. It runs in a new session (its own process group); when
it ends, times out or its run is cancelled, the whole group is killed, so helpers it spawned
cannot outlive it. stdout and stderr are read concurrently; what exceeds the cap is counted
and dropped (the pipe keeps draining, the program is never blocked or killed for it).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from runwire.errors import NodeFailed

CHUNK = 64 * 1024


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


async def _capture(stream: asyncio.StreamReader | None, cap: int) -> Captured:
    if stream is None:
        return Captured(b"", 0)
    parts: list[bytes] = []
    kept = 0
    dropped = 0
    while True:
        chunk = await stream.read(CHUNK)
        if not chunk:
            break
        room = cap - kept
        if room >= len(chunk):
            parts.append(chunk)
            kept += len(chunk)
        else:
            if room > 0:
                parts.append(chunk[:room])
                kept = cap
            dropped += len(chunk) - max(room, 0)
    return Captured(b"".join(parts), dropped)


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


async def _exited(proc: asyncio.subprocess.Process) -> None:
    """Return once ``proc`` has exited, even while others still hold its pipes open.

    (asyncio's ``Process.wait()`` also waits for the pipes to close, which a leftover
    background process can delay forever.) Uses a pidfd; where there is none, ``wait()``.
    """
    loop = asyncio.get_running_loop()
    try:
        fd = os.pidfd_open(proc.pid)
    except ProcessLookupError:
        return
    except (AttributeError, OSError):
        await proc.wait()
        return
    exited = loop.create_future()
    loop.add_reader(fd, lambda: exited.done() or exited.set_result(None))
    try:
        await exited
    finally:
        loop.remove_reader(fd)
        os.close(fd)


def check_argv(argv: Sequence[str], env: Mapping[str, str]) -> None:
    """Refuse what an operating system cannot pass to a program: NUL characters, empty argv.

    :raises NodeFailed: naming the offending argument or variable.
    """
    if not argv or not argv[0]:
        raise NodeFailed("the command is empty")
    for i, arg in enumerate(argv):
        if "\x00" in arg:
            raise NodeFailed(f"argument {i} contains a NUL character, which a program cannot receive")
    for name, value in env.items():
        if "\x00" in value or "\x00" in name or "=" in name:
            raise NodeFailed(f"environment variable {name!r} contains a NUL character or '='")


async def run_program(
    argv: Sequence[str],
    *,
    cwd: Path | None,
    env: Mapping[str, str],
    stdin: bytes | None,
    max_output: int,
    timeout: float | None = None,
) -> Completed:
    """Run ``argv`` and return its exit code and capped output.

    The program gets its own session. After ``timeout`` seconds its whole process group is
    killed and the result says ``timed_out``; cancelling the awaiting task (an engine node
    timeout) kills the group too, before the cancellation propagates.

    :raises NodeFailed: the program cannot be started (not found, not executable, NUL in argv).
    """
    check_argv(argv, env)
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            cwd=cwd,
            env=dict(env),
            stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
    except FileNotFoundError:
        raise NodeFailed(f"command not found: {argv[0]!r}") from None
    except PermissionError:
        raise NodeFailed(f"command is not executable: {argv[0]!r}") from None
    except OSError as exc:
        raise NodeFailed(f"command {argv[0]!r} cannot be started: {exc.strerror or exc}") from None
    readers = (
        asyncio.ensure_future(_capture(proc.stdout, max_output)),
        asyncio.ensure_future(_capture(proc.stderr, max_output)),
    )
    try:
        try:
            async with asyncio.timeout(timeout):
                await _feed(proc, stdin)
                await _exited(proc)
        except TimeoutError:
            timed_out = True
        else:
            timed_out = False
        # Whatever the program left running in its group would keep the pipes open: end it.
        _kill_group(proc.pid)
        out, err = await asyncio.gather(*readers)
        return Completed(await proc.wait(), out, err, timed_out)
    finally:
        if proc.returncode is None:
            _kill_group(proc.pid)
            with contextlib.suppress(BaseException):
                await asyncio.shield(proc.wait())
        for reader in readers:
            reader.cancel()


async def _feed(proc: asyncio.subprocess.Process, stdin: bytes | None) -> None:
    if stdin is not None and proc.stdin is not None:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            proc.stdin.write(stdin)
            await proc.stdin.drain()
        proc.stdin.close()
