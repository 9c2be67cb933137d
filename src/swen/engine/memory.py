"""Process-level allocator tuning for the engine's large numpy arrays (glibc only).

One cycle over 10,000 services x 50 candidates allocates a few dozen 4 MB float64 arrays. By default
glibc serves such blocks with ``mmap`` (or trims them off the heap when freed) and gives the memory
back to the OS, so the next cycle pays page faults on every fresh array; on the 2-vCPU VM used for
bench/engine_bench.py that cost ~3 ms per 4 MB and made the scoring kernel ~3x slower than its
arithmetic. :func:`tune_malloc` raises the mmap and trim thresholds so freed blocks are reused from
the heap. The process then keeps its high-water mark (peak RSS is unchanged; RSS no longer shrinks
between cycles). Call it once at the start of a long-running process that runs the engine (the loop);
it changes the whole process, so library code never calls it on import.
"""

from __future__ import annotations

import ctypes
import ctypes.util

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_MAX = 32 * 2**20
"""glibc's upper limit for M_MMAP_THRESHOLD on 64-bit systems."""


def tune_malloc(
    mmap_threshold_bytes: int = MMAP_THRESHOLD_MAX, trim_threshold_bytes: int = 512 * 2**20
) -> bool:
    """Keep blocks below ``mmap_threshold_bytes`` on the heap and only give freed heap memory back to
    the OS above ``trim_threshold_bytes``. Returns False (and changes nothing) without glibc."""
    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    ok_mmap = mallopt(M_MMAP_THRESHOLD, min(mmap_threshold_bytes, MMAP_THRESHOLD_MAX)) == 1
    ok_trim = mallopt(M_TRIM_THRESHOLD, trim_threshold_bytes) == 1
    return bool(ok_mmap and ok_trim)
