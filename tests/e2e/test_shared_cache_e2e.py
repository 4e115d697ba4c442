"""Two dashboard processes behind one shared render cache (``ANIMLIB_CACHE=s3://...`` on moto's
S3 server on loopback), as two replicas behind one bucket: a video rendered by one is served by
the other without rendering it, and two downloads of one video at once render it once."""

from __future__ import annotations

import re
from pathlib import Path

import imageio_ffmpeg
import pytest
from conftest import Server, wait_idle
from helpers import s3_fixture, write_run

pytestmark = pytest.mark.e2e
pytest.importorskip("s3fs")
pytest.importorskip("moto.server")

BUCKET = "replicas"


s3 = s3_fixture(BUCKET)  # (module-scoped: one moto server per test module)


@pytest.fixture(scope="module")
def replicas(s3, tmp_path_factory):
    """Two dashboards on runs in the bucket, one shared cache, a local folder each."""
    runs = f"s3://{BUCKET}/runs"
    write_run(runs, "first", steps=9)
    write_run(runs, "second", steps=12)
    servers = []
    for name in ("a", "b"):
        local = tmp_path_factory.mktemp(f"replica-{name}")
        env = {**s3, "ANIMLIB_CACHE": f"s3://{BUCKET}/cache", "ANIMLIB_CACHE_LOCAL": str(local)}
        servers.append(Server(runs, local, env=env))
    yield servers
    for server in servers:
        server.stop()


def log_lines(server: Server, pattern: str) -> list[str]:
    server.log.flush()
    text = Path(server.log.name).read_text(errors="replace")
    return [line for line in text.splitlines() if re.search(pattern, line)]


def open_viewer(page, server: Server, run_id: str) -> None:
    page.goto(f"{server.url}/viewer?run={run_id}")
    wait_idle(page, timeout=120_000)


def test_the_second_dashboard_serves_the_video_the_first_rendered(page, replicas, tmp_path):
    a, b = replicas
    files = []
    for server in (a, b):
        open_viewer(page, server, "first")
        with page.expect_download(timeout=120_000) as info:
            page.get_by_role("button", name="MP4 video").click()
        target = tmp_path / f"{server.port}.mp4"
        info.value.save_as(target)
        files.append(target)
    assert files[0].read_bytes() == files[1].read_bytes()
    assert imageio_ffmpeg.count_frames_and_secs(str(files[1]))[0] == 9
    assert len(log_lines(a, r"animlib\.cache: rendered \w+\.mp4")) == 1
    assert log_lines(b, r"animlib\.cache: rendered") == [], "the second dashboard rendered"
    assert len(log_lines(b, r"animlib\.cache: served \w+\.mp4 from the shared cache")) == 1


def test_two_dashboards_downloading_one_video_at_once_render_it_once(
    page, chromium_browser, replicas, tmp_path
):
    a, b = replicas
    other = chromium_browser.new_context(accept_downloads=True).new_page()
    try:
        open_viewer(page, a, "second")
        open_viewer(other, b, "second")
        before = [len(log_lines(s, r"animlib\.cache: rendered")) for s in (a, b)]
        with page.expect_download(timeout=120_000) as one:
            with other.expect_download(timeout=120_000) as two:
                page.get_by_role("button", name="MP4 video").click()
                other.get_by_role("button", name="MP4 video").click()
        one.value.save_as(tmp_path / "one.mp4")
        two.value.save_as(tmp_path / "two.mp4")
    finally:
        other.context.close()
    assert (tmp_path / "one.mp4").read_bytes() == (tmp_path / "two.mp4").read_bytes()
    after = [len(log_lines(s, r"animlib\.cache: rendered")) for s in (a, b)]
    assert sum(after) - sum(before) == 1, (before, after)
