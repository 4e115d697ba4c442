"""What a lab is told when S3 is not as expected: a wrong bucket, an empty prefix, a URL without a
bucket, missing credentials, an endpoint that is down (moto's S3 server on loopback)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from helpers import CLASSES, s3_fixture

import animlib
from animlib.cli import main

pytest.importorskip("s3fs")
pytest.importorskip("moto.server")

BUCKET = "lab"


s3 = s3_fixture(BUCKET)  # (module-scoped: one moto server per test module)


def cli(capsys, *argv: str) -> tuple[int, str]:
    """``animlib ARGV`` in this process: exit code, stdout + stderr."""
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out + out.err


def test_a_missing_bucket_is_named_and_an_empty_prefix_has_no_runs(s3, capsys, tmp_path):
    """A wrong bucket read "s3://nosuchbucket/results: results folder does not exist", as did
    an existing bucket's empty prefix (object stores have no empty folders): the first names
    the bucket now, the second is an empty results folder, as an empty local folder is."""
    missing = "s3://nosuchbucket/results"
    with pytest.raises(animlib.AnimlibError, match="bucket 'nosuchbucket' does not exist"):
        animlib.list_runs(missing)
    for command in ("ls", "summary", "validate"):
        code, text = cli(capsys, command, missing)
        assert code == 1 and "bucket 'nosuchbucket' does not exist" in text, (command, text)
        assert "results folder does not exist" not in text
    empty = f"s3://{BUCKET}/not-yet"
    assert animlib.list_runs(empty) == [] and animlib.validate(empty) == []
    assert animlib.list_experiments(empty) == []
    (tmp_path / "empty").mkdir()
    for command in ("ls", "summary", "validate"):  # the same as an empty local folder
        local = cli(capsys, command, str(tmp_path / "empty"))
        assert cli(capsys, command, empty) == (
            local[0],
            local[1].replace(str(tmp_path / "empty"), empty),
        )
    code, text = cli(capsys, "ls", str(tmp_path / "nothing"))  # a local folder must exist
    assert code == 2 and "results folder does not exist" in text


def test_a_url_without_a_bucket_says_so(s3, capsys):
    """``animlib ls s3://`` printed a cut botocore ParamValidationError about "s3::"."""
    with pytest.raises(animlib.AnimlibError, match="names no bucket"):
        animlib.list_runs("s3://")
    code, text = cli(capsys, "ls", "s3://")
    assert code == 1 and "names no bucket" in text and "ParamValidation" not in text, text


