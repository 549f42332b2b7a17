"""A long recording is read as its parts: one dB reference per segment of training length.

A spectrogram image's 0 dB is the loudest bin of what was rendered. Rendered whole, a long field
recording is darkened everywhere by its loudest moment, so its quiet parts become images no
training clip looked like. A run records the longest clip of its render folder as
``segment_seconds`` (``params.json``); a longer recording is rendered as segments of that length,
each with its own reference, by ``predict`` (both backends), the timeline, the ONNX model's
runtime and ``explain``, while every clip of the render folder keeps its image.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from audiospec_utils.exceptions import ParameterError
from audiospec_utils.features.params import SpectrogramParams, clip_segments, segment_starts


def test_segment_starts_cover_the_clip_with_segments_of_exactly_the_length():
    sr, n = 100, 400
    for n_samples in (1, 399, 400, 401, 499, 500, 800, 1199, 1200, 1201, 1299, 1300, 5000):
        starts = segment_starts(n_samples, sr, "full", None, 4.0)
        segs = clip_segments(np.arange(n_samples, dtype=np.float32), sr, "full", None, 4.0)
        assert len(segs) == len(starts)
        if n_samples < n + n // 4:                      # a remainder under a quarter joins the segment before
            assert starts.tolist() == [0] and len(segs[0]) == n_samples
            continue
        assert all(len(s) == n for s in segs[:-1]) and n // 4 <= len(segs[-1]) < n + n // 4
        assert starts[0] == 0 and np.all(np.diff(starts) == n)                  # a partition, in order
        assert sum(len(s) for s in segs) == n_samples
        rest = n_samples % n
        assert len(segs) == n_samples // n + (1 if rest >= n // 4 else 0)
        for s, seg in zip(starts, segs):
            assert seg[0] == s
    assert segment_starts(1000, sr, "full", None, None).tolist() == [0]
    assert segment_starts(1000, sr, "windows", 3.0).tolist() == [0, 300, 600, 900]


def test_segment_seconds_is_checked():
    with pytest.raises(ParameterError, match="segment_seconds"):
        SpectrogramParams(segment_seconds=0)
    with pytest.raises(ParameterError, match="segment_seconds"):
        SpectrogramParams(segment_seconds=float("nan"))
    with pytest.raises(ParameterError, match="clip_policy='full'"):
        SpectrogramParams(clip_policy="pad", duration=2.0, segment_seconds=4.0)
    old = SpectrogramParams().to_dict()
    assert "segment_seconds" not in old                     # a render folder's params.json is as before
    assert SpectrogramParams.from_dict(old).segment_seconds is None
    assert SpectrogramParams.from_dict(SpectrogramParams(segment_seconds=4.0).to_dict()).segment_seconds == 4.0


def _render(y, sr, params, tmp_path, name):
    from audiospec_utils.features.images import render_clip

    path = tmp_path / name
    sf.write(path, y, sr, subtype="FLOAT")
    return render_clip(path, None, params)["images"]


def test_each_part_of_a_long_recording_is_rendered_as_it_would_be_alone(tmp_path):
    sr, seconds = 16000, 2.0
    rng = np.random.default_rng(0)
    t = np.arange(int(sr * seconds)) / sr
    parts = [0.5 * np.sin(2 * np.pi * 440 * t), 0.003 * np.sin(2 * np.pi * 1500 * t) + 0.0005 * rng.standard_normal(len(t)),
             0.2 * rng.standard_normal(len(t))]
    parts = [p.astype(np.float32) for p in parts]
    whole = np.concatenate(parts)
    params = SpectrogramParams(sr=sr, n_mels=64, segment_seconds=seconds)
    images = _render(whole, sr, params, tmp_path, "long.wav")
    assert len(images) == 3
    for i, part in enumerate(parts):
        alone = _render(part, sr, params, tmp_path, f"part{i}.wav")
        assert len(alone) == 1
        np.testing.assert_array_equal(images[i], alone[0])
    # the old reading (one reference for the whole file) darkens the quiet part: the test can fail
    old = _render(whole, sr, SpectrogramParams(sr=sr, n_mels=64), tmp_path, "long_old.wav")[0]
    n_cols = images[1].shape[1]
    quiet_old = old[:, n_cols:2 * n_cols]
    assert quiet_old.mean() < images[1].mean() - 40


def test_a_run_records_its_longest_clip_and_folder_clips_keep_their_images(trained_run, mini_specs):
    from audiospec_utils.features.folders import RenderFolder
    from audiospec_utils.learn import Run

    run_dir, _ = trained_run
    params = Run(run_dir).spec_params
    folder = RenderFolder(mini_specs)
    durations = pd.to_numeric(folder.manifest()["duration"], errors="coerce").dropna()
    assert params.segment_seconds == pytest.approx(float(durations.max()))
    assert folder.params.segment_seconds is None
    assert folder.params_difference(params) == {}           # evaluate may still use the folder's images
    saved = json.loads((run_dir / "params.json").read_text())
    assert saved["segment_seconds"] == pytest.approx(float(durations.max()))


@pytest.fixture(scope="module")
def recording(trained_run, mini_specs, tmp_path_factory):
    """Three parts of exactly the run's segment length at very different levels, end to end."""
    from audiospec_utils.features.folders import RenderFolder
    from audiospec_utils.learn import Run

    run_dir, _ = trained_run
    params = Run(run_dir).spec_params
    man = RenderFolder(mini_specs).manifest()
    longest = man.loc[pd.to_numeric(man["duration"], errors="coerce").idxmax()]
    y, sr = sf.read(longest["path"], dtype="float32")
    assert len(y) == round(params.segment_seconds * sr)
    out = tmp_path_factory.mktemp("long")
    gains = (1.0, 0.01, 0.1)
    parts = []
    for i, g in enumerate(gains):
        sf.write(out / f"part{i}.wav", y * g, sr, subtype="FLOAT")
        parts.append(out / f"part{i}.wav")
    sf.write(out / "long.wav", np.concatenate([y * g for g in gains]), sr, subtype="FLOAT")
    return out / "long.wav", parts, len(y) / sr


