"""Path safety, decided in one place (MLflow's ``validate_path_is_safe`` is the model)."""

# Every name and path animlib reads or writes passes one of these checks:
#
# 1. A **run id** is a plain name: ASCII letters, digits, ``.``, ``_`` and ``-``, not starting with
#    a dot and without ``..`` (:func:`is_run_id`, :func:`check_run_id`). Ids typed by users (deep
#    links, the CLI) are checked before any storage is touched, so ``evil::file:`` (fsspec URL
#    chaining), ``../x`` or ``a/b`` never reach a filesystem. :func:`run_id_for` turns any run name
#    into such an id.
# 2. A **relative path** inside a store is made of plain parts: not absolute, no ``..`` or ``.``, no
#    backslash, NUL or control character, no URL scheme or chaining (``://``, ``::``)
#    (:func:`validate_path_is_safe`). Every store operation checks its path with it.
# 3. Nothing is read through a **symlink that leads outside** the folder a reader is confined to:
#    the results folder for a run opened by id, the run folder for a run opened by path
#    (:func:`escaping_link`, used by the local backend on every read; object stores have no links).

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Sequence

from ..errors import AnimlibError, Code, RunFormatError, StoreError
from ..text import CONTROL

RESULTS_FOLDER = "results folder"  # what a run opened by id is confined to (for messages)
RUN_FOLDER = "run folder"  # what a run opened by path is confined to
MAX_ID_LENGTH = 80  # ids made from names (longer folder names made by hand are still read)
MAX_NAME_LENGTH = 255  # a folder name on common filesystems
RESERVED_NAMES = ("run.json", "zarr.json")  # files of a run folder: no run id is made from them
_ID_CHARS = re.compile(r"[A-Za-z0-9._-]+")
_NOT_ID_CHARS = re.compile(r"[^A-Za-z0-9._-]+")
# symbols of attack names and budgets that have no ASCII form (NFKD drops them): "L∞ ε=0.03"
# becomes "Linf-eps-0.03", not "L-0.03"
_SPELLED = str.maketrans(
    {
        "∞": "inf",
        "ε": "eps",
        "ϵ": "eps",
        "α": "alpha",
        "β": "beta",
        "γ": "gamma",
        "δ": "delta",
        "η": "eta",
        "θ": "theta",
        "λ": "lambda",
        "μ": "mu",
        "σ": "sigma",
        "τ": "tau",
        "ℓ": "l",
    }
)
RUN_ID_RULE = (
    "a run id is a folder name made of ASCII letters, digits, '.', '_' and '-', "
    "not starting with '.' and without '..'"
)


# -- 1. run ids --------------------------------------------------------------------------------
def is_run_id(run_id: object) -> bool:
    """True if ``run_id`` is a plain run folder name (see the module docstring)."""
    return (
        isinstance(run_id, str)
        and 0 < len(run_id) <= MAX_NAME_LENGTH
        and _ID_CHARS.fullmatch(run_id) is not None
        and not run_id.startswith(".")
        and ".." not in run_id
    )


def check_run_id(run_id: object, error: type[AnimlibError] = RunFormatError) -> str:
    """Return ``run_id`` if it is a plain run id; raise ``error`` with code UNSAFE otherwise."""
    if not is_run_id(run_id):
        raise error(
            f"is not a valid run id ({RUN_ID_RULE})",
            run=str(run_id)[:MAX_NAME_LENGTH],
            field="id",
            code=Code.UNSAFE,
        )
    return str(run_id)


def run_id_for(name: str, limit: int = MAX_ID_LENGTH) -> str:
    """Turn a run name into a run id: ASCII letters, digits, ``._-``; never ``..``; at most
    ``limit`` characters; never a run folder's own file names (``run.json`` -> ``run-json``)."""
    text = str(name).translate(_SPELLED)
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    text = _NOT_ID_CHARS.sub("-", text).strip("-._")
    text = re.sub(r"\.{2,}", ".", text)
    text = text[:limit].rstrip("-._") or "run"
    # a run folder named like a run's own files would make the results folder read as a run
    return text.replace(".", "-") if text.lower() in RESERVED_NAMES else text


