"""Render cache (hits, misses, invalidation, LRU, two processes) and the fast path it serves."""

from __future__ import annotations

import importlib
import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import imageio_ffmpeg
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from helpers import image_for, probs_for, write_run  # noqa: E402

import animlib  # noqa: E402
from animlib import cache, movie_writers  # noqa: E402
from animlib.cache.whole import is_whole  # noqa: E402
from animlib.errors import RenderError  # noqa: E402
from animlib.frames import FrameRenderer  # noqa: E402
from animlib.options import RenderOptions  # noqa: E402
from animlib.protocol import RunLike  # noqa: E402
from animlib.settings import Settings  # noqa: E402

render_module = importlib.import_module("animlib.rendering")
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv("ANIMLIB_CACHE", str(folder))
    monkeypatch.delenv("ANIMLIB_CACHE_MAX_MB", raising=False)
    return folder


@pytest.fixture
def run(tmp_path):
    return animlib.open_run(tmp_path / "runs" / write_run(tmp_path / "runs", "alpha", steps=6))


@pytest.fixture
def renders(monkeypatch):
    """Counts calls of the renderer behind the cache (and still renders)."""
    calls = []
    real = render_module.render

    def counting(run, path, **kwargs):
        calls.append(kwargs)
        return real(run, path, **kwargs)

    monkeypatch.setattr(render_module, "render", counting)
    return calls


def frame_count(path: Path) -> int:
    return imageio_ffmpeg.count_frames_and_secs(str(path))[0]


def visible(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))


def hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


# ------------------------------------------------------------------------------ hits and misses


def test_a_miss_renders_into_the_cache_and_a_hit_does_not_render(run, cache_dir, renders):
    first = cache.cached_render(run, "mp4", fps=10)
    assert first.parent == cache_dir and first.suffix == ".mp4"
    assert frame_count(first) == 6 and len(renders) == 1
    data = first.read_bytes()

    again = cache.cached_render(animlib.open_run(run.url), "mp4", fps=10)  # reopened: same key
    assert again == first and again.read_bytes() == data
    assert len(renders) == 1, "a cached render must be served without calling the renderer"
    assert visible(cache_dir) == [first.name] and hidden(cache_dir) == []


@pytest.mark.parametrize(
    ("fmt", "keep"), [("mp4", 0.5), ("mp4", 0.0), ("gif", 0.9), ("webm", 0.5), ("html", 0.9)]
)
def test_a_damaged_entry_is_rendered_again_not_served(run, cache_dir, renders, fmt, keep):
    first = cache.cached_render(run, fmt, fps=10)
    data = first.read_bytes()
    first.write_bytes(data[: int(len(data) * keep)])  # a crash before the disk had it all
    again = cache.cached_render(run, fmt, fps=10)
    assert len(renders) == 2, "a torn entry must be made again"
    assert again == first and is_whole(again)
    assert abs(again.stat().st_size - len(data)) < 64  # (a WebM holds a random id)
    assert cache.cached_render(run, fmt, fps=10) == again and len(renders) == 2


def test_every_option_and_the_format_is_part_of_the_key(run, cache_dir, renders):
    base = cache.cached_render(run, "mp4", fps=10, stride=1)
    variants = [
        cache.cached_render(run, "mp4", fps=12, stride=1),
        cache.cached_render(run, "mp4", fps=10, stride=2),
        cache.cached_render(run, "mp4", fps=10, stride=1, top_k=2),
        cache.cached_render(run, ".GIF", fps=10, stride=1),
    ]
    assert len({base, *variants}) == 5 and len(renders) == 5
    assert variants[-1].suffix == ".gif" and frame_count(variants[1]) == 4  # 0, 2, 4, 5
    assert cache.cached_render(run, "mp4", stride=1, fps=10) == base  # keyword order is irrelevant
    assert len(renders) == 5


def test_a_comparison_is_cached_apart_from_its_runs(tmp_path, run, cache_dir):
    other = animlib.open_run(tmp_path / "runs" / write_run(tmp_path / "runs", "beta", steps=3))
    single = cache.cached_render(run, "mp4")
    pair = cache.cached_render([run, other], "mp4")
    swapped = cache.cached_render([other, run], "mp4")
    assert len({single, pair, swapped}) == 3
    assert frame_count(pair) == 6