def _windows_inside(entry, start, end):
    inside = (entry["window_start"] >= start - 1e-6) & (entry["window_end"] <= end + 1e-6)
    return entry["window_probs"][inside]


def test_the_timeline_gives_each_part_the_windows_it_has_alone(trained_run, recording):
    from audiospec_utils.infer.predict_batch import FastaiBackend

    run_dir, _ = trained_run
    long_path, parts, seconds = recording
    backend = FastaiBackend(run_dir)
    entry = backend.predict(long_path, 3, windows=True)
    for i, part in enumerate(parts):
        alone = backend.predict(part, 3, windows=True)
        inside = _windows_inside(entry, i * seconds, (i + 1) * seconds)
        assert inside.shape == alone["window_probs"].shape
        np.testing.assert_allclose(inside, alone["window_probs"], atol=1e-5)
        np.testing.assert_allclose(alone["window_start"] + i * seconds, _starts_inside(entry, i, seconds), atol=1e-3)
    # read as one image (the run's parameters without segment_seconds) the quiet part is another image
    import dataclasses

    backend.params = dataclasses.replace(backend.params, segment_seconds=None)
    whole = backend.predict(long_path, 3, windows=True)
    alone = FastaiBackend(run_dir).predict(parts[1], 3, windows=True)
    inside = _windows_inside(whole, seconds, 2 * seconds)
    assert inside.shape != alone["window_probs"].shape or not np.allclose(inside, alone["window_probs"], atol=1e-3)


def _starts_inside(entry, i, seconds):
    start = entry["window_start"]
    inside = (start >= i * seconds - 1e-6) & (entry["window_end"] <= (i + 1) * seconds + 1e-6)
    return start[inside]


def test_the_onnx_runtime_reads_the_parts_as_the_fastai_path_does(trained_run, recording, tmp_path):
    pytest.importorskip("onnxruntime")
    from audiospec_utils.infer.export_onnx import export_onnx
    from audiospec_utils.infer.onnx_predict import OnnxClassifier
    from audiospec_utils.infer.predict_batch import FastaiBackend

    run_dir, _ = trained_run
    long_path, parts, seconds = recording
    model = tmp_path / "model.onnx"
    export_onnx(run_dir, model)
    clf = OnnxClassifier(model)
    assert clf.metadata["segment_seconds"] == pytest.approx(seconds)
    y, sr = sf.read(long_path, dtype="float32")
    out = clf.analyse(y, sr)
    assert out["segment_start"].tolist() == pytest.approx([0.0, seconds, 2 * seconds])
    fastai = FastaiBackend(run_dir).predict(long_path, 3, windows=True)
    np.testing.assert_allclose(out["window_start"], fastai["window_start"], atol=1e-3)
    # float32 kernels of two runtimes: 1.3e-4 apart on one thread, within 1e-4 on two; the other ONNX tests allow 1e-3
    np.testing.assert_allclose(out["window_probs"], fastai["window_probs"], atol=1e-3)


def test_a_long_recording_is_explained_on_its_own_grid(trained_run, recording):
    from audiospec_utils.explain.explanation import explain_clip

    run_dir, _ = trained_run
    long_path, _, seconds = recording
    expl = explain_clip(run_dir, long_path, method="gradcam")
    assert expl.cam.shape == expl.spectrogram.shape
    assert expl.times[-1] == pytest.approx(3 * seconds, abs=0.1)
    assert np.isfinite(expl.cam).all() and expl.cam.max() <= 1.0
