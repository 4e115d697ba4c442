"""Compiled loops of the steps codec (Numba): one pass where numpy needs six; None without Numba."""

# ``split_grid`` does in one pass over a float image what ``stepcodec._prepare_block`` does with
# numpy (``rint(255 x)`` as uint8, the grid value ``float32(q) / 255``, the comparison of the bit
# patterns, the positions off the grid and their XOR): a 16-image 224x224 RGB batch read from
# memory takes ~3 ms instead of 5-6 (8 while the writer's threads compress). It takes the whole
# batch in one call and releases the GIL for all of it, so the writer's threads encode meanwhile
# and the caller takes the GIL back once per step (once per image cost ~10 % of the logging time:
# each time it waited for a writer thread's Python). The numpy code stays the reference: the
# tests check that both give the same steps.
#
# Loading it costs about 1 s of one core once per process (importing Numba, then its machine code
# from the cache next to this file or in Numba's user cache; the first compilation ever takes a
# few seconds more). So it is loaded in a background thread, at the first batch large enough to
# gain from it (WORTH values), and the numpy code runs until it is ready: a short experiment on
# small images never waits for it, and the dashboard (which only reads) never loads it: Numba
# and LLVM add about 130 MB to the process's resident memory.

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

BLOCK = 4096  # values whose flags are found at once (the flags stay in the CPU cache)
SAMPLE = 61  # every SAMPLE-th value is looked at first to tell an image far from the grid
# a flag word with only byte j set (to 1), times BYTE_INDEX, has 7 - j in its top byte
BYTE_INDEX = np.uint64(0x0706050403020100)
WORTH = 2**20  # values in one batch that start loading the compiled code (16 x 148 x 148 x 3)
DISABLE_ENV = "ANIMLIB_NO_JIT"  # set to 1: use the numpy code (as without Numba)

_lock = threading.Lock()
_state: dict[str, Any] = {"pid": None, "done": threading.Event(), "split_grid": None}


def split_grid(*, start: bool = True, wait: bool = False) -> Callable[..., None] | None:
    """The compiled ``split_grid(x, q, res, counts, oks, grid_bits, limit)`` once it is loaded,
    else None.

    Args:
        start: Start loading it in a background thread if nobody did yet.
        wait: Wait until it is loaded (or found missing).

    Returns:
        The function; None while it loads, without Numba, or with ``ANIMLIB_NO_JIT=1``.

    The function splits every row (image) of a batch in one call (the GIL is released and
    taken back once per call, not once per image): ``x`` (n, v) float32 values; ``q`` (n, v)
    uint8 receiving ``rint(255 x)`` clipped to [0, 255] (NaN: 0); ``res`` (n, >= 2 * limit)
    uint32 whose row receives, for the values whose bits differ from their grid value's, the
    gaps between their positions (first: position + 1) in ``res[r, :count]`` and the XOR of
    the two bit patterns in ``res[r, limit:limit + count]``; ``counts`` (n,) int64 and
    ``oks`` (n,) bool receiving each row's ``count`` and ``in_range``; ``grid_bits`` the 256
    grid values' bits; ``limit`` the most such values accepted in a row. ``count`` is
    ``limit + 1`` when more values (or, in a first sample, a larger share) are off the grid
    (that row's ``q`` and ``res`` are then incomplete); ``in_range``: every value off the grid
    is finite and in [0, 1] (those on it are).
    """
    if os.environ.get(DISABLE_ENV, "") not in ("", "0"):
        return None
    state = _state
    if state["pid"] != os.getpid() and (start or wait):
        with _lock:  # once per process (a forked child loads its own)
            if state["pid"] != os.getpid():
                state.update(pid=os.getpid(), done=threading.Event(), split_grid=None)
                done = state["done"]
                threading.Thread(target=_load, args=(done,), daemon=True).start()
    if wait and state["pid"] == os.getpid():
        state["done"].wait()
    return state["split_grid"]


def _load(done: threading.Event) -> None:
    """Import Numba and compile (or load from the cache) the kernel; no Numba: stay None."""
    try:
        import numba

        jit = numba.njit(nogil=True, cache=True, boundscheck=False, error_model="numpy")
        kernel = jit(_split_grid)
        x = np.zeros((1, 8), np.float32)  # the first call loads the machine code
        counts, oks = np.empty(1, np.int64), np.empty(1, np.bool_)
        q, res = np.empty((1, 8), np.uint8), np.empty((1, 10), np.uint32)
        kernel(x, q, res, counts, oks, np.zeros(256, np.uint32), 4)
        _state["split_grid"] = kernel
    except Exception:  # no Numba, or one that fails: the numpy code is exact too
        _state["split_grid"] = None
    finally:
        done.set()


def _split_grid(x, q, res, counts, oks, grid_bits, limit):
    rows, n = x.shape
    k = np.float32(255.0)
    zero = np.float32(0.0)
    magic = np.float32(12582912.0)  # 1.5 * 2**23: adding it rounds to an integer (half to even)
    sign = np.uint32(0x80000000)
    one, shift = np.uint64(1), np.uint64(56)
    flags = np.empty(BLOCK, np.uint8)
    words = flags.view(np.uint64)
    for row in range(rows):
        xr, qr, rr, bits = x[row], q[row], res[row], x[row].view(np.uint32)
        counts[row], oks[row] = limit + 1, True
        # a sample first: an image far from the grid is stored as raw bits (no list of positions)
        seen = 0
        off = 0
        for i in range(0, n, SAMPLE):
            t = xr[i] * k
            r = t if t > zero else zero
            r = r if r < k else k
            r = (r + magic) - magic
            seen += 1
            off += bits[i] != grid_bits[np.int32(r)]
        if off * n > limit * seen:
            continue
        count = 0
        last = -1
        ok = True
        for start in range(0, n, BLOCK):
            stop = min(start + BLOCK, n)
            xs, bs, qs = xr[start:stop], bits[start:stop], qr[start:stop]  # (slices: vectorised)
            found = 0
            for i in range(stop - start):  # no branch: the compiler vectorises this loop
                v = xs[i]
                t = v * k
                r = t if t > zero else zero  # NaN too
                r = r if r < k else k
                r = (r + magic) - magic
                qi = np.uint8(np.int32(r))
                g = np.float32(qi) / k  # the same float32 as numpy's (correctly rounded division)
                # equal floats have equal bits, but for -0.0 (and NaN is never equal)
                f = np.uint8((v != g) | (bs[i] >= sign))
                qs[i] = qi
                flags[i] = f
                found += f
            if found == 0:
                continue
            if count + found > limit:
                count = limit + 1
                break
            for j in range(stop - start, (stop - start + 7) // 8 * 8):
                flags[j] = 0
            for w in range((stop - start + 7) // 8):
                word = words[w]
                while word != 0:  # each flag byte set: lowest first
                    low = word & (~word + one)
                    j = w * 8 + 7 - np.int64((low * BYTE_INDEX) >> shift)
                    word ^= low
                    i = start + j
                    v = xr[i]
                    rr[count] = i - last
                    rr[limit + count] = bits[i] ^ grid_bits[qr[i]]
                    ok = ok and v >= zero and v <= np.float32(1.0)
                    last = i
                    count += 1
        counts[row], oks[row] = count, ok