def test_a_page_wraps_the_cached_mp4_instead_of_rendering_again(
    tmp_path, run, cache_dir, monkeypatch
):
    """The standalone-HTML download of a 10,000-step run rendered its video again (45 s) though
    the viewer had just cached that very MP4. The page is now made from the cached MP4, the
    same bytes as a page rendered from scratch; a page whose MP4 is not cached is rendered."""
    other = animlib.open_run(tmp_path / "runs" / write_run(tmp_path / "runs", "beta", steps=3))
    made = []  # (render_compare calls render: each render counted once)
    real = render_module.render
    monkeypatch.setattr(render_module, "render", lambda *a, **kw: made.append(1) or real(*a, **kw))
    for runs, opts in ((run, {"fps": 12, "stride": 2}), ([run, other], {"top_k": 2})):
        monkeypatch.setenv("ANIMLIB_CACHE", str(tmp_path / "fresh"))  # (nothing cached)
        scratch = cache.cached_render(runs, "html", **opts).read_bytes()
        assert len(made) == 1 and b"data:video/mp4;base64," in scratch
        monkeypatch.setenv("ANIMLIB_CACHE", str(cache_dir))
        cache.cached_render(runs, "mp4", **opts)
        page = cache.cached_render(runs, "html", **opts)
        assert len(made) == 2, "the page must be made from the cached MP4"
        assert page.read_bytes() == scratch
        assert cache.cached_render(runs, "html", **opts) == page and len(made) == 2
        made.clear()
        shutil.rmtree(tmp_path / "fresh")
    other_opts = cache.cached_render(run, "html", fps=7)  # (its MP4 is not cached)
    assert len(made) == 1 and other_opts.suffix == ".html"


def test_a_run_of_the_callers_own_renders_without_the_cache(tmp_path, cache_dir):
    """``render(..., cache=True)`` of an in-memory object implementing ``RunLike`` ended in a
    bare AttributeError ('fingerprint'): such a run has no content to key a render by, so it
    is rendered as without the cache (alone or in a comparison)."""

    class Mine:
        id = name = "mine"
        attack = model = target_label = None
        class_names, true_label = ["a", "b"], 0

        def __init__(self, steps):
            self.images = np.linspace(0, 1, steps * 48, dtype=np.float32).reshape(steps, 4, 4, 3)
            self.image_shape, self.original = (4, 4, 3), self.images[0]
            self.confidences = np.tile(np.array([0.7, 0.3], np.float32), (steps, 1))

        def __len__(self):
            return len(self.images)

    assert isinstance(Mine(3), RunLike)
    out = animlib.render(Mine(3), tmp_path / "mine.mp4", cache=True)
    pair = animlib.render_compare([Mine(3), Mine(5)], tmp_path / "two.gif", cache=True)
    assert frame_count(out) == 3 and frame_count(pair) == 5
    assert frame_count(cache.cached_render(Mine(4), "mp4")) == 4  # (the cache's own entry point)
    assert not cache_dir.exists() or visible(cache_dir) == []


def test_changing_a_run_renders_it_again(run, cache_dir, renders):
    before = cache.cached_render(run, "mp4")
    assert frame_count(before) == 6

    with animlib.RunWriter.resume(run.url) as w:  # e.g. an attack that goes on
        w.log(image=image_for(6), confidences=probs_for(6))
    changed = animlib.open_run(run.url)

    after = cache.cached_render(changed, "mp4")
    assert after != before and len(renders) == 2
    assert frame_count(after) == 7
    assert cache.cached_render(animlib.open_run(run.url), "mp4") == after and len(renders) == 2


def test_the_cache_stays_outside_the_results_folder(tmp_path, run, cache_dir):
    runs = tmp_path / "runs"
    before = {p: p.read_bytes() for p in runs.rglob("*") if p.is_file()}
    cache.cached_render(run, "mp4")
    cache.cached_render(run, "html")
    after = {p: p.read_bytes() for p in runs.rglob("*") if p.is_file()}
    assert after == before
    assert not cache_dir.is_relative_to(runs)


