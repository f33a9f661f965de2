"""Workflow validation and preparation: every structural problem at once, then a runnable graph.

Cost: time and memory linear in nodes (N) + edges (E), plus compiling each distinct template
once (Jinja's cost, ~1 ms a template, cached by :mod:`runwire.template`; a template of plain
lookups, ``{{ <node-id>.result.<key> }}``, is read by :mod:`runwire.references` without Jinja2).

- Edges are linked through a ``(source, target)`` index (duplicates merged in O(1) each), and a
  cycle is found by one depth-first search (each node entered once, each edge followed once).
- "refers to node X, which is not upstream" needs reachability only for the R distinct nodes
  that templates refer to, never ancestor sets per node (quadratic: 8,000 nodes took 1.3 GiB).
  Each referenced node gets one bit, numbered in topological order; walking that order once, a
  node's mask is the OR of its predecessors' masks and bits, and "is X upstream of this node"
  is one bit test. That is O(N + E) Python steps, each an OR of integers of at most R bits
  (R/64 machine words, done in C): O((N + E) · R / 64) word operations at worst, linear when
  few nodes are referred to. A mask is dropped once every successor has read it, so memory is
  the masks of the frontier (at most R/8 bytes each), not one set per node.
- Size limits (:func:`size_problem`) count nodes and edges in O(N) before anything is parsed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Set
from functools import lru_cache
from itertools import compress, count, repeat
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic_core import SchemaValidator, core_schema

from runwire.errors import WorkflowInvalid
from runwire.fieldproblems import field_problems
from runwire.knownkeys import KnownKeys, _allowed_keys
from runwire.references import usual_path
from runwire.rendered import inspect_template
from runwire.workflow import InputField, PlainWorkflow, PreparedNode, PreparedWorkflow, WorkflowData

if TYPE_CHECKING:
    from runwire.plugins import Plugins

TRIGGER_TYPE = "trigger-node"
DEFAULT_MAX_NODES = 2000
"""Default ``RUNWIRE_MAX_NODES``: far above hand-made graphs, small enough to check in ms."""
EDGES_PER_NODE = 4
"""Default ``RUNWIRE_MAX_EDGES`` is this many per allowed node (chains and fan-outs have about
one per node, if-else two, joins a few more)."""

_Links = dict[tuple[str, str], int]
"""Where each linked ``(source, target)`` sits in its source's successor list."""


def check_workflow(data: WorkflowData | PlainWorkflow, plugins: Plugins) -> list[str]:
    """Return every structural problem of ``data``, each naming its node or edge id."""
    return _build(data if isinstance(data, PlainWorkflow) else PlainWorkflow.of(data), plugins)[1]


def prepare_workflow(data: WorkflowData | PlainWorkflow, plugins: Plugins) -> PreparedWorkflow:
    """Validate ``data`` and return it ready to run.

    ``data`` may be a :class:`~runwire.workflow.PlainWorkflow` (parsed JSON read by
    :func:`runwire.workflow.plain_workflow`): the same checks and problems, without a model per
    node and edge.

    :raises WorkflowInvalid: listing every problem found.
    """
    prepared, problems = _build(data if isinstance(data, PlainWorkflow) else PlainWorkflow.of(data), plugins)
    if problems or prepared is None:
        raise WorkflowInvalid(problems)
    return prepared


def graph_size(
    data: WorkflowData | PlainWorkflow | Mapping[str, Any] | Any, max_nodes: int | None = None
) -> tuple[int, int]:
    """``(nodes, edges)`` of workflow data, parsed or raw JSON; ``next_nodes`` entries count as
    edges. Parts of the wrong shape count as empty (the shape check reports them). When there
    are more than ``max_nodes`` nodes, edges are not counted (returned as 0)."""
    if isinstance(data, WorkflowData):
        nodes: Any = [n.data for n in data.nodes]
        edges: Any = data.edges
    elif isinstance(data, PlainWorkflow):
        nodes = [n[2] for n in data.nodes]
        edges = data.edges
    else:
        raw = data if isinstance(data, Mapping) else {}
        nodes = [n.get("data") if isinstance(n, dict) else None for n in _list(raw.get("nodes"))]
        edges = _list(raw.get("edges"))
    if max_nodes is not None and len(nodes) > max_nodes:
        return len(nodes), 0
    if isinstance(data, WorkflowData | PlainWorkflow):  # every data a dict: read in C
        linked = sum(len(_list(d["next_nodes"])) for d in compress(nodes, _have_next_nodes(nodes)))
    else:
        linked = sum(len(_list(d.get("next_nodes"))) for d in nodes if isinstance(d, dict))
    return len(nodes), len(edges) + linked


