"""Cache keys and the names of what the cache holds."""

# - A finished run's render is keyed by **content** (:func:`render_key`): every run's fingerprint,
#   every option, the format and animlib's version. Such an entry never changes, so any copy of it
#   (a local read-through copy of a shared cache) stays valid.
# - A live run's render (a run still being written, ``status == "running"``) is keyed by
#   **identity** (:func:`live_key`): the runs' locations and creation times, the options, the
#   format. Its one entry is replaced as the run grows (see :mod:`animlib.cache.live`).
#
# Names in the cache folder (local or shared): ``<key>.<fmt>`` (a render), ``live-<key>.<fmt>`` (a
# live render) and hidden sidecars of an entry, ``.<kind>-<entry>...``: its lease (``.lease-``),
# takeover claims (``.claim-``), last-use record (``.used-``, shared caches only) and live manifest
# (``.live-<entry>.json``). Eviction removes sidecars with their entry.

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import importlib.resources
import json
import os
import re
from collections.abc import Iterator, Sequence
from typing import Any

from .. import __version__, code_stamp
from ..errors import Code, RenderOptionError
from ..options import RenderOptions
from ..protocol import RunLike, as_runs, run_label

_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # animlib/

LOOK = 2  # how frames are drawn: raised by a change that draws any frame differently (renders
# cached before it then get new keys instead of being served, or appended to, with new frames);
# animlib's own code is in every key too (code_digest), so a change no one raised LOOK for is met
LEASE = "lease"
CLAIM = "claim"
USED = "used"
LIVE = "live"
_SIDECAR = re.compile(r"\.(lease|claim|used|live)-([^+]+?)(?:\+[^/]*|\.json)?")


def render_key(runs: RunLike | Sequence[RunLike], fmt: str, options: RenderOptions) -> str:
    """The one key of a render: it changes with any run's content, any option, the format,
    animlib's version or the frames' look (``LOOK``); used by the render cache and by
    ``render --all``'s up-to-date stamps.

    Args:
        runs: one run or the runs of a comparison (order matters).
        fmt: the output format (``"mp4"``, ``".GIF"``: case and dot do not matter).
        options: the render options.

    Returns:
        40 hex digits.
    """
    return _key([[run_label(r), r.fingerprint] for r in as_runs(runs)], fmt, options)


def live_key(runs: RunLike | Sequence[RunLike], fmt: str, options: RenderOptions) -> str:
    """The key of a live render (arguments and result as :func:`render_key`'s): the runs'
    identities (location and creation time, never their content), the options, the format,
    animlib's version and the frames' look."""
    return _key([[identity(r), creation(r)] for r in as_runs(runs)], fmt, options, live=True)


def _key(runs: list[list[str]], fmt: str, options: RenderOptions, **extra: object) -> str:
    payload = {
        "v": __version__,
        "look": LOOK,
        "code": code_digest(),
        "fmt": str(fmt).lower().lstrip("."),
        "runs": runs,
        "options": options.as_dict(),
        **extra,
    }
    return _digest(payload)


def strips_key(run: RunLike) -> str:
    """The file prefix of a run's player strips, ``player-`` and 32 hex digits: it changes
    with the run's content (a running run: with its identity, so its complete strips are
    reused as it grows), animlib's version and the frames' look (``LOOK``)."""
    live = is_live([run])
    held = [identity(run), creation(run)] if live else [run_label(run), run.fingerprint]
    payload = {"v": __version__, "look": LOOK, "code": code_digest(), "player": held, "live": live}
    return "player-" + _digest(payload)[:32]


@functools.cache
def code_digest() -> str:
    """16 hex digits of animlib's own code and matplotlib's version, which draw the frames:
    renders cached by other code (an upgrade, another checkout: ``__version__`` stays the same
    between commits) get other keys instead of being served with an older look. The code is
    its source files (``.py``; compiled ``.pyc`` beside them in an install without sources),
    read through the package's loader (a zip import too). Once per process (~140 files, a few
    ms)."""
    try:  # (from its metadata: a render the cache holds imports no matplotlib)
        drawn_by = importlib.metadata.version("matplotlib")
    except importlib.metadata.PackageNotFoundError:
        drawn_by = "?"
    digest = hashlib.sha256(f"matplotlib {drawn_by}".encode())
    for name, data in _code_files(importlib.resources.files(__package__.split(".")[0]), ""):
        digest.update(name.encode() + b"\0" + data)
    if code_stamp.AT_IMPORT is not None and code_stamp.stamp(_PACKAGE) != code_stamp.AT_IMPORT:
        # the files changed since this process imported them (a git pull under a running
        # dashboard): the digest of what is on disk is not of the code drawing here, so its
        # renders get keys of their own (made, never served to the updated code, or taken)
        digest.update(f"changed since imported by process {os.getpid()}".encode())
        digest.update(repr(code_stamp.AT_IMPORT).encode())
    return digest.hexdigest()[:16]