def test_default_cache_folder_and_bad_format(tmp_path, monkeypatch, run):
    monkeypatch.delenv("ANIMLIB_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache.cache_dir() == tmp_path / "xdg" / "animlib"
    monkeypatch.setenv("ANIMLIB_CACHE_MAX_MB", "oops")
    with pytest.warns(UserWarning, match="ANIMLIB_CACHE_MAX_MB='oops' is not a number"):
        assert cache.max_bytes() == Settings().cache_max_bytes == 2048 * 1024 * 1024
    with pytest.raises(ValueError, match="format"):
        cache.cached_render(run, "../mp4")


# ------------------------------------------------------------------------------------------ LRU


def _age(path: Path, seconds_ago: float) -> None:
    t = time.time() - seconds_ago
    os.utime(path, (t, t))


def test_least_recently_used_files_go_first_with_a_tiny_bound(run, cache_dir, monkeypatch):
    a = cache.cached_render(run, "mp4", fps=10)
    b = cache.cached_render(run, "mp4", fps=11)
    assert visible(cache_dir) == sorted([a.name, b.name])
    _age(a, 300)
    _age(b, 200)
    assert cache.cached_render(run, "mp4", fps=10) == a  # a hit makes `a` the most recent

    # room for about two renders: the third pushes out the least recently used, b
    monkeypatch.setenv("ANIMLIB_CACHE_MAX_MB", str((a.stat().st_size * 2.5) / 2**20))
    c = cache.cached_render(run, "mp4", fps=12)
    assert not b.exists() and a.exists() and c.exists()

    # a bound below one file still keeps the render just made (it is about to be served)
    monkeypatch.setenv("ANIMLIB_CACHE_MAX_MB", "0.0001")
    d = cache.cached_render(run, "mp4", fps=13)
    assert visible(cache_dir) == [d.name]


def test_eviction_leaves_renders_in_progress_and_the_users_files_alone(cache_dir):
    """Renders in progress stay; so do files that are not the cache's (ANIMLIB_CACHE set to a
    folder of the user's, ~/Downloads, a bucket's root: eviction deleted every file in it)."""
    old, new, dead = "a" * 40 + ".mp4", "b" * 40 + ".mp4", "c" * 40 + ".mp4"
    cache_dir.mkdir(parents=True)
    (cache_dir / old).write_bytes(b"x" * 1000)
    in_progress = cache_dir / f".{new}.1234abcd.tmp.mp4"  # another process is writing it
    in_progress.write_bytes(b"y" * 5000)
    crashed = cache_dir / f".{dead}.5678abcd.tmp.mp4"
    crashed.write_bytes(b"z" * 5000)
    users = [cache_dir / "thesis.pdf", cache_dir / ".bashrc", cache_dir / "render.mp4"]
    for path in [crashed, *users]:
        path.write_bytes(b"mine" * 1000)
        _age(path, 3 * 24 * 3600)

    removed = cache.evict(limit=0)
    assert in_progress.exists() and all(path.exists() for path in users)
    assert not (cache_dir / old).exists() and not crashed.exists()
    assert sorted(p.name for p in removed) == sorted([old, crashed.name])


# ---------------------------------------------------------------------------- two processes


_WORKER = textwrap.dedent(
    """
    import json, os, sys, time
    sys.path.insert(0, sys.argv[1])
    import animlib
    from animlib import cache
    from animlib.cache import cached_render
    run = animlib.open_run(sys.argv[2])
    go = sys.argv[3]
    while not os.path.exists(go):  # start together
        time.sleep(0.005)
    path = cached_render(run, "mp4", lambda d, t: time.sleep(0.02), fps=10)
    print(json.dumps({"path": str(path), "stats": cache.stats()}))
    """
)


def test_two_processes_asking_for_the_same_key_at_once_render_it_once(tmp_path, run, cache_dir):
    go = tmp_path / "go"
    env = {**os.environ, "ANIMLIB_CACHE": str(cache_dir)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, str(REPO), run.url, str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(2)
    ]
    time.sleep(0.2)
    go.touch()
    outs = [p.communicate(timeout=120) for p in procs]
    for proc, (_, err) in zip(procs, outs, strict=True):
        assert proc.returncode == 0, err
    results = [json.loads(out.strip().splitlines()[-1]) for out, _ in outs]
    assert sorted(r["stats"]["renders"] for r in results) == [0, 1]  # the other one waited
    paths = {Path(r["path"]) for r in results}
    assert len(paths) == 1
    (path,) = paths
    assert frame_count(path) == 6
    assert visible(cache_dir) == [path.name] and hidden(cache_dir) == []
    assert cache.cached_render(run, "mp4", fps=10) == path


# ------------------------------------------------------------ render(cache=True) and the CLI


def test_render_with_cache_copies_an_earlier_identical_render(tmp_path, run, cache_dir):
    cache.reset_stats()
    first = animlib.render(run, tmp_path / "a.mp4", cache=True, fps=10)
    started = time.perf_counter()
    second = animlib.render(run, tmp_path / "b.mp4", cache=True, fps=10)
    elapsed = time.perf_counter() - started
    assert elapsed < 1.0, f"{elapsed:.3f} s"  # ~5 ms here (benchmarks/bench_cache.py)
    assert cache.stats()["renders"] == 1 and cache.stats()["copies"] == 2
    assert second.read_bytes() == first.read_bytes()
    animlib.render(run, tmp_path / "c.mp4", fps=10)  # the default: no cache
    assert cache.stats()["renders"] == 1 and cache.stats()["copies"] == 2
    assert visible(cache_dir) == [f"{_key(run)}.mp4"]


def _key(run) -> str:
    return cache.render_key(run, "mp4", RenderOptions(fps=10))


def test_cli_render_uses_the_cache_unless_told_not_to(tmp_path, run, cache_dir, capsys):
    from animlib.cli import main

    cache.reset_stats()
    out = str(tmp_path / "cli.mp4")
    assert main(["render", run.url, "-o", out, "--fps", "10"]) == 0
    assert capsys.readouterr().out.strip() == f"wrote {out}"
    assert main(["render", run.url, "-o", out, "--fps", "10"]) == 0
    assert capsys.readouterr().out.strip() == f"wrote {out} (from the render cache)"
    assert cache.stats()["renders"] == 1 and frame_count(Path(out)) == 6
    Path(out).unlink()
    assert main(["render", run.url, "-o", out, "--fps", "10", "--no-cache"]) == 0
    assert capsys.readouterr().out.strip() == f"wrote {out}"
    assert cache.stats()["renders"] == 1 and cache.stats()["copies"] == 2
    assert frame_count(Path(out)) == 6 and visible(cache_dir) == [f"{_key(run)}.mp4"]


@pytest.mark.parametrize("how", ["a path under a file", "a folder refusing writes"])
def test_a_cache_folder_that_cannot_be_written_renders_without_it(
    tmp_path, run, monkeypatch, capsys, caplog, how
):
    """With ANIMLIB_CACHE read-only (or a path that cannot be made), ``animlib render RUN -o
    OUT`` failed (exit 1) naming an internal ``.lease-`` file, though OUT was writable. The
    cache is an optimisation: the render goes straight to OUT, said once (naming ANIMLIB_CACHE
    and the folder); the dashboard's downloads (``cached_render``) get a file too."""
    import os

    from animlib.cli import main
    from animlib.store import LocalStore

    if how == "a path under a file":
        (tmp_path / "a-file").write_text("")
        folder = tmp_path / "a-file" / "cache"
    else:  # (the tests may run as root, whom a mode does not stop: the store refuses instead)
        folder = tmp_path / "ro-cache"
        folder.mkdir()
        real_open = os.open

        def refusing(path, flags, *a, **kw):
            if str(path).startswith(str(folder)) and flags & os.O_CREAT:
                raise PermissionError(13, "Permission denied", str(path))
            return real_open(path, flags, *a, **kw)

        def no_create(self, path, data):
            raise PermissionError(13, "Permission denied", f"{self.path}/{path}")

        monkeypatch.setattr(os, "open", refusing)
        monkeypatch.setattr(LocalStore, "create_exclusive", no_create)
    monkeypatch.setenv("ANIMLIB_CACHE", str(folder))
    cache.reset_stats()
    out = tmp_path / "out" / "a.mp4"
    with caplog.at_level("WARNING", logger="animlib.cache"):
        assert main(["render", run.url, "-o", str(out)]) == 0
        assert capsys.readouterr().out.strip() == f"wrote {out}"  # (not "from the cache")
        assert frame_count(out) == 6
        assert main(["render", run.url, run.url, "-o", str(tmp_path / "b.gif")]) == 0
        got = cache.cached_render(run, "mp4")
    assert frame_count(got) == 6 and not got.is_relative_to(folder)
    said = [r.getMessage() for r in caplog.records if "cannot be used" in r.getMessage()]
    assert len(said) == 1, said  # once per folder and process
    assert f"the cache folder {folder} (ANIMLIB_CACHE) cannot be used" in said[0]
    assert "working without it" in said[0]
    assert not folder.exists() or not list(folder.iterdir())


# ------------------------------------------------------------- the fast path behind the cache


def _animate_frames(run_or_runs, stride):
    anim = animlib.animate(run_or_runs, stride=stride)
    try:
        frames = []
        for i in range(anim.panels.n_frames):
            anim.panels.update(i)
            anim._fig.canvas.draw()
            frames.append(np.asarray(anim._fig.canvas.buffer_rgba())[..., :3].copy())
        return frames
    finally:
        plt.close(anim._fig)


def _chunked_run(root, name, steps, shape, dtype="float32"):
    rng = np.random.default_rng(steps)
    x0 = rng.random(shape, dtype=np.float32)

    def stored(x):
        return (x * 255).astype(np.uint8) if dtype == "uint8" else x

    with pytest.MonkeyPatch.context() as mp:  # chunks of 512 KiB: 10 steps of 64x64x3 float32
        mp.setattr(animlib.writer, "CHUNK_TARGET_BYTES", 512 * 1024)
        with animlib.RunWriter(
            root, name=name, class_names=["a", "b", "c", "d"], true_label=0, original=stored(x0)
        ) as w:
            for i in range(steps):
                x = np.clip(x0 + rng.normal(0, 0.05, shape).astype(np.float32), 0, 1)
                w.log(image=stored(x), confidences=probs_for(i))
    return animlib.open_run(root / w.run_id)


@pytest.mark.parametrize(
    ("shape", "steps", "stride"),
    [
        ((64, 64, 3), 25, 1),  # 10 steps per stored chunk, read a block at a time
        ((64, 64, 3), 25, 3),  # blocks whose frames straddle chunk edges
        ((64, 64, 3), 24, 5),  # 0, 5, ..., 20 and the last step (23), read with the last block
        ((300, 300, 3), 8, 3),  # 0, 3, 6 and the last step (7), step by step
        ((300, 300, 3), 7, 2),  # one step per chunk, stride >= chunk: step by step
    ],
)
def test_rendered_frames_equal_animate_frames(tmp_path, shape, steps, stride):
    run = _chunked_run(tmp_path, "chunked", steps, shape)
    assert run.images.chunk_len == (1 if shape[0] == 300 else 10)
    expected = _animate_frames(run, stride)
    with FrameRenderer(run, RenderOptions(stride=stride)) as frames:
        got = [frames.frame(i) for i in range(len(frames))]
    shown = sorted({*range(0, steps, stride), steps - 1})
    assert len(got) == len(expected) == len(shown)
    assert all(np.array_equal(a, b) for a, b in zip(expected, got, strict=True))


def test_compare_frames_equal_animate_frames_with_block_reads(tmp_path):
    runs = [
        _chunked_run(tmp_path, "long", 23, (64, 64, 3)),
        _chunked_run(tmp_path, "short", 11, (64, 64, 3), dtype="uint8"),
    ]
    expected = _animate_frames(runs, 2)
    with FrameRenderer(runs, RenderOptions(stride=2)) as frames:
        got = [frames.frame(i) for i in range(len(frames))]
    assert len(got) == len(expected) == 12
    assert all(np.array_equal(a, b) for a, b in zip(expected, got, strict=True))


def test_planned_frame_size_matches_the_figure(tmp_path, run):
    from animlib.figure import figure_size

    other = _chunked_run(tmp_path, "wide", 3, (20, 60, 3))
    for target in (run, other, [run, other]):
        for dpi in (50, 73, 100, 150):
            options = RenderOptions(dpi=dpi)
            with FrameRenderer(target, options) as frames:
                assert figure_size(target, options) == frames.size


def test_an_encoder_that_dies_leaves_no_file_and_says_why(tmp_path):
    writer = movie_writers.get_writer("mp4", extra_args=["-no-such-option"])
    with pytest.raises(RenderError, match="ffmpeg"):
        with writer.saving(tmp_path / "x.mp4", (64, 48), 10, channels=4):
            for _ in range(50):
                writer.grab_frame(np.zeros((48, 64, 4), np.uint8))
    assert list(tmp_path.iterdir()) == []


def test_the_writer_copies_frames_it_is_given(tmp_path):
    """Frames are queued for a background pipe writer: reusing the buffer must be safe."""
    writer = movie_writers.get_writer("mp4")
    buf = np.zeros((48, 64, 4), np.uint8)
    with writer.saving(tmp_path / "x.mp4", (64, 48), 10, channels=4):
        for value in (0, 255, 0, 255):
            buf[...] = value
            writer.grab_frame(buf)
    reader = imageio_ffmpeg.read_frames(str(tmp_path / "x.mp4"))
    next(reader)  # metadata
    means = [np.frombuffer(f, np.uint8).mean() for f in reader]
    assert len(means) == 4 and means[0] < 20 < 235 < means[1] and means[2] < 20 < 235 < means[3]


@pytest.mark.parametrize("dpi", [37, 150, 300])
def test_changing_text_stays_inside_its_screen_area_at_any_dpi(tmp_path, dpi):
    """Step numbers, predictions and values are redrawn alone: they must not spill outside."""
    names = ["a" * 40, "W" * 30, "mmmm", "i", "x (y) %"]
    rng = np.random.default_rng(0)
    with animlib.RunWriter(
        tmp_path, name="long-names", class_names=names, true_label=0, target_label=1
    ) as w:
        for i in range(1200):
            p = rng.dirichlet(np.full(len(names), 0.3)) if i % 7 else np.eye(len(names))[i % 5]
            w.log(image=np.full((8, 8, 3), (i % 256) / 255, np.float32), confidences=p)
    run = animlib.open_run(tmp_path / w.run_id)
    with FrameRenderer(run, RenderOptions(dpi=dpi, stride=97)) as frames:
        for i in [0, 1, 5, 11, 12, 3]:
            assert np.array_equal(frames.frame(i), frames.full_frame(i)), f"frame {i}"


def test_player_strips_are_keyed_as_renders_are(tmp_path, monkeypatch):
    """The player's strip names had their own key rules, without the frames' look: a change
    that draws frames differently kept serving old strips. The key owner is cache.keys."""
    from animlib.cache import keys

    run = animlib.open_run(tmp_path / write_run(tmp_path, "r", steps=3))
    key = keys.strips_key(run)
    assert keys.is_entry(f"{key}-abc-00000-3-2-image.png") and key.startswith("player-")
    monkeypatch.setattr(keys, "LOOK", keys.LOOK + 1)
    assert keys.strips_key(run) != key


def test_a_read_only_output_folder_is_one_clear_error(tmp_path, monkeypatch, run):
    """On a read-only file system the clean-up of the failed copy failed too: a traceback."""
    import errno
    import shutil

    from animlib.cache import renders
    from animlib.errors import StoreError

    renders.cached_render(run, "gif")  # in the cache
    read_only = OSError(errno.EROFS, "Read-only file system")

    def refuse(*args, **kwargs):
        raise read_only

    monkeypatch.setattr(shutil, "copyfile", refuse)
    monkeypatch.setattr(Path, "unlink", refuse)
    with pytest.raises(StoreError, match="cannot write the render .Read-only file system."):
        renders.cached_copy(run, tmp_path / "out" / "x.gif")


def test_a_run_overwritten_within_a_second_is_not_served_its_old_render(tmp_path, monkeypatch):
    """run.json and every zarr.json were the same bytes (times in whole seconds): the render
    cache served the old run's video for the new one."""
    monkeypatch.setenv("ANIMLIB_CACHE", str(tmp_path / "cache"))

    def write(value: float) -> animlib.Run:
        with animlib.RunWriter(tmp_path / "runs", name="r", if_exists="overwrite") as w:
            for _ in range(3):
                w.log(image=np.full((8, 8, 3), value, np.float32))
        return animlib.open_run(tmp_path / "runs" / "r")

    first = write(0.2)
    key = first.fingerprint
    animlib.render(first, tmp_path / "a.gif", cache=True)
    second = write(0.9)
    assert second.fingerprint != key
    animlib.render(second, tmp_path / "b.gif", cache=True)
    animlib.render(second, tmp_path / "c.gif")
    assert (tmp_path / "b.gif").read_bytes() == (tmp_path / "c.gif").read_bytes()
    assert (tmp_path / "b.gif").read_bytes() != (tmp_path / "a.gif").read_bytes()


def test_renders_of_other_animlib_code_are_not_served(tmp_path, monkeypatch, run):
    """A frame-drawing change no one raised LOOK for (the perturbation caption's rewording)
    kept serving videos an older checkout had drawn: __version__ is the same between
    commits. The keys hold a digest of animlib's code, read through its loader: imported from
    a zip it covered no file at all."""
    import zipfile

    from animlib.cache import keys

    key, strips = keys.render_key(run, "mp4", RenderOptions()), keys.strips_key(run)
    assert keys.code_digest() == keys.code_digest.__wrapped__()  # (read once, and stable)
    package = Path(keys.__file__).resolve().parents[1]
    digests = []
    for change in ("", "# drawn another way\n"):
        archive = tmp_path / f"animlib{len(digests)}.zip"
        with zipfile.ZipFile(archive, "w") as z:
            for path in sorted(package.rglob("*.py")):
                text = path.read_text() + (change if path.name == "panels.py" else "")
                z.writestr(path.relative_to(package.parent).as_posix(), text)
        code = "import animlib.cache.keys as k; print(k.__file__, k.code_digest())"
        env = dict(os.environ, PYTHONPATH=str(archive))
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             env=env, cwd=tmp_path, check=True).stdout.split()  # fmt: skip
        assert out[0].startswith(str(archive)), out
        digests.append(out[1])
    assert digests[0] == keys.code_digest() != digests[1]  # (the same code in a zip: the same)
    monkeypatch.setattr(keys, "code_digest", lambda: digests[1])
    assert keys.render_key(run, "mp4", RenderOptions()) != key
    assert keys.strips_key(run) != strips


