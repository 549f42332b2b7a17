"""The Kaggle competition layout of FSDKaggle2018, complete: test labels and usage from test_post_competition.csv."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from audiospec_utils.audio.datasets import load_fsdkaggle2018
from audiospec_utils.assess.evaluate import evaluate_run, format_test_score, per_class_table

META = Path(__file__).resolve().parents[2] / "shared" / "data" / "fsdkaggle2018-meta"
needs_meta = pytest.mark.skipif(not (META / "test_post_competition.csv").is_file(),
                                reason=f"needs the real FSDKaggle2018 metadata in {META} (../shared), absent here")


@needs_meta
def test_real_competition_metadata_gives_the_1600_scored_clips(tmp_path):
    """The whole set's real CSVs, as Kaggle mounts them (the audio is not needed to read the table)."""
    root = tmp_path / "freesound-audio-tagging"
    (root / "audio_train").mkdir(parents=True)
    (root / "audio_test").mkdir()
    for name in ("train.csv", "sample_submission.csv", "train_post_competition.csv", "test_post_competition.csv"):
        shutil.copyfile(META / name, root / name)
    t = load_fsdkaggle2018(root)
    test, train = t[t["split"] == "test"], t[t["split"] == "train"]
    assert len(test) == 9400 and len(train) == 9473
    labelled = test[test["label"] != ""]
    assert len(labelled) == 1600
    assert labelled["usage"].value_counts().to_dict() == {"Private": 1299, "Public": 301}
    assert set(test.loc[test["label"] == "", "usage"]) == {"Ignored"}
    assert "None" not in set(test["label"])
    # the recordings come from the post-competition CSVs: groups for an honest validation split
    assert (train["group"] != "").all() and (labelled["group"] != "").all()
    post = pd.read_csv(META / "train_post_competition.csv", dtype=str).set_index("fname")
    assert (train.set_index("fname").loc[post.index[:50], "group"] == post["freesound_id"][:50]).all()


def test_without_the_post_competition_csv_the_test_clips_are_unlabelled(tmp_path):
    root = tmp_path / "kaggle"
    (root / "audio_train").mkdir(parents=True)
    (root / "audio_test").mkdir()
    (root / "train.csv").write_text("fname,label,manually_verified\na.wav,Bark,1\n")
    (root / "sample_submission.csv").write_text("fname,label\nb.wav,Bark Cough Meow\n")
    t = load_fsdkaggle2018(root)
    assert t.set_index("fname").loc["b.wav", "label"] == "" and t["group"].eq("").all()


def _competition_layout(root, mini_root, n_public=3, n_private=3, n_ignored=2):
    """audio_train/, audio_test/ and the four CSVs, from the mini dataset's clips."""
    t = load_fsdkaggle2018(mini_root)
    test = t[t["split"] == "test"].head(n_public + n_private + n_ignored)
    (root / "audio_train").mkdir(parents=True)
    (root / "audio_test").mkdir()
    pd.DataFrame({"fname": ["x.wav"], "label": ["Knock"], "manually_verified": [1]}).to_csv(root / "train.csv",
                                                                                          index=False)
    for row in test.itertuples():
        shutil.copy(row.path, root / "audio_test" / row.fname)
    (root / "audio_test" / "0b0427e2.wav").write_bytes(b"")  # one of the real empty files (Ignored)
    fnames = list(test["fname"]) + ["0b0427e2.wav"]
    pd.DataFrame({"fname": fnames, "label": "Laughter Hi-Hat Flute"}).to_csv(root / "sample_submission.csv", index=False)
    usage = ["Public"] * n_public + ["Private"] * n_private + ["Ignored"] * (n_ignored + 1)
    labels = list(test["label"][: n_public + n_private]) + ["None"] * (n_ignored + 1)
    pd.DataFrame({"fname": fnames, "label": labels, "usage": usage, "freesound_id": range(len(fnames)),
                  "license": "CC0"}).to_csv(root / "test_post_competition.csv", index=False)
    return fnames, test


def test_evaluate_scores_public_and_private_and_submits_every_clip(trained_run, mini_root, tmp_path):
    run, metrics = trained_run
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    fnames, test = _competition_layout(tmp_path / "kaggle", mini_root)
    with pytest.warns(UserWarning, match="1 test clip"):
        res = evaluate_run(copy, tmp_path / "kaggle", progress=False)
    assert res["n_scored"] == 6 and res["n_clips"] == 9
    assert set(res["by_usage"]) == {"Public", "Private"}
    assert [res["by_usage"][u]["n_scored"] for u in ("Public", "Private")] == [3, 3]
    assert "3 Public and 3 Private" in res["scored_on"] and "the other 3" in res["scored_on"]
    preds = pd.read_csv(copy / "test_predictions.csv", keep_default_na=False)
    pub = preds[preds["fname"].isin(test["fname"][:3])]
    assert res["by_usage"]["Public"]["accuracy"] == pytest.approx((pub["label"] == pub["pred"]).mean())
    sub = pd.read_csv(copy / "submission.csv", keep_default_na=False)
    assert sub["fname"].tolist() == fnames  # the Ignored and the empty clip too
    text = format_test_score(res)
    assert "Public: MAP@3" in text and "Private: MAP@3" in text and "95% interval" in text
    assert len(per_class_table(res)) >= 1 and list(per_class_table(res).columns)[:3] == ["precision", "recall", "f1"]


def test_unlabelled_test_clips_are_said_plainly(trained_run, mini_root, tmp_path):
    run, _ = trained_run
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    _competition_layout(tmp_path / "kaggle", mini_root)
    (tmp_path / "kaggle" / "test_post_competition.csv").unlink()
    with pytest.warns(UserWarning):
        res = evaluate_run(copy, tmp_path / "kaggle", progress=False)
    assert res["n_scored"] == 0 and res["accuracy"] is None
    text = format_test_score(res)
    assert "have no labels here" in text and "submission (9 rows)" in text
    table = per_class_table(res)
    assert table.empty and list(table.columns) == ["precision", "recall", "f1", "support"]
    assert json.loads((copy / "test_metrics.json").read_text())["scored_on"].startswith("none")
