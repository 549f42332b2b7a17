"""Rendering on a dask.distributed cluster: the same manifest, images, resume and failure records as locally."""

import json
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from audiospec_utils.features import render as render_mod
from audiospec_utils.audio.datasets import load_source
from audiospec_utils.features.render import RenderError, read_manifest, render_spectrograms
from audiospec_utils.features import SpectrogramParams

from helpers import tone, write_wav

distributed = pytest.importorskip("distributed", reason='dask.distributed is not installed (pip install ".[dist]")')

PARAMS = SpectrogramParams(n_mels=32)
COMPARED = ["clip_id", "fname", "label", "split", "path", "image", "window", "duration", "sr", "silent", "error",
            "source_size", "source_mtime"]


@pytest.fixture(scope="module")
def sounds(tmp_path_factory):
    root = tmp_path_factory.mktemp("dask_sounds")
    for i in range(24):
        write_wav(root / ("low" if i % 2 else "high") / f"c{i:02d}.wav", tone(200 + 150 * i, 0.3 + 0.02 * i))
    write_wav(root / "low" / "silent.wav", np.zeros(4000))
    (root / "high" / "broken.wav").write_bytes(b"not audio at all" * 10)
    (root / "high" / "empty.wav").write_bytes(b"")
    return root


@pytest.fixture(scope="module")
def local_render(sounds, tmp_path_factory):
    out = tmp_path_factory.mktemp("local")
    return out, render_spectrograms(sounds, out, PARAMS, n_jobs=1, progress=False)


@pytest.fixture(scope="module")
def process_cluster():
    """Two worker processes of one thread each, as `dask worker` would start them."""
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster, \
            Client(cluster, set_as_default=False) as client:
        yield client


@pytest.fixture(scope="module")
def thread_cluster():
    """Workers in this process, so that monkeypatching the render module reaches them."""
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0") as cluster, \
            Client(cluster, set_as_default=False) as client:
        yield client


def _same_manifest(a: pd.DataFrame, b: pd.DataFrame) -> None:
    key = ["clip_id", "window"]
    a = a[COMPARED].sort_values(key).reset_index(drop=True)
    b = b[COMPARED].sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b, check_dtype=False)


def _same_pixels(dir_a: Path, dir_b: Path, images) -> None:
    for img in images:
        assert np.array_equal(np.asarray(Image.open(dir_a / img)), np.asarray(Image.open(dir_b / img))), img


def test_dask_render_gives_the_local_manifest_and_images(sounds, local_render, process_cluster, tmp_path):
    local_out, local = local_render
    out = tmp_path / "dask"
    m = render_spectrograms(sounds, out, PARAMS, client=process_cluster, progress=False)
    assert m.attrs["summary"] == local.attrs["summary"]
    assert m.attrs["summary"]["failed"] == 2 and m.attrs["summary"]["n_images"] == 25
    _same_manifest(m, local)
    _same_manifest(read_manifest(out), read_manifest(local_out))
    bad = m[m["error"] != ""].set_index("fname")["error"]
    assert "empty file" in bad["empty.wav"] and "not a readable audio file" in bad["broken.wav"]
    _same_pixels(out, local_out, m.loc[m["error"] == "", "image"])
    assert json.loads((out / "params.json").read_text()) == json.loads((local_out / "params.json").read_text())
    assert not (out / "manifest.partial.jsonl").exists()
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == []  # the workers' probe is gone
    assert [p for p in (out / "images").rglob("*") if p.is_file() and p.suffix != ".png"] == []


def test_dask_render_resumes_without_redoing_anything(sounds, local_render, process_cluster, tmp_path):
    table = load_source(sounds)
    out = tmp_path / "dask"
    half = render_spectrograms(table.iloc[::2], out, PARAMS, client=process_cluster, progress=False)
    first = {p: p.stat().st_mtime_ns for p in (out / "images").rglob("*.png")}
    assert len(first) == half.attrs["summary"]["n_images"] > 0
    m = render_spectrograms(table, out, PARAMS, client=process_cluster, progress=False)
    s = m.attrs["summary"]
    assert s["already_done"] == len(half) and s["n_images"] == 25 and s["failed"] == 2
    assert all(p.stat().st_mtime_ns == t for p, t in first.items())
    _same_manifest(m, local_render[1])
    again = render_spectrograms(table, out, PARAMS, client=process_cluster, progress=False)
    assert again.attrs["summary"]["rendered"] == 0 and again.attrs["summary"]["already_done"] == len(table)


