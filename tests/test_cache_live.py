"""Live runs in the render cache: one entry per run and options, appended to as the run grows."""

from __future__ import annotations

import time
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest

import animlib
from animlib import cache
from animlib.cache import live
from animlib.frames import FrameRenderer
from animlib.options import RenderOptions
from animlib.rendering import formats

CLASSES = ["cat", "dog", "frog", "ship"]
SHAPE = (48, 40, 3)


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv("ANIMLIB_CACHE", str(folder))
    monkeypatch.delenv("ANIMLIB_CACHE_MAX_MB", raising=False)
    monkeypatch.setattr(live, "LIVE_REFRESH_SECONDS", 0.0)  # re-made on every call
    cache.reset_stats()
    return folder


class LiveRun:
    """A run being written: a PGD-like walk whose perturbation stays within +-eps (so the
    automatic perturbation gain settles, as a real attack's does)."""

    def __init__(self, root: Path, name: str = "live", eps: float = 0.05) -> None:
        self.rng = np.random.default_rng(0)
        self.x0 = self.rng.random(SHAPE, dtype=np.float32) * 0.8 + 0.1
        self.eps = eps
        self.writer = animlib.RunWriter(
            root, name=name, attack="PGD", class_names=CLASSES, true_label=0, original=self.x0
        )
        self.root = Path(root)
        self.steps = 0

    def log(self, n: int, eps: float | None = None) -> animlib.Run:
        for _ in range(n):
            sign = np.sign(self.rng.standard_normal(SHAPE)).astype(np.float32)
            image = np.clip(self.x0 + (eps or self.eps) * sign, 0, 1)
            p = np.array([0.7 - 0.002 * self.steps, 0.1, 0.1, 0.0])
            p[3] = 1 - p[:3].sum()
            self.writer.log(image=image, confidences=p)
            self.steps += 1
        return self.run()

    def run(self) -> animlib.Run:
        return animlib.open_run(self.root / self.writer.run_id)


def frames_of(path: Path) -> list[np.ndarray]:
    reader = imageio_ffmpeg.read_frames(str(path))
    meta = next(reader)
    w, h = meta["size"]
    return [np.frombuffer(f, np.uint8).reshape(h, w, 3) for f in reader]


def visible(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))


def hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_a_running_runs_frames_do_not_depend_on_its_length_so_far(tmp_path):
    writer = LiveRun(tmp_path)
    short = writer.log(12)
    long = writer.log(9)
    assert short.status == long.status == "running"
    with FrameRenderer(short) as a, FrameRenderer(long) as b:
        assert a.size == b.size and len(b) == 21
        for i in (0, 5, 11):
            assert np.array_equal(a.frame(i), b.frame(i)), f"frame {i}"


def test_a_live_run_keeps_one_entry_appended_to_as_it_grows(tmp_path, cache_dir):
    writer = LiveRun(tmp_path / "runs")
    first = cache.cached_render(writer.log(30), "mp4")
    assert first.name.startswith("live-") and len(frames_of(first)) == 30
    assert cache.stats()["renders"] == 1

    for total in (40, 55):
        run = writer.log(total - writer.steps)
        path = cache.cached_render(run, "mp4")
        assert path == first and len(frames_of(path)) == total
        assert visible(cache_dir) == [first.name]  # replaced, not added
        assert hidden(cache_dir) == [f".live-{first.name}.json"]
    assert cache.stats()["renders"] == 1 and cache.stats()["appends"] == 2

    again = cache.cached_render(run, "mp4")  # nothing new: served as it is
    assert again == first and cache.stats()["hits"] == 1 and cache.stats()["appends"] == 2

    full = animlib.render(run, tmp_path / "full.mp4")  # the same frames, rendered in one go
    got, want = frames_of(again), frames_of(full)
    assert len(got) == len(want) == 55
    worst = max(np.abs(g.astype(int) - w).mean() for g, w in zip(got, want, strict=True))
    assert worst < 3.0, worst  # only H.264's own (per-encoding) differences


def test_appending_to_a_live_render_is_faster_than_rendering_it_again(tmp_path, cache_dir):
    writer = LiveRun(tmp_path / "runs")
    cache.cached_render(writer.log(200), "mp4", fps=20)
    run = writer.log(5)
    started = time.perf_counter()
    path = cache.cached_render(run, "mp4", fps=20)
    append = time.perf_counter() - started
    started = time.perf_counter()
    animlib.render(run, tmp_path / "full.mp4", fps=20)
    full = time.perf_counter() - started
    assert cache.stats()["appends"] == 1 and len(frames_of(path)) == 205
    assert append < full, f"append {append:.2f} s, full render {full:.2f} s"