def _have_next_nodes(datas: Iterable[dict[str, Any]]) -> Iterator[bool]:
    """Whether each of ``datas`` (node data, dicts) has ``next_nodes``: ``dict.__contains__``
    mapped in C (``methodcaller("get", ...)`` cost three times as much, ~1.1k a node)."""
    return map(dict.__contains__, datas, repeat("next_nodes"))


def size_problem(
    data: WorkflowData | PlainWorkflow | Mapping[str, Any] | Any,
    max_nodes: int | None,
    max_edges: int | None = None,
) -> str | None:
    """Why ``data`` is over the size limits, with the numbers, or ``None``.

    ``max_nodes=None`` means no limits; ``max_edges=None`` means ``EDGES_PER_NODE * max_nodes``.
    Costs O(nodes) and reads nothing but list lengths, so it can run before parsing.
    """
    if max_nodes is None:
        return None
    if max_edges is None:
        max_edges = EDGES_PER_NODE * max_nodes
    nodes, edges = graph_size(data, max_nodes)
    if nodes > max_nodes:
        return f"workflow: {nodes} nodes, over the limit of {max_nodes} (RUNWIRE_MAX_NODES)"
    if edges > max_edges:
        return f"workflow: {edges} edges, over the limit of {max_edges} (RUNWIRE_MAX_EDGES)"
    return None


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _build(data: PlainWorkflow, plugins: Plugins) -> tuple[PreparedWorkflow | None, list[str]]:
    problems: list[str] = []
    nodes, node_data = _prepare_nodes(data, plugins, problems)
    if not data.start_node:
        problems.append("workflow: start_node is missing")
    elif data.start_node not in nodes:
        problems.append(f"workflow: start_node {data.start_node} is not a node of this workflow")
    links = _link_edges(data, nodes, problems)
    # a node's next_nodes, when any node has them (a look per node in C, not a loop step)
    for prepared in nodes.values() if any(_have_next_nodes(node_data.values())) else ():
        for target in node_data[prepared.id].get("next_nodes") or []:
            if not isinstance(target, str) or target not in nodes:
                problems.append(f"node {prepared.id}: next_nodes names {target!r}, which is not a node")
            else:
                if links is None:
                    links = _links_of(nodes)
                _link(nodes, links, prepared.id, target, None)

    # Kahn's order has every node exactly when there is no cycle; only then is the depth-first
    # search that names a cycle needed
    order = _topological_order(nodes)
    cycle = _find_cycle(nodes) if len(order) < len(nodes) else None
    if cycle:
        problems.append("workflow: cycle through nodes " + " -> ".join(cycle))
    templates, refs = _templates_and_references(nodes, node_data)
    # with a cycle there is no "upstream": those references are not judged (as before)
    not_upstream: dict[str, set[str]] = {} if cycle else _not_upstream(nodes, refs, order)

    input_fields: list[InputField] = []
    for prepared in nodes.values():
        if prepared.impl is not None and prepared.data is not None:
            found = prepared.impl.check(prepared)
            if found:
                problems.extend(f"node {prepared.id}: {p}" for p in found)
        node_templates = templates.get(prepared.id)
        if node_templates:
            _template_problems(prepared.id, node_templates, nodes, not_upstream, problems)
        if prepared.type == TRIGGER_TYPE and prepared.data is not None:
            fields = getattr(prepared.data, "input_fields", [])
            seen: set[str] = set()
            for f in fields:
                if f.id in seen:
                    problems.append(f"node {prepared.id}: input field {f.id!r} is declared twice")
                seen.add(f.id)
            input_fields.extend(fields)

    if problems or not data.start_node:
        return None, problems
    source = data.source if isinstance(data.source, WorkflowData) else data  # validated when read
    return PreparedWorkflow(source, nodes, data.start_node, input_fields), problems


