"""Workflow validation: every problem at once, each naming its node or edge."""

from __future__ import annotations

import copy
import itertools
import json
import random
from pathlib import Path
from typing import Any

import pytest

from runwire.check import check_workflow, graph_size, prepare_workflow, size_problem
from runwire.errors import WorkflowInvalid
from runwire.nodes import EDITOR_KEYS
from runwire.workflow import parse_workflow_data, plain_workflow
from tests.fake_nodes import plugins_with_test_nodes

REFERENCE = json.loads((Path(__file__).parents[1] / "data" / "reference_example.json").read_text())


def problems(data: dict[str, Any]) -> list[str]:
    """The problems of ``data``, the same whether checked as a model or as the JSON read
    without one (``runwire run`` and ``runwire check`` read a file's JSON so when they can)."""
    plugins = plugins_with_test_nodes()
    found = check_workflow(parse_workflow_data(data), plugins)
    plain = plain_workflow(json.loads(json.dumps(data)))
    if plain is not None:
        assert check_workflow(plain, plugins) == found
    return found


def test_reference_example_is_valid_with_an_llm_plugin() -> None:
    assert problems(REFERENCE["data"]) == []


def test_every_problem_is_reported_at_once() -> None:
    data = {
        "nodes": [
            {
                "id": "t",
                "type": "trigger-node",
                "data": {"input_fields": [{"id": "a"}, {"id": "a"}, {"title": "no id"}]},
            },
            {"id": "x", "type": "mystery-node", "data": {}},
            {"id": "b", "type": "basic-node", "data": {"name": "Nobody Handles This"}},
            {"id": "if", "type": "if-else-node", "data": {"condition": {"left": "1", "operator": "=~"}}},
            {
                "id": "o",
                "type": "output-node",
                "data": {"output": "{{ ghost.result.content }} {{ later.result.content }}"},
            },
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
    data = {
        "nodes": [{"id": "t", "type": "trigger-node", "data": {"next_nodes": ["zzz"]}}],
        "start_node": "t",
    }
    assert problems(data) == ["node t: next_nodes names 'zzz', which is not a node"]


def test_unknown_keys_in_node_data_are_named_with_a_suggestion() -> None:
    data = {
        "nodes": [{"id": "t", "type": "trigger-node", "data": {"tmeout": 3, "retires": 1, "zzz": 0}}],
        "start_node": "t",
    }
    assert problems(data) == [
        "node t: data.tmeout: unknown field (did you mean 'timeout'?)",
        "node t: data.retires: unknown field (did you mean 'retries'?)",
        "node t: data.zzz: unknown field (known: id, input_fields, label, name, next_nodes, rerun_if_interrupted, retries, "
        "retry_delay, timeout, version)",
    ]


def test_editor_keys_in_node_data_pass_and_are_kept() -> None:
    editor = {key: "x" for key in sorted(EDITOR_KEYS)}
    data = {
        "nodes": [{"id": "t", "type": "trigger-node", "data": {"name": "Trigger", **editor}}],
        "start_node": "t",
    }
    prepared = prepare_workflow(parse_workflow_data(data), plugins_with_test_nodes())
    assert prepared.nodes["t"].data.model_extra == editor
    assert {"description", "title"} <= EDITOR_KEYS


def test_prepare_raises_with_all_problems() -> None:
    with pytest.raises(WorkflowInvalid) as info:
        prepare_workflow(parse_workflow_data({"nodes": []}), plugins_with_test_nodes())
    assert info.value.problems == ["workflow: start_node is missing"]


def graph(edges: list[tuple[str, str]], refs: dict[str, str], ids: list[str] | None = None) -> dict[str, Any]:
    """A trigger ``t`` and output nodes (``ids``, else those in ``edges``); ``refs[n]`` is the
    node that ``n``'s template refers to."""
    if ids is None:
        ids = sorted({n for edge in edges for n in edge} - {"t"})
    nodes = [{"id": "t", "type": "trigger-node", "data": {}}]
    for n in ids:
        output = f"{{{{ {refs[n]}.result.content }}}}" if n in refs else n
        nodes.append({"id": n, "type": "output-node", "data": {"output": output}})
    return {
        "nodes": nodes,
        "edges": [{"id": f"{a}-{b}", "source": a, "target": b} for a, b in edges],
        "start_node": "t",
    }


def ancestors(node: str, parents: dict[str, set[str]]) -> set[str]:
    """Every node with a path to ``node``, by plain search (the reference answer)."""
    seen: set[str] = set()
    todo = list(parents.get(node, ()))
    while todo:
        n = todo.pop()
        if n not in seen:
            seen.add(n)
            todo.extend(parents.get(n, ()))
    return seen


DIAMOND = [("t", "a"), ("t", "b"), ("a", "c"), ("b", "c"), ("c", "d")]


@pytest.mark.parametrize(
    ("refs", "outside"),
    [
        pytest.param({"b": "a"}, ["b->a"], id="sibling-branch"),
        pytest.param({"a": "c"}, ["a->c"], id="downstream"),
        pytest.param({"a": "d"}, ["a->d"], id="downstream-through-fan-in"),
        pytest.param({"c": "c"}, ["c->c"], id="itself"),
        pytest.param({"d": "t", "c": "a"}, [], id="ancestor-via-two-paths"),
        pytest.param({"d": "a", "c": "b", "b": "t"}, [], id="ancestors-of-a-fan-in"),
        pytest.param({"d": "b", "a": "b", "b": "a"}, ["a->b", "b->a"], id="mixed"),
    ],
)
def test_references_must_be_upstream_in_a_diamond(refs: dict[str, str], outside: list[str]) -> None:
    expected = []
    for pair in outside:
        node, ref = pair.split("->")
        expected.append(f"node {node}: data.output refers to node {ref}, which is not upstream")
    assert problems(graph(DIAMOND, refs)) == expected


def test_a_cycle_in_a_diamond_is_reported_and_references_are_not_judged() -> None:
    data = graph([*DIAMOND, ("d", "a")], {"b": "a"})
    assert problems(data) == ["workflow: cycle through nodes a -> c -> d -> a"]


def test_references_match_a_brute_force_ancestor_search() -> None:
    plugins = plugins_with_test_nodes()
    rng = random.Random(11)
    for _ in range(300):
        ids = [f"n{i}" for i in range(rng.randint(2, 9))]
        edges = {tuple(sorted(rng.sample(ids, 2), key=ids.index)) for _ in range(rng.randint(0, 14))}
        edges |= {("t", ids[0])}
        refs = {n: rng.choice(["t", *ids]) for n in ids if rng.random() < 0.7}
        parents: dict[str, set[str]] = {}
        for a, b in edges:
            parents.setdefault(b, set()).add(a)
        expected = sorted(
            f"node {n}: data.output refers to node {ref}, which is not upstream"
            for n, ref in refs.items()
            if ref not in ancestors(n, parents)
        )
        # listed in an order of the links, and in one that is not (a topological order by Kahn's)
        for listed in (ids, rng.sample(ids, len(ids))):
            found = check_workflow(parse_workflow_data(graph(sorted(edges), refs, listed)), plugins)
            found = [p for p in found if "upstream" in p]
            assert sorted(found) == expected, (edges, refs, listed)


def test_a_20000_node_chain_checks_linearly_with_its_problems() -> None:
    count = 20_000
    ids = ["t", *(f"n{i}" for i in range(1, count))]
    nodes = [{"id": "t", "type": "trigger-node", "data": {}}]
    nodes += [{"id": i, "type": "output-node", "data": {"output": "x"}} for i in ids[1:]]
    nodes[1]["data"]["output"] = "{{ n19999.result.content }}"  # downstream: not upstream
    nodes[-1]["data"]["output"] = "{{ n1.result.content }} {{ t.result.content }}"  # 19,998 hops up
    nodes[500]["data"]["output"] = "{{ n499.result.content }} {{ ghost.result.content }}"
    edges = [{"id": f"e{k}", "source": a, "target": b} for k, (a, b) in enumerate(itertools.pairwise(ids))]
    found = problems({"nodes": nodes, "edges": edges, "start_node": "t"})
    assert found == [
        "node n1: data.output refers to node n19999, which is not upstream",
        "node n500: data.output refers to node ghost, which does not exist",
    ]
    cyclic = {
        "nodes": nodes,
        "edges": [*edges, {"id": "back", "source": "n19999", "target": "n1"}],
        "start_node": "t",
    }
    found = problems(cyclic)
    assert found[0].startswith("workflow: cycle through nodes n1 -> n2 -> ") and found[0].endswith(
        "n19999 -> n1"
    )
    assert found[1:] == ["node n500: data.output refers to node ghost, which does not exist"]


@pytest.mark.parametrize(
    ("nodes", "edges", "linked", "problem"),
    [
        (10, 40, 0, None),
        (11, 0, 0, "workflow: 11 nodes, over the limit of 10 (RUNWIRE_MAX_NODES)"),
        (10, 41, 0, "workflow: 41 edges, over the limit of 40 (RUNWIRE_MAX_EDGES)"),
        (10, 30, 11, "workflow: 41 edges, over the limit of 40 (RUNWIRE_MAX_EDGES)"),
    ],
)
def test_size_problem_counts_nodes_then_edges(
    nodes: int, edges: int, linked: int, problem: str | None
) -> None:
    data = {
        "nodes": [
            {"id": f"n{i}", "type": "output-node", "data": {"next_nodes": ["n0"] * (linked if i == 0 else 0)}}
            for i in range(nodes)
        ],
        "edges": [{"source": "n0", "target": "n1"}] * edges,
    }
    assert size_problem(data, 10) == problem
    assert size_problem(parse_workflow_data(data), 10) == problem
    assert size_problem(plain_workflow(data), 10) == problem  # type: ignore[arg-type]
    assert size_problem(data, None) is None


def test_size_problem_ignores_parts_of_the_wrong_shape() -> None:
    assert size_problem({"nodes": "many", "edges": 7}, 1) is None
    assert size_problem({"nodes": [1, 2, {"data": {"next_nodes": "x"}}], "edges": None}, 3, 0) is None
    odd = {
        "nodes": [
            {"id": f"n{i}", "type": "t", "data": {"next_nodes": v}} for i, v in enumerate(["x", None, 3])
        ]
    }
    for given in (odd, parse_workflow_data(odd), plain_workflow(odd)):
        assert graph_size(given) == (3, 0)
    assert size_problem([], 1) is None


def test_invalid_node_data_is_reported_in_node_order_among_the_other_problems() -> None:
    # node data of one type is validated in one call; an invalid one sends every node through
    # its model on its own, so problems keep the order of the nodes
    data = {
        "nodes": [
            {"id": "t", "type": "trigger-node", "data": {}},
            {"id": "a", "type": "if-else-node", "data": {"condition": {"left": "1"}, "retries": 99}},
            {"id": "x", "type": "mystery-node", "data": {}},
            {"id": "t", "type": "output-node", "data": {}},
            {"id": "b", "type": "output-node", "data": {"tmeout": 1}},
            {"id": "c", "type": "if-else-node", "data": {}},
        ],
        "edges": [],
        "start_node": "t",
    }
    found = [p for p in problems(data) if p.startswith("node ") and "branch" not in p]
    assert found == [
        "node a: data.retries: Input should be less than or equal to 10",
        "node x: unknown node type 'mystery-node' (no installed plugin handles it)",
        "node t: duplicate node id",
        "node b: data.tmeout: unknown field (did you mean 'timeout'?)",
        "node c: data.condition: Field required",
    ]
    valid = {
        "nodes": [
            {"id": "t", "type": "trigger-node", "data": {}},
            {"id": "a", "type": "if-else-node", "data": {"condition": {"left": "1"}, "retries": "2"}},
            {"id": "yes", "type": "output-node", "data": {"output": "{{ a.result.content }}"}},
            {"id": "no", "type": "output-node", "data": {"color": "red"}},
        ],
        "edges": [
            {"source": "t", "target": "a"},
            {"source": "a", "target": "yes", "sourceHandle": "condition-true"},
            {"source": "a", "target": "no", "sourceHandle": "condition-false"},
        ],
        "start_node": "t",
    }
    prepared = prepare_workflow(parse_workflow_data(valid), plugins_with_test_nodes())
    nodes = prepared.nodes
    assert [type(nodes[n].data).__name__ for n in nodes] == [
        "TriggerData",
        "IfElseData",
        "OutputData",
        "OutputData",
    ]
    assert nodes["a"].data.retries == 2 and nodes["a"].data.condition.left == "1"
    assert nodes["no"].data.model_extra == {"color": "red"}


def test_a_data_model_with_its_own_model_validate_is_validated_through_it() -> None:
    from runwire.hookspecs import hookimpl
    from runwire.nodes import NodeContext, NodeData, NodeOutput, NodeType
    from runwire.plugins import Plugins, get_plugin_manager

    seen: list[Any] = []

    class CountedData(NodeData):
        @classmethod
        def model_validate(cls, obj: Any, **kwargs: Any) -> CountedData:
            seen.append(obj)
            return super().model_validate(obj, **kwargs)

    class CountedNode(NodeType):
        type = "counted-node"
        data_model = CountedData

        async def run(self, data: Any, ctx: NodeContext) -> NodeOutput:
            return NodeOutput({"content": ""})

    class Plugin:
        @hookimpl
        def register_node_types(self) -> list[type[NodeType]]:
            return [CountedNode]

    pm = get_plugin_manager(load_entry_points=False)
    pm.register(Plugin(), name="counted")
    data = {
        "nodes": [{"id": "t", "type": "trigger-node", "data": {}}]
        + [{"id": f"c{i}", "type": "counted-node", "data": {"label": str(i)}} for i in range(3)],
        "edges": [{"source": "t", "target": f"c{i}"} for i in range(3)],
        "start_node": "t",
    }
    prepare_workflow(parse_workflow_data(data), Plugins(pm))
    assert seen == [{"label": "0"}, {"label": "1"}, {"label": "2"}]


def test_template_texts_are_the_template_strings_in_order_without_paths() -> None:
    from runwire.check import _strings, _template_texts

    rng = random.Random(17)

    def value(depth: int, lists: bool = True) -> Any:
        kind = rng.randrange(6 if depth < 4 else 3)
        if kind == 0:
            return f"{{{{ n{rng.randrange(9)}.result.content }}}}"
        if kind == 1:
            return rng.choice(["plain", 3, 2.5, None, True, "a {{ b"])
        if kind == 2:
            return f"x {{{{ input.v{rng.randrange(9)} }}}} y"
        if kind == 3 and lists:
            return [value(depth + 1, lists) for _ in range(rng.randrange(4))]
        return {f"k{i}": value(depth + 1, lists) for i in range(rng.randrange(4))}

    for lists in (True, False):  # without lists: mostly the usual shapes, read without a stack
        for _ in range(300):
            data = {"a": value(0, lists), "b": value(0, lists), "c": value(1, lists)}
            assert _template_texts(data) == [text for _, text in _strings(data)]


def test_node_data_models_keep_their_own_validators_and_key_rules() -> None:
    """Nodes of one type are validated in one call, the known-keys check done for all of them
    beforehand; a model's own validator before its fields, and ``extra_keys = None``, still
    apply to every node, and an unknown key is still named in node order."""
    from pydantic import model_validator

    from runwire.hookspecs import hookimpl
    from runwire.nodes import NodeContext, NodeData, NodeOutput, NodeType
    from runwire.plugins import Plugins, get_plugin_manager

    class RenamingData(NodeData):
        text: str = ""

        @model_validator(mode="before")
        @classmethod
        def _rename(cls, value: Any) -> Any:
            return {("text" if k == "old_text" else k): v for k, v in value.items()}

    class OpenData(NodeData):
        extra_keys = None

    class RenamingNode(NodeType):
        type = "renaming-node"
        data_model = RenamingData

        async def run(self, data: Any, ctx: NodeContext) -> NodeOutput:
            return NodeOutput({"content": data.text})

    class OpenNode(RenamingNode):
        type = "open-node"
        data_model = OpenData  # type: ignore[assignment]

    class Plugin:
        @hookimpl
        def register_node_types(self) -> list[type[NodeType]]:
            return [RenamingNode, OpenNode]

    pm = get_plugin_manager(load_entry_points=False)
    pm.register(Plugin(), name="renaming")
    plugins = Plugins(pm)
    nodes = [{"id": "t", "type": "trigger-node", "data": {}}]
    nodes += [{"id": f"r{i}", "type": "renaming-node", "data": {"old_text": str(i)}} for i in range(3)]
    nodes += [{"id": f"o{i}", "type": "open-node", "data": {"anything": i}} for i in range(3)]
    data = {
        "nodes": nodes,
        "edges": [{"source": "t", "target": n["id"]} for n in nodes[1:]],
        "start_node": "t",
    }
    for given in (parse_workflow_data(data), plain_workflow(data)):
        prepared = prepare_workflow(given, plugins)  # type: ignore[arg-type]
        assert [prepared.nodes[f"r{i}"].data.text for i in range(3)] == ["0", "1", "2"]
        assert prepared.nodes["o2"].data.model_extra == {"anything": 2}
    nodes[2]["data"] = {"old_text": "1", "tmeout": 1}
    nodes[3]["data"] = {"old_text": "2", "zzz": 1}
    found = check_workflow(parse_workflow_data(data), plugins)
    assert check_workflow(plain_workflow(data), plugins) == found  # type: ignore[arg-type]
    assert found == [
        "node r1: data.tmeout: unknown field (did you mean 'timeout'?)",
        "node r2: data.zzz: unknown field (known: id, label, name, next_nodes, rerun_if_interrupted, "
        "retries, retry_delay, text, timeout, version)",
    ]


def test_edges_joining_the_same_nodes_and_next_nodes_are_linked_once() -> None:
    """An edge repeating another (same source and target) only fills in a missing branch
    handle; ``next_nodes`` naming a node an edge already leads to adds nothing, either way the
    workflow is given (linked without an index when no edge repeats another)."""
    data: dict[str, Any] = {
        "nodes": [
            {"id": "t", "type": "trigger-node", "data": {"next_nodes": ["a", "b"]}},
            {"id": "a", "type": "output-node", "data": {}},
            {"id": "b", "type": "output-node", "data": {"next_nodes": ["a"]}},
        ],
        "edges": [{"id": "e1", "source": "t", "target": "a"}, {"id": "e2", "source": "b", "target": "a"}],
        "start_node": "t",
    }
    plugins = plugins_with_test_nodes()
    for edges, successors in (
        (data["edges"], [("a", None), ("b", None)]),
        ([*data["edges"], {"source": "t", "target": "a", "sourceHandle": "h"}], [("a", "h"), ("b", None)]),
    ):
        given = {**data, "edges": edges}
        for workflow in (parse_workflow_data(given), plain_workflow(given)):
            prepared = prepare_workflow(workflow, plugins)  # type: ignore[arg-type]
            assert prepared.nodes["t"].successors == successors
            assert prepared.nodes["b"].successors == [("a", None)]
            assert prepared.nodes["a"].predecessors == ["t", "b"]
