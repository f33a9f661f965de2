"""The "Run Script" node: run a program from an argument list and return what it produced."""

from __future__ import annotations

import functools
import os
import stat
from pathlib import Path
from typing import Any

from runwire import ConfigInvalid, NodeContext, NodeFailed, NodeOutput, NodeType, to_text
from runwire.executables import ExecutableRefused, resolve_executable
from runwire.outputs import collect_attachments, read_results
from runwire.workflow import PreparedNode
from runwire_subprocess.argv import build_argv, unbound_names
from runwire_subprocess.data import RunScriptData
from runwire_subprocess.process import Completed, run_program
from runwire_subprocess.rundir import EMPTY, close_rundir, in_thread_then_remove, open_rundir

RUNDIR = "RUNDIR"
STDERR_TAIL = 2000
INLINE_RESULT_BYTES = 64 * 1024
"""The most output (stdout and stderr together) and results file a result may hold to be made on
the event loop: above either, it is read, decoded and parsed in a thread."""


class RunScriptNode(NodeType):
    """``basic-node`` named "Run Script"."""

    type = "basic-node"
    name = "Run Script"
    title = "Run Script"
    description = (
        "Runs a program from an argument list (never a shell) in a fresh run directory; returns "
        "content (stdout), return_code, stderr, and formatted results and attachments."
    )
    data_model = RunScriptData
    privileged = True
    rerun_safe = False  # a program may deploy, pay or delete: running it twice is the operator's call

    def check(self, node: PreparedNode) -> list[str]:
        """Every ``$NAME`` must be declared; the results format must be installed."""
        data: RunScriptData = node.data
        problems = []
        names = {*data.variables, RUNDIR}
        for name in unbound_names(data.command, names):
            problems.append(f"data.command: ${name} is not bound by any variable (declared: {sorted(names)})")
        if data.results is not None and self.plugins is not None:
            try:  # built once here, at prepare time; runs reuse it
                data.results.formatter(self.plugins.formatters)
            except ConfigInvalid as exc:
                problems.append(f"data.results: {exc}")
        return problems

    async def run(self, data: RunScriptData, ctx: NodeContext) -> NodeOutput:
        """Build argv and environment, run the program, collect its results.

        The node waits for one of the process's program slots (``ctx.host.process_slots``,
        ``RUNWIRE_MAX_PROCESSES``) and holds it from making the run directory to its result; the
        directory is then removed by the host's disposal (``ctx.host.disposal``), in the
        background, or by the node itself when the disposal's backlog is full.
        """
        formatter = None
        if data.results is not None:
            if self.plugins is None:
                raise NodeFailed("output formatting needs the node to be loaded through a plugin registry")
            try:
                formatter = data.results.formatter(self.plugins.formatters)
            except ConfigInvalid as exc:
                raise NodeFailed(str(exc)) from None
        values = {name: to_text(ctx.render(value)) for name, value in data.variables.items()}
        async with ctx.host.process_slots:
            return await self._execute(data, ctx, values, formatter)

    async def _execute(
        self, data: RunScriptData, ctx: NodeContext, values: dict[str, str], formatter: Any
    ) -> NodeOutput:
        host = ctx.host
        parent = data.rundir_parent or host.rundir_parent
        rundir = await open_rundir(parent, data.rundir_base, host.run_as) if data.use_rundir else None
        try:
            if rundir is not None:
                values[RUNDIR] = str(rundir)
            argv = build_argv(data.command, values, ctx.render)
            argv.extend(self._extra_args(data, ctx))
            env = self._environment(data, ctx, values)
            stdin = self._stdin(data, ctx)
            try:
                if data.executables_dir is not None:  # a refusal is like "cannot start": a result
                    argv[0] = self._jailed(argv[0], data.executables_dir)  # when check_exit is off
                done = await run_program(
                    argv,
                    cwd=rundir,
                    env=env,
                    stdin=stdin,
                    max_output=data.max_output_bytes,
                    timeout=data.command_timeout,
                    run_as=host.run_as,
                )
            except NodeFailed as exc:
                if data.check_exit:
                    raise
                return NodeOutput({"content": "", "return_code": -1, "stderr": "", "error": str(exc)})
            read_from, removed = rundir, rundir if not data.keep_rundir else None
            rundir = None  # removed below, so the finally has none left
            if not self._cheap_result(data, done, read_from):
                # reading and parsing big files takes long: never on the event loop; the run
                # directory goes in the same trip to a thread
                work = functools.partial(self._result, data, done, read_from, formatter)
                return NodeOutput(await in_thread_then_remove(work, removed))
            try:
                return NodeOutput(self._result(data, done, read_from, formatter))
            finally:
                # removing waits for the disk (most of a millisecond per rmdir on some file
                # systems): the host's disposal does it in the background unless it is behind
                if removed is not None and not host.disposal.submit(removed, EMPTY):
                    await close_rundir(removed)
        finally:
            if rundir is not None and not data.keep_rundir:
                await close_rundir(rundir)

    @staticmethod
    def _cheap_result(data: RunScriptData, done: Completed, rundir: Path | None) -> bool:
        """Whether :meth:`_result` is cheap enough for the event loop: it collects no attachments,
        decodes at most :data:`INLINE_RESULT_BYTES` of output and parses at most as much (a failed
        program's result parses nothing). A results file's size is taken from ``stat`` here;
        reading it stays as safe as ever (:func:`runwire.outputs.read_regular_file`: no link
        followed, a FIFO refused unread)."""
        spec = data.results
        if data.attachments or len(done.stdout.data) + len(done.stderr.data) > INLINE_RESULT_BYTES:
            return False
        if spec is None or done.timed_out or done.return_code != 0:
            return True
        if spec.kind != "file":
            stream = done.stdout if spec.kind == "stdout" else done.stderr
            return len(stream.data) <= INLINE_RESULT_BYTES
        try:
            info = os.stat((rundir or Path.cwd()) / (spec.input_path or ""), follow_symlinks=False)
        except (OSError, ValueError):
            return False  # the thread's read says what is wrong with it
        return stat.S_ISREG(info.st_mode) and info.st_size <= INLINE_RESULT_BYTES

    @staticmethod
    def _extra_args(data: RunScriptData, ctx: NodeContext) -> list[str]:
        if data.args is None:
            return []
        args = ctx.render(data.args)
        if args == "":
            return []
        if not isinstance(args, list):
            raise NodeFailed(f"args must be a list, got {type(args).__name__}")
        return [to_text(a) for a in args]

    @staticmethod
    def _jailed(name: str, root: str) -> str:
        """``name`` resolved inside ``root`` now, when it runs (the directory may have changed
        since the request was checked)."""
        try:
            return str(resolve_executable(name, root or None))
        except ExecutableRefused as exc:
            raise NodeFailed(str(exc), retryable=False) from None

    @staticmethod
    def _environment(data: RunScriptData, ctx: NodeContext, values: dict[str, str]) -> dict[str, str]:
        env = ctx.host.program_environment(data.env_allowlist)
        env.update(values)
        env.update({k: to_text(ctx.render(v)) for k, v in data.env.items()})
        return env

    @staticmethod
    def _stdin(data: RunScriptData, ctx: NodeContext) -> bytes | None:
        if data.stdin is None:
            return None
        text = to_text(ctx.render(data.stdin))
        try:  # as arguments are (os.fsencode): U+DC80-U+DCFF stand for the bytes 0x80-0xFF
            return text.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:  # another lone surrogate a template made
            why = "stdin holds a lone UTF-16 surrogate, which is not text"
            raise NodeFailed(why, retryable=False) from None

    @staticmethod
    def _result(data: RunScriptData, done: Completed, rundir: Path | None, formatter: Any) -> dict[str, Any]:
        """The node's result; reads the run directory's files, so it runs in a thread."""
        stderr = done.stderr.text()
        if done.timed_out:
            message = f"command timed out after {data.command_timeout:g} s; its process group was killed"
            if data.check_exit:
                raise NodeFailed(message)
            return {"content": done.stdout.text(), "return_code": -1, "stderr": stderr, "error": message}
        if done.return_code != 0 and data.check_exit:
            tail = stderr[-STDERR_TAIL:].strip()
            how = (
                f"was killed by signal {-done.return_code}"
                if done.return_code < 0
                else f"exited with code {done.return_code}"
            )
            raise NodeFailed(f"command {how}" + (f": {tail}" if tail else ""))
        result: dict[str, Any] = {
            "content": done.stdout.text(),
            "return_code": done.return_code,
            "stderr": stderr,
        }
        if done.stdout.dropped or done.stderr.dropped:
            result["truncated"] = {"stdout": done.stdout.dropped, "stderr": done.stderr.dropped}
        if done.return_code == 0:
            base = rundir if rundir is not None else Path.cwd()
            if formatter is not None and data.results is not None:
                result["results"] = read_results(
                    data.results, formatter, base, done.stdout.data, done.stderr.data
                )
            if data.attachments:
                result["attachments"] = collect_attachments(
                    base, data.attachments, data.attachments_max_bytes
                )
        return result
