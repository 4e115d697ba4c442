"""The render cache shared through object storage (moto's S3 server on loopback): renders made by
one process served by another, one render per key under concurrency (threads and processes),
leases that expire and are taken over, the LRU bound on S3, ``render(..., cache=True)``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest
from helpers import s3_fixture, write_run

import animlib
from animlib import cache
from animlib.cache import folder as cache_folder
from animlib.cache import keys, leases
from animlib.options import RenderOptions
from animlib.store import open_store

pytest.importorskip("s3fs")
pytest.importorskip("moto.server")

REPO = Path(__file__).resolve().parent.parent
BUCKET = "shared-cache"


s3 = s3_fixture(BUCKET)  # (module-scoped: one moto server per test module)


@pytest.fixture
def shared(s3, tmp_path, monkeypatch, request):
    """A fresh shared cache prefix; this process's local folder is ``tmp/local``."""
    url = f"s3://{BUCKET}/{request.node.name[:40]}-{time.time_ns()}"
    monkeypatch.setenv("ANIMLIB_CACHE", url)
    monkeypatch.setenv("ANIMLIB_CACHE_LOCAL", str(tmp_path / "local"))
    monkeypatch.delenv("ANIMLIB_CACHE_MAX_MB", raising=False)
    monkeypatch.delenv("ANIMLIB_CACHE_LEASE_SECONDS", raising=False)
    cache.reset_stats()
    return url


@pytest.fixture
def run(tmp_path):
    return animlib.open_run(tmp_path / "runs" / write_run(tmp_path / "runs", "alpha", steps=6))


def names(url: str) -> list[str]:
    try:
        return [e.name for e in open_store(url).list()]
    except animlib.StoreError:
        return []


def entries(url: str) -> list[str]:
    return sorted(n for n in names(url) if not n.startswith("."))


def frame_count(path: Path) -> int:
    return imageio_ffmpeg.count_frames_and_secs(str(path))[0]


_WORKER = textwrap.dedent(
    """
    import json, os, sys, time
    sys.path.insert(0, sys.argv[1])
    import animlib
    from animlib import cache
    run = animlib.open_run(sys.argv[2])
    go = sys.argv[3]
    print("ready", flush=True)
    while not os.path.exists(go):  # start together
        time.sleep(0.005)
    delay = float(sys.argv[4])
    path = cache.cached_render(run, "mp4", lambda d, t: time.sleep(delay), fps=10)
    print(json.dumps({"path": str(path), "size": os.path.getsize(path), "stats": cache.stats()}))
    """
)


def _workers(run, tmp_path, n, delay=0.0, env=None):
    go = tmp_path / f"go-{time.time_ns()}"
    procs = []
    for i in range(n):
        proc_env = {
            **os.environ,
            "ANIMLIB_CACHE_LOCAL": str(tmp_path / f"local-{i}"),
            **(env or {}),
        }
        procs.append(
            subprocess.Popen(
                [sys.executable, "-c", _WORKER, str(REPO), run.url, str(go), str(delay)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=proc_env,
            )
        )
    return go, procs


def _start(go: Path, procs) -> None:
    """Start the workers together, once each has imported and opened the run (on a busy
    machine that can take longer than a fixed wait allowed for)."""
    for proc in procs:
        assert proc.stdout.readline().strip() == "ready", proc.communicate(timeout=60)[1]
    go.touch()


def _results(procs):
    out = []
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=180)
        assert proc.returncode == 0, stderr
        out.append(json.loads(stdout.strip().splitlines()[-1]))
    return out


# ---------------------------------------------------------------------- shared between processes


def test_a_second_process_serves_the_render_of_the_first_without_rendering(shared, run, tmp_path):
    go, (first,) = _workers(run, tmp_path, 1)
    _start(go, [first])
    (made,) = _results([first])
    assert made["stats"]["renders"] == 1 and made["stats"]["hits"] == 0
    assert len(entries(shared)) == 1

    go, (second,) = _workers(run, tmp_path, 1, env={"ANIMLIB_CACHE_LOCAL": str(tmp_path / "b")})
    _start(go, [second])
    (served,) = _results([second])
    assert served["stats"]["renders"] == 0, "the second process must not render"
    assert served["stats"]["hits"] == 1 and served["stats"]["downloads"] == 1
    assert Path(served["path"]).parent == tmp_path / "b"  # a local read-through copy
    assert Path(served["path"]).read_bytes() == Path(made["path"]).read_bytes()
    assert frame_count(Path(served["path"])) == 6

    again = cache.cached_render(run, "mp4", fps=10)  # this process: one download, then local
    assert cache.stats()["downloads"] == 1 and cache.stats()["renders"] == 0
    assert cache.cached_render(run, "mp4", fps=10) == again
    assert cache.stats()["downloads"] == 1 and cache.stats()["hits"] == 2


