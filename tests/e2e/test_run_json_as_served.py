"""``runwire run`` prints a run's record as a server stores and returns the same run over HTTP,
whatever a plugin's node put in its result (bytes, dates, sets, enums, NaN, deep nesting) and
whatever its error holds (a NUL)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from runwire_server.testing import running_server
from tests.helpers import KEY, api, create_workflow, with_plugin

RUNWIRE = str(Path(sys.executable).parent / "runwire")

ODD_PLUGIN = """
    import datetime
    import enum

    from runwire.errors import NodeFailed
    from runwire.hookspecs import hookimpl
    from runwire.nodes import NodeOutput, NodeType


    class Color(enum.Enum):
        RED = "red"


    def nested(depth):
        value = 0
        for _ in range(depth):
            value = [value]
        return value


    class OddNode(NodeType):
        type = "odd-node"

        async def run(self, data, ctx):
            return NodeOutput({
                "bytes": b"\\x00ab\\xff",
                "bytearray": bytearray(b"x"),
                "datetime": datetime.datetime(2024, 1, 2, 3, 4, 5),
                "set": {1},
                "frozenset": frozenset([2]),
                "enum": Color.RED,
                "enum key": {Color.RED: 1},
                "nan": float("nan"),
                "inf": float("-inf"),
                "big": 2 ** 70,
                "huge": 10 ** 5000,
                "surrogate": "a\\ud800b",
                "tuple key": {(1, 2): 3},
                "fine": {"a": [1, 2.5, None, True, "é"]},
            })


    class DeepNode(NodeType):
        type = "deep-node"

        async def run(self, data, ctx):
            return NodeOutput({"deep": nested(1_100)})


    class CostlyNode(NodeType):
        type = "costly-node"

        async def run(self, data, ctx):
            return NodeOutput({"content": "spent"}, cost=float("nan"))


    class FailNode(NodeType):
        type = "fail-node"

        async def run(self, data, ctx):
            raise NodeFailed("the tool wrote a\\x00b")


    @hookimpl
    def register_node_types():
        return [DeepNode, OddNode, CostlyNode, FailNode]
"""

WORKFLOW = {
    "start_node": "trigger",
    "nodes": [
        {"id": "trigger", "type": "trigger-node", "data": {"name": "Trigger"}},
        {"id": "deep", "type": "deep-node", "data": {"name": "Deep"}},
        {"id": "odd", "type": "odd-node", "data": {"name": "Odd"}},
        {"id": "fail", "type": "fail-node", "data": {"name": "Fail"}},
    ],
    "edges": [
        {"id": "e1", "source": "trigger", "target": "deep"},
        {"id": "e2", "source": "deep", "target": "odd"},
        {"id": "e3", "source": "odd", "target": "fail"},
    ],
}


@pytest.fixture
def odd_plugin_path(tmp_path: Path) -> str:
    """A ``PYTHONPATH`` entry with a plugin whose node returns values JSON does not have."""
    root = tmp_path / "odd-plugin"
    info = root / "runwire_test_odd-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: runwire-test-odd\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[runwire]\ntest-odd = runwire_test_odd\n")
    (root / "runwire_test_odd.py").write_text(textwrap.dedent(ODD_PLUGIN))
    return str(root)


def run_locally(path: Path, env: dict[str, str], *flags: str) -> dict[str, Any]:
    out = subprocess.run(
        [RUNWIRE, "run", str(path), *flags], capture_output=True, text=True, timeout=120, env=env
    )
    assert out.returncode == 1, out.stderr  # the fail node fails the run
    assert "Traceback" not in out.stderr, out.stderr
    record: dict[str, Any] = json.loads(out.stdout)  # strict JSON: no NaN
    return record


def test_runwire_run_prints_the_record_the_server_stores_and_returns(
    tmp_path: Path, odd_plugin_path: str
) -> None:
    env = with_plugin({"RUNWIRE_API_KEYS": KEY}, odd_plugin_path)
    path = tmp_path / "odd.json"
    path.write_text(json.dumps(WORKFLOW))
    local_env = {**os.environ, **env}
    printed = run_locally(path, local_env, "--json")
    pretty = run_locally(path, local_env)
    with running_server(env=env) as server, api(server.url) as client:
        workflow = create_workflow(client, WORKFLOW)
        reply = client.post(f"/api/v1/workflows/{workflow}/run/", json={}, headers={"Prefer": "wait=30"})
        served = reply.json()["data"]
        assert served["status"] == "failed", served
        polled = client.get("/api/v1/workflows/workflow_result/", params={"id": served["id"]}).json()["data"]
    assert polled == served
    for record in (printed, pretty):
        assert record["data"] == served["data"]
        assert record["status"] == served["status"]
        assert record["error"] == served["error"] == "node fail failed: the tool wrote a\ufffdb"
        assert record["metrics"] == served["metrics"]
    odd = served["data"]["odd"]["result"]
    assert odd["bytes"] == "b'\\x00ab\\xff'" and odd["set"] == "{1}" and odd["enum"] == "Color.RED"
    assert odd["nan"] is None and odd["surrogate"] == "a\ufffdb"
    assert json.dumps(served["data"]["deep"]["result"]).count("[") < 100  # cut, as stored


def test_a_cost_that_is_no_number_loses_nothing(tmp_path: Path, odd_plugin_path: str) -> None:
    """A plugin's node reporting a NaN cost: the run's total is no number, which SQLite stores as
    NULL in a NOT NULL column: the run's terminal write failed, and the run ended ``failed`` with
    an internal error and none of its results, where ``runwire run`` showed it ``succeed``."""
    workflow = {
        "start_node": "trigger",
        "nodes": [
            {"id": "trigger", "type": "trigger-node", "data": {"name": "Trigger"}},
            {"id": "costly", "type": "costly-node", "data": {"name": "Costly"}},
        ],
        "edges": [{"id": "e1", "source": "trigger", "target": "costly"}],
    }
    env = with_plugin({"RUNWIRE_API_KEYS": KEY}, odd_plugin_path)
    path = tmp_path / "costly.json"
    path.write_text(json.dumps(workflow))
    out = subprocess.run(
        [RUNWIRE, "run", str(path), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **env},
    )
    assert out.returncode == 0, out.stderr
    printed = json.loads(out.stdout)
    with running_server(env=env) as server, api(server.url) as client:
        workflow_id = create_workflow(client, workflow)
        reply = client.post(f"/api/v1/workflows/{workflow_id}/run/", json={}, headers={"Prefer": "wait=30"})
        served = reply.json()["data"]
        listed = client.get(f"/api/v1/workflows/{workflow_id}/history/", params={"ordering": "-cost"})
        assert listed.status_code == 200, listed.text
    assert served["status"] == printed["status"] == "succeed", served
    assert served["data"] == printed["data"] and served["data"]["costly"]["result"] == {"content": "spent"}
    assert served["metrics"] == printed["metrics"] == {"total_cost": None}