# -- 2. relative paths inside a store ------------------------------------------------------------
def _unsafe_reason(path: str) -> str | None:
    if not isinstance(path, str):
        return "is not a string"
    if "://" in path or "::" in path:
        return "holds a URL scheme or fsspec chaining"
    if "\\" in path or CONTROL.search(path):
        return "holds a backslash or a control character"
    if path.startswith("/") or os.path.isabs(path) or re.match(r"^[A-Za-z]:", path):
        return "is absolute"
    if any(part in ("", ".", "..") for part in path.split("/")):
        return "holds an empty, '.' or '..' part"
    return None


def validate_path_is_safe(path: str) -> str:
    """Return ``path`` (relative, ``/``-separated) if it stays inside the folder it is relative
    to; raise :class:`StoreError` with code UNSAFE otherwise. ``""`` means the folder itself."""
    if path == "":
        return path
    reason = _unsafe_reason(path)
    if reason is not None:
        raise StoreError(f"path {path!r} {reason}", field="path", code=Code.UNSAFE)
    return path


def join(*parts: str) -> str:
    """``/``-join relative paths, skipping empty ones (``join("", "a")`` is ``"a"``)."""
    return "/".join(p for p in parts if p)


def shown_inside(url: str, folder: str) -> bool:
    """True if ``url`` is the results ``folder`` or inside a folder of it that listings show
    (one whose name does not start with a dot): files written there would list as broken runs.
    Both are store URLs or paths (local paths resolved)."""
    a, b = _normal(url), _normal(folder)
    if a == b:
        return True
    if not a.startswith(b + "/"):
        return False
    return not a[len(b) + 1 :].split("/")[0].startswith(".")


def _normal(url: str) -> str:
    if "://" in url and not url.startswith("file://"):
        return url.rstrip("/")
    path = url.removeprefix("file://")
    return os.path.realpath(path).replace(os.sep, "/").rstrip("/")


# -- 3. symlinks leading outside -----------------------------------------------------------------
def contained(real: str, real_root: str) -> bool:
    """True if the resolved path ``real`` is ``real_root`` or inside it."""
    return real == real_root or real.startswith(real_root.rstrip(os.sep) + os.sep)


def escaping_link(boundary: str, real_boundary: str, parts: Sequence[str]) -> str | None:
    """The first entry (``/``-joined parts, relative to ``boundary``) on the way to
    ``boundary/parts...`` that is a symlink leading outside ``boundary``; None if there is none.

    One ``lstat`` per part when no part is a link (the common case); paths are resolved only
    when a link is met.
    """
    path, first = boundary, None
    for i, part in enumerate(parts):
        path = os.path.join(path, part)
        if os.path.islink(path):
            first = i
            break
    if first is None or contained(os.path.realpath(path_of(boundary, parts)), real_boundary):
        return None
    for j in range(first, len(parts)):  # name the link that leads out, not a harmless one
        prefix = path_of(boundary, parts[: j + 1])
        if os.path.islink(prefix) and not contained(os.path.realpath(prefix), real_boundary):
            return "/".join(parts[: j + 1])
    return "/".join(parts)


def path_of(boundary: str, parts: Sequence[str]) -> str:
    return os.path.join(boundary, *parts)


def link_error(entry: str) -> StoreError:
    """The error for reading through ``entry``, a symlink leading outside the confined folder."""
    return StoreError(
        "is a symlink that points outside the folder being read", field=entry, code=Code.UNSAFE
    )


def unsafe_link(entry: str, where: str, run: str | None = None) -> RunFormatError:
    """A reader's error for a symlink ``entry`` (relative to the run folder, ``""`` for the run
    folder itself) leading outside ``where`` (``"results folder"`` or ``"run folder"``)."""
    what = entry or "the run folder"
    return RunFormatError(
        f"{what} is a symlink that points outside the {where}",
        run=run,
        field="path",
        code=Code.UNSAFE,
    )


def is_alias(folder: str, name: str) -> bool:
    """Whether ``folder/name`` is a link to another folder of ``folder`` (a ``latest`` link
    to a run, as ``wandb/latest-run``): listed, it counted that run twice in every summary."""
    path = os.path.join(folder, name)
    if not os.path.islink(path):
        return False
    target = os.path.realpath(path)  # (a link to a hidden or oddly named folder: its one name)
    inside = os.path.dirname(target) == os.path.realpath(folder)
    return inside and is_run_id(os.path.basename(target)) and os.path.isdir(target)
