"""Tables and charts of the experiments page, computed without Streamlit."""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from .experiments import SUMMARY_COLUMNS, ExperimentInfo, shown_names
from .params import index_text, search_text
from .sweeps import EPS, sweep_keys, sweep_labels
from .sweeps import sweep_key as sweep_key  # (where they were first: kept importable)
from .sweeps import sweep_of as sweep_of
from .table_filter import matching_rows
from .text import natural_key, plural, printable
from .views import NO_VALUE

HEAD_COLUMNS = ["experiment", "attack", "model"]
TAIL_COLUMNS = ["status", "steps", *SUMMARY_COLUMNS]
# after the numbers: what finds an experiment (the search, a sort by date), not its result
FINDING_COLUMNS = ["tags", "created"]
SEARCHED = ("tags", "params")  # besides the id, name, attack and model


def unread_note(count: int) -> str:
    """What a summary says of the ``count`` run folders it could not read."""
    if count == 1:
        return "1 run folder could not be read and is not counted"
    return f"{count:,} run folders could not be read and are not counted"


def param_value(params: dict[str, Any], name: str) -> float | None:
    """``params[name]`` as a finite number (``eps`` falls back to ``epsilon``), else None."""
    value = params.get(name)
    if name == EPS and value is None:
        value = params.get("epsilon")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def param_column(name: str) -> str:
    """The :func:`experiment_table` column of parameter ``name``: ``eps``, else ``params.NAME``."""
    return EPS if name in (EPS, "epsilon") else f"params.{name}"


def sweep_params(experiments: Sequence[ExperimentInfo]) -> list[str]:
    """The numeric parameters the experiments were swept over: those taking at least two
    values among them (``eps`` and ``epsilon`` count as one, ``eps``), ``eps`` first, then the
    ones more experiments set, then by name."""
    values: dict[str, set[float]] = {}
    counts: dict[str, int] = {}
    for exp in experiments:
        params = exp.get("params") or {}
        for name in {EPS if key == "epsilon" else str(key) for key in params}:
            value = param_value(params, name)
            if value is not None:
                values.setdefault(name, set()).add(value)
                counts[name] = counts.get(name, 0) + 1
    swept = [name for name, seen in values.items() if len(seen) > 1]
    return sorted(swept, key=lambda name: (name != EPS, -counts[name], natural_key(name)))


def experiment_table(
    experiments: Sequence[ExperimentInfo], summary: pd.DataFrame, *, sweep: str = EPS
) -> pd.DataFrame:
    """One row per experiment: its ``name`` (only when some name was made safe for paths to
    give its id), attack, model, ε (``params.eps``), the swept parameter
    when it is another (``params.NAME``), status, steps, the :func:`animlib.summarize`
    columns, its ``tags`` (``a, b`` as the runs page shows them), ``created`` (a UTC time: its
    first run's) and ``params``: every parameter as ``name=value`` words (what the search finds;
    not shown). The experiments of one sweep over parameter ``sweep`` (:func:`sweep_keys`) are
    together in the order of its values, the sweep with the newest experiment first."""
    # each experiment's summary as a dict (a .loc per cell took ~40 us: 0.1 s for 300 rows)
    stats = (
        summary.drop_duplicates("experiment").set_index("experiment")[list(SUMMARY_COLUMNS)]
        if len(summary)
        else pd.DataFrame(columns=list(SUMMARY_COLUMNS))
    ).to_dict("index")
    missing = dict.fromkeys(SUMMARY_COLUMNS, math.nan)
    names = [EPS] if param_column(sweep) == EPS else [EPS, sweep]
    rows = []
    for exp in experiments:
        params = exp.get("params") or {}
        row = {
            "experiment": exp.id,
            "attack": exp.get("attack") or "",
            "model": exp.get("model") or "",
            **{param_column(name): param_value(params, name) for name in names},
            "status": exp.get("status"),
            "steps": exp.get("steps"),
            "tags": printable(", ".join(map(str, exp.get("tags") or []))),
            "created": str(exp.get("created") or ""),
            "params": search_text(index_text(params)[0]),
        }
        row.update(stats.get(exp.id, missing))
        rows.append(row)
    columns = [param_column(name) for name in names]
    rows = _sweep_order(rows, param_column(sweep))
    frame = pd.DataFrame(
        rows, columns=[*HEAD_COLUMNS, *columns, *TAIL_COLUMNS, *FINDING_COLUMNS, "params"]
    )
    for column in columns:
        frame[column] = pd.to_numeric(frame[column], errors="coerce")
    # a time, not its text: it sorts by the moment whatever offset a run.json wrote
    frame["created"] = pd.to_datetime(frame["created"], utc=True, format="ISO8601", errors="coerce")
    named = shown_names(experiments)  # (a rerun, pgd-2 named pgd: its id)
    if any(n != i for i, n in named.items()):  # a name made safe for paths
        frame.insert(1, "name", [named.get(i, i) for i in frame["experiment"]])
    return frame