def _prepare_nodes(
    data: PlainWorkflow, plugins: Plugins, problems: list[str]
) -> tuple[dict[str, PreparedNode], dict[str, dict[str, Any]]]:
    """Each node with its implementation and its data validated by the node type's model; and
    each node's ``data`` as given (what templates and ``next_nodes`` are read from).

    The data of all nodes of one type is validated in one pydantic call (a list of the type's
    model), not a call per node; when any is invalid, every node is validated again one by one,
    for the problems in node order with their field paths.
    """
    nodes: dict[str, PreparedNode] = {}
    node_data: dict[str, dict[str, Any]] = {}
    groups: dict[type[BaseModel], tuple[list[PreparedNode], list[dict[str, Any]]]] = {}
    found: list[str] = []
    node_type = plugins.node_type
    impls: dict[tuple[str, str | None], Any] = {}  # each kind looked up once
    for node_id, type_name, raw_data, raw in data.nodes:
        if node_id in nodes:
            found.append(f"node {node_id}: duplicate node id")
            continue
        name = raw_data.get("name")
        if not isinstance(name, str):
            name = None
        key = (type_name, name)
        impl = impls.get(key, _UNSEEN)
        if impl is _UNSEEN:
            impl = impls[key] = node_type(type_name, name)
        prepared = nodes[node_id] = PreparedNode(node_id, type_name, impl, None, raw)
        node_data[node_id] = raw_data
        if impl is None:
            what = f"{type_name!r} named {name!r}" if type_name == "basic-node" else repr(type_name)
            found.append(f"node {node_id}: unknown node type {what} (no installed plugin handles it)")
        else:
            group = groups.get(impl.data_model)
            if group is None:
                group = groups[impl.data_model] = ([], [])
            group[0].append(prepared)
            group[1].append(raw_data)
    if all(_validate_group(model, *group) for model, group in groups.items()):
        problems.extend(found)
        return nodes, node_data
    return _prepare_nodes_one_by_one(data, plugins, problems)


def _validate_group(model: type[BaseModel], group: list[PreparedNode], datas: list[dict[str, Any]]) -> bool:
    """Validate ``datas``, the data of ``group`` (nodes of one type), in one call; ``False``
    when any is invalid (or the model validates in its own way: a ``model_validate`` of its own)."""
    found = _list_validator(model)
    if found is None:
        return False
    validate, allowed = found
    # the known-keys check, for every node at once: the validator leaves it out (see below)
    if allowed is not None and not all(map(allowed.issuperset, datas)):
        return False
    try:
        parsed = validate(datas)
    except ValidationError:
        return False
    for node, value in zip(group, parsed, strict=True):
        node.data = value
    return True


_UNSEEN: Any = object()

_ListValidator = tuple[Callable[[list[dict[str, Any]]], list[Any]], frozenset[str] | None]
"""A validator of a list of a model's data, and the keys that data must keep to (checked
before it is called), or ``None`` when the validator checks the keys itself."""


@lru_cache(maxsize=256)
def _list_validator(model: type[BaseModel]) -> _ListValidator | None:
    """A validator of a list of ``model``; ``None`` when ``model`` overrides ``model_validate``
    (its nodes are validated one by one, through it) or a list of it cannot be built.

    For a :class:`~runwire.knownkeys.KnownKeys` model whose only validator before its fields is
    the known-keys check, the validator leaves that check out (a call into Python per node,
    ~4k instructions) and comes with the keys it allows: data whose keys are all among them
    is what that check returns unchanged; any other is refused by it, which the caller leaves
    to the model's own validation, node by node.
    """
    if getattr(model.model_validate, "__func__", None) is not _MODEL_VALIDATE:
        return None
    try:
        adapter: TypeAdapter[list[Any]] = TypeAdapter(list[model])  # type: ignore[valid-type]
    except Exception:  # e.g. an undefined annotation: model_validate reports it, node by node
        return None
    if issubclass(model, KnownKeys) and model.extra_keys is not None:
        items: Any = adapter.core_schema.get("items_schema")
        fields = _without_known_keys_check(model, items) if isinstance(items, dict) else None
        if fields is not None:
            try:
                validator = SchemaValidator(core_schema.list_schema({**items, "schema": fields}))
            except Exception:  # a schema this reading does not foresee: the adapter's, whole
                return adapter.validate_python, None
            return validator.validate_python, _allowed_keys(model)
    return adapter.validate_python, None


