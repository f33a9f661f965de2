"""The engine: branching, skipping, concurrency, timeouts, retries, failures, costs, progress."""

from __future__ import annotations

import copy
import itertools
import json
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from runwire.check import prepare_workflow
from runwire.engine import Engine, RunObserver
from runwire.hookspecs import hookimpl
from runwire.nodes import NodeContext, NodeOutput, NodeType
from runwire.plugins import Plugins, get_plugin_manager
from runwire.records import NodeRecord, RunRecord
from runwire.sizes import flat_json_size, json_size
from runwire.workflow import parse_workflow_data
from tests.fake_nodes import plugins_with_test_nodes

REFERENCE = json.loads((Path(__file__).parents[1] / "data" / "reference_example.json").read_text())
TRUE_LLM = "58a35684-7d25-4dff-b012-609eab065751"
FALSE_LLM = "8f6bd336-3d7c-41fe-b94c-d47974c1e056"
IF_NODE = "0a4c9bdb-0378-4426-9e4d-0ba5c6e3e5a8"
TRIGGER = "052af1cb-86fd-443a-bc25-626c365025db"


def node(id: str, type: str = "event-node", **data: Any) -> dict[str, Any]:
    return {"id": id, "type": type, "data": data}


def edges(*pairs: tuple[str, str] | tuple[str, str, str]) -> list[dict[str, Any]]:
    out = []
    for i, p in enumerate(pairs):
        edge = {"id": f"e{i}", "source": p[0], "target": p[1]}
        if len(p) == 3:
            edge["sourceHandle"] = p[2]
        out.append(edge)
    return out


async def run(
    data: dict[str, Any],
    raw_input: Any = None,
    observer: RunObserver | None = None,
    engine: Engine | None = None,
) -> RunRecord:
    prepared = prepare_workflow(parse_workflow_data(data), plugins_with_test_nodes())
    engine = engine or Engine()
    return await engine.execute(prepared, {} if raw_input is None else raw_input, observer=observer)


@pytest.mark.parametrize(
    ("category", "taken", "skipped"),
    [("positive", TRUE_LLM, FALSE_LLM), ("negative", FALSE_LLM, TRUE_LLM), ("", FALSE_LLM, TRUE_LLM)],
)
async def test_reference_example_takes_the_right_branch(category: str, taken: str, skipped: str) -> None:
    data = copy.deepcopy(REFERENCE["data"])
    data["nodes"][0]["data"]["input_fields"][0]["input_requirements"] = False
    record = await run(data, {"category": category})
    out = record.to_json()
    assert out["status"] == "succeed"
    assert out["data"][taken]["status"] == "succeed"
    assert out["data"][skipped] == {"id": skipped, "status": "skipped"}
    assert out["data"][IF_NODE]["result"]["condition"] is (category == "positive")
    assert set(out["data"]) == {TRIGGER, IF_NODE, TRUE_LLM, FALSE_LLM}
    expected_text = "positive" if taken == TRUE_LLM else "negative"
    assert expected_text in out["data"][taken]["result"]["content"]


async def test_required_input_field_missing_fails_fast_naming_the_field() -> None:
    record = await run(REFERENCE["data"], {})
    assert record.status == "failed"
    assert "'category' is required" in record.nodes[TRIGGER].error
    assert set(record.nodes) == {TRIGGER}


@pytest.mark.parametrize(
    ("left", "op", "right", "expected"),
    [
        ("{{ input.n }}", ">", "9", True),  # numeric: 10 > 9 (as text "10" < "9")
        ("{{ input.n }}", "<", "9", False),
        ("{{ input.n }}", ">=", "10", True),
        ("{{ input.n }}", "<=", "10.0", True),
        ("{{ input.n }}", "!=", "10", False),
        ("{{ input.s }}", ">", "abc", True),  # text comparison
        ("{{ input.s }}", "==", "abd", True),
    ],
)
async def test_if_else_operators(left: str, op: str, right: str, expected: bool) -> None:
    data = {
        "nodes": [
            node("t", "trigger-node"),
            node("if", "if-else-node", condition={"left": left, "operator": op, "right": right}),
            node("yes"),
            node("no"),
        ],
        "edges": edges(("t", "if"), ("if", "yes", "condition-true"), ("if", "no", "condition-false")),
        "start_node": "t",
    }
    record = await run(data, {"n": 10, "s": "abd"})
    assert record.status == "succeed"
    assert record.nodes["yes" if expected else "no"].status == "succeed"
    assert record.nodes["no" if expected else "yes"].status == "skipped"