def _sweep_order(rows: list[dict[str, Any]], column: str) -> list[dict[str, Any]]:
    """The table's ``rows``: sweeps over its ``column`` (:func:`sweep_keys`) newest first (by
    their newest experiment, as an instant: "21:00+05:30" is before "16:00+00:00"), each in the
    order of its values (no value: last)."""
    from .index.rows import created_key

    keys = sweep_keys(pd.DataFrame(rows, columns=[*HEAD_COLUMNS, column, "params"]), column)
    sweep = {row["experiment"]: key for row, key in zip(rows, keys, strict=True)}
    newest: dict[tuple[str, ...], str] = {}
    for row in rows:
        key = sweep[row["experiment"]]
        newest[key] = max(newest.get(key, ""), created_key(row["created"]))  # (the instant)

    def value_order(row: dict[str, Any]) -> tuple[bool, float, str]:
        return (row[column] is None, row[column] or 0.0, row["experiment"])

    by_value = sorted(rows, key=value_order)
    by_sweep = sorted(by_value, key=lambda r: sweep[r["experiment"]])
    return sorted(by_sweep, key=lambda r: newest[sweep[r["experiment"]]], reverse=True)


def clean_miss_note(missed: str) -> str:
    """What the experiments page says under its table when ``missed`` (the experiments with
    clean accuracy below 1, "a (2 of 16), b (1 of 16)") attacked images the model got wrong."""
    return (
        f"Clean accuracy below 1 in {missed}: the model got those images "
        "wrong before any attack. An untargeted attack counts each as a success at flip step 0 "
        "if it is still misclassified in the end; a targeted one only where the model already "
        "predicted the target. Robust acc, the accuracy at the last step, counts one as robust "
        "only if the attack's last image is classified correctly; the grid marks them "
        "*misclassified before the attack*."
    )


def clean_misses(
    frame: pd.DataFrame, labels: Sequence[str] | None = None
) -> list[tuple[str, int, int]]:
    """The rows of :func:`experiment_table` ``frame`` (or of a summary) that attacked images
    the model got wrong unattacked (clean accuracy below 1): (the row's label, such images,
    images); a row's label is its experiment unless ``labels`` gives one per row."""
    acc = pd.to_numeric(frame["clean_acc"], errors="coerce").to_numpy(dtype=float)
    n = pd.to_numeric(frame["n"], errors="coerce").to_numpy(dtype=float)
    names = frame["experiment"] if labels is None else labels
    return [
        (str(e), round((1 - a) * k), int(k))
        for e, a, k in zip(names, acc, n, strict=True)
        if a < 1 and k > 0
    ]


def left_out_note(frame: pd.DataFrame) -> str:
    """What the experiments table says of the runs its numbers leave out (``left_out`` of
    :func:`animlib.summarize`), or ``""`` when none is."""
    left = pd.to_numeric(frame.get("left_out"), errors="coerce").fillna(0).astype(int)
    starting = (frame.get("status", pd.Series("", index=frame.index)) == "running").to_numpy()
    total, experiments = int(left[~starting].sum()), int((left[~starting] > 0).sum())
    waiting = int(left[starting].sum())  # a running experiment's runs with no step stored yet
    notes = []
    if total:
        notes.append(
            f"{plural(total, 'run')} of {plural(experiments, 'experiment')} left out of the "
            "numbers (column *left out*): failed, stale (writer killed or silent) or with no "
            "step stored, so no result; `animlib.summarize(..., include_incomplete=True)` "
            "counts them."
        )
    if waiting:  # (it read as failed runs for the first seconds of every experiment)
        notes.append(f"{plural(waiting, 'run')} of running experiments have no step stored yet.")
    return " ".join(notes)


