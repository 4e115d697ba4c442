"""Every environment setting animlib reads (``ANIMLIB_*``), parsed in one place."""

from __future__ import annotations

import argparse
import contextlib
import contextvars
import hashlib
import math
import os
import sys
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path

DEFAULT_RUNS = "runs"


def _number(env: Mapping[str, str], name: str, default: float, least: float = 0) -> float:
    """``env[name]`` as a number; the default when unset or empty, and with a warning when it
    is not a finite number >= ``least`` (``inf`` crashed every call; ``-5`` refused every
    image, as a limit of 0 would)."""
    value = env.get(name)
    if value is None or not value.strip():
        return default
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if math.isfinite(number) and number >= least:
        return number
    # (Python shows a warning once per text and place: settings are parsed once per value)
    warnings.warn(f"{name}={value!r} is not a number >= {least:g}: using {default:g}", stacklevel=4)
    return default


@dataclass(frozen=True)
class Settings:
    """The settings in force. Each field is read from the environment variable named beside it.

    Integer fields are limits: whole numbers >= 1 (a fraction is rounded down); sizes in MB are
    converted to bytes by the helpers below.
    """

    max_side: int = 1024  # ANIMLIB_MAX_SIDE: pixels per image side in a run
    max_steps: int = 100_000  # ANIMLIB_MAX_STEPS: steps in a run
    max_classes: int = 10_000  # ANIMLIB_MAX_CLASSES: classes in a run
    max_dpi: int = 400  # ANIMLIB_MAX_DPI: render dpi
    max_gif_frames: int = 3000  # ANIMLIB_MAX_GIF_FRAMES: frames in a GIF
    stale_seconds: float = 600.0  # ANIMLIB_STALE_SECONDS: a silent running run becomes stale
    reload_seconds: float = 10.0  # ANIMLIB_RELOAD_SECONDS: a page of finished runs looks again
    deep_check_mb: float = 64.0  # ANIMLIB_DEEP_CHECK_MB: runs up to this get every chunk checked
    cache_max_mb: float = 2048.0  # ANIMLIB_CACHE_MAX_MB: size bound of the render cache
    cache: str = ""  # ANIMLIB_CACHE: render cache folder or URL (default: the user's cache folder)
    cache_local: str = ""  # ANIMLIB_CACHE_LOCAL: local copies + player strips of a shared cache
    cache_local_mb: float = 1024.0  # ANIMLIB_CACHE_LOCAL_MB: size bound of those local copies
    cache_lease_seconds: float = 30.0  # ANIMLIB_CACHE_LEASE_SECONDS: silent leases expire
    runs: str = ""  # ANIMLIB_RUNS: the results folder of the dashboard and the command line
    no_jit: bool = False  # ANIMLIB_NO_JIT: 1 uses the numpy code, never Numba's compiled kernels

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """The defaults, overridden by ``ANIMLIB_<FIELD>`` variables of ``env`` (os.environ)."""
        env = os.environ if env is None else env
        values: dict[str, object] = {}
        for f in fields(cls):
            name = f"ANIMLIB_{f.name.upper()}"
            default = f.default
            if isinstance(default, str):
                values[f.name] = env.get(name, default) or default
            elif isinstance(default, bool):
                off = ("", "0", "false", "no", "off")
                values[f.name] = env.get(name, "").strip().lower() not in off
            elif isinstance(default, int):
                values[f.name] = int(_number(env, name, default, least=1))
            else:
                values[f.name] = _number(env, name, float(default), _LEAST.get(f.name, 0))
        return cls(**values)  # type: ignore[arg-type]

    @property
    def deep_check_bytes(self) -> int:
        return int(self.deep_check_mb * 2**20)

    @property
    def cache_max_bytes(self) -> int:
        return int(self.cache_max_mb * 2**20)

    @property
    def cache_local_bytes(self) -> int:
        return int(self.cache_local_mb * 2**20)

    def cache_location(self, env: Mapping[str, str] | None = None) -> str:
        """Where renders are cached: ``ANIMLIB_CACHE`` (a path or URL), else
        ``$XDG_CACHE_HOME/animlib``, else ``~/.cache/animlib``."""
        if self.cache:
            return self.cache
        return str(_user_cache(env) / "animlib")

    def cache_local_location(self, env: Mapping[str, str] | None = None) -> str:
        """The local folder of a shared render cache (``ANIMLIB_CACHE`` a URL): read-through
        copies of its videos and the player's strips. ``ANIMLIB_CACHE_LOCAL``, else
        ``$XDG_CACHE_HOME/animlib-shared/<hash of the URL>`` (``~/.cache`` without XDG)."""
        if self.cache_local:
            return self.cache_local
        tag = hashlib.sha256(self.cache_location(env).encode()).hexdigest()[:12]
        return str(_user_cache(env) / "animlib-shared" / tag)


def _user_cache(env: Mapping[str, str] | None) -> Path:
    env = os.environ if env is None else env
    return Path(env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache"))


_LEAST = {"reload_seconds": 0.5}  # (a page looking at every instant would never rest)
_NAMES = tuple(f"ANIMLIB_{f.name.upper()}" for f in fields(Settings))
_PARSED: dict[tuple[str | None, ...], Settings] = {}


_HELD: contextvars.ContextVar[Settings | None] = contextvars.ContextVar("animlib_settings")


@contextlib.contextmanager
def held() -> Iterator[Settings]:
    """Inside the block, :func:`settings` returns the settings in force when it began without
    reading the environment again (for batch work: listing 100,000 runs checks limits 300,000
    times)."""
    token = _HELD.set(settings())
    try:
        yield _HELD.get()  # type: ignore[misc]
    finally:
        _HELD.reset(token)


def settings() -> Settings:
    """The settings in force now (the environment is read on every call, so tests can set it;
    parsed once per set of values; see also :func:`held`)."""
    found = _HELD.get(None)
    if found is not None:
        return found
    key = tuple(map(os.environ.get, _NAMES))
    found = _PARSED.get(key)
    if found is None:
        if len(_PARSED) > 64:
            _PARSED.clear()
        found = _PARSED[key] = Settings.from_env()
    return found


def runs_root(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> str:
    """The results folder (path or fsspec URL) the dashboard shows: ``--runs PATH`` after ``--``,
    else ``$ANIMLIB_RUNS``, else ``runs``."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--runs", default=None)
    known, _ = parser.parse_known_args(argv)
    return known.runs or Settings.from_env(env).runs or DEFAULT_RUNS
