"""One frequency axis per render folder and run, whatever the sample rate of each file (issue 18)."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audiospec_utils.audio.decode import load_audio, most_common_rate
from audiospec_utils.features.folders import RenderFolder
from audiospec_utils.features.render import render_spectrograms
from audiospec_utils.features import (RateDependentWarning, SpectrogramParams, render_clip, warn_rate_dependent,
                                         with_fixed_rate)

from helpers import tone, write_wav

RATES = (8000, 16000, 22050, 44100, 48000, 96000)


def _tone_folder(root, rates, freq=1000.0, seconds=0.5):
    """A folder per class ("tone") with one file per rate, all the same 1 kHz tone."""
    for i, sr in enumerate(rates):
        write_wav(root / "tone" / f"t{i:02d}_{sr}.wav", tone(freq, seconds, sr), sr)
    return root


def _loudest_rows(manifest, folder):
    from PIL import Image

    rows = {}
    for r in manifest.itertuples():
        pixels = np.asarray(Image.open(folder / r.image), dtype=np.float32)
        rows[int(r.source_sr)] = int(np.argmax(pixels.mean(axis=1)))
    return rows


def test_mixed_rates_render_on_one_axis(tmp_path):
    # 44.1 kHz twice: the most common rate, chosen by default
    src = _tone_folder(tmp_path / "src", RATES + (44100,))
    out = tmp_path / "specs"
    man = render_spectrograms(src, out, progress=False)
    params = json.loads((out / "params.json").read_text())
    assert params["sr"] == 44100 and params["fmax"] == 22050.0
    assert (man["sr"] == 44100).all() and (man["error"] == "").all()
    assert sorted(man["source_sr"].astype(int)) == sorted(RATES + (44100,))
    # files below the folder's rate are marked: their top bands are empty
    limited = dict(zip(man["source_sr"].astype(int), man["band_limited"]))
    assert limited == {8000: True, 16000: True, 22050: True, 44100: False, 48000: False, 96000: False}
    reread = RenderFolder(out).manifest()
    assert reread["band_limited"].tolist() == man["band_limited"].tolist()
    # the same tone lands in the same mel band at every rate, and every image has the same height
    rows = _loudest_rows(man, out)
    assert len(set(rows.values())) == 1, rows
    from PIL import Image

    heights = {Image.open(out / i).height for i in man["image"]}
    assert heights == {128}


def test_per_file_rates_put_the_tone_in_different_bands(tmp_path):
    """The old behaviour (sr=None), which the fixed rate replaces: the check above would fail."""
    src = _tone_folder(tmp_path / "src", (8000, 44100))
    out = tmp_path / "specs"
    with pytest.warns(RateDependentWarning, match="audiospec render"):
        man = render_spectrograms(src, out, SpectrogramParams(sr=None), progress=False)
    rows = _loudest_rows(man, out)
    assert rows[8000] != rows[44100]


def test_sr_option_and_resume_keep_the_folder_rate(tmp_path):
    src = _tone_folder(tmp_path / "src", (8000, 16000, 16000))
    out = tmp_path / "specs"
    render_spectrograms(src, out, SpectrogramParams(sr=22050), progress=False)
    assert json.loads((out / "params.json").read_text())["sr"] == 22050
    # run again with the defaults: the folder's rate is kept (nothing to redo), not the source's 16 kHz
    again = render_spectrograms(src, out, progress=False)
    assert again.attrs["summary"]["already_done"] == 3
    from audiospec_utils.exceptions import ParameterError

    with pytest.raises(ParameterError, match="sr 22050 -> 16000"):
        render_spectrograms(src, out, SpectrogramParams(sr=16000), progress=False)


def test_old_folder_keeps_its_per_file_rates_and_warns(tmp_path, monkeypatch):
    src = _tone_folder(tmp_path / "src", (16000, 44100))
    out = tmp_path / "old"
    with pytest.warns(RateDependentWarning):
        render_spectrograms(src, out, SpectrogramParams(sr=None), progress=False)
    # what a folder written before the rate was fixed looks like: sr null, no source_sr column
    man = pd.read_csv(out / "manifest.csv").drop(columns=["source_sr", "band_limited"])
    man.to_csv(out / "manifest.csv", index=False)
    monkeypatch.setattr("audiospec_utils.features.params._WARNED_RATE", set())
    with pytest.warns(RateDependentWarning, match=str(out)):
        again = render_spectrograms(src, out, progress=False)  # defaults: continues as it was made
    assert again.attrs["summary"]["already_done"] == 2
    assert json.loads((out / "params.json").read_text())["sr"] is None
    old = RenderFolder(out).manifest()
    assert old["source_sr"].tolist() == old["sr"].tolist() and not old["band_limited"].any()


def test_the_warning_comes_once_per_folder(monkeypatch):
    monkeypatch.setattr("audiospec_utils.features.params._WARNED_RATE", set())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(3):
            assert warn_rate_dependent(SpectrogramParams(sr=None), "runs/a")
        assert not warn_rate_dependent(SpectrogramParams(sr=22050), "runs/b")
    assert [str(w.message).split(":")[0] for w in caught] == ["runs/a"]


def test_most_common_rate_reads_headers_and_breaks_ties_upwards(tmp_path):
    files = [write_wav(tmp_path / f"{i}.wav", tone(seconds=0.1, sr=sr), sr)
             for i, sr in enumerate((8000, 8000, 48000, 16000))]
    assert most_common_rate(files) == 8000
    assert most_common_rate(files[1:]) == 48000  # 8000, 48000, 16000 once each: the widest band
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not audio at all")
    assert most_common_rate([bad, files[2]]) == 48000
    assert most_common_rate([bad]) == 22050


def test_with_fixed_rate_fills_sr_and_fmax():
    p = with_fixed_rate(SpectrogramParams(), sr=16000)
    assert (p.sr, p.fmax) == (16000, 8000.0)
    assert with_fixed_rate(SpectrogramParams(sr=None)).sr is None
    assert with_fixed_rate(SpectrogramParams(sr=32000, fmax=8000.0)).fmax == 8000.0


def test_render_clip_reports_the_source_rate(tmp_path):
    f = write_wav(tmp_path / "a.wav", tone(seconds=0.3, sr=16000), 16000)
    out = render_clip(f, None, SpectrogramParams(sr=32000))
    assert (out["sr"], out["source_sr"], out["band_limited"]) == (32000, 16000, True)
    own = render_clip(f, None, SpectrogramParams())
    assert (own["sr"], own["source_sr"], own["band_limited"]) == (16000, 16000, False)


# ----------------------------------------------------------------------------------------------
# A run trained at one rate gives the same answers for the same sounds at any other rate


TRAIN_SR = 22050
FREQS = {"low": 300.0, "mid": 900.0, "high": 2500.0}  # all content below 4 kHz


def _tone_clip(freq, rng, sr=TRAIN_SR, seconds=1.0):
    t = np.arange(int(seconds * sr)) / sr
    y = 0.4 * np.sin(2 * np.pi * freq * (1 + rng.uniform(-0.03, 0.03)) * t + rng.uniform(0, 2 * np.pi))
    import scipy.signal

    sos = scipy.signal.butter(10, 3000, fs=sr, output="sos")  # the noise too stays below 4 kHz
    noise = scipy.signal.sosfiltfilt(sos, rng.normal(0, 0.05, len(t)))
    return (y + noise).astype(np.float32)


@pytest.fixture(scope="module")
def tone_run(tmp_path_factory):
    from audiospec_utils.learn.train import train_classifier

    root = tmp_path_factory.mktemp("tones")
    rng = np.random.default_rng(0)
    for label, freq in FREQS.items():
        for i in range(12):
            write_wav(root / "audio" / label / f"{label}{i:02d}.wav", _tone_clip(freq, rng), TRAIN_SR)
    held_out = []
    for label, freq in FREQS.items():
        for i in range(2):
            held_out.append((label, write_wav(root / "new" / f"{label}{i}.wav", _tone_clip(freq, rng), TRAIN_SR)))
    specs = root / "specs"
    render_spectrograms(root / "audio", specs, progress=False)
    run = root / "run"
    # the small CNN: on these 36 tones a ResNet-18 from scratch lands on 4 to 6 of 6 held-out clips by seed and by
    # thread count (one label never predicted); the small CNN gets 18 of 18 on 1 or 2 threads, seeds 0 to 2
    learn, _ = train_classifier(specs, run, arch="small_cnn", epochs=12, img_size=32, bs=8, lr=3e-3, pretrained=False,
                                progress=False)
    return run, learn, held_out


def _resampled(path, sr, out_dir):
    import librosa

    y, own = load_audio(path)
    y2 = librosa.resample(y, orig_sr=own, target_sr=sr, res_type="soxr_hq")
    return write_wav(out_dir / f"{path.stem}_{sr}.wav", y2, sr, subtype="FLOAT")


def test_the_run_records_its_rate(tone_run):
    from audiospec_utils.learn import Run

    run, _, _ = tone_run
    assert Run(run).spec_params.sr == TRAIN_SR


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sr=st.integers(min_value=8000, max_value=96000))
def test_same_top_label_at_any_rate(tone_run, tmp_path_factory, sr):
    from audiospec_utils.infer.predict import predict_files

    run, learn, held_out = tone_run
    files = [p for _, p in held_out]
    base = predict_files(run, files, learn=learn)
    assert len({b["top"][0]["label"] for b in base}) >= 2  # a model that tells sounds apart, not a constant
    out_dir = tmp_path_factory.mktemp(f"rate{sr}")
    moved = predict_files(run, [_resampled(p, sr, out_dir) for p in files], learn=learn)
    assert [b["top"][0]["label"] for b in base] == [m["top"][0]["label"] for m in moved]
    assert all(m["sr"] == sr and m["band_limited"] == (sr < TRAIN_SR) for m in moved)
    for b, m in zip(base, moved):
        assert abs(b["top"][0]["probability"] - m["top"][0]["probability"]) < 0.1


def test_per_file_rates_would_change_the_answers(tone_run, tmp_path):
    """The same check with each file at its own rate (sr=None) fails: what the fixed rate prevents."""
    import dataclasses

    from audiospec_utils.learn import Run
    from audiospec_utils.infer.predict import predict_files

    run, learn, held_out = tone_run
    per_file = dataclasses.replace(Run(run).spec_params, sr=None, fmax=None)
    files = [p for _, p in held_out]
    with pytest.warns(RateDependentWarning):
        base = predict_files(run, files, learn=learn, params=per_file)
    changed = 0
    for sr in (8000, 48000):
        moved = predict_files(run, [_resampled(p, sr, tmp_path) for p in files], learn=learn, params=per_file)
        changed += sum(b["top"][0]["label"] != m["top"][0]["label"] for b, m in zip(base, moved))
    assert changed > 0


def test_the_run_knows_the_tones(tone_run):
    """The property above is about a model that hears the tones, not a constant one."""
    from audiospec_utils.infer.predict import predict_files

    run, learn, held_out = tone_run
    got = [r["top"][0]["label"] for r in predict_files(run, [p for _, p in held_out], learn=learn)]
    assert sum(g == label for g, (label, _) in zip(got, held_out)) >= 5  # of 6; chance is 2
