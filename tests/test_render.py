import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from audiospec_utils.exceptions import DatasetError, ParameterError
from audiospec_utils.features.render import image_name, read_manifest, render_spectrograms
from audiospec_utils.features import SpectrogramParams

from helpers import tone, write_wav


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "sounds"
    for i in range(4):
        write_wav(root / "low" / f"l{i}.wav", tone(200 + 20 * i, 0.5))
        write_wav(root / "high" / f"h{i}.wav", tone(5000 + 100 * i, 0.4))
    (root / "high" / "broken.wav").write_bytes(b"not audio at all" * 10)
    (root / "high" / "empty.wav").write_bytes(b"")
    write_wav(root / "low" / "silent.wav", np.zeros(4000))
    (root / "low" / "notes.txt").write_text("not audio")
    return root


def test_renders_folder_per_class_and_records_bad_clips(folder, tmp_path):
    out = tmp_path / "specs"
    m = render_spectrograms(folder, out, SpectrogramParams(n_mels=32), progress=False)
    s = m.attrs["summary"]
    assert s["n_clips"] == 11 and s["failed"] == 2 and s["n_images"] == 9 and s["silent"] == 1
    bad = m[m["error"] != ""].set_index("fname")["error"]
    assert "empty file" in bad["empty.wav"] and "not a readable audio file" in bad["broken.wav"]
    ok = m[m["error"] == ""]
    for img in ok["image"]:
        assert Image.open(out / img).size[1] == 32
    assert set(ok["label"]) == {"low", "high"}
    assert read_manifest(out).equals(read_manifest(out))
    assert json.loads((out / "params.json").read_text())["n_mels"] == 32
    assert not (out / "manifest.partial.jsonl").exists()


def test_second_run_does_no_work(folder, tmp_path):
    out = tmp_path / "specs"
    render_spectrograms(folder, out, progress=False)
    mtimes = {p: p.stat().st_mtime_ns for p in (out / "images").rglob("*.png")}
    m2 = render_spectrograms(folder, out, progress=False)
    assert m2.attrs["summary"]["rendered"] == 0 and m2.attrs["summary"]["already_done"] == 11
    assert {p: p.stat().st_mtime_ns for p in (out / "images").rglob("*.png")} == mtimes


def test_deleted_image_is_rendered_again(folder, tmp_path):
    out = tmp_path / "specs"
    render_spectrograms(folder, out, progress=False)
    (out / "images" / "low" / "l0.png").unlink()
    m = render_spectrograms(folder, out, progress=False)
    assert m.attrs["summary"]["rendered"] == 1 and (out / "images" / "low" / "l0.png").is_file()


def test_fixed_failed_file_is_retried(folder, tmp_path):
    out = tmp_path / "specs"
    render_spectrograms(folder, out, progress=False)
    write_wav(folder / "high" / "empty.wav", tone(6000, 0.3))  # the file is complete now
    m = render_spectrograms(folder, out, progress=False)
    row = m.set_index("fname").loc["empty.wav"]
    assert row["error"] == "" and (out / row["image"]).is_file()


def test_other_parameters_are_refused_not_mixed(folder, tmp_path):
    out = tmp_path / "specs"
    render_spectrograms(folder, out, SpectrogramParams(n_mels=64), progress=False)
    with pytest.raises(ParameterError, match="n_mels 64 -> 32"):
        render_spectrograms(folder, out, SpectrogramParams(n_mels=32), progress=False)


def test_windows_policy_gives_one_image_per_window(tmp_path):
    root = tmp_path / "s"
    write_wav(root / "a" / "long.wav", tone(440, 2.5))
    write_wav(root / "b" / "short.wav", tone(880, 0.3))
    m = render_spectrograms(root, tmp_path / "o", SpectrogramParams(clip_policy="windows", duration=1.0), progress=False)
    assert list(m.loc[m["clip_id"] == "a/long", "window"]) == [0, 1, 2]
    assert list(m.loc[m["clip_id"] == "a/long", "image"]) == [f"images/a/long__w00{i}.png" for i in range(3)]
    assert len(m[m["clip_id"] == "b/short"]) == 1


def test_duplicate_clip_ids_are_refused(tmp_path):
    p = write_wav(tmp_path / "a.wav", tone())
    table = pd.DataFrame({"clip_id": ["x", "x"], "fname": ["a.wav"] * 2, "path": [str(p)] * 2,
                          "label": ["l", "l"], "split": ["train"] * 2})
    with pytest.raises(DatasetError, match="twice"):
        render_spectrograms(table, tmp_path / "o", progress=False)