def test_a_finished_run_replaces_its_live_entry(tmp_path, cache_dir):
    writer = LiveRun(tmp_path / "runs")
    live_path = cache.cached_render(writer.log(10), "mp4")
    writer.writer.finish()
    run = writer.run()
    assert run.status == "finished"
    done = cache.cached_render(run, "mp4")
    assert not done.name.startswith("live-") and len(frames_of(done)) == 10
    assert visible(cache_dir) == [done.name] and not live_path.exists()
    assert hidden(cache_dir) == []


def test_a_change_beyond_new_frames_renders_the_whole_video_again(tmp_path, cache_dir):
    writer = LiveRun(tmp_path / "runs")
    first = cache.cached_render(writer.log(10), "mp4")
    run = writer.log(3, eps=0.3)  # a larger perturbation: the automatic gain changes
    path = cache.cached_render(run, "mp4")
    assert path == first and len(frames_of(path)) == 13
    assert cache.stats()["renders"] == 2 and cache.stats()["appends"] == 0
    assert visible(cache_dir) == [first.name]


def test_a_live_entry_is_re_made_at_most_every_few_seconds(tmp_path, cache_dir, monkeypatch):
    monkeypatch.setattr(live, "LIVE_REFRESH_SECONDS", 2.0)  # (a busy machine: not less)
    writer = LiveRun(tmp_path / "runs")
    first = cache.cached_render(writer.log(10), "mp4")
    run = writer.log(2)
    assert len(frames_of(cache.cached_render(run, "mp4"))) == 10  # made < 2 s ago: served
    assert cache.stats()["hits"] == 1
    time.sleep(2.1)
    assert len(frames_of(cache.cached_render(run, "mp4"))) == 12
    assert cache.stats()["appends"] == 1 and visible(cache_dir) == [first.name]


def test_gif_and_html_of_a_live_run_are_re_rendered_in_place(tmp_path, cache_dir):
    writer = LiveRun(tmp_path / "runs")
    gif = cache.cached_render(writer.log(6), "gif")
    again = cache.cached_render(writer.log(2), "gif")
    assert again == gif and gif.read_bytes()[:4] == b"GIF8"
    html = cache.cached_render(writer.run(), "html")
    assert cache.stats()["renders"] == 3 and cache.stats()["appends"] == 0
    assert visible(cache_dir) == sorted([gif.name, html.name])


def test_a_live_comparison_appends_only_while_earlier_frames_stay_right(tmp_path, cache_dir):
    runs = tmp_path / "runs"
    writer = LiveRun(runs)
    with animlib.RunWriter(runs, name="done", class_names=CLASSES, true_label=0) as w:
        for i in range(20):
            w.log(image=np.full(SHAPE, i / 20, np.float32), confidences=[0.7, 0.1, 0.1, 0.1])
    finished = animlib.open_run(runs / w.run_id)

    pair = cache.cached_render([finished, writer.log(8)], "mp4")
    assert len(frames_of(pair)) == 20
    # frames 8..19 held the live run's last step: they change, so all is rendered again
    assert len(frames_of(cache.cached_render([finished, writer.log(12)], "mp4"))) == 20
    assert cache.stats()["renders"] == 2 and cache.stats()["appends"] == 0
    # now the live run is the longest: its growth only adds frames
    assert len(frames_of(cache.cached_render([finished, writer.log(5)], "mp4"))) == 25
    assert cache.stats()["appends"] == 1 and visible(cache_dir) == [pair.name]


def test_render_with_cache_of_a_live_run_copies_its_latest_render(tmp_path, cache_dir):
    writer = LiveRun(tmp_path / "runs")
    out = animlib.render(writer.log(7), tmp_path / "a.mp4", cache=True)
    assert len(frames_of(out)) == 7
    out = animlib.render(writer.log(3), tmp_path / "a.mp4", cache=True)
    assert len(frames_of(out)) == 10 and cache.stats()["appends"] == 1


def test_options_make_separate_live_entries(tmp_path, cache_dir):
    writer = LiveRun(tmp_path / "runs")
    run = writer.log(6)
    a = cache.cached_render(run, "mp4", fps=10)
    b = cache.cached_render(run, "mp4", options=RenderOptions(fps=12))
    assert a != b and len(visible(cache_dir)) == 2


