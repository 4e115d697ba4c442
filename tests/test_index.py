"""The run index: incremental refresh, broken runs, persistence, and queries equal to pandas."""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from helpers import write_run
from pandas_runs import filter_runs, runs_frame, same_source

import animlib
from animlib import runs_table
from animlib.errors import Code, RunFormatError
from animlib.index import Query, RunIndex, open_index
from animlib.index import files as index_files
from animlib.index.query import PAGE_COLUMNS, SORTABLE
from animlib.index.rows import SCHEMA
from animlib.store import LocalStore
from animlib.store import local as local_store


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv("ANIMLIB_CACHE", str(folder))
    # files written just now would be read again on every refresh for 2 s (see the test of
    # in-place rewrites): the read counts below are about settled files
    monkeypatch.setattr(local_store, "RACY_S", 0.0)
    return folder


def count_reads(monkeypatch) -> list[str]:
    """Every run.json read through LocalStore.read_many from now on (paths relative to the
    root; the writer locks of running runs, also read in one batch, are not counted)."""
    seen: list[str] = []
    original = LocalStore.read_many

    def spy(self, paths):
        paths = list(paths)
        seen.extend(p for p in paths if not p.endswith("/.writer.lock"))
        return original(self, paths)

    monkeypatch.setattr(LocalStore, "read_many", spy)
    return seen


def rewrite(run_dir: Path, **changes) -> None:
    """Replace run.json atomically (as a writer does) with some fields changed."""
    meta = json.loads((run_dir / "run.json").read_text())
    meta.update(changes)
    tmp = run_dir / ".tmp-run.json"
    tmp.write_text(json.dumps(meta, indent=2))
    os.replace(tmp, run_dir / "run.json")


def test_refresh_reads_only_new_or_changed_run_json(runs_dir, monkeypatch):
    reads = count_reads(monkeypatch)
    first = animlib.list_runs(runs_dir)
    assert sorted(reads) == ["alpha/run.json", "beta/run.json", "edit/run.json"]
    reads.clear()
    assert [i.id for i in animlib.list_runs(runs_dir)] == [i.id for i in first]
    assert reads == []  # nothing changed: nothing read
    write_run(runs_dir, "gamma", steps=3)
    rewrite(runs_dir / "beta", tags=["retagged"])
    infos = {i.id: i for i in animlib.list_runs(runs_dir)}
    assert sorted(reads) == ["beta/run.json", "gamma/run.json"]
    assert infos["beta"].get("tags") == ["retagged"] and infos["gamma"].ok
    assert open_index(runs_dir).last.read == 2


def test_runs_are_ordered_by_the_instant_they_were_created_whatever_its_offset(runs_dir):
    """The default newest-first order compared ``created`` as text: a run.json written with
    another offset (another tool, a hand edit) sorted by its clock reading, not its instant."""
    rewrite(runs_dir / "alpha", created="2026-12-06T16:00:00+00:00")
    rewrite(runs_dir / "beta", created="2026-12-06T21:00:00+05:30")  # 15:30 UTC: the oldest
    rewrite(runs_dir / "edit", created="2026-12-06T12:00:01-03:30")  # 15:30 UTC, 1 s later
    want = ["alpha", "edit", "beta"]
    assert [i.id for i in animlib.list_runs(runs_dir)] == want
    assert open_index(runs_dir).query(Query()).rows["id"].to_pylist() == want
    assert [i.id for i in animlib.list_runs(runs_dir)] == want  # (as kept, from the file)


def test_removed_runs_vanish(runs_dir, monkeypatch):
    animlib.list_runs(runs_dir)
    reads = count_reads(monkeypatch)
    shutil.rmtree(runs_dir / "beta")
    infos = animlib.list_runs(runs_dir)
    assert [i.id for i in infos if i.id == "beta"] == [] and len(infos) == 2
    assert reads == [] and open_index(runs_dir).last.removed == 1
    assert "beta" not in open_index(runs_dir).table["id"].to_pylist()


def test_broken_run_is_indexed_with_its_reason_and_read_again_when_it_changes(
    runs_dir, monkeypatch
):
    (runs_dir / "bad").mkdir()
    (runs_dir / "bad" / "run.json").write_text('{"format_version": 1, "name": ')
    rewrite(runs_dir / "beta", status="paused")
    (runs_dir / "empty-folder").mkdir()
    infos = {i.id: i for i in animlib.list_runs(runs_dir)}
    assert infos["bad"].code == Code.CORRUPT and "not valid JSON" in infos["bad"].error
    assert infos["beta"].field == "status" and infos["beta"].code == Code.INVALID
    assert infos["empty-folder"].code == Code.MISSING and "empty" in infos["empty-folder"].error
    reads = count_reads(monkeypatch)
    animlib.list_runs(runs_dir)
    assert reads == []  # a broken run is not read again while it stays as it is
    rewrite(runs_dir / "beta", status="finished")
    (runs_dir / "bad" / "run.json").write_text("[]")
    infos = {i.id: i for i in animlib.list_runs(runs_dir)}
    assert sorted(reads) == ["bad/run.json", "beta/run.json"]
    assert infos["beta"].ok and "JSON object" in infos["bad"].error


