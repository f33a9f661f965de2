"""Keeping a long-lived server's memory from ratcheting up after large requests.

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
import ctypes.util
import logging

log = logging.getLogger("runwire.server")

M_MMAP_THRESHOLD = -3
"""glibc's ``mallopt`` parameter number (malloc.h)."""
MMAP_THRESHOLD_BYTES = 128 * 1024
"""glibc's default threshold, kept fixed."""


def pin_mmap_threshold() -> bool:
    """Pin glibc malloc's mmap threshold at its default; ``False`` where there is no glibc."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl, macOS: no mallopt, and no such ratchet to stop
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES))
