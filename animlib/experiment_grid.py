"""The image x experiment grid of the experiments page, computed without Streamlit."""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import numpy as np
import pandas as pd
from PIL import Image

from .errors import AnimlibError
from .experiments import AT_START, image_key, sample_key, shown_names
from .in_app_links import ATTR
from .listing import RunInfo
from .outcomes import run_step_at, shown_outcome
from .protocol import MAX_COMPARE, RunLike
from .summary import success_flags
from .text import csv_safe_columns, middle_clipped, natural_key, unique_name
from .views import with_models

THUMB_PX = 96  # cells show images in a square box this big (small ones zoomed, large ones shrunk)
LABEL_CELLS = 18  # a predicted class name longer than this (terminal cells) is cut in its middle
SUCCESS_COLOR = "#c0262d"  # the attack has fooled the model at this step
HELD_COLOR = "#2e8540"  # the model still resists
OFF_TARGET_COLOR = "#e08a00"  # a targeted attack: the model is wrong, but not the target yet
UNKNOWN_COLOR = "#a9b4c2"
# each outcome's mark beside the prediction: the border's red and green alone are one colour
# to about 1 man in 12 (red-green colour blindness)
MARKS = {"fooled": "✗", "held": "✓", "off-target": "◐", "unknown": ""}


@dataclass(frozen=True)
class Cell:
    """One run in the grid: what it shows at the grid's step."""

    run_id: str
    step: int  # the step shown (the run's last one when the grid's step is past its end)
    png: bytes
    pred: str | None = None  # predicted class name at that step
    fooled: bool | None = None  # the attack succeeded at that step (None: unknown)
    target: str | None = None  # a targeted attack's target class name
    off_target: bool = False  # targeted, not there yet, but the model is wrong already


@dataclass
class GridRow:
    """One source image: its label and its run in each experiment."""

    key: str
    label: str
    runs: dict[str, str] = field(default_factory=dict)  # experiment id -> run id
    fooled: int = 0  # of its runs, those whose attack succeeded in the end (run.json summary)
    judged: int = 0  # of its runs, those whose outcome is known
    at_start: int = 0  # of its runs, those whose flip step is 0: the model was wrong unattacked

    @property
    def fooled_share(self) -> float | None:
        """The share of its attacks that fooled the model in the end (None: none known)."""
        return self.fooled / self.judged if self.judged else None


# how grid rows can be ordered (the key goes into the page's URL) and what the page calls it
ORDERS = {"sample": "by sample", "robust": "most robust first", "fragile": "least robust first"}


def grid_rows(infos: Iterable[RunInfo], experiments: Sequence[str]) -> list[GridRow]:
    """One row per source image attacked in any of ``experiments`` (ordered by sample id), with
    the run of each experiment on that image."""
    wanted = set(experiments)
    return rows_of(
        (
            info.id,
            exp,
            image_key(meta),
            meta.get("sample"),
            row_label(meta.get("sample"), meta.get("class_names"), meta.get("true_label")),
            *shown_outcome(meta)[:2],  # (a paused sample's flip, in its experiment's steps)
        )
        for info in infos
        if info.ok and (exp := (meta := info.meta or {}).get("experiment")) in wanted
    )


def at_start_note(row: GridRow) -> str:
    """What a row says when the model got the image wrong before any perturbation (its
    attack's flip step is 0, as :func:`animlib.summarize` counts it)."""
    if row.at_start == len(row.runs):
        return AT_START
    return f"{row.at_start} of these: {AT_START}"


def row_label(sample: Any, class_names: Sequence[Any] | None, true_label: Any) -> str:
    """A grid row's label: the sample and its true class."""
    return sample_label(sample, class_name(class_names or [], true_label))


def sample_label(sample: Any, true_class: str | None) -> str:
    """:func:`row_label` of a sample whose true class is named ``true_class`` (None: unknown)."""
    return f"sample {sample}" + ("" if true_class is None else f" · true: {true_class}")


