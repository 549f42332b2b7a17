import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from audiospec_utils.assess.evaluate import evaluate_run, fallback_labels, write_submission
from audiospec_utils.exceptions import DatasetError

EMPTY_IN_REAL_TEST_SET = ("0b0427e2.wav", "6ea0099f.wav", "b39975f5.wav")


def _rank_score(label, row, vocab):
    """MAP@3 of one clip, computed independently of audiospec_utils.learn.metrics."""
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
    from audiospec_utils.audio.datasets import load_fsdkaggle2018

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
    from audiospec_utils.audio.datasets import load_fsdkaggle2018
    from audiospec_utils.features.render import render_spectrograms
    from audiospec_utils.features import SpectrogramParams

    run, _ = trained_run
    table = load_fsdkaggle2018(mini_root, split="test").head(2)
    render_spectrograms(table, tmp_path / "other", SpectrogramParams(n_mels=64), progress=False)
    with pytest.raises(DatasetError, match="other spectrogram parameters.*n_mels 64"):
        evaluate_run(run, tmp_path / "other", progress=False)


def test_folder_without_test_rows_is_refused(trained_run, tmp_path):
    from audiospec_utils.features.render import render_spectrograms

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


# ---------------------------------------------------------------------------------------------
# a run trained with a held-out fold (issue 11): evaluate scores exactly that fold


def _folds_source(root, folds=(1, 2, 3)):
    """clips.csv (fname,label,group,fold) + WAVs: 4 recordings x 2 clips per fold, 2 labels."""
    from helpers import tone, write_wav

    rows = []
    for g in range(4 * len(folds)):
        label = "low" if g % 2 else "high"
        fold = folds[g % len(folds)]
        for j in range(2):
            name = f"{label}/rec{g}_{j}.wav"
            write_wav(root / name, tone((250 if label == "low" else 2500) + 40 * g + 15 * j, 0.4, sr=8000), sr=8000)
            rows.append({"fname": name, "label": label, "group": f"rec{g}", "fold": str(fold)})
    pd.DataFrame(rows).to_csv(root / "clips.csv", index=False)
    return root / "clips.csv"


@pytest.fixture(scope="module")
def fold_run(tmp_path_factory):
    from audiospec_utils.features.render import render_spectrograms
    from audiospec_utils.features import SpectrogramParams
    from audiospec_utils.learn.train import train_classifier

    root = tmp_path_factory.mktemp("fold_run")
    csv = _folds_source(root / "src")
    render_spectrograms(csv, root / "specs", SpectrogramParams(n_mels=32), n_jobs=1, progress=False)
    _, metrics = train_classifier(root / "specs", root / "run", test_fold=3, epochs=1, img_size=16, bs=4,
                                  pretrained=False, progress=False)
    return root, csv, metrics


def test_a_run_with_a_test_fold_is_scored_on_exactly_that_fold(fold_run, tmp_path):
    root, csv, metrics = fold_run
    run = tmp_path / "run"
    shutil.copytree(root / "run", run)
    fold3 = pd.read_csv(csv, dtype=str).query("fold == '3'")
    res = evaluate_run(run, progress=False)
    preds = pd.read_csv(run / "test_predictions.csv", dtype=str, keep_default_na=False)
    expected = {f"{Path(f).parent}/{Path(f).stem}" for f in fold3["fname"]}
    assert set(preds["clip_id"]) == expected and len(preds) == len(fold3) == 8
    split = pd.read_csv(run / "split.csv", dtype=str, keep_default_na=False)
    assert set(split.loc[split["side"] == "test", "clip_id"]) == expected  # never trained or validated on
    saved = json.loads((run / "test_metrics.json").read_text())
    assert saved["selected"] == "fold 3" and saved["test_fold"] == "3"
    assert saved["n_clips"] == saved["n_scored"] == 8 and saved["n_failed"] == 0
    for key in ("interval", "macro_f1", "accuracy", "map_at_3"):
        assert key in saved and saved[key] is not None
    lo, hi = saved["interval"]["accuracy"]
    assert 0 <= lo <= saved["accuracy"] <= hi <= 1 and saved["interval"]["n_groups"] == 4  # 4 recordings in fold 3
    assert 0 <= saved["macro_f1"] <= 1 and res["selected"] == "fold 3"
    vocab = metrics["classes"]
    acc = float((preds[vocab].astype(float).idxmax(axis=1) == preds["label"]).mean())
    assert saved["accuracy"] == pytest.approx(acc)


def test_a_run_with_a_test_fold_on_an_audio_source_renders_only_that_fold(fold_run, tmp_path):
    root, csv, _ = fold_run
    run = tmp_path / "run"
    shutil.copytree(root / "run", run)
    res = evaluate_run(run, csv, spec_out=tmp_path / "rendered", n_jobs=1, progress=False)
    assert res["selected"] == "fold 3" and res["n_clips"] == 8 and res["n_scored"] == 8
    manifest = pd.read_csv(tmp_path / "rendered" / "manifest.csv", dtype=str, keep_default_na=False)
    assert set(manifest["fold"]) == {"3"}


def test_a_held_out_fold_missing_from_the_source_is_refused(fold_run, tmp_path):
    from audiospec_utils.features.render import render_spectrograms
    from audiospec_utils.features import SpectrogramParams

    root, _, _ = fold_run
    other = _folds_source(tmp_path / "other", folds=(1, 2))  # no fold 3
    with pytest.raises(DatasetError, match="held out fold 3 for testing, but this data has no clip in fold 3"):
        evaluate_run(root / "run", other, spec_out=tmp_path / "r", n_jobs=1, progress=False)
    render_spectrograms(other, tmp_path / "other_specs", SpectrogramParams(n_mels=32), n_jobs=1, progress=False)
    with pytest.raises(DatasetError, match="no clip in fold 3"):
        evaluate_run(root / "run", tmp_path / "other_specs", progress=False)


def test_cli_evaluate_says_which_fold_it_scored(fold_run, tmp_path, capsys):
    from audiospec_utils.cli import main

    root, _, _ = fold_run
    run = tmp_path / "run"
    shutil.copytree(root / "run", run)
    assert main(["-q", "evaluate", str(run)]) == 0
    out = capsys.readouterr().out
    assert "test (fold 3): accuracy" in out and "scored on the 8 labelled clips" in out and "95% interval" in out
    assert json.loads((run / "test_metrics.json").read_text())["selected"] == "fold 3"