def test_a_damaged_shared_entry_is_rendered_again(shared, run, tmp_path, monkeypatch):
    made = cache.cached_render(run, "mp4", fps=10)
    data = made.read_bytes()
    (name,) = entries(shared)
    open_store(shared).write_atomic(name, data[:1000])  # a copy cut short on the way up
    monkeypatch.setenv("ANIMLIB_CACHE_LOCAL", str(tmp_path / "b"))  # another machine
    again = cache.cached_render(run, "mp4", fps=10)
    assert cache.stats()["renders"] == 2 and again.read_bytes() == data
    assert open_store(shared).read(name) == data, "the torn shared entry must be replaced"


def test_concurrent_processes_render_a_key_once(shared, run, tmp_path):
    go, procs = _workers(run, tmp_path, 3, delay=0.02)  # a render of >= 0.1 s: they overlap
    _start(go, procs)
    results = _results(procs)
    assert sum(r["stats"]["renders"] for r in results) == 1
    assert sum(r["stats"]["waits"] for r in results) >= 1
    assert len({r["size"] for r in results}) == 1
    assert len(entries(shared)) == 1
    assert [n for n in names(shared) if n.startswith((".lease", ".claim"))] == []


@pytest.mark.parametrize("where", ["s3", "local"])
def test_concurrent_threads_render_a_key_once(where, shared, run, tmp_path, monkeypatch):
    if where == "local":
        monkeypatch.setenv("ANIMLIB_CACHE", str(tmp_path / "cache"))
    barrier = threading.Barrier(4)
    paths, errors = [], []

    def one():
        try:
            barrier.wait()
            paths.append(cache.cached_render(run, "mp4", lambda d, t: time.sleep(0.02), fps=10))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=one) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(180)
    assert not errors
    assert len(set(paths)) == 1 and frame_count(paths[0]) == 6
    assert cache.stats()["renders"] == 1 and cache.stats()["hits"] == 3


# ------------------------------------------------------------------------------------- leases

_SLOW = textwrap.dedent(
    """
    import sys, time
    sys.path.insert(0, sys.argv[1])
    import animlib
    from animlib import cache
    run = animlib.open_run(sys.argv[2])

    def progress(done, total):
        if done == 1:
            print("rendering", flush=True)
        time.sleep(0.5)

    cache.cached_render(run, "mp4", progress, fps=10)
    """
)