def test_killed_dask_render_keeps_what_arrived_and_redoes_none_of_it(process_cluster, tmp_path):
    root = tmp_path / "many"
    for i in range(160):
        write_wav(root / ("a" if i % 2 else "b") / f"c{i:03d}.wav", tone(300 + 7 * i, 1.5))
    out = tmp_path / "specs"
    cmd = [sys.executable, "-m", "audiospec_utils", "-q", "render", str(root), "--out", str(out),
           "--scheduler", process_cluster.scheduler.address]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    partial = out / "manifest.partial.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if partial.exists() and len(partial.read_text().splitlines()) >= 10:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (out / "manifest.csv").exists(), "the render finished before it could be killed"
    logged = [json.loads(line) for line in partial.read_text().splitlines()]
    assert 10 <= len(logged) < 160
    kept = {out / i: (out / i).stat().st_mtime_ns for rec in logged for i in rec["images"]}
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert f"{160 - len(logged)} rendered, {len(logged)} already done" in done.stdout
    assert all(p.stat().st_mtime_ns == t for p, t in kept.items())  # nothing that arrived was redone
    m = read_manifest(out)
    assert len(m) == 160 and (m["error"] == "").all()
    for img in m["image"]:
        Image.open(out / img).verify()


def test_full_disk_on_a_worker_stops_the_render_and_keeps_what_is_done(sounds, thread_cluster, tmp_path,
                                                                       monkeypatch):
    import errno

    real, calls = render_mod.render_clip, []

    def filling_disk(path, paths, params):
        calls.append(path)
        if len(calls) > 6:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(path, paths, params)

    monkeypatch.setattr(render_mod, "render_clip", filling_disk)
    out = tmp_path / "dask"
    with pytest.raises(RenderError, match="No space left on device"):
        render_spectrograms(sounds, out, PARAMS, client=thread_cluster, progress=False)
    assert not (out / "manifest.csv").exists()
    logged = [json.loads(line) for line in (out / "manifest.partial.jsonl").read_text().splitlines()]
    assert len(logged) == 6
    assert [p for p in (out / "images").rglob("*") if p.is_file() and p.suffix != ".png"] == []
    monkeypatch.setattr(render_mod, "render_clip", real)
    m = render_spectrograms(sounds, out, PARAMS, client=thread_cluster, progress=False)
    assert m.attrs["summary"]["already_done"] == 6 and m.attrs["summary"]["n_clips"] == 27


def test_a_clip_that_kills_its_worker_gets_a_record_and_the_batch_goes_on(sounds, thread_cluster, tmp_path,
                                                                          monkeypatch):
    real = render_mod._render_one

    def dies_on_one(clip_id, path, out_dir, params):
        if clip_id == "low/c03":
            raise MemoryError("worker out of memory")
        return real(clip_id, path, out_dir, params)

    monkeypatch.setattr(render_mod, "_render_one", dies_on_one)
    m = render_spectrograms(sounds, tmp_path / "dask", PARAMS, client=thread_cluster, progress=False)
    errors = m.set_index("clip_id")["error"]
    assert "dask worker died" in errors["low/c03"]
    assert (errors != "").sum() == 3 and m.attrs["summary"]["n_images"] == 24


def test_few_tasks_are_in_flight_however_many_clips(thread_cluster, tmp_path, monkeypatch):
    root = tmp_path / "short"
    for i in range(200):
        write_wav(root / "a" / f"c{i:03d}.wav", tone(300 + 5 * i, 0.05), sr=8000)
    in_flight, submit = [], thread_cluster.submit

    def counting_submit(*args, **kwargs):
        fut = submit(*args, **kwargs)
        in_flight.append(sum(not f.done() for f in list(thread_cluster.futures.values())))
        return fut

    monkeypatch.setattr(thread_cluster, "submit", counting_submit)
    m = render_spectrograms(root, tmp_path / "o", PARAMS, client=thread_cluster, progress=False)
    assert m.attrs["summary"]["rendered"] == 200
    assert len(in_flight) > 2 * 2 + 2 and max(in_flight) <= 2 * 2 + 2  # 2 threads: at most 6 tasks at a time


