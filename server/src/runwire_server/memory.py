"""Process settings of a long-lived server: memory that does not ratchet up after large
requests, an event loop that gets the GIL back quickly from a busy worker thread, and garbage
collections that do not walk every object the process made at boot.

glibc's malloc serves large blocks (≥ 128 KiB) by ``mmap`` and returns them to the system when
freed, but raises that threshold to the size of every such block freed, up to 32 MiB: after a few
3 MB request bodies, later ones come from the heap, which fragments and is never given back
(measured: +44 MiB RSS after 1,200 queued runs of 3 MB inputs, +6 MiB with the threshold pinned;
``bench/queue_memory.py``). Pinning the threshold turns the adjustment off. Setting
``MALLOC_MMAP_THRESHOLD_`` in the environment does the same, but a server should not depend on
its operator knowing that; Python offers no binding for ``mallopt``, hence ctypes.
"""

from __future__ import annotations

import ctypes
import gc
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager

log = logging.getLogger("runwire.server")

M_MMAP_THRESHOLD = -3
"""glibc's ``mallopt`` parameter number (malloc.h)."""
MMAP_THRESHOLD_BYTES = 128 * 1024
"""glibc's default threshold, kept fixed."""


def pin_mmap_threshold() -> bool:
    """Pin glibc malloc's mmap threshold at its default; ``False`` where there is no glibc."""
    try:
        # the process's own symbols, the C library's among them: no ``ctypes.util.find_library``,
        # which runs ``ldconfig -p`` in a child process (~2 ms of every start)
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError, TypeError):  # musl, macOS: no mallopt; Windows: no CDLL(None)
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES))


SWITCH_INTERVAL_S = 0.001
"""How long a thread holding the GIL may keep it once another thread asks (Python's default: 5 ms)."""


def share_the_gil_sooner() -> None:
    """Let the event loop take the GIL back from a worker thread after 1 ms instead of 5 ms.

    Big request bodies are parsed and big workflows checked in worker threads so that the loop
    stays free; but the loop still needs the GIL for every step, and at Python's default it may
    wait 5 ms each time. Measured (an event loop's lag while a thread parses a 2.4 MB body):
    p99 28 ms at 5 ms, 11 ms at 1 ms. Without contention the interval changes nothing.
    """
    sys.setswitchinterval(SWITCH_INTERVAL_S)


@contextmanager
def boot_without_collections() -> Iterator[None]:
    """No garbage collection while the block runs: the boot of ``serve`` and ``worker``.

    Importing the server and building its app make some 100,000 objects that live as long as the
    process; the collections they trigger on the way walk them over and over for nothing
    (measured: ~60 ms of a ~550 ms boot). :func:`freeze_boot_objects` then moves them out of the
    collector's reach; the few thousand cyclic leftovers of imports stay, frozen (a full
    collection to free them would cost more than the whole saving).
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def freeze_boot_objects() -> None:
    """Move every object made so far (modules, the app, the plugins) out of the garbage
    collector's reach, so that later collections only walk what requests made.

    A big request body makes some 100,000 objects; the full collection they trigger walked the
    whole process too, holding the GIL (and the event loop) for ~150 ms. Measured with
    ``bench/limits.py`` (2 clients posting 4 MB workflow bodies): /healthz p99 190 → 57 ms.
    Call it once, after boot.
    """
    gc.freeze()
