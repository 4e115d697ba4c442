"""Run index: cold build, warm list_runs, incremental refresh and the runs page on 100,000 runs.

    python benchmarks/bench_index.py [--runs 100000] [--no-browser] [--s3-runs 1000 | --no-s3]

The results folder holds real runs: one written through ``RunWriter``, cloned (arrays
hard-linked, each clone with its own run.json: name, attack, model, status, summary, times,
tags; one in 5,000 truncated, so listed as broken) into ``$ANIMLIB_BENCH_DATA`` once and
reused. Measured side by side in one run:

* cold index build: ``list_runs`` in a fresh process with an empty cache folder, every
  run.json dropped from the OS page cache first (``posix_fadvise(DONTNEED)``);
* ``list_runs`` warm: in a process that listed the folder before (the dashboard, a notebook),
  and in a fresh process whose index is on disk; the index query of one page of the runs page;
* incremental refresh after adding 10 runs and rewriting 10 run.json files (it must read 20);
* the runs page in headless Chromium on a warm server (second and later page loads, each in a
  new browser session): from navigation start to the first table rows with the status widget
  gone, measured in the page; then a run written while the page is open, until it is shown;
  the same with 3 runs (what Streamlit and Chromium take for this page), and a minimal
  Streamlit page (a title and a 3-row ``st.dataframe``: the framework's floor on this machine);
* on S3 (moto on loopback): what one refresh costs with the ``/c/``-delimited listing, against
  a plain recursive listing and against a listing of run prefixes plus one HEAD per run.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import _common as C
import index_data as D

PAGE_READY_S, COLD_BUILD_S, APPEAR_S, WARM_LIST_S = 2.0, 60.0, 5.0, 1.0
READY_JS = """() => {
  const rows = document.querySelectorAll("[data-testid='stDataFrame'] table tbody tr");
  const busy = document.querySelector("[data-testid='stStatusWidget']");
  if (rows.length === 0 || busy) return false;
  window.__ready = window.__ready || performance.now();
  return true;
}"""


# ------------------------------------------------------------------------ in a fresh process
def child_cold(folder: str) -> dict:
    from animlib import list_runs
    from animlib.index import open_index

    t = time.perf_counter()
    infos = list_runs(folder)
    seconds = time.perf_counter() - t
    index = open_index(folder)
    return {
        "cold": seconds,
        "runs": len(infos),
        "broken": sum(not i.ok for i in infos),
        "read": index.last.read,
        "bytes": os.path.getsize(index.path),
    }


def child_warm(folder: str) -> dict:
    from animlib import list_runs
    from animlib.index import Query, open_index

    out: dict = {}
    t = time.perf_counter()
    infos = list_runs(folder)
    out["fresh_process"] = time.perf_counter() - t
    out["warm"] = min(C.timed(list_runs, folder) for _ in range(3))
    index = open_index(folder)
    out["refresh"] = min(C.timed(index.refresh) for _ in range(3))
    out["query"] = min(C.timed(index.query, Query(limit=50)) for _ in range(5))
    q = Query(attacks=("PGD",), text="resnet img01", sort="final_true_conf", limit=50)
    out["query_filtered"] = min(C.timed(index.query, q) for _ in range(5))
    q = Query(sort="params.eps", descending=True, limit=50)
    out["query_param"] = min(C.timed(index.query, q) for _ in range(5))
    added = D.add_runs(Path(folder), 10, "bench")
    changed = [i.id for i in infos if i.ok][:10]
    saved = {r: (Path(folder) / r / "run.json").read_bytes() for r in changed}
    D.touch_runs(Path(folder), changed, "bench")
    time.sleep(2.1)  # let the new files settle (a file changed < 2 s ago is read every time)
    t = time.perf_counter()
    after = list_runs(folder)
    out["incremental"] = time.perf_counter() - t
    out["incremental_read"] = index.last.read
    out["incremental_ok"] = len(after) == len(infos) + 10
    for run_id, data in saved.items():  # leave the data as it was for the next run
        (Path(folder) / run_id / "run.json").write_bytes(data)
    for run_id in added:
        shutil.rmtree(Path(folder) / run_id)
    time.sleep(2.1)
    list_runs(folder)
    index.flush()
    return out


def in_child(mode: str, folder: Path, cache: Path) -> dict:
    env = dict(os.environ, ANIMLIB_CACHE=str(cache), PYTHONPATH=str(C.ROOT))
    return C.child_json([sys.executable, __file__, "--child", mode, str(folder)], env)


# ----------------------------------------------------------------------------------- browser
MINIMAL_PAGE = """import pandas as pd
import streamlit as st

