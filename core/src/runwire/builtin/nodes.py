"""Built-in node types: ``trigger-node``, ``if-else-node`` and ``output-node``."""

from __future__ import annotations

import re
from functools import cache
from operator import eq, ge, gt, le, lt, ne
from typing import Any, Literal, get_args

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

    @classmethod
    def _validate_plain(cls, datas: list[dict[str, Any]]) -> list[IfElseData] | None:
        """``datas`` validated, when each is plainly the usual data (only a ``condition``, an
        object of some of ``left``, ``right`` and a text ``operator`` it allows): the models
        ``model_validate`` makes of them, made without pydantic (its validation of the two
        models, ~18k instructions a node, is most of preparing an if-else node); ``None`` for
        anything else, which pydantic validates (and words the problems of) as before.

        :func:`runwire.check.prepare_workflow` calls it for the data of the if-else nodes of a
        workflow (not of a subclass's: it reads ``IfElseData``'s own attribute).
        """
        plain = _plain_if_else()
        if plain is None:
            return None
        shell, defaults, factories, (left, right, default_operator), condition_keys, operators = plain
        new = object.__new__
        made: list[IfElseData] = []
        add = made.append
        for data in datas:
            given = data.get("condition") if len(data) == 1 else None
            if type(given) is not dict or not condition_keys.issuperset(given):
                return None
            operator = given.get("operator", default_operator)
            operator = operators.get(operator) if type(operator) is str else None
            if operator is None:
                return None
            # each model as pydantic leaves it: its fields (in their order), the fields given,
            # no extras, no private attributes; set on a shell (see _plain_if_else)
            condition = new(shell)
            condition.__dict__ = {
                "left": given.get("left", left),
                "right": given.get("right", right),
                "operator": operator,
            }
            condition.__pydantic_fields_set__ = set(given)
            condition.__pydantic_extra__ = {}
            condition.__pydantic_private__ = None
            condition.__class__ = Condition
            fields = defaults.copy()
            for name, factory in factories:
                fields[name] = factory()
            fields["condition"] = condition
            model: Any = new(shell)
            model.__dict__ = fields
            model.__pydantic_fields_set__ = {"condition"}
            model.__pydantic_extra__ = {}
            model.__pydantic_private__ = None
            model.__class__ = cls
            add(model)
        return made


_PlainIfElse = tuple[
    type[BaseModel],
    dict[str, Any],
    list[tuple[str, Any]],
    tuple[Any, Any, str],
    frozenset[str],
    dict[str, str],
]


@cache
def _plain_if_else() -> _PlainIfElse | None:
    """What :meth:`IfElseData._validate_plain` fills in, read from the two models' fields: the
    if-else data's defaults (``condition`` last but for the fields after it, as the model orders
    them) and default factories, the condition's defaults, its keys and the operators; ``None``
    when a field is not of the kinds this foresees (an alias, a validator, a default that is not
    a constant), so that pydantic validates every if-else node."""
    constants = (str, int, float, bool, type(None))
    defaults: dict[str, Any] = {}
    factories: list[tuple[str, Any]] = []
    for name, info in IfElseData.model_fields.items():
        if info.alias is not None or info.validation_alias is not None:
            return None
        if info.metadata and name not in _CONSTRAINED:
            return None
        if name == "condition":
            defaults[name] = None
        elif info.default_factory is list:
            defaults[name] = None
            factories.append((name, list))
        elif type(info.default) in constants:
            defaults[name] = info.default
        else:
            return None
    condition_defaults: dict[str, Any] = {}
    for name, info in Condition.model_fields.items():
        if info.alias is not None or info.validation_alias is not None or info.metadata:
            return None
        if type(info.default) not in constants:
            return None
        condition_defaults[name] = info.default
    if list(condition_defaults) != ["left", "right", "operator"]:
        return None
    for model, validators in ((IfElseData, {"_refuse_unknown_keys"}), (Condition, set())):
        if model.model_config.get("extra") != "allow":  # extras are a dict, not None
            return None
        decorators = model.__pydantic_decorators__
        if decorators.field_validators or set(decorators.model_validators) != validators:
            return None
    operators = {op: op for op in get_args(Operator)}
    left, right, operator = condition_defaults.values()

    class Shell(BaseModel):
        """A model of the same layout as both, whose attributes are set without pydantic's
        ``__setattr__`` (the plain attribute store, in C: ``object.__setattr__`` called from
        Python costs ~1k instructions, as much again as the store); its ``__class__`` is then
        set to the model's."""

        model_config = ConfigDict(defer_build=True)
        __setattr__ = object.__setattr__
        __delattr__ = object.__delattr__  # with it, the store is C's own (one slot for both)

    return Shell, defaults, factories, (left, right, operator), frozenset(condition_defaults), operators


# fields whose constraints (``gt``, ``ge``, ``le``) only refuse values: their defaults are valid
_CONSTRAINED = frozenset({"timeout", "retries", "retry_delay"})


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