def rows_of(runs: Iterable[tuple[str, str, str, Any, str, Any, Any]]) -> list[GridRow]:
    """The grid rows of runs given as (id, experiment, image key, sample, row label, success,
    flip step), in listing order (an image's first run in an experiment is its run there)."""
    rows: dict[str, GridRow] = {}
    samples: dict[str, Any] = {}
    for run_id, exp, key, sample, label, success, flip in runs:
        row = rows.setdefault(key, GridRow(key, label))
        if exp in row.runs:
            continue
        row.runs[exp] = run_id
        if isinstance(success, bool):
            row.judged += 1
            row.fooled += success
        if flip == 0 and not isinstance(flip, bool):
            row.at_start += 1
        samples.setdefault(key, sample)
    return sorted(rows.values(), key=lambda r: (sample_key(samples[r.key]), r.key))


OUTCOME_COLUMNS = [
    "sample", "true_label", "true_class", "target_label", "target_class", "experiment", "attack",
    "model", "eps", "run", "success", "flip_step", "final_pred", "final_class", "linf", "l2",
    "image",
]  # fmt: skip
# ``image``: which image the run attacked (:func:`~animlib.experiments.image_key`: the sample id
# and the clean image's hash), as the grid's rows go: one sample id may name other images in
# other experiments (each drew its own batch)
SUMMARY_KEYS = ("success", "flip_step", "final_pred", "linf", "l2")  # read from run.json's summary
INT_COLUMNS = ("sample", "true_label", "target_label", "flip_step", "final_pred")  # (4, not 4.0)


def outcomes(infos: Iterable[RunInfo], experiments: Sequence[str]) -> pd.DataFrame:
    """The grid as data: one row per run of ``experiments``, with its image (sample, true
    label), whether the attack fooled the model in the end, at which step it first did, the
    final prediction and the distances to the original, from the run.json summaries (empty
    where unknown); by sample, then in the order of ``experiments``."""
    position = {exp: i for i, exp in enumerate(experiments)}
    rows = [
        run_outcome(info)
        for info in infos
        if info.ok and (info.meta or {}).get("experiment") in position
    ]
    return outcome_frame(rows, position)


def run_outcome(info: RunInfo) -> dict[str, Any]:
    """The :func:`outcomes` row of one run, from its run.json."""
    meta = info.meta or {}
    summary = meta.get("summary") or {}
    params = meta.get("params") or {}
    values = {key: summary.get(key) for key in SUMMARY_KEYS}
    # as run_outcomes, ls and the runs table give them: no flip step unless a success
    values["success"], values["flip_step"], _ = shown_outcome(meta)
    return outcome_row(info.id, meta, eps=params.get("eps", params.get("epsilon")), **values)


def outcome_row(run_id: str, meta: dict[str, Any], **values: Any) -> dict[str, Any]:
    """One row of :func:`outcomes`: a run's id, ``meta`` (its run.json) and its ``eps`` and
    summary values."""
    names = meta.get("class_names") or []
    return {
        "sample": meta.get("sample"),
        "true_label": meta.get("true_label"),
        "true_class": class_name(names, meta.get("true_label")),
        "target_label": meta.get("target_label"),  # (a targeted attack's: success means this)
        "target_class": class_name(names, meta.get("target_label")),
        "experiment": meta.get("experiment"),
        "attack": meta.get("attack"),
        "model": meta.get("model") or None,
        "eps": values["eps"],
        "run": run_id,
        **{key: values[key] for key in SUMMARY_KEYS[:3]},
        "final_class": class_name(names, values["final_pred"]),
        **{key: values[key] for key in SUMMARY_KEYS[3:]},
        "image": image_key(meta),
    }


def outcome_frame(rows: list[dict[str, Any]], position: dict[str, int]) -> pd.DataFrame:
    """Rows of :func:`outcome_row` as :func:`outcomes` gives them (``position``: each
    experiment's place in the grid)."""
    return outcome_columns_frame({c: [r[c] for r in rows] for c in OUTCOME_COLUMNS}, position)