def running_note(frame: pd.DataFrame) -> str:
    """What the experiments table says of experiments still running (counted with the steps
    logged so far: an image not attacked yet reads as robust), or ``""`` when none is."""
    status = frame.get("status", pd.Series(dtype=object))
    running = frame[(status == "running") & frame["robust_acc"].notna()]
    if running.empty:
        return ""
    their = "its" if len(running) == 1 else "their"
    return (
        f"{plural(len(running), 'experiment')} still running: {their} numbers and points are "
        "of the steps logged so far (an image not attacked yet counts as robust)."
    )


def filter_experiments(
    frame: pd.DataFrame,
    *,
    attacks: Sequence[str] = (),
    models: Sequence[str] = (),
    text: str = "",
) -> pd.DataFrame:
    """Rows matching every given filter (an empty filter is no constraint); ``text``: every
    word in the experiment id, attack, model, tags or a parameter written ``name=value``."""
    chosen = {"attack": attacks, "model": models}
    searched = [c for c in ("experiment", "name", "attack", "model", *SEARCHED) if c in frame]
    mask = matching_rows(frame, chosen, text, searched)
    return frame[mask]


def robust_curve(frame: pd.DataFrame, *, column: str = EPS) -> pd.DataFrame:
    """Points of the robust-accuracy chart against the swept parameter (the frame's
    ``column``): one per experiment with a value, in column ``value``, one series per attack
    (per attack and model when several models are shown). Where one attack has several
    experiments at the same value (the same attack from two libraries, or with other
    settings), its series is split by sweep: the experiment ids with their value left out
    (``art-pgd-eps0.1`` and ``art-pgd-eps0.2`` form the sweep ``art-pgd-eps*``), so no line
    zig-zags between two experiments of one value. ``low`` and ``high``: the 95 % interval of
    each robust accuracy over its ``n`` images (:func:`wilson`)."""
    known = frame.dropna(subset=[column, "robust_acc"])
    several = known["model"].nunique() > 1
    models = known["model"].replace("", NO_VALUE)  # (a run with no model: "–", as the grid)
    series = known["attack"] + (" · " + models if several else "")
    series = _split_by_sweep(series, known, column)
    low, high = wilson(known["robust_acc"].to_numpy(), known["n"].to_numpy())
    return pd.DataFrame(
        {
            "series": series.to_numpy(),
            "value": known[column].to_numpy(),
            "robust_acc": known["robust_acc"].to_numpy(),
            "low": low,
            "high": high,
            "experiment": known["experiment"].to_numpy(),
            "n": known["n"].to_numpy(),
            "status": known.get("status", pd.Series("", index=known.index)).to_numpy(),
        }
    ).sort_values(["series", "value"])


Z95 = 1.959964  # the normal quantile of a two-sided 95 % interval