def _without_known_keys_check(model: type[KnownKeys], schema: dict[str, Any]) -> Any:
    """The fields' schema of ``schema`` (``model``'s) when the known-keys check is the one
    validator before them; ``None`` for any other shape."""
    if schema.get("type") != "model" or schema.get("cls") is not model:
        return None
    before = schema.get("schema")
    if not isinstance(before, dict) or before.get("type") != "function-before":
        return None
    function = before.get("function")
    check = function.get("function") if isinstance(function, dict) else None
    if getattr(check, "__func__", None) is not _REFUSE_UNKNOWN_KEYS:
        return None
    fields = before.get("schema")
    return fields if isinstance(fields, dict) and fields.get("type") == "model-fields" else None


_MODEL_VALIDATE = BaseModel.model_validate.__func__  # type: ignore[attr-defined]
_REFUSE_UNKNOWN_KEYS = KnownKeys._refuse_unknown_keys.__func__


def _prepare_nodes_one_by_one(
    data: PlainWorkflow, plugins: Plugins, problems: list[str]
) -> tuple[dict[str, PreparedNode], dict[str, dict[str, Any]]]:
    """As :func:`_prepare_nodes`, validating each node's data on its own: every problem, in
    node order."""
    nodes: dict[str, PreparedNode] = {}
    node_data: dict[str, dict[str, Any]] = {}
    for node_id, type_name, raw_data, raw in data.nodes:
        if node_id in nodes:
            problems.append(f"node {node_id}: duplicate node id")
            continue
        name = raw_data.get("name") if isinstance(raw_data.get("name"), str) else None
        impl = plugins.node_type(type_name, name)
        parsed: Any = None
        if impl is None:
            what = f"{type_name!r} named {name!r}" if type_name == "basic-node" else repr(type_name)
            problems.append(f"node {node_id}: unknown node type {what} (no installed plugin handles it)")
        else:
            try:
                parsed = impl.data_model.model_validate(raw_data)
            except ValidationError as exc:
                problems.extend(f"node {node_id}: {p}" for p in field_problems(exc, "data"))
        nodes[node_id] = PreparedNode(node_id, type_name, impl, parsed, raw)
        node_data[node_id] = raw_data
    return nodes, node_data


def _link_edges(data: PlainWorkflow, nodes: dict[str, PreparedNode], problems: list[str]) -> _Links | None:
    """Link every edge between two nodes (as :func:`_link` does, inline: a step per edge
    saved); report the others. Returns the links made; ``None`` when no two edges join the same
    nodes, each edge then linked as it comes, without the index (:func:`_links_of` makes it)."""
    edges = data.edges
    get = nodes.get
    if len(set(map(_SOURCE_TARGET, edges))) == len(edges):
        for edge_id, source, target, handle in edges:
            src, dst = get(source), get(target)
            if src is not None and dst is not None:
                src.successors.append((target, handle))
                dst.predecessors.append(source)
            else:
                _unlinked(edge_id, source, target, nodes, problems)
        return None
    links: _Links = {}
    for edge_id, source, target, handle in edges:
        src, dst = get(source), get(target)
        if src is not None and dst is not None:
            at = links.get((source, target))
            if at is None:
                links[(source, target)] = len(src.successors)
                src.successors.append((target, handle))
                dst.predecessors.append(source)
            elif handle is not None and src.successors[at][1] is None:
                src.successors[at] = (target, handle)
        else:
            _unlinked(edge_id, source, target, nodes, problems)
    return links


_SOURCE_TARGET = itemgetter(1, 2)


def _unlinked(
    edge_id: str, source: str, target: str, nodes: dict[str, PreparedNode], problems: list[str]
) -> None:
    for end, node_id in (("source", source), ("target", target)):
        if node_id not in nodes:
            problems.append(f"edge {edge_id or '?'}: {end} {node_id} is not a node")


def _links_of(nodes: dict[str, PreparedNode]) -> _Links:
    """Where each successor sits in its node's list (the links :func:`_link_edges` made)."""
    return {
        (node_id, target): at
        for node_id, node in nodes.items()
        for at, (target, _) in enumerate(node.successors)
    }


def _link(
    nodes: dict[str, PreparedNode], links: _Links, source: str, target: str, handle: str | None
) -> None:
    """Add ``source → target`` once; a repeated link only fills in a missing branch handle."""
    src = nodes[source]
    at = links.get((source, target))
    if at is not None:
        if src.successors[at][1] is None and handle is not None:
            src.successors[at] = (target, handle)
        return
    links[(source, target)] = len(src.successors)
    src.successors.append((target, handle))
    nodes[target].predecessors.append(source)


