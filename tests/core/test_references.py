"""A workflow whose templates are all plain lookups (``{{ <node-id>.result.<key> }}``,
``{{ input.<key> }}``) is checked and run without importing Jinja2, with the results Jinja gives;
any other template still goes through Jinja2 (issue #17)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

RUNWIRE = str(Path(sys.executable).parent / "runwire")
INPUT = {"name": "Ada", "age": 36, "tags": ["a", {"b": None}], "profile": {"city": "Oslo", "_note": "n"}}


def chain(templates: dict[str, Any], links: int = 20) -> dict[str, Any]:
    """A trigger, ``links`` if-else nodes each comparing its predecessor's ``content`` (as
    ``bench/engine.py``'s chain), then an output node whose ``output`` is ``templates``."""
    nodes: list[dict[str, Any]] = [{"id": "start", "type": "trigger-node", "data": {}}]
    edges: list[dict[str, Any]] = []
    previous = "start"
    for i in range(links):
        node = f"n-{i}"
        condition = {"left": f"{{{{ {previous}.result.content }}}}", "operator": "!=", "right": "x"}
        nodes.append({"id": node, "type": "if-else-node", "data": {"condition": condition}})
        edges.append({"source": previous, "target": node, "sourceHandle": "condition-true"})
        edges.append({"source": node, "target": "no", "sourceHandle": "condition-false"})
        previous = node
    nodes += [
        {"id": "out", "type": "output-node", "data": {"output": templates}},
        {"id": "no", "type": "output-node", "data": {}},
    ]
    edges.append({"source": previous, "target": "out", "sourceHandle": "condition-true"})
    return {"nodes": nodes, "edges": edges, "start_node": "start"}


def compiled(workflow: dict[str, Any]) -> dict[str, Any]:
    """The same workflow with every ``{{ x }}`` written ``{{ (x) }}``: no longer a plain lookup,
    so Jinja2 compiles and evaluates each."""
    text = re.sub(r"\{\{\s*(.*?)\s*\}\}", r"{{ (\1) }}", json.dumps(workflow))
    return json.loads(text)  # type: ignore[no-any-return]


def run(workflow: dict[str, Any], tmp_path: Path, command: str = "run") -> tuple[dict[str, Any], bool]:
    """``runwire <command> --json`` of ``workflow`` with :data:`INPUT`, under ``-X importtime``:
    the record printed, without its run id, and whether the process imported Jinja2."""
    path = tmp_path / "workflow.json"
    path.write_text(json.dumps(workflow))
    args = [sys.executable, "-X", "importtime", RUNWIRE, command, str(path)]
    if command == "run":
        args += ["--input", json.dumps(INPUT), "--json"]
    out = subprocess.run(args, capture_output=True, text=True, timeout=120)
    imported = {
        line.split("|")[-1].strip() for line in out.stderr.splitlines() if line.startswith("import time:")
    }
    if command != "run":
        return {"returncode": out.returncode, "stdout": out.stdout}, "jinja2" in imported
    record = json.loads(out.stdout)
    record.pop("id")
    return record, "jinja2" in imported


PLAIN = {
    "text": "Hi {{ input.name }} ({{ input.age }}), {{ n-19.result.content }}, {{ input.missing }}!",
    "tags": "{{ input.tags }}",
    "in_text": "tags: {{ input.tags }} profile: {{ input.profile }}",
    "city": "{{ start.result.input.profile.city }}",
    "note": "{{ input.profile._note }}",  # a key starting with _: looked up, as Jinja does
    "missing": "{{ input.profile.nowhere.deeper }}",
    "of_a_string": "{{ input.name.nowhere }}",
    "of_a_list": "{{ input.tags.nowhere }}",
    "condition": "{{ n-3.result.condition }}",
    "{{ input.name }}": "a key is rendered too",
}


def test_a_workflow_of_plain_lookups_runs_without_jinja2_as_jinja_runs_it(tmp_path: Path) -> None:
    workflow = chain(PLAIN)
    record, jinja = run(workflow, tmp_path)
    assert not jinja
    assert record["status"] == "succeed", record
    assert record["data"]["out"]["result"]["json"] == {
        "text": "Hi Ada (36), true, !",
        "tags": ["a", {"b": None}],
        "in_text": "tags: ['a', {'b': None}] profile: {'city': 'Oslo', '_note': 'n'}",
        "city": "Oslo",
        "note": "n",
        "missing": "",
        "of_a_string": "",
        "of_a_list": "",
        "condition": True,
        "Ada": "a key is rendered too",
    }
    through_jinja, jinja = run(compiled(workflow), tmp_path)
    assert jinja
    assert through_jinja == record


def test_checking_a_workflow_of_plain_lookups_imports_no_jinja2(tmp_path: Path) -> None:
    checked, jinja = run(chain(PLAIN), tmp_path, "check")
    assert checked["returncode"] == 0 and not jinja, checked
    bad = chain({"text": "{{ nowhere.result.content }}"})
    checked, jinja = run(bad, tmp_path, "check")
    assert checked["returncode"] != 0 and not jinja
    assert "refers to node nowhere, which does not exist" in checked["stdout"]


def test_one_other_template_renders_through_jinja2_with_the_plain_lookups(tmp_path: Path) -> None:
    record, jinja = run(chain({**PLAIN, "upper": "{{ input.name | upper }}"}), tmp_path)
    assert jinja
    assert record["status"] == "succeed", record
    result = record["data"]["out"]["result"]["json"]
    assert result["upper"] == "ADA" and result["text"] == "Hi Ada (36), true, !"


@pytest.mark.parametrize(
    ("template", "error"),
    [
        ("{{ ''.__class__ }}", "access to attribute '__class__' is not allowed"),
        ("{{ start.result.__class__ }}", "access to attribute '__class__' is not allowed"),
        ("{{ input.profile.city.__class__ }}", "access to attribute '__class__' is not allowed"),
        ("{{ start.result.nowhere._private }}", "access to attribute '_private' of _Empty is not allowed"),
        ("{{ input.name.format }}", "calling method 'format' is not allowed in templates"),
        ("{{ input.name.upper }}", "expression evaluates to a function, not a value"),
        ("x {{ input.profile.keys }}", "expression evaluates to a function, not a value"),
    ],
)
def test_hostile_lookups_are_refused_as_jinja_refuses_them(template: str, error: str, tmp_path: Path) -> None:
    workflow = chain({"bad": template}, links=1)
    record, _ = run(workflow, tmp_path)
    assert record["status"] == "failed"
    assert record["data"]["out"]["error"] == error
    through_jinja, _ = run(compiled(workflow), tmp_path)
    assert through_jinja == record