def test_in_place_rewrite_of_the_same_size_is_seen(runs_dir, monkeypatch):
    monkeypatch.setattr(local_store, "RACY_S", 2.0)
    path = runs_dir / "alpha" / "run.json"
    meta = json.loads(path.read_text())
    animlib.list_runs(runs_dir)
    for attack in ("AAAA", "BBBB"):  # same size, same inode, within one mtime tick
        path.write_text(json.dumps(dict(meta, attack=attack), indent=2))
        infos = {i.id: i for i in animlib.list_runs(runs_dir)}
        assert infos["alpha"].get("attack") == attack


def test_a_run_json_dated_in_the_future_is_read_once(runs_dir, monkeypatch):
    """A run.json whose mtime is ahead of this clock (synced by ``rsync -a`` or ``cp -p`` from
    a machine whose clock is ahead) counted as just changed at every scan: read again at every
    refresh and 2-s poll, each a new index generation (the pages reran), until the clock
    caught up. What counts is when it changed here (its ctime)."""
    path = runs_dir / "alpha" / "run.json"
    ahead = time.time() + 3600
    os.utime(path, (ahead, ahead))
    monkeypatch.setattr(local_store, "RACY_S", 0.5)
    time.sleep(0.6)  # its ctime (the utime above) settles
    index = RunIndex(runs_dir)
    index.refresh()
    reads = count_reads(monkeypatch)
    generation = index.generation
    for _ in range(3):
        index.refresh()
        index.refresh_changes()
    assert reads == [] and index.generation == generation
    assert index.version("alpha") == index.version("alpha", stable=True)


def test_in_place_edit_keeping_size_and_mtime_is_seen(runs_dir):
    """A hand edit of run.json in place that keeps its size and sets its mtime back (as
    ``cp -p``, ``rsync -t`` or ``tar`` do) is seen: its ctime is in the version tag (the
    listing kept the old attack until the next mtime change, while open_run read the new)."""
    path = runs_dir / "alpha" / "run.json"
    before = path.stat()
    text = path.read_text()
    assert {i.id: i for i in animlib.list_runs(runs_dir)}["alpha"].get("attack") == "PGD"
    time.sleep(0.01)  # (a later ctime tick)
    with open(path, "r+") as file:  # same inode, same size
        file.write(text.replace('"attack": "PGD"', '"attack": "XYZ"'))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert path.stat().st_mtime_ns == before.st_mtime_ns and path.stat().st_size == before.st_size
    assert animlib.open_run(runs_dir / "alpha").meta["attack"] == "XYZ"
    infos = {i.id: i for i in animlib.list_runs(runs_dir)}
    assert infos["alpha"].get("attack") == "XYZ"


def test_index_lives_in_the_cache_folder_and_is_reused(runs_dir, cache, monkeypatch):
    before = sorted(p for p in runs_dir.rglob("*"))
    animlib.list_runs(runs_dir)
    path = Path(open_index(runs_dir).path)
    assert path.is_file() and cache in path.parents
    assert sorted(p for p in runs_dir.rglob("*")) == before  # nothing written there
    # another process (a new index object on the same file) reads no run.json
    reads = count_reads(monkeypatch)
    other = RunIndex(runs_dir)
    assert other.refresh().read == 0 and reads == []
    assert [i.id for i in other.infos()] == [i.id for i in animlib.list_runs(runs_dir)]
    assert [i.meta for i in other.infos()] == [i.meta for i in animlib.list_runs(runs_dir)]


def test_a_short_process_saves_what_it_read(runs_dir):
    """Each ``animlib ls`` is a fresh process: the index file it loaded must not hold back its
    save, or every later process reads the same changed runs again."""
    code = (  # (files written just now count as settled, as a minute later: not read again)
        "import sys, animlib; from animlib.index import open_index; "
        "import animlib.store.local as L; L.RACY_S = 0.0; "
        "animlib.list_runs(sys.argv[1]); print(open_index(sys.argv[1]).last.read)"
    )

    def reads_in_a_new_process() -> int:
        done = subprocess.run(
            [sys.executable, "-c", code, str(runs_dir)], capture_output=True, text=True, check=True
        )
        return int(done.stdout.split()[-1])

    assert reads_in_a_new_process() == 3
    rewrite(runs_dir / "beta", tags=["changed"])
    assert reads_in_a_new_process() == 1
    assert reads_in_a_new_process() == 0  # the process before saved what it read
    assert "changed" in animlib.open_run(runs_dir / "beta").meta["tags"]


