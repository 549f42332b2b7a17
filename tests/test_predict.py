import dataclasses
import json
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from audiospec_utils.exceptions import DatasetError, ParameterError
from audiospec_utils.infer.predict import format_predictions, predict_files, predict_images, run_spectrogram_params

from helpers import tone, write_wav


def _check_top(entry, vocab):
    assert "error" not in entry, entry
    top = entry["top"]
    assert len(top) == 3 and {t["label"] for t in top} <= set(vocab) and len({t["label"] for t in top}) == 3
    p = [t["probability"] for t in top]
    assert p == sorted(p, reverse=True) and 0 < sum(p) <= 1 + 1e-6


def test_long_and_very_short_clips_both_answer(trained_run, tmp_path):
    run, metrics = trained_run
    rng = np.random.default_rng(0)
    long = write_wav(tmp_path / "long.wav", 0.1 * rng.standard_normal(22 * 44100).astype(np.float32) + tone(300, 22))
    short = write_wav(tmp_path / "short.wav", tone(2000, 0.3))
    res = predict_files(run, [long, short])
    assert [r["file"] for r in res] == [str(long), str(short)]
    for r in res:
        _check_top(r, metrics["classes"])
    assert res[0]["duration"] == pytest.approx(22) and res[1]["duration"] == pytest.approx(0.3)


def test_windows_of_a_long_clip_are_averaged(trained_run, tmp_path):
    from audiospec_utils.infer.predict import load_model
    from audiospec_utils.features import SpectrogramParams, render_clip

    run, _ = trained_run
    clip = write_wav(tmp_path / "long.wav", np.concatenate([tone(300, 10.5), tone(3000, 10.5)]))
    params = SpectrogramParams(clip_policy="windows", duration=1.0)
    learn = load_model(run)
    entry = predict_files(run, [clip], learn=learn, params=params, return_probs=True)[0]
    assert entry["n_windows"] == 21
    per_window = predict_images(learn, render_clip(clip, None, params)["images"])
    assert per_window.shape == (21, len(learn.dls.vocab))
    np.testing.assert_allclose(entry["probs"], per_window.mean(axis=0), atol=1e-6)
    # the windows differ (compared in log space: a confident model puts ~1.0 on one label for both)
    assert not np.allclose(np.log(per_window[0] + 1e-30), np.log(per_window[-1] + 1e-30), atol=1e-3)


@pytest.mark.parametrize("fmt", ["FLAC", "OGG", "MP3"])
def test_other_formats(trained_run, tmp_path, fmt):
    run, metrics = trained_run
    path = tmp_path / f"clip.{fmt.lower()}"
    try:
        sf.write(path, tone(600, 1.0), 44100, format=fmt)
    except Exception as err:  # libsndfile built without this encoder
        pytest.skip(f"soundfile cannot write {fmt} here: {err}")
    _check_top(predict_files(run, [path])[0], metrics["classes"])


def test_a_bad_file_gets_an_error_entry_and_the_others_still_answer(trained_run, tmp_path):
    run, metrics = trained_run
    (tmp_path / "empty.wav").write_bytes(b"")
    (tmp_path / "notes.wav").write_text("not audio at all")
    good = write_wav(tmp_path / "good.wav", tone(440, 1.0))
    res = predict_files(run, [tmp_path / "empty.wav", tmp_path / "notes.wav", tmp_path / "missing.wav", good])
    assert res[0] == {"file": str(tmp_path / "empty.wav"), "error": "empty file (0 bytes)"}
    assert "not a readable audio file" in res[1]["error"] and res[2]["error"] == "file not found"
    _check_top(res[3], metrics["classes"])
    table = format_predictions(res)
    assert "error: empty file (0 bytes)" in table and res[3]["top"][0]["label"] in table.splitlines()[3]
    with pytest.raises(ParameterError):
        predict_files(run, [good], k=0)


def test_params_come_from_the_run_then_from_its_render_folder(trained_run, mini_specs, tmp_path):
    run, _ = trained_run
    saved = json.loads((run / "params.json").read_text())
    # the render's parameters, and the longest clip of the render folder as the length of one dB reference
    longest = float(pd.read_csv(mini_specs / "manifest.csv")["duration"].max())
    assert saved.pop("segment_seconds") == pytest.approx(longest)
    assert saved == json.loads((mini_specs / "params.json").read_text())
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    (copy / "params.json").unlink()
    # via metrics.json["spec_dir"]: the render folder's parameters, as a run trained before segment_seconds reads
    assert run_spectrogram_params(copy) == dataclasses.replace(run_spectrogram_params(run), segment_seconds=None)
    meta = json.loads((copy / "metrics.json").read_text())
    meta["spec_dir"] = str(tmp_path / "gone")
    (copy / "metrics.json").write_text(json.dumps(meta))
    with pytest.raises(DatasetError, match="no params.json"):
        run_spectrogram_params(copy)
    with pytest.raises(DatasetError, match="no export.pkl"):
        predict_files(tmp_path, [tmp_path / "x.wav"])


def test_predict_from_the_command_line(trained_run, tmp_path):
    run, metrics = trained_run
    good = write_wav(tmp_path / "a.wav", tone(440, 25.0))
    (tmp_path / "empty.wav").write_bytes(b"")
    cmd = [sys.executable, "-m", "audiospec_utils", "-q", "predict", str(run)]
    res = subprocess.run(cmd + [str(good), str(tmp_path / "empty.wav"), "--json"], capture_output=True, text=True,
                         timeout=300)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert [o["file"] for o in out] == [str(good), str(tmp_path / "empty.wav")]
    _check_top(out[0], metrics["classes"])
    assert out[1]["error"] == "empty file (0 bytes)"
    table = subprocess.run(cmd + [str(good)], capture_output=True, text=True, timeout=300)
    assert table.returncode == 0 and out[0]["top"][0]["label"] in table.stdout and "25.00 s" in table.stdout
    bad = subprocess.run(cmd + [str(tmp_path / "empty.wav")], capture_output=True, text=True, timeout=300)
    assert bad.returncode == 1 and "error: empty file" in bad.stdout
