"""ONNX export and the light runtime: parity with the training path, bad input, the command line.

The exported model is checked against ``predict`` with ``export.pkl`` (the fastai path) on the mini
dataset's clips and, when ``../shared/data`` is there, on the 60 real FSDKaggle2018 test clips of
the subset (extracted to a temporary folder). Speed is measured in ``bench/onnx_speed.py``, not here.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from helpers import tone, write_wav

pytest.importorskip("onnxruntime", reason="onnxruntime is not installed (pip install 'audiospec[deploy]')")
pytest.importorskip("onnxscript", reason="onnxscript is not installed (pip install 'audiospec[deploy]')")

SUBSET = Path(__file__).resolve().parents[2] / "shared" / "data" / "fsdkaggle2018-subset"


@pytest.fixture(scope="module")
def exported(trained_run, tmp_path_factory):
    """The trained run exported twice: as it is (8-bit pixels) and without rounding the pixels."""
    from audiospec_utils.cli import main
    from audiospec_utils.infer.export_onnx import export_onnx

    run, _ = trained_run
    out = tmp_path_factory.mktemp("onnx")
    assert main(["-q", "export", str(run), "--out", str(out / "model.onnx")]) == 0
    export_onnx(run, out / "continuous.onnx", quantize=False)  # reuses the traced network
    return out / "model.onnx", out / "continuous.onnx"


@pytest.fixture(scope="module")
def real_clips(tmp_path_factory):
    if not SUBSET.is_dir():
        pytest.skip(f"{SUBSET} is absent: the real FSDKaggle2018 clips come from ../shared/data")
    out = tmp_path_factory.mktemp("fsd")
    with zipfile.ZipFile(SUBSET / "FSDKaggle2018.audio_test.zip") as z:
        names = [n for n in z.namelist() if n.endswith(".wav")]
        z.extractall(out, names)
    return sorted(out.rglob("*.wav"))


def _parity(run, models, files):
    """Per model: top-1 agreement with the fastai path, largest probability difference, image MAE (grey levels)."""
    from audiospec_utils.audio.decode import load_audio
    from audiospec_utils.features.image_cache import resize_height
    from audiospec_utils.infer.onnx_predict import OnnxClassifier
    from audiospec_utils.infer.predict import load_model, predict_files

    learn = load_model(run)
    ref = predict_files(run, files, learn=learn, return_probs=True)
    audio = [load_audio(f) for f in files]
    out = []
    for model in models:
        clf = OnnxClassifier(model)
        assert clf.labels == [str(v) for v in learn.dls.vocab]
        same, diffs, image_err = [], [], []
        for (y, sr), r in zip(audio, ref):
            assert "error" not in r, r
            a = clf.analyse(y, sr)
            assert a["n_windows"] == r["n_windows"]
            same.append(int(np.argmax(a["probs"])) == int(np.argmax(r["probs"])))
            diffs.append(float(np.abs(a["probs"] - r["probs"]).max()))
            rendered = resize_height(r["images"][0], learn.dls.config["height"]).astype(np.float32)
            image_err.append(float(np.abs(a["images"][0][0] - rendered).mean()))
        out.append((float(np.mean(same)), float(np.max(diffs)), float(np.mean(image_err))))
    return out


def _check_and_report(name, files, results):
    (agree, max_diff, mae), (agree_c, max_diff_c, mae_c) = results
    print(f"\n{name}: {len(files)} clips; top-1 agreement {agree:.1%}, largest |p_onnx - p_fastai| {max_diff:.2e}, "
          f"image MAE {mae:.4f} grey levels; without 8-bit pixels: agreement {agree_c:.1%}, largest difference "
          f"{max_diff_c:.2e}, image MAE {mae_c:.3f}")
    assert agree >= 0.99
    assert max_diff < 1e-3   # float32 arithmetic in another order: far below what changes a label
    assert mae < 0.05        # a grey level differs now and then where a value falls on a rounding edge
    assert 0.01 < mae_c < 0.5  # unrounded pixels differ by up to half a grey level: the model does round


def test_parity_on_the_mini_dataset(trained_run, exported, mini_root):
    run, _ = trained_run
    files = sorted(Path(mini_root).rglob("*.wav"))[::4]
    assert len(files) >= 12
    _check_and_report("mini", files, _parity(run, exported, files))


def test_parity_on_real_clips(trained_run, exported, real_clips):
    run, _ = trained_run
    assert len(real_clips) == 60
    files = real_clips[::3]  # 20 clips of 1 to 26 s; bench/onnx_speed.py compares all 300 of the subset
    _check_and_report("FSDKaggle2018 subset (test archive)", files, _parity(run, exported, files))


def test_model_interface_and_metadata(trained_run, exported):
    import onnx
    import onnxruntime as ort

    from audiospec_utils.infer.export_onnx import OPSET
    from audiospec_utils.learn import Run

    run, metrics = trained_run
    model = onnx.load(str(exported[0]), load_external_data=False)
    assert {o.domain: o.version for o in model.opset_import}[""] == OPSET
    assert [d.dim_param for d in model.graph.input[0].type.tensor_type.shape.dim] == ["n_samples"]
    meta = json.loads({p.key: p.value for p in model.metadata_props}["audiospec"])
    params, cfg = Run(run).spec_params, Run(run).learner().dls.config
    r = params.resolve(params.target_sr)
    assert meta["labels"] == metrics["classes"] and meta["sample_rate"] == params.target_sr
    assert (meta["n_fft"], meta["hop_length"], meta["top_db"]) == (r["n_fft"], r["hop_length"], params.top_db)
    assert meta["spectrogram_params"] == params.to_dict()
    assert (meta["height"], meta["crop_frames"], meta["mean"]) == (cfg["height"], cfg["length"], cfg["mean"])
    sess = ort.InferenceSession(str(exported[0]), providers=["CPUExecutionProvider"])
    n_fft, hop, length = r["n_fft"], r["hop_length"], cfg["length"]
    for n in (1, n_fft - 1, 5 * params.target_sr):  # any length: one sample, under one FFT window, 5 s
        probs, wp, starts, image = sess.run(None, {"audio": (0.1 * np.sin(np.arange(n) / 7)).astype(np.float32)})
        n_frames = 1 + (max(n, n_fft) + 2 * (n_fft // 2) - n_fft) // hop
        assert image.shape == (1, cfg["height"], n_frames)
        assert wp.shape == (len(starts), len(metrics["classes"])) and probs.shape == (len(metrics["classes"]),)
        assert starts[0] == 0 and starts[-1] == max(0, n_frames - length)
        np.testing.assert_allclose(probs, wp.mean(axis=0), atol=1e-6)
        np.testing.assert_allclose(wp.sum(axis=1), 1, atol=1e-5)


def test_resize_matrix_is_pillows_bilinear():
    from PIL import Image

    from audiospec_utils.infer.export_onnx import resize_matrix

    rng = np.random.default_rng(0)
    for h_in, h_out in ((128, 32), (128, 64), (128, 100), (64, 128), (40, 17), (128, 128)):
        img = rng.integers(0, 256, (h_in, 50), dtype=np.uint8)
        img[:, :5] = 255
        ours = np.clip(np.floor(resize_matrix(h_in, h_out) @ img.astype(np.float64) + 0.5), 0, 255)
        pil = np.asarray(Image.fromarray(img).resize((50, h_out), Image.Resampling.BILINEAR))
        np.testing.assert_array_equal(ours, pil, err_msg=f"{h_in} -> {h_out}")


def test_other_rates_are_resampled_as_rendering_does(trained_run, exported, tmp_path):
    from audiospec_utils.audio.decode import load_audio
    from audiospec_utils.infer.onnx_predict import OnnxClassifier, resample
    from audiospec_utils.infer.predict import predict_files

    run, _ = trained_run
    clf = OnnxClassifier(exported[0])
    rng = np.random.default_rng(1)
    for rate in (22050, 48000):
        y = (0.3 * rng.standard_normal(int(1.3 * rate))).astype(np.float32) + tone(700, 1.3, sr=rate)
        path = write_wav(tmp_path / f"clip_{rate}.wav", y, sr=rate)
        native, sr = load_audio(path)
        assert sr == rate
        rendered, _ = load_audio(path, sr=clf.sample_rate)
        np.testing.assert_array_equal(resample(native, rate, clf.sample_rate), rendered)
        ours = clf.predict_file(path, return_probs=True)
        ref = predict_files(run, [path], return_probs=True)[0]
        assert ours["duration"] == pytest.approx(ref["duration"]) and ours["sr"] == rate
        assert ours["band_limited"] == (rate < clf.sample_rate)
        assert ours["top"][0]["label"] == ref["top"][0]["label"]
        np.testing.assert_allclose(ours["probs"], ref["probs"], atol=1e-3)
    stereo = np.stack([tone(500, 1.0), tone(900, 1.0)])
    np.testing.assert_allclose(clf.analyse(stereo, 44100)["probs"],
                               clf.analyse(stereo.mean(axis=0), 44100)["probs"], atol=1e-6)


def test_light_runtime_imports_no_torch(exported, tmp_path):
    clip = write_wav(tmp_path / "a.wav", tone(440, 1.0))
    code = (f"import sys, json\nfrom audiospec_utils.infer.onnx_predict import OnnxClassifier\n"
            f"e = OnnxClassifier({str(exported[0])!r}).predict_file({str(clip)!r}, k=2)\n"
            f"heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'fastai', 'librosa'))\n"
            f"print(json.dumps({{'top': e['top'], 'heavy': heavy}}))")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["heavy"] == [] and len(out["top"]) == 2


def test_bad_input(trained_run, exported, tmp_path):
    from audiospec_utils.exceptions import ParameterError
    from audiospec_utils.infer.export_onnx import SUPPORTED_KINDS, export_onnx
    from audiospec_utils.infer.onnx_predict import OnnxClassifier
    from audiospec_utils.features import SpectrogramParams

    run, _ = trained_run
    for i, (change, match) in enumerate([({"kind": "mfcc"}, "exported graph computes the kinds logmel, stft"),
                                         ({"kind": "stack"}, "cannot be exported"),
                                         ({"width": 128}, "fixed image width"),
                                         ({"sr": None}, "pass sr=")]):
        folder = tmp_path / f"run{i}"
        folder.mkdir()
        params = {**SpectrogramParams.defaults(), "sr": 44100, **change}
        (folder / "params.json").write_text(json.dumps(params))
        with pytest.raises(ParameterError, match=match):
            export_onnx(folder, tmp_path / "x.onnx")
    assert SUPPORTED_KINDS == ("logmel", "stft")
    with pytest.raises(ParameterError, match="differs from the run's sample rate"):
        export_onnx(run, tmp_path / "x.onnx", sr=16000)
    assert not (tmp_path / "x.onnx").exists()

    clf = OnnxClassifier(exported[0])
    (tmp_path / "empty.wav").write_bytes(b"")
    header_only = write_wav(tmp_path / "header.wav", np.zeros(0, np.float32))
    good = write_wav(tmp_path / "good.wav", tone(440, 0.5))
    res = clf.predict_files([tmp_path / "empty.wav", header_only, tmp_path / "missing.wav", good])
    assert res[0]["error"] == "empty file (0 bytes)" and "no audio samples" in res[1]["error"]
    assert res[2]["error"] == "file not found" and "top" in res[3]
    with pytest.raises(ParameterError, match="zero length"):
        clf.predict_array(np.zeros(0, np.float32), 44100)
    with pytest.raises(ParameterError, match="NaN"):
        clf.predict_array(np.full(100, np.nan, np.float32), 44100)
    with pytest.raises(ParameterError, match="k must be"):
        clf.predict_file(good, k=0)
    (tmp_path / "fake.onnx").write_text("not a model")
    with pytest.raises(ParameterError, match="not an ONNX model"):
        OnnxClassifier(tmp_path / "fake.onnx")
    res = subprocess.run([sys.executable, "-m", "audiospec_utils", "export", str(tmp_path / "run0"), "--out",
                          str(tmp_path / "y.onnx")], capture_output=True, text=True, timeout=300)
    assert res.returncode == 2 and "logmel, stft" in res.stderr and res.stdout == ""


def _make_folder(root: Path) -> list[Path]:
    files = [write_wav(root / "a" / "one.wav", tone(300, 1.2)),
             write_wav(root / "a" / "deep" / "two.WAV", tone(3000, 0.4)),
             write_wav(root / "b" / "long.flac", np.concatenate([tone(300, 6.0), tone(5000, 6.0)]))]
    (root / "a" / "notes.txt").write_text("not audio: skipped by extension")
    (root / "b" / "broken.wav").write_text("not audio but named .wav: an error row")
    return files


def test_onnx_cli_on_a_folder_streams_csv_and_timeline(exported, tmp_path):
    root = tmp_path / "in"
    _make_folder(root)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "audiospec_utils", "predict", "--onnx", str(exported[0]), str(root), "--json",
           "--csv", str(out / "p.csv"), "--timeline", str(out / "tl"), "--top-k", "2"]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    entries = json.loads(res.stdout)   # stdout is the JSON alone
    names = [Path(e["file"]).name for e in entries]
    assert sorted(names) == ["broken.wav", "long.flac", "one.wav", "two.WAV"]
    rows = list(csv.DictReader((out / "p.csv").open()))
    assert [Path(r["file"]).name for r in rows] == names
    bad = rows[names.index("broken.wav")]
    assert "not a readable audio file" in bad["error"] and bad["label_1"] == ""
    long = entries[names.index("long.flac")]
    assert long["n_windows"] > 5 and Path(long["plot"]).is_file()
    tl = [r for r in csv.DictReader((out / "tl" / "timeline.csv").open()) if r["file"] == long["file"]]
    assert len(tl) == long["n_windows"]
    starts, ends = [float(r["start_s"]) for r in tl], [float(r["end_s"]) for r in tl]
    assert starts[0] == 0 and starts == sorted(starts) and ends[-1] == pytest.approx(12.0, abs=0.05)


def test_fastai_path_takes_folders_and_agrees_with_onnx_window_by_window(trained_run, exported, tmp_path):
    from audiospec_utils.infer.predict_batch import FastaiBackend, OnnxBackend, predict_paths

    run, _ = trained_run
    root = tmp_path / "in"
    _make_folder(root)
    a = predict_paths(FastaiBackend(run), [root], k=3, csv_path=tmp_path / "f.csv", timeline=tmp_path / "ft",
                      progress=False, plots=False)
    b = predict_paths(OnnxBackend(exported[0]), [root], k=3, timeline=tmp_path / "ot", progress=False, plots=False)
    assert [e["file"] for e in a] == [e["file"] for e in b] and sum("error" in e for e in a) == 1
    for x, y in zip(a, b):
        assert ("error" in x) == ("error" in y)
        if "error" not in x:
            assert x["top"][0]["label"] == y["top"][0]["label"] and x["n_windows"] == y["n_windows"]
    fa = list(csv.reader((tmp_path / "ft" / "timeline.csv").open()))
    ob = list(csv.reader((tmp_path / "ot" / "timeline.csv").open()))
    assert len(fa) == len(ob) > 10
    for r, s in zip(fa[1:], ob[1:]):
        assert r[:5] == s[:5]                                   # file, window, start, end, top label
        assert float(r[5]) == pytest.approx(float(s[5]), abs=1e-3)
