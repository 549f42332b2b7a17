"""Cross-validation (issue 11): one model per fold, each fold held out once, cv.csv with mean and std.

A tiny generated data set: 12 source recordings ("groups") of 2 clips each, 2 labels, 3 folds that
hold whole recordings (as UrbanSound8K's and ESC-50's do). ResNet-34 from scratch, 1 epoch, 16 px.
"""

from __future__ import annotations

import json
import time

import numpy as np
import pandas as pd
import pytest

from audiospec_utils.exceptions import ParameterError
from audiospec_utils.features import SpectrogramParams

from helpers import tone, write_wav

TRAIN = dict(epochs=1, img_size=16, bs=4, pretrained=False)
PARAMS = SpectrogramParams(n_mels=32)


def make_source(root, *, with_folds=True):
    """clips.csv (fname,label,group[,fold]) and its WAVs: 12 groups x 2 clips, fold = 1 + group % 3."""
    rows = []
    for g in range(12):
        label = "low" if g % 2 else "high"
        for j in range(2):
            name = f"{label}/rec{g}_{j}.wav"
            base = 250 if label == "low" else 2500
            write_wav(root / name, tone(base + 40 * g + 15 * j, 0.4, sr=8000), sr=8000)
            row = {"fname": name, "label": label, "group": f"rec{g}"}
            if with_folds:
                row["fold"] = str(1 + g % 3)
            rows.append(row)
    pd.DataFrame(rows).to_csv(root / "clips.csv", index=False)
    return root / "clips.csv"


@pytest.fixture(scope="module")
def cv_run(tmp_path_factory):
    from audiospec_utils.assess.cv import cross_validate

    root = tmp_path_factory.mktemp("cv")
    csv = make_source(root / "src")
    out = root / "out"
    start = time.time()
    table = cross_validate(csv, out, params=PARAMS, n_jobs=1, progress=False, **TRAIN)
    return csv, out, table, time.time() - start


def test_cv_table_has_one_row_per_fold_then_mean_and_std(cv_run):
    from audiospec_utils.assess.cv import CV_COLUMNS

    _, out, table, _ = cv_run
    saved = pd.read_csv(out / "cv.csv", dtype={"fold": str}, keep_default_na=False)
    assert list(saved.columns) == CV_COLUMNS
    assert saved["fold"].tolist() == ["1", "2", "3", "mean", "std"]
    assert table["fold"].astype(str).tolist() == ["1", "2", "3", "mean", "std"]
    assert table.attrs["folds_from"] == "data"
    folds = saved.iloc[:3]
    assert (folds["error"] == "").all()
    acc = folds["accuracy"].astype(float)
    assert ((0 <= acc) & (acc <= 1)).all()
    assert folds["n_test"].astype(int).tolist() == [8, 8, 8]  # each fold: 4 recordings x 2 clips
    assert (folds["n_train"].astype(int) + folds["n_valid"].astype(int) == 16).all()
    for col in ("accuracy", "map_at_3", "macro_f1", "seconds"):
        vals = folds[col].astype(float)
        assert float(saved.loc[3, col]) == pytest.approx(vals.mean(), abs=1e-4)
        assert float(saved.loc[4, col]) == pytest.approx(vals.std(ddof=1), abs=1e-4)
    assert (out / "cv.png").is_file() and (out / "cv.png").stat().st_size > 1000


def test_the_held_out_fold_is_never_trained_on(cv_run):
    _, out, _, _ = cv_run
    for k in ("1", "2", "3"):
        split = pd.read_csv(out / f"fold_{k}" / "split.csv", dtype=str, keep_default_na=False)
        assert set(split.loc[split["fold"] == k, "side"]) == {"test"}
        assert set(split.loc[split["side"] == "test", "fold"]) == {k}
        assert k not in set(split.loc[split["side"].isin(["train", "valid"]), "fold"])
        # and no recording is on two sides
        assert (split.groupby("group")["side"].nunique() == 1).all()
        m = json.loads((out / f"fold_{k}" / "metrics.json").read_text())
        assert m["split"]["test_fold"] == k and m["split"]["n_test"] == 8
        t = json.loads((out / f"fold_{k}" / "test_metrics.json").read_text())
        assert t["selected"] == f"fold {k}" and t["n_clips"] == 8
        scored = pd.read_csv(out / f"fold_{k}" / "test_predictions.csv", dtype=str, keep_default_na=False)
        assert set(scored["clip_id"]) == set(split.loc[split["side"] == "test", "clip_id"])


