"""``animate`` in Jupyter: a cell ending in the animation shows it once (its video or JS
player), not also the figure as a still PNG of step 0; in a script the figure stays pyplot's."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
from helpers import write_run  # noqa: E402

import animlib  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
INLINE = "module://matplotlib_inline.backend_inline"


@pytest.fixture
def folders(tmp_path):
    root = tmp_path / "runs"
    return [str(root / write_run(root, name)) for name in ("a", "b")]


def test_in_a_script_the_animation_is_a_pyplot_figure(folders, tmp_path):
    """README: ``plt.show()`` after animate shows it (a window, in a desktop backend)."""
    plt.close("all")
    anim = animlib.animate(folders[0])
    try:
        assert plt.get_fignums() and plt.gcf() is anim.panels.fig
    finally:
        anim.save(tmp_path / "a.gif", writer="pillow")  # (saved: an unused one warns when deleted)
        plt.close("all")


def test_under_the_inline_backend_no_pyplot_figure_is_left_to_show(folders):
    """The inline backend shows every pyplot figure at the end of a cell: the animation's own
    figure came out as a still PNG of step 0 below its video."""
    pytest.importorskip("matplotlib_inline")
    script = textwrap.dedent(f"""
        import matplotlib
        matplotlib.interactive(True)  # (as IPython sets it)
        import matplotlib.pyplot as plt
        from matplotlib_inline import backend_inline
        import animlib
        assert matplotlib.get_backend() == {INLINE!r}, matplotlib.get_backend()
        anim = animlib.animate({folders!r})
        html = anim.to_jshtml()
        anim.save({folders[0] + ".gif"!r}, writer="pillow")
        print(plt.get_fignums(), len(backend_inline.show._to_draw), "<script" in html)
    """)
    env = {"MPLBACKEND": INLINE, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["[]", "0", "True"]
    assert Path(folders[0] + ".gif").stat().st_size > 0


def test_a_notebook_cell_ending_in_animate_shows_the_animation_alone(folders):
    """nbclient runs the cells in a real kernel under ``%matplotlib inline``."""
    pytest.importorskip("ipykernel")
    nbclient, nbformat = pytest.importorskip("nbclient"), pytest.importorskip("nbformat")
    a, b = folders
    cells = [
        f"%matplotlib inline\nimport sys\nsys.path.insert(0, {str(REPO)!r})\n"
        "import matplotlib, animlib\nmatplotlib.rcParams['animation.html'] = 'jshtml'",
        f"animlib.animate({a!r})",
        f"cmp = animlib.animate([{a!r}, {b!r}]); cmp",
        f"matplotlib.rcParams['animation.html'] = 'html5'\nanimlib.animate({b!r})",
        "import matplotlib.pyplot as plt\nplt.plot([1, 2]);",  # a figure of the user's shows
        "print(animlib.__file__)",
    ]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    nbclient.NotebookClient(nb, timeout=240, kernel_name="python3").execute()
    shown = [[out.get("data", {}) for out in cell.outputs] for cell in nb.cells]
    assert nb.cells[5].outputs[0]["text"].startswith(str(REPO / "animlib"))  # (this checkout)
    for cell, marker in ((1, "<script"), (2, "<script"), (3, "<video")):
        assert len(shown[cell]) == 1, [sorted(d) for d in shown[cell]]  # (no image/png too)
        assert marker in shown[cell][0]["text/html"]
    assert [sorted(d) for d in shown[4]] == [["image/png", "text/plain"]]
