"""Workflow models: the reference example round-trips unchanged; files load in both shapes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from runwire.check import prepare_workflow
from runwire.plugins import Plugins, get_plugin_manager
from runwire.workflow import (
    Node,
    dump_workflow_data,
    load_workflow_file,
    parse_workflow_data,
    plain_workflow,
)

REFERENCE = json.loads((Path(__file__).parents[1] / "data" / "reference_example.json").read_text())


def test_reference_example_round_trips_unchanged() -> None:
    data = REFERENCE["data"]
    assert dump_workflow_data(parse_workflow_data(data)) == data


def test_visual_and_unknown_fields_are_kept() -> None:
    data = {
        "nodes": [
            {
                "id": "n",
                "type": "trigger-node",
                "position": {"x": 1.5, "y": 2},
                "measured": {"width": 10},
                "selected": True,
                "dragging": False,
                "data": {"input_fields": [], "custom": {"deep": [1]}},
            }
        ],
        "edges": [{"id": "e", "source": "n", "target": "n", "style": {"stroke": "#fff"}, "zIndex": 3}],
        "viewport": {"x": 0, "y": 0, "zoom": 0.75},
        "start_node": "n",
        "something_new": {"from": "a newer editor"},
    }
    assert dump_workflow_data(parse_workflow_data(data)) == data


def test_load_file_accepts_data_or_whole_record(tmp_path: Path) -> None:
    record = tmp_path / "record.json"
    record.write_text(json.dumps(REFERENCE))
    data = tmp_path / "data.json"
    data.write_text(json.dumps(REFERENCE["data"]))
    assert load_workflow_file(record) == load_workflow_file(data)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "malformed JSON"),
        ("[" * 10000 + "]" * 10000, "nested deeper"),
        ('{"nodes": "nope"}', "not a workflow"),
    ],
)
def test_load_file_errors_are_readable(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "w.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=message):
        load_workflow_file(path)


def test_a_file_that_is_not_utf8_is_named_with_the_offending_byte(tmp_path: Path) -> None:
    path = tmp_path / "latin1.json"
    path.write_bytes(b'{"nodes": [], "title": "caf\xe9"}')
    with pytest.raises(ValueError, match=r"latin1\.json: not UTF-8 text \(byte 27\)"):
        load_workflow_file(path)


def test_an_endless_file_is_refused_past_the_size_limit_not_read_whole() -> None:
    with pytest.raises(ValueError, match="/dev/zero: larger than 64 MiB"):
        load_workflow_file("/dev/zero")


def test_nodes_need_id_and_type() -> None:
    with pytest.raises(ValidationError):
        parse_workflow_data({"nodes": [{"id": "", "type": "trigger-node"}]})
    with pytest.raises(ValidationError):
        parse_workflow_data({"nodes": [{"id": "a"}]})


@pytest.mark.parametrize(
    "data",
    [
        [],
        {"nodes": {}},
        {"nodes": [[]]},
        {"nodes": [{"id": "", "type": "trigger-node"}]},
        {"nodes": [{"id": 1, "type": "trigger-node"}]},
        {"nodes": [{"id": "a", "type": ""}]},
        {"nodes": [{"id": "a"}]},
        {"nodes": [{"id": "a", "type": "trigger-node", "data": None}]},
        {"nodes": [{"id": "a", "type": "trigger-node", "data": []}]},
        {"edges": [{"source": "a"}]},
        {"edges": [{"source": "a", "target": 2}]},
        {"edges": [{"id": None, "source": "a", "target": "b"}]},
        {"edges": [{"source": "a", "target": "b", "sourceHandle": 1}]},
        {"edges": "x"},
        {"start_node": 3},
    ],
)
def test_json_the_model_would_refuse_is_left_to_the_model(data: object) -> None:
    """What the plain reading of ``runwire run`` does not take, the model decides (and words)."""
    assert plain_workflow(data) is None
    with pytest.raises(ValidationError):
        parse_workflow_data(data)


def test_a_workflow_read_without_models_prepares_as_the_model_does() -> None:
    data = REFERENCE["data"]
    plain = plain_workflow(json.loads(json.dumps(data)))
    assert plain is not None
    assert plain.workflow_data() == parse_workflow_data(data)
    minimal = {"nodes": [{"id": "t", "type": "trigger-node"}], "start_node": "t", "viewport": {"zoom": 1}}
    pm = get_plugin_manager(load_entry_points=False)
    plugins = Plugins(pm)
    prepared = prepare_workflow(plain_workflow(minimal), plugins)  # type: ignore[arg-type]
    model = prepare_workflow(parse_workflow_data(minimal), plugins)
    assert prepared.data == model.data
    assert dump_workflow_data(prepared.data) == minimal
    assert isinstance(prepared.nodes["t"].raw, Node)
    assert prepared.nodes["t"].raw == model.nodes["t"].raw