def test_rerun_does_no_finished_work(cv_run, monkeypatch):
    import audiospec_utils.assess.evaluate
    import audiospec_utils.learn.train
    from audiospec_utils.assess.cv import cross_validate

    csv, out, table, first_seconds = cv_run
    exports = {k: (out / f"fold_{k}" / "export.pkl").stat().st_mtime_ns for k in ("1", "2", "3")}

    def trained_again(*args, **kwargs):
        raise AssertionError("a finished fold was trained again")

    monkeypatch.setattr(audiospec_utils.learn.train, "train_classifier", trained_again)
    monkeypatch.setattr(audiospec_utils.assess.evaluate, "evaluate_run", trained_again)
    start = time.time()
    again = cross_validate(csv, out, params=PARAMS, n_jobs=1, progress=False, **TRAIN)
    seconds = time.time() - start
    assert {k: (out / f"fold_{k}" / "export.pkl").stat().st_mtime_ns for k in ("1", "2", "3")} == exports
    pd.testing.assert_frame_equal(again.reset_index(drop=True).astype(str), table.reset_index(drop=True).astype(str))
    assert seconds < max(20.0, first_seconds / 3), (seconds, first_seconds)
    # other training settings are other results: that fold would be trained again
    with pytest.raises(AssertionError, match="trained again"):
        cross_validate(csv, out, folds="1", params=PARAMS, n_jobs=1, progress=False, **{**TRAIN, "bs": 8})


def test_unknown_folds_are_refused_before_any_training(cv_run, tmp_path, monkeypatch):
    import audiospec_utils.learn.train
    from audiospec_utils.assess.cv import cross_validate

    _, out, _, _ = cv_run
    monkeypatch.setattr(audiospec_utils.learn.train, "train_classifier",
                        lambda *a, **k: (_ for _ in ()).throw(AssertionError("trained")))
    with pytest.raises(ParameterError, match=r"fold\(s\) 9 not in the data; its folds are 1, 2, 3"):
        cross_validate(out / "spectrograms", tmp_path / "cv9", folds="9", progress=False, **TRAIN)
    with pytest.raises(ParameterError, match=r"fold\(s\) 4, x not in the data"):
        cross_validate(out / "spectrograms", tmp_path / "cv9", folds=["1", "4", "x"], progress=False, **TRAIN)
    with pytest.raises(ParameterError, match="set by cross_validate itself"):
        cross_validate(out / "spectrograms", tmp_path / "cv9", test_fold="1", progress=False, **TRAIN)


@pytest.fixture(scope="module")
def made_folds_run(tmp_path_factory):
    """cross_validate on data without folds, k=3, holding out made fold 2 only."""
    from audiospec_utils.assess.cv import cross_validate

    root = tmp_path_factory.mktemp("cv_made")
    csv = make_source(root / "src", with_folds=False)
    out = root / "out"
    table = cross_validate(csv, out, folds="2", k=3, seed=0, params=PARAMS, n_jobs=1, progress=False, **TRAIN)
    return out, table


def test_data_without_folds_gets_k_grouped_folds(made_folds_run):
    out, table = made_folds_run
    assert table.attrs["folds_from"] == "made"
    folds = pd.read_csv(out / "folds.csv", dtype=str, keep_default_na=False)
    assert set(folds.columns) >= {"clip_id", "fold", "label", "group"} and len(folds) == 24
    assert set(folds["fold"]) == {"1", "2", "3"}
    assert (folds.groupby("group")["fold"].nunique() == 1).all()  # a recording never spans two folds
    assert (folds.groupby("fold")["label"].nunique() == 2).all()  # stratified: both labels in every fold
    assert table["fold"].astype(str).tolist()[0] == "2"
    # the model of fold 2 was trained without the clips of made fold 2
    split = pd.read_csv(out / "fold_2" / "split.csv", dtype=str, keep_default_na=False)
    held_out = set(folds.loc[folds["fold"] == "2", "clip_id"])
    assert set(split.loc[split["side"] == "test", "clip_id"]) == held_out
    assert not held_out & set(split.loc[split["side"] != "test", "clip_id"])