def _code_files(folder: Any, prefix: str) -> Iterator[tuple[str, bytes]]:
    """``(relative name, bytes)`` of the code files below ``folder`` (a Traversable), by name;
    not ``__pycache__`` (filled as modules are first imported: it would change the digest)."""
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        name = prefix + entry.name
        if entry.is_dir():
            if entry.name != "__pycache__":
                yield from _code_files(entry, name + "/")
        elif entry.name.endswith((".py", ".pyc")):
            yield name, entry.read_bytes()


def identity(run: RunLike) -> str:
    """Where a run lives (its URL or path), else its id."""
    return str(getattr(run, "url", None) or run_label(run))


def creation(run: RunLike) -> str:
    """When the run was made (``created``, to the second, and ``run_uid``: the run made anew at
    its path within that second, or under a clock set back, is another run), and when a resume
    last dropped steps of it (``steps_dropped``): a live run's frames of earlier steps stay
    right only while none of them changes."""
    meta = getattr(run, "meta", None)
    if not isinstance(meta, dict):
        return ""
    dropped = meta.get("steps_dropped")
    made = str(meta.get("created", "")) + "|" + str(meta.get("run_uid", ""))
    return made + (f"|{dropped}" if dropped else "")


def _digest(payload: dict) -> str:
    blob = json.dumps(payload, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:40]


def is_live(runs: Sequence[RunLike]) -> bool:
    """True if any of the runs is still being written (its ``status`` is ``running``)."""
    return any(getattr(r, "status", None) == "running" for r in runs)


def check_format(fmt: str) -> str:
    """``fmt`` as a cache name suffix (lower case, no dot).

    Raises:
        RenderOptionError: (UNSUPPORTED) if it is not a plain name such as ``mp4``.
    """
    fmt = str(fmt).lower().lstrip(".")
    if not fmt.isalnum() or not fmt.isascii():
        raise RenderOptionError(
            f"not an output format: {fmt!r}", field="format", code=Code.UNSUPPORTED
        )
    return fmt


def entry_name(key: str, fmt: str) -> str:
    """The name of the render ``key`` in format ``fmt``."""
    return f"{key}.{fmt}"


def live_name(key: str, fmt: str) -> str:
    """The name of the live render ``key`` in format ``fmt``."""
    return f"live-{key}.{fmt}"


def sidecar(kind: str, entry: str, extra: str = "") -> str:
    """The name of the ``kind`` sidecar of ``entry`` (``extra`` is appended after a ``+``)."""
    if kind == LIVE:
        return f".{LIVE}-{entry}.json"
    return f".{kind}-{entry}+{extra}" if extra else f".{kind}-{entry}"


_ENTRY = re.compile(r"(?:live-)?[0-9a-f]{40}\.[a-z0-9]+|player-[0-9a-f]{32}-[^/]+\.png")
_KEY = re.compile(r"[0-9a-f]{32}")


def is_entry(name: str) -> bool:
    """True if ``name`` is a render's name (:func:`entry_name`, :func:`live_name`) or a player
    strip's: eviction touches nothing else in the cache folder (it may be a folder of the
    user's)."""
    return _ENTRY.fullmatch(name) is not None


def is_ours(hidden: str) -> bool:
    """True if the hidden name ``hidden`` is one the cache makes (a sidecar, lease or
    temporary file of a render or strip: it holds a key)."""
    return _KEY.search(hidden) is not None


def owner(name: str) -> str | None:
    """The entry a sidecar name belongs to (None if ``name`` is no sidecar)."""
    m = _SIDECAR.fullmatch(name)
    return m.group(2) if m else None