async def test_skip_propagates_but_joins_still_run() -> None:
    # if -> yes -> join ; if -> no -> after_no -> join : join runs once, after_no is skipped
    data = {
        "nodes": [
            node("t", "trigger-node"),
            node(
                "if", "if-else-node", condition={"left": "1", "right": "1"}, true_node="yes", false_node="no"
            ),
            node("yes"),
            node("no"),
            node("after_no"),
            node("join", "output-node"),
        ],
        "edges": edges(
            ("t", "if"),
            ("if", "yes"),
            ("if", "no"),
            ("yes", "join"),
            ("no", "after_no"),
            ("after_no", "join"),
        ),
        "start_node": "t",
    }
    record = await run(data)
    statuses = {k: v.status for k, v in record.nodes.items()}
    assert statuses == {
        "t": "succeed",
        "if": "succeed",
        "yes": "succeed",
        "no": "skipped",
        "after_no": "skipped",
        "join": "succeed",
    }
    assert record.nodes["join"].result == {"content": "yes"}


async def test_independent_branches_run_concurrently() -> None:
    # a waits for b's signal and b for a's: only concurrent execution can finish.
    data = {
        "nodes": [
            node("t", "trigger-node"),
            node("a", wait_for="from-b", signal="from-a", timeout=5),
            node("b", wait_for="from-a", signal="from-b", timeout=5),
        ],
        "edges": edges(("t", "a"), ("t", "b")),
        "start_node": "t",
    }
    record = await run(data)
    assert record.status == "succeed", record.error


async def test_node_timeout_fails_the_run_and_cancels_other_branches() -> None:
    data = {
        "nodes": [
            node("t", "trigger-node"),
            node("slow", seconds=30, timeout=0.05),
            node("waiting", wait_for="never"),
            node("after", "output-node"),
        ],
        "edges": edges(("t", "slow"), ("t", "waiting"), ("slow", "after")),
        "start_node": "t",
    }
    record = await run(data)
    assert record.status == "failed"
    assert record.nodes["slow"].status == "failed"
    assert "timed out after 0.05 s" in record.nodes["slow"].error
    assert record.nodes["waiting"].status == "failed"
    assert "cancelled because node slow failed" in record.nodes["waiting"].error
    assert "after" not in record.nodes
    assert record.error.startswith("node slow failed")


async def test_retries_then_success() -> None:
    data = {
        "nodes": [node("t", "trigger-node"), node("f", "flaky-node", fail_times=2, retries=2, retry_delay=0)],
        "edges": edges(("t", "f")),
        "start_node": "t",
    }
    record = await run(data)
    assert record.status == "succeed"
    assert record.nodes["f"].result == {"content": "ok after 3"}
    assert record.nodes["f"].attempts == 3


async def test_retries_exhausted_fail_with_last_error() -> None:
    data = {
        "nodes": [node("t", "trigger-node"), node("f", "flaky-node", fail_times=5, retries=1, retry_delay=0)],
        "edges": edges(("t", "f")),
        "start_node": "t",
    }
    record = await run(data)
    assert record.status == "failed"
    assert record.nodes["f"].error == "attempt 2 failed"


async def test_plugin_exception_fails_node_not_process() -> None:
    data = {
        "nodes": [node("t", "trigger-node"), node("c", "crash-node")],
        "edges": edges(("t", "c")),
        "start_node": "t",
    }
    record = await run(data)
    assert record.status == "failed"
    assert record.nodes["c"].error == "ZeroDivisionError: plugin bug"