def test_a_renderer_killed_mid_way_leaves_a_lease_that_is_taken_over(shared, run, tmp_path):
    env = {**os.environ, "ANIMLIB_CACHE_LOCAL": str(tmp_path / "killed")}
    proc = subprocess.Popen(
        [sys.executable, "-c", _SLOW, str(REPO), run.url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout.readline().strip() == "rendering"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(30)
    name = keys.entry_name(keys.render_key([run], "mp4", RenderOptions(fps=10)), "mp4")
    assert keys.sidecar(keys.LEASE, name) in names(shared) and entries(shared) == []

    started = time.monotonic()
    path = cache.cached_render(run, "mp4", fps=10)  # its holder is a dead process of this host
    assert time.monotonic() - started < 30
    assert cache.stats()["takeovers"] == 1 and cache.stats()["renders"] == 1
    assert frame_count(path) == 6 and entries(shared) == [name]
    assert [n for n in names(shared) if n.startswith((".lease", ".claim"))] == []


def _foreign_lease(url: str, name: str, beat: float) -> None:
    holder = {"token": "f" * 16, "host": "another-machine", "pid": 1, "beat": beat}
    open_store(url).write_atomic(keys.sidecar(keys.LEASE, name), json.dumps(holder).encode())


def test_a_silent_lease_of_another_machine_expires_after_its_ttl(shared, run, monkeypatch):
    monkeypatch.setenv("ANIMLIB_CACHE_LEASE_SECONDS", "1.5")
    name = keys.entry_name(keys.render_key([run], "mp4", RenderOptions()), "mp4")
    _foreign_lease(shared, name, time.time())
    started = time.monotonic()
    cache.cached_render(run, "mp4")
    waited = time.monotonic() - started
    assert 1.5 <= waited < 30
    assert cache.stats()["takeovers"] == 1 and cache.stats()["renders"] == 1

    monkeypatch.setenv("ANIMLIB_CACHE_LEASE_SECONDS", "20")  # (a render on a busy machine: < 20 s)
    other = keys.entry_name(keys.render_key([run], "mp4", RenderOptions(fps=3)), "mp4")
    _foreign_lease(shared, other, time.time() - 3600)  # its heartbeat stopped an hour ago
    started = time.monotonic()
    cache.cached_render(run, "mp4", fps=3)
    assert time.monotonic() - started < 20  # no need to watch it for a ttl
    assert cache.stats()["takeovers"] == 2
    assert [n for n in names(shared) if n.startswith((".lease", ".claim"))] == []


def test_a_live_lease_is_waited_for_and_its_entry_served(shared, run, tmp_path, monkeypatch):
    """Another machine renders (its lease beats, with progress); this process waits, shows that
    progress, and serves what the other one published: no render, no takeover."""
    monkeypatch.setenv("ANIMLIB_CACHE_LEASE_SECONDS", "2")  # (a beat late on a busy machine)
    name = keys.entry_name(keys.render_key([run], "mp4", RenderOptions()), "mp4")
    store = open_store(shared)
    made = tmp_path / "theirs.mp4"
    animlib.render(run, made)

    lease = leases.Lease(store, keys.sidecar(keys.LEASE, name), ttl=2)
    assert store.create_exclusive(lease.path, lease.payload())

    def other_machine():
        lease.start()  # beats every 0.5 s
        for done in range(1, 7):
            lease.report(done, 6)
            time.sleep(0.5)  # 3 s: longer than the ttl, alive all along
        store.upload(made, name)
        lease.release()

    thread = threading.Thread(target=other_machine)
    thread.start()
    seen = []
    path = cache.cached_render(run, "mp4", lambda d, t: seen.append((d, t)))
    thread.join(30)
    assert path.read_bytes() == made.read_bytes()
    assert cache.stats()["renders"] == 0 and cache.stats()["takeovers"] == 0
    assert cache.stats()["waits"] == 1 and seen and seen[-1][1] == 6


def test_exclusive_create_is_atomic_on_s3(shared):
    store = open_store(shared)
    wins = []
    barrier = threading.Barrier(6)

    def one(i):
        barrier.wait()
        if store.create_exclusive("x", str(i).encode()):
            wins.append(i)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(wins) == 1 and store.read("x") == str(wins[0]).encode()


# ---------------------------------------------------------------------------------------- LRU


def test_the_size_bound_holds_on_s3_least_recently_used_first(shared, run, tmp_path, monkeypatch):
    monkeypatch.setattr(cache_folder, "TOUCH_SECONDS", 0.0)  # record every use
    a = cache.cached_render(run, "mp4", fps=10)
    time.sleep(1.1)  # object times have a resolution of a second
    b = cache.cached_render(run, "mp4", fps=11)
    time.sleep(1.1)
    monkeypatch.setenv("ANIMLIB_CACHE_LOCAL", str(tmp_path / "elsewhere"))
    assert cache.cached_render(run, "mp4", fps=10).read_bytes() == a.read_bytes()  # a used
    assert keys.sidecar(keys.USED, a.name) in names(shared)
    time.sleep(1.1)

    size = max(a.stat().st_size, b.stat().st_size)
    monkeypatch.setenv("ANIMLIB_CACHE_MAX_MB", str(size * 2.5 / 2**20))
    c = cache.cached_render(run, "mp4", fps=12)
    assert entries(shared) == sorted([a.name, c.name])  # b was the least recently used
    assert keys.sidecar(keys.USED, b.name) not in names(shared)

    monkeypatch.setenv("ANIMLIB_CACHE_MAX_MB", "0.0001")  # the render just made stays
    d = cache.cached_render(run, "mp4", fps=13)
    assert entries(shared) == [d.name]
    assert [n for n in names(shared) if n.startswith(".")] == []


def test_the_local_copies_of_a_shared_cache_are_bounded(shared, run, tmp_path, monkeypatch):
    monkeypatch.setenv("ANIMLIB_CACHE_LOCAL_MB", "0.0001")
    first = cache.cached_render(run, "mp4", fps=10)
    second = cache.cached_render(run, "mp4", fps=11)
    assert second.exists() and not first.exists()  # only the local copy went
    assert entries(shared) == sorted([first.name, second.name])
    assert cache.cached_render(run, "mp4", fps=10).exists()  # downloaded again
    assert cache.stats()["downloads"] == 1 and cache.stats()["renders"] == 2


def test_an_mp4_render_with_a_shared_cache_and_an_unwritable_local_folder(
    shared, run, tmp_path, monkeypatch
):
    """With ANIMLIB_CACHE in a bucket and ANIMLIB_CACHE_LOCAL read-only, MP4 renders failed
    with ffmpeg's "Error opening output …/.KEY.mp4.….tmp.mp4: Read-only file system" (ffmpeg
    opens its output itself: a RenderError, not the OSError the probe was asked about). The
    render goes straight to its output; an encoder error the folder is not to blame for stays."""
    import importlib

    from animlib.cli import main
    from animlib.errors import RenderError

    rendering = importlib.import_module("animlib.rendering")
    local = tmp_path / "local"
    local.mkdir()
    real_open, real_render = os.open, rendering.render

    def refusing(path, flags, *a, **kw):  # (a read-only folder: root ignores modes)
        if str(path).startswith(str(local)) and flags & os.O_CREAT:
            raise OSError(30, "Read-only file system", str(path))
        return real_open(path, flags, *a, **kw)

    def ffmpeg_like(group, path, **kw):  # ffmpeg, a process of its own, meets the folder too
        if str(path).startswith(str(local)):
            raise RenderError(f"ffmpeg (libx264) stopped accepting frames: Error opening "
                              f"output {path}: Read-only file system", field="encoder")  # fmt: skip
        return real_render(group, path, **kw)

    monkeypatch.setattr(os, "open", refusing)
    monkeypatch.setattr(rendering, "render", ffmpeg_like)
    out = tmp_path / "out.mp4"
    assert main(["render", run.url, str(out)]) == 0
    assert frame_count(out) == 6
    got = cache.cached_render(run, "mp4")
    assert frame_count(got) == 6 and not got.is_relative_to(local)
    assert animlib.render(run, tmp_path / "py.mp4", cache=True) == tmp_path / "py.mp4"

    def broken(group, path, **kw):  # a real encoder failure: not blamed on the folder
        raise RenderError(f"ffmpeg (libx264) exited with status 1: bad frame for {path}")

    monkeypatch.setattr(rendering, "render", broken)
    with pytest.raises(RenderError, match="bad frame"):
        cache.cached_render(run, "mp4", options={"fps": 3})
    monkeypatch.setattr(os, "open", real_open)  # the folder writable: the encoder's error
    with pytest.raises(RenderError, match="bad frame"):
        cache.cached_render(run, "mp4", options={"fps": 4})


def test_a_failing_shared_cache_falls_back_to_the_local_folder(run, tmp_path, monkeypatch):
    monkeypatch.setenv("ANIMLIB_CACHE", "s3://no-such-bucket-here/x")
    monkeypatch.setenv("ANIMLIB_CACHE_LOCAL", str(tmp_path / "local"))
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    import fsspec

    fsspec.filesystem("s3").clear_instance_cache()
    try:
        path = cache.cached_render(run, "mp4")
    finally:
        fsspec.filesystem("s3").clear_instance_cache()
    assert path.parent == tmp_path / "local" and frame_count(path) == 6


def test_a_cache_bucket_that_does_not_exist_falls_back_to_the_local_folder(
    s3, run, tmp_path, monkeypatch, caplog
):
    """A typo in ``ANIMLIB_CACHE`` (or a bucket deleted) failed every cached render with
    "``.lease-….mp4``: no such file"; the render goes on in the local folder, logged naming
    the missing bucket (the log said "(.lease-3a4c….mp4: no such file in s3://…)", pointing at
    an object of animlib's own, where a results folder says the bucket does not exist)."""
    monkeypatch.setenv("ANIMLIB_CACHE", "s3://no-such-cache-bucket/renders")
    monkeypatch.setenv("ANIMLIB_CACHE_LOCAL", str(tmp_path / "local"))
    with caplog.at_level("WARNING", logger="animlib"):
        path = cache.cached_render(run, "mp4")
    assert path.parent == tmp_path / "local" and frame_count(path) == 6
    assert "s3://no-such-cache-bucket/renders" in caplog.text and "local folder only" in caplog.text
    assert "bucket 'no-such-cache-bucket' does not exist" in caplog.text, caplog.text
    assert "no such file" not in caplog.text and ".lease-" not in caplog.text, caplog.text


# ------------------------------------------------------------------- render(..., cache=True)


def test_render_with_cache_copies_an_identical_render(shared, run, tmp_path):
    out = animlib.render(run, tmp_path / "one.mp4", cache=True, fps=10)
    assert cache.stats()["renders"] == 1 and frame_count(out) == 6
    started = time.perf_counter()
    again = animlib.render(run, tmp_path / "two.mp4", cache=True, fps=10)
    elapsed = time.perf_counter() - started
    assert elapsed < 1.0, f"a cached render took {elapsed:.3f} s"  # ~10 ms here; generous
    assert cache.stats()["renders"] == 1 and cache.stats()["copies"] == 2
    assert again.read_bytes() == out.read_bytes()
    pair = animlib.render_compare([run, run], tmp_path / "pair.gif", cache=True, fps=10)
    assert pair.read_bytes()[:4] == b"GIF8" and cache.stats()["renders"] == 2


# ------------------------------------------------------------------------------------ live runs


def test_a_live_render_on_s3_is_appended_to_from_another_machine(shared, tmp_path, monkeypatch):
    from test_cache_live import LiveRun, frames_of

    from animlib.cache import live

    monkeypatch.setattr(live, "LIVE_REFRESH_SECONDS", 0.0)
    writer = LiveRun(tmp_path / "runs")
    first = cache.cached_render(writer.log(10), "mp4")
    assert entries(shared) == [first.name]

    monkeypatch.setenv("ANIMLIB_CACHE_LOCAL", str(tmp_path / "b"))  # another machine
    run = writer.log(5)
    second = cache.cached_render(run, "mp4")
    assert second.parent == tmp_path / "b" and len(frames_of(second)) == 15
    assert cache.stats()["downloads"] == 1 and cache.stats()["appends"] == 1
    assert entries(shared) == [first.name]  # replaced in place
    assert keys.sidecar(keys.LIVE, first.name) in names(shared)

    monkeypatch.setenv("ANIMLIB_CACHE_LOCAL", str(tmp_path / "local"))  # back: a stale copy
    again = cache.cached_render(run, "mp4")
    assert again == first and again.read_bytes() == second.read_bytes()
    assert cache.stats()["downloads"] == 2 and cache.stats()["appends"] == 1


def test_a_shared_cache_inside_the_results_prefix_is_refused(s3, tmp_path, monkeypatch):
    """ANIMLIB_CACHE=s3://b/results/render-cache beside runs in s3://b/results: the videos
    were written there and the folder listed a broken run "render-cache"."""
    results = f"s3://{BUCKET}/results-{time.time_ns()}"
    with animlib.RunWriter(results, name="r1") as w:
        for i in range(3):
            w.log(image=np.full((8, 8, 3), i / 3, np.float32))
    monkeypatch.setenv("ANIMLIB_CACHE", f"{results}/render-cache")
    monkeypatch.setenv("ANIMLIB_CACHE_LOCAL", str(tmp_path / "local"))
    with pytest.raises(animlib.StoreError, match="inside the results folder") as err:
        cache.cached_render(animlib.open_run(f"{results}/r1"), "mp4")
    assert err.value.field == "ANIMLIB_CACHE"
    assert [(i.id, i.ok) for i in animlib.list_runs(results)] == [("r1", True)]