def test_a_worker_that_does_not_see_the_output_folder_is_refused(sounds, thread_cluster, tmp_path, monkeypatch):
    monkeypatch.setattr(render_mod, "_probe_worker", lambda probe, *_: f"cannot read {probe}: No such file")
    with pytest.raises(RenderError, match="paths that every worker sees"):
        render_spectrograms(sounds, tmp_path / "o", PARAMS, client=thread_cluster, progress=False)
    assert not (tmp_path / "o" / "images").exists()


def test_the_worker_probe_says_what_it_does_not_see(sounds, tmp_path):
    probe = tmp_path / "probe"
    probe.write_text("token")
    clip = str(sounds / "low" / "c01.wav")
    assert render_mod._probe_worker(str(probe), "token", clip) == ""
    assert "another file" in render_mod._probe_worker(str(probe), "other", clip)
    assert "cannot read" in render_mod._probe_worker(str(tmp_path / "nowhere"), "token", clip)
    assert "no audio file" in render_mod._probe_worker(str(probe), "token", str(tmp_path / "gone.wav"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_scheduler_is_one_clear_line(sounds, tmp_path, monkeypatch, capfd):
    from audiospec_utils.cli import main

    monkeypatch.setattr(render_mod, "_DASK_CONNECT_TIMEOUT", 1.0)
    address = f"tcp://127.0.0.1:{_free_port()}"
    assert main(["-q", "render", str(sounds), "--out", str(tmp_path / "o"), "--scheduler", address]) == 2
    err = capfd.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and address in err and "cannot reach the dask scheduler" in err
    assert main(["-q", "render", str(sounds), "--out", str(tmp_path / "o"), "--scheduler", "nonsense://x"]) == 2
    err = capfd.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "nonsense://x" in err and "not a dask scheduler address" in err


def test_cli_renders_on_a_dask_scheduler_and_two_dask_workers(sounds, local_render, tmp_path):
    dask_cmd = Path(sys.executable).parent / "dask"
    if not dask_cmd.is_file():
        pytest.skip(f"{dask_cmd} is missing (make install puts it there with the [dist] extra)")
    from distributed import Client

    address = f"tcp://127.0.0.1:{_free_port()}"
    common = ["--no-dashboard"]
    logs = [open(tmp_path / name, "w") for name in ("scheduler.log", "worker0.log", "worker1.log")]
    procs = []
    try:
        procs.append(subprocess.Popen([str(dask_cmd), "scheduler", "--host", "127.0.0.1", "--port",
                                       address.rsplit(":", 1)[1], *common],
                                      stdout=subprocess.DEVNULL, stderr=logs[0]))
        for i in range(2):
            procs.append(subprocess.Popen([str(dask_cmd), "worker", address, "--nthreads", "1", "--host",
                                           "127.0.0.1", "--local-directory", str(tmp_path / f"w{i}"), *common],
                                          stdout=subprocess.DEVNULL, stderr=logs[1 + i]))
        with Client(address, timeout=60, set_as_default=False) as client:
            client.wait_for_workers(2, timeout=60)
        out = tmp_path / "dask"
        done = subprocess.run([sys.executable, "-m", "audiospec_utils", "render", str(sounds), "--out", str(out),
                               "--n-mels", "32", "--scheduler", address],
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        assert "27 clips: 25 rendered, 0 already done, 2 skipped" in done.stdout
        assert "\r" not in done.stderr  # stderr is no terminal here: no redrawn progress bar in the log
        local_out, local = local_render
        _same_manifest(read_manifest(out), local)
        _same_pixels(out, local_out, local.loc[local["error"] == "", "image"])
    finally:
        for p in reversed(procs):  # workers first, then the scheduler
            p.send_signal(signal.SIGTERM)
        for p in reversed(procs):
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        for f in logs:
            f.close()


def test_a_scheduler_without_workers_is_a_clear_error(sounds, tmp_path, monkeypatch):
    from distributed import Client, LocalCluster

    monkeypatch.setattr(render_mod, "_DASK_WORKER_WAIT", 1.0)
    with LocalCluster(n_workers=0, processes=False, dashboard_address=":0") as cluster, \
            Client(cluster, set_as_default=False) as client:
        said = re.escape(f"has no workers: start some with `dask worker {cluster.scheduler_address}`")
        with pytest.raises(RenderError, match=said):
            render_spectrograms(sounds, tmp_path / "o", PARAMS, client=client, progress=False)