def test_made_folds_are_scored(made_folds_run):
    out, table = made_folds_run
    folds = pd.read_csv(out / "folds.csv", dtype=str, keep_default_na=False)
    saved = pd.read_csv(out / "cv.csv", dtype={"fold": str}, keep_default_na=False)
    assert saved["fold"].tolist() == ["2", "mean", "std"], saved["error"].tolist()
    assert saved.loc[0, "error"] == "" and int(saved.loc[0, "n_test"]) == (folds["fold"] == "2").sum()
    t = json.loads((out / "fold_2" / "test_metrics.json").read_text())
    assert t["selected"] == "fold 2" and t["n_clips"] == (folds["fold"] == "2").sum()


def test_cli_cv_prints_the_table(cv_run, tmp_path, capsys):
    from audiospec_utils.cli import main

    _, out, _, _ = cv_run
    code = main(["cv", str(out / "spectrograms"), "--out", str(tmp_path / "cli"), "--test-folds", "3", "--epochs", "1",
                 "--img-size", "16", "--bs", "4", "--no-pretrained", "-q"])
    printed = capsys.readouterr().out
    assert code == 0
    assert "the data's own folds" in printed
    lines = printed.splitlines()
    header = next(line for line in lines if line.split()[:2] == ["fold", "accuracy"])
    body = lines[lines.index(header) + 1:]
    assert [line.split()[0] for line in body[:3]] == ["3", "mean", "std"]
    assert f"table: {(tmp_path / 'cli' / 'cv.csv').resolve()}" in printed
    saved = pd.read_csv(tmp_path / "cli" / "cv.csv", dtype={"fold": str})
    assert saved["fold"].tolist() == ["3", "mean", "std"] and np.isfinite(saved.loc[0, "accuracy"])
    bad = main(["cv", str(out / "spectrograms"), "--out", str(tmp_path / "cli"), "--test-folds", "9", "-q"])
    assert bad == 2 and "not in the data" in capsys.readouterr().err


def test_split_leakage_puts_recordings_on_both_sides_only_when_split_per_slice(tmp_path):
    # notebook 03's experiment: 12 recordings of 3 s (two labels, train) and 4 test recordings, cut into 1 s slices
    from audiospec_utils.assess.cv import split_leakage
    from audiospec_utils.exceptions import DatasetError
    from audiospec_utils.features.render import render_spectrograms

    rows = []
    for i in range(16):
        label, split = ("low" if i % 2 else "high"), ("train" if i < 12 else "test")
        name = f"{split}/{label}/rec{i}.wav"
        write_wav(tmp_path / "src" / name, tone((250 if label == "low" else 2500) + 30 * i, 3.0, sr=8000), sr=8000)
        rows.append({"fname": name, "label": label, "split": split})
    pd.DataFrame(rows).to_csv(tmp_path / "src" / "clips.csv", index=False)
    spec = tmp_path / "slices"
    render_spectrograms(tmp_path / "src" / "clips.csv", spec,
                        SpectrogramParams(n_mels=32, clip_policy="windows", duration=1.0), n_jobs=1, progress=False)

    table = split_leakage(spec, epochs=1, img_size=16, bs=4, max_slices_per_clip=2).set_index("validation split")
    per_slice, grouped = table.loc["per slice (groups ignored)"], table.loc["by recording (grouped)"]
    assert per_slice["recordings_on_both_sides"] > 0 and grouped["recordings_on_both_sides"] == 0
    # 2 of each recording's 3 slices: 24 slices, 20% of them validated (7 of the 36 without the cap)
    assert 3 <= per_slice["n_valid"] <= 6 and grouped["n_valid_recordings"] >= 2
    for name in ("valid_accuracy", "test_accuracy"):
        assert 0 <= per_slice[name] <= 1 and 0 <= grouped[name] <= 1
    assert np.isclose(grouped["gap"], grouped["valid_accuracy"] - grouped["test_accuracy"], atol=1e-3)
    with pytest.raises(ParameterError, match="max_slices_per_clip"):
        split_leakage(spec, max_slices_per_clip=1)
    whole = tmp_path / "whole"  # one image per clip: nothing to slice
    render_spectrograms(tmp_path / "src" / "clips.csv", whole, PARAMS, n_jobs=1, progress=False)
    with pytest.raises(DatasetError, match="clip_policy"):
        split_leakage(whole)
