"""Compiled loops (Numba) where numpy needs many passes: the steps codec's split, the panels'
display pixels, frames to YUV; loaded once per process in the background; None without Numba."""

# ``split_grid`` does in one pass over a float image what ``stepsplit._prepare_block`` does with
# numpy (``rint(255 x)`` as uint8, the grid value ``float32(q) / 255``, the comparison of the bit
# patterns, the positions off the grid and their XOR): a 16-image 224x224 RGB batch read from
# memory takes ~2 ms (a sign PGD's: a few % off the grid; 1.4 ms all on it) instead of 5-6. It
# takes the whole batch in one call and releases the GIL for all of it, so the writer's threads
# encode meanwhile and the caller takes the GIL back once per step (once per image cost ~10 % of
# the logging time: each time it waited for a writer thread's Python). The numpy code stays the
# reference: the tests check that both give the same steps.
#
# ``display_rgb`` does in one pass over the pixels a panel shows what ``figure.pixels.StepImages``
# does with numpy in about fifteen (pick, clip, NaN check, scale, round, interleave; the channel
# change of the channel that changed most, the gain, rounding, clipping, the colour lookup): a
# 224x224 step shown at 259x259 takes ~0.16 ms, a 512x512 one ~0.33 ms, instead of 0.7-1 ms with
# numpy; on a 2-core machine (where x264 keeps ~1.6 cores busy) every ms the renderer spends on
# its own CPU shows in the render's time.
# The tests check that both give the same pixels.
#
# ``yuv420`` converts the parts of a frame that changed to the planes x264 encodes (see
# ``movie_writers.yuv``): ffmpeg then reads 1.5 bytes a pixel instead of 4 and skips its own
# conversion of every whole frame, about a third of its CPU time on these frames.
#
# Loading them costs about 1 s of one core once per process (importing Numba, then their machine
# code from the cache next to this file or in Numba's user cache; the first compilation ever
# takes a few seconds more). So they are loaded in a background thread, when a process shows it
# will gain: at the first batch large enough (WORTH values), or at a process's second render
# (``animlib.frames``); the numpy code runs until they are ready. A short experiment on small
# images never waits for them, a one-off render (the CLI's) never loads them, and a dashboard
# loads them only once it renders videos: Numba and LLVM add about 130 MB to the process's
# resident memory.

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from .exit_hooks import at_exit_here
from .settings import settings

BLOCK = 4096  # values whose flags are found at once (the flags stay in the CPU cache)
SAMPLE = 61  # every SAMPLE-th value is looked at first to tell an image far from the grid
LANES = np.uint64(0x00FF00FF00FF00FF)  # every other byte of a word: 4 16-bit lanes
FOLD = np.uint64(0x0001000100010001)  # times FOLD: the sum of 4 16-bit lanes in the top one
# a word of 8 flag bytes (0 or 1) times PACK has flag j at bit 56 + j: 8 words make a 64-bit mask
PACK = np.uint64(0x0102040810204080)
# a 64-bit word with only bit j set, times DE_BRUIJN, has in its top 6 bits the row of j in BIT_AT
DE_BRUIJN = np.uint64(0x03F79D71B4CB0A89)
BIT_AT = np.zeros(64, np.int64)
BIT_AT[(DE_BRUIJN << np.arange(64, dtype=np.uint64)) >> np.uint64(58)] = np.arange(64)
WORTH = 2**20  # values in one batch that start loading the compiled code (16 x 148 x 148 x 3)
EXIT_WAIT_S = 120.0  # the longest an exiting process waits for the compiled code to load
DISABLE_ENV = "ANIMLIB_NO_JIT"  # set to 1: use the numpy code (as without Numba; settings.no_jit)

_lock = threading.Lock()
_state: dict[str, Any] = {"pid": None, "done": threading.Event(), "kernels": {}}


def _kernel(name: str, start: bool, wait: bool) -> Callable[..., None] | None:
    """The compiled function ``name`` once loaded (start loading it, or wait for it), else None."""
    if settings().no_jit:
        return None
    state = _state
    if state["pid"] != os.getpid() and (start or wait):
        with _lock:  # once per process (a forked child loads its own)
            if state["pid"] != os.getpid():
                state.update(pid=os.getpid(), done=threading.Event(), kernels={})
                done = state["done"]
                threading.Thread(target=_load, args=(done,), daemon=True).start()
                # at exit, wait for it: frozen mid-import it held the import lock, and any
                # import while the interpreter finalized (matplotlib's Animation.__del__
                # warning for an animation never saved) waited for it for ever
                at_exit_here(done.wait, EXIT_WAIT_S)  # (a forked child: not its parent's)
    if wait and state["pid"] == os.getpid():
        state["done"].wait()
    return state["kernels"].get(name) if state["pid"] == os.getpid() else None


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
    return _kernel("split_grid", start, wait)


