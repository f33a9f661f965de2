"""Which nodes make an interrupted run end ``failed`` instead of starting over."""

from __future__ import annotations

from typing import Any

import pytest

from runwire.check import prepare_workflow
from runwire.plugins import Plugins
from runwire.workflow import PreparedWorkflow, parse_workflow_data
from runwire_server.frontdoors.taskconfig import parse_task_config, task_workflow
from runwire_server.interrupted import RerunPolicy, interrupted_nodes, interruption, may_rerun, unsafe_nodes
from tests.helpers import reference_data, script_workflow


def http_node(method: str, **data: Any) -> dict[str, Any]:
    return {
        "id": "h",
        "type": "basic-node",
        "data": {"name": "HTTP Request", "url": "https://x", "method": method, **data},
    }


def prepared(plugins: Plugins, data: dict[str, Any]) -> PreparedWorkflow:
    return prepare_workflow(parse_workflow_data(data), plugins)


def one_node(node: dict[str, Any]) -> dict[str, Any]:
    trigger = {"id": "t", "type": "trigger-node", "data": {"name": "Trigger", "input_fields": []}}
    return {
        "start_node": "t",
        "nodes": [trigger, node],
        "edges": [{"id": "e", "source": "t", "target": node["id"]}],
    }


def test_trigger_if_else_output_and_llm_nodes_are_safe_to_repeat(plugins: Plugins) -> None:
    workflow = prepared(plugins, reference_data())
    assert unsafe_nodes(workflow, "safe") == frozenset()
    assert {node.type for node in workflow.nodes.values()} >= {"trigger-node", "if-else-node", "basic-node"}
    assert unsafe_nodes(prepared(plugins, script_workflow(["true"])), "safe") == {"s"}


@pytest.mark.parametrize(
    ("method", "safe"),
    [
        ("GET", True),
        ("head", True),
        ("OPTIONS", True),
        ("POST", False),
        ("DELETE", False),
        ("{{ input.m }}", False),
    ],
)
def test_an_http_request_is_safe_to_repeat_only_for_safe_methods(
    plugins: Plugins, method: str, safe: bool
) -> None:
    node = prepared(plugins, one_node(http_node(method))).nodes["h"]
    assert may_rerun(node, "safe") is safe


@pytest.mark.parametrize(
    ("field", "policy", "allowed"),
    [
        (None, "safe", False),
        (True, "safe", True),
        (None, "always", True),
        (False, "always", False),  # the workflow's own word beats the server's default
        (True, "never", False),  # the operator's "never" beats every node
    ],
)
def test_the_node_field_and_the_server_setting_decide_together(
    plugins: Plugins, field: bool | None, policy: RerunPolicy, allowed: bool
) -> None:
    extra = {} if field is None else {"rerun_if_interrupted": field}
    node = prepared(plugins, script_workflow(["true"], **extra)).nodes["s"]
    assert may_rerun(node, policy) is allowed
    trigger = prepared(plugins, script_workflow(["true"])).nodes["t"]
    assert may_rerun(trigger, policy) is (policy != "never")


def test_only_a_started_unsafe_node_stops_a_run_from_starting_over(plugins: Plugins) -> None:
    workflow = prepared(plugins, script_workflow(["true"]))
    assert interruption(workflow, {"t": {"id": "t", "status": "in progress"}}, "safe") is None
    assert interruption(workflow, {"s": {"id": "s", "status": "skipped"}}, "safe") is None
    running = {"t": {"id": "t", "status": "succeed"}, "s": {"id": "s", "status": "in progress"}}
    error = interruption(workflow, running, "safe")
    assert error == (
        "interrupted while node 'Run Script' (s) was running; not run again because it is not "
        "safe to repeat (set rerun_if_interrupted to allow)"
    )
    done = interruption(
        workflow, {"s": {"id": "s", "status": "succeed"}, "o": {"id": "o", "status": "in progress"}}, "safe"
    )
    assert done is not None and done.startswith("interrupted after node 'Run Script' (s) had run;")
    assert interrupted_nodes(running, error)["s"] == {"id": "s", "status": "failed", "error": error}
    assert interrupted_nodes(running, error)["t"] == {"id": "t", "status": "succeed"}


def test_the_task_config_key_sets_the_run_script_nodes_field() -> None:
    plain = task_workflow(parse_task_config({"command": ["true"]}), [])
    opted = task_workflow(parse_task_config({"command": ["true"], "rerun_if_interrupted": True}), [])
    assert "rerun_if_interrupted" not in plain.model_dump()["nodes"][1]["data"]
    assert opted.model_dump()["nodes"][1]["data"]["rerun_if_interrupted"] is True
