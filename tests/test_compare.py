"""The comparison of baselines and spectrogram kinds (audiospec_utils.assess.compare, `audiospec compare`)."""

import json

import numpy as np
import pandas as pd
import pytest

from audiospec_utils.assess.compare import COLUMNS, ROWS, GBMBaseline, evaluate, select_rows
from audiospec_utils.assess import STATS, logmel_stats, stats_feature_names
from audiospec_utils.audio.splits import split_clips
from audiospec_utils.exceptions import ParameterError
from audiospec_utils.features import SpectrogramParams, logmel

from helpers import tone

SCORES = ["accuracy", "map_at_3", "macro_f1"]
# the two baselines, the course's ResNet-34 and the 3-channel kind: every code path, 3 trainings
METHODS = ["gbm", "small_cnn", "resnet34_logmel", "resnet34_stack"]


def test_logmel_stats_shape_values_and_names():
    sr = 8000
    rng = np.random.default_rng(0)
    y = tone(440, 0.5, sr) + 0.01 * rng.standard_normal(sr // 2).astype(np.float32)
    S = logmel(y, sr, SpectrogramParams(n_mels=40))
    feats = logmel_stats(S)
    assert feats.shape == (len(STATS) * 40,) and feats.dtype == np.float32
    assert np.isfinite(feats).all()
    names = stats_feature_names(40)
    assert len(names) == len(feats) and names[0] == "mean_band000" and names[-1] == "delta_mean_abs_band039"
    block = {s: feats[i * 40:(i + 1) * 40] for i, s in enumerate(STATS)}
    np.testing.assert_allclose(block["mean"], S.mean(axis=1), rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(block["max"], S.max(axis=1), atol=1e-4)
    assert (block["min"] <= block["p10"] + 1e-4).all() and (block["p10"] <= block["p50"] + 1e-4).all()
    assert (block["p50"] <= block["p90"] + 1e-4).all() and (block["p90"] <= block["max"] + 1e-4).all()
    # the 440 Hz band is the loudest on average
    assert np.argmax(block["mean"]) == np.argmax(S.mean(axis=1))
    # a single frame: no change over time, still finite
    one = logmel_stats(S[:, :1])
    assert np.isfinite(one).all() and (one[-40:] == 0).all()
    with pytest.raises(ParameterError):
        logmel_stats(np.zeros(5))


def test_select_rows_expands_groups_and_rejects_unknown():
    assert select_rows(None) == list(ROWS)
    assert select_rows(["kinds"]) == [r for r in ROWS if r.startswith("resnet34_")]
    assert select_rows("small_cnn,gbm") == ["gbm", "small_cnn"]
    with pytest.raises(ParameterError):
        select_rows(["svm"])


def test_gbm_fits_and_predicts_on_mini(mini_root, tmp_path):
    from audiospec_utils.audio.datasets import load_fsdkaggle2018

    table = load_fsdkaggle2018(mini_root, split="train")
    split = split_clips(table, valid_pct=0.25, seed=0)
    gbm = GBMBaseline(max_iter=30, n_jobs=1, cache=tmp_path / "f.npz").fit(split)
    preds = gbm.predict(split)
    assert list(preds["clip_id"]) == list(split.valid_clips["clip_id"])
    probs = preds[split.vocab].to_numpy()
    np.testing.assert_allclose(probs.sum(axis=1), 1, atol=1e-6)
    scores = evaluate(preds, split.vocab)
    assert scores["n_valid"] == len(split.valid_clips)
    # 8 labels (chance 0.125); the synthetic sounds differ clearly in their log-mel statistics
    assert scores["accuracy"] >= 0.5 and scores["map_at_3"] >= scores["accuracy"]
    assert 0 <= scores["macro_f1"] <= 1
    # the cache holds every clip's features and is reused as it is
    with np.load(tmp_path / "f.npz") as z:
        assert set(z["clip_id"]) == set(table["clip_id"]) and z["X"].shape == (len(table), len(STATS) * 40)


def test_evaluate_counts_right_and_wrong():
    vocab = ["a", "b", "c"]
    preds = pd.DataFrame({"clip_id": ["1", "2", "3", "4"], "label": ["a", "b", "c", "c"],
                          "a": [.8, .1, .1, .6], "b": [.1, .8, .2, .3], "c": [.1, .1, .7, .1]})
    s = evaluate(preds, vocab)
    assert s["accuracy"] == pytest.approx(0.75)
    assert s["map_at_3"] == pytest.approx((1 + 1 + 1 + 1 / 3) / 4)
    # per-class F1: a 2/3 (P 1/2, R 1), b 1, c 2/3 (P 1, R 1/2)
    assert s["macro_f1"] == pytest.approx((2 / 3 + 1 + 2 / 3) / 3)


@pytest.fixture(scope="module")
def compare_run(mini_root, tmp_path_factory):
    from audiospec_utils.cli import main

    out = tmp_path_factory.mktemp("compare")
    status = main(["compare", str(mini_root), "--out", str(out), "--epochs", "1", "--img-size", "32", "--bs", "16",
                   "--no-pretrained", "--jobs", "1", "--method", *METHODS, "-q"])
    return out, status


def test_compare_writes_one_filled_row_per_method(compare_run):
    out, status = compare_run
    assert status == 0
    df = pd.read_csv(out / "comparison.csv", keep_default_na=False)
    assert list(df.columns) == COLUMNS
    assert list(df["row"]) == METHODS and list(zip(df["method"], df["feature"])) == [ROWS[m] for m in METHODS]
    assert (df["error"] == "").all(), df["error"].tolist()
    filled = df[[c for c in COLUMNS if c != "error"]]
    assert not (filled == "").any().any() and not filled.isna().any().any()
    for col in SCORES:
        assert pd.to_numeric(df[col]).between(0, 1).all()
    assert (pd.to_numeric(df["train_seconds"]) > 0).all() and (pd.to_numeric(df["predict_ms_per_clip"]) > 0).all()
    assert not df["pretrained"].astype(str).eq("True").any()  # --no-pretrained
    assert (out / "comparison.png").stat().st_size > 1000
    for kind in ("logmel", "stack"):
        assert json.loads((out / "spectrograms" / kind / "params.json").read_text())["kind"] == kind


def test_compare_uses_the_same_split_for_every_method(compare_run):
    out, _ = compare_run
    split = pd.read_csv(out / "split.csv", keep_default_na=False)
    valid = set(split.loc[split["side"] == "valid", "clip_id"])
    # the mini dataset has groups (freesound_id): no group on both sides
    assert not set(split.loc[split["side"] == "valid", "group"]) & set(split.loc[split["side"] == "train", "group"])
    assert 0 < len(valid) < len(split)
    df = pd.read_csv(out / "comparison.csv")
    assert (df["n_valid"] == len(valid)).all() and (df["n_train"] == len(split) - len(valid)).all()
    for row in METHODS:
        preds = pd.read_csv(out / "rows" / row / "valid_predictions.csv")
        assert set(preds["clip_id"]) == valid, row
        assert len(preds) == len(valid)


def test_compare_reads_finished_rows_back(compare_run, mini_root):
    from audiospec_utils.assess.compare import compare

    out, _ = compare_run
    before = pd.read_csv(out / "comparison.csv")
    again = compare(mini_root, out, methods=METHODS, epochs=1, img_size=32, bs=16, pretrained=False, n_jobs=1,
                    progress=False)
    # the same seconds to the digit: read back from rows/<row>/result.json, not retrained
    assert list(again["train_seconds"]) == list(before["train_seconds"])
    assert list(again["accuracy"]) == pytest.approx(list(before["accuracy"]))


def test_a_failing_row_records_its_error_and_the_run_goes_on(mini_root, tmp_path):
    from audiospec_utils.assess.compare import compare

    df = compare(mini_root, tmp_path, methods=["gbm", "resnet34_logmel"], epochs=1, img_size=32,
                 pretrained=True, weights=tmp_path / "missing.pth", n_jobs=1, progress=False)
    df = df.set_index("row")
    assert "WeightsUnavailableError" in df.loc["resnet34_logmel", "error"]
    assert np.isnan(df.loc["resnet34_logmel", "accuracy"])
    assert df.loc["gbm", "error"] == "" and 0 <= df.loc["gbm", "accuracy"] <= 1
    saved = pd.read_csv(tmp_path / "comparison.csv", keep_default_na=False)
    assert saved.set_index("row").loc["resnet34_logmel", "error"].startswith("WeightsUnavailableError")


def test_a_row_from_scratch_never_loads_the_weights_it_was_given(mini_root, tmp_path):
    # --no-pretrained with --weights: the ResNet rows train from scratch and must not touch the file
    from audiospec_utils.assess.compare import compare

    bad = tmp_path / "not_weights.pth"
    bad.write_bytes(b"this is not a state dict")
    df = compare(mini_root, tmp_path / "out", methods=["resnet34_logmel"], epochs=1, img_size=32, bs=16,
                 pretrained=False, weights=bad, n_jobs=1, progress=False).set_index("row")
    assert df.loc["resnet34_logmel", "error"] == "", df.loc["resnet34_logmel", "error"]
    assert not df.loc["resnet34_logmel", "pretrained"] and 0 <= df.loc["resnet34_logmel", "accuracy"] <= 1