st.set_page_config(layout="wide")
st.title("Runs")
st.dataframe(pd.DataFrame({"name": ["a", "b", "c"], "steps": [1, 2, 3]}))
"""


def minimal_page_ready(cache: Path, loads: int = 4) -> dict:
    """Page loads of a minimal Streamlit page (a title and a 3-row ``st.dataframe``), measured
    as the runs page is: what Streamlit and Chromium alone take on this machine."""
    cache.mkdir(parents=True, exist_ok=True)
    script = cache / "minimal_page.py"
    script.write_text(MINIMAL_PAGE)
    return page_ready(cache, cache, loads, script=script)


def page_ready(
    folder: Path, cache: Path, loads: int = 4, script: Path | None = None, returning: int = 3
) -> dict:
    """Page loads of the runs page of ``folder`` (a streamlit server, each load a new browser
    session; the first one warms the server up), then ``returning`` loads in a new tab of the
    last session (a returning visitor: Streamlit's scripts in the browser's HTTP cache), then
    a run written while it is open. ``script``: serve that Streamlit script instead of the
    dashboard (loads only)."""
    out: dict = {"loads": [], "returning": []}
    with C.served_chromium(folder, cache, script) as (server, browser):
        for _ in range(loads):
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            page = context.new_page()
            out["loads"].append(C.ready_after(page, server.url + "/", READY_JS))
            if len(out["loads"]) < loads:
                context.close()
        for _ in range(returning):
            page.close()
            page = context.new_page()
            out["returning"].append(C.ready_after(page, server.url + "/", READY_JS))
        if script is None:
            page.wait_for_timeout(1000)
            written = time.perf_counter()
            (run_id,) = D.add_runs(folder, 1, "live")
            page.wait_for_selector(f"text={run_id}", state="attached", timeout=30_000)
            out["appear"] = time.perf_counter() - written
            shutil.rmtree(folder / run_id)
    return out


def server_stack() -> str:
    """What Streamlit's uvicorn server runs on here (httptools and uvloop are in requirements)."""
    from importlib.util import find_spec

    http = "httptools" if find_spec("httptools") else "h11 (pure Python)"
    loop = "uvloop" if find_spec("uvloop") else "asyncio"
    return f"dashboard server: uvicorn, {http}, {loop}"


def small_folder(parent: Path, n: int = 3) -> Path:
    """``n`` runs cloned from the template: the same page with almost nothing to list."""
    folder = parent / f"small-{n}"
    base = json.loads((D.template() / "run.json").read_text())
    rng = __import__("random").Random(0)
    for i in range(n):
        D.clone(D.template(), folder / f"run-{i}", D.varied_meta(base, i, rng))
    return folder


# ---------------------------------------------------------------------------------------- S3
class Requests:
    """Counts the S3 requests s3fs sends (by operation) while installed."""

    def __init__(self) -> None:
        import s3fs

        self.sent: list[str] = []
        self.original = s3fs.S3FileSystem._call_s3
        counter = self

        async def spy(fs, method, *a, **kw):
            counter.sent.append(method)
            return await counter.original(fs, method, *a, **kw)

        s3fs.S3FileSystem._call_s3 = spy

    def take(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for method in self.sent:
            out[method] = out.get(method, 0) + 1
        self.sent.clear()
        return out

    def close(self) -> None:
        import s3fs

        s3fs.S3FileSystem._call_s3 = self.original


def fill_bucket(url: str, runs: int, steps: int) -> int:
    """``runs`` runs under ``url``: the template's run.json (varied) and array metadata, and
    ``steps`` chunk objects per array as a 224x224 run has (empty placeholders: a listing never
    reads them). Returns the number of objects."""
    import random
    from concurrent.futures import ThreadPoolExecutor

    import boto3

    bucket, prefix = url.removeprefix("s3://").split("/", 1)
    source = D.template()
    base = json.loads((source / "run.json").read_text())
    small = {
        str(p.relative_to(source)): p.read_bytes()
        for p in source.rglob("*")
        if p.is_file() and "/c/" not in f"/{p.relative_to(source)}"
    }
    rng = random.Random(1)
    objects = []
    for i in range(runs):
        run = f"{prefix}/run-{i:05d}"
        meta = D.varied_meta(base, i, rng)
        objects.append((f"{run}/run.json", json.dumps(meta, indent=2).encode()))
        objects += [(f"{run}/{name}", data) for name, data in small.items() if name != "run.json"]
        objects += [(f"{run}/images/c/{s}/0/0/0", b"") for s in range(steps)]
        objects += [(f"{run}/confidences/c/{s // 64}/0", b"") for s in range(0, steps, 64)]
        objects.append((f"{run}/original/c/0/0/0", b""))
    client = boto3.client("s3")
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda kv: client.put_object(Bucket=bucket, Key=kv[0], Body=kv[1]), objects))
    return len(objects)


