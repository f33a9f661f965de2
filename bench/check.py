"""Workflow check cost: time and peak memory of ``check_workflow`` on chains and fan-outs.

Run: ``python bench/check.py [--nodes 2000] [--big 20000] [--repeat 5]``. Prints, per shape, the
best check time of ``--repeat`` runs and the peak memory of one run (tracemalloc; measured
separately, as tracing slows Python down). Targets at ``--nodes`` (RUNWIRE_MAX_NODES' default):
≤ 50 ms and ≤ 20 MB. ``--big`` is the same with the limit raised, to show the cost is linear.

Shapes: ``chain`` (trigger → n1 → n2 …) and ``fan-out`` (trigger → every node), of output nodes
without templates; then the same where every node refers to a node upstream (``{{ n41.result
.content }}`` its predecessor in the chain, the trigger in the fan-out), first check (templates
compiled cold, as a server's first check of a version) and again (compiled). Last, the
reachability pass alone on the big chain where every node refers to its predecessor (R = N
referenced nodes, the worst case of the bitset walk).
"""

from __future__ import annotations

import argparse
import itertools
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

from runwire.check import _build, _not_upstream, _topological_order, check_workflow
from runwire.plugins import Plugins
from runwire.workflow import PlainWorkflow, parse_workflow_data


def chain(n: int, refer: bool = False) -> dict[str, Any]:
    """A trigger and ``n - 1`` output nodes in a line; with ``refer``, each names its predecessor."""
    ids = ["start", *(f"n{i}" for i in range(1, n))]
    nodes = [{"id": "start", "type": "trigger-node", "data": {}}]
    for prev, node_id in itertools.pairwise(ids):
        output = f"{{{{ {prev}.result.content }}}}" if refer else node_id
        nodes.append({"id": node_id, "type": "output-node", "data": {"output": output}})
    edges = [{"id": f"e{i}", "source": a, "target": b} for i, (a, b) in enumerate(itertools.pairwise(ids))]
    return {"nodes": nodes, "edges": edges, "start_node": "start"}


def fan_out(n: int, refer: bool = False) -> dict[str, Any]:
    """A trigger and ``n - 1`` output nodes behind it; with ``refer``, each names the trigger."""
    nodes = [{"id": "start", "type": "trigger-node", "data": {}}]
    output = "{{ start.result.content }}" if refer else "done"
    nodes += [{"id": f"n{i}", "type": "output-node", "data": {"output": output}} for i in range(1, n)]
    edges = [{"id": f"e{i}", "source": "start", "target": f"n{i}"} for i in range(1, n)]
    return {"nodes": nodes, "edges": edges, "start_node": "start"}


def timed(call: Callable[[], object], repeat: int) -> tuple[float, float]:
    """``(first, best)`` wall time of ``call`` in milliseconds."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return times[0], min(times)


def peak_mib(call: Callable[[], object]) -> float:
    tracemalloc.start()
    try:
        call()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--nodes", type=int, default=2000)
    parser.add_argument("--big", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    plugins = Plugins.load()
    print("check_workflow cost (target at the default limit of 2,000 nodes: ≤ 50 ms, ≤ 20 MB)")
    for n in (args.nodes, args.big):
        for label, make in (("chain", chain), ("fan-out", fan_out)):
            data = parse_workflow_data(make(n))
            assert check_workflow(data, plugins) == []
            _, best = timed(lambda d=data: check_workflow(d, plugins), args.repeat)
            peak = peak_mib(lambda d=data: check_workflow(d, plugins))
            print(f"  {label:8s} {n:6d} nodes              {best:8.1f} ms  {peak:6.1f} MiB peak")
    for label, make in (("chain", chain), ("fan-out", fan_out)):
        data = parse_workflow_data(make(args.nodes, refer=True))
        first, best = timed(lambda d=data: check_workflow(d, plugins), args.repeat)
        peak = peak_mib(lambda d=data: check_workflow(d, plugins))
        print(
            f"  {label:8s} {args.nodes:6d} nodes, references  {best:8.1f} ms  {peak:6.1f} MiB peak"
            f"   (first check, templates compiled cold: {first:.0f} ms)"
        )
    prepared, _ = _build(PlainWorkflow.of(parse_workflow_data(chain(args.big))), plugins)
    assert prepared is not None
    refs = {f"n{i}": {f"n{i - 1}"} for i in range(2, args.big)}
    order = _topological_order(prepared.nodes)
    _, best = timed(lambda: _not_upstream(prepared.nodes, refs, order), args.repeat)
    peak = peak_mib(lambda: _not_upstream(prepared.nodes, refs, order))
    print(f"  reachability alone, chain of {args.big}, R = {len(refs)}: {best:.1f} ms  {peak:.1f} MiB peak")


if __name__ == "__main__":
    main()
