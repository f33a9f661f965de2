"""Workflow validation: every problem at once, each naming its node or edge."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from runwire.check import check_workflow, prepare_workflow
from runwire.errors import WorkflowInvalid
from runwire.workflow import parse_workflow_data

from .helpers import plugins_with_test_nodes

REFERENCE = json.loads((Path(__file__).parents[1] / "data" / "reference_example.json").read_text())


def problems(data: dict[str, Any]) -> list[str]:
    return check_workflow(parse_workflow_data(data), plugins_with_test_nodes())


def test_reference_example_is_valid_with_an_llm_plugin() -> None:
    assert problems(REFERENCE["data"]) == []


def test_every_problem_is_reported_at_once() -> None:
    data = {
        "nodes": [
            {"id": "t", "type": "trigger-node", "data": {"input_fields": [{"id": "a"}, {"id": "a"}, {"title": "no id"}]}},
            {"id": "x", "type": "mystery-node", "data": {}},
            {"id": "b", "type": "basic-node", "data": {"name": "Nobody Handles This"}},
            {"id": "if", "type": "if-else-node", "data": {"condition": {"left": "1", "operator": "=~"}}},
            {"id": "o", "type": "output-node", "data": {"output": "{{ ghost.result.content }} {{ later.result.content }}"}},
            {"id": "later", "type": "output-node", "data": {"output": "{{ input. }}"}},
            {"id": "if2", "type": "if-else-node", "data": {"condition": {"left": "1", "right": "1"}}},
        ],
        "edges": [
            {"id": "e1", "source": "t", "target": "o"},
            {"id": "e2", "source": "o", "target": "later"},
            {"id": "e3", "source": "t", "target": "nowhere"},
            {"id": "e4", "source": "t", "target": "if2"},
        ],
        "start_node": "missing",
    }
    found = problems(data)
    text = "\n".join(found)
    assert "workflow: start_node missing is not a node of this workflow" in found
    assert "node x: unknown node type 'mystery-node'" in text
    assert "node b: unknown node type 'basic-node' named 'Nobody Handles This'" in text
    assert "node if: data.condition.operator" in text
    assert "edge e3: target nowhere is not a node" in found
    assert "node o: data.output refers to node ghost, which does not exist" in found
    assert "node o: data.output refers to node later, which is not upstream" in found
    assert any(p.startswith("node later: data.output: template syntax error") for p in found)
    assert "node if2: if-else has no true branch" in found
    assert "node if2: if-else has no false branch" in found
    assert any(p.startswith("node t: data.input_fields.2.id") for p in found)
    assert len(found) >= 11


def test_input_field_declared_twice() -> None:
    data = {
        "nodes": [{"id": "t", "type": "trigger-node", "data": {"input_fields": [{"id": "a"}, {"id": "a"}]}}],
        "start_node": "t",
    }
    assert problems(data) == ["node t: input field 'a' is declared twice"]


def test_cycle_is_reported_with_its_path() -> None:
    data = {
        "nodes": [
            {"id": "t", "type": "trigger-node", "data": {}},
            {"id": "a", "type": "event-node", "data": {}},
            {"id": "b", "type": "event-node", "data": {}},
        ],
        "edges": [
            {"id": "1", "source": "t", "target": "a"},
            {"id": "2", "source": "a", "target": "b"},
            {"id": "3", "source": "b", "target": "a"},
        ],
        "start_node": "t",
    }
    assert problems(data) == ["workflow: cycle through nodes a -> b -> a"]


def test_missing_start_node_and_duplicate_ids() -> None:
    data = {"nodes": [{"id": "a", "type": "trigger-node"}, {"id": "a", "type": "trigger-node"}]}
    assert problems(data) == ["node a: duplicate node id", "workflow: start_node is missing"]


def test_if_else_branch_must_be_connected() -> None:
    data = copy.deepcopy(REFERENCE["data"])
    if_node = data["nodes"][1]
    if_node["data"]["true_node"] = "052af1cb-86fd-443a-bc25-626c365025db"
    found = problems(data)
    assert any("true branch 052af1cb" in p and "not connected" in p for p in found)


def test_next_nodes_to_unknown_node() -> None:
    data = {"nodes": [{"id": "t", "type": "trigger-node", "data": {"next_nodes": ["zzz"]}}], "start_node": "t"}
    assert problems(data) == ["node t: next_nodes names 'zzz', which is not a node"]


def test_prepare_raises_with_all_problems() -> None:
    with pytest.raises(WorkflowInvalid) as info:
        prepare_workflow(parse_workflow_data({"nodes": []}), plugins_with_test_nodes())
    assert info.value.problems == ["workflow: start_node is missing"]