async def test_template_injection_fails_only_that_node_with_a_clear_error() -> None:
    data = {
        "nodes": [node("t", "trigger-node"), node("o", "output-node", output="{{ ''.__class__.__mro__ }}")],
        "edges": edges(("t", "o")),
        "start_node": "t",
    }
    record = await run(data)
    assert record.status == "failed"
    assert "__class__" in record.nodes["o"].error and "not allowed" in record.nodes["o"].error


async def test_total_cost_sums_node_costs_and_output_templates_see_upstream_results() -> None:
    data = {
        "nodes": [
            node("t", "trigger-node"),
            node("llm-a", "basic-node", name="LLM OpenAI", message="A {{ input.x }}", cost=0.25),
            node("llm-b", "basic-node", name="LLM OpenAI", message="B", cost=0.5),
            node("out", "output-node", output="{{ llm-a.result.content }}+{{ llm-b.result.content }}"),
        ],
        "edges": edges(("t", "llm-a"), ("t", "llm-b"), ("llm-a", "out"), ("llm-b", "out")),
        "start_node": "t",
    }
    record = await run(data, {"x": 1})
    assert record.to_json()["metrics"] == {"total_cost": 0.75}
    assert record.nodes["out"].result == {"content": "A 1+B"}


async def test_output_node_with_structured_output_keeps_json() -> None:
    data = {
        "nodes": [node("t", "trigger-node"), node("o", "output-node", output={"n": "{{ input.n }}"})],
        "edges": edges(("t", "o")),
        "start_node": "t",
    }
    record = await run(data, {"n": 3})
    assert record.nodes["o"].result == {"content": '{"n": 3}', "json": {"n": 3}}


async def test_plain_text_and_array_input() -> None:
    data = {
        "nodes": [
            node("t", "trigger-node"),
            node("o", "output-node", output="{{ input.__raw_input__ }}{{ input[0] }}"),
        ],
        "edges": edges(("t", "o")),
        "start_node": "t",
    }
    assert (await run(data, {"__raw_input__": "hi"})).nodes["o"].result["content"] == "hi"
    assert (await run(data, ["first"])).nodes["o"].result["content"] == "first"


class Recorder(RunObserver):
    def __init__(self) -> None:
        self.events: list[tuple[str, str, str]] = []

    async def run_started(self, run: RunRecord) -> None:
        self.events.append(("run", run.id, run.status))

    async def node_started(self, run: RunRecord, node_id: str) -> None:
        self.events.append(("start", node_id, run.nodes[node_id].status))

    async def node_finished(self, run: RunRecord, record: NodeRecord) -> None:
        self.events.append(("end", record.id, record.status))

    async def run_finished(self, run: RunRecord) -> None:
        assert all(n.status in {"succeed", "failed", "skipped"} for n in run.nodes.values())
        self.events.append(("done", run.id, run.status))


async def test_observer_sees_every_step_in_order() -> None:
    data = {
        "nodes": [node("t", "trigger-node"), node("a"), node("o", "output-node")],
        "edges": edges(("t", "a"), ("a", "o")),
        "start_node": "t",
    }
    recorder = Recorder()
    record = await run(data, observer=recorder)
    assert [e[:2] for e in recorder.events[1:-1]] == [
        ("start", "t"),
        ("end", "t"),
        ("start", "a"),
        ("end", "a"),
        ("start", "o"),
        ("end", "o"),
    ]
    assert recorder.events[0] == ("run", record.id, "in progress")
    assert recorder.events[-1] == ("done", record.id, "succeed")
    assert recorder.events[1][2] == "in progress"


class HearsFinishesOnly(RunObserver):
    def __init__(self) -> None:
        self.finished: list[tuple[str, str]] = []

    async def node_finished(self, run: RunRecord, record: NodeRecord) -> None:
        self.finished.append((record.id, record.status))


class HearsStartsOnly(RunObserver):
    def __init__(self) -> None:
        self.started: list[str] = []

    async def node_started(self, run: RunRecord, node_id: str) -> None:
        self.started.append(node_id)


