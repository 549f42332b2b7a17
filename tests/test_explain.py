"""Explanation maps (audiospec_utils.explain, ``audiospec explain``) on clips where the answer is known.

Two labels differ only by a 1 s tone burst, at 500 Hz ("low") or 2 kHz ("high"), at a random time in
4 s of white noise; a third, "noise", is the noise alone. Without it, "no 500 Hz burst" would be a
complete explanation of "high" (and a model trained here on the two labels alone sometimes learned
just that: its maps of one label spread over the whole clip), so the answer would not be known.
A small ResNet (resnet18, 32 px high) is trained from scratch on the CPU once per module, on whole
clips rotated in time (the crop is the clip, its start random). On held-out "low" and "high" clips
the map of the true label must put its centre of mass in time within 0.5 s of the burst's centre
(both methods), in frequency within a factor of 2 of the tone (occlusion; Grad-CAM's last block has
a single row at this image height), and the explained sound must carry a larger share of its energy
in the burst than the clip, each for at least 80% of the clips. The same criteria applied to the
same maps with their cells shuffled must fail: they test the maps, not luck. A longer clip (several
windows) and a shorter one (one repeated window) check how windows are put back on the clip.
``EXPLAIN_TEST_SEED=N`` draws other clips (and so trains another model), to see how robust this is.

Two details of the clips matter, and the maps showed both: the images are in dB re each clip's
loudest bin, and librosa's (Slaney) mel filters are lower at high frequencies, so with one noise
level a 2 kHz clip's noise floor is a few grey levels brighter than a 500 Hz clip's, everywhere,
and a model used that instead of the burst (its maps spread over the whole clip). Here the noise
level is random per clip (20 dB range) and the 2 kHz tone is louder by the ratio of the filters'
heights, so that nothing but the burst tells the labels apart.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile as sf

from audiospec_utils.exceptions import ParameterError

SR = 8000
SECONDS, BURST = 4.0, 1.0
TONES = {"low": 500.0, "high": 2000.0}
LABELS = (*TONES, "noise")                       # "noise": the same noise, no burst
N_TRAIN = 40            # clips per label rendered for training (a fifth of them validate)
N_HELD = 12             # held-out clips per label, never seen in training
OCCLUSION = dict(patch=(8, 32), stride=(8, 16))   # coarser than the default, for the test's time
CROP = 251 / (SR / 128)                          # seconds: one window is one 4 s clip (251 frames)


def _params():
    from audiospec_utils.spectrogram import SpectrogramParams

    return SpectrogramParams(sr=SR, n_fft=512, hop_length=128, n_mels=32, fmin=50.0)


def _tone_gain(freq: float) -> float:
    """Amplitude making a tone's peak mel power the same at every frequency (Slaney filters shrink with width)."""
    from audiospec_utils.spectrogram_kinds import mel_basis as _mel_basis

    basis = _mel_basis(SR, 512, 32, 50.0, SR / 2)
    height = lambda f: float(basis[:, int(round(f * 512 / SR))].max())  # noqa: E731
    return float(np.sqrt(height(TONES["low"]) / height(freq)))


def burst_clip(rng, freq: float | None, centre: float | None = None, seconds: float = SECONDS):
    """White noise (level random over 20 dB) with a 1 s tone burst; returns (audio, burst centre in s)."""
    n = int(seconds * SR)
    y = (0.3 * 10 ** -rng.uniform(0, 1)) * rng.standard_normal(n)
    if centre is None:
        centre = rng.uniform(BURST / 2, seconds - BURST / 2)
    if freq is None:                                                # noise alone
        return y.astype(np.float32), float("nan")
    t = np.arange(int(BURST * SR)) / SR
    env = np.minimum(1.0, np.minimum(t, BURST - t) / 0.01)         # 10 ms ramps: no clicks
    s0 = int(round((centre - BURST / 2) * SR))
    y[s0:s0 + len(t)] += 0.3 * _tone_gain(freq) * env * np.sin(2 * np.pi * freq * t)
    return y.astype(np.float32), float(centre)


