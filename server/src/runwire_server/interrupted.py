"""Whether a run interrupted mid-way (its worker killed, its server stopped) may start over.

The one decision every path that re-runs a run goes through (:meth:`RunExecutor.execute
<runwire_server.executor.RunExecutor.execute>`, after its claim): a run whose stored node records
show a node that is not safe to repeat as started (running or finished) ends ``failed`` with
:func:`interruption`'s error; any other run starts over. A node that is not safe has its start
written to the store before it runs (:class:`runwire_server.progress.StoreObserver`), so a crash
after its program started always leaves that trace.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from runwire.records import Status
from runwire.workflow import PreparedNode, PreparedWorkflow

RerunPolicy = Literal["never", "safe", "always"]
"""``RUNWIRE_RERUN_INTERRUPTED``: re-run no interrupted run that had started a node; only those
whose started nodes are all safe to repeat (default); or every one but those with a node whose
``rerun_if_interrupted`` is ``false``."""
SETTING = "RUNWIRE_RERUN_INTERRUPTED"


def may_rerun(node: PreparedNode, policy: RerunPolicy) -> bool:
    """Whether ``node`` may run again after an interruption, under ``policy``: never under
    ``never``; else its ``rerun_if_interrupted`` field if set; else always under ``always``, and
    under ``safe`` as its node type's :meth:`safe_to_rerun <runwire.nodes.NodeType.safe_to_rerun>` says."""
    if policy == "never":
        return False
    chosen = getattr(node.data, "rerun_if_interrupted", None)
    if isinstance(chosen, bool):
        return chosen
    return policy == "always" or bool(node.impl.safe_to_rerun(node.data))


def unsafe_nodes(prepared: PreparedWorkflow, policy: RerunPolicy) -> frozenset[str]:
    """Ids of the nodes whose start must be recorded before they run (those not safe to repeat)."""
    return frozenset(node_id for node_id, node in prepared.nodes.items() if not may_rerun(node, policy))


def interruption(prepared: PreparedWorkflow, nodes: Mapping[str, Any], policy: RerunPolicy) -> str | None:
    """The error of an interrupted run whose stored node records are ``nodes``, or ``None`` when it
    may start over (no node that is not safe to repeat had started)."""
    for node_id, record in nodes.items():
        node = prepared.nodes.get(node_id)
        status = record.get("status") if isinstance(record, dict) else None
        if node is None or status in (None, Status.SKIPPED) or may_rerun(node, policy):
            continue
        data = node.data
        label = getattr(data, "label", None) or getattr(data, "name", None) or node.type
        when = "while node" if status == Status.IN_PROGRESS else "after node"
        verb = "was running" if status == Status.IN_PROGRESS else "had run"
        how = (
            f"{SETTING} is 'never'"
            if policy == "never"
            else "it is not safe to repeat (set rerun_if_interrupted to allow)"
        )
        return f"interrupted {when} {label!r} ({node_id}) {verb}; not run again because {how}"
    return None


def interrupted_nodes(nodes: Mapping[str, Any], error: str) -> dict[str, Any]:
    """The stored node records of an interrupted run ended ``failed``: nodes that were running are
    failed with ``error``."""
    result: dict[str, Any] = {}
    for node_id, record in nodes.items():
        if isinstance(record, dict) and record.get("status") == Status.IN_PROGRESS:
            record = {**record, "status": Status.FAILED, "error": error}
        result[node_id] = record
    return result