def display_rgb(*, start: bool = True, wait: bool = False) -> Callable[..., None] | None:
    """The compiled ``display_rgb(src, rows, cols, orig, gain, scale, lut, img, pert)`` once it
    is loaded, else None.

    Args:
        start: Start loading it in a background thread if nobody did yet.
        wait: Wait until it is loaded (or found missing).

    Returns:
        The function; None while it loads, without Numba, or with ``ANIMLIB_NO_JIT=1``.

    The function writes the pixels of the adversarial and the perturbation panel of one step in
    one pass, exactly as ``figure.pixels.StepImages`` computes them: ``src`` (H, W, 3) float32 or
    uint8, C-ordered and read-only (of a writeable array, pass a read-only view); drawn pixel
    ``(i, j)`` shows ``src[rows[i], cols[j]]`` (int64 arrays); ``img`` (oh, ow, 4) uint8
    receives its display RGBA (floats clipped to [0, 1], NaN -> 0, ``uint8(255 x + 0.5)``);
    ``pert`` (oh, ow) uint32 receives the packed ``lut`` colour of ``rint(d * gain + 127.5)``
    clipped to [0, 255], where ``d`` is, of the three channel changes ``v * scale - orig[c, i,
    j]`` (``v`` the clipped value, ``scale`` 1 for float, 1/255 for uint8, all float32), the
    largest in size (the first of equals), and ``gain`` the amplification times 127.5
    (float32). Other types raise TypeError (nothing is compiled then).
    """
    return _kernel("display_rgb", start, wait)


def display_step(
    kernel: Callable[..., None],
    step: np.ndarray,
    rows: np.ndarray,
    cols: np.ndarray,
    orig: np.ndarray,
    amplification: float,
    lut: np.ndarray,
    img: np.ndarray,
    pert: np.ndarray,
) -> None:
    """Call the compiled :func:`display_rgb` ``kernel`` on one (H, W, 3) float32 or uint8
    ``step`` as its contract asks: the step read-only (a view of a writeable one), the scale
    of its type to [0, 1] (1, or 1/255 for uint8) and the gain ``amplification`` x 127.5 in
    float32; the other arguments as :func:`display_rgb` takes them."""
    if step.flags.writeable:
        step = step.view()
        step.flags.writeable = False  # (compiled for read-only steps)
    scale = np.float32(1.0 if step.dtype == np.float32 else 1.0 / 255.0)
    kernel(step, rows, cols, orig, np.float32(amplification * 127.5), scale, lut, img, pert)


def planar(pixels: np.ndarray) -> np.ndarray:
    """(H, W, 3) values as the (3, H, W) float32 C-ordered planes :func:`display_rgb` takes
    for the original (each channel's row read contiguously: the loop is vectorised)."""
    return np.ascontiguousarray(np.moveaxis(pixels, 2, 0), dtype=np.float32)


def yuv420(*, start: bool = True, wait: bool = False) -> Callable[..., None] | None:
    """The compiled ``yuv420(pixels, pairs, y, u, v, boxes)`` once it is loaded, else None.

    Args:
        start: Start loading it in a background thread if nobody did yet.
        wait: Wait until it is loaded (or found missing).

    Returns:
        The function; None while it loads, without Numba, or with ``ANIMLIB_NO_JIT=1``.

    The function converts, for each row ``(r0, r1, c0, c1)`` of the (n, 4) int64 ``boxes``,
    rows ``r0:r1`` and columns ``c0:c1`` (even numbers inside the frame) of a C-ordered
    (H, W, 4) uint8 RGBA frame, given as its (H, W) uint32 ``pixels`` and its (H, W / 2)
    uint64 ``pairs`` (views of it on a little-endian machine), into the 8-bit planes ``y``
    (H, W), ``u`` and ``v`` (H / 2, W / 2) exactly as ``movie_writers.yuv.convert`` does with
    numpy. Other types raise TypeError (nothing is compiled then).
    """
    return _kernel("yuv420", start, wait)