def s3_costs(runs: int, steps: int) -> dict:
    """Refresh costs on moto: the /c/-delimited listing vs a recursive listing vs prefixes +
    one HEAD per run.json; list_runs cold, unchanged, and after 10 run.json changes."""
    import logging

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    with C.moto_s3("bench"):
        return _s3_costs(runs, steps)


def _s3_costs(runs: int, steps: int) -> dict:
    from fsspec.asyn import sync

    url = "s3://bench/runs"
    os.environ["ANIMLIB_CACHE"] = tempfile.mkdtemp(prefix="animlib-bench-s3-")  # a cold index
    out: dict = {"runs": runs, "steps": steps}
    t = time.perf_counter()
    out["objects"] = fill_bucket(url, runs, steps)
    out["fill"] = time.perf_counter() - t
    from animlib import list_runs
    from animlib.store import open_store

    store = open_store(url)
    fs, root = store.fs, store.root
    counter = Requests()
    try:
        store.list()  # (a session and a connection, as any later refresh has them)
        counter.take()
        t = time.perf_counter()
        listed = store._below()
        out["delimited"] = (time.perf_counter() - t, counter.take(), len(listed))
        names = [e.name for e in store.list() if e.is_dir]
        counter.take()
        t = time.perf_counter()
        ranged = store._below(names)  # key ranges cut by the folders the index knows
        out["ranged"] = (time.perf_counter() - t, counter.take(), len(ranged))
        t = time.perf_counter()
        found = fs.find(root)
        out["recursive"] = (time.perf_counter() - t, counter.take(), len(found))
        t = time.perf_counter()
        bucket, key = root.split("/", 1)
        heads = [f"{key}/{e.name}/run.json" for e in store.list() if e.is_dir]

        async def head_all() -> list:
            import asyncio

            found = []
            for start in range(0, len(heads), 64):  # 64 in flight, as read_many does
                batch = heads[start : start + 64]
                calls = (fs._call_s3("head_object", Bucket=bucket, Key=k) for k in batch)
                found += await asyncio.gather(*calls)
            return found

        sync(fs.loop, head_all)
        out["heads"] = (time.perf_counter() - t, counter.take(), len(heads))
        for name, call in (("cold", None), ("unchanged", None)):
            t = time.perf_counter()
            list_runs(url)
            out[name] = (time.perf_counter() - t, counter.take(), call)
        for i in range(10):
            path = f"run-{i:05d}/run.json"
            meta = json.loads(store.read(path))
            store.write_atomic(path, json.dumps(dict(meta, tags=["changed"])).encode())
        counter.take()
        t = time.perf_counter()
        list_runs(url)
        out["changed"] = (time.perf_counter() - t, counter.take(), None)
    finally:
        counter.close()
    return out