@pytest.mark.parametrize("fmt", ["mp4", "webm"])
def test_short_appends_leave_no_gap_at_the_seams(tmp_path, cache_dir, fmt):
    if fmt not in formats():
        pytest.skip(f"{fmt} is not offered by this ffmpeg")
    writer = LiveRun(tmp_path / "runs")
    path = cache.cached_render(writer.log(10), fmt)
    for n in (1, 2, 3):
        path = cache.cached_render(writer.log(n), fmt)
        frames, secs = imageio_ffmpeg.count_frames_and_secs(str(path))
        # read_frames resamples at the stream's rate: a seam with a longer frame shows as extra
        assert len(frames_of(path)) == frames == writer.steps and secs == pytest.approx(
            writer.steps / 10
        )
    assert cache.stats()["appends"] == 3


def test_a_live_runs_player_strips_are_reused_as_it_grows(tmp_path):
    from animlib.player import strip_files

    writer = LiveRun(tmp_path / "runs")
    folder = tmp_path / "strips"
    folder.mkdir()
    written = []

    def strips(run):
        return strip_files(run, folder, "live-key", progress=lambda d, t: written.append(t))

    first = strips(writer.log(100))  # 64 steps of 48x40 per strip: strips of 64 and 36 steps
    assert first.plan.count == 2 and written[-1] == 2
    second = strips(writer.log(30))  # 64, 64, 2: the first strip is kept as it is
    assert second.plan.count == 3 and written[-1] == 2
    assert second.images[0] == first.images[0] and second.gain == first.gain
    assert second.perturbations[0] == first.perturbations[0]
    assert second.images[1] != first.images[1]  # it holds more steps now