@pytest.fixture(scope="module")
def tones(tmp_path_factory):
    """The tone-burst clips, their render and a run trained on them (once per module)."""
    from audiospec_utils.folders import Run
    from audiospec_utils.render import render_spectrograms
    from audiospec_utils.train import train_classifier

    root = tmp_path_factory.mktemp("tones")
    rng = np.random.default_rng(int(os.environ.get("EXPLAIN_TEST_SEED", 0)))
    held = []
    for label, freq in zip(LABELS, (*TONES.values(), None)):
        (root / "data" / label).mkdir(parents=True)
        for i in range(N_TRAIN):
            sf.write(root / "data" / label / f"{label}{i:02d}.wav", burst_clip(rng, freq)[0], SR)
        if freq is None:
            continue
        # held-out bursts spread evenly over the clip (jittered), so a map stuck in the middle fails
        edges = np.linspace(BURST / 2, SECONDS - BURST / 2, N_HELD + 1)
        for i in range(N_HELD):
            y, centre = burst_clip(rng, freq, rng.uniform(edges[i], edges[i + 1]))
            path = root / "held" / f"{label}{i:02d}.wav"
            path.parent.mkdir(exist_ok=True)
            sf.write(path, y, SR)
            held.append(SimpleNamespace(path=path, label=label, centre=centre, freq=freq))
    render_spectrograms(root / "data", root / "specs", _params(), n_jobs=1, progress=False)
    # the crop is the whole clip (251 frames at 62.5 frames/s), so every crop holds the burst
    train_classifier(root / "specs", root / "run", recipe="quick", arch="resnet18", epochs=6, img_size=32, bs=8,
                     crop_seconds=CROP, pretrained=False, progress=False)
    run = Run(root / "run")
    return SimpleNamespace(root=root, run=run, learn=run.learner(), held=held)


def _burst_share(y, centre) -> float:
    a, b = int((centre - BURST / 2) * SR), int((centre + BURST / 2) * SR)
    return float(np.sum(y[a:b].astype(np.float64) ** 2) / np.sum(y.astype(np.float64) ** 2))


def _criteria(explanations, held, cams=None) -> dict:
    """Fractions of held-out clips meeting each criterion, for the maps (or for `cams` in their place)."""
    from audiospec_utils.explain import explained_audio, map_stats

    t_ok, f_ok, e_ok = [], [], []
    for i, (e, h) in enumerate(zip(explanations, held)):
        cam = e.cam if cams is None else cams[i]
        s = map_stats(cam, e.times, e.freqs)
        t_ok.append(s["centre_s"] is not None and abs(s["centre_s"] - h.centre) <= 0.5)
        f_ok.append(s["centre_hz"] is not None and h.freq / 2 <= s["centre_hz"] <= 2 * h.freq)
        e_ok.append(_burst_share(explained_audio(e.y, e.sr, cam, e.params), h.centre) > _burst_share(e.y, h.centre))
    return {"time": float(np.mean(t_ok)), "freq": float(np.mean(f_ok)), "energy": float(np.mean(e_ok)),
            "n": len(held)}


def _shuffled(explanations, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.permutation(e.cam.ravel()).reshape(e.cam.shape) for e in explanations]


@pytest.fixture(scope="module")
def gradcam_maps(tones):
    from audiospec_utils.explain import explain_clip

    return [explain_clip(tones.run, h.path, label=h.label, learn=tones.learn) for h in tones.held]


@pytest.fixture(scope="module")
def occlusion_maps(tones):
    from audiospec_utils.explain import explain_clip

    return [explain_clip(tones.run, h.path, label=h.label, method="occlusion", learn=tones.learn, **OCCLUSION)
            for h in tones.held]


def test_gradcam_finds_the_burst_in_time_and_a_shuffled_map_does_not(tones, gradcam_maps):
    got = _criteria(gradcam_maps, tones.held)
    print(f"\ngrad-cam on {got['n']} held-out clips: {got}")
    assert got["time"] >= 0.8 and got["energy"] >= 0.8, got
    shuffled = _criteria(gradcam_maps, tones.held, _shuffled(gradcam_maps))
    print(f"the same maps shuffled: {shuffled}")
    assert shuffled["time"] < 0.8 and shuffled["energy"] < 0.8, shuffled


def test_occlusion_finds_the_burst_in_time_and_frequency_and_a_shuffled_map_does_not(tones, occlusion_maps):
    got = _criteria(occlusion_maps, tones.held)
    print(f"\nocclusion on {got['n']} held-out clips: {got}")
    assert got["time"] >= 0.8 and got["freq"] >= 0.8 and got["energy"] >= 0.8, got
    shuffled = _criteria(occlusion_maps, tones.held, _shuffled(occlusion_maps))
    print(f"the same maps shuffled: {shuffled}")
    assert shuffled["time"] < 0.8 and shuffled["freq"] < 0.8 and shuffled["energy"] < 0.8, shuffled