async def test_an_observer_overriding_one_method_hears_every_call_of_it() -> None:
    data = {
        "nodes": [
            node("t", "trigger-node"),
            node("i", "if-else-node", condition={"left": "1", "operator": "==", "right": "2"}),
            node("yes", "output-node"),
            node("no", "output-node"),
        ],
        "edges": edges(("t", "i"), ("i", "yes", "condition-true"), ("i", "no", "condition-false")),
        "start_node": "t",
    }
    finishes, starts = HearsFinishesOnly(), HearsStartsOnly()
    await run(data, observer=finishes)
    await run(data, observer=starts)
    assert finishes.finished == [("t", "succeed"), ("i", "succeed"), ("yes", "skipped"), ("no", "succeed")]
    assert starts.started == ["t", "i", "no"]


class RefusesToRecord(Recorder):
    """An observer that cannot record node ``a``'s start (as a store that is down)."""

    async def node_started(self, run: RunRecord, node_id: str) -> None:
        await super().node_started(run, node_id)
        if node_id == "a":
            raise OSError("store down")


async def test_a_node_whose_start_cannot_be_recorded_fails_without_running() -> None:
    data = {
        "nodes": [node("t", "trigger-node"), node("a"), node("b"), node("o", "output-node")],
        "edges": edges(("t", "a"), ("t", "b"), ("a", "o")),
        "start_node": "t",
    }
    record = await run(data, observer=RefusesToRecord())
    assert record.status == "failed"
    assert record.nodes["a"].status == "failed" and record.nodes["a"].result is None
    assert record.nodes["a"].error == "not started: its start could not be recorded: OSError: store down"


async def test_long_chain_and_wide_fan_out() -> None:
    n = 2000
    chain = {
        "nodes": [node("t", "trigger-node")] + [node(f"n{i}") for i in range(n)],
        "edges": edges(("t", "n0"), *[(f"n{i}", f"n{i + 1}") for i in range(n - 1)]),
        "start_node": "t",
    }
    assert (await run(chain)).status == "succeed"
    fan = {
        "nodes": [node("t", "trigger-node")] + [node(f"n{i}") for i in range(n)],
        "edges": edges(*[("t", f"n{i}") for i in range(n)]),
        "start_node": "t",
    }
    record = await run(fan)
    assert record.status == "succeed" and len(record.nodes) == n + 1


async def test_permanent_failures_and_template_errors_are_not_retried() -> None:
    data = {
        "nodes": [
            node("t", "trigger-node"),
            node("p", "flaky-node", fail_times=5, permanent=True, retries=3, retry_delay=0),
            node("o", "output-node", output="{{ ''.__class__ }}", retries=3),
        ],
        "edges": edges(("t", "p"), ("t", "o")),
        "start_node": "t",
    }
    record = await run(data)
    assert record.nodes["p"].attempts == 1 and record.nodes["p"].error == "attempt 1 failed"
    data["edges"] = edges(("t", "o"))
    record = await run(data)
    assert record.nodes["o"].attempts == 1


async def test_templates_keep_trailing_newlines() -> None:
    data = {
        "nodes": [node("t", "trigger-node"), node("o", "output-node", output="{{ input.a }}\n")],
        "edges": edges(("t", "o")),
        "start_node": "t",
    }
    assert (await run(data, {"a": "x"})).nodes["o"].result["content"] == "x\n"


def echo_chain(message: str, **data: Any) -> dict[str, Any]:
    nodes = [node("t", "trigger-node"), node("big", "basic-node", name="LLM OpenAI", message=message, **data)]
    nodes.append(node("after", "output-node"))
    return {"nodes": nodes, "edges": edges(("t", "big"), ("big", "after")), "start_node": "t"}


async def test_a_result_over_the_limit_fails_the_node_without_retry_and_is_not_kept() -> None:
    record = await run(
        echo_chain("{{ input.text * 3 }}", retries=3, retry_delay=0),
        {"text": "é" * 200},  # three times: 1,200 bytes of UTF-8 in 600 characters
        engine=Engine(max_result_bytes=1024),
    )
    big = record.nodes["big"]
    assert record.status == "failed"
    assert (
        big.error == "result of node big is larger than the limit of 1,024 bytes (as JSON); it was not kept"
    )
    assert big.attempts == 1
    assert big.result is None
    assert "after" not in record.nodes
    assert record.error == f"node big failed: {big.error}"