def test_a_strip_cut_short_is_written_again_not_shown_blank(tmp_path):
    """A strip file cut short (a crash before the disk had it) left the player's panels
    blank on every later visit: it was taken as there."""
    from animlib.player import strip_files

    run = LiveRun(tmp_path / "runs").log(100)
    folder = tmp_path / "strips"
    folder.mkdir()
    first = strip_files(run, folder, "key")
    whole = {p: p.read_bytes() for p in [*first.images, *first.perturbations, first.original]}
    for path in (first.images[1], first.perturbations[0], first.original):
        path.write_bytes(whole[path][: len(whole[path]) // 2])
    written = []
    again = strip_files(run, folder, "key", progress=lambda d, t: written.append(t))
    assert written[-1] == 2  # strips 0 and 1 (the original outside the count)
    assert {
        p: p.read_bytes() for p in [*again.images, *again.perturbations, again.original]
    } == whole


def test_a_resume_that_dropped_steps_renders_the_live_video_again(tmp_path, cache_dir):
    """A killed run resumed a few steps back grew past its old length before the next render:
    the video appended to the old one still showed the dropped steps' frames."""
    writer = LiveRun(tmp_path / "runs")
    first = cache.cached_render(writer.log(12), "mp4")
    assert len(frames_of(first)) == 12
    writer.writer.appender.flush()
    (writer.root / writer.writer.run_id / ".writer.lock").unlink()  # as a killed writer leaves it
    resumed = animlib.RunWriter.resume(writer.root / writer.writer.run_id, steps=8)
    x = writer.run().images[7]
    for _ in range(6):  # 14 steps: steps 8-13 all repeat step 7
        resumed.log(image=x, confidences=writer.run().confidences[7])
    run = writer.run()
    assert len(run) == 14 and run.meta["steps_dropped"]["kept"] == 8
    path = cache.cached_render(run, "mp4")
    assert cache.stats()["appends"] == 0  # not joined to the old frames
    got = frames_of(path)
    assert len(got) == 14
    full = frames_of(animlib.render(run, tmp_path / "full.mp4"))
    for i in (8, 9, 11):
        assert np.abs(got[i].astype(int) - full[i]).mean() < 3.0, i
    resumed.finish()


def test_a_live_runs_superseded_strips_are_dropped(tmp_path, monkeypatch):
    """Each look at a growing run wrote its last strip again under a new name (its length) and
    left the older ones: 11 versions of one strip after 24 s. The strips of another gain (the
    compare page's, another session's) stay: dropping them made two pages rebuild each other's."""
    from animlib.player import strip_files, strips

    writer = LiveRun(tmp_path / "runs")
    folder = tmp_path / "strips"
    folder.mkdir()
    first = strip_files(writer.log(20), folder, "live-key")
    other_gain = strip_files(writer.run(), folder, "live-key", amplification=7.0)
    second = strip_files(writer.log(5), folder, "live-key")
    assert first.images[0].exists()  # written a moment ago: another page may be taking it
    monkeypatch.setattr(strips, "SUPERSEDED_AFTER_S", 0.0)
    third = strip_files(writer.log(5), folder, "live-key")
    assert not second.images[0].exists() and not first.images[0].exists()
    assert not second.perturbations[0].exists()
    kept = {*third.images, *third.perturbations, third.original, *other_gain.perturbations}
    assert {p.name for p in folder.iterdir()} == {p.name for p in kept}


def test_two_resumes_to_the_same_step_in_one_second_are_told_apart(tmp_path):
    """The mark held the time in whole seconds: a scripted retry resumed to the same step in
    the same second reused the first branch's strips and live video."""
    from animlib.cache.keys import strips_key

    writer = LiveRun(tmp_path / "runs")
    writer.log(10)
    writer.writer.finish()
    path = writer.root / writer.writer.run_id
    keys = []
    for _ in range(2):
        with animlib.RunWriter.resume(path, steps=5) as w:
            w.log(image=writer.run().images[4], confidences=writer.run().confidences[4])
            keys.append(strips_key(animlib.open_run(path)))
    assert keys[0] != keys[1]
    with pytest.raises(animlib.RunInputError, match="steps_dropped"):
        animlib.RunWriter(tmp_path / "runs", name="x", fields={"steps_dropped": {"kept": 1}})


def test_a_run_made_again_at_its_path_in_the_same_second_is_another_live_run(
    tmp_path, cache_dir, monkeypatch
):
    """A script retrying at once (``if_exists="overwrite"``), or a clock set back, made a run
    at the same path with the same ``created`` (whole seconds): its live video and player
    strips were the first run's, appended to, until it finished."""
    from animlib import meta
    from animlib.cache.keys import strips_key

    monkeypatch.setattr(meta, "now_iso", lambda: "2026-12-07T10:00:00+00:00")
    root = tmp_path / "runs"
    dark = np.zeros(SHAPE, np.float32)
    with animlib.RunWriter(root, name="retry", class_names=CLASSES) as first:
        for _ in range(3):
            first.log(image=dark, confidences=[0.7, 0.1, 0.1, 0.1])
        first.appender.flush()
        old = animlib.open_run(root / "retry")
        assert old.status == "running"
        old_video = cache.cached_render(old, "mp4")
        first.finish("failed")
    with animlib.RunWriter(root, name="retry", class_names=CLASSES, if_exists="overwrite") as w:
        for _ in range(5):
            w.log(image=np.ones(SHAPE, np.float32), confidences=[0.1, 0.7, 0.1, 0.1])
        w.appender.flush()
        new = animlib.open_run(root / "retry")
        assert new.status == "running" and new.meta["created"] == old.meta["created"]
        assert strips_key(new) != strips_key(old)
        path = cache.cached_render(new, "mp4")
        assert path != old_video and cache.stats()["appends"] == 0
        assert [round(float(f.mean())) for f in frames_of(path)][:3] == [
            round(float(f.mean())) for f in frames_of(animlib.render(new, tmp_path / "n.mp4"))
        ][:3]


def test_an_export_of_a_live_run_is_the_run_as_it_is_now(tmp_path, cache_dir, monkeypatch):
    """``render(..., cache=True)`` (and the CLI's render) right after new steps gave the video
    of two seconds before without a word: the pages' polling window applied to exports too."""
    monkeypatch.setattr(live, "LIVE_REFRESH_SECONDS", 2.0)
    writer = LiveRun(tmp_path / "runs")
    first = animlib.render(writer.log(12), tmp_path / "a.mp4", cache=True)
    assert len(frames_of(first)) == 12
    run = writer.log(5)
    assert len(frames_of(animlib.render(run, tmp_path / "b.mp4", cache=True))) == 17
    assert len(frames_of(cache.cached_render(run, "mp4"))) == 17  # (and the page then shows it)


@pytest.mark.parametrize("ahead_s", [3600.0, 2.5])
def test_a_live_entry_made_in_the_future_is_re_made(tmp_path, cache_dir, monkeypatch, ahead_s):
    # the clock set back after the first render (an NTP step), or a replica sharing the cache
    # with its clock ahead: the entry's "made" is in the future, which is no freshness
    monkeypatch.setattr(live, "LIVE_REFRESH_SECONDS", 2.0)
    writer = LiveRun(tmp_path / "runs")
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + ahead_s)
    cache.cached_render(writer.log(3), "mp4")
    monkeypatch.setattr(time, "time", real)
    run = writer.log(5)
    assert len(frames_of(cache.cached_render(run, "mp4"))) == 8
    assert live.is_fresh(real() - 1.0, 2.0) and not live.is_fresh(real() + 1.0, 2.0)
