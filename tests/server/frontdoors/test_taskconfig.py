"""script-runner config.json: validation naming the bad field, compilation, runs through the engine."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any, ClassVar

import pytest

from runwire.binders import RequestParts
from runwire.builtin.formatters import CsvFormatter
from runwire.engine import Engine
from runwire.errors import BindingError, ConfigInvalid
from runwire.formatters import OutputFormatter
from runwire.hookspecs import hookimpl
from runwire.plugins import Plugins, get_plugin_manager
from runwire_server.frontdoors.taskconfig import (
    SCRIPT_NODE,
    compile_task_config,
    load_task_config,
    parse_task_config,
)
from tests.helpers import LIMS_RESULTS, PY, lims_config


async def test_reference_example_end_to_end(plugins: Plugins) -> None:
    task = compile_task_config(parse_task_config(lims_config()), plugins)
    run_input = task.bind(RequestParts(path="n1a54tmd/ignored", query=[("season", "x")]))
    assert run_input == {"vars": {"PLATE": "n1a54tmd"}}
    record = await Engine().execute(task.prepared, run_input)
    assert record.status == "succeed", record.error
    result = record.nodes[SCRIPT_NODE].result
    assert result["results"] == LIMS_RESULTS
    assert base64.b64decode(result["attachments"]["results-n1a54tmd.pdf"]).startswith(b"%PDF")
    assert record.nodes["output"].result == result


def test_timeout_debug_and_rundir_reach_the_node(plugins: Plugins, tmp_path: Path) -> None:
    cfg = {
        **lims_config(),
        "timeout": 12,
        "debug": True,
        "command_rundir": str(tmp_path),
        "command_rundir_base": "/b",
    }
    task = compile_task_config(parse_task_config(cfg), plugins)
    data = task.prepared.nodes[SCRIPT_NODE].data
    assert (data.command_timeout, data.keep_rundir, data.rundir_parent, data.rundir_base) == (
        12,
        True,
        str(tmp_path),
        "/b",
    )
    default = compile_task_config(parse_task_config(lims_config()), plugins)
    assert default.prepared.nodes[SCRIPT_NODE].data.command_timeout == 3600


def test_body_args_bind_and_missing_body_is_a_binding_error(plugins: Plugins) -> None:
    cfg = {
        "command": [PY, "-c", "pass", "$CITY", "$IDS"],
        "inputs": {
            "body_args": [
                {"env_var_name": "CITY", "body_jsonpath": "$.city"},
                {"env_var_name": "IDS", "body_jsonpath": "$.items[*].id"},
            ]
        },
    }
    task = compile_task_config(parse_task_config(cfg), plugins)
    assert task.bind(RequestParts(body={"city": "Oslo", "items": [{"id": 1}, {"id": 2}]})) == {
        "vars": {"CITY": "Oslo", "IDS": "[1,2]"}
    }
    with pytest.raises(BindingError, match="variable CITY"):
        task.bind(RequestParts(body={"items": []}))


def test_nul_in_a_bound_value_is_a_binding_error(plugins: Plugins) -> None:
    task = compile_task_config(parse_task_config(lims_config()), plugins)
    with pytest.raises(BindingError, match="NUL"):
        task.bind(RequestParts(path="a\x00b"))


@pytest.mark.parametrize(
    "change,field",
    [
        ({"command": []}, "command"),
        ({"command": "echo hi"}, "command"),
        ({"comand": ["x"]}, "comand"),
        ({"timeout": 0}, "timeout"),
        ({"inputs": {"path_args": [{"env_var_name": "P"}]}}, "inputs.path_args.0.path_regex"),
        (
            {"inputs": {"path_args": [{"env_var_name": "P", "path_regex": "(["}]}},
            "inputs.path_args.0.path_regex",
        ),
        (
            {"inputs": {"query_args": [{"env_var_name": "Q", "query_var_name": 3}]}},
            "inputs.query_args.0.query_var_name",
        ),
        (
            {"inputs": {"body_args": [{"env_var_name": "B", "body_jsonpath": "$[[["}]}},
            "inputs.body_args.0.body_jsonpath",
        ),
        ({"inputs": {"header_args": [{"env_var_name": "H"}]}}, "inputs.header_args"),
        ({"inputs": {"query_args": [{"env_var_name": "RUNDIR", "query_var_name": "r"}]}}, "env_var_name"),
        ({"inputs": {"query_args": [{"env_var_name": "a-b", "query_var_name": "r"}]}}, "env_var_name"),
        (
            {"outputs": {"results": {"kind": "file", "format": "xml", "input_path": "a"}}},
            "outputs.results.format",
        ),
        ({"outputs": {"results": {"kind": "pipe", "format": "csv"}}}, "outputs.results.kind"),
        ({"outputs": {"results": {"kind": "file", "format": "csv"}}}, "outputs.results.input_path"),
        ({"outputs": {"attachments": "out/*"}}, "outputs.attachments"),
    ],
)
def test_invalid_config_names_the_bad_field(plugins: Plugins, change: dict[str, Any], field: str) -> None:
    cfg = {"command": [PY, "-c", "pass"], **change}
    with pytest.raises(ConfigInvalid) as err:
        compile_task_config(parse_task_config(cfg), plugins)
    assert field in str(err.value)


def test_dollar_name_bound_by_nothing_is_a_startup_error(plugins: Plugins) -> None:
    cfg = {**lims_config(), "command": [PY, "x.py", "--plate=$PLATE", "$UNBOUND"]}
    with pytest.raises(ConfigInvalid, match=r"command: \$UNBOUND is not bound"):
        compile_task_config(parse_task_config(cfg), plugins)


def test_duplicate_variable_is_refused(plugins: Plugins) -> None:
    cfg = {
        "command": [PY],
        "inputs": {
            "query_args": [
                {"env_var_name": "A", "query_var_name": "a"},
                {"env_var_name": "A", "query_var_name": "b"},
            ]
        },
    }
    with pytest.raises(ConfigInvalid, match="bound twice"):
        compile_task_config(parse_task_config(cfg), plugins)


def test_reference_only_keys_are_accepted(plugins: Plugins) -> None:
    cfg = {
        **lims_config(),
        "celery_broker_url": "redis://x",
        "celery_result_backend": "redis://y",
        "debug": None,
    }
    compile_task_config(parse_task_config(cfg), plugins)


def test_load_file_errors(tmp_path: Path) -> None:
    bad = tmp_path / "config.json"
    bad.write_text('{"command": [')
    with pytest.raises(ConfigInvalid, match="not valid JSON"):
        load_task_config(bad)
    with pytest.raises(ConfigInvalid, match="cannot be read"):
        load_task_config(tmp_path / "missing.json")
    bad.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ConfigInvalid):
        load_task_config(bad)
    bad.write_text(json.dumps(lims_config()))
    assert load_task_config(bad).outputs.attachments == ["out/*.pdf"]


def test_without_the_subprocess_plugin_start_up_says_what_to_install() -> None:
    plugins = Plugins.load(blocked=["subprocess"])
    with pytest.raises(ConfigInvalid, match="runwire-subprocess"):
        compile_task_config(parse_task_config(lims_config()), plugins)


class CountedCsv(CsvFormatter):
    """The csv formatter, counting how many times it is built."""

    format = "counted-csv"
    built: ClassVar[int] = 0

    def __init__(self, options: Any = None) -> None:
        super().__init__(options)
        CountedCsv.built += 1


class CountedPlugin:
    @hookimpl
    def register_output_formatters(self) -> list[type[OutputFormatter]]:
        return [CountedCsv]


async def test_the_formatter_is_built_once_per_configuration_not_per_run() -> None:
    pm = get_plugin_manager()
    pm.register(CountedPlugin(), name="counted")
    cfg = lims_config()
    cfg["outputs"]["results"]["format"] = "counted-csv"
    task = compile_task_config(parse_task_config(cfg), Plugins(pm))
    assert CountedCsv.built == 1
    for plate in ("p1", "p2"):
        record = await Engine().execute(task.prepared, task.bind(RequestParts(path=plate)))
        assert record.status == "succeed", record.error
        assert record.nodes[SCRIPT_NODE].result["results"] == LIMS_RESULTS
    assert CountedCsv.built == 1


def test_a_misspelt_formatter_option_is_named_with_a_suggestion(plugins: Plugins) -> None:
    cfg = lims_config()
    cfg["outputs"]["results"]["remaped_columns"] = cfg["outputs"]["results"].pop("remapped_columns")
    with pytest.raises(ConfigInvalid) as info:
        compile_task_config(parse_task_config(cfg), plugins)
    assert "outputs.results.remaped_columns: unknown field (did you mean 'remapped_columns'?)" in str(
        info.value
    )


def test_a_misspelt_binder_key_is_named_with_a_suggestion(plugins: Plugins) -> None:
    cfg = lims_config()
    cfg["inputs"]["path_args"][0]["path_regex_match_grop"] = 1
    with pytest.raises(ConfigInvalid) as info:
        compile_task_config(parse_task_config(cfg), plugins)
    assert "path_regex_match_grop: unknown field (did you mean 'path_regex_match_group'?)" in str(info.value)
