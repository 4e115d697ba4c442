"""``RenderOptions``: every option of a figure, an animation or a video, validated once."""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from .errors import Code, RenderOptionError
from .limits import check_dpi, limits

# (low, high, integer?, low inclusive?) of every numeric option
_RANGES: dict[str, tuple[float, float, bool, bool]] = {
    "fps": (0, 120, False, False),
    "dpi": (20, 10_000, False, True),  # (below 20 text cannot be drawn; the limit: check_dpi)
    "stride": (1, 1_000_000, True, True),
    "top_k": (1, 1000, True, True),
    "amplification": (0, 1e6, False, False),
    "width_px": (720, 4096, True, True),  # (narrower: the bars of a 3-image row do not fit)
    "max_height_px": (200, 8192, True, True),
    "bitrate": (1, 1_000_000, True, True),
}
_OPTIONAL = ("amplification", "bitrate")  # None is allowed (automatic)


def _describe(low: float, high: float, integer: bool, inclusive: bool) -> str:
    kind = "an integer" if integer else "a number"
    return f"{kind} in {'[' if inclusive else '('}{_num(low)}, {_num(high)}]"


def _show(value: Any) -> str:
    """A given value as the message shows it: numbers alike whatever their type (0 == 0.0)."""
    real = isinstance(value, numbers.Real) and not isinstance(value, bool)
    return _num(value) if real and math.isfinite(value) else repr(value)


def _whole_non_int(value: Any) -> bool:
    """A whole number given as a float (or another non-integral number type)."""
    real = isinstance(value, numbers.Real) and not isinstance(value, numbers.Integral)
    return real and math.isfinite(value) and float(value).is_integer()


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def _refuse_unknown(given: Mapping[str, Any]) -> None:
    """Refuse a name that is no render option (a typo is never silently dropped)."""
    known = {f.name for f in fields(RenderOptions)}
    for name in given:
        if name not in known:
            raise RenderOptionError(
                f"unknown render option; the options are {', '.join(sorted(known))}",
                field=str(name),
                code=Code.UNKNOWN_OPTION,
            )


@dataclass(frozen=True)
class RenderOptions:
    """How a run is drawn and encoded. Frozen and checked when built: an invalid value raises
    :class:`~animlib.errors.RenderOptionError` naming the option, the same from every entry
    point (``animate``, ``render``, the CLI, the dashboard).

    ``fps`` frames per second; ``dpi`` scales the pixel size of the same layout (``width_px`` is
    the width at 100 dpi); frame ``i`` shows step ``i * stride`` and the last frame the last
    step (so a stride never drops the final, adversarial image); ``top_k`` classes in the bars;
    ``amplification`` multiplies the perturbation before colour mapping (None: chosen so the
    final step's largest change fills the colours; in a comparison, the largest of the runs'
    changes, one gain for every row); ``bitrate`` in kbit/s (None: constant
    quality); ``max_height_px`` bounds tall comparisons.
    """

    fps: float = 10.0
    dpi: float = 100.0
    stride: int = 1
    top_k: int = 10
    amplification: float | None = None
    width_px: int = 1280
    max_height_px: int = 1440
    bitrate: int | None = None

    def __new__(cls, *args: Any, **kwargs: Any) -> RenderOptions:
        _refuse_unknown(kwargs)  # RenderOptions(fsp=10): the message of every entry point
        return super().__new__(cls)

    def __post_init__(self) -> None:
        for name in _RANGES:
            object.__setattr__(self, name, self.check(name, getattr(self, name)))
        check_dpi(self.dpi)

    @staticmethod
    def check(name: str, value: Any) -> Any:
        """One numeric option checked alone (e.g. a movie writer's ``fps``), with the same
        message as when building the options; returns it as int or float."""
        low, high, integer, inclusive = _RANGES[name]
        if value is None and name in _OPTIONAL:
            return None
        kind = numbers.Integral if integer else numbers.Real
        ok = isinstance(value, kind) and not isinstance(value, bool)
        ok = ok and math.isfinite(value) and value <= high
        ok = ok and (value >= low if inclusive else value > low)
        if not ok:
            if name == "dpi":  # the top in force (above it: check_dpi's limit error)
                high = min(high, limits().max_dpi)
            if name == "dpi" and high < low:  # no dpi passes: the limit is the problem
                raise RenderOptionError(
                    f"ANIMLIB_MAX_DPI={high:g} is below the lowest dpi, {_num(low)}: raise it "
                    f"(got {_show(value)})",
                    field=name,
                )
            allowed = _describe(low, high, integer, inclusive)
            if name == "dpi":
                allowed += " (the top: ANIMLIB_MAX_DPI)"
            if name in _OPTIONAL:
                allowed += " or None"
            got = _show(value)
            if integer and _whole_non_int(value):  # stride=1.0: "got 1" alone read as fine
                got += f" as a {type(value).__name__} (give an int)"
            raise RenderOptionError(f"must be {allowed}; got {got}", field=name)
        return int(value) if integer else float(value)

    @classmethod
    def of(
        cls, options: RenderOptions | Mapping[str, Any] | None = None, **overrides: Any
    ) -> RenderOptions:
        """Options from a :class:`RenderOptions`, a mapping and/or keyword overrides.

        Unknown names are refused (a typo is never silently dropped).
        """
        if isinstance(options, RenderOptions):
            base, given = options, dict(overrides)
        else:
            base, given = None, {**dict(options or {}), **overrides}
        _refuse_unknown(given)
        if base is None:
            return cls(**given)
        return replace(base, **given) if given else base

    def as_dict(self) -> dict[str, Any]:
        """Every option by name (JSON-ready)."""
        return asdict(self)

    @property
    def interval_ms(self) -> float:
        """Milliseconds per frame."""
        return 1000.0 / self.fps

    def frames(self, steps: int) -> int:
        """How many frames a run of ``steps`` steps gives (:func:`strided_count`)."""
        return strided_count(steps, self.stride)

    def frames_on_stride(self, steps: int) -> int:
        """How many frames show a step ``i * stride`` of a run of ``steps`` steps (these stay
        the same while the run grows; the extra last-step frame does not)."""
        return on_stride(steps, self.stride)

    def frame_step(self, frame: int, steps: int) -> int:
        """The step frame ``frame`` shows of a run of ``steps`` steps (:func:`strided_step`)."""
        return strided_step(frame, steps, self.stride)


def on_stride(steps: int, stride: int) -> int:
    """How many of ``steps`` steps are ``i * stride``."""
    return -(-steps // stride) if steps > 0 else 0


def strided_count(steps: int, stride: int) -> int:
    """How many of ``steps`` steps a ``stride`` keeps: every ``stride``-th (0, stride, ...)
    and the last one where the stride passes over it (an attack's result is never dropped).
    Videos (frames) and the player's stored images of long runs follow this rule."""
    return on_stride(steps, stride) + (1 if steps > 0 and (steps - 1) % stride else 0)


def strided_step(index: int, steps: int, stride: int) -> int:
    """The step kept ``index``-th by :func:`strided_count`'s rule."""
    return max(min(int(index) * stride, steps - 1), 0)