def test_a_map_lines_up_with_the_clips_spectrogram_and_its_prediction(tones, gradcam_maps):
    from audiospec_utils.audio import load_audio
    from audiospec_utils.predict import predict_files
    from audiospec_utils.spectrogram import logmel

    h, e = tones.held[0], gradcam_maps[0]
    y, sr = load_audio(h.path, sr=_params().target_sr)
    S = logmel(y, sr, _params())
    assert e.cam.dtype == np.float32 and e.cam.shape == S.shape == (32, 1 + len(y) // 128)
    np.testing.assert_array_equal(e.spectrogram, S)
    assert e.cam.min() >= 0 and e.cam.max() == pytest.approx(1.0)
    np.testing.assert_allclose(e.times[[0, -1]], [0.0, (S.shape[1] - 1) * 128 / SR])
    assert np.all(np.diff(e.freqs) > 0) and 50 < e.freqs[0] < e.freqs[-1] < SR / 2
    assert e.n_windows == 1
    pred = predict_files(tones.run, [h.path], learn=tones.learn, k=2)[0]
    p = {t["label"]: t["probability"] for t in pred["top"]}
    assert e.probability == pytest.approx(p[e.label], abs=1e-6)
    np.testing.assert_allclose(e.probs.sum(), 1.0, atol=1e-5)


def test_a_long_clip_is_explained_window_by_window_as_predict_averages_them(tones, tmp_path):
    from audiospec_utils.explain import explain_clip
    from audiospec_utils.predict import predict_files

    # 10 s with a burst at 7.5 s; windows of 4 s overlapping by half start at 0, 2, 4 and 6 s
    y, _ = burst_clip(np.random.default_rng(5), 500.0, 7.5, seconds=10.0)
    path = tmp_path / "long.wav"
    sf.write(path, y, SR)
    e = explain_clip(tones.run, path, label="low", learn=tones.learn)
    assert e.n_windows == 4 and e.cam.shape == (32, 1 + len(y) // 128)
    profile = e.cam.mean(axis=0)                  # over frequency
    inside = np.abs(e.times - 7.5) <= BURST / 2
    assert abs(e.times[np.argmax(profile)] - 7.5) <= 0.5
    assert profile[inside].mean() > 3 * profile[~inside].mean(), (profile[inside].mean(), profile[~inside].mean())
    pred = predict_files(tones.run, [path], learn=tones.learn, k=2, return_probs=True)[0]
    np.testing.assert_allclose(e.probs, pred["probs"], atol=1e-6)


def test_explain_files_writes_map_picture_sound_and_json_and_never_stops_for_one_file(tones, tmp_path):
    from PIL import Image

    from audiospec_utils.explain import explain_files

    good = tones.held[0].path
    (tmp_path / "empty.wav").write_bytes(b"")
    (tmp_path / "notes.wav").write_text("not audio at all")
    short = tmp_path / "short.wav"               # 0.3 s: shorter than one 4 s window, repeated as predict does
    sf.write(short, burst_clip(np.random.default_rng(1), 500.0)[0][:int(0.3 * SR)], SR)
    out = tmp_path / "out"
    files = [good, tmp_path / "empty.wav", tmp_path / "notes.wav", tmp_path / "missing.wav", short]
    rows = explain_files(tones.run, files, out, learn=tones.learn)
    assert json.loads((out / "explain.json").read_text()) == rows
    assert [r["file"] for r in rows] == [str(f) for f in files]
    assert rows[1]["error"] == "empty file (0 bytes)" and "not a readable audio file" in rows[2]["error"]
    assert rows[3]["error"] == "file not found"
    for row, n_samples in ((rows[0], int(SECONDS * SR)), (rows[4], int(0.3 * SR))):
        assert "error" not in row, row
        assert set(row) >= {"file", "label", "probability", "method", "centre_s", "centre_hz", "share_above_half"}
        assert row["label"] in LABELS and 0 <= row["probability"] <= 1 and row["method"] == "gradcam"
        assert 0 <= row["centre_s"] <= n_samples / SR and 0 < row["share_above_half"] <= 1
        cam = np.load(row["cam_npy"])
        assert cam.dtype == np.float32 and cam.shape == (32, 1 + max(n_samples, 512) // 128)
        y, sr = sf.read(row["explained_wav"])
        assert sr == SR and len(y) == n_samples
        with Image.open(row["cam_png"]) as im:
            assert im.size[0] > 600 and im.size[1] > 250
    # the top label unless one is asked for; the same stem twice gets its own files
    rows = explain_files(tones.run, [good, good], out, label="high", learn=tones.learn)
    assert [r["label"] for r in rows] == ["high", "high"] and rows[0]["cam_npy"] != rows[1]["cam_npy"]


def test_bad_runs_labels_and_methods_are_refused_before_any_work(tones, tmp_path):
    from audiospec_utils.explain import explain_clip, explain_files

    good = tones.held[0].path
    with pytest.raises(ParameterError, match=r"label 'dog' is not one the model knows.*high, low"):
        explain_files(tones.run, [good], tmp_path / "a", label="dog", learn=tones.learn)
    assert not (tmp_path / "a" / "explain.json").exists()
    with pytest.raises(ParameterError, match="method must be one of gradcam, occlusion"):
        explain_clip(tones.run, good, method="lime", learn=tones.learn)
    with pytest.raises(ParameterError, match="fill must be"):
        explain_clip(tones.run, good, method="occlusion", fill="noise", learn=tones.learn)
    # a run whose image rows are not frequencies (its learner is given: only its params.json is read)
    run = tmp_path / "mfcc_run"
    run.mkdir()
    params = json.loads((tones.run.path / "params.json").read_text())
    (run / "params.json").write_text(json.dumps({**params, "kind": "mfcc"}))
    with pytest.raises(ParameterError, match=re.escape(f"{run}: cannot explain a run trained on kind='mfcc'")):
        explain_files(run, [good], tmp_path / "b", learn=tones.learn)


def test_command_line_explain_and_predict_explain(tones, tmp_path, capsys):
    from audiospec_utils.cli import main

    good, other = tones.held[0].path, tones.held[-1].path
    out = tmp_path / "maps"
    assert main(["explain", str(tones.run.path), str(good), str(tmp_path / "empty.wav"), "--out", str(out),
                 "--json", "--method", "gradcam", "--label", "low"]) == 0
    rows = json.loads(capsys.readouterr().out)        # stdout holds the JSON alone
    assert rows[0]["label"] == "low" and rows[0]["method"] == "gradcam" and rows[1]["error"] == "file not found"
    assert Path(rows[0]["cam_png"]).is_file()
    assert main(["explain", str(tones.run.path), str(tmp_path / "nothing.wav"), "--out", str(out)]) == 1
    assert "error: file not found" in capsys.readouterr().out
    assert main(["explain", str(tones.run.path), str(good), "--out", str(out), "--label", "dog"]) == 2
    assert "label 'dog' is not one the model knows" in capsys.readouterr().err

    pred_out = tmp_path / "pred"
    assert main(["predict", str(tones.run.path), str(good), str(other), "--json", "--explain", str(pred_out)]) == 0
    predicted = json.loads(capsys.readouterr().out)
    explained = json.loads((pred_out / "explain.json").read_text())
    assert [r["file"] for r in explained] == [p["file"] for p in predicted]
    for p, r in zip(predicted, explained):
        assert r["label"] == p["top"][0]["label"] and r["probability"] == pytest.approx(p["top"][0]["probability"])
        assert all(Path(r[k]).is_file() for k in ("cam_npy", "cam_png", "explained_wav"))
    assert main(["predict", "--onnx", str(tmp_path / "m.onnx"), str(good), "--explain", str(pred_out)]) == 2
    assert "--explain runs the run's own model" in capsys.readouterr().err


def test_interpret_cam_maps_top_losses_and_a_mean_map_per_label(tones):
    from audiospec_utils.interpret import interpret_run

    res = interpret_run(tones.run, k=2, cam=True)
    cam_dir = tones.run.path / "cam"
    top = json.loads((cam_dir / "top_losses" / "explain.json").read_text())
    assert len(top) == 2 and all("error" not in r and {"true", "loss"} <= set(r) for r in top)
    assert top[0]["loss"] >= top[1]["loss"]
    meta = json.loads((cam_dir / "mean_maps.json").read_text())
    means = np.load(cam_dir / "mean_maps.npy")
    assert means.shape == (len(meta["labels"]), 32, 100) and means.dtype == np.float32
    assert set(meta["labels"]) <= set(LABELS) and (cam_dir / "mean_maps.png").is_file()
    n_correct = round(res["accuracy"] * res["n_valid_clips"])
    assert sum(v["n_clips"] for v in meta["per_label"].values()) == n_correct
    assert json.loads((tones.run.path / "interpretation.json").read_text())["cam"]["figure"] == res["cam"]["figure"]


# ------------------------------------------------------------------------------------------------
# The parts, without a model


def test_windows_are_averaged_per_frame_and_a_repeated_clip_folds_back():
    from audiospec_utils.explain_maps import place_windows as _place_windows

    # an image of 10 columns, windows of 4 at starts 0, 2, 4, 6: each column the mean of its windows
    maps = np.stack([np.full((2, 4), v, np.float32) for v in (1.0, 2.0, 3.0, 4.0)])
    (img,) = _place_windows(maps, np.zeros(4, int), np.array([0, 2, 4, 6]), np.array([10]))
    np.testing.assert_allclose(img[0], [1, 1, 1.5, 1.5, 2.5, 2.5, 3.5, 3.5, 4, 4])
    # a 3-column clip repeated to fill a 7-column window: each clip column the mean of its repetitions
    window = np.arange(7, dtype=np.float32)[None].repeat(2, axis=0)[None]
    (img,) = _place_windows(window, np.zeros(1, int), np.zeros(1, int), np.array([3]))
    np.testing.assert_allclose(img[0], [(0 + 3 + 6) / 3, (1 + 4) / 2, (2 + 5) / 2])


def test_map_stats_of_a_known_blob():
    from audiospec_utils.explain import map_stats

    cam = np.zeros((8, 100), np.float32)
    cam[2, 40:60] = 1.0
    times, freqs = np.arange(100) * 0.01, np.linspace(100, 800, 8)
    s = map_stats(cam, times, freqs)
    assert s["centre_s"] == pytest.approx(0.495) and s["centre_hz"] == pytest.approx(300.0)
    assert s["share_above_half"] == pytest.approx(20 / 800)
    assert map_stats(np.zeros((8, 100)), times, freqs) == {"centre_s": None, "centre_hz": None,
                                                           "share_above_half": None}


def test_explained_audio_keeps_what_the_map_keeps():
    from audiospec_utils.explain import explained_audio
    from audiospec_utils.spectrogram import logmel

    params = _params()
    t = np.arange(SR * 2) / SR
    y = (0.3 * np.sin(2 * np.pi * 500 * t) + 0.3 * np.sin(2 * np.pi * 2000 * t)).astype(np.float32)
    S = logmel(y, SR, params)
    ones = explained_audio(y, SR, np.ones_like(S), params)
    assert ones.shape == y.shape and ones.dtype == np.float32
    np.testing.assert_allclose(ones[600:-600], y[600:-600], atol=2e-3)   # all-ones map: the clip itself
    assert not np.any(explained_audio(y, SR, np.zeros_like(S), params))
    freqs = np.fft.rfftfreq(len(y), 1 / SR)
    low_band = np.where(np.arange(S.shape[0])[:, None] < 14, 1.0, 0.0) * np.ones_like(S)  # bands below ~1 kHz
    spec = np.abs(np.fft.rfft(explained_audio(y, SR, low_band, params)))
    at = lambda f: spec[np.argmin(np.abs(freqs - f))]  # noqa: E731
    assert at(500) > 100 * at(2000)
    with pytest.raises(ParameterError, match="frames"):
        explained_audio(y, SR, S[:, :-1], params)


def test_mean_map_puts_clips_of_any_length_on_one_time_grid():
    from audiospec_utils.explain import mean_map

    a = np.zeros((4, 50), np.float32)
    a[:, :25] = 1.0                                   # first half of a short clip
    b = np.zeros((4, 300), np.float32)
    b[:, :150] = 1.0                                  # first half of a long clip
    m = mean_map([a, b], n_times=10)
    assert m.shape == (4, 10)
    np.testing.assert_allclose(m[:, :4], 1.0)
    np.testing.assert_allclose(m[:, 6:], 0.0)
    with pytest.raises(ParameterError):
        mean_map([a, np.zeros((5, 10))])
    with pytest.raises(ParameterError):
        mean_map([])


def test_kinds_without_a_frequency_axis_are_refused():
    import dataclasses

    from audiospec_utils.explain import check_explainable

    p = _params()
    check_explainable(p)
    check_explainable(dataclasses.replace(p, kind="stft"))
    check_explainable(dataclasses.replace(p, kind="stack"))
    for bad in (dict(kind="mfcc"), dict(kind="chroma"), dict(kind="stack", channels=("logmel", "mfcc", "delta"))):
        with pytest.raises(ParameterError, match="cannot explain"):
            check_explainable(dataclasses.replace(p, **bad), "run_x")


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q", "-s"]))
