import json
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from audiospec_utils.evaluate import evaluate_run, fallback_labels, write_submission
from audiospec_utils.exceptions import DatasetError

EMPTY_IN_REAL_TEST_SET = ("0b0427e2.wav", "6ea0099f.wav", "b39975f5.wav")


def _rank_score(label, row, vocab):
    """MAP@3 of one clip, computed independently of audiospec_utils.metrics."""
    ranked = sorted(vocab, key=lambda c: -row[c])[:3]
    return 1.0 / (ranked.index(label) + 1) if label in ranked else 0.0


def test_evaluate_on_the_runs_own_test_split(trained_run, mini_specs):
    run, metrics = trained_run
    res = evaluate_run(run, progress=False)
    saved = json.loads((run / "test_metrics.json").read_text())
    assert saved["n_clips"] == 16 == saved["n_scored"] and saved["n_failed"] == 0  # 8 labels x 2 test clips
    preds = pd.read_csv(run / "test_predictions.csv", keep_default_na=False)
    vocab = metrics["classes"]
    assert len(preds) == 16 and preds["clip_id"].str.startswith("test/").all()
    np.testing.assert_allclose(preds[vocab].sum(axis=1), 1.0, atol=1e-4)
    expected_map = np.mean([_rank_score(r["label"], r, vocab) for _, r in preds.iterrows()])
    expected_acc = np.mean([max(vocab, key=lambda c: r[c]) == r["label"] for _, r in preds.iterrows()])
    assert saved["map_at_3"] == pytest.approx(expected_map) and saved["accuracy"] == pytest.approx(expected_acc)
    assert sum(v["support"] for v in saved["per_class"].values()) == 16
    assert set(saved["per_class"]) == set(vocab)
    for v in saved["per_class"].values():
        assert 0 <= v["precision"] <= 1 and 0 <= v["recall"] <= 1 and 0 <= v["f1"] <= 1
    sub = pd.read_csv(run / "submission.csv", keep_default_na=False)
    assert list(sub.columns) == ["fname", "label"] and len(sub) == 16 == res["submission_rows"]
    assert sub["fname"].tolist() == preds["fname"].tolist()
    for row in sub.itertuples():
        labels = row.label.split(" ")
        assert len(labels) == 3 and len(set(labels)) == 3 and set(labels) <= set(vocab)
    # the first label of the submission is the clip's prediction
    assert (sub["label"].str.split(" ").str[0] == preds[vocab].idxmax(axis=1)).all()


def _kaggle_layout(root, mini_root, n_good=4):
    """The Kaggle competition layout: unlabelled test clips, three empty WAVs and a corrupt one."""
    from audiospec_utils.datasets import load_fsdkaggle2018

    test = load_fsdkaggle2018(mini_root, split="test").head(n_good)
    (root / "audio_train").mkdir(parents=True)
    (root / "audio_test").mkdir()
    pd.DataFrame({"fname": ["x.wav"], "label": ["Knock"], "manually_verified": [1]}).to_csv(root / "train.csv", index=False)
    for row in test.itertuples():
        shutil.copy(row.path, root / "audio_test" / row.fname)
    for name in EMPTY_IN_REAL_TEST_SET:
        (root / "audio_test" / name).write_bytes(b"")
    (root / "audio_test" / "corrupt.wav").write_bytes(b"RIFF" + b"\x13" * 200)
    fnames = list(test["fname"]) + list(EMPTY_IN_REAL_TEST_SET) + ["corrupt.wav"]
    pd.DataFrame({"fname": fnames, "label": ["Knock Hi-hat Flute"] * len(fnames)}).to_csv(
        root / "sample_submission.csv", index=False)
    return fnames