def outcome_columns_frame(columns: dict[str, list[Any]], position: dict[str, int]) -> pd.DataFrame:
    """:func:`outcome_frame` of rows given as one list per column of :data:`OUTCOME_COLUMNS`."""
    sample, experiment, run = columns["sample"], columns["experiment"], columns["run"]
    order = sorted(
        range(len(run)), key=lambda i: (sample_key(sample[i]), position[experiment[i]], run[i])
    )
    data = {c: [columns[c][i] for i in order] for c in OUTCOME_COLUMNS}
    frame = pd.DataFrame(data if order else [], columns=OUTCOME_COLUMNS)
    for col in INT_COLUMNS:  # 4, not 4.0, beside gaps
        if all(_is_int(v) for v in data[col] if v is not None):
            frame[col] = frame[col].astype("Int64")
    return frame


def _is_int(value: Any) -> bool:
    """An int an Int64 column holds (another tool's uint64 hash as a sample id is none)."""
    return isinstance(value, int) and not isinstance(value, bool) and -(2**63) <= value < 2**63


def outcomes_to_csv(frame: pd.DataFrame) -> bytes:
    """Rows of :func:`outcomes` as CSV, every cell safe to open in a spreadsheet (a class
    named like a formula is written as text)."""
    frame = frame.copy()
    csv_safe_columns(frame)  # (every text column: eps is a parameter, any JSON value)
    return frame.to_csv(index=False).encode()


def class_name(names: Sequence[Any], label: Any) -> str | None:
    """The name of class ``label`` in ``names`` (None: no such class), with its index where
    another class has the same name (``crane [517]``: :func:`animlib.text.unique_name`)."""
    return unique_name(names, label)


def experiments_of(infos: Iterable[RunInfo], run_ids: Sequence[str]) -> list[str]:
    """The experiments the runs ``run_ids`` are samples of, each once, ordered by id (an id's
    numbers by value: ``eps0.05`` before ``eps0.1``); runs of no experiment are left out."""
    wanted = set(run_ids)
    found = {
        exp
        for info in infos
        if info.id in wanted and isinstance(exp := info.get("experiment"), str) and exp
    }
    return sorted(found, key=natural_key)


def order_rows(rows: Sequence[GridRow], order: str) -> list[GridRow]:
    """``rows`` (by sample) in one of the :data:`ORDERS`: ``sample``, or by the share of their
    attacks that fooled the model in the end, fewest first (``robust``: the images no attack
    breaks first) or most first (``fragile``); rows with no known outcome last, ties by sample.

    Raises:
        AnimlibError: ``order`` is not a key of :data:`ORDERS` (field ``order``).
    """
    if order not in ORDERS:
        raise AnimlibError(f"must be one of {', '.join(ORDERS)}, not {order!r}", field="order")
    if order == "sample":
        return list(rows)
    sign = 1 if order == "robust" else -1

    def key(row: GridRow) -> tuple[bool, float]:
        share = row.fooled_share
        return (share is None, sign * (share or 0.0))

    return sorted(rows, key=key)  # stable: ties keep the sample order


def contested(rows: Sequence[GridRow]) -> list[GridRow]:
    """The rows (images) the grid's attacks disagree on: fooled by some of them in the end but
    not by all (of at least two known outcomes), in their order. These answer "which attack
    works best on which images"; an image every attack breaks, or none does, tells nothing."""
    return [r for r in rows if r.judged >= 2 and 0 < r.fooled < r.judged]


def image_rows(rows: Sequence[GridRow], run_id: str, same_source: Any) -> list[GridRow]:
    """The rows (images) of ``rows`` showing the source image of run ``run_id``: those with a
    run on the same source image (``same_source(run_ids)``: source -> run ids, as
    :meth:`animlib.index.RunIndex.same_source`), or ``run_id`` itself. Empty when no row does
    (the run was removed, or is in none of the grid's experiments)."""
    groups = same_source([run_id]).values()
    on_image = {run_id, *(r for group in groups for r in group)}
    return [row for row in rows if on_image & set(row.runs.values())]


def neighbours(infos: Iterable[RunInfo], run_id: str) -> tuple[RunInfo | None, RunInfo | None, int]:
    """Run ``run_id`` among the samples of its experiment (``infos``, the experiment's runs):
    the runs before and after it in sample order (None at an end) and how many samples there
    are (0 when ``run_id`` is not among them)."""
    ordered = sorted(
        (i for i in infos if i.ok),
        key=lambda i: (sample_key(i.get("sample")), natural_key(i.id)),
    )
    ids = [i.id for i in ordered]
    if run_id not in ids:
        return None, None, 0
    at = ids.index(run_id)
    before = ordered[at - 1] if at > 0 else None
    after = ordered[at + 1] if at + 1 < len(ids) else None
    return before, after, len(ids)


