"""Acceptance (issue 14): the dashboard's peak RSS while opening any run of the broken-run
corpus stays under 500 MB.

The dashboard runs in a fresh subprocess (Streamlit's AppTest, which executes the page scripts in
that process): the runs page, its "check every chunk" button, then the viewer of every run of
the corpus, one after the other. The process's peak resident set is read after each step
(``VmHWM``, its high-water mark); as it only grows, the first step over the
bound is the run to blame.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from test_broken_runs import LIMITS, corpus, run_id  # noqa: F401  (the corpus fixture)

ROOT = Path(__file__).resolve().parents[1]
PEAK_MB = 500

SCRIPT = """
import json, resource, sys
from streamlit.testing.v1 import AppTest

app, ids = sys.argv[1], json.loads(sys.argv[2])


def peak_mb():
    # VmHWM: this process's own peak (ru_maxrss would start at the parent's size, as Linux
    # carries the forked copy's high-water mark over the exec)
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


peaks, problems = {"(start)": peak_mb()}, []
at = AppTest.from_file(app, default_timeout=600).run()
peaks["(runs page)"] = peak_mb()
try:
    at.button(key="deep_check_button").click().run()
    peaks["(runs page: check every chunk)"] = peak_mb()
except KeyError:
    problems.append(("runs page", [e.value for e in at.error]))
problems += [("runs page", str(at.exception))] if at.exception else []
for run_id in ids:
    at = AppTest.from_file(app, default_timeout=600)
    at.switch_page("app_pages/viewer.py")
    at.query_params["run"] = run_id
    at.run()
    problems += [(run_id, str(at.exception))] if at.exception else []
    peaks[run_id] = peak_mb()
print("PEAKS " + json.dumps({"peaks": peaks, "problems": problems}))
"""


def test_dashboard_peak_rss_while_opening_every_corpus_run(corpus, tmp_path):  # noqa: F811
    ids = sorted(p.name for p in corpus.iterdir() if p.is_dir() and "\n" not in p.name)
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join(filter(None, [os.environ.get("PYTHONPATH"), str(ROOT)])),
        ANIMLIB_RUNS=str(corpus),
        ANIMLIB_CACHE=str(tmp_path / "cache"),
        **LIMITS,
    )
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(ROOT / "dashboard.py"), json.dumps(ids)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=1800,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    line = next(x for x in done.stdout.splitlines() if x.startswith("PEAKS "))
    found = json.loads(line.removeprefix("PEAKS "))
    peaks = found["peaks"]
    assert set(peaks) >= {run_id(k) for k in ids}
    over = [(k, round(v)) for k, v in peaks.items() if v >= PEAK_MB]
    print("peak RSS (MB) after each step:", {k: round(v) for k, v in peaks.items()})
    assert not over, f"first over {PEAK_MB} MB: {over[0]} (all: {peaks})"
    assert not found["problems"], found["problems"]