def test_submission_has_a_row_for_every_clip_even_empty_and_corrupt_ones(trained_run, mini_root, tmp_path):
    run, metrics = trained_run
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    fnames = _kaggle_layout(tmp_path / "kaggle", mini_root)
    with pytest.warns(UserWarning, match="4 test clip") as caught:
        res = evaluate_run(copy, tmp_path / "kaggle", progress=False)
    message = next(str(w.message) for w in caught if "could not be loaded" in str(w.message))
    for name in (*EMPTY_IN_REAL_TEST_SET, "corrupt.wav"):
        assert name in message
    counts = metrics["train_label_counts"]
    top3 = sorted(counts, key=lambda lab: (-counts[lab], lab))[:3]
    assert res["fallback_labels"] == top3 == fallback_labels(copy, metrics["classes"])
    sub = pd.read_csv(copy / "submission.csv", keep_default_na=False)
    assert sub["fname"].tolist() == fnames  # one row per test clip, in the source's order
    assert (sub["label"].str.split(" ").str.len() == 3).all()
    assert sub.set_index("fname").loc[list(EMPTY_IN_REAL_TEST_SET), "label"].eq(" ".join(top3)).all()
    saved = json.loads((copy / "test_metrics.json").read_text())
    assert saved["n_failed"] == 4 and saved["n_clips"] == len(fnames) and saved["n_scored"] == 0
    assert saved["map_at_3"] is None and saved["n_unlabelled"] == len(fnames)
    assert {f["fname"]: f["error"] for f in saved["failed"]}["0b0427e2.wav"] == "empty file (0 bytes)"
    # rendered with the run's parameters into a folder next to the run
    spec_dir = tmp_path / "run_test_spectrograms" / "kaggle"
    assert saved["spec_dir"] == str(spec_dir.resolve())
    assert json.loads((spec_dir / "params.json").read_text()) == json.loads((copy / "params.json").read_text())


def test_render_folder_with_other_parameters_is_refused(trained_run, mini_root, tmp_path):
    from audiospec_utils.datasets import load_fsdkaggle2018
    from audiospec_utils.render import render_spectrograms
    from audiospec_utils.spectrogram import SpectrogramParams

    run, _ = trained_run
    table = load_fsdkaggle2018(mini_root, split="test").head(2)
    render_spectrograms(table, tmp_path / "other", SpectrogramParams(n_mels=64), progress=False)
    with pytest.raises(DatasetError, match="other spectrogram parameters.*n_mels 64"):
        evaluate_run(run, tmp_path / "other", progress=False)


def test_folder_without_test_rows_is_refused(trained_run, tmp_path):
    from audiospec_utils.render import render_spectrograms

    from helpers import tone, write_wav

    run, _ = trained_run
    for lab in ("a", "b"):
        write_wav(tmp_path / "src" / lab / "x.wav", tone(500, 0.5))
    render_spectrograms(tmp_path / "src", tmp_path / "specs", progress=False)
    with pytest.raises(DatasetError, match="no rows with split == 'test'"):
        evaluate_run(run, tmp_path / "specs", progress=False)


def test_write_submission_orders_labels_by_probability(tmp_path):
    preds = pd.DataFrame({"fname": ["a.wav", "b.wav"], "x": [0.1, 0.5], "y": [0.6, 0.2], "z": [0.3, 0.3]})
    sub = write_submission(preds, tmp_path / "s.csv", ["x", "y", "z"])
    assert sub["label"].tolist() == ["y z x", "x z y"]
    assert (tmp_path / "s.csv").read_text().splitlines() == ["fname,label", "a.wav,y z x", "b.wav,x z y"]


def test_evaluate_from_the_command_line(trained_run, tmp_path):
    run, _ = trained_run
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    res = subprocess.run([sys.executable, "-m", "audiospec_utils", "-q", "evaluate", str(copy)],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert "MAP@3" in res.stdout and "submission (16 rows)" in res.stdout
    assert json.loads((copy / "test_metrics.json").read_text())["n_clips"] == 16
    bad = subprocess.run([sys.executable, "-m", "audiospec_utils", "-q", "evaluate", str(tmp_path / "nowhere")],
                         capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "no export.pkl" in bad.stderr and "Traceback" not in bad.stderr


def test_cli_names_the_failed_clips_once_without_a_python_warning_line(trained_run, mini_root, tmp_path, capsys):
    from audiospec_utils.cli import main

    run, metrics = trained_run
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    _kaggle_layout(tmp_path / "kaggle", mini_root)
    assert main(["-q", "evaluate", str(copy), str(tmp_path / "kaggle")]) == 0
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if "could not be loaded or rendered" in line]
    assert len(lines) == 1 and lines[0].startswith("audiospec evaluate: warning: 4 test clip(s)")
    for name in (*EMPTY_IN_REAL_TEST_SET, "corrupt.wav"):
        assert name in lines[0]
    assert "UserWarning" not in err
