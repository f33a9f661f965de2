"""The node-type contract: what a plugin implements to add a kind of workflow node."""

from __future__ import annotations

import asyncio
import builtins
from abc import ABC, abstractmethod
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from pydantic import ConfigDict, Field

from runwire.host import DEFAULT_HOST, HostPolicy
from runwire.knownkeys import KnownKeys
from runwire.references import MISS, ReferenceRenderer, node_lookup
from runwire.rendered import LazyRenderer

if TYPE_CHECKING:
    from runwire.plugin_settings import PluginSettings
    from runwire.plugins import Plugins
    from runwire.workflow import PreparedNode


S = TypeVar("S", bound="PluginSettings")

OPERATOR_ONLY = "operator_only"
"""Key of a field's ``json_schema_extra`` marking a setting that widens what a program may see
or touch (an environment allow-list, a directory): settable by the operator only."""
API_MAX = "api_max"
"""Key of a field's ``json_schema_extra`` giving the largest value an API caller may set."""


def operator_only(**extra: Any) -> dict[str, Any]:
    """``json_schema_extra`` for an operator-only field (see :meth:`NodeData.operator_only_problems`)."""
    return {OPERATOR_ONLY: True, **extra}


def _number(value: Any) -> float:
    """``value`` as the number validation would make of it (``-inf`` if it is none)."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return float("-inf")
    return float("-inf")


EDITOR_KEYS = frozenset({"description", "title", "icon", "color", "notes", "comment"})
"""Keys of a node's ``data`` that editors store for themselves (besides ``id``, ``name``,
``label``, ``version`` and ``next_nodes``, which are fields): accepted and kept on every node."""


class NodeData(KnownKeys):
    """Fields every node's ``data`` may carry; a node type's own model subclasses this.

    A key that is neither a field of the model nor in :data:`EDITOR_KEYS` is a problem naming
    it, with a suggestion: ``data.tmeout: unknown field (did you mean 'timeout'?)``. Editor keys
    are kept (pydantic extras), so a workflow round-trips unchanged. A subclass may accept more
    with ``extra_keys`` (``None``: any key). ``timeout`` (seconds) and ``retries`` are runwire's
    per-node execution settings.
    """

    model_config = ConfigDict(extra="allow", populate_by_name=True)
    extra_keys: ClassVar[frozenset[str] | None] = EDITOR_KEYS

    id: str | None = None
    name: str | None = None
    label: str | None = None
    version: str | None = None
    next_nodes: list[str] = Field(default_factory=list)
    timeout: float | None = Field(default=None, gt=0, description="Seconds before the node is failed.")
    retries: int = Field(default=0, ge=0, le=10, description="Extra attempts after a failure.")
    retry_delay: float = Field(default=0.5, ge=0, le=300, description="Seconds between attempts.")
    rerun_if_interrupted: bool | None = Field(
        default=None,
        description=(
            "Whether a run interrupted (worker or server stopped) after this node started may be "
            "run again from the start; unset: the node type's default (see NodeType.rerun_safe)."
        ),
    )

    @classmethod
    def operator_only_problems(cls, raw: Mapping[str, Any]) -> list[str]:
        """Fields of ``raw`` (a node's ``data`` as a caller sent it) that only the operator may set.

        A field marked :data:`OPERATOR_ONLY` may come through the API only absent or at its
        default; one marked with :data:`API_MAX` only up to that value. Operators set them in
        a config.json task or the server's settings, where no API caller reaches.
        """
        problems: list[str] = []
        for name, info in cls.model_fields.items():
            key = info.alias if info.alias is not None and info.alias in raw else name
            if key not in raw:
                continue
            extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
            value = raw[key]
            if extra.get(OPERATOR_ONLY) and value != info.get_default(call_default_factory=True):
                problems.append(f"data.{key} is operator-only: it cannot be set through the API")
            limit = extra.get(API_MAX)
            if isinstance(limit, int) and _number(value) > limit:
                problems.append(
                    f"data.{key} is {value}, above {limit}, the most the API may set (operators may raise it)"
                )
        return problems


@dataclass(slots=True)
class NodeOutput:
    """What a node's ``run`` returns.

    :param result: the node's result object, shown under ``data.<node-id>.result``; by the
        reference's convention it has a string ``content``.
    :param cost: money (USD) this node spent, summed into ``metrics.total_cost``.
    :param follow: the successor node ids to continue with; ``None`` follows every outgoing
        edge. Successors not followed (and what only they lead to) are ``skipped``.
    """

    result: dict[str, Any] = field(default_factory=dict)
    cost: float = 0.0
    follow: Collection[str] | None = None


_LOOKUP_RENDERERS = frozenset({LazyRenderer, ReferenceRenderer})
"""Renderers that render a template of one lookup as :func:`runwire.references.node_lookup` does
(the engine's; a Jinja ``TemplateRenderer`` too, but its class is not imported here)."""


class NodeContext:
    """What a running node may see: the run's input, upstream results and the renderer."""

    __slots__ = ("_node_variables", "_renderer", "host", "input", "node", "results", "run_id")

    def __init__(
        self,
        run_id: str,
        node: PreparedNode,
        input: Any,
        results: Mapping[str, dict[str, Any]],
        renderer: Any,
        host: HostPolicy = DEFAULT_HOST,
        node_variables: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        """:param node_variables: ``{node_id: {"result": result}}`` for every entry of
        ``results``, kept up to date by whoever fills ``results`` (the engine does), so a render
        costs the same however many nodes finished; ``None``: built from ``results`` per render."""
        self.run_id = run_id
        self.node = node
        self.input = input
        self.results = results
        self._renderer = renderer
        self.host = host
        """The operator's terms for programs this node starts (run-as user, run directories)."""
        self._node_variables = node_variables

    def render(self, value: Any) -> Any:
        """Render every ``{{ }}`` template inside ``value`` (str, list or dict, recursively).

        A string that is exactly one ``{{ expr }}`` keeps the expression's native type.
        Raises :class:`runwire.errors.TemplateError` on a bad or refused template.
        """
        nodes = self._node_variables  # what variables() returns, without the call
        if type(value) is str:
            if "{{" not in value:  # no template: nothing to look up
                return value
            if nodes is not None and type(self._renderer) in _LOOKUP_RENDERERS:
                # the usual ``{{ <node-id>.result.<key> }}``, as those renderers render it
                found = node_lookup(value, nodes)
                if found is not MISS:
                    return found
        if nodes is None:
            return self._renderer.render_value(value, self.variables())
        return self._renderer.render_value(value, {"input": self.input, "_nodes": nodes})

    def variables(self) -> dict[str, Any]:
        """The template variables of this run: ``input`` and every finished node's result."""
        nodes = self._node_variables
        if nodes is None:
            nodes = {k: {"result": v} for k, v in self.results.items()}
        return {"input": self.input, "_nodes": nodes}

    def upstream_results(self) -> list[dict[str, Any]]:
        """Results of this node's finished predecessors, in edge order."""
        return [self.results[p] for p in self.node.predecessors if p in self.results]


class NodeType(ABC):
    """Base class of every node implementation.

    Subclasses set ``type`` (the workflow's ``nodes[].type``), for ``basic-node`` also
    ``name`` (the ``data.name`` they handle), ``data_model`` (a :class:`NodeData`
    subclass validating ``data``; its JSON schema is what ``get_nodes`` shows) and, for a node
    that runs programs or touches files, ``privileged = True``. One instance
    is created per plugin manager, so ``run`` must not keep per-run state on ``self``.
    """

    type: ClassVar[str]
    name: ClassVar[str | None] = None
    title: ClassVar[str] = ""
    description: ClassVar[str] = ""
    # builtins.type: inside this class body, ``type`` is the attribute above
    data_model: ClassVar[builtins.type[NodeData]] = NodeData
    privileged: ClassVar[bool] = False
    """Whether the node reaches the host (runs programs, reads or writes files). A server lets a
    workflow holding one be created, changed or run only in the projects its operator grants
    (``RUNWIRE_PRIVILEGED_PROJECTS``)."""
    blocking: ClassVar[bool] = False
    """Whether ``run`` blocks (set by :class:`BlockingNodeType`, whose ``run`` goes to a thread);
    ``get_nodes`` shows it."""
    rerun_safe: ClassVar[bool] = True
    """Whether running the node again is harmless (it changes nothing outside the run, or the
    same way twice). A run interrupted (its worker killed, its server stopped) after a node that
    is not safe started is not run again: it ends ``failed``, saying so. Override
    :meth:`safe_to_rerun` when it depends on the node's data; a node's
    ``rerun_if_interrupted`` field overrides both."""
    #: The registries this instance was loaded into (set by :class:`runwire.plugins.Plugins`),
    #: so a node can use other plugins' formatters or binders; ``None`` outside a registry.
    plugins: Plugins | None = None

    def check(self, node: PreparedNode) -> list[str]:
        """Return structural problems of ``node`` beyond its data model (default: none).

        Called by workflow validation with the node's successors already resolved.
        """
        return []

    @abstractmethod
    async def run(self, data: Any, ctx: NodeContext) -> NodeOutput:
        """Execute the node once and return its output.

        :param data: the node's ``data`` validated by ``data_model`` (templates unrendered:
            call ``ctx.render`` on the fields that take them).
        :param ctx: the run's input, upstream results and the template renderer.
        :raises runwire.errors.NodeFailed: with a message for the node's record.
        """

    def plugin_settings(self, model: builtins.type[S]) -> S:
        """This plugin's settings (its ``settings_model``), as the host built them at load time;
        outside a registry, built from the process environment.

        :raises runwire.errors.ConfigInvalid: the settings are invalid, naming the variable.
        """
        if self.plugins is None:
            from runwire.plugin_settings import build_settings

            return build_settings(model)
        return self.plugins.settings.of(model)

    def safe_to_rerun(self, data: Any) -> bool:
        """Whether a node with this validated ``data`` may run again after an interruption
        (default: :attr:`rerun_safe`)."""
        return self.rerun_safe

    @classmethod
    def key(cls) -> tuple[str, str | None]:
        """The registry key: ``(type, name)``."""
        return (cls.type, cls.name)

    @classmethod
    def schema(cls) -> dict[str, Any]:
        """Describe this node type for editors (``get_nodes``)."""
        return {
            "type": cls.type,
            "name": cls.name,
            "title": cls.title or cls.name or cls.type,
            "description": cls.description,
            "privileged": cls.privileged,
            "blocking": cls.blocking,
            "rerun_safe": cls.rerun_safe,
            "schema": cls.data_model.model_json_schema(),
        }


class BlockingNodeType(NodeType):
    """Base class of a node type whose work blocks (a synchronous client, CPU work, ``time.sleep``).

    Implement :meth:`run_blocking`, a plain function; the host calls it in a worker thread
    (``asyncio.to_thread``), so the event loop, and with it the embedded server and the other
    branches of the run, keeps going. It gets a context whose ``results`` are a snapshot taken
    when the node started. A thread cannot be interrupted: when the node's ``timeout`` passes or
    the run is cancelled, the node is recorded as such at once, but the thread runs on until
    ``run_blocking`` returns and its result is dropped. Threads come from the loop's default
    executor (``min(32, CPUs + 4)`` of them); more blocking nodes at once wait for one.
    """

    blocking: ClassVar[bool] = True

    async def run(self, data: Any, ctx: NodeContext) -> NodeOutput:
        """Call :meth:`run_blocking` in a worker thread."""
        nodes = ctx._node_variables
        snapshot = NodeContext(
            ctx.run_id,
            ctx.node,
            ctx.input,
            dict(ctx.results),
            ctx._renderer,
            ctx.host,
            None if nodes is None else dict(nodes),
        )
        return await asyncio.to_thread(self.run_blocking, data, snapshot)

    @abstractmethod
    def run_blocking(self, data: Any, ctx: NodeContext) -> NodeOutput:
        """Execute the node once, in a worker thread, and return its output (as :meth:`NodeType.run`).

        :raises runwire.errors.NodeFailed: with a message for the node's record.
        """