def test_damaged_or_foreign_index_file_is_rebuilt(runs_dir, tmp_path):
    animlib.list_runs(runs_dir)
    path = Path(open_index(runs_dir).path)
    path.write_bytes(b"PAR1 not really")
    assert RunIndex(runs_dir).refresh().read == 3
    other = tmp_path / "other"
    shutil.copytree(runs_dir, other)
    shutil.copy(path, index_files.index_path(str(other)))  # written for another folder
    RunIndex(runs_dir).flush()
    assert RunIndex(other).refresh().read == 3


def test_a_flipped_bit_in_the_index_file_never_changes_what_is_listed(runs_dir, monkeypatch):
    """A damaged page decoded to other metadata ("created" no time, keys renamed) for runs
    whose run.json was untouched, until they changed: pages now carry checksums."""
    truth = [(i.id, i.meta) for i in animlib.list_runs(runs_dir)]
    path = Path(open_index(runs_dir).path)
    saved = path.read_bytes()
    monkeypatch.setattr(index_files.log, "warning", lambda *a, **k: None)
    for at in range(8, len(saved) - 8, max(1, len(saved) // 60)):  # (the footer too)
        damaged = bytearray(saved)
        damaged[at] ^= 0x10
        path.write_bytes(bytes(damaged))
        index = RunIndex(runs_dir)
        index.refresh()
        assert [(i.id, i.meta) for i in index.infos()] == truth, f"byte {at} of {len(saved)}"


def test_an_index_file_of_an_older_schema_is_rebuilt(runs_dir):
    """An index saved by an older animlib (schema 1: no experiment column) is read again from
    the run.json files, not cast or trusted."""
    import pyarrow.parquet as pq

    animlib.list_runs(runs_dir)
    path = Path(open_index(runs_dir).path)
    assert RunIndex(runs_dir).refresh().read == 0  # the saved index is used
    table = pq.read_table(path)
    meta = {**table.schema.metadata, b"animlib.index_version": b"1"}
    pq.write_table(table.drop_columns(["experiment"]).replace_schema_metadata(meta), path)
    assert RunIndex(runs_dir).refresh().read == 3


def test_two_indexes_on_one_file_save_whole_files(runs_dir):
    a, b = RunIndex(runs_dir), RunIndex(runs_dir)
    a.refresh()
    a.flush()
    write_run(runs_dir, "gamma", steps=2)
    b.refresh()
    b.flush()
    a.refresh()
    a.flush()
    fresh = RunIndex(runs_dir)
    assert fresh.refresh().read == 0
    assert sorted(fresh.table["id"].to_pylist()) == ["alpha", "beta", "edit", "gamma"]
    leftovers = [p for p in Path(a.path).parent.iterdir() if p.name.startswith(".tmp")]
    assert leftovers == []


def test_unwritable_cache_keeps_the_index_in_memory(runs_dir, tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("ANIMLIB_CACHE", str(blocker))
    assert len(animlib.list_runs(runs_dir)) == 3


def test_missing_folder_is_an_error(tmp_path):
    with pytest.raises(RunFormatError, match="does not exist") as err:
        animlib.list_runs(tmp_path / "nope")
    assert err.value.code == Code.NOT_FOUND


# -- queries equal a pandas reference -------------------------------------------------------------
ATTACKS = ["FGSM", "PGD", "CW", "Square", ""]
MODELS = ["resnet18", "vit", "mlp"]


@pytest.fixture(scope="module")
def varied(tmp_path_factory):
    """A few hundred runs with varied run.json (one real run cloned), some broken or stale."""
    root = tmp_path_factory.mktemp("varied")
    template = write_run(root, "template", steps=4)
    base = json.loads((root / template / "run.json").read_text())
    rng = random.Random(7)
    for i in range(300):
        success = rng.choice([True, False, None])
        meta = dict(
            base,
            name=f"{rng.choice(['pgd', 'fgsm', 'cw'])}-{rng.choice(['x', 'ab', 'q'])}-{i}",
            attack=rng.choice(ATTACKS) or None,
            model=rng.choice(MODELS),
            status=rng.choice(["finished", "finished", "failed", "running"]),
            created=f"2025-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}T10:00:00+00:00",
            updated=rng.choice(["2025-01-01T00:00:00+00:00", "2099-01-01T00:00:00+00:00"]),
            steps=rng.randint(1, 50),
            tags=rng.sample(["a", "bb", "source:img1", "source:img2", "z"], rng.randint(0, 3)),
            original_sha1=rng.choice(["0123456789abcdef", "fedcba9876543210", None]),
            summary=dict(
                success=success,
                flip_step=rng.randint(0, 9) if success else None,
                final_true_conf=rng.choice([None, round(rng.random(), 3), 0.5]),
                linf=rng.choice([None, round(rng.random(), 2)]),
                l2=round(rng.random() * 3, 1),
            ),
        )
        folder = root / f"run-{i:03d}"
        folder.mkdir()
        text = json.dumps(meta)
        (folder / "run.json").write_text(text[:40] if i % 50 == 7 else text)
    return root


QUERIES = [
    Query(),
    Query(attacks=("PGD", "CW")),
    Query(models=("vit",), statuses=("stale",)),
    Query(statuses=("running", "failed")),
    Query(success=("succeeded",)),
    Query(success=("failed", "n/a")),
    Query(text="PGD ab"),
    Query(text="img2"),
    Query(text="stale"),
    Query(text="run-01"),
    Query(text="nothing-like-this"),
    Query(attacks=("",), text="q"),
]


def reference(frame: pd.DataFrame, q: Query) -> list[str]:
    """What the pandas implementation of the runs page showed for ``q``."""
    shown = filter_runs(
        frame,
        attacks=q.attacks,
        models=q.models,
        statuses=q.statuses,
        success=q.success,
        text=q.text,
    )
    return sorted_page(shown, q)


def sorted_page(shown: pd.DataFrame, q: Query) -> list[str]:
    """The page ``q`` of the filtered frame ``shown``, sorted as ``q`` says."""
    if q.sort:
        column = shown[q.sort]
        by = [q.sort]
        texts = column.dtype == object or pd.api.types.is_string_dtype(column)
        if texts and column.map(lambda v: v is None or isinstance(v, str)).all():  # any case
            shown = shown.assign(_folded=shown[q.sort].str.lower())
            by = ["_folded", q.sort]
        shown = shown.sort_values(by, ascending=not q.descending, na_position="last", kind="stable")
    stop = None if q.limit is None else q.offset + q.limit
    return shown["id"].tolist()[q.offset : stop]


@pytest.mark.parametrize("q", QUERIES, ids=repr)
def test_query_equals_pandas(varied, q):
    infos = animlib.list_runs(varied)
    frame = runs_frame(infos)
    shown = frame[frame["id"].isin(reference(frame, q))]
    index = open_index(varied)
    for sort in ("", "final_true_conf", "attack", "status", "created", "success"):
        for descending in (False, True) if sort else (False,):
            for offset, limit in ((0, None), (0, 25), (40, 25), (10_000, 5)):
                page = Query(**{**q.__dict__, "sort": sort, "descending": descending})
                page = Query(**{**page.__dict__, "offset": offset, "limit": limit})
                got = index.query(page)
                assert got.rows["id"].to_pylist() == sorted_page(shown, page), page
                assert got.matched == len(shown)
    assert got.counts.total == len(frame)
    assert got.counts.broken == sum(not i.ok for i in infos)


def test_page_rows_equal_the_pandas_frame(varied):
    frame = runs_frame(animlib.list_runs(varied)).set_index("id")
    got = runs_table.page_frame(open_index(varied).query(Query(limit=60)).rows).set_index("id")
    expected = frame.loc[got.index, runs_table.COLUMNS[1:]]
    got, expected = got[runs_table.COLUMNS[1:]].copy(), expected.copy()
    for both in (got, expected):  # (pandas 2.1 compares times of two units as their integers)
        both["created"] = both["created"].astype("datetime64[ns, UTC]")
    pd.testing.assert_frame_equal(got, expected, check_dtype=False)


def test_every_sortable_column_sorts(varied):
    index = open_index(varied)
    index.refresh()
    frame = runs_frame(index.infos())
    for column in SORTABLE:
        q = Query(sort=column, descending=True, limit=30)
        assert index.query(q).rows["id"].to_pylist() == reference(frame, q), column
    with pytest.raises(ValueError, match="cannot sort"):
        index.query(Query(sort="meta"))


def test_facets_and_same_source(varied):
    index = open_index(varied)
    index.refresh()
    infos = index.infos()
    frame = runs_frame(infos)
    assert index.facets() == {
        "attack": sorted(frame["attack"].unique()),
        "model": sorted(frame["model"].unique()),
        "experiment": [],  # no BatchWriter experiment among these runs
        "params": [],  # nor any params
    }
    originals = {i.id: f"sha1:{i.get('original_sha1')}" for i in infos if i.get("original_sha1")}
    ids = frame["id"].tolist()
    for some in (ids[:5], ids[40:41], ids[::37]):
        assert index.same_source(some) == same_source(frame, some, originals)


def test_same_source_joins_a_named_image_and_its_unnamed_pixels(tmp_path):
    """A run named by its source and a run of the same pixels without a name are one group,
    whichever is chosen; a run of other pixels under the same name joins the named one."""

    def clone(name: str, tags: list[str], sha: str) -> None:
        folder = tmp_path / name
        shutil.copytree(tmp_path / "template", folder)
        rewrite(folder, name=name, tags=tags, original_sha1=sha)

    write_run(tmp_path, "template", steps=2)
    clone("named", ["source:cat-7"], "aaaaaaaaaaaaaaaa")
    clone("unnamed", [], "aaaaaaaaaaaaaaaa")
    clone("named-other-pixels", ["source:cat-7"], "bbbbbbbbbbbbbbbb")
    clone("elsewhere", ["source:dog-1"], "cccccccccccccccc")
    clone("z-alias", ["source:kitten"], "aaaaaaaaaaaaaaaa")
    shutil.rmtree(tmp_path / "template")
    index = open_index(tmp_path)
    index.refresh()
    cat = ["named", "named-other-pixels", "unnamed", "z-alias"]
    assert index.same_source(["named"]) == {"cat-7": cat}
    pixels = ["named", "unnamed", "z-alias"]  # named after the first named run of its pixels
    assert index.same_source(["unnamed"]) == {"cat-7": pixels}
    # two chosen runs whose groups are the same give it once
    assert index.same_source(["z-alias", "unnamed"]) == {"cat-7": pixels}
    # a hash keeps its own name where the name it would get is taken by another group
    assert index.same_source(["unnamed", "named"]) == {
        "cat-7": cat,
        "sha1:aaaaaaaaaaaaaaaa": pixels,
    }
    assert index.same_source(["elsewhere", "nothing-such"]) == {"dog-1": ["elsewhere"]}


def test_background_refresh(runs_dir, tmp_path):
    index = RunIndex(runs_dir)
    index.refresh()
    generation = index.generation
    write_run(runs_dir, "gamma", steps=2)
    index.refresh_soon(max_age=3600)  # the last refresh is recent enough: nothing starts
    assert index._worker is None
    index.refresh_soon(max_age=0)
    index._worker.join(30)
    assert "gamma" in index.table["id"].to_pylist() and index.generation > generation
    moved = tmp_path / "moved"
    runs_dir.rename(moved)
    index.refresh_soon(max_age=0)
    index._worker.join(30)
    assert isinstance(index.failed, RunFormatError)
    assert index.table.num_rows == 4  # readers keep the rows they had


def test_polls_and_pages_never_wait_for_a_running_refresh(runs_dir, monkeypatch):
    """While a slow full refresh holds the index, refresh_soon and refresh_changes return at
    once (the page and its 2-s poll go on with the rows they have); afterwards they work."""
    import threading

    index = RunIndex(runs_dir)
    index.refresh()
    started, release = threading.Event(), threading.Event()
    real = index.store.member_versions

    def slow(*args, **kwargs):
        if kwargs.get("only") is None:  # the full listing
            started.set()
            release.wait(30)
        return real(*args, **kwargs)

    monkeypatch.setattr(index.store, "member_versions", slow)
    worker = threading.Thread(target=index.refresh)
    worker.start()
    assert started.wait(30)
    t = time.monotonic()
    index.refresh_soon(max_age=0)
    done = index.refresh_changes()
    # (the slow scan blocks for 30 s: anything under 10 s did not wait for it)
    assert time.monotonic() - t < 10 and done.cached and index._worker is None
    release.set()
    worker.join(30)
    write_run(runs_dir, "late", steps=2)
    assert not index.refresh_changes().cached
    assert "late" in index.table["id"].to_pylist()


def test_a_run_added_during_a_full_scan_is_in_the_index_when_it_ends(runs_dir, monkeypatch):
    """Polls skip while a full refresh runs, so the refresh itself reads the runs added while it
    listed the folder (a slow scan of 100,000 runs must not delay a new run by a poll)."""
    index = RunIndex(runs_dir)
    index.refresh()
    real = index.store.member_versions

    def add_one_meanwhile(*args, **kwargs):
        listing = real(*args, **kwargs)
        if kwargs.get("only") is None and "during" not in listing:
            write_run(runs_dir, "during", steps=2)  # after the listing was taken
        return listing

    monkeypatch.setattr(index.store, "member_versions", add_one_meanwhile)
    generation = index.generation
    index.refresh()
    assert "during" in index.table["id"].to_pylist() and index.generation > generation


def test_a_new_server_shows_the_saved_rows_while_its_first_refresh_runs(runs_dir, monkeypatch):
    """A big folder whose index an earlier process saved: the dashboard's first run_index
    returns the saved rows at once and refreshes in the background (a new server's first page
    of 100,000 runs does not wait for a full scan); the refresh then brings the new run."""
    import threading

    from animlib import ui
    from animlib.index import registry

    saved = open_index(runs_dir)
    saved.refresh()
    assert saved.flush()
    ids = set(saved.table["id"].to_pylist())
    registry._OPEN.clear()  # a new process
    write_run(runs_dir, "late", steps=2)
    release = threading.Event()
    real = LocalStore.member_versions

    def slow(self, *args, **kwargs):
        if kwargs.get("only") is None:
            release.wait(30)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(LocalStore, "member_versions", slow)
    monkeypatch.setattr(ui, "SHOW_SAVED_ROWS", len(ids))
    t = time.monotonic()
    index = ui.run_index(str(runs_dir))
    assert set(index.table["id"].to_pylist()) == ids  # the saved rows, at once
    # the page's poll meanwhile does not wait either (it may find "late" by its cheap look at
    # the new folder names, if it takes the index's lock before the background refresh does)
    again = ui.follow_runs(str(runs_dir))
    assert time.monotonic() - t < 10 and again is index  # not 30 s
    assert index._worker.is_alive()  # the full refresh still waits for its listing
    release.set()
    index._worker.join(30)
    assert index.refreshed and "late" in index.table["id"].to_pylist()
    monkeypatch.setattr(ui, "SHOW_SAVED_ROWS", len(ids) + 2)
    registry._OPEN.clear()  # fewer saved rows than that: the first refresh is done in line
    assert "late" in ui.run_index(str(runs_dir)).table["id"].to_pylist()


def test_local_scan_follows_links_only_inside(runs_dir, tmp_path):
    outside = tmp_path / "outside"
    write_run(outside, "far", steps=2)
    (runs_dir / "inside-link").symlink_to(runs_dir / "alpha")
    (runs_dir / "outside-link").symlink_to(outside / "far")
    (runs_dir / "json-link").mkdir()
    (runs_dir / "json-link" / "run.json").symlink_to(outside / "far" / "run.json")
    (runs_dir / "README.txt").write_text("a plain file")
    scanned = LocalStore(runs_dir).scan_folders("run.json")
    # a link to a run of the folder is an alias, not a second run (test_other_writers.py)
    assert "inside-link" not in scanned and scanned["alpha"].size > 0
    assert scanned["outside-link"] is None and scanned["json-link"] is None
    assert "README.txt" not in scanned
    infos = {i.id: i for i in animlib.list_runs(runs_dir)}
    assert "inside-link" not in infos and animlib.open_run_in(runs_dir, "inside-link").meta
    assert infos["outside-link"].code == Code.UNSAFE and infos["json-link"].code == Code.UNSAFE


def test_memory_filesystem_lists_incrementally(monkeypatch):
    url = "memory://index-test/runs"
    for name in ("m1", "m2"):
        write_run(url, name, steps=2)
    assert {i.id for i in animlib.list_runs(url)} == {"m1", "m2"}
    write_run(url, "m3", steps=2)
    infos = animlib.list_runs(url)
    assert {i.id for i in infos} == {"m1", "m2", "m3"} and open_index(url).last.read == 1


def test_refresh_changes_looks_at_running_runs_and_new_folders_only(runs_dir, monkeypatch):
    import numpy as np

    live = animlib.RunWriter(runs_dir, name="live", class_names=["a", "b"], true_label=0)
    live.log(image=np.zeros((4, 4, 3), "uint8"), confidences=[0.5, 0.5])
    index = RunIndex(runs_dir)
    index.refresh()
    assert index.watchable and index._hot == {"live"}
    reads = count_reads(monkeypatch)
    live.log(image=np.zeros((4, 4, 3), "uint8"), confidences=[0.6, 0.4])  # a running run
    rewrite(runs_dir / "beta", tags=["edited"])  # a finished one, edited in place
    done = index.refresh_changes()
    assert reads == ["live/run.json"] and done.listed == 1
    assert {i.id: i for i in index.infos()}["beta"].get("tags") != ["edited"]
    write_run(runs_dir, "gamma", steps=2)  # a new folder: the folder's own mtime changed
    shutil.rmtree(runs_dir / "alpha")  # and a removed one
    reads.clear()
    done = index.refresh_changes()
    assert reads == ["gamma/run.json"] and done.removed == 1  # names listed, new ones read
    infos = {i.id: i for i in index.infos()}
    assert infos["gamma"].ok and "alpha" not in infos
    assert infos["beta"].get("tags") != ["edited"]  # found by the next full refresh
    reads.clear()
    assert index.refresh().read == 1 and reads == ["beta/run.json"]
    assert {i.id: i for i in index.infos()}["beta"].get("tags") == ["edited"]
    live.finish()
    reads.clear()
    index.refresh_changes()
    assert reads == ["live/run.json"] and index._hot == set()


def test_running_runs_gone_stale_are_left_to_full_refreshes(runs_dir, monkeypatch):
    """A run.json that says running but was not updated for longer than
    ANIMLIB_STALE_SECONDS (its writer was killed) is not looked at by every poll; when it
    resumes, a full refresh finds it and polls follow it again."""
    rewrite(runs_dir / "beta", status="running", updated="2026-01-01T00:00:00+00:00")
    rewrite(runs_dir / "alpha", status="running", updated=None)  # no time: never stale
    index = RunIndex(runs_dir)
    index.refresh()
    assert index._hot == {"alpha"}
    reads = count_reads(monkeypatch)
    now = datetime.now(UTC).isoformat()
    rewrite(runs_dir / "beta", status="running", updated=now, steps=3)  # it resumes
    index.refresh_changes()
    assert reads == []  # beta is not polled (alpha is, unchanged)
    assert index.refresh().read == 1 and "beta/run.json" in reads
    assert index._hot == {"alpha", "beta"}
    reads.clear()
    rewrite(runs_dir / "beta", status="running", updated=now, steps=4)
    index.refresh_changes()
    assert "beta/run.json" in reads and {i.id: i for i in index.infos()}["beta"].get("steps") == 4


def test_runs_table_columns_have_one_owner():
    assert runs_table.COLUMNS == [
        "id", "name", "attack", "model", "experiment", "status", "steps", "success",
        "flip_step", "final_true_conf", "linf", "l2", "created", "tags", "source",
    ]  # fmt: skip
    shown = [c for c in runs_table.COLUMNS if c not in ("id", "experiment", "source")]
    assert shown == runs_table.VISIBLE_COLUMNS
    assert list(SORTABLE) == shown and isinstance(SORTABLE, tuple)
    assert [*runs_table.COLUMNS, "updated", "params"] == PAGE_COLUMNS
    assert set(PAGE_COLUMNS) <= set(SCHEMA.names)


def test_the_index_schema_is_what_version_13_files_hold():
    assert str(SCHEMA) == textwrap.dedent(
        """\
        id: string
        version: string
        meta: string
        classes: string
        name: string
        attack: string
        model: string
        experiment: string
        status: string
        steps: int64
        success: bool
        flip_step: int64
        final_true_conf: double
        linf: double
        l2: double
        created: timestamp[us, tz=UTC]
        created_key: string
        updated: timestamp[us, tz=UTC]
        tags: string
        source: string
        original: string
        params: string
        param_names: string
        haystack: string
        error: string
        field: string
        code: string
        sample: string
        image: string
        true_label: int64
        target_label: int64
        final_pred: int64
        targeted: bool
        clean_correct: bool
        robust: bool
        eps: double
        experiment_flip: int64
        experiment_steps: int64
        updated_key: string
        exact: bool
        """
    ).rstrip("\n")
    # a change of the above, or of what a column holds, needs a new version (8:
    # experiment_steps; 9: a local run.json's version tag holds its ctime; 10: haystack in NFC;
    # 11: created_key in UTC; 13: flip_step none for a flip undone by the last step; 14: 256
    # parameters of a run, not 64; 15: another tool's run.json without a summary gets one;
    # 17: experiment_flip none for a flip undone by the last step)
    assert index_files.SCHEMA_VERSION == "17"


def test_an_index_file_of_version_8_is_rebuilt(runs_dir):
    """Version 8 files hold tags without the ctime: every run.json is read again, once."""
    animlib.list_runs(runs_dir)
    index = open_index(runs_dir)
    index.flush()
    table = index_files.load(index.path, index.url)
    meta = {b"animlib.url": index.url.encode(), b"animlib.index_version": b"8"}
    pq.write_table(table.replace_schema_metadata(meta), index.path)
    assert RunIndex(runs_dir).refresh().read == 3
    RunIndex(runs_dir).flush()
    assert RunIndex(runs_dir).refresh().read == 0


def test_a_problem_found_in_a_just_written_run_is_remembered_until_the_run_changes(
    runs_dir, monkeypatch
):
    """A run.json changed in the last 2 s carries the scan time in its version (it differs at
    every scan); what the runs page found in such a run (by version) must survive the next
    scans, and be forgotten when the run really changes."""
    from animlib import ui
    from animlib.store import local

    monkeypatch.setattr(local, "RACY_S", 3600.0)  # every run.json counts as just written
    write_run(runs_dir, "fresh", steps=2)
    index = RunIndex(runs_dir)
    index.refresh()
    assert index.version("fresh") != index.version("fresh", stable=True)  # the scan time
    problems = {"fresh": (index.version("fresh", stable=True), None)}
    for _ in range(2):
        time.sleep(0.01)  # the next scan's time differs
        index.refresh()
        ui.forget_changed(index, problems)  # type: ignore[arg-type]
        assert "fresh" in problems
    path = runs_dir / "fresh" / "run.json"
    meta = json.loads(path.read_text())
    path.write_text(json.dumps({**meta, "name": "renamed"}))  # a real change
    index.refresh()
    ui.forget_changed(index, problems)  # type: ignore[arg-type]
    assert "fresh" not in problems


def test_filter_and_sort_summaries_say_what_the_page_shows():
    from animlib import runs_table

    assert runs_table.filter_summary(Query()) == ""
    q = Query(attacks=("PGD", "CW"), statuses=("running",), success=("n/a",), text="x")
    assert runs_table.filter_summary(q) == "attack PGD or CW · status running · outcome n/a"
    many = Query(models=tuple(f"m{i}" for i in range(5)))
    assert runs_table.filter_summary(many) == "model m0 or m1 or m2 or 2 more"
    assert runs_table.sort_summary("", True, "newest first") == "newest first"
    assert runs_table.sort_summary("l2", False, "newest first") == "L2 ↑"
    assert runs_table.sort_summary("params.eps", True, "newest first") == "eps ↓"
    assert runs_table.sort_summary("linf", True, "newest first") == "L∞ ↓"
    assert runs_table.sort_summary("flip_step", False, "x") == "flip step ↑"
    assert runs_table.column_label("params.steps") == "params.steps"  # beside the steps column


def test_facets_follow_the_rows(runs_dir):
    index = open_index(runs_dir)
    index.refresh()
    before = index.facets()
    assert "Square" not in before["attack"]
    run_id = write_run(runs_dir, "square-run", steps=2, attack="Square")
    index.refresh()
    assert index.facets()["attack"] == sorted([*before["attack"], "Square"])
    (runs_dir / run_id / "run.json").write_text("{")  # broken: its attack is no choice now
    index.refresh()
    assert index.facets() == before


def test_text_sorts_without_regard_to_case(tmp_path):
    """Sorting by name put every capital first ("Square" before "blur")."""
    for name, attack in (("blur", "blur"), ("Square", "Square"), ("apple", "PGD"), ("Zeta", "cw")):
        write_run(tmp_path, name, steps=2, attack=attack)
    index = open_index(tmp_path)
    index.refresh()
    assert index.query(Query(sort="name")).rows["name"].to_pylist() == [
        "apple", "blur", "Square", "Zeta"
    ]  # fmt: skip
    names = index.query(Query(sort="attack", descending=True)).rows["attack"].to_pylist()
    assert names == ["Square", "PGD", "cw", "blur"]


def test_opening_a_slow_folder_holds_up_no_other_folders_index(tmp_path, monkeypatch):
    """The process's registry looked at a new folder (a bucket: a request) under the lock every
    page takes to get its index: one slow folder held up every session."""
    import threading
    import time

    from animlib.index import registry

    fast, slow = tmp_path / "fast", tmp_path / "slow"
    for root in (fast, slow):
        write_run(root, "r", steps=2)
    known = open_index(fast)
    real = registry.check_results_folder

    def slowly(store):
        if store.url.endswith("slow"):
            time.sleep(1.5)
        return real(store)

    monkeypatch.setattr(registry, "check_results_folder", slowly)
    opening = threading.Thread(target=open_index, args=(slow,))
    opening.start()
    time.sleep(0.2)
    t0 = time.perf_counter()
    assert open_index(fast) is known
    assert time.perf_counter() - t0 < 0.5
    opening.join()
    assert open_index(slow) is open_index(slow)


def test_a_runs_verdict_under_other_size_limits_is_not_reused(tmp_path, monkeypatch):
    """Verdicts are kept in the index: a listing under ANIMLIB_MAX_STEPS=2 left the runs
    broken for every later process (and every other limit), quoting a limit no longer set."""
    root = tmp_path / "runs"
    write_run(root, "long", steps=4)
    assert [i.ok for i in animlib.list_runs(root)] == [True]
    monkeypatch.setenv("ANIMLIB_MAX_STEPS", "2")
    (info,) = animlib.list_runs(root)
    assert not info.ok and "4 steps exceed the limit of 2" in info.error
    monkeypatch.delenv("ANIMLIB_MAX_STEPS")
    assert [i.ok for i in animlib.list_runs(root)] == [True]
