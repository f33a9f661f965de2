"""A blocking HTTP client in threads, for the benchmarks that drive a server from several
threads at once (``bench/limits.py``, ``bench/scaling.py``, ``bench/queue_memory.py``).

Issue #17's figures (targets 4-7) use the asyncio client of :mod:`harness`; these scripts measure
limits, scaling across processes and memory, where a stdlib ``http.client`` per thread is the
simpler tool and its own cost does not enter the figures.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Callable
from typing import Any

from harness import KEY

from runwire.records import TERMINAL


class Client:
    """A keep-alive HTTP/1.1 client (stdlib ``http.client``: cheap per request, one per thread)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.headers = {"X-Api-Key": KEY, "Content-Type": "application/json"}

    def request(self, method: str, path: str, body: str | None = None) -> Any:
        """Send a request; return the decoded JSON body (reconnects once if the server closed an
        idle connection)."""
        try:
            self.conn.request(method, path, body=body, headers=self.headers)
            response = self.conn.getresponse()
        except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
            self.conn.close()
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            self.conn.request(method, path, body=body, headers=self.headers)
            response = self.conn.getresponse()
        data = response.read()
        if response.status >= 300:
            raise RuntimeError(f"{method} {path}: HTTP {response.status} {data[:200]!r}")
        return json.loads(data) if data else None

    def run_to_terminal(self, workflow_id: int, body: str) -> float:
        """Start a run and poll until it is terminal (it must succeed); return the seconds taken."""
        start = time.perf_counter()
        run_id = self.request("POST", f"/api/v1/workflows/{workflow_id}/run/", body)["data"]["id"]
        delay = 0.0005
        while True:
            result = self.request("GET", f"/api/v1/workflows/workflow_result/?id={run_id}")["data"]
            if result["status"] in TERMINAL:
                if result["status"] != "succeed":
                    raise RuntimeError(f"run failed: {result}")
                return time.perf_counter() - start
            time.sleep(delay)
            delay = min(delay * 2, 0.008)


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``values``."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def concurrently(clients: int, total: int, port: int, one: Callable[[Client], None]) -> float:
    """Run ``one`` ``total`` times across ``clients`` threads; return completions per second."""
    remaining = [total]
    lock = threading.Lock()
    errors: list[BaseException] = []

    def work() -> None:
        client = Client(port)
        while True:
            with lock:
                if remaining[0] <= 0 or errors:
                    return
                remaining[0] -= 1
            try:
                one(client)
            except BaseException as exc:  # report, stop the others
                errors.append(exc)
                return

    threads = [threading.Thread(target=work) for _ in range(clients)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return total / (time.perf_counter() - start)