def test_code_updated_under_a_running_process_gets_no_key_of_the_new_code(tmp_path):
    """A dashboard started before a ``git pull`` of its editable install, rendering for the
    first time after it, read the new files for its digest: its old-looking renders went into
    the cache under the new code's keys, and the updated code served them."""
    from animlib.cache import keys

    package = Path(keys.__file__).resolve().parents[1]
    copy = tmp_path / "checkout"
    shutil.copytree(package, copy / "animlib", ignore=shutil.ignore_patterns("__pycache__"))
    panels = copy / "animlib" / "figure" / "panels.py"
    code = (
        "import sys, animlib, pathlib\n"
        "p = pathlib.Path(sys.argv[1])\n"
        "if len(sys.argv) > 2: p.write_text(p.read_text() + '# drawn another way\\n')\n"
        "import animlib.cache.keys as k; print(k.__file__, k.code_digest())\n"
    )
    env = dict(os.environ, PYTHONPATH=str(copy))

    def digest(*args: str) -> str:
        out = subprocess.run([sys.executable, "-c", code, str(panels), *args], env=env,
                             capture_output=True, text=True, cwd=tmp_path, check=True)  # fmt: skip
        where, value = out.stdout.split()
        assert where.startswith(str(copy)), where
        return value

    before = digest()
    pulled_under_it = digest("pull")  # imported, then the files changed, then the digest
    after = digest()  # a process of the updated code
    assert len({before, pulled_under_it, after}) == 3