def thumbnail(image: np.ndarray, size: int = THUMB_PX) -> bytes:
    """A PNG of one stored image (H, W, C) uint8 or float in [0, 1] that fits a square of
    ``size`` pixels by its longest side: zoomed with whole pixels (nearest neighbour) when
    small, shrunk when large. A 32x96 image is 32x96, not 96x288 (the width alone set it)."""
    a = np.asarray(image)
    if a.dtype != np.uint8:
        a = (np.clip(np.nan_to_num(a.astype(np.float32)), 0, 1) * 255 + 0.5).astype(np.uint8)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    picture = Image.fromarray(a)
    longest = max(picture.size)
    if longest < size:
        zoom = max(size // longest, 1)
        picture = picture.resize((picture.width * zoom, picture.height * zoom), Image.NEAREST)
    elif longest > size:
        picture.thumbnail((size, size), Image.BILINEAR)
    buf = io.BytesIO()
    picture.save(buf, format="PNG")
    return buf.getvalue()


def cell_for(run: RunLike, step: int) -> Cell:
    """The cell of ``run`` at the grid's ``step``, an experiment step (mapped to the run's
    own for a sample left out of some steps, and clamped to the run's last step)."""
    meta = getattr(run, "meta", None) or {}
    shown = min(max(run_step_at(meta, int(step)), 0), len(run) - 1)
    png = thumbnail(run.images[shown])
    conf = run.confidences
    if conf is None:
        return Cell(run.id, shown, png)
    pred = int(np.argmax(conf[shown]))
    names = run.class_names or []
    flags = success_flags(conf[shown : shown + 1], run.true_label, run.target_label)
    fooled = None if flags is None else bool(flags[0])
    target = run.target_label
    off = target is not None and fooled is False and pred != run.true_label
    target_name = None if target is None else class_name(names, target) or str(target)
    name = class_name(names, pred) or str(pred)
    return Cell(run.id, shown, png, name, fooled, target_name, off)


def compare_ids(row: GridRow, experiments: Sequence[str]) -> list[str]:
    """The runs a row's "compare" link opens: the image's runs in grid order, at most 6."""
    return [row.runs[e] for e in experiments if e in row.runs][:MAX_COMPARE]


def _cell_html(cell: Cell, experiment: str) -> str:
    color = {True: SUCCESS_COLOR, False: HELD_COLOR}.get(cell.fooled, UNKNOWN_COLOR)
    state = {True: "fooled", False: "held", None: "unknown"}[cell.fooled]
    if cell.off_target:
        color, state = OFF_TARGET_COLOR, "off-target"
    src = "data:image/png;base64," + base64.b64encode(cell.png).decode()
    pred = "" if cell.pred is None else f"pred {cell.pred}"
    title = f"{cell.run_id} · step {cell.step}" + (f" · {pred}" if pred else "")
    if cell.target is not None:
        title += f" · target {cell.target}"
    title += f" · {state}"
    shown = "" if cell.pred is None else f"pred {middle_clipped(cell.pred, LABEL_CELLS)}"
    pred = f"{MARKS[state]} {shown}".strip()  # (the whole name in the title, on hover)
    href = f"viewer?run={quote(cell.run_id)}&step={cell.step}"
    e = html.escape
    return (
        f'<td><a class="animlib-cell" data-testid="animlib-grid-cell" data-run="{e(cell.run_id)}" '
        f'data-step="{cell.step}" data-outcome="{state}" data-experiment="{e(experiment)}" '
        f'href="{e(href)}" target="_self" {ATTR} title="{e(title)}" style="border-color:{color}">'
        f'<img src="{src}" alt="{e(title)}"/><span>{e(pred) or "&nbsp;"}</span></a></td>'
    )


LIGHT_BACKGROUND = "#ffffff"  # Streamlit's page background, light theme (1.67)
DARK_BACKGROUND = "#171614"  # and dark theme

_STYLE = """<style>
.animlib-grid-wrap{overflow:auto;max-width:100%;max-height:85vh}
.animlib-grid thead th{position:sticky;top:0;z-index:2}
.animlib-grid thead th:first-child{left:0;z-index:3}
.animlib-grid{border-collapse:collapse;font-size:0.8rem}
.animlib-grid th{font-weight:600;padding:4px 6px;text-align:center;vertical-align:bottom;
max-width:130px;overflow-wrap:anywhere}
.animlib-grid td{padding:3px;text-align:center;vertical-align:top}
.animlib-grid th.row{text-align:left;position:sticky;left:0;z-index:1;min-width:110px;
max-width:180px;overflow-wrap:normal}
.animlib-grid th.row .tally{font-weight:400;opacity:0.8}
.animlib-cell{display:inline-block;border:3px solid;border-radius:4px;padding:2px;
text-decoration:none;color:inherit}
.animlib-cell img{display:block;width:96px;height:96px;object-fit:contain;
image-rendering:pixelated}
.animlib-cell span{display:block;width:96px;height:2.4em;font-size:0.75rem;line-height:1.2;
overflow:hidden;word-break:break-all}
</style>"""


def column_titles(experiments: Sequence[Any], shown: Sequence[str]) -> dict[str, str]:
    """The grid's column titles: each shown experiment's name where :func:`shown_names` gives
    it (a rerun's name taken by the first run is not); else the id (the default title); with
    its model after it when the shown experiments attacked several (``pgd · cnn-at``)."""
    names, wanted = shown_names(experiments), set(shown)
    models = {x.id: x.get("model") or None for x in experiments if x.id in wanted}
    titles = with_models({i: names.get(i, i) for i in shown}, models)
    return {i: t for i, t in titles.items() if t != i}


def grid_html(
    rows: Sequence[GridRow],
    experiments: Sequence[str],
    cells: dict[str, Cell],
    titles: dict[str, str] | None = None,
    *,
    step: int | None = None,
    background: str = LIGHT_BACKGROUND,
) -> str:
    """The grid as one HTML table: a header of experiments, a row per image with a link to
    compare that image's runs (at the grid's ``step`` when given), a cell per run (border red
    when the attack has fooled the model at the shown step, green when the model still holds,
    grey when unknown). Every user string is escaped.

    The grid scrolls in a box at most 85% of the window high, where the experiments' titles
    stay in view as it scrolls down and the row labels as it scrolls sideways (many
    experiments); both are painted with ``background``, the page's background colour, so
    cells pass under them."""
    e = html.escape
    titles = titles or {}
    head = "".join(f"<th>{e(titles.get(x, x))}</th>" for x in experiments)
    body = []
    for row in rows:
        ids = compare_ids(row, experiments)
        link = "compare?runs=" + ",".join(quote(i) for i in ids)
        if step is not None:
            link += f"&step={int(step)}"
        label = e(row.label).replace(": ", ":&nbsp;")  # ("true:" and its class on one line)
        if row.judged:
            tally = f"fooled by {row.fooled} of {row.judged} in the end"  # (not at the step)
            label += f'<br/><span class="tally">{tally}</span>'
        if row.at_start:
            label += f'<br/><span class="tally">{e(at_start_note(row))}</span>'
        if len(ids) >= 2:
            # (the grid may hold more than a comparison can: say so, not "compare 6 runs")
            count = sum(x in row.runs for x in experiments)
            what = f"{len(ids)} runs" if count == len(ids) else f"{len(ids)} of {count} runs"
            label += (
                f'<br/><a href="{e(link)}" target="_self" {ATTR} '
                f'data-testid="animlib-grid-row">compare {what}</a>'
            )
        tds = []
        for exp in experiments:
            run_id = row.runs.get(exp)
            cell = cells.get(run_id) if run_id else None
            tds.append(_cell_html(cell, exp) if cell else "<td>–</td>")
        body.append(f'<tr><th class="row">{label}</th>{"".join(tds)}</tr>')
    sticky = f"<style>.animlib-grid th{{background:{e(background)}}}</style>"
    return (
        f'{_STYLE}{sticky}<div class="animlib-grid-wrap"><table class="animlib-grid"><thead><tr>'
        f"<th></th>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>"
    )
