"""Built-in node types: ``trigger-node``, ``if-else-node`` and ``output-node``."""

from __future__ import annotations

import re
from operator import eq, ge, gt, le, lt, ne
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from runwire.hookspecs import hookimpl
from runwire.jsontext import to_text
from runwire.nodes import NodeContext, NodeData, NodeOutput, NodeType
from runwire.numbers import number_from_text
from runwire.workflow import InputField, PreparedNode


class TriggerData(NodeData):
    """A trigger declares the run's input fields."""

    input_fields: list[InputField] = Field(default_factory=list)


class TriggerNode(NodeType):
    """Starts a run; its result is the run input (after input fields are applied)."""

    type = "trigger-node"
    title = "Trigger"
    description = "Starts the workflow; declares input fields available as {{ input.<id> }}."
    data_model = TriggerData

    async def run(self, data: TriggerData, ctx: NodeContext) -> NodeOutput:
        """Return the run input as ``content`` (JSON text) and ``input``."""
        return NodeOutput({"content": to_text(ctx.input), "input": ctx.input})


Operator = Literal["==", "!=", ">", "<", ">=", "<="]


class Condition(BaseModel):
    """``left operator right``; both sides are templates."""

    model_config = ConfigDict(extra="allow", defer_build=True)

    left: Any = ""
    right: Any = ""
    operator: Operator = "=="


class IfElseData(NodeData):
    """An if-else node compares two values and follows one branch."""

    condition: Condition
    true_node: str | None = None
    false_node: str | None = None


TRUE_HANDLE = "condition-true"
FALSE_HANDLE = "condition-false"


_DIGIT = re.compile(r"\d")  # what float() reads as a digit (Unicode decimal digits)


def _number(value: Any) -> int | float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return value  # an int as it is: compared exactly, and one of 400 digits has no float
    if isinstance(value, str):
        # without a digit it is no number (letters alone: no digit, and no regex search for the
        # usual "true", "false", a word)
        if value.isalpha() or _DIGIT.search(value) is None:
            return None
        return number_from_text(value)
    return None


def compare(left: Any, operator: str, right: Any) -> bool:
    """Compare numerically when both sides are numbers (or numeric text), else as text."""
    # letters alone (the usual "true", "false", a word) are no number: a call saved
    ln = None if type(left) is str and left.isalpha() else _number(left)
    if ln is not None:  # the right side is read as a number only when the left one is one
        rn = _number(right)
        if rn is not None:
            return _OPERATORS.get(operator, le)(ln, rn)  # type: ignore[no-any-return]
    # text as is (the usual case: a rendered template) without a call
    return _OPERATORS.get(operator, le)(  # type: ignore[no-any-return]
        left if type(left) is str else to_text(left),
        right if type(right) is str else to_text(right),
    )


# the operator module's functions: a call in C, not a chain of tests in Python (an operator
# validation refuses compares as <=, as a chain of tests ending in ``else`` did)
_OPERATORS = {"==": eq, "!=": ne, ">": gt, "<": lt, ">=": ge, "<=": le}


class IfElseNode(NodeType):
    """Follows ``true_node`` (or the ``condition-true`` edges) when the condition holds."""

    type = "if-else-node"
    title = "If / Else"
    description = "Compares condition.left and condition.right (==, !=, >, <, >=, <=)."
    data_model = IfElseData

    @staticmethod
    def branch(node: PreparedNode, data: IfElseData, outcome: bool) -> list[str]:
        """The successor ids of the ``outcome`` branch."""
        explicit = data.true_node if outcome else data.false_node
        handle = TRUE_HANDLE if outcome else FALSE_HANDLE
        targets = []  # node.successor_ids(handle); a loop, cheaper than a comprehension for a few
        for target, on in node.successors:
            if on == handle:
                targets.append(target)
        if explicit and explicit not in targets:
            targets.append(explicit)
        return targets

    def check(self, node: PreparedNode) -> list[str]:
        """An if-else needs a true and a false branch, both among its successors."""
        data: IfElseData = node.data
        if data.true_node is None and data.false_node is None:
            true = false = False  # a loop: cheaper than a set of the handles for a few edges
            for _, handle in node.successors:
                if handle == TRUE_HANDLE:
                    true = True
                elif handle == FALSE_HANDLE:
                    false = True
            if true and false:
                return []  # both branches are edges, so connected: nothing to report
        branches: dict[str, list[str]] = {TRUE_HANDLE: [], FALSE_HANDLE: []}  # one pass over the successors
        for target, handle in node.successors:
            if handle in branches:
                branches[handle].append(target)
        problems = []
        successors = {target for target, _ in node.successors}
        for outcome, label in ((True, "true"), (False, "false")):
            targets = branches[TRUE_HANDLE if outcome else FALSE_HANDLE]
            explicit = data.true_node if outcome else data.false_node
            if explicit and explicit not in targets:
                targets.append(explicit)
            if not targets:
                problems.append(f"if-else has no {label} branch")
            problems.extend(
                f"{label} branch {t} is not connected to this node" for t in targets if t not in successors
            )
        return problems

    async def run(self, data: IfElseData, ctx: NodeContext) -> NodeOutput:
        """Evaluate the condition and follow the matching branch."""
        condition = data.condition
        left, right = condition.left, condition.right
        # a side that is no template is itself (what render returns for it, without the call)
        outcome = compare(
            left if type(left) is str and "{{" not in left else ctx.render(left),
            condition.operator,
            right if type(right) is str and "{{" not in right else ctx.render(right),
        )
        follow = self.branch(ctx.node, data, outcome)
        return NodeOutput({"content": "true" if outcome else "false", "condition": outcome}, follow=follow)


class OutputData(NodeData):
    """An output node returns ``output`` (templated) or, without it, its upstream result."""

    output: Any = Field(default=None, description="What the workflow returns; {{ }} templates allowed.")


class OutputNode(NodeType):
    """Marks the workflow's result."""

    type = "output-node"
    title = "Output"
    description = "The workflow's result: data.output rendered, or the upstream node's result."
    data_model = OutputData

    async def run(self, data: OutputData, ctx: NodeContext) -> NodeOutput:
        """Render ``output``; without one, pass the first upstream result through."""
        if data.output is None:
            upstream = ctx.upstream_results()
            return NodeOutput(dict(upstream[0]) if upstream else {"content": ""})
        value = ctx.render(data.output)
        result: dict[str, Any] = {"content": to_text(value)}
        if not isinstance(value, str):
            result["json"] = value
        return NodeOutput(result)


@hookimpl
def register_node_types() -> list[type[NodeType]]:
    """Core's node types."""
    return [TriggerNode, IfElseNode, OutputNode]