async def test_a_result_within_the_limit_is_kept() -> None:
    engine = Engine(max_result_bytes=1024)
    record = await run(echo_chain("{{ input.text * 2 }}"), {"text": "é" * 200}, engine=engine)
    assert record.status == "succeed"
    assert record.nodes["big"].result == {"content": "é" * 400}


async def test_a_huge_result_is_refused_counting_no_further_than_the_limit() -> None:
    limit = 64 * 1024 * 2
    huge = ["x" * 1000] * 200_000  # 200 MB as JSON, a few MB in memory
    tracemalloc.start()
    try:
        engine = Engine(max_result_bytes=limit)
        size = await engine.result_size({"rows": huge})
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert size > limit and "131,072 bytes" in engine.too_large("n")
    assert peak < 4_000_000
    assert await engine.result_size({"rows": huge[:100]}) <= limit


def templated_chain(count: int) -> dict[str, Any]:
    """trigger → ``count`` if-else nodes (each compares its predecessor's result) → output."""
    nodes = [node("start", "trigger-node")]
    links: list[tuple[str, str] | tuple[str, str, str]] = []
    previous = "start"
    for i in range(count):
        condition = {"left": f"{{{{ {previous}.result.content }}}}", "operator": "!=", "right": "x"}
        nodes.append(node(f"n{i}", "if-else-node", condition=condition))
        links += [(previous, f"n{i}", "condition-true"), (f"n{i}", "no", "condition-false")]
        previous = f"n{i}"
    nodes += [
        node("yes", "output-node", output=f"{{{{ {previous}.result.content }}}}"),
        node("no", "output-node"),
    ]
    links.append((previous, "yes", "condition-true"))
    return {"nodes": nodes, "edges": edges(*links), "start_node": "start"}


async def test_every_node_of_a_run_sees_one_growing_view_of_finished_nodes() -> None:
    """A render does not rebuild the finished nodes' results (which made a chain of n templated
    nodes cost O(n²)): each node's ``_nodes`` is the same mapping, grown as nodes finish."""
    seen: list[tuple[int, list[str]]] = []

    class PeekNode(NodeType):
        type = "peek-node"

        async def run(self, data: Any, ctx: NodeContext) -> NodeOutput:
            nodes = ctx.variables()["_nodes"]
            seen.append((id(nodes), list(nodes)))
            return NodeOutput({"content": ctx.render("{{ start.result.content }}")})

    class PeekPlugin:
        @hookimpl
        def register_node_types(self) -> list[type[NodeType]]:
            return [PeekNode]

    pm = get_plugin_manager(load_entry_points=False)
    pm.register(PeekPlugin(), name="peek")
    chain = [node("start", "trigger-node"), *(node(f"p{i}", "peek-node") for i in range(4))]
    data = {
        "nodes": chain,
        "edges": edges(*itertools.pairwise(n["id"] for n in chain)),
        "start_node": "start",
    }
    record = await Engine().execute(prepare_workflow(parse_workflow_data(data), Plugins(pm)), {})
    assert record.status == "succeed"
    assert len({nodes for nodes, _ in seen}) == 1
    assert [names for _, names in seen] == [
        ["start"],
        ["start", "p0"],
        ["start", "p0", "p1"],
        ["start", "p0", "p1", "p2"],
    ]


async def test_a_chain_of_thousands_of_templated_nodes_runs_to_the_end() -> None:
    record = await run(templated_chain(5000))
    assert record.status == "succeed"
    assert record.nodes["n4999"].result == {"content": "true", "condition": True}
    assert record.nodes["yes"].result == {"content": "true"}
    assert record.nodes["no"].status == "skipped"


def test_flat_result_size_is_json_size() -> None:
    flat = [
        {},
        {"content": "true", "condition": True},
        {"content": "", "json": None, "ok": False},
        {"a": "x" * 600},
    ]
    for value in flat:
        assert flat_json_size(value) == json_size(value, 10**6, utf8=True)
    for other in ({"content": "é"}, {"é": "x"}, {"n": 1}, {"l": []}, {1: "x"}, {"f": 1.5}):
        assert flat_json_size(other) == -1
