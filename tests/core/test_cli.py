"""The ``runwire run`` and ``runwire check`` commands, as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).parents[2]
RUNWIRE = str(Path(sys.executable).parent / "runwire")
HELLO = str(REPO / "examples" / "hello.json")


def runwire(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([RUNWIRE, *args], capture_output=True, text=True, timeout=60)


def test_run_prints_the_run_record_as_json() -> None:
    out = runwire("run", HELLO, "--input", '{"name": "Ada", "age": 36}', "--json")
    assert out.returncode == 0, out.stderr
    record = json.loads(out.stdout)
    assert set(record) == {"id", "status", "data", "metrics"}
    assert record["status"] == "succeed"
    assert record["data"]["adult"]["result"]["content"] == "Welcome, Ada!"
    assert record["data"]["minor"]["status"] == "skipped"
    assert record["metrics"] == {"total_cost": 0.0}


def test_run_shows_progress_and_fails_with_exit_1() -> None:
    out = runwire("run", HELLO, "--input", '{"age": "seven"}', "--progress")
    assert out.returncode == 1
    assert "trigger failed" in out.stderr
    assert "'name' is required" in out.stderr
    assert json.loads(out.stdout)["status"] == "failed"


def test_progress_prints_errors_as_text_not_as_markup_or_escapes(tmp_path: Path) -> None:
    """A node's error quotes the input and the program's stderr: ``[/x]`` was read as rich markup
    (a MarkupError traceback) and an escape sequence reached the terminal as it was."""
    out = runwire("run", HELLO, "--input", '{"name": "a", "age": "[/x]"}', "--progress")
    assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr
    assert "must be a number, got '[/x]'" in out.stderr
    script = {
        "nodes": [
            {"id": "start", "type": "trigger-node", "data": {}},
            {
                "id": "loud",
                "type": "basic-node",
                "data": {"name": "Run Script", "command": ["sh", "-c", "printf '[/y] \\033[2J' >&2; exit 3"]},
            },
        ],
        "edges": [{"id": "e", "source": "start", "target": "loud"}],
        "start_node": "start",
    }
    path = tmp_path / "loud.json"
    path.write_text(json.dumps(script))
    out = runwire("run", str(path), "--progress")
    assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr
    assert "exited with code 3: [/y] \\x1b[2J" in out.stderr and "\x1b" not in out.stderr, out.stderr


def test_run_accepts_a_whole_workflow_record(tmp_path: Path) -> None:
    record = tmp_path / "record.json"
    record.write_text(
        json.dumps({"id": 1, "project": 2, "title": "t", "data": json.loads(Path(HELLO).read_text())})
    )
    out = runwire("run", str(record), "--input", '{"name": "Bo", "age": 3}', "--json")
    assert json.loads(out.stdout)["data"]["minor"]["result"]["content"] == "Sorry Bo, adults only."


def test_check_reports_problems_and_exit_code(tmp_path: Path) -> None:
    assert runwire("check", HELLO).returncode == 0
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"nodes": [{"id": "a", "type": "nope", "data": {}}], "start_node": "zz"}))
    out = runwire("check", str(bad))
    assert out.returncode == 1
    assert "workflow: start_node zz is not a node of this workflow" in out.stdout
    assert "node a: unknown node type 'nope'" in out.stdout


def test_run_refuses_an_invalid_workflow_and_bad_files(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"nodes": [], "start_node": null}')
    out = runwire("run", str(bad))
    assert out.returncode == 2 and "start_node is missing" in out.stderr
    garbage = tmp_path / "garbage.json"
    garbage.write_bytes(b"\xff\xfe not json")
    out = runwire("check", str(garbage))
    assert out.returncode != 0 and "Traceback" not in out.stderr


def test_a_workflow_of_the_wrong_shape_is_refused_naming_each_problem(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(
        json.dumps(
            {
                "nodes": [{"id": "a", "type": "trigger-node"}, {"id": "b"}],
                "edges": [{"source": "a", "target": 3}],
                "start_node": "a",
            }
        )
    )
    for command in ("run", "check"):
        out = runwire(command, str(bad))
        assert out.returncode == 1
        assert out.stderr.strip() == (
            f"Error: {bad}: not a workflow: nodes.1.type: Field required; "
            "edges.0.target: Input should be a valid string"
        )


def test_hostile_json_is_refused_clearly_by_run_and_check(tmp_path: Path) -> None:
    huge = "1" + "0" * 5000
    for text, said in (
        (f'{{"name": {huge}}}', "digits"),
        ('{"name": NaN}', "NaN"),
        ('{"name": "a", "name": "b"}', "duplicate key"),
    ):
        out = runwire("run", HELLO, "--input", text)
        assert out.returncode == 2 and said in out.stderr and "Traceback" not in out.stderr, out.stderr
        workflow = tmp_path / "hostile.json"
        workflow.write_text(json.dumps(json.loads(Path(HELLO).read_text()))[:-1] + f', "x": {text}}}')
        checked = runwire("check", str(workflow))
        assert checked.returncode != 0 and said in checked.stderr + checked.stdout, checked
        assert "Traceback" not in checked.stderr
    # text that is not JSON at all stays what it always was: raw input
    out = runwire("run", HELLO, "--input", "not json", "--json")
    assert json.loads(out.stdout)["data"]["trigger"]["status"] == "failed"  # 'name' is required


def test_run_takes_a_10000_node_chain_once_the_node_limit_is_raised(tmp_path: Path) -> None:
    """RUNWIRE_MAX_NODES (or --max-nodes) raises the default limit of 2,000 nodes; a long
    chain of templated if-else nodes then runs to its end."""
    nodes = [{"id": "start", "type": "trigger-node", "data": {}}]
    links = []
    previous = "start"
    for i in range(9_997):
        condition = {"left": f"{{{{ {previous}.result.content }}}}", "operator": "!=", "right": "x"}
        nodes.append({"id": f"n{i}", "type": "if-else-node", "data": {"condition": condition}})
        links.append({"id": f"t{i}", "source": previous, "target": f"n{i}", "sourceHandle": "condition-true"})
        links.append({"id": f"f{i}", "source": f"n{i}", "target": "no", "sourceHandle": "condition-false"})
        previous = f"n{i}"
    nodes.append({"id": "yes", "type": "output-node", "data": {"output": "{{ n9996.result.content }}"}})
    nodes.append({"id": "no", "type": "output-node", "data": {}})
    links.append({"id": "last", "source": previous, "target": "yes", "sourceHandle": "condition-true"})
    path = tmp_path / "chain.json"
    path.write_text(json.dumps({"nodes": nodes, "edges": links, "start_node": "start"}))

    refused = runwire("run", str(path), "--json")
    assert refused.returncode == 2
    assert "10000 nodes, over the limit of 2000 (RUNWIRE_MAX_NODES)" in refused.stderr
    env = {**os.environ, "RUNWIRE_MAX_NODES": "10000"}
    out = subprocess.run(
        [RUNWIRE, "run", str(path), "--json"], capture_output=True, text=True, timeout=120, env=env
    )
    assert out.returncode == 0, out.stderr
    record = json.loads(out.stdout)
    assert record["status"] == "succeed"
    assert len(record["data"]) == 10_000
    assert record["data"]["yes"]["result"] == {"content": "true"}
    assert record["data"]["no"]["status"] == "skipped"


def test_run_json_is_one_compact_line_as_the_api_writes_it() -> None:
    out = runwire("run", HELLO, "--input", '{"name": "Ada", "age": 36}', "--json")
    assert out.returncode == 0, out.stderr
    line, rest = out.stdout.split("\n", 1)
    assert rest == "" and '","' in line and '", "' not in line  # no spaces between items
    assert json.loads(line)["data"]["adult"]["result"]["content"] == "Welcome, Ada!"


def test_compact_json_writes_what_msgspec_refuses_as_the_server_stores_it() -> None:
    from runwire_server.cli.workflows import compact_json

    assert compact_json({"a": [1, 2.5, None, "é"], "n": float("nan")}) == '{"a":[1,2.5,null,"é"],"n":null}'
    assert compact_json({"big": 10**40}) == '{"big":' + str(10**40) + "}"
    # a lone surrogate cannot be printed: U+FFFD, as the server stores it; NaN still null
    assert compact_json({"s": "\ud800x", "n": float("nan")}) == '{"s":"\ufffdx","n":null}'
    assert compact_json({"o": object})[:12] == '{"o":"<class'  # its text, as stored
    assert compact_json({(1, 2): 1}) == '{"(1, 2)":1}'


def test_run_prints_a_record_holding_a_lone_surrogate(tmp_path: Path) -> None:
    """A template can make a lone surrogate, which no UTF-8 output can hold: the record is
    printed as the server stores it (U+FFFD), not a UnicodeEncodeError traceback after the run."""
    workflow = {
        "nodes": [
            {"id": "start", "type": "trigger-node", "data": {}},
            {"id": "out", "type": "output-node", "data": {"output": "{{ '\\ud800' }}x"}},
        ],
        "edges": [{"id": "e", "source": "start", "target": "out"}],
        "start_node": "start",
    }
    path = tmp_path / "surrogate.json"
    path.write_text(json.dumps(workflow))
    for args in (["--json"], []):
        out = runwire("run", str(path), *args)
        assert out.returncode == 0 and "Traceback" not in out.stderr, out.stderr
        assert json.loads(out.stdout)["data"]["out"]["result"]["content"] == "\ufffdx"
