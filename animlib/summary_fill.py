"""What a run.json written by another tool lacks (its summary), computed from its confidences."""

# animlib's writers store a run's summary (final prediction, success, flip step, norms) in its
# run.json, so listing never reads arrays. A run written from the format alone has none, and
# every table (the runs page, ``ls``, ``summarize``, ``outcomes``, the experiments page) showed
# its outcome as unknown. Listing fills it in from the confidences instead (never the images), in
# memory only (the run folder is never written): once per run.json version, as the run index keeps
# what listing read.

from __future__ import annotations

from typing import Any

from .store import Store


def lacks_summary(meta: dict[str, Any]) -> bool:
    """Whether run.json has no final prediction for a run with steps that may have
    confidences (animlib's writers always store one)."""
    summary = meta.get("summary")
    if summary is not None and not isinstance(summary, dict):
        return False  # (refused by the format check)
    arrays = meta.get("arrays")
    may_have = not isinstance(arrays, list) or "confidences" in arrays
    steps = meta.get("steps")
    return (
        (summary or {}).get("final_pred") is None and may_have and type(steps) is int and steps > 0
    )


def values_from_arrays(root: Store, run_id: str) -> tuple[dict[str, Any] | None, bool]:
    """The summary animlib's writer would have stored for run ``run_id`` of ``root``, from its
    confidences alone (listing never reads images: the norms stay unknown, and ``summarize``
    reads them as for any run.json without them), and whether reading failed for the storage
    (no verdict on the run: the run index reads it again). None without confidences."""
    from .errors import AnimlibError, Code
    from .reader import open_run_in
    from .summary import SummaryAccumulator

    try:
        run = open_run_in(root, run_id)
        n = len(run)
        if run.confidences is None or n == 0:
            return None, False
        acc = SummaryAccumulator(run.true_label, run.target_label)
        acc.add_steps(run.confidences[:n])
        return {**acc.stored(), "initial_pred": int(run.confidences[0].argmax())}, False
    except AnimlibError as exc:  # (a damaged run: the pages' checks say why)
        return None, exc.code == Code.STORAGE
    except OSError:
        return None, True
    except Exception:  # (one odd run never breaks a listing)
        return None, False


def fill_summaries(root: Store, infos: list[Any]) -> None:
    """Give the readable ``infos`` (listed from ``root``) whose run.json lacks a summary the one
    :func:`values_from_arrays` finds (the values run.json has are kept), a few runs at once; one
    the storage failed to read gets code STORAGE (kept as unread by the run index: read again)."""
    from concurrent.futures import ThreadPoolExecutor

    from .errors import Code

    todo = [i for i in infos if i.error is None and i.meta and lacks_summary(i.meta)]
    if not todo:
        return
    with ThreadPoolExecutor(min(8, len(todo)), thread_name_prefix="animlib-fill") as pool:
        found = list(pool.map(lambda info: values_from_arrays(root, info.id), todo))
    for info, (summary, transient) in zip(todo, found, strict=True):
        if summary is not None:
            stored = {k: v for k, v in (info.meta.get("summary") or {}).items() if v is not None}
            info.meta = {**info.meta, "summary": {**summary, **stored}}
        elif transient:
            info.code = Code.STORAGE


def complete_meta(meta: dict[str, Any], run: Any, n: int, last: Any) -> None:
    """Fill in, for a resume, what another tool's run.json lacks: the summary of the ``n``
    steps kept (``run``'s, the last one ``last``) and the image shape and dtype of later steps
    (every log died with a bare KeyError 'image_shape')."""
    from .summary import kept_steps_meta

    if lacks_summary(meta):
        meta["summary"] = kept_steps_meta(run, n, last, "")["summary"]
    if meta.get("image_shape") is None:
        meta.update(image_shape=list(last.shape), image_dtype=str(last.dtype))


def check_appendable(run_id: str, path: str, array_meta: dict[str, Any]) -> None:
    """Raise RunInputError for a scalar series another tool stored as integers: a step that
    does not log it is NaN, which it cannot hold (resumed, it stored 40.5 as 40, then died)."""
    from .errors import Code, RunInputError

    if path.startswith("scalars/") and str(array_meta.get("data_type")).startswith("int"):
        msg = f"a {array_meta['data_type']} series (another tool's) cannot be continued"
        raise RunInputError(msg, run=run_id, field=path, code=Code.INVALID)