def _load(done: threading.Event) -> None:
    """Import Numba and compile (or load from the cache) the kernels; no Numba: none."""
    try:
        import numba

        jit = numba.njit(nogil=True, cache=True, boundscheck=False, error_model="numpy")
        split = jit(_split_grid)
        x = np.zeros((1, 8), np.float32)  # the first call loads the machine code
        counts, oks = np.empty(1, np.int64), np.empty(1, np.bool_)
        q, res = np.empty((1, 8), np.uint8), np.empty((1, 10), np.uint32)
        split(x, q, res, counts, oks, np.zeros(256, np.uint32), 4)
        display = jit(_display_rgb)
        index, orig = np.zeros(2, np.int64), np.zeros((3, 2, 2), np.float32)
        img, pert = np.empty((2, 2, 4), np.uint8), np.empty((2, 2), np.uint32)
        one = np.float32(1.0)
        for dtype in (np.float32, np.uint8):  # the two types of steps it is called with
            src = np.zeros((2, 2, 3), dtype)
            src.flags.writeable = False  # (steps read from a store are read-only)
            display(src, index, index, orig, one, one, np.zeros(256, np.uint32), img, pert)
        display.disable_compile()  # other types raise TypeError (never a compilation mid-render)
        yuv = jit(_yuv420)
        planes = np.empty((2, 2), np.uint8), np.empty((1, 1), np.uint8), np.empty((1, 1), np.uint8)
        for writeable in (True, False):  # a canvas buffer, or a caller's read-only frame
            pixels, pairs = np.zeros((2, 2), np.uint32), np.zeros((2, 1), np.uint64)
            pixels.flags.writeable = pairs.flags.writeable = writeable
            yuv(pixels, pairs, *planes, np.array([[0, 2, 0, 2]], np.int64))
        yuv.disable_compile()
        _state["kernels"] = {"split_grid": split, "display_rgb": display, "yuv420": yuv}
    except Exception:  # no Numba, or one that fails: the numpy code is exact too
        _state["kernels"] = {}
    finally:
        done.set()


