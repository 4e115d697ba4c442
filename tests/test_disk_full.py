"""A render whose disk (the output folder's, the render cache's) fills up: a RenderError that
names the run and the folder and says the disk is full, no partial file, the dashboard going on."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
from helpers import DownloadSlot, write_run
from PIL import Image

import animlib
from animlib.errors import Code, RenderError
from animlib.movie_writers import ffmpeg
from animlib.options import RenderOptions

NO_SPACE = os.strerror(errno.ENOSPC)


def files_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.is_file())


def _enospc_save(self, fp, *args, **kwargs):
    """Image.save on a full disk: part of the file, then ENOSPC."""
    if hasattr(fp, "write"):
        fp.write(b"GIF89a" + bytes(4096))
    raise OSError(errno.ENOSPC, NO_SPACE)


def assert_disk_full(exc: RenderError, run_id: str, folder: Path) -> None:
    text = str(exc)
    assert exc.code == Code.STORAGE and exc.run == run_id and exc.field == "path"
    assert f"{folder} is full" in text and "free" in text
    assert NO_SPACE not in text and "Errno" not in text  # not the encoder's bare message


def test_a_full_output_disk_names_the_run_and_the_folder_and_leaves_no_file(tmp_path, monkeypatch):
    run_id = write_run(tmp_path / "runs", "a", steps=3)
    out = tmp_path / "out"
    monkeypatch.setattr(Image.Image, "save", _enospc_save)
    with pytest.raises(RenderError) as err:
        animlib.render(tmp_path / "runs" / run_id, out / "a.gif")
    assert_disk_full(err.value, run_id, out)
    assert "a.gif" in str(err.value)
    assert files_in(out) == []  # the partial GIF is removed


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_ffmpeg_on_a_full_disk_is_explained_not_quoted(tmp_path, monkeypatch):
    """ffmpeg's own stderr ("Error writing trailer: No space left on device") reached the user."""
    run_id = write_run(tmp_path / "runs", "a", steps=3)
    out = tmp_path / "out"
    command = ffmpeg.FFmpegWriter.command

    def to_a_full_disk(self):
        return [*command(self)[:-1], "/dev/full"]  # every write of ffmpeg's gets ENOSPC

    monkeypatch.setattr(ffmpeg.FFmpegWriter, "command", to_a_full_disk)
    with pytest.raises(RenderError) as err:
        animlib.render(tmp_path / "runs" / run_id, out / "a.mp4")
    assert_disk_full(err.value, run_id, out)
    assert files_in(out) == []


def enospc_under(folder: Path):
    """Image.save on a disk that is full for ``folder`` only (the render cache's)."""
    save = Image.Image.save

    def saving(self, fp, *args, **kwargs):
        where = Path(getattr(fp, "name", fp) if not isinstance(fp, (str, Path)) else fp)
        if str(where).startswith(str(folder)):
            return _enospc_save(self, fp, *args, **kwargs)
        return save(self, fp, *args, **kwargs)

    return saving


def test_a_full_render_cache_is_worked_around_and_said(tmp_path, monkeypatch, caplog):
    """The render failed ("the disk holding the render cache is full") while the output's disk
    had room: the cache is an optimisation, as for a cache folder that cannot be written."""
    run_id = write_run(tmp_path / "runs", "a", steps=3)
    cache = tmp_path / "cache"
    monkeypatch.setenv("ANIMLIB_CACHE", str(cache))
    monkeypatch.setattr(Image.Image, "save", enospc_under(cache))
    out = tmp_path / "out" / "a.gif"
    with caplog.at_level("WARNING", logger="animlib.cache"):
        animlib.render(tmp_path / "runs" / run_id, out, cache=True)
    assert Image.open(out).n_frames == 3
    assert [f for f in files_in(cache) if f.endswith((".gif", ".tmp"))] == []
    said = [r.getMessage() for r in caplog.records]
    assert len(said) == 1 and f"the cache folder {cache} (ANIMLIB_CACHE)" in said[0]
    assert "its disk is full" in said[0] and "working without it (free some space" in said[0]


def test_a_full_render_cache_and_output_disk_names_the_output(tmp_path, monkeypatch):
    run_id = write_run(tmp_path / "runs", "a", steps=3)
    monkeypatch.setenv("ANIMLIB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(Image.Image, "save", _enospc_save)  # every disk full
    with pytest.raises(RenderError) as err:
        animlib.render(tmp_path / "runs" / run_id, tmp_path / "out" / "a.gif", cache=True)
    assert_disk_full(err.value, run_id, tmp_path / "out")
    assert files_in(tmp_path / "out") == []


def test_a_cached_render_copied_to_a_full_disk_names_the_run(tmp_path, monkeypatch):
    run_id = write_run(tmp_path / "runs", "a", steps=3)
    monkeypatch.setenv("ANIMLIB_CACHE", str(tmp_path / "cache"))
    run = tmp_path / "runs" / run_id
    animlib.render(run, tmp_path / "first.gif", cache=True)  # now in the cache
    from animlib.cache import renders

    def copy_half(src, dst):
        Path(dst).write_bytes(b"GIF89a")
        raise OSError(errno.ENOSPC, NO_SPACE)

    monkeypatch.setattr(renders.shutil, "copyfile", copy_half)
    out = tmp_path / "out"
    with pytest.raises(RenderError) as err:
        animlib.render(run, out / "a.gif", cache=True)
    assert_disk_full(err.value, run_id, out)
    assert files_in(out) == []


def test_the_dashboard_works_without_a_full_cache(tmp_path, monkeypatch):
    """The download failed silently (its error showed after a reload) and the player said
    "Cannot show the frames": both now work without the cache, as for an unwritable one."""
    from animlib import downloads
    from animlib.player import component

    run_id = write_run(tmp_path / "runs", "a", steps=3)
    cache = tmp_path / "cache"
    monkeypatch.setenv("ANIMLIB_CACHE", str(cache))
    monkeypatch.setattr(Image.Image, "save", enospc_under(cache))
    run = animlib.open_run(tmp_path / "runs" / run_id)

    slot = DownloadSlot()
    downloads.render_download(slot, "GIF", run, "a.gif", "image/gif", RenderOptions())
    assert slot.data()[:6] == b"GIF89a" and slot.errors == []

    def write_half(path, data):  # a player strip: part of it, then ENOSPC
        with open(path, "wb") as fh:
            fh.write(data[:10])
        raise OSError(errno.ENOSPC, NO_SPACE)

    monkeypatch.setattr(Path, "write_bytes", write_half)
    files, note = component._strips(run, None, run_id)
    assert "its disk is full" in note and str(cache) in note
    assert files.images and all(isinstance(strip, bytes) for strip in files.images)  # MEMORY