def s3_table(r: dict) -> None:
    def reqs(counts: dict) -> str:
        return ", ".join(f"{n} {m}" for m, n in sorted(counts.items())) or "0"

    per_run = r["delimited"][2] / r["runs"]
    rows = []
    for label, key in (
        ("one listing delimited by /c/ (animlib, first refresh)", "delimited"),
        ("the same, in key ranges at once when it has pages to share out", "ranged"),
        ("one recursive listing (every key)", "recursive"),
        ("run prefixes + one HEAD per run.json", "heads"),
    ):
        seconds, counts, entries = r[key]
        rows.append([label, reqs(counts), f"{entries:,}", C.fmt_seconds(seconds)])
    for label, key in (
        ("list_runs, cold (listing + every run.json)", "cold"),
        ("list_runs, nothing changed", "unchanged"),
        ("list_runs after 10 run.json changed", "changed"),
    ):
        seconds, counts, _ = r[key]
        rows.append([label, reqs(counts), "", C.fmt_seconds(seconds)])
    C.print_table(
        f"S3 on moto (loopback): {r['runs']:,} runs of {r['steps']} steps, {r['objects']:,} "
        f"objects; {per_run:.1f} entries per run in the delimited listing, so a refresh of "
        f"100,000 such runs is about {per_run * 100:,.0f} list requests (1,000 entries each)",
        ["what", "requests", "entries listed", "time"],
        rows,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=100_000)
    ap.add_argument("--no-browser", action="store_true")
    ap.add_argument("--no-s3", action="store_true")
    ap.add_argument("--s3-runs", type=int, default=300)
    ap.add_argument("--s3-steps", type=int, default=50)
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        mode, folder = args.child
        print(json.dumps((child_cold if mode == "cold" else child_warm)(folder)))
        return
    print(f"bench_index: {C.machine()}; {server_stack()}", flush=True)
    folder, built = D.results_folder(args.runs)
    if built is not None:
        print(f"  (cloned {args.runs:,} runs in {built:.0f} s; reused from now on)", flush=True)
    with tempfile.TemporaryDirectory(prefix="animlib-bench-index-") as tmp:
        cache = Path(tmp)
        dropped = C.drop_from_page_cache(C.run_json_files(folder))
        cold = in_child("cold", folder, cache)
        print(f"  cold build: {cold['cold']:.1f} s ({dropped:,} run.json dropped)", flush=True)
        warm = in_child("warm", folder, cache)
        print(f"  warm list_runs: {warm['warm']:.2f} s", flush=True)
        page = small = minimal = None
        if not args.no_browser:
            page = page_ready(folder, cache)
            small = page_ready(small_folder(cache), cache / "small-cache")
            minimal = minimal_page_ready(cache / "minimal")
    load = os.getloadavg()[0]
    rows = [
        [
            "cold index build (fresh process, run.json not in the OS cache)",
            C.fmt_seconds(cold["cold"]),
            f"read {cold['read']:,} run.json, {cold['broken']} broken; "
            f"index file {cold['bytes'] / 2**20:.1f} MiB",
        ],
        [
            "list_runs, warm (a process that listed the folder before)",
            C.fmt_seconds(warm["warm"]),
            "one scan (stat of every run.json) + the cached rows",
        ],
        [
            "list_runs, fresh process, index on disk",
            C.fmt_seconds(warm["fresh_process"]),
            "+ import, read the Parquet file (run.json parsed when first used)",
        ],
        ["refresh alone, nothing changed", C.fmt_seconds(warm["refresh"]), ""],
        ["index query: first page of 50, newest first", C.fmt_seconds(warm["query"]), ""],
        [
            "index query: attack + 2 words + sort by final conf",
            C.fmt_seconds(warm["query_filtered"]),
            "",
        ],
        [
            "index query: sort by a run parameter (params.eps)",
            C.fmt_seconds(warm["query_param"]),
            "its values picked out of every run's params text",
        ],
        [
            "list_runs after adding 10 runs and rewriting 10 run.json",
            C.fmt_seconds(warm["incremental"]),
            f"read {warm['incremental_read']} run.json",
        ],
    ]
    if page:
        loads = page["loads"][1:]
        rows.append(
            [
                "runs page ready in Chromium, warm server (median of later loads)",
                C.fmt_seconds(statistics.median(loads)),
                "loads: "
                + ", ".join(C.fmt_seconds(x) for x in page["loads"])
                + " (first: cold server)",
            ]
        )
        rows.append(
            [
                "the same page with 3 runs (what Streamlit and Chromium take)",
                C.fmt_seconds(statistics.median(small["loads"][1:])),
                "loads: " + ", ".join(C.fmt_seconds(x) for x in small["loads"]),
            ]
        )
        rows.append(
            [
                "a minimal Streamlit page: a title and a 3-row st.dataframe",
                C.fmt_seconds(statistics.median(minimal["loads"][1:])),
                "loads: " + ", ".join(C.fmt_seconds(x) for x in minimal["loads"]),
            ]
        )
        for label, result in (("runs page", page), ("minimal page", minimal)):
            rows.append(
                [
                    f"{label}, returning visitor (scripts in the browser cache)",
                    C.fmt_seconds(statistics.median(result["returning"])),
                    "loads: " + ", ".join(C.fmt_seconds(x) for x in result["returning"]),
                ]
            )
        rows.append(
            [
                "a run written while the page is open: shown after",
                C.fmt_seconds(page["appear"]),
                f"{C.fmt_seconds(small['appear'])} with 3 runs",
            ]
        )
    C.print_table(
        f"Run index on {cold['runs']:,} local runs (load average {load:.1f})",
        ["what", "time", "notes"],
        rows,
    )
    checks = [
        (
            "cold index build of 100,000 local runs <= 60 s",
            cold["cold"],
            cold["cold"] <= COLD_BUILD_S,
        ),
        ("list_runs on 100,000 runs warm < 1 s", warm["warm"], warm["warm"] < WARM_LIST_S),
        (
            "incremental refresh reads only the 20 new or changed run.json",
            warm["incremental"],
            warm["incremental_read"] == 20 and warm["incremental_ok"],
        ),
    ]
    if page:
        ready = statistics.median(page["loads"][1:])
        checks.append(
            (
                "runs page with 100,000 runs ready in Chromium < 2 s warm",
                ready,
                ready < PAGE_READY_S,
            )
        )
        checks.append(
            (
                "a run added while the page is open appears within 5 s",
                page["appear"],
                page["appear"] < APPEAR_S,
            )
        )
    C.print_table(
        "Acceptance (issue 13)",
        ["target", "measured", ""],
        [[name, C.fmt_seconds(v), C.verdict(ok)] for name, v, ok in checks],
    )
    if not args.no_s3:
        s3_table(s3_costs(args.s3_runs, args.s3_steps))
    if not all(ok for *_, ok in checks):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
