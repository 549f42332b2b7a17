"""The bad-input matrix (docs/bad_input.md): one parametrised test per row.

Each audio case is rendered in a folder next to a good clip; the batch must finish, the good clip
must be rendered, and the case must end as the table says: rendered, rendered and flagged silent,
or skipped with its reason recorded in manifest.csv.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audiospec_utils.audio.datasets import load_source
from audiospec_utils.exceptions import ParameterError
from audiospec_utils.features.render import read_manifest, render_spectrograms
from audiospec_utils.features import SpectrogramParams

from helpers import tone, write_wav

SR = 44100


def _write(path, y, sr=SR, subtype="PCM_16", fmt=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, y, sr, subtype=subtype, format=fmt)


def _truncated(path):
    write_wav(path, tone(440, 1.0))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _mp3_named_wav(path):
    tmp = path.with_suffix(".mp3")
    _write(tmp, tone(440, 1.0), fmt="MP3", subtype="MPEG_LAYER_III")
    tmp.rename(path)


def _float_with(value):
    def make(path):
        y = tone(440, 0.5)
        y[100] = value
        _write(path, y, subtype="FLOAT")
    return make


# case id -> (how to make the file at `path`, expected: "rendered" / "silent" / reason substring)
AUDIO_CASES = {
    "zero-length file": (lambda p: p.write_bytes(b""), "empty file (0 bytes)"),
    "header only": (lambda p: _write(p, np.zeros(0, np.float32)), "no audio samples"),
    "truncated data": (_truncated, "rendered"),
    "random bytes named .wav": (lambda p: p.write_bytes(np.random.default_rng(0).bytes(5000)), "not a readable audio file"),
    "mp3 named .wav": (_mp3_named_wav, "rendered"),
    "text file named .wav": (lambda p: p.write_text("fname,label\nnot,audio\n" * 50), "not a readable audio file"),
    "stereo": (lambda p: _write(p, np.stack([tone(440, 1), tone(880, 1)], 1)), "rendered"),
    "6 channels": (lambda p: _write(p, np.tile(tone(440, 1)[:, None], (1, 6))), "rendered"),
    **{f"{sr} Hz": ((lambda sr: lambda p: _write(p, tone(300, 1.0, sr), sr))(sr), "rendered")
       for sr in (8000, 16000, 22050, 44100, 48000, 96000)},
    **{f"{name}": ((lambda st: lambda p: _write(p, tone(440, 0.5), subtype=st))(st), "rendered")
       for name, st in (("8-bit", "PCM_U8"), ("16-bit", "PCM_16"), ("24-bit", "PCM_24"), ("32-bit float", "FLOAT"))},
    "all-zero (silent)": (lambda p: _write(p, np.zeros(SR, np.float32)), "silent"),
    "shorter than one FFT window": (lambda p: _write(p, tone(440, 0.002)), "rendered"),
    "30 s clip": (lambda p: _write(p, tone(440, 30.0)), "rendered"),
    "NaN samples (float file)": (_float_with(np.nan), "contains NaN or infinite samples"),
    "inf samples (float file)": (_float_with(np.inf), "contains NaN or infinite samples"),
}


@pytest.mark.parametrize("case", list(AUDIO_CASES))
def test_audio_case(case, tmp_path):
    make, expected = AUDIO_CASES[case]
    src = tmp_path / "src"
    write_wav(src / "good" / "ok.wav", tone(500, 0.7))
    bad = src / "case" / "clip.wav"
    bad.parent.mkdir(parents=True)
    make(bad)
    m = render_spectrograms(src, tmp_path / "out", progress=False)
    rows = m.set_index("clip_id")
    assert rows.loc["good/ok", "error"] == "" and (tmp_path / "out" / rows.loc["good/ok", "image"]).is_file()
    row = rows.loc["case/clip"]
    if expected in ("rendered", "silent"):
        assert row["error"] == "" and (tmp_path / "out" / row["image"]).is_file()
        assert bool(row["silent"]) == (expected == "silent")
    else:
        assert expected in row["error"] and row["image"] == ""
    # nothing in the batch stopped, and a second run does no work
    again = render_spectrograms(src, tmp_path / "out", progress=False)
    assert again.attrs["summary"]["rendered"] == 0


def test_file_that_disappears_between_listing_and_reading(tmp_path):
    write_wav(tmp_path / "src" / "a" / "x.wav", tone())
    write_wav(tmp_path / "src" / "a" / "gone.wav", tone())
    table = load_source(tmp_path / "src")
    (tmp_path / "src" / "a" / "gone.wav").unlink()
    m = render_spectrograms(table, tmp_path / "out", progress=False).set_index("clip_id")
    assert m.loc["a/gone", "error"].startswith("file not found") and m.loc["a/x", "error"] == ""


def test_file_without_read_permission(tmp_path):
    if os.geteuid() == 0:  # 'nobody' must be able to reach the folder: pytest's tmp_path is private to root
        import tempfile

        tmp_path = Path(tempfile.mkdtemp(prefix="audiospec-perm-", dir="/tmp"))
        tmp_path.chmod(0o777)
    src = tmp_path / "src"
    write_wav(src / "a" / "x.wav", tone())
    write_wav(src / "a" / "locked.wav", tone())
    (src / "a" / "locked.wav").chmod(0)
    out = tmp_path / "out"
    if os.geteuid() != 0:
        m = render_spectrograms(src, out, progress=False)
    else:  # root reads anything: render as the unprivileged user 'nobody', as a learner's account would
        for p in (tmp_path, src, src / "a"):
            p.chmod(0o777)
        (src / "a" / "x.wav").chmod(0o644)
        code = ("import sys; from audiospec_utils.features.render import render_spectrograms as r; "
                f"r({str(src)!r}, {str(out)!r}, progress=False)")
        env = {**os.environ, "HOME": str(tmp_path), "NUMBA_CACHE_DIR": str(tmp_path / "numba"),
               "MPLCONFIGDIR": str(tmp_path / "mpl"), "PYTHONPATH": os.getcwd()}
        res = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-c", code],
                             capture_output=True, text=True, env=env, timeout=120)
        assert res.returncode == 0, res.stderr
        m = read_manifest(out)
        shutil.rmtree(tmp_path, ignore_errors=True)
    m = m.set_index("clip_id")
    assert "permission denied" in m.loc["a/locked", "error"] and m.loc["a/x", "error"] == ""


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("mount") is None, reason="mounting a tiny tmpfs needs root")
def test_full_disk_while_writing_images(tmp_path):
    from audiospec_utils.features.render import RenderError

    src = tmp_path / "src"
    for i in range(40):
        write_wav(src / "a" / f"c{i:02d}.wav", np.random.default_rng(i).normal(0, 0.3, SR * 3))
    disk = tmp_path / "disk"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=400k", "tmpfs", str(disk)], check=True)
    try:
        with pytest.raises(RenderError, match="No space left"):
            render_spectrograms(src, disk / "out", SpectrogramParams(n_mels=128), progress=False)
        from PIL import Image

        pngs = list((disk / "out").rglob("*.png"))
        assert pngs, "some images should fit before the disk is full"
        for p in pngs:
            Image.open(p).verify()  # every image under a final name is complete
        assert not [p for p in (disk / "out").rglob("*") if p.name.endswith(".tmp")]
    finally:
        subprocess.run(["umount", str(disk)], check=False)


@pytest.mark.parametrize("kwargs, names", [
    ({"sr": 8000, "n_fft": 256, "n_mels": 200}, "n_mels"),
    ({"sr": 16000, "fmax": 12000.0}, "fmax"),
    ({"hop_length": 0}, "hop_length"),
    ({"clip_policy": "pad", "duration": -2.0}, "duration"),
])
def test_impossible_parameters_fail_before_any_work(kwargs, names, tmp_path):
    write_wav(tmp_path / "src" / "a" / "x.wav", tone())
    with pytest.raises(ParameterError, match=names):
        render_spectrograms(tmp_path / "src", tmp_path / "out", SpectrogramParams(**kwargs), progress=False)
    assert not (tmp_path / "out").exists()