def test_the_runs_page_over_an_empty_prefix_and_a_missing_bucket(s3, tmp_path, monkeypatch):
    """The page said "Cannot list runs in s3://lab/results: s3://lab/results: results folder
    does not exist" for a prefix no run was written to yet."""
    from streamlit.testing.v1 import AppTest

    from animlib.ui import md

    app = str(Path(__file__).resolve().parents[1] / "dashboard.py")
    monkeypatch.setenv("ANIMLIB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("ANIMLIB_RUNS", f"s3://{BUCKET}/page-empty")
    at = AppTest.from_file(app, default_timeout=120).run()
    assert not at.exception and not at.error
    assert any(f"No runs in {md(f's3://{BUCKET}/page-empty')} yet" in i.value for i in at.info)
    monkeypatch.setenv("ANIMLIB_RUNS", "s3://nosuchbucket/results")
    at = AppTest.from_file(app, default_timeout=120).run()
    assert not at.exception
    (error,) = at.error
    assert "bucket 'nosuchbucket' does not exist" in error.value
    assert error.value.count(md("s3://nosuchbucket/results")) == 1, error.value


NO_CREDENTIALS = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, {tests!r})
    import numpy as np
    import animlib
    from animlib.bulk import render_all
    from helpers import CLASSES, write_run

    local = {local!r}
    calls = dict(
        runwriter=lambda: animlib.RunWriter("s3://lab/results", name="pgd", class_names=CLASSES),
        batchwriter=lambda: animlib.BatchWriter("s3://lab/results", experiment="sweep").log(
            images=np.zeros((2, 4, 4), np.uint8)),
        render=lambda: animlib.render(local + "/one", "s3://lab/videos/one.gif"),
        render_all=lambda: render_all(local, "s3://lab/videos", use_dask=False),
    )
    write_run(local, "one", steps=2, shape=(8, 8, 3))
    for name in sys.argv[1:]:
        try:
            calls[name]()
        except animlib.AnimlibError as exc:
            print(exc)
        else:
            print("no error")
    """
)


def without_credentials(tmp_path: Path, *calls: str) -> list[str]:
    """What each of ``calls`` (of NO_CREDENTIALS) raised, in a process without AWS credentials."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
    }
    env.update(AWS_SHARED_CREDENTIALS_FILE=os.devnull, AWS_CONFIG_FILE=os.devnull,
               AWS_EC2_METADATA_DISABLED="true", ANIMLIB_CACHE=str(tmp_path / "cache"))  # fmt: skip
    code = NO_CREDENTIALS.format(tests=os.path.dirname(__file__), local=str(tmp_path / "runs"))
    out = subprocess.run(
        [sys.executable, "-c", code, *calls], capture_output=True, text=True, env=env
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    for line in lines:
        assert "bucket 'lab' cannot be accessed (NoCredentialsError" in line, line
        assert "check the credentials" in line and "does not exist" not in line, line
    return lines


def test_rendering_to_a_bucket_without_credentials_does_not_call_it_missing(s3, tmp_path):
    """Without credentials, rendering to s3:// said "bucket 'lab' does not exist": s3fs's
    exists() is False on any error. Only a 404 says that now; else why it cannot be reached."""
    render, render_all = without_credentials(tmp_path, "render", "render_all")
    assert "s3://lab/videos" in render and "s3://lab/videos" in render_all


def test_writers_without_credentials_name_the_url_and_the_run(s3, tmp_path):
    """Without credentials the writers said "run.json: cannot be accessed (NoCredentialsError
    ...)", naming neither the results URL nor the run or experiment being created."""
    writer, batch = without_credentials(tmp_path, "runwriter", "batchwriter")
    assert "cannot start run 'pgd' in s3://lab/results" in writer
    assert "cannot start experiment 'sweep' in s3://lab/results" in batch


def test_a_dead_endpoint_is_reported_without_minutes_of_retries(s3):
    """With the endpoint down botocore's default retries (5 attempts, back-off) took 16-29 s
    before ``ls``/``validate`` said so; animlib's default S3 configuration bounds them, and a
    user's ``config_kwargs`` still win."""
    from animlib.store import open_store

    with socket.socket() as sock:  # a loopback port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    dead = {"client_kwargs": {"endpoint_url": f"http://127.0.0.1:{port}"}}
    started = time.monotonic()
    with pytest.raises(animlib.AnimlibError, match="EndpointConnectionError"):
        animlib.list_runs(f"s3://{BUCKET}/runs", storage_options=dead)
    assert time.monotonic() - started < 9  # botocore's default took 15-20 s here
    with pytest.raises(animlib.AnimlibError, match="bucket 'lab' cannot be accessed .*endpoint"):
        animlib.RunWriter(f"s3://{BUCKET}/runs", name="a", class_names=CLASSES,
                          storage_options=dead)  # fmt: skip
    store = open_store(f"s3://{BUCKET}/x")
    assert store.fs.config_kwargs["retries"]["mode"] == "standard"
    assert store.zarr_store().fs.config_kwargs["retries"]["mode"] == "standard"  # arrays too
    mine = {"config_kwargs": {"retries": {"mode": "legacy", "max_attempts": 9}, "read_timeout": 5}}
    store = open_store(f"s3://{BUCKET}/x", mine)
    assert store.fs.config_kwargs == {
        "retries": {"mode": "legacy", "max_attempts": 9},
        "read_timeout": 5,
    }
    assert mine == {
        "config_kwargs": {"retries": {"mode": "legacy", "max_attempts": 9}, "read_timeout": 5}
    }


def test_a_user_allowed_to_list_one_prefix_only_can_write_and_list_there(s3, monkeypatch):
    """An IAM policy limiting listings to ``team/``: the bucket check listed the whole bucket,
    got AccessDenied and refused every writer ("check the credentials")."""
    from animlib.store import open_store, remote

    fs = open_store(f"s3://{BUCKET}/team/runs").fs
    real = fs._call_s3  # noqa: SLF001 (the one request the policy is about)

    async def policy(method, *args, **kwargs):
        if method == "list_objects_v2" and not kwargs.get("Prefix", "").startswith("team/"):
            raise PermissionError("Access Denied")
        return await real(method, *args, **kwargs)

    monkeypatch.setattr(fs, "_call_s3", policy)
    monkeypatch.setattr(remote, "_BUCKETS_SEEN", set())
    root = f"s3://{BUCKET}/team/runs-{time.time_ns()}"
    assert animlib.list_runs(root) == []  # allowed, empty: no runs (it said "credentials")
    with animlib.RunWriter(root, name="r1", class_names=CLASSES) as w:
        w.log(image=np.zeros((4, 4), np.float32), confidences=[0.25] * 4)
    assert [i.id for i in animlib.list_runs(root)] == ["r1"]
    with pytest.raises(animlib.AnimlibError, match="cannot be accessed .*Access Denied"):
        animlib.list_runs(f"s3://{BUCKET}/other-{time.time_ns()}")  # denied there: said so


def test_a_results_folder_that_is_one_object_is_not_a_folder(s3):
    """``s3://lab/afile`` (an object, not a prefix) listed as an empty folder: "No runs yet"."""
    from animlib.store import open_store

    url = f"s3://{BUCKET}/afile-{time.time_ns()}"
    open_store(f"s3://{BUCKET}").write_atomic(url.rsplit("/", 1)[1], b"not runs")
    with pytest.raises(animlib.AnimlibError, match="is not a folder"):
        animlib.list_runs(url)