def wilson(rate: np.ndarray, n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The 95 % Wilson score interval of a proportion ``rate`` measured on ``n`` images (it
    stays inside [0, 1] and is not empty at 0 % or 100 %, where the normal one collapses)."""
    rate, n = np.asarray(rate, float), np.maximum(np.asarray(n, float), 1.0)
    z2n = Z95**2 / n
    centre = (rate + z2n / 2) / (1 + z2n)
    half = Z95 * np.sqrt(rate * (1 - rate) / n + z2n / (4 * n)) / (1 + z2n)
    return np.clip(centre - half, 0.0, 1.0), np.clip(centre + half, 0.0, 1.0)


def _split_by_sweep(series: pd.Series, known: pd.DataFrame, column: str) -> pd.Series:
    """``series``, with each one holding two experiments of one value (in ``known``'s
    ``column``) split by sweep (:func:`sweep_keys`, named by :func:`sweep_labels`)."""
    names, numbers = series.tolist(), known[column].tolist()
    keys = sweep_keys(known, column)
    members: dict[str, list[int]] = {}
    for i, name in enumerate(names):
        members.setdefault(name, []).append(i)
    out = list(names)
    for name, rows in members.items():  # (lists: a .loc per row took ~0.2 ms)
        if len({numbers[i] for i in rows}) == len(rows):
            continue
        for i, label in zip(rows, sweep_labels([keys[i] for i in rows]), strict=True):
            out[i] = f"{name} · {label}"
    return pd.Series(out, index=series.index, dtype=series.dtype)


# long dashes: a line drawn over an equal one leaves gaps where the one below shows
DASHES = [[1, 0], [9, 6], [3, 5], [14, 4, 3, 4], [2, 8], [6, 3]]
LEGEND_COLUMNS = 3  # the legend of many sweeps wraps instead of running off the chart
FADED = 0.12  # opacity of the series not picked in the legend
INTERVAL_OPACITY = 0.35  # of the 95 % interval drawn behind each point
AXIS_VALUES = 12  # swept values up to this many each get a tick (more: round numbers)
CHART_HEIGHT = 340  # pixels, with the axes and one row of legend
LEGEND_ROW_HEIGHT = 30  # pixels per more row of legend
LEGEND_LIMIT = 45  # series named in the legend (then "... N entries"; a line's tooltip names it)
X_PADDING = 14  # pixels between the plot's edges and the first and last swept values
LOG_SPAN = 100  # positive values spanning this factor or more (c of 0.1 to 100) get a log axis
CLICK = "point"  # the chart's selection of the point clicked (the page reruns on it)


def clicked_experiment(chart: dict) -> str | None:
    """The experiment of the point or bar clicked in a chart's selection state, or None."""
    points = (chart.get("selection") or {}).get(CLICK) or []
    return next((p.get("experiment") for p in points if p.get("experiment")), None)


def param_label(name: str) -> str:
    """How the pages name parameter ``name``: ``ε`` for ``eps``, else the name."""
    return "ε" if param_column(name) == EPS else name


def robust_chart(points: pd.DataFrame, *, param: str = EPS) -> Any:
    """An Altair chart of robust accuracy against the swept parameter ``param`` (the points'
    ``value``, :func:`robust_curve`; a log axis for positive values over two decades or more),
    a line with points per series. Series differ in colour, dash and point shape: two attacks
    with the same accuracies (a line hidden under another) still both show. The legend wraps
    into columns; clicking a series in it (shift: several) fades the others. A click in the
    plot selects the nearest point (selection ``CLICK``: its ``experiment``). Behind each point
    a thin bar spans its 95 % interval (``low`` to ``high``): with 16 images, 0.25 and 0.5 may
    not differ."""
    import altair as alt

    columns = min(max(points["series"].nunique(), 1), LEGEND_COLUMNS)
    legend = alt.Legend(  # names are long
        orient="bottom", labelLimit=400, columns=columns, symbolLimit=LEGEND_LIMIT
    )
    pick = alt.selection_point(name="pick", fields=["series"], bind="legend")
    values = points["value"]
    logarithmic = bool(len(values)) and 0 < LOG_SPAN * values.min() <= values.max()
    # the values' own range (a rule layer would otherwise stretch the axis to 0)
    # padding: the points at either end (or a series of one point) are drawn whole, not cut
    scale = (
        alt.Scale(type="log", padding=X_PADDING)
        if logarithmic
        else alt.Scale(zero=False, padding=X_PADDING)
    )
    note = ", log scale" if logarithmic else ""
    order = sorted(points["series"].unique(), key=natural_key)  # m2 before m10 in the legend
    swept = sorted(set(values.dropna().tolist()))
    # a tick at each value swept (0.05, 0.1, 0.2), not at round numbers between them
    axis = alt.Axis(values=swept, format=".4~g") if len(swept) <= AXIS_VALUES else alt.Axis()
    title = f"{param_label(param)} (params.{param}{note})"
    x = alt.X("value:Q", title=title, scale=scale, axis=axis)
    palette = alt.Scale(scheme="tableau10")  # (Streamlit's 2nd colour is faint on white)
    color = alt.Color("series:N", title=None, legend=legend, sort=order, scale=palette)
    points = points.assign(same=_same_point(points))
    base = alt.Chart(points).encode(
        x=x,
        y=alt.Y("robust_acc:Q", title="robust accuracy", scale=alt.Scale(domain=[0, 1])),
        color=color,
        strokeDash=alt.StrokeDash(
            "series:N", title=None, legend=legend, scale=alt.Scale(range=DASHES), sort=order
        ),
        shape=alt.Shape("series:N", title=None, legend=legend, sort=order),
        opacity=alt.condition(pick, alt.value(1.0), alt.value(FADED)),
        tooltip=[
            alt.Tooltip("series:N", title="sweep"),
            "experiment:N",
            alt.Tooltip("value:Q", title=param_label(param), format=".4~g"),
            alt.Tooltip("robust_acc:Q", title="robust accuracy", format=".3f"),
            alt.Tooltip("low:Q", title="95 % from", format=".3f"),
            alt.Tooltip("high:Q", title="95 % to", format=".3f"),
            alt.Tooltip("n:Q", title="images"),
            "status:N",  # (running: the robust accuracy of the steps so far)
            alt.Tooltip("same:N", title="same point"),
        ],
    )
    click = alt.selection_point(name=CLICK, fields=["experiment"], on="click", nearest=True)
    points_ = base.mark_point(filled=False, size=70, strokeWidth=2).add_params(click)
    spread = (  # (its own encoding: a rule takes no shape or dash of the series)
        alt.Chart(points)
        .mark_rule(strokeWidth=1.5)
        .encode(
            x=x,
            y=alt.Y("low:Q", scale=alt.Scale(domain=[0, 1])),
            y2="high:Q",
            color=color,
            strokeOpacity=alt.condition(pick, alt.value(INTERVAL_OPACITY), alt.value(FADED / 2)),
        )
    )
    chart = alt.layer(spread, base.mark_line().add_params(pick), points_)
    named = min(points["series"].nunique(), LEGEND_LIMIT + 1)  # + the "... N entries" line
    rows = math.ceil(named / columns) if len(points) else 1
    # the chart is fitted to the page (legend included): each row of the legend adds height
    chart = chart.properties(height=CHART_HEIGHT + LEGEND_ROW_HEIGHT * max(rows - 1, 0))
    object.__setattr__(chart, "__class__", _unvalidated(type(chart)))  # (Altair keeps attributes)
    return chart


BAR_LIMIT = 40  # experiments in the bar chart (the lowest robust accuracies)
BAR_ROW_HEIGHT = 24  # pixels per bar
BAR_COLOURS = 10  # attacks told apart by colour at most (Vega's category palette)
BAR_COLOUR = "#4c78a8"  # every bar's colour where the colour tells no attacks apart


def robust_bars(frame: pd.DataFrame, *, limit: int = BAR_LIMIT) -> pd.DataFrame:
    """The bars of the robust-accuracy chart of experiments with no value to sweep over: one
    per experiment with a robust accuracy, the lowest first (the attack that fools the model
    most on top; ties by experiment id), at most ``limit``. ``low`` and ``high``: the 95 %
    interval over its ``n`` images (:func:`wilson`)."""
    known = frame.dropna(subset=["robust_acc"])
    known = known.assign(_key=known["experiment"].map(natural_key))
    known = known.sort_values(["robust_acc", "_key"], kind="stable").head(limit)
    low, high = wilson(known["robust_acc"].to_numpy(), known["n"].to_numpy())
    return pd.DataFrame(
        {
            "experiment": known["experiment"].to_numpy(),
            "attack": known["attack"].fillna("").replace("", NO_VALUE).to_numpy(),
            "model": known["model"].fillna("").replace("", NO_VALUE).to_numpy(),
            "robust_acc": known["robust_acc"].to_numpy(),
            "low": low,
            "high": high,
            "n": known["n"].to_numpy(),
        }
    )


def robust_bar_chart(bars: pd.DataFrame) -> Any:
    """An Altair bar chart of :func:`robust_bars`: a bar per experiment in the frame's order,
    coloured by attack, a thin line over its 95 % interval; a click selects the bar
    (selection ``CLICK``: its ``experiment``)."""
    import altair as alt

    order = bars["experiment"].tolist()
    y = alt.Y(
        "experiment:N", sort=order, title=None, axis=alt.Axis(labelLimit=320, labelOverlap=False)
    )
    x_scale = alt.Scale(domain=[0, 1])
    legend = alt.Legend(orient="bottom", labelLimit=400, columns=LEGEND_COLUMNS)
    click = alt.selection_point(name=CLICK, fields=["experiment"], on="click")
    attacks = sorted(set(bars["attack"]), key=natural_key)
    # by attack where that groups experiments (and the colours stay apart); else the names say it
    grouped = len(attacks) < len(bars) and len(attacks) <= BAR_COLOURS
    color: Any = alt.value(BAR_COLOUR)
    if grouped:
        color = alt.Color("attack:N", title=None, legend=legend, sort=attacks)
    bars_ = (
        alt.Chart(bars)
        .mark_bar()
        .encode(
            y=y,
            x=alt.X("robust_acc:Q", title="robust accuracy", scale=x_scale),
            color=color,
            opacity=alt.condition(click, alt.value(1.0), alt.value(0.8)),
            tooltip=[
                "experiment:N",
                "attack:N",
                "model:N",
                alt.Tooltip("robust_acc:Q", title="robust accuracy", format=".3f"),
                alt.Tooltip("low:Q", title="95 % from", format=".3f"),
                alt.Tooltip("high:Q", title="95 % to", format=".3f"),
                alt.Tooltip("n:Q", title="images"),
            ],
        )
        .add_params(click)
    )
    spread = (
        alt.Chart(bars)
        .mark_rule(color="#333", strokeWidth=1.5)
        .encode(y=y, x=alt.X("low:Q", scale=x_scale), x2="high:Q")
    )
    # a band per bar (the axis and the legend come on top of it)
    chart = alt.layer(bars_, spread).properties(height=alt.Step(BAR_ROW_HEIGHT))
    object.__setattr__(chart, "__class__", _unvalidated(type(chart)))
    return chart


def _same_point(points: pd.DataFrame) -> list[str]:
    """For each point, the other series at the same value with the same robust accuracy
    (their points lie under it: the tooltip names them), or ``"none"`` (an empty value read
    as a missing one)."""
    keys = list(zip(points["value"].tolist(), points["robust_acc"].round(6).tolist(), strict=True))
    names = points["series"].astype(str).tolist()
    at: dict[tuple, list[str]] = {}
    for key, series in zip(keys, names, strict=True):
        at.setdefault(key, []).append(series)
    pairs = zip(keys, names, strict=True)
    return [", ".join(s for s in at[key] if s != series) or "none" for key, series in pairs]


@functools.cache
def _unvalidated(kind: type) -> type:
    """A subclass of the Altair chart class ``kind`` whose ``to_dict`` (Streamlit calls it at
    every page run) skips the JSON-schema validation unless asked for: at 300 sweeps that took
    ~60 % of the experiments page's script time (0.05 s of 0.1 at 15 sweeps); the tests
    validate the specs :func:`robust_chart` makes."""

    class Unvalidated(kind):  # type: ignore[misc,valid-type]
        def to_dict(self, validate: bool = False, **kwargs: Any) -> dict[str, Any]:
            return super().to_dict(validate, **kwargs)

        def __reduce__(self) -> tuple[Any, ...]:  # (a class made here is found by no name)
            return _unvalidated_chart, (kind, self.__dict__)

    Unvalidated.__name__ = Unvalidated.__qualname__ = kind.__name__
    return Unvalidated


def _unvalidated_chart(kind: type, state: dict[str, Any]) -> Any:
    """A chart of :func:`_unvalidated` ``kind`` with attributes ``state``, as unpickled (the
    page's cache of its chart, ``st.cache_data``, keeps charts pickled)."""
    chart = object.__new__(_unvalidated(kind))
    chart.__dict__.update(state)
    return chart