def _split_grid(x, q, res, counts, oks, grid_bits, limit):
    rows, n = x.shape
    k = np.float32(255.0)
    zero = np.float32(0.0)
    magic = np.float32(12582912.0)  # 1.5 * 2**23: adding it rounds to an integer (half to even)
    sign = np.uint32(0x80000000)
    one, s8, s48 = np.uint64(1), np.uint64(8), np.uint64(48)
    s56, s58 = np.uint64(56), np.uint64(58)
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
            end = (stop - start + 63) // 64 * 64
            flags[stop - start : end] = 0
            # the flags counted afterwards, 8 at a time in 16-bit lanes (a count in the loop
            # above kept it 4 values wide: 2.1 ms for a 16-image 224x224 batch, now 1.4)
            sums = np.uint64(0)
            for w in range(end // 8):
                word = words[w]
                sums += (word & LANES) + ((word >> s8) & LANES)
            found = np.int64((sums * FOLD) >> s48)  # the 4 lanes' sum (<= BLOCK) in the top one
            if found == 0:
                continue
            if count + found > limit:
                count = limit + 1
                break
            # the flags of 64 values as the bits of one word, then each bit set, lowest first:
            # the loop's end is mispredicted once per 64 values with any off the grid (with a
            # loop per 8 values, about once per value off it: a sign PGD's few % took 1.5 ms
            # of a 16-image 224x224 batch, now 0.8)
            for w0 in range(0, end // 8, 8):
                mask = np.uint64(0)
                for w in range(8):
                    mask |= ((words[w0 + w] * PACK) >> s56) << np.uint64(8 * w)
                while mask != 0:
                    low = mask & (~mask + one)
                    mask ^= low
                    i = start + w0 * 8 + BIT_AT[(low * DE_BRUIJN) >> s58]
                    v = xr[i]
                    rr[count] = i - last
                    rr[limit + count] = bits[i] ^ grid_bits[qr[i]]
                    ok = ok and v >= zero and v <= np.float32(1.0)
                    last = i
                    count += 1
        counts[row], oks[row] = count, ok


def _display_rgb(src, rows, cols, orig, gain, scale, lut, img, pert):
    zero, one, k = np.float32(0.0), np.float32(1.0), np.float32(255.0)
    half, mid = np.float32(0.5), np.float32(127.5)
    magic = np.float32(12582912.0)  # 1.5 * 2**23: adding it rounds to an integer (half to even)
    s8, s16, alpha = np.uint32(8), np.uint32(16), np.uint32(0xFF000000)
    floats = src.itemsize == 4  # float32 (else uint8)
    oh, ow = pert.shape
    # a row's drawn pixels are gathered first, one plane per channel: the loops after it read
    # and write contiguous rows, so the compiler vectorises them (one loop doing it all, with
    # the gather, the colour lookup and a branch for NaN, took 2.5x as long)
    planes = np.empty((3, ow), np.float32)
    index = np.empty(ow, np.uint8)
    packed = img.reshape(oh, ow * 4).view(np.uint32)  # RGBA, R in the low byte
    for i in range(oh):
        row = src[rows[i]]
        r, g, b = planes[0], planes[1], planes[2]
        for j in range(ow):
            c = cols[j]
            r[j], g[j], b[j] = row[c, 0], row[c, 1], row[c, 2]
        out = packed[i]
        if floats:
            for j in range(ow):
                a0 = min(max(r[j], zero), one) if r[j] == r[j] else zero  # NaN -> 0
                a1 = min(max(g[j], zero), one) if g[j] == g[j] else zero
                a2 = min(max(b[j], zero), one) if b[j] == b[j] else zero
                q0 = np.uint32(np.int32(a0 * k + half))
                q1 = np.uint32(np.int32(a1 * k + half))
                q2 = np.uint32(np.int32(a2 * k + half))
                out[j] = q0 | (q1 << s8) | (q2 << s16) | alpha
                r[j], g[j], b[j] = a0, a1, a2
        else:
            for j in range(ow):
                q0, q1, q2 = (
                    np.uint32(np.int32(r[j])),
                    np.uint32(np.int32(g[j])),
                    np.uint32(np.int32(b[j])),
                )
                out[j] = q0 | (q1 << s8) | (q2 << s16) | alpha
                r[j], g[j], b[j] = r[j] * scale, g[j] * scale, b[j] * scale
        o0, o1, o2 = orig[0, i], orig[1, i], orig[2, i]
        for j in range(ow):  # the channel changed most, signed (the first of equals)
            d0, d1, d2 = r[j] - o0[j], g[j] - o1[j], b[j] - o2[j]
            d = d1 if abs(d1) > abs(d0) else d0
            d = d2 if abs(d2) > abs(d) else d
            d = d * gain + mid
            d = d if d == d else zero  # NaN: the first colour (numpy's cast of NaN, clipped)
            index[j] = np.uint8(np.int32(min(max((d + magic) - magic, zero), k)))
        p = pert[i]
        for j in range(ow):
            p[j] = lut[index[j]]


def _yuv420(pixels, pairs, y, u, v, boxes):
    u32, u64 = np.uint32, np.uint64
    byte, s8, s16 = u32(255), u32(8), u32(16)
    lanes, low = u64(0x00FF00FF00FF00FF), u64(0xFFFF)
    q8, q16, q32, two = u64(8), u64(16), u64(32), u64(2)
    # every inner loop runs over slices from 0: indices that cannot be negative need no
    # wraparound check, so the compiler vectorises the loops (6-7x faster than indexing the
    # whole rows from c0)
    for k in range(boxes.shape[0]):
        r0, r1, c0, c1 = boxes[k, 0], boxes[k, 1], boxes[k, 2], boxes[k, 3]
        for i in range(r0, r1):  # luma: one pixel (a uint32, R in the low byte) at a time
            row, out = pixels[i, c0:c1], y[i, c0:c1]
            for j in range(row.shape[0]):
                p = row[j]
                r, g, b = p & byte, (p >> s8) & byte, (p >> s16) & byte
                out[j] = np.uint8((u32(66) * r + u32(129) * g + u32(25) * b + u32(4224)) >> s8)
        # chroma: two pixels (a uint64) of two rows at a time, channels summed in 16-bit lanes
        h0, h1 = c0 >> 1, c1 >> 1
        for i in range(r0, r1, 2):
            a, b = pairs[i, h0:h1], pairs[i + 1, h0:h1]
            uu, vv = u[i >> 1, h0:h1], v[i >> 1, h0:h1]
            for j in range(a.shape[0]):
                qa, qb = a[j], b[j]
                rb = (qa & lanes) + (qb & lanes)  # R and B of both pixels of both rows
                rb = rb + (rb >> q32)
                ga = ((qa >> q8) & lanes) + ((qb >> q8) & lanes)  # G (and alpha)
                ga = ga + (ga >> q32)
                r = u32(((rb & low) + two) >> two)  # the means, rounded
                bl = u32((((rb >> q16) & low) + two) >> two)
                g = u32(((ga & low) + two) >> two)
                # ((x + 128) >> 8) + 128 as (x + 32896) >> 8: never negative, so unsigned
                uu[j] = np.uint8((u32(112) * bl + u32(32896) - u32(38) * r - u32(74) * g) >> s8)
                vv[j] = np.uint8((u32(112) * r + u32(32896) - u32(94) * g - u32(18) * bl) >> s8)
