"""Explanation maps (audiospec_utils.explain.explanation, ``audiospec explain``) on clips where the answer is known.

The clips are those of ``bench/explain_known_answer.py`` (its generator is imported from there), at
8 kHz to keep the test short: two labels, "low" and "high", differ only by a tone burst at 500 Hz or
2 kHz, 0.5 to 1.5 s long, anywhere in 4 s of reddish noise, and both labels have the distractors: 2
to 5 loud clicks and a 1 kHz "decoy" burst at a random time. Tones are levelled by the height of
the mel filters at their frequency (librosa's Slaney filters shrink as they widen, so that a clip's
noise floor in dB re its loudest bin would otherwise tell the labels apart), so nothing but the
burst does. A ResNet-18 is trained from scratch once per module with the ``quick`` recipe's image
height (48 px) and crop (1 s: a 4 s clip is explained by eight windows overlapping by about half), with
smaller batches and fewer epochs than the recipe, for the test's time. On held-out clips (burst
centres spread over the whole clip, flush with either end among them, lengths 0.5, 1 and 1.5 s)
the map of the true label must put its centre of mass in time within 0.5 s of the burst's centre
(both methods), in frequency within a factor of 2 of the tone (both), and the explained sound must
carry a larger share of its energy in the burst than the clip, each for at least 80% of the
clips; the same criteria applied to the same maps with their cells shuffled must fail: they test
the maps, not luck. The map must have no seams where windows meet (its jumps between adjacent
frames at window edges no larger than 1.5 times those inside windows), while the former plain
mean of the windows has them. ``EXPLAIN_TEST_SEED=N`` draws other clips (and so trains another
model), to see how robust this is.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile as sf

from audiospec_utils.exceptions import ParameterError

SR = 8000
SECONDS = 4.0
LABELS = ("low", "high")
N_TRAIN = 50            # clips per label rendered for training (a fifth of them validate)
N_HELD = 12             # held-out clips per label, never seen in training
OCCLUSION = dict(patch=(8, 16), stride=(8, 16))   # coarser than the default (6 x 4 patches a window), for time
BENCH = Path(__file__).resolve().parents[1] / "bench" / "explain_known_answer.py"


def _bench():
    """bench/explain_known_answer.py as a module (the clips' generator and the criteria)."""
    if "explain_known_answer" not in sys.modules:
        spec = importlib.util.spec_from_file_location("explain_known_answer", BENCH)
        mod = importlib.util.module_from_spec(spec)
        sys.modules["explain_known_answer"] = mod
        spec.loader.exec_module(mod)
    return sys.modules["explain_known_answer"]


def _params():
    from audiospec_utils.features import SpectrogramParams

    return SpectrogramParams(sr=SR, n_fft=512, hop_length=128, n_mels=32, fmin=50.0)


def clip(rng, label="low", **kwargs):
    """A known-answer clip at the test's rate and render: (audio, meta)."""
    return _bench().known_answer_clip(rng, label, sr=SR, params=_params(), **kwargs)


@pytest.fixture(scope="module")
def tones(tmp_path_factory):
    """The known-answer clips, their render and a run trained on them (once per module)."""
    from audiospec_utils.learn import Run
    from audiospec_utils.features.render import render_spectrograms
    from audiospec_utils.learn.train import train_classifier

    root = tmp_path_factory.mktemp("tones")
    seed = int(os.environ.get("EXPLAIN_TEST_SEED", 0))
    held = _bench().make_clips(root, n_train=N_TRAIN, n_held=N_HELD, seed=seed, sr=SR, params=_params())
    render_spectrograms(root / "data", root / "specs", _params(), n_jobs=1, progress=False)
    # the quick recipe's 48 px and 1 s crops (given: these clips of one burst would get whole-clip crops
    # averaged in time); batches of 16 and 10 epochs instead of 64 and 15 (time)
    train_classifier(root / "specs", root / "run", recipe="quick", epochs=10, bs=16, pretrained=False,
                     crop_seconds=1.0, progress=False, seed=seed)
    run = Run(root / "run")
    return SimpleNamespace(root=root, run=run, learn=run.learner(), held=held)


def _criteria(explanations, held, cams=None) -> dict:
    """Fractions of held-out clips meeting each criterion, for the maps (or for `cams` in their place)."""
    from audiospec_utils.explain.explanation import explained_audio, map_stats

    share = _bench().burst_share
    t_ok, f_ok, e_ok = [], [], []
    for i, (e, h) in enumerate(zip(explanations, held)):
        cam = e.cam if cams is None else cams[i]
        s = map_stats(cam, e.times, e.freqs)
        t_ok.append(s["centre_s"] is not None and abs(s["centre_s"] - h.centre) <= 0.5)
        f_ok.append(s["centre_hz"] is not None and h.freq / 2 <= s["centre_hz"] <= 2 * h.freq)
        heard = explained_audio(e.y, e.sr, cam, e.params)
        e_ok.append(share(heard, SR, h.centre, h.burst) > share(e.y, SR, h.centre, h.burst))
    return {"time": float(np.mean(t_ok)), "freq": float(np.mean(f_ok)), "energy": float(np.mean(e_ok)),
            "n": len(held)}


def _seam_ratio(explanations, length: int) -> float:
    """Mean jump of the maps between adjacent frames at window edges over the mean jump inside windows."""
    b = _bench()
    at, inside = zip(*(b.seam_jumps(e.cam, b.window_edges(e.cam.shape[1], length)) for e in explanations))
    return float(np.concatenate(at).mean() / np.concatenate(inside).mean())


def _shuffled(explanations, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.permutation(e.cam.ravel()).reshape(e.cam.shape) for e in explanations]


@pytest.fixture(scope="module")
def gradcam_maps(tones):
    from audiospec_utils.explain.explanation import explain_clip

    return [explain_clip(tones.run, h.path, label=h.label, learn=tones.learn) for h in tones.held]


@pytest.fixture(scope="module")
def occlusion_maps(tones):
    from audiospec_utils.explain.explanation import explain_clip

    return [explain_clip(tones.run, h.path, label=h.label, method="occlusion", learn=tones.learn, **OCCLUSION)
            for h in tones.held]


def test_gradcam_finds_the_burst_in_time_and_frequency_and_a_shuffled_map_does_not(tones, gradcam_maps):
    got = _criteria(gradcam_maps, tones.held)
    print(f"\ngrad-cam (LayerCAM weighting, layer 'auto') on {got['n']} held-out clips: {got}")
    assert got["time"] >= 0.8 and got["freq"] >= 0.8 and got["energy"] >= 0.8, got
    shuffled = _criteria(gradcam_maps, tones.held, _shuffled(gradcam_maps))
    print(f"the same maps shuffled: {shuffled}")
    assert shuffled["time"] < 0.8 and shuffled["freq"] < 0.8 and shuffled["energy"] < 0.8, shuffled


def test_maps_have_no_seams_where_windows_meet_and_the_plain_mean_of_windows_had(tones, gradcam_maps):
    from audiospec_utils.explain.explanation import explain_clip

    length = int(tones.learn.dls.config["length"])
    assert all(e.n_windows > 1 for e in gradcam_maps)          # 1 s windows: several per 4 s clip
    ratio = _seam_ratio(gradcam_maps, length)
    plain = [explain_clip(tones.run, h.path, label=h.label, learn=tones.learn, evidence="none", taper="flat")
             for h in tones.held[::3]]                          # the windows averaged, each counting once
    before = _seam_ratio(plain, length)
    print(f"\njumps at window edges / inside windows: {ratio:.2f} (before: {before:.2f})")
    assert ratio <= 1.5 and before > 2 * ratio, (ratio, before)


def test_a_window_without_the_sound_does_not_paint_the_clip(tones, gradcam_maps):
    from audiospec_utils.explain.explanation import explain_clip

    # the maps of the windows without the burst: weighted by their evidence they fade; averaged, they paint
    h = tones.held[len(tones.held) // 4]
    plain = explain_clip(tones.run, h.path, label=h.label, learn=tones.learn, evidence="none")
    weighted = gradcam_maps[len(tones.held) // 4]
    outside = np.abs(weighted.times - h.centre) > h.burst / 2 + 0.5
    assert outside.sum() > 30
    share = lambda e: float(e.cam[:, outside].sum() / e.cam.sum())  # noqa: E731
    print(f"\nshare of the map more than 0.5 s away from the burst: {share(weighted):.3f} "
          f"(windows averaged: {share(plain):.3f})")
    assert share(weighted) < share(plain)


def test_occlusion_finds_the_burst_in_time_and_frequency_and_a_shuffled_map_does_not(tones, occlusion_maps):
    got = _criteria(occlusion_maps, tones.held)
    print(f"\nocclusion on {got['n']} held-out clips: {got}")
    assert got["time"] >= 0.8 and got["freq"] >= 0.8 and got["energy"] >= 0.8, got
    shuffled = _criteria(occlusion_maps, tones.held, _shuffled(occlusion_maps))
    print(f"the same maps shuffled: {shuffled}")
    assert shuffled["time"] < 0.8 and shuffled["freq"] < 0.8 and shuffled["energy"] < 0.8, shuffled


def test_a_map_lines_up_with_the_clips_spectrogram_and_its_prediction(tones, gradcam_maps):
    from audiospec_utils.audio.decode import load_audio
    from audiospec_utils.infer.predict import predict_files
    from audiospec_utils.features import logmel

    h, e = tones.held[0], gradcam_maps[0]
    y, sr = load_audio(h.path, sr=_params().target_sr)
    S = logmel(y, sr, _params())
    assert e.cam.dtype == np.float32 and e.cam.shape == S.shape == (32, 1 + len(y) // 128)
    np.testing.assert_array_equal(e.spectrogram, S)
    assert e.cam.min() >= 0 and e.cam.max() == pytest.approx(1.0)
    np.testing.assert_allclose(e.times[[0, -1]], [0.0, (S.shape[1] - 1) * 128 / SR])
    assert np.all(np.diff(e.freqs) > 0) and 50 < e.freqs[0] < e.freqs[-1] < SR / 2
    from audiospec_utils.learn.crops import window_starts

    n_windows = len(window_starts(S.shape[1], tones.learn.dls.config["length"]))     # 1 s windows, half overlapping
    assert e.n_windows == n_windows >= 7
    assert e.window_evidence.shape == (n_windows,) and e.window_evidence.max() == 1.0 and e.window_evidence.min() >= 0
    pred = predict_files(tones.run, [h.path], learn=tones.learn, k=2)[0]
    p = {t["label"]: t["probability"] for t in pred["top"]}
    assert e.probability == pytest.approx(p[e.label], abs=1e-6)
    np.testing.assert_allclose(e.probs.sum(), 1.0, atol=1e-5)


def test_a_long_clip_is_explained_window_by_window_as_predict_averages_them(tones, tmp_path):
    from audiospec_utils.explain.explanation import explain_clip
    from audiospec_utils.learn.inference import predict_windows
    from audiospec_utils.infer.predict import predict_files

    # 10 s with a 1 s burst at 7.5 s, the decoy and clicks elsewhere: many windows, most without the burst
    y, meta = clip(np.random.default_rng(5), "low", centre=7.5, burst=1.0, seconds=10.0)
    path = tmp_path / "long.wav"
    sf.write(path, y, SR)
    e = explain_clip(tones.run, path, label="low", learn=tones.learn)
    seen = predict_windows(tones.learn, path, tones.run.spec_params)
    assert e.n_windows == len(seen.window_probs) > 4 and e.cam.shape == (32, 1 + len(y) // 128)
    profile = e.cam.mean(axis=0)                  # over frequency
    inside = np.abs(e.times - 7.5) <= 0.5
    assert abs(e.times[np.argmax(profile)] - 7.5) <= 0.5
    assert profile[inside].mean() > 3 * profile[~inside].mean(), (profile[inside].mean(), profile[~inside].mean())
    pred = predict_files(tones.run, [path], learn=tones.learn, k=2, return_probs=True)[0]
    np.testing.assert_allclose(e.probs, pred["probs"], atol=1e-6)


def test_explain_files_writes_map_picture_sound_and_json_and_never_stops_for_one_file(tones, tmp_path):
    from PIL import Image

    from audiospec_utils.explain.explanation import explain_files

    good = tones.held[0].path
    (tmp_path / "empty.wav").write_bytes(b"")
    (tmp_path / "notes.wav").write_text("not audio at all")
    short = tmp_path / "short.wav"               # 0.3 s: shorter than one 1 s window, repeated as predict does
    sf.write(short, clip(np.random.default_rng(1), "low", centre=0.25, burst=0.5)[0][:int(0.3 * SR)], SR)
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
    from audiospec_utils.explain.explanation import explain_clip, explain_files

    good = tones.held[0].path
    with pytest.raises(ParameterError, match=r"label 'dog' is not one the model knows.*high, low"):
        explain_files(tones.run, [good], tmp_path / "a", label="dog", learn=tones.learn)
    assert not (tmp_path / "a" / "explain.json").exists()
    with pytest.raises(ParameterError, match="method must be one of gradcam, occlusion"):
        explain_clip(tones.run, good, method="lime", learn=tones.learn)
    with pytest.raises(ParameterError, match="fill must be"):
        explain_clip(tones.run, good, method="occlusion", fill="noise", learn=tones.learn)
    for bad, match in ((dict(evidence="loud"), "evidence must be one of odds, probability, none"),
                       (dict(taper="cosine"), "taper must be one of hann, flat"),
                       (dict(weighting="lime"), "weighting must be one of gradcam, layercam"),
                       (dict(layer="layer9"), "layer must be None, 'auto', a module or one of layer1, layer2")):
        with pytest.raises(ParameterError, match=match):
            explain_clip(tones.run, good, learn=tones.learn, **bad)
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
    from audiospec_utils.explain.interpret import interpret_run

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
    from audiospec_utils.explain.maps import place_windows as _place_windows

    # an image of 10 columns, windows of 4 at starts 0, 2, 4, 6: each column the mean of its windows
    maps = np.stack([np.full((2, 4), v, np.float32) for v in (1.0, 2.0, 3.0, 4.0)])
    (img,) = _place_windows(maps, np.zeros(4, int), np.array([0, 2, 4, 6]), np.array([10]))
    np.testing.assert_allclose(img[0], [1, 1, 1.5, 1.5, 2.5, 2.5, 3.5, 3.5, 4, 4])
    # a 3-column clip repeated to fill a 7-column window: each clip column the mean of its repetitions
    window = np.arange(7, dtype=np.float32)[None].repeat(2, axis=0)[None]
    (img,) = _place_windows(window, np.zeros(1, int), np.zeros(1, int), np.array([3]))
    np.testing.assert_allclose(img[0], [(0 + 3 + 6) / 3, (1 + 4) / 2, (2 + 5) / 2])


def test_a_weak_window_stays_weak_and_windows_meet_without_a_step():
    from audiospec_utils.explain.blend import blend_windows

    # two windows of 8 columns overlapping by half on an image of 12: maps of 1 everywhere
    ones = np.ones((2, 1, 8))
    rows, starts, widths = np.zeros(2, int), np.array([0, 4]), np.array([12])
    (img,), (cov,) = blend_windows(ones, rows, starts, widths, evidence=[1.0, 0.01])
    assert img.dtype == np.float32 and img.shape == (1, 12) and cov.shape == (12,)
    # the first window's columns keep 1, the second's alone fall to its evidence, smoothly in between
    assert img[0, 0] == pytest.approx(1.0) and img[0, -1] == pytest.approx(0.01)
    assert np.all(np.diff(img[0]) <= 1e-7) and np.abs(np.diff(img[0])).max() < 0.5
    # normalised by the taper, not by taper x evidence: a lone weak window is not scaled back up
    (img,), _ = blend_windows(ones[:1], [0], [0], [8], evidence=[0.1])
    np.testing.assert_allclose(img[0], 0.1, rtol=1e-6)
    # the former plain mean steps where a window starts and ends; the taper does not
    steps = np.stack([np.full((1, 8), v) for v in (1.0, 3.0, 1.0)])
    flat = blend_windows(steps, np.zeros(3, int), [0, 4, 8], [16], taper="flat")[0][0][0]
    hann = blend_windows(steps, np.zeros(3, int), [0, 4, 8], [16])[0][0][0]
    assert np.abs(np.diff(flat)).max() == pytest.approx(1.0)
    assert np.abs(np.diff(hann)).max() < 0.7 * np.abs(np.diff(flat)).max()
    # a window longer than its image (a repeated clip) wraps around
    (img,), (cov,) = blend_windows(np.arange(7.0)[None, None], [0], [0], [3], taper="flat")
    np.testing.assert_allclose(img[0], [(0 + 3 + 6) / 3, (1 + 4) / 2, (2 + 5) / 2])
    np.testing.assert_allclose(cov, [3, 2, 2])
    with pytest.raises(ParameterError, match="taper must be one of hann, flat"):
        blend_windows(ones, rows, starts, widths, taper="box")
    with pytest.raises(ParameterError, match="2 window maps but 2 rows, 2 starts, 3 evidences"):
        blend_windows(ones, rows, starts, widths, evidence=[1, 1, 1])


def test_window_evidence_is_each_windows_odds_relative_to_the_most_convincing_one():
    from audiospec_utils.explain.blend import window_evidence, window_taper

    probs = np.array([[0.5, 0.5], [0.99, 0.01], [0.9, 0.1], [1.0, 0.0]], np.float32)
    ev = window_evidence(probs[:3], 0)
    np.testing.assert_allclose(ev, [1 / 99, 1.0, 9 / 99], rtol=1e-5)
    assert window_evidence(probs, 0)[3] == 1.0 and np.all(np.isfinite(window_evidence(probs, 1)))
    np.testing.assert_allclose(window_evidence(probs[:3], 0, "probability"), [0.5, 0.99, 0.9], rtol=1e-6)
    np.testing.assert_array_equal(window_evidence(probs, 1, "none"), np.ones(4))
    np.testing.assert_allclose(window_evidence(np.full((3, 2), 0.5), 1), 1.0)   # all alike: equal weights
    t = window_taper(5)
    np.testing.assert_allclose(t, [0.25, 0.75, 1.0, 0.75, 0.25])
    assert window_taper(1)[0] == pytest.approx(1.0) and np.all(window_taper(64) > 0)
    for bad, match in (((probs, 2), "target 2 is not a column"), ((probs[0], 0), "shape \\(n_windows, n_classes\\)")):
        with pytest.raises(ParameterError, match=match):
            window_evidence(*bad)
    with pytest.raises(ParameterError, match="evidence must be one of odds, probability, none"):
        window_evidence(probs, 0, "loud")


def test_the_window_blend_runs_without_torch_even_as_a_copy_of_its_file(tmp_path):
    import shutil

    import audiospec_utils.explain.blend as blend

    copy = tmp_path / "explain_blend.py"           # as the ONNX app copies it into its folder
    shutil.copy(blend.__file__, copy)
    code = ("import sys, numpy as np; sys.path.insert(0, sys.argv[1]); import explain_blend as b; "
            "m, c = b.blend_windows(np.ones((2, 3, 4)), [0, 0], [0, 2], [6], evidence=b.window_evidence("
            "np.array([[0.9, 0.1], [0.5, 0.5]]), 0)); "
            "assert 'torch' not in sys.modules and 'audiospec_utils' not in sys.modules and m[0].shape == (3, 6); "
            "import audiospec_utils.explain.maps; assert 'torch' not in sys.modules; print('ok')")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]


def test_map_stats_of_a_known_blob():
    from audiospec_utils.explain.explanation import map_stats

    cam = np.zeros((8, 100), np.float32)
    cam[2, 40:60] = 1.0
    times, freqs = np.arange(100) * 0.01, np.linspace(100, 800, 8)
    s = map_stats(cam, times, freqs)
    assert s["centre_s"] == pytest.approx(0.495) and s["centre_hz"] == pytest.approx(300.0)
    assert s["share_above_half"] == pytest.approx(20 / 800)
    assert map_stats(np.zeros((8, 100)), times, freqs) == {"centre_s": None, "centre_hz": None,
                                                           "share_above_half": None}


def test_explained_audio_keeps_what_the_map_keeps():
    from audiospec_utils.explain.explanation import explained_audio
    from audiospec_utils.features import logmel

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
    from audiospec_utils.explain.explanation import mean_map

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

    from audiospec_utils.explain.explanation import check_explainable

    p = _params()
    check_explainable(p)
    check_explainable(dataclasses.replace(p, kind="stft"))
    check_explainable(dataclasses.replace(p, kind="stack"))
    for bad in (dict(kind="mfcc"), dict(kind="chroma"), dict(kind="stack", channels=("logmel", "mfcc", "delta"))):
        with pytest.raises(ParameterError, match="cannot explain"):
            check_explainable(dataclasses.replace(p, **bad), "run_x")


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q", "-s"]))
