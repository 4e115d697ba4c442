"""The dashboard's download buttons: what a click renders."""

from __future__ import annotations

import io

from helpers import DownloadSlot, write_run
from PIL import Image

import animlib
from animlib import downloads
from animlib.options import RenderOptions


def _frames(gif: bytes) -> int:
    with Image.open(io.BytesIO(gif)) as im:
        return im.n_frames


def test_a_download_clicked_after_the_run_was_overwritten_is_of_the_run_now(tmp_path, monkeypatch):
    """A run overwritten while its page was open (``if_exists="overwrite"``) downloaded as a
    chimera: the old run.json, original and number of steps, with the new run's images."""
    monkeypatch.setenv("ANIMLIB_CACHE", str(tmp_path / "cache"))
    runs = tmp_path / "runs"
    run_id = write_run(runs, "a", steps=3)
    shown = animlib.open_run(runs / run_id)  # (the page's run)
    slots = [DownloadSlot(), DownloadSlot()]
    for slot, runs_of in zip(slots, (shown, [shown, shown]), strict=True):
        downloads.render_download(slot, "GIF", runs_of, "a.gif", "image/gif", RenderOptions())
    assert write_run(runs, "a", steps=5, if_exists="overwrite") == run_id
    assert _frames(slots[0].data()) == 5 and slots[0].errors == []
    now = downloads.current([shown, shown])
    assert [len(r) for r in now] == [5, 5] and len(shown) == 3  # (the snapshot is left alone)
    assert _frames(slots[1].data()) == 5
    rows = downloads.current_csv(shown).decode().splitlines()  # (the viewer's CSV alike)
    assert len(rows) == 1 + 5