def _find_cycle(nodes: dict[str, PreparedNode]) -> list[str] | None:
    """The first cycle a depth-first search meets, as a closed path; each edge followed once."""
    white, grey, black = 0, 1, 2
    color = dict.fromkeys(nodes, white)
    for root in nodes:
        if color[root] != white:
            continue
        stack: list[Iterator[tuple[str, str | None]]] = [iter(nodes[root].successors)]
        path = [root]
        color[root] = grey
        while stack:
            step = next(stack[-1], None)
            if step is None:
                color[path.pop()] = black
                stack.pop()
                continue
            child = step[0]
            if color[child] == grey:
                return [*path[path.index(child) :], child]
            if color[child] == white:
                color[child] = grey
                path.append(child)
                stack.append(iter(nodes[child].successors))
    return None


_Template = tuple[str, str | None, list[str]]
"""A template string of a node: its path, its syntax problem (or ``None``), the node ids it
refers to (sorted; empty when it does not compile)."""


def _templates_and_references(
    nodes: dict[str, PreparedNode], node_data: dict[str, dict[str, Any]]
) -> tuple[dict[str, list[_Template]], dict[str, set[str]]]:
    """The template strings of each node whose templates may have a problem (a syntax error, a
    node that does not exist, or one that is not a direct predecessor), and for each node
    whose templates refer to existing nodes other than its direct predecessors: those node ids.
    A direct predecessor is upstream: only the others need :func:`_not_upstream`'s walk (in
    the usual workflow, each node reading the one before it, no node is left in either)."""
    templates: dict[str, list[_Template]] = {}
    refs: dict[str, set[str]] = {}
    for node_id, node in nodes.items():
        data = node_data[node_id]
        texts = _template_texts(data)
        if not texts:
            continue
        if len(texts) == 1:
            text = texts[0]
            # the usual: one template, ``{{ <node-id>.result.<key> }}``, of a direct predecessor
            # (what inspect_template finds in it, without its calls)
            path = usual_path(text)
            if path is not None and path[0] in node.predecessors:
                continue
            found = inspect_template(text)
            syntax, ids = found
            if not syntax and (not ids or (len(ids) == 1 and ids[0] in node.predecessors)):
                continue  # one template, referring to a direct predecessor (or none)
            inspected = [found]
        else:
            inspected = [inspect_template(text) for text in texts]
        named: set[str] = set()
        suspect = False
        for syntax, ids in inspected:
            if syntax:
                suspect = True
            named.update(ids)
        rest = named.difference(node.predecessors) if named else named
        if rest:  # a node that does not exist is never a predecessor: it is among the rest
            suspect = True
            existing = {ref for ref in rest if ref in nodes}
            if existing:
                refs[node_id] = existing
        if suspect:  # the paths, for the problems (each template's parse is cached)
            templates[node_id] = [(path, *inspect_template(text)) for path, text in _strings(data)]
    return templates, refs


def _template_problems(
    node_id: str,
    found: list[_Template],
    nodes: Mapping[str, Any],
    not_upstream: dict[str, set[str]],
    problems: list[str],
) -> None:
    """Append the problems of a node's templates: syntax, references to missing or not upstream nodes."""
    outside: Set[str] = not_upstream.get(node_id, frozenset())
    for path, syntax, refs in found:
        if syntax:
            problems.append(f"node {node_id}: {path}: {syntax}")
            continue
        for ref in refs:
            if ref not in nodes:
                problems.append(f"node {node_id}: {path} refers to node {ref}, which does not exist")
            elif ref in outside:
                problems.append(f"node {node_id}: {path} refers to node {ref}, which is not upstream")


