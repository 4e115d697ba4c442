"""The command line: listing output, closed pipes, and option errors."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import write_run

import animlib
from animlib.cli import main

ROOT = Path(__file__).resolve().parents[1]
ENV = dict(os.environ, PYTHONPATH=str(ROOT))
# what the ``animlib`` console script runs (its sys.argv[0] is the script's path)
CONSOLE = "import sys; sys.argv[0] = '/usr/bin/animlib'; from animlib.cli import main; main()"


def test_ls_columns_line_up_whatever_the_attack_name(tmp_path, capsys):
    write_run(tmp_path, "short", steps=2, attack="PGD")
    write_run(tmp_path, "long", steps=3, attack="ProjectedGradientDescent-Linf-targeted")
    assert main(["ls", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    header, rows = lines[0], lines[1:3]
    for column in ("status", "steps"):
        start = header.index(column)
        for row in rows:
            # every row has its status word / right-aligned step count in the header's column
            cell = row[start : start + len(column)]
            assert cell.strip(), (column, header, row)
            assert row[start - 1] == " " or column == "steps", (header, row)
    status_at = header.index("status")
    assert all(row[status_at:].startswith("finished") for row in rows), lines


def test_tables_line_up_with_wide_and_combining_characters(tmp_path, capsys):
    """``ls`` and ``summary`` padded by code points: "攻撃攻撃" (8 cells) pushed its row 4 cells
    right, a decomposed "ééé" (3 cells, 6 code points) pulled its row 3 cells left."""
    from animlib.text import display_width

    for name in ("PGD", "攻撃攻撃", "e\u0301e\u0301e\u0301", "q\u0303q\u0303"):
        write_run(tmp_path, f"r{len(name)}", steps=2, attack=name, params={"ε": name})
    assert main(["ls", str(tmp_path), "--params", "ε"]) == 0
    lines = capsys.readouterr().out.splitlines()[:5]
    starts = {display_width(line[: line.index("finished" if i else "status")])
              for i, line in enumerate(lines)}  # fmt: skip
    assert len(starts) == 1, lines
    assert len({display_width(line) for line in lines}) == 1, lines  # ε right-aligned
    assert main(["summary", str(tmp_path), "--by", "attack", "--all-runs"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 5 and len({display_width(line) for line in lines}) == 1, lines


def test_ls_names_runs_whose_id_does_not_say_their_name(tmp_path, capsys):
    """Runs named in Japanese or Arabic get the ids "run", "run-2" (ids are ASCII), and ls
    showed only the ids: the runs could not be told apart. A name column then shows."""
    for name in ("plain", "攻撃-画像", "هجوم", "x" * 50):
        write_run(tmp_path, name, steps=2)
    assert main(["ls", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["id", "name", "attack"]
    rows = {line.split()[0]: line.split()[1] for line in lines[1:5]}
    assert rows == {"plain": "plain", "run": "攻撃-画像", "run-2": "هجوم", "x" * 50: "x" * 31 + "…"}
    other = tmp_path / "other"
    write_run(other, "plain", steps=2)
    assert main(["ls", str(other)]) == 0  # every name is its id: no column for it
    assert capsys.readouterr().out.split()[:2] == ["id", "attack"]


def test_ls_into_a_closed_pipe_is_quiet(tmp_path):
    write_run(tmp_path, "a", steps=1)
    read_end, write_end = os.pipe()
    os.close(read_end)  # like `animlib ls | head` after head has exited
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "animlib", "ls", str(tmp_path)],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            env=ENV,
            timeout=120,
        )
    finally:
        os.close(write_end)
    assert "Traceback" not in proc.stderr and "BrokenPipeError" not in proc.stderr, proc.stderr
    assert proc.returncode == 0


@pytest.mark.parametrize("encoding", ["ascii", "latin-1", "C locale"])
def test_a_name_the_terminal_cannot_encode_is_escaped_not_a_crash(tmp_path, encoding):
    """``ls`` and ``summary`` on an ASCII or Latin-1 terminal crashed with UnicodeEncodeError
    mid-table on a run named "PGD-ü" or a parameter "ε"; the characters are now escaped, and
    the columns padded by what is written (``PGD-\\xfc``: they drifted right). The C locale
    without UTF-8 mode writes ASCII with ``surrogateescape``, which crashed as well."""
    write_run(tmp_path, "a", steps=2, attack="PGD-ü-攻撃", params={"ε": "é"})
    write_run(tmp_path, "b", steps=2, attack="plain", params={"ε": "x"})
    env = dict(ENV, PYTHONIOENCODING=encoding)
    if encoding == "C locale":
        env = {k: v for k, v in ENV.items() if k != "PYTHONIOENCODING"}
        env.update(LC_ALL="C", PYTHONUTF8="0", PYTHONCOERCECLOCALE="0")
        encoding = "ascii"
    for args in (["ls", "--params", "ε"], ["summary", "--by", "attack", "--all-runs"]):
        proc = subprocess.run(
            [sys.executable, "-m", "animlib", args[0], str(tmp_path), *args[1:]],
            capture_output=True,
            env=env,
            timeout=120,
        )
        assert proc.returncode == 0, proc.stderr.decode(encoding)
        out = proc.stdout.decode(encoding)
        assert "PGD-" in out and "\\u653b\\u6483" in out, out
        assert "Traceback" not in proc.stderr.decode(encoding)
        table = out.splitlines()[:3]
        assert len({len(line) for line in table}) == 1, table  # (right-aligned last columns)


def test_main_called_from_a_script_leaves_its_streams_as_they_were(tmp_path, monkeypatch):
    """``animlib.cli.main()`` called from a script or notebook switched the caller's stdout
    and stderr to escaping for good (their error mode stayed backslashreplace)."""
    import io

    write_run(tmp_path, "a", steps=2, attack="PGD-ü")
    out = io.TextIOWrapper(io.BytesIO(), encoding="ascii", errors="strict")
    monkeypatch.setattr(sys, "stdout", out)
    assert main(["ls", str(tmp_path)]) == 0
    assert out.errors == "strict"
    out.seek(0)
    assert "PGD-\\xfc" in out.read()


def test_invalid_render_option_is_a_usage_error_naming_the_option(tmp_path, capsys):
    run_id = write_run(tmp_path, "a", steps=2)
    code = main(["render", str(tmp_path / run_id), "-o", str(tmp_path / "x.mp4"), "--fps", "0"])
    assert code == 2
    assert "fps: must be a number in (0, 120]; got 0" in capsys.readouterr().err
    assert not (tmp_path / "x.mp4").exists()


def test_render_takes_the_width_and_bitrate_as_python_does(tmp_path, capsys):
    """``--width-px`` and ``--bitrate`` were Python-only options."""
    from PIL import Image

    run = str(tmp_path / write_run(tmp_path, "a", steps=2))
    assert main(["render", run, str(tmp_path / "a.gif"), "--width-px", "800", "--no-cache"]) == 0
    with Image.open(tmp_path / "a.gif") as im:
        assert im.size[0] == 800
    assert main(["render", run, str(tmp_path / "b.mp4"), "--width-px", "100"]) == 2
    assert "width_px: must be an integer in [720, 4096]; got 100" in capsys.readouterr().err
    assert main(["render", run, str(tmp_path / "c.mp4"), "--bitrate", "300", "--no-cache"]) == 0


def test_render_takes_the_output_file_as_a_second_argument(tmp_path, capsys):
    """``animlib render RUN OUT.gif`` as a user types it (it was "unrecognized arguments")."""
    run = str(tmp_path / write_run(tmp_path, "a", steps=2))
    assert main(["render", run, str(tmp_path / "a.gif"), "--no-cache"]) == 0
    assert (tmp_path / "a.gif").read_bytes()[:6] == b"GIF89a"
    assert main(["render", run, str(tmp_path / "b.mp4"), "-o", str(tmp_path / "c.mp4")]) == 2
    assert "two output files" in capsys.readouterr().err
    assert main(["render", run]) == 2
    assert "render RUN OUT.mp4" in capsys.readouterr().err
    assert main(["render", "--all", str(tmp_path), str(tmp_path / "x")]) == 2
    assert "with --all the output folder is --out DIR" in capsys.readouterr().err
    assert main(["render", "--all", str(tmp_path), "-o", str(tmp_path / "x.mp4")]) == 2  # (ignored)
    assert "not -o " in capsys.readouterr().err
    (tmp_path / "folder.mp4").mkdir()  # found only after every frame was drawn
    assert main(["render", run, str(tmp_path / "folder.mp4"), "--no-cache"]) == 2
    assert "is a folder: give a file name" in capsys.readouterr().err
    assert not (tmp_path / "b.mp4").exists() and not (tmp_path / "c.mp4").exists()


def test_render_compares_several_runs_given_with_an_output_file(tmp_path, capsys, monkeypatch):
    """``animlib render RUN RUN ... -o OUT.mp4`` renders the comparison render_compare renders
    (the CLI could render one run only), through the render cache like one run."""
    monkeypatch.setenv("ANIMLIB_CACHE", str(tmp_path / "cache"))
    root = tmp_path / "runs"
    runs = [str(root / write_run(root, f"r{i}", steps=2 + i)) for i in range(3)]
    out = tmp_path / "cmp.gif"
    assert main(["render", *runs, "-o", str(out)]) == 0
    assert capsys.readouterr().out.strip() == f"wrote {out}"
    want = tmp_path / "want.gif"
    animlib.render_compare(runs, want)
    assert out.read_bytes() == want.read_bytes()
    assert main(["render", *runs, "-o", str(tmp_path / "again.gif")]) == 0
    assert "(from the render cache)" in capsys.readouterr().out
    assert main(["render", *runs[:2], "-o", str(tmp_path / "two.gif"), "--no-cache"]) == 0
    assert main(["render", *runs[:2]]) == 2  # a run folder second is no output file
    assert "a comparison of 2 runs needs its file as -o OUT.mp4" in capsys.readouterr().err
    assert main(["render", *runs]) == 2
    assert "a comparison of 3 runs needs its file as -o OUT.mp4" in capsys.readouterr().err
    assert main(["render", runs[0], str(tmp_path / "c"), "-o", str(tmp_path / "d.gif")]) == 2
    assert "two output files" in capsys.readouterr().err  # (no run.json: not a comparison)
    shutil.copytree(runs[1], tmp_path / "other" / "copy.mp4")  # a run folder named like a video
    copy = str(tmp_path / "other" / "copy.mp4")
    assert main(["render", runs[0], copy, "-o", str(tmp_path / "e.gif")]) == 0
    assert main(["render", runs[0], ""]) == 2
    assert "the file path is empty" in capsys.readouterr().err
    assert main(["render", *runs, *runs[:1] * 4, "-o", str(tmp_path / "seven.gif")]) == 2
    assert "a comparison needs 2 to 6 runs, got 7" in capsys.readouterr().err
    assert not (tmp_path / "seven.gif").exists() and not (tmp_path / "r0.gif").exists()


def test_usage_names_the_command_as_it_was_called(tmp_path):
    for command, prog in (["-m", "animlib"], "python -m animlib"), (["-c", CONSOLE], "animlib"):
        proc = subprocess.run(
            [sys.executable, *command, "--help"], capture_output=True, text=True, env=ENV
        )
        assert proc.returncode == 0 and proc.stdout.startswith(f"usage: {prog} "), proc.stdout


def test_render_progress_is_whole_lines_in_a_log_and_redrawn_on_a_terminal(tmp_path, capsys):
    import io

    from animlib.cli import _progress_printer

    run_id = write_run(tmp_path, "p", steps=4)
    assert main(["render", str(tmp_path / run_id), "-o", str(tmp_path / "x.mp4")]) == 0
    err = capsys.readouterr().err  # stderr is no terminal here: whole lines, the last at 4/4
    assert err.endswith(f"{run_id}: 4/4 frames\n") and "\r" not in err, err
    assert all(re.fullmatch(rf"{run_id}: [0-4]/4 frames", line) for line in err.splitlines())
    # (one line every 5 s before the last: a machine this slow prints one more, as a log should)

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    screen = Terminal()
    progress = _progress_printer("r", screen)
    for done in range(3):
        progress(done, 2)
    assert screen.getvalue() == "\rr: 0/2 frames\rr: 2/2 frames\n"


def test_demo_takes_its_folder_as_the_other_commands_do(tmp_path, monkeypatch, capsys):
    import animlib.demo

    folders = []
    monkeypatch.setattr(animlib.demo, "build_demo", lambda out, **kw: folders.append(out))
    assert main(["demo", str(tmp_path / "a")]) == 0
    assert main(["demo", "--out", str(tmp_path / "b")]) == 0
    assert main(["demo"]) == 0
    assert folders == [str(tmp_path / "a"), str(tmp_path / "b"), "runs"]
    assert main(["demo", "x", "--out", "y"]) == 2
    assert "two results folders: x and --out y" in capsys.readouterr().err


def test_ls_parameters_sort_and_search_as_the_runs_page(tmp_path, capsys):
    for eps, norm in ((0.1, "linf"), (0.05, "l2"), (0.2, "l2"), (1e-5, "linf")):
        write_run(tmp_path, f"pgd-{norm}-{eps:g}", steps=2, params={"eps": eps, "norm": norm})
    write_run(tmp_path, "no-params", steps=2)

    def ls(*args: str) -> list[str]:
        assert main(["ls", str(tmp_path), *args]) == 0
        return capsys.readouterr().out.splitlines()

    lines = ls("--params", "eps,norm", "--sort", "params.eps")
    header, rows = lines[0].split(), [line.split() for line in lines[1:-1]]
    assert header[-2:] == ["eps", "norm"]
    # numbers in numeric order (1e-05 first, not after 0.2 as text), a run without eps last
    assert [r[0] for r in rows] == ["pgd-linf-1e-05", "pgd-l2-0.05", "pgd-linf-0.1",
                                    "pgd-l2-0.2", "no-params"]  # fmt: skip
    assert rows[0][-2:] == ["1e-05", "linf"] and rows[-1][-2:] == ["-", "-"]
    lines = ls("--search", "norm=l2", "--sort", "params.eps", "--desc")
    assert [line.split()[0] for line in lines[1:-1]] == ["pgd-l2-0.2", "pgd-l2-0.05"]
    assert lines[-1] == "2 runs, 0 broken"
    assert ls("--params", "steps,eps")[0].split()[-2:] == ["params.steps", "eps"]  # not "steps"
    assert main(["ls", str(tmp_path), "--sort", "nope"]) == 2
    assert "cannot sort by 'nope'" in capsys.readouterr().err


def test_a_render_the_cache_holds_loads_neither_matplotlib_nor_zarr(tmp_path):
    """``render`` looks the video up before anything heavy is imported: a hit takes a third of
    the time of a command that draws (matplotlib and Zarr are most of a fresh process's start)."""
    run_id = write_run(tmp_path / "runs", "c", steps=3)
    env = dict(ENV, ANIMLIB_CACHE=str(tmp_path / "cache"))
    script = (
        "import sys\nfrom animlib.cli import main\n"
        f"code = main(['render', {str(tmp_path / 'runs' / run_id)!r}, '-o', sys.argv[1]])\n"
        "print(code, 'matplotlib' in sys.modules, 'zarr' in sys.modules)\n"
    )

    def render(out: Path) -> list[str]:
        proc = subprocess.run(
            [sys.executable, "-c", script, str(out)],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 0, proc.stderr
        return proc.stdout.splitlines()

    first = render(tmp_path / "a.mp4")
    assert first[-1] == "0 True True" and "(from the render cache)" not in first[0]
    second = render(tmp_path / "b.mp4")
    assert second == [f"wrote {tmp_path / 'b.mp4'} (from the render cache)", "0 False False"]
    assert (tmp_path / "a.mp4").read_bytes() == (tmp_path / "b.mp4").read_bytes()


def test_ls_shows_a_run_whose_writer_was_killed_as_stale(tmp_path, capsys):
    """run.json still says running, but the writer's process is gone: ``ls`` (table and JSON)
    says stale, as the runs page does; a live writer's run says running."""
    import json

    import numpy as np

    import animlib

    live = animlib.RunWriter(tmp_path, name="live", class_names=["a", "b"], true_label=0)
    killed = animlib.RunWriter(tmp_path, name="killed", class_names=["a", "b"], true_label=0)
    for w in (live, killed):
        w.log(image=np.zeros((4, 4, 3), "uint8"), confidences=[0.9, 0.1])
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    lock = tmp_path / killed.run_id / ".writer.lock"
    held = json.loads(lock.read_text())
    lock.write_text(json.dumps({**held, "pid": gone.pid}))  # as a killed writer leaves it
    try:
        assert main(["ls", str(tmp_path)]) == 0
        rows = {line.split()[0]: line.split() for line in capsys.readouterr().out.splitlines()}
        assert rows[killed.run_id][2] == "stale" and rows[live.run_id][2] == "running"
        assert main(["ls", str(tmp_path), "--json"]) == 0
        listed = {r["id"]: r for r in json.loads(capsys.readouterr().out)}
        assert listed[killed.run_id]["status"] == "stale"
        assert listed[killed.run_id]["meta"]["status"] == "running"  # run.json as stored
        assert listed[live.run_id]["status"] == "running"
    finally:
        lock.write_text(json.dumps(held))
        live.finish()
        killed.finish()


def test_demo_without_scikit_learn_says_what_to_install(tmp_path, capsys, monkeypatch):
    """``pip install animlib[dashboard]`` has no scikit-learn: a clear error, not a traceback
    from deep inside the demo, and nothing written."""
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "sklearn" else real(name, *a)
    )
    assert main(["demo", str(tmp_path / "runs")]) == 1
    assert "pip install 'animlib[demo]'" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()


def test_a_run_folder_given_as_results_folder_is_named_not_listed_as_broken_runs(tmp_path, capsys):
    """``ls RUN`` listed the run's arrays as half-copied runs, ``render --all RUN`` failed on
    each; ``validate RUN`` checks the one run."""
    import animlib

    run = tmp_path / write_run(tmp_path, "a", steps=2)
    with pytest.raises(animlib.RunFormatError, match="is a run folder") as e:
        animlib.list_runs(run)
    assert e.value.code == "invalid" and str(run) in str(e.value)
    for argv in (["ls", str(run)], ["render", "--all", str(run), "--out", str(tmp_path / "v")]):
        assert main(argv) == 1
        err = capsys.readouterr().err
        assert "is a run folder (it holds run.json), not a results folder" in err, argv
        assert "broken" not in err
    assert not (tmp_path / "v").exists()
    assert main(["validate", str(run), "--quick"]) == 0
    assert [i.id for i in animlib.list_runs(tmp_path)] == [run.name]  # its folder still lists


def test_ls_says_which_parameter_asked_for_no_run_has(tmp_path, capsys):
    """``--params epss`` gave a column of "-" and ``--sort params.epss`` an unsorted list,
    without a word (as the runs page says what a link names that the folder lacks)."""
    write_run(tmp_path, "a", steps=1, params={"eps": 0.1, "opt": {"lr": 1}})
    assert main(["ls", str(tmp_path), "--params", "eps,opt.lr"]) == 0
    assert "warning" not in capsys.readouterr().err
    assert main(["ls", str(tmp_path), "--params", "epss,eps", "--sort", "params.alpah"]) == 0
    err = capsys.readouterr().err
    assert "no run in" in err and "has the parameter epss, alpah" in err, err
    write_run(tmp_path, "wide", steps=1, params={f"p{k:03d}": k for k in range(300)})
    assert main(["ls", str(tmp_path), "--params", "p299", "--sort", "params.p299"]) == 0
    err = capsys.readouterr().err  # (shown from run.json; the index stops at its 256th)
    assert "p299: past the first 256 parameters of a run" in err and "no run" not in err, err


def test_an_empty_path_is_a_usage_error(capsys):
    """``animlib ls "$RUNS"`` with RUNS unset listed the working directory's folders as broken
    runs ("no readable runs in ")."""
    for argv in (["ls", ""], ["summary", ""], ["validate", ""], ["render", "", "x.mp4"]):
        assert main(argv) == 2
        assert "path is empty" in capsys.readouterr().err


def test_render_all_refuses_a_bad_worker_count_and_names_an_unreachable_scheduler(tmp_path, capsys):
    """``--workers -2`` waited for ever on a cluster of no worker (100000 forked until memory
    ran out); ``--scheduler bogus`` printed a 40-line traceback."""
    pytest.importorskip("dask.distributed")
    write_run(tmp_path / "runs", "a", steps=2)
    base = ["render", "--all", str(tmp_path / "runs"), "--out", str(tmp_path / "out")]
    assert main([*base, "--workers", "-2"]) == 2
    assert "workers: must be 1 to 1024; got -2" in capsys.readouterr().err
    assert main([*base, "--scheduler", "bogus"]) == 1
    err = capsys.readouterr().err
    assert "cannot reach the Dask scheduler bogus" in err and "Traceback" not in err


def test_an_option_error_names_the_option_as_typed(tmp_path, capsys):
    """The message every entry point gives, plus ``--top-k`` where the field is ``top_k``."""
    run = str(tmp_path / write_run(tmp_path, "a", steps=2))
    assert main(["render", run, str(tmp_path / "x.mp4"), "--top-k", "0"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == "error: top_k: must be an integer in [1, 1000]; got 0 (option --top-k)"
    assert main(["render", run, str(tmp_path / "x.mp4"), "--fps", "0"]) == 2
    assert "(option" not in capsys.readouterr().err  # the same name: nothing to add


@pytest.mark.parametrize(
    ("typed", "given"),
    [
        (["--stride", "1.5"], {"stride": 1.5}),  # was argparse's "invalid int value: '1.5'"
        (["--fps", "ten"], {"fps": "ten"}),  # was "invalid float value: 'ten'"
        (["--fsp", "10"], {"fsp": 10}),  # was "unrecognized arguments: --fsp 10"
        (["--width", "900"], {"width": 900}),  # was taken as --width-px (an abbreviation)
    ],
)
def test_a_bad_render_option_reads_as_from_python(tmp_path, capsys, typed, given):
    """Typed values are judged by RenderOptions: the message ``animlib.render`` gives."""
    run = str(tmp_path / write_run(tmp_path, "a", steps=2))
    with pytest.raises(animlib.RenderOptionError) as python:
        animlib.render(animlib.open_run(run), tmp_path / "y.mp4", **given)
    assert main(["render", run, str(tmp_path / "x.mp4"), *typed]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {python.value}")
    assert not (tmp_path / "x.mp4").exists()


def test_a_negative_demo_seed_is_a_usage_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["demo", str(tmp_path / "d"), "--seed", "-1"])
    assert exit_.value.code == 2
    assert "--seed: must be 0 or more; got -1" in capsys.readouterr().err
    assert not (tmp_path / "d").exists()


def test_the_default_results_folder_is_animlib_runs(tmp_path, capsys, monkeypatch):
    """As for the dashboard: ``$ANIMLIB_RUNS``, else ``runs`` (the CLI listed ./runs)."""
    write_run(tmp_path / "mine", "a", steps=2)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ANIMLIB_RUNS", str(tmp_path / "mine"))
    assert main(["ls"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "1 run, 0 broken"
    monkeypatch.delenv("ANIMLIB_RUNS")
    main(["ls"])
    assert "results folder does not exist" in capsys.readouterr().err


def test_a_closed_stdout_is_one_clear_error(tmp_path):
    write_run(tmp_path, "a", steps=1)
    proc = subprocess.run(
        f"{sys.executable} -m animlib ls {tmp_path} >&-",
        shell=True,
        capture_output=False,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
        timeout=120,
    )
    assert proc.stderr.strip() == "error: standard output is closed", proc.stderr
    assert proc.returncode == 1


def test_the_demo_refuses_a_run_folder_before_training(tmp_path, capsys):
    run = tmp_path / write_run(tmp_path, "a", steps=1)
    before = sorted(p.name for p in run.iterdir())
    assert main(["demo", str(run), "--quiet"]) == 1
    assert "is a run folder, not a results folder" in capsys.readouterr().err
    assert sorted(p.name for p in run.iterdir()) == before


def test_the_demo_into_a_file_says_it_is_a_file_not_a_folder(tmp_path, capsys):
    """It said "error: url: cannot be accessed (FileExistsError: ...)", after training."""
    file = tmp_path / "t1.py"
    file.write_text("x")
    assert main(["demo", str(file), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err == f"error: root: cannot start run 'demo' in {file}: is a file, not a folder\n"
    assert file.read_text() == "x"


def test_a_render_option_spelled_otherwise_or_without_a_flag_is_named(tmp_path, capsys):
    """``--top_k 5`` and ``--max-height-px 300`` read "top_k: ... got None"."""
    run = str(tmp_path / write_run(tmp_path, "a", steps=2))
    assert main(["render", run, str(tmp_path / "x.gif"), "--top_k", "5"]) == 2
    assert capsys.readouterr().err == "error: no option --top_k: did you mean --top-k?\n"
    with pytest.raises(SystemExit) as exit_:
        main(["render", run, str(tmp_path / "x.gif"), "--max-height-px", "300"])
    assert exit_.value.code == 2
    assert "unrecognized arguments: --max-height-px 300" in capsys.readouterr().err


def test_options_of_render_all_on_one_run_are_refused_not_ignored(tmp_path, capsys):
    """``render RUN out.mp4 --format gif`` wrote an MP4 without a word."""
    run = str(tmp_path / write_run(tmp_path, "a", steps=2))
    assert main(["render", run, str(tmp_path / "x.mp4"), "--format", "gif"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --format applies only with --all") and "OUT.gif" in err
    assert main(["render", run, str(tmp_path / "x.mp4"), "--workers", "2", "--force"]) == 2
    assert capsys.readouterr().err == "error: --workers, --force apply only with --all\n"
    assert main(["render", run, str(tmp_path / "x.mp4"), "--workers", "0"]) == 2  # (0 == False)
    assert capsys.readouterr().err == "error: --workers applies only with --all\n"
    assert not (tmp_path / "x.mp4").exists()


def test_the_dpi_range_named_is_the_one_in_force(tmp_path, capsys, monkeypatch):
    """ "must be a number in [20, 10000]" beside "5000 dpi is above the limit of 400", with
    two exit codes for one kind of mistake."""
    run = str(tmp_path / write_run(tmp_path, "a", steps=2))
    assert main(["render", run, str(tmp_path / "x.mp4"), "--dpi", "-1"]) == 2
    err = capsys.readouterr().err
    assert "dpi: must be a number in [20, 400] (the top: ANIMLIB_MAX_DPI); got -1" in err
    assert main(["render", run, str(tmp_path / "x.mp4"), "--dpi", "5000"]) == 2
    assert "5000 dpi is above the limit of 400 (ANIMLIB_MAX_DPI)" in capsys.readouterr().err
    monkeypatch.setenv("ANIMLIB_MAX_DPI", "600")
    assert main(["render", run, str(tmp_path / "x.mp4"), "--dpi", "10"]) == 2
    assert "[20, 600] (the top: ANIMLIB_MAX_DPI)" in capsys.readouterr().err


def test_an_unknown_flag_lists_the_flags_to_type(tmp_path, capsys):
    run = str(tmp_path / write_run(tmp_path, "a", steps=2))
    assert main(["render", run, str(tmp_path / "x.mp4"), "--frobnicate", "3"]) == 2
    err = capsys.readouterr().err
    assert "frobnicate: unknown render option" in err
    assert "(option --frobnicate; as flags: --fps, --dpi, --stride, --top-k," in err


def test_ctrl_c_is_one_line_and_exit_130(tmp_path, capsys, monkeypatch):
    """A Ctrl-C during a render printed a 30-line traceback."""
    from animlib import cli

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setitem(cli.COMMANDS, "ls", interrupted)
    assert main(["ls", str(tmp_path)]) == 130
    assert capsys.readouterr().err == "interrupted\n"


def test_version_and_a_full_disk_are_one_line(tmp_path, capsys):
    """No --version; ``ls --json > /dev/full`` ended in a traceback."""
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0 and capsys.readouterr().out == f"animlib {animlib.__version__}\n"
    if not os.path.exists("/dev/full"):
        return
    write_run(tmp_path, "a", steps=1)
    proc = subprocess.run(
        f"{sys.executable} -m animlib ls --json {tmp_path} > /dev/full",
        shell=True,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
        timeout=120,
    )
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().startswith("error: [Errno 28] No space left on device")


def test_a_run_id_given_to_the_python_api_names_the_run_folder(tmp_path, monkeypatch):
    """``animlib.open_run("ID")`` (as the CLI takes it) said only "no such run folder"; where
    the results folder holds a run of that id, the error gives its path."""
    run_id = write_run(tmp_path / "results", "pgd-img3", steps=1)
    (tmp_path / run_id[:-1]).mkdir()  # (a folder of a near name here: the run is named first)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ANIMLIB_RUNS", "results")
    for call in (animlib.open_run, lambda r: animlib.render(r, tmp_path / "x.mp4")):
        with pytest.raises(animlib.RunFormatError) as err:
            call(run_id)
        assert f"results folder holds this run: 'results/{run_id}'" in str(err.value)
    with pytest.raises(animlib.RunFormatError) as err:
        animlib.open_run("no-such-id")
    assert "results folder" not in str(err.value)


def test_a_mistyped_folder_gets_a_did_you_mean(tmp_path, capsys):
    run_id = write_run(tmp_path, "bim-eps0.01-digits4", steps=1)
    typo = str(tmp_path / run_id[:-2])  # "...digit" for "...digits4"
    assert main(["render", typo, str(tmp_path / "x.gif"), "--no-cache"]) == 2
    assert f"no such run folder (did you mean {run_id}?)" in capsys.readouterr().err
    assert main(["validate", typo]) == 2
    assert f"no such run folder or results folder (did you mean {run_id}?)" in (
        capsys.readouterr().err
    )
    assert main(["ls", str(tmp_path / "nothing-like-it")]) == 2
    assert "did you mean" not in capsys.readouterr().err


def test_render_and_validate_take_a_run_id_in_the_results_folder(tmp_path, capsys, monkeypatch):
    """PRODUCT.md: "deep links and the CLI use the id"; ``render ID -o x.mp4`` and ``validate
    ID`` said "no such run folder" with $ANIMLIB_RUNS set."""
    runs, here = tmp_path / "lab", tmp_path / "cwd"
    here.mkdir()
    a, b = (write_run(runs, name, steps=2) for name in ("a", "b"))
    monkeypatch.chdir(here)
    monkeypatch.setenv("ANIMLIB_RUNS", str(runs))
    assert main(["render", a, "-o", str(here / "a.gif"), "--no-cache"]) == 0
    assert (here / "a.gif").stat().st_size > 0
    assert main(["render", a, b, "-o", str(here / "ab.gif"), "--no-cache"]) == 0
    assert main(["render", a, b]) == 2  # (b, a run id, is no output file)
    assert "a comparison of 2 runs needs its file as -o OUT.mp4" in capsys.readouterr().err
    assert main(["validate", a]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"OK      {a}  (2 steps, finished)",
        "1 ok, 0 broken",
    ]
    assert main(["render", "nope", "-o", "x.gif"]) == 2  # (a usage error, as tag and rm say)
    err = capsys.readouterr().err
    assert err == (f"error: run 'nope': path: no such run folder here ({here / 'nope'}), nor in "
                   f"the results folder {runs} ($ANIMLIB_RUNS)\n")  # fmt: skip
    (here / a).mkdir()  # a folder here of that name is what the path names (empty: no runs)
    assert main(["validate", a]) == 0
    captured = capsys.readouterr()
    assert (captured.out, captured.err) == ("0 ok, 0 broken\n", f"note: no runs in {a}\n")
    monkeypatch.delenv("ANIMLIB_RUNS")
    assert main(["validate", b]) == 2
    assert (
        "nor in the results folder runs (the default; set $ANIMLIB_RUNS" in capsys.readouterr().err
    )


def test_validate_help_says_it_takes_a_run_id(capsys, monkeypatch):
    """README: ``validate RUN  # a run folder, or a run id in $ANIMLIB_RUNS``; --help said
    "a run folder or a results folder" only."""
    monkeypatch.delenv("ANIMLIB_RUNS", raising=False)
    monkeypatch.setenv("COLUMNS", "200")  # (argparse's wrapping)
    with pytest.raises(SystemExit) as done:
        main(["validate", "--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert "a run folder, a results folder, or a run id in the results folder " in out
    assert "($ANIMLIB_RUNS, else runs)" in out


def test_a_run_id_is_found_in_a_results_folder_given_with_a_tilde(tmp_path, capsys, monkeypatch):
    """``ANIMLIB_RUNS="~/runs"`` (a .env file, a systemd unit: no shell expands it) worked for
    ``ls`` but ``validate ID`` and ``render ID`` said "no such run" naming that folder."""
    home, here = tmp_path / "home", tmp_path / "cwd"
    here.mkdir()
    a = write_run(home / "lab", "a", steps=2)
    monkeypatch.chdir(here)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("ANIMLIB_RUNS", "~/lab")
    assert main(["ls"]) == 0
    assert capsys.readouterr().out.splitlines()[1].startswith(a)
    assert main(["validate", a]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"OK      {a}  (2 steps, finished)",
        "1 ok, 0 broken",
    ]
    assert main(["render", a, "-o", str(here / "a.gif"), "--no-cache"]) == 0
    assert (here / "a.gif").stat().st_size > 0


def test_an_output_file_name_stays_the_output_even_if_a_run_has_that_id(
    tmp_path, capsys, monkeypatch
):
    """``render alpha a.mp4`` was refused ("a comparison of 2 runs needs its file as -o") when
    the results folder held a run with the id ``a.mp4``: a name with an output suffix is the
    output unless a run folder here has that name."""
    runs, here = tmp_path / "lab", tmp_path / "cwd"
    here.mkdir()
    a = write_run(runs, "alpha", steps=2)
    write_run(runs, "a.gif", steps=2)
    monkeypatch.chdir(here)
    monkeypatch.setenv("ANIMLIB_RUNS", str(runs))
    assert main(["render", a, "a.gif", "-o", "ab.gif", "--no-cache"]) == 0  # with -o: a run
    assert main(["render", a, "a.gif", "--no-cache"]) == 0
    assert (here / "a.gif").stat().st_size > 0


def test_validate_of_a_missing_results_folder_says_so(tmp_path, capsys, monkeypatch):
    """``validate runs`` in a folder without ``runs`` read "run 'runs': no such run folder here
    …, nor in the results folder runs": a results folder called a run, looked for in itself."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ANIMLIB_RUNS", raising=False)
    assert main(["validate", "runs"]) == 2
    assert capsys.readouterr().err == f"error: {tmp_path / 'runs'}: results folder does not exist\n"
    assert main(["validate", "results"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {tmp_path / 'results'}: no such run folder or results folder")
    assert "nor in the results folder runs (the default" in err and "run 'results'" not in err


def test_summary_notes_images_misclassified_before_the_attack(tmp_path, capsys):
    """An experiment's "success" counted an image the model got wrong unattacked (flip step
    0); the dashboard said so, the CLI did not."""
    sure = [[0.9, 0.05, 0.05], [0.9, 0.05, 0.05]]  # sample 1 (true class 1) is wrong already
    with animlib.BatchWriter(tmp_path, experiment="e", class_names=["a", "b", "c"],
                             true_labels=[0, 1]) as w:  # fmt: skip
        for step in range(2):
            w.log(images=np.full((2, 4, 4, 3), step / 4, np.float32), confidences=sure)
    assert main(["summary", str(tmp_path)]) == 0
    err = capsys.readouterr().err
    assert "note: images misclassified before the attack in e (1 of 2): an untargeted" in err
    assert "a targeted one only where the model already predicted the target" in err


def test_a_dpi_limit_below_the_lowest_dpi_is_said_to_be_the_problem(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("ANIMLIB_CACHE", str(tmp_path / ".cache"))  # (the session's may hold it)
    run = str(tmp_path / write_run(tmp_path, "a", steps=2))
    monkeypatch.setenv("ANIMLIB_MAX_DPI", "10")  # it read "must be a number in [20, 10]"
    assert main(["render", run, str(tmp_path / "x.mp4"), "--dpi", "5"]) == 2
    assert (
        "ANIMLIB_MAX_DPI=10 is below the lowest dpi, 20: raise it (got 5)"
        in capsys.readouterr().err
    )
    assert main(["render", run, str(tmp_path / "x.mp4")]) == 2  # the default dpi, 100
    assert "which is below the lowest dpi, 20: raise it" in capsys.readouterr().err


def test_dask_workers_leave_a_ctrl_c_to_the_render_that_started_them():
    """Each local worker printed a KeyboardInterrupt traceback on a terminal's Ctrl-C (it
    reaches the whole process group); the parent, which closes them, says "interrupted"."""
    from animlib import bulk

    seen = {}
    bulk._local_cluster(lambda **kw: seen.update(kw), 2)
    assert seen["preload"] == ["animlib.dask_quiet"] and seen["n_workers"] == 2
    code = (
        "import signal, animlib.dask_quiet as q; q.dask_setup(None); "
        "print(signal.getsignal(signal.SIGINT) is signal.SIG_IGN)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV)
    assert out.stdout.strip() == "True", out.stderr


def test_summary_numbers_read_as_numbers():
    """4 significant digits made a flip step of 10234 read 1.023e+04."""
    from animlib.cli_summary import _number

    got = [_number(v) for v in (10234.0, 0.0625, 1.0, 2.5, 10234.5, 1 / 3)]
    assert got == ["10234", "0.0625", "1", "2.5", "10234.5", "0.3333"]


def test_summary_says_when_a_group_counts_a_rerun_of_the_same_images(tmp_path, capsys):
    """A rerun with if_exists="new" (pgd-2 beside pgd) was summed into one --by attack group
    with n twice the images, and nothing said so; an ε sweep over the same images is no
    rerun (each ε attacks them differently) and gets no note."""
    x = np.random.default_rng(0).random((2, 4, 4, 3)).astype(np.float32)
    for exp, eps in (("pgd", 0.1), ("pgd", 0.1), ("pgd-wide", 0.2)):
        with animlib.BatchWriter(tmp_path, experiment=exp, attack="PGD", class_names=["a", "b"],
                                 true_labels=[0, 0], originals=x, params={"eps": eps},
                                 layout="HWC") as w:  # fmt: skip
            w.log(images=x, confidences=[[0.9, 0.1], [0.2, 0.8]])
    assert main(["summary", str(tmp_path), "--by", "attack"]) == 0
    err = capsys.readouterr().err
    assert "note: groups holding reruns" in err and "PGD (2 images in pgd, pgd-2)" in err
    assert main(["summary", str(tmp_path), "--by", "attack,params.eps"]) == 0
    assert "PGD 0.1 (2 images in pgd, pgd-2)" in capsys.readouterr().err
    assert main(["summary", str(tmp_path), "--by", "model"]) == 0  # (none logged: "None")
    assert "more than once: (none) (2 images in pgd, pgd-2)" in capsys.readouterr().err
    for by in (["--by", "experiment"], ["--by", "params.eps,experiment"]):
        assert main(["summary", str(tmp_path), *by]) == 0
        assert "reruns" not in capsys.readouterr().err
    with animlib.BatchWriter(tmp_path, experiment="pgd-t", attack="PGD", class_names=["a", "b"],
                             true_labels=[0, 0], target_labels=[1, 1], originals=x,
                             params={"eps": 0.2}, layout="HWC") as w:  # fmt: skip
        w.log(images=x, confidences=[[0.9, 0.1], [0.2, 0.8]])
    assert main(["summary", str(tmp_path), "--by", "params.eps"]) == 0
    assert "pgd-t" not in capsys.readouterr().err  # targeted: another attack, no rerun
    (tmp_path / "pgd-2-0000").rename(tmp_path / ".gone-0")  # (hidden: not listed)
    (tmp_path / "pgd-2-0001").rename(tmp_path / ".gone-1")
    assert main(["summary", str(tmp_path), "--by", "attack"]) == 0
    assert "reruns" not in capsys.readouterr().err  # the sweep alone: no note


def test_summary_json_holds_what_run_json_holds(tmp_path, capsys):
    """--json gave "" for an attack run.json holds as null, and --by params a JSON-encoded
    string (while --by tags gave a list); the table stays as it was."""
    import json

    for exp, attack, params in (("noconf", None, {"eps": 0.1, "opt": {"lr": 1}}),
                                ("pgd", "PGD", {"eps": 0.2})):  # fmt: skip
        with animlib.BatchWriter(tmp_path, experiment=exp, attack=attack, params=params,
                                 class_names=["a", "b"], true_labels=[0, 1],
                                 tags=["t", exp]) as w:  # fmt: skip
            w.log(images=np.zeros((2, 4, 4)), confidences=[[0.9, 0.1], [0.9, 0.1]])

    def rows(*by):
        assert main(["summary", str(tmp_path), *by, "--json"]) == 0
        return json.loads(capsys.readouterr().out)

    assert {r["experiment"]: r["attack"] for r in rows()} == {"noconf": None, "pgd": "PGD"}
    got = [(r["attack"], r["params"]) for r in rows("--by", "attack,params")]
    assert got == [("PGD", {"eps": 0.2}), (None, {"eps": 0.1, "opt": {"lr": 1}})]
    assert [r["params.opt"] for r in rows("--by", "params.opt")] == [{"lr": 1}, None]
    assert [r["tags"] for r in rows("--by", "tags")] == [["t", "noconf"], ["t", "pgd"]]
    assert main(["summary", str(tmp_path)]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[1].split()[:3] == ["noconf", "0.1", "finished"]  # (the attack blank)
    assert main(["summary", str(tmp_path), "--by", "params"]) == 0
    assert '{"eps": 0.1, "opt": {"lr": 1}}' in capsys.readouterr().out


def test_a_file_url_as_the_output_is_that_file(tmp_path, monkeypatch):
    """``render RUN file:///abs/x.mp4`` wrote into a folder named ``file:`` in the current one."""
    monkeypatch.chdir(tmp_path)
    run = str(tmp_path / "runs" / write_run(tmp_path / "runs", "a", steps=2))
    out = tmp_path / "out"
    out.mkdir()
    assert main(["render", run, f"file://{out}/a.gif", "--no-cache"]) == 0
    assert animlib.render(run, f"file://{out}/b.gif") == out / "b.gif"
    assert sorted(p.name for p in out.iterdir()) == ["a.gif", "b.gif"]
    assert not (tmp_path / "file:").exists()


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["render", "pgd", "--runs", "runs", "-o", "x.mp4"], "give the run's folder (FOLDER/ID)"),
        (["rm", "pgd", "--runs=runs"], "rm looks a run id up in the results folder"),
        (["ls", "--runs", "runs"], "animlib ls FOLDER"),
        (["summary", "--results", "runs"], "animlib summary FOLDER"),
    ],
)
def test_the_dashboards_runs_flag_says_where_the_folder_goes(argv, says, capsys):
    """``--runs`` is the dashboard's flag: a command given it says how it takes the folder
    (render read "runs: unknown render option", ls "unrecognized arguments")."""
    assert main(argv) == 2
    flag = next(a for a in argv if a.startswith("--")).split("=")[0]
    err = capsys.readouterr().err
    assert err.startswith(f"error: no option {flag}: ")
    assert says in err


@pytest.mark.parametrize(
    "exc",
    [
        MemoryError("Unable to allocate 1.00 MiB for an array with shape (512, 512, 4)"),
        RuntimeError("can't start new thread"),
    ],
)
def test_running_out_of_memory_is_one_line_not_a_traceback(tmp_path, capsys, monkeypatch, exc):
    """``render`` under ``ulimit -v`` ended in numpy's 37-line MemoryError traceback (or
    threading's RuntimeError a little lower)."""
    from animlib import cli

    def short_of_memory(args):
        raise exc

    monkeypatch.setitem(cli.COMMANDS, "ls", short_of_memory)
    assert main(["ls", str(tmp_path)]) == 1
    assert capsys.readouterr().err == f"error: out of memory ({exc}): ls needs more\n"

    def other(args):
        raise RuntimeError("a bug")

    monkeypatch.setitem(cli.COMMANDS, "ls", other)
    with pytest.raises(RuntimeError, match="a bug"):
        main(["ls", str(tmp_path)])


def test_sigterm_ends_a_render_as_ctrl_c_does(tmp_path):
    """``timeout`` (SIGTERM) during ``render`` left the hidden partial video for good, and
    ffmpeg writing it after the command died; Ctrl-C removed it."""
    import signal
    import subprocess
    import sys
    import time

    run_id = write_run(tmp_path / "runs", "long", steps=600, shape=(96, 96, 3))
    out = tmp_path / "out"
    out.mkdir()
    cmd = [sys.executable, "-m", "animlib", "render", str(tmp_path / "runs" / run_id)]
    proc = subprocess.Popen([*cmd, "-o", str(out / "x.mp4"), "--no-cache"], stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not any(out.iterdir()) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert proc.poll() is None, "the render ended before it could be stopped"
    time.sleep(0.3)
    proc.send_signal(signal.SIGTERM)
    code, err = proc.wait(timeout=60), proc.stderr.read().decode(errors="replace")
    assert code == 143 and "Traceback" not in err, (code, err[-2000:])
    deadline = time.monotonic() + 3  # (an orphaned ffmpeg would go on writing)
    while any(out.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert list(out.iterdir()) == []


def test_ls_json_warns_of_a_sort_by_a_parameter_no_run_has(tmp_path, capsys):
    """Text mode warned of ``--sort params.epz``; ``--json`` was silently in no order."""
    write_run(tmp_path, "a", params={"eps": 0.1})
    assert main(["ls", str(tmp_path), "--json", "--sort", "params.epz"]) == 0
    out, err = capsys.readouterr()
    assert len(json.loads(out)) == 1 and "has the parameter epz" in err


def test_a_run_or_folder_named_that_does_not_exist_exits_2_from_every_command(
    tmp_path, capsys, monkeypatch
):
    """``tag`` and ``rm`` exited 2 for a missing run, ``render`` and ``validate`` 1, ``ls``
    of a missing folder 1: a script could not tell "no such run" from "the run is broken"."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ANIMLIB_RUNS", raising=False)
    run_id = write_run(tmp_path / "runs", "pgd-img1", steps=2)
    calls = [
        ["render", "runs/pgd-img", "-o", "x.gif"],
        ["render", "pgd-img", "-o", "x.gif", "--no-cache"],
        ["validate", "runs/pgd-img"],
        ["validate", "nothing"],
        ["ls", "nothing"],
        ["summary", "nothing"],
        ["outcomes", "nothing"],
        ["tag", "runs/pgd-img", "--add", "x"],
        ["rm", "runs/pgd-img", "--yes"],
        ["tag", "elsewhere/pgd-img1", "--add", "x"],  # (a path to nothing: no failed retag)
        ["rm", "elsewhere/pgd-img1", "--yes"],
        ["ls", "runs", "--experiment", "typo"],
    ]
    for argv in calls:
        assert main(argv) == 2, argv
        assert capsys.readouterr().err.startswith("error: "), argv
    assert main(["validate", f"runs/{run_id}"]) == 0  # (and a broken run is still 1)
    (tmp_path / "runs" / run_id / "run.json").write_text("{")
    assert main(["validate", f"runs/{run_id}"]) == 1


def test_a_missing_path_into_the_results_folder_is_named_as_typed(tmp_path, capsys, monkeypatch):
    """``validate runs/TYPO`` said "results folder does not exist" (it is neither), and
    ``tag``/``rm runs/TYPO`` "no such run folder here (/cwd/TYPO)", a path never typed."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ANIMLIB_RUNS", raising=False)
    run_id = write_run(tmp_path / "runs", "pgd-img1", steps=2)
    typo = f"runs/{run_id[:-1]}"
    assert main(["validate", typo]) == 2
    err = capsys.readouterr().err
    assert err == (f"error: {tmp_path / typo}: no such run folder or results folder "
                   f"(did you mean {run_id}?)\n")  # fmt: skip
    for argv in (["tag", typo, "--add", "x"], ["rm", typo, "--yes"]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert "no run or experiment of that id in runs" in err, argv
        assert f"did you mean {run_id}?" in err and str(tmp_path / run_id[:-1]) not in err


def test_render_refuses_an_output_folder_that_takes_no_file_before_drawing(tmp_path, capsys):
    """``render RUN -o /proc/x.mp4`` drew every frame, then failed to move the video in."""
    run_id = write_run(tmp_path, "pgd-img1", steps=3)
    progress = []
    for cached in ([], ["--no-cache"]):
        assert main(["render", str(tmp_path / run_id), "-o", "/proc/x.gif", *cached]) == 2
        out, err = capsys.readouterr()
        progress.append(out)
        assert err == "error: path: cannot write in folder /proc (No such file or directory)\n"
    assert progress == ["", ""]  # (no frame drawn: no progress line)
    assert not list(tmp_path.glob("**/*.gif"))
