"""Test helpers: deterministic images/probabilities and small runs written via the public API."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import struct
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import animlib

CLASSES = ["cat", "dog", "frog", "ship"]


def probs_for(step: int, k: int = 4) -> np.ndarray:
    """Deterministic probabilities whose argmax moves from class 0 to class 1 over the steps."""
    logits = np.zeros(k)
    logits[0] = 2.0 - 0.25 * step
    logits[1] = 0.25 * step
    return np.exp(logits) / np.exp(logits).sum()


def image_for(step: int, shape=(16, 12, 3)) -> np.ndarray:
    """Deterministic float image for a step (so a reader can check what it sees)."""
    rng = np.random.default_rng(step)
    return rng.random(shape, dtype=np.float32)


def write_run(root, name="r", steps=12, shape=(16, 12, 3), confidences=True, original=True, **kw):
    """Write a small run through the public API and return its id."""
    x0 = image_for(0, shape)
    with animlib.RunWriter(
        root,
        name=name,
        attack=kw.pop("attack", "PGD"),
        model=kw.pop("model", "tiny"),
        class_names=CLASSES if confidences else None,
        true_label=0 if confidences else None,
        original=x0 if original else None,
        **kw,
    ) as w:
        for i in range(steps):
            w.log(image=image_for(i, shape), confidences=probs_for(i) if confidences else None)
    return w.run_id


def moved_experiment(root, name: str, eps: Any, moved=(0.1, 0.1, 0.1)) -> None:
    """An experiment of three 6x6 images, each moved by ``moved`` (L∞) and fooled at its last
    (second) step, with ``params.eps`` = ``eps``."""
    x = np.full((3, 6, 6, 1), 0.5)
    with animlib.BatchWriter(
        root, experiment=name, attack="PGD", class_names=["a", "b"], true_labels=[0] * 3,
        params={"eps": eps}, originals=x,
    ) as w:  # fmt: skip
        w.log(images=x, confidences=np.array([[0.8, 0.2]] * 3))
        w.log(images=x + np.reshape(moved, (3, 1, 1, 1)), confidences=np.array([[0.2, 0.8]] * 3))


def zstd_zeros(nbytes: int) -> bytes:
    """A valid zstd frame of ``nbytes`` zero bytes in a few KB (RLE blocks): what a chunk file
    crafted to exhaust memory looks like (805 MB in 24 KB)."""
    out = bytearray(b"\x28\xb5\x2f\xfd")
    out.append(0b11100000)  # 8-byte content size, single segment
    out += nbytes.to_bytes(8, "little")
    block, left = 128 * 1024, nbytes
    while left > 0:
        size = min(block, left)
        left -= size
        header = (1 if left == 0 else 0) | (1 << 1) | (size << 3)  # an RLE block
        out += header.to_bytes(3, "little") + b"\x00"
    return bytes(out)


def uint8_image(step: int, shape=(16, 12, 3)) -> np.ndarray:
    """The uint8 version of :func:`image_for`."""
    return (image_for(step, shape) * 255).astype(np.uint8)


# -- chunk files, in either layout -----------------------------------------------------------------
def _chunk_coords(key: str) -> tuple[int, ...] | None:
    """The chunk coordinates of a chunk key (relative to its array): flat ``c.1.0.0.0`` (runs
    written today) or nested ``c/1/0/0/0`` (runs written before); None for anything else."""
    for sep in (".", "/"):
        parts = key.split(sep)
        if parts[0] == "c" and len(parts) > 1 and all(p.isdigit() for p in parts[1:]):
            return tuple(int(p) for p in parts[1:])
    return None


def chunk_key(keys: Iterable[str], index: int | tuple[int, ...] = 0) -> str:
    """Among the keys of an array's files (relative to the array folder), the key of the chunk
    ``index``: an int is the chunk along the steps axis (the first along every other axis), a
    tuple the full chunk coordinates. Either layout; AssertionError if there is none."""
    found = []
    for key in keys:
        coords = _chunk_coords(key)
        if coords is None:
            continue
        want = index if isinstance(index, tuple) else (index,) + (0,) * (len(coords) - 1)
        if coords == want:
            found.append(key)
    assert len(found) == 1, f"chunk {index} among {sorted(keys)}"
    return found[0]


def chunk_files(run, array: str) -> list[Path]:
    """Every chunk file of ``array`` in the run folder ``run``, in either layout (a symlink
    counts as a file), sorted."""
    folder = Path(run) / array
    out = []
    for top, _dirs, files in os.walk(folder):
        for name in files:
            path = Path(top) / name
            if _chunk_coords(path.relative_to(folder).as_posix()) is not None:
                out.append(path)
    return sorted(out)


def chunk_file(run, array: str, index: int | tuple[int, ...] = 0) -> Path:
    """The stored chunk file of chunk ``index`` (see :func:`chunk_key`) of ``array`` in the run
    folder ``run``, flat (``images/c.1.0.0.0``) or nested (``images/c/1/0/0/0``)."""
    folder = Path(run) / array
    keys = [p.relative_to(folder).as_posix() for p in chunk_files(run, array)]
    return folder / chunk_key(keys, index)


def chunk_path(run, array: str, coords: tuple[int, ...]) -> Path:
    """Where chunk ``coords`` of ``array`` is stored (stored or not), in the key layout its
    zarr.json names."""
    meta = json.loads((Path(run) / array / "zarr.json").read_text())
    sep = (meta["chunk_key_encoding"].get("configuration") or {}).get("separator", "/")
    return Path(run) / array / sep.join(["c", *map(str, coords)])


def old_layout(run) -> Path:
    """Rewrite the run folder ``run`` (written today) in the layout runs had before the
    ``animlib.steps`` codec, as in the committed ``runs/`` folder: every array stored with
    ``bytes`` + ``zstd`` under nested chunk keys (``images/c/0/0/0/0``). Returns ``run``."""
    import zarr

    import animlib.zarr_codec  # noqa: F401  (reads the animlib.steps images)

    run = Path(run)
    for meta_path in sorted(run.rglob("zarr.json")):
        meta = json.loads(meta_path.read_text())
        if meta.get("node_type") != "array":
            continue
        folder = meta_path.parent
        data = zarr.open_array(store=zarr.storage.LocalStore(folder, read_only=True), mode="r")[...]
        shutil.rmtree(folder)
        arr = zarr.create_array(
            store=zarr.storage.LocalStore(folder),
            shape=data.shape,
            chunks=tuple(meta["chunk_grid"]["configuration"]["chunk_shape"]),
            dtype=data.dtype,
            fill_value=meta["fill_value"],
            compressors=zarr.codecs.ZstdCodec(level=0),
            chunk_key_encoding={"name": "default", "separator": "/"},
            attributes=meta.get("attributes") or {},
            config={"write_empty_chunks": True},
        )
        arr[...] = data
    return run


def steps_chunk_bomb(nbytes: int, frames: int = 1, dtype: str = "float32") -> bytes:
    """An ``animlib.steps`` chunk of ``frames`` steps (valid AST1 header and frame headers) whose
    frames are Blosc frames declaring ``nbytes`` decoded bytes: what a chunk crafted to exhaust
    memory looks like for that codec (a few hundred bytes claiming gigabytes)."""
    blosc = bytearray(16)  # version, versionlz, flags (memcpyed), typesize
    blosc[0:4] = bytes([2, 1, 0x02, 1])
    struct.pack_into("<III", blosc, 4, nbytes, 0, 16 + 256)  # nbytes, blocksize, cbytes
    body = bytes(blosc) + bytes(256)
    kind = 0 if dtype == "uint8" else 1  # U8 or GRID frames (stepcodec)
    frame = struct.pack("<BBBIII", kind, 0, 1, len(body), 0, 0) + body  # no delta, Blosc
    return b"AST1" + struct.pack(f"<I{frames}I", frames, *[len(frame)] * frames) + frame * frames


def s3_fixture(bucket: str) -> Any:
    """A module-scoped pytest fixture: :func:`moto_s3` with ``bucket`` for the module's tests
    (``s3 = s3_fixture(BUCKET)`` in a test module)."""

    @pytest.fixture(scope="module")
    def s3() -> Iterator[dict[str, str]]:
        with moto_s3(bucket) as env:
            yield env

    return s3


@contextlib.contextmanager
def moto_s3(bucket: str) -> Iterator[dict[str, str]]:
    """moto's S3 server on a free loopback port with ``bucket`` created, and the AWS environment
    pointed at it until the block ends (then restored).

    Yields:
        The AWS variables set (``AWS_ENDPOINT_URL`` among them), for child processes.
    """
    import boto3
    import fsspec
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": f"http://{host}:{port}",
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        fsspec.filesystem("s3").clear_instance_cache()
        boto3.client("s3").create_bucket(Bucket=bucket)
        yield env
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        server.stop()


def page_links(at) -> dict[str, str]:
    """The links to the viewer and compare pages an AppTest page shows: label -> relative URL
    as a browser would follow it (``viewer?run=a``, ``compare?runs=a,b``); labels without
    Markdown bold."""
    from urllib.parse import unquote

    return {
        p.proto.label.replace("**", ""): f"{p.proto.page}?{unquote(p.proto.query_string)}"
        for p in at.get("page_link")
        if p.proto.page in ("viewer", "compare")
    }


@contextlib.contextmanager
def writer_of_another_process(opening: str) -> Iterator[int]:
    """A writer another Python process holds open while the block runs: ``opening`` (code with
    ``np`` and ``animlib`` imported) opens it as ``w`` and logs; the block gets that process's
    pid; leaving the block finishes the writer and ends the process."""
    import subprocess
    import sys

    code = (
        f"import sys\nimport numpy as np\nimport animlib\n{opening}\nprint('ready', flush=True)\n"
    )
    code += "sys.stdin.readline()\nw.finish()\n"
    here = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([here, os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        yield proc.pid
    finally:
        proc.communicate("\n", timeout=120)
        assert proc.returncode == 0


class DownloadSlot:
    """A stand-in for ``st`` (or a column) that keeps a download button's deferred data and
    the errors shown under it."""

    def __init__(self):
        self.errors = []

    def download_button(self, label, data, **kw):
        self.data = data

    def error(self, text, **kw):
        self.errors.append(text)