def test_image_name_cannot_escape_the_folder():
    assert image_name("../../etc/passwd") == "images/__/__/etc/passwd.png"
    assert image_name("a/b", 2) == "images/a/b__w002.png"


def test_killed_render_continues_and_leaves_only_valid_images(tmp_path):
    root = tmp_path / "many"
    for i in range(120):
        write_wav(root / ("a" if i % 2 else "b") / f"c{i:03d}.wav", tone(300 + 7 * i, 1.5))
    out = tmp_path / "specs"
    cmd = [sys.executable, "-m", "audiospec_utils", "-q", "render", str(root), "--out", str(out), "--jobs", "1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    partial = out / "manifest.partial.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline:
        if partial.exists() and len(partial.read_text().splitlines()) >= 10:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (out / "manifest.csv").exists(), "the render finished before it could be killed"
    n_before = len(list((out / "images").rglob("*.png")))
    assert 10 <= n_before < 120
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "already done" in done.stdout
    m = read_manifest(out)
    assert len(m) == 120 and (m["error"] == "").all()
    for img in m["image"]:
        Image.open(out / img).verify()
    leftovers = [p for p in (out / "images").rglob("*") if p.is_file() and not p.name.endswith(".png")]
    assert leftovers == []


def test_folder_rendered_before_the_new_parameters_still_counts_as_the_same(folder, tmp_path):
    out = tmp_path / "specs"
    render_spectrograms(folder, out, progress=False)
    pfile = out / "params.json"
    old = json.loads(pfile.read_text())
    for key in ("kind", "n_mfcc", "channels", "width"):  # what a params.json of an earlier version holds
        del old[key]
    pfile.write_text(json.dumps(old))
    m = render_spectrograms(folder, out, progress=False)
    assert m.attrs["summary"]["rendered"] == 0 and m.attrs["summary"]["already_done"] == 11
    with pytest.raises(ParameterError, match="kind 'logmel' -> 'mfcc'"):
        render_spectrograms(folder, out, SpectrogramParams(kind="mfcc"), progress=False)
    with pytest.raises(ParameterError, match="width None -> 64"):
        render_spectrograms(folder, out, SpectrogramParams(width=64), progress=False)


def test_each_kind_renders_its_own_images(folder, tmp_path):
    heights = {"stft": 1025, "mfcc": 20, "chroma": 12}
    for kind, height in heights.items():
        m = render_spectrograms(folder, tmp_path / kind, SpectrogramParams(kind=kind, width=48), progress=False)
        ok = m[m["error"] == ""]
        assert len(ok) == 9
        assert {Image.open(tmp_path / kind / img).size for img in ok["image"]} == {(48, height)}
    stacked = render_spectrograms(folder, tmp_path / "stack", SpectrogramParams(kind="stack", n_mels=32),
                                  progress=False)
    img = Image.open(tmp_path / "stack" / stacked.loc[stacked["error"] == "", "image"].iloc[0])
    assert img.mode == "RGB" and img.size[1] == 32


def test_cli_render_takes_kind_width_and_channels(folder, tmp_path):
    from audiospec_utils.cli import main

    out = tmp_path / "cli"
    assert main(["-q", "render", str(folder), "--out", str(out), "--kind", "stack", "--channels",
                 "logmel,chroma,mfcc", "--n-mels", "24", "--width", "30", "--jobs", "1"]) == 0
    params = json.loads((out / "params.json").read_text())
    assert params["kind"] == "stack" and params["channels"] == ["logmel", "chroma", "mfcc"] and params["width"] == 30
    m = read_manifest(out)
    assert {Image.open(out / i).size for i in m.loc[m["error"] == "", "image"]} == {(30, 24)}
    assert main(["-q", "render", str(folder), "--out", str(tmp_path / "bad"), "--kind", "stack",
                 "--channels", "logmel,delta"]) == 2


def test_workers_return_small_records_only(folder, tmp_path):
    # nothing per clip but a small dict comes back to the main process, so memory stays flat
    from audiospec_utils.features.render import _render_one

    rec = _render_one("low/l0", str(folder / "low" / "l0.wav"), str(tmp_path), SpectrogramParams())
    assert rec["images"] == ["images/low/l0.png"] and rec["error"] == ""
    assert len(json.dumps(rec, default=float)) < 400
    assert all(isinstance(v, (str, int, float, bool, list)) for v in rec.values())