def _not_upstream(
    nodes: dict[str, PreparedNode], refs: dict[str, set[str]], order: list[str]
) -> dict[str, set[str]]:
    """For each node in ``refs``: the nodes it refers to that are not its ancestors.

    The graph must be acyclic and ``order`` its topological order. One bit per referenced
    node; one pass in that order (see the module docstring for the cost). In the usual
    workflow, each node reading the one before it, ``refs`` is empty and this costs nothing.
    """
    if not refs:
        return {}
    referenced = {ref for named in refs.values() for ref in named}
    # bits numbered in topological order, so a mask is only as wide as its referenced ancestors
    # go; the numbers are kept, not 1 << i, as those would add up to R²/16 bytes
    index = {ref: i for i, ref in enumerate(n for n in order if n in referenced)}
    unread = {node_id: len(node.successors) for node_id, node in nodes.items()}
    masks: dict[str, int] = {}
    outside: dict[str, set[str]] = {}
    for node_id in order:
        mask = 0
        for parent in nodes[node_id].predecessors:
            mask |= masks[parent]
            if parent in index:
                mask |= 1 << index[parent]
            unread[parent] -= 1
            if not unread[parent]:
                del masks[parent]
        missing = {ref for ref in refs.get(node_id, ()) if not mask >> index[ref] & 1}
        if missing:
            outside[node_id] = missing
        if unread[node_id]:
            masks[node_id] = mask
    return outside


def _topological_order(nodes: dict[str, PreparedNode]) -> list[str]:
    """A topological order, every node in it exactly when the graph is acyclic: the nodes' own
    order when every link goes forward in it (as a generator or an editor usually lists them:
    one look per link), else Kahn's algorithm, O(N + E)."""
    position = dict(zip(nodes, count()))
    for at, node in enumerate(nodes.values()):
        for target, _ in node.successors:
            if position[target] <= at:
                return _kahn_order(nodes)
    return list(nodes)


def _kahn_order(nodes: dict[str, PreparedNode]) -> list[str]:
    """Kahn's algorithm, O(N + E); every node is in it when the graph is acyclic."""
    waiting = {node_id: len(node.predecessors) for node_id, node in nodes.items()}
    ready = [node_id for node_id, waits in waiting.items() if not waits]
    order: list[str] = []
    while ready:
        node_id = ready.pop()
        order.append(node_id)
        for target, _ in nodes[node_id].successors:
            waiting[target] -= 1
            if not waiting[target]:
                ready.append(target)
    return order


def _strings(value: Any, path: str = "data") -> list[tuple[str, str]]:
    """Template strings in ``value`` with their paths (a path is built only where needed)."""
    found: list[tuple[str, str]] = []
    stack: list[tuple[str, Any]] = [(path, value)]
    push, pop = stack.append, stack.pop
    while stack:
        where, item = pop()
        if isinstance(item, str):
            if "{{" in item:  # always, but for ``value`` itself
                found.append((where, item))
        elif isinstance(item, dict):
            for k, v in item.items():
                if type(v) is str:  # the usual value: one test decides
                    if "{{" in v:
                        push((f"{where}.{k}", v))
                elif isinstance(v, _CONTAINERS) or (isinstance(v, str) and "{{" in v):
                    push((f"{where}.{k}", v))
        elif isinstance(item, list):
            for i, v in enumerate(item):
                if type(v) is str:
                    if "{{" in v:
                        push((f"{where}[{i}]", v))
                elif isinstance(v, _CONTAINERS) or (isinstance(v, str) and "{{" in v):
                    push((f"{where}[{i}]", v))
    return found


def _template_texts(value: Any) -> list[str]:
    """The template strings of :func:`_strings`, in the same order, without their paths."""
    if type(value) is dict:
        # the usual node data: text, numbers and objects of those (an if-else's condition), read
        # without a stack in the order the stack visits them (last value first, depth first)
        found: list[str] = []
        for v in reversed(value.values()):
            kind = type(v)
            if kind is str:
                if "{{" in v:
                    found.append(v)
            elif kind is dict:
                for w in reversed(v.values()):
                    if type(w) is str:
                        if "{{" in w:
                            found.append(w)
                    elif type(w) not in _SCALARS:
                        return _walk_template_texts(value)
            elif kind not in _SCALARS:
                return _walk_template_texts(value)
        return found
    return _walk_template_texts(value)


_SCALARS = frozenset({int, float, bool, type(None)})


def _walk_template_texts(value: Any) -> list[str]:
    """:func:`_template_texts` of any value."""
    found: list[str] = []
    stack: list[Any] = [value]
    push, pop = stack.append, stack.pop
    while stack:
        item = pop()
        if isinstance(item, str):
            if "{{" in item:
                found.append(item)
        elif isinstance(item, _CONTAINERS):
            for v in item.values() if isinstance(item, dict) else item:
                if type(v) is str:
                    if "{{" in v:
                        push(v)
                elif isinstance(v, _CONTAINERS) or (isinstance(v, str) and "{{" in v):
                    push(v)
    return found


_CONTAINERS = (dict, list)
