"""The built-in csv/json/text output formatters and attachments, through the registry."""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

import pytest

from runwire.errors import ConfigInvalid, NodeFailed
from runwire.outputs import ResultsSpec, build_formatter, collect_attachments, read_results
from runwire.plugins import Plugins

LIMS = (
    "Plate_384_Number,Sample_Well,marker1,marker2,classification\n"
    "1,A01,CATCTGTATC,ATGAGACTTG,failed: low S2 & RPP30\n"
    "NA,A02,GTTCGGCATG,CCAATCTGAG,negative\n"
    "2,A03,TTGG\n"
)
REMAP = [
    {"input_name": "Plate_384_Number", "output_name": "plateIndex", "skip_list": ["NA"]},
    {"input_name": "Sample_Well", "output_name": "plateCell"},
    {"input_name": "classification", "output_name": "classification"},
]


def fmt(plugins: Plugins, **spec: Any) -> Any:
    return build_formatter(ResultsSpec.model_validate({"kind": "stdout", **spec}), plugins.formatters)


def test_csv_plain_rows(plugins: Plugins) -> None:
    rows = fmt(plugins, format="csv").format_bytes(LIMS.encode())
    assert len(rows) == 3 and rows[0]["Sample_Well"] == "A01" and rows[2]["marker2"] is None


def test_csv_remapped_columns_and_skip_list(plugins: Plugins) -> None:
    rows = fmt(plugins, format="csv", remapped_columns=REMAP).format_bytes(LIMS.encode())
    # NA row skipped; the short row lacks "classification" and is dropped
    assert rows == [{"plateIndex": "1", "plateCell": "A01", "classification": "failed: low S2 & RPP30"}]


def test_csv_bom_and_crlf(plugins: Plugins) -> None:
    rows = fmt(plugins, format="csv").format_bytes(b"\xef\xbb\xbfa,b\r\n1,2\r\n")
    assert rows == [{"a": "1", "b": "2"}]


def test_csv_not_utf8_fails(plugins: Plugins) -> None:
    with pytest.raises(NodeFailed, match="not UTF-8"):
        fmt(plugins, format="csv").format_bytes(b"a,b\n\xff\xfe,1\n")


def test_json(plugins: Plugins) -> None:
    assert fmt(plugins, format="json").format_bytes(b'{"a": [1, 2]}') == {"a": [1, 2]}
    with pytest.raises(NodeFailed, match="does not parse"):
        fmt(plugins, format="json").format_bytes(b"{nope")
    with pytest.raises(NodeFailed, match="nested deeper"):
        fmt(plugins, format="json").format_bytes(b"[" * 100_000 + b"]" * 100_000)
    for refused in (b'{"a": NaN}', b'{"a": 1e400}', b'{"a": 1, "a": 2}', b"[" + b"9" * 5000 + b"]"):
        with pytest.raises(NodeFailed, match="is refused") as failed:
            fmt(plugins, format="json").format_bytes(refused)
        assert not failed.value.retryable


def test_text_never_fails(plugins: Plugins) -> None:
    assert fmt(plugins, format="text").format_bytes(b"ok \xff") == "ok \ufffd"


def test_config_errors_name_the_field(plugins: Plugins) -> None:
    with pytest.raises(ConfigInvalid, match="unknown format 'xml'"):
        fmt(plugins, format="xml")
    with pytest.raises(ConfigInvalid, match="input_path"):
        build_formatter(ResultsSpec(kind="file", format="csv"), plugins.formatters)
    with pytest.raises(ConfigInvalid, match=r"outputs\.results\.remapped_columns"):
        fmt(plugins, format="csv", remapped_columns=[{"input_name": "a"}])
    with pytest.raises(
        ConfigInvalid,
        match=r"outputs\.results\.remaped_columns: unknown field \(did you mean 'remapped_columns'\?\)",
    ):
        fmt(plugins, format="csv", remaped_columns=[])


def test_read_results_from_file_stdout_stderr(plugins: Plugins, tmp_path: Path) -> None:
    (tmp_path / "r.json").write_text("[1]")
    spec = ResultsSpec(kind="file", format="json", input_path="r.json")
    assert read_results(spec, build_formatter(spec, plugins.formatters), tmp_path, b"[2]", b"[3]") == [1]
    for kind, expected in (("stdout", [2]), ("stderr", [3])):
        spec = ResultsSpec(kind=kind, format="json")
        assert (
            read_results(spec, build_formatter(spec, plugins.formatters), tmp_path, b"[2]", b"[3]")
            == expected
        )


@pytest.mark.parametrize(
    "path", ["../x", "/etc/passwd", "a/../../x", "link", "linkdir/passwd", "hard", "bad\x00name", "."]
)
def test_results_never_leave_the_run_directory(plugins: Plugins, tmp_path: Path, path: str) -> None:
    rundir = tmp_path / "in"
    rundir.mkdir()
    os.symlink("/etc/passwd", rundir / "link")
    os.symlink("/etc", rundir / "linkdir")
    (tmp_path / "secret").write_text("s")
    os.link(tmp_path / "secret", rundir / "hard")  # a hard link reads as a file of its own
    spec = ResultsSpec(kind="file", format="text", input_path=path)
    with pytest.raises(NodeFailed) as refused:
        read_results(spec, build_formatter(spec, plugins.formatters), rundir, b"", b"")
    assert not refused.value.retryable


def test_a_directory_swapped_for_a_link_while_results_are_read_is_never_followed(
    plugins: Plugins, tmp_path: Path
) -> None:
    """A program (or a child it left behind) flips ``out`` between a directory and a link to
    ``/`` while the server reads ``out/etc/passwd``: every read gives the decoy or is refused."""
    import threading

    rundir = tmp_path / "run"
    (rundir / "out" / "etc").mkdir(parents=True)
    (rundir / "out" / "etc" / "passwd").write_text("decoy")
    stop = threading.Event()

    def flip() -> None:
        out, hold = rundir / "out", rundir / "hold"
        while not stop.is_set():
            out.rename(hold)
            out.symlink_to("/")
            out.unlink()
            hold.rename(out)

    flipper = threading.Thread(target=flip)
    flipper.start()
    spec = ResultsSpec(kind="file", format="text", input_path="out/etc/passwd")
    formatter = build_formatter(spec, plugins.formatters)
    seen: set[str] = set()
    try:
        for _ in range(3000):
            try:
                seen.add(read_results(spec, formatter, rundir, b"", b""))
            except NodeFailed as exc:
                seen.add(type(exc).__name__)
    finally:
        stop.set()
        flipper.join()
    assert seen <= {"decoy", "NodeFailed"}, seen
    assert "root:" not in "".join(seen)


def test_attachments_globs_names_and_cap(tmp_path: Path) -> None:
    (tmp_path / "out" / "deep").mkdir(parents=True)
    (tmp_path / "out" / "a.pdf").write_bytes(b"%PDF a")
    (tmp_path / "out" / "deep" / "b.pdf").write_bytes(b"%PDF b")
    (tmp_path / "c.txt").write_text("c")
    got = collect_attachments(tmp_path, ["out/**/*.pdf", "*.txt"], 1000)
    assert sorted(got) == ["a.pdf", "b.pdf", "c.txt"]
    assert base64.b64decode(got["b.pdf"]) == b"%PDF b"
    with pytest.raises(NodeFailed, match="exceed 10 bytes"):
        collect_attachments(tmp_path, ["out/**/*.pdf"], 10)
    for bad in ("../*", "/etc/*"):
        with pytest.raises(NodeFailed, match="inside the run directory"):
            collect_attachments(tmp_path, [bad], 1000)
