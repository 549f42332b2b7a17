import pandas as pd
import pytest

from audiospec_utils.datasets import (load_csv, load_folder_per_class, load_fsdkaggle2018, load_source,
                                      sample_per_label)
from audiospec_utils.exceptions import DatasetError

from helpers import tone, write_wav


def test_fsdkaggle2018_zenodo_layout(mini_root):
    t = load_fsdkaggle2018(mini_root)
    meta_train = pd.read_csv(mini_root / "FSDKaggle2018.meta/train_post_competition.csv")
    assert list(t.columns[:5]) == ["clip_id", "fname", "path", "label", "split"]
    assert (t["split"] == "train").sum() == len(meta_train)
    row = t[t["split"] == "train"].iloc[0]
    assert row["clip_id"] == "train/" + row["fname"][:-4]
    assert row["path"].endswith("FSDKaggle2018.audio_train/" + row["fname"])
    assert set(t.loc[t["split"] == "test", "usage"]) <= {"Public", "Private"}
    verified = load_fsdkaggle2018(mini_root, split="train", manually_verified_only=True)
    assert len(verified) == int(meta_train["manually_verified"].sum())


def test_fsdkaggle2018_kaggle_layout(tmp_path):
    root = tmp_path / "freesound-audio-tagging"
    write_wav(root / "audio_train" / "aaaa0001.wav", tone())
    write_wav(root / "audio_test" / "bbbb0001.wav", tone())
    (root / "train.csv").write_text("fname,label,manually_verified\naaaa0001.wav,Bark,1\n")
    (root / "sample_submission.csv").write_text("fname,label\nbbbb0001.wav,Laughter Hi-hat Flute\n")
    t = load_source(root)
    assert t.set_index("split").loc["train", "label"] == "Bark"
    assert t.set_index("split").loc["test", "label"] == ""  # sample_submission holds no labels


def test_sampling_per_label(mini_root):
    t = load_fsdkaggle2018(mini_root, n_per_label=2, seed=1)
    assert t.groupby(["split", "label"]).size().max() == 2
    assert load_fsdkaggle2018(mini_root, n_per_label=2, seed=1).equals(t)
    assert not sample_per_label(load_fsdkaggle2018(mini_root), 2, seed=2).equals(t)


def test_folder_per_class(tmp_path):
    write_wav(tmp_path / "dog" / "a.wav", tone())
    write_wav(tmp_path / "dog" / "sub" / "b.wav", tone())
    write_wav(tmp_path / "cat" / "a.wav", tone())
    (tmp_path / "cat" / "readme.md").write_text("x")
    (tmp_path / "empty_label").mkdir()
    t = load_folder_per_class(tmp_path)
    assert sorted(t["clip_id"]) == ["cat/a", "dog/a", "dog/sub/b"]
    assert set(t["label"]) == {"cat", "dog"} and set(t["split"]) == {"train"}


def test_folder_with_train_and_test_subfolders(tmp_path):
    write_wav(tmp_path / "train" / "dog" / "a.wav", tone())
    write_wav(tmp_path / "test" / "dog" / "b.wav", tone())
    t = load_folder_per_class(tmp_path).set_index("split")
    assert t.loc["train", "clip_id"] == "train/dog/a" and t.loc["test", "clip_id"] == "test/dog/b"


def test_folder_without_audio(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.txt").write_text("x")
    with pytest.raises(DatasetError, match="no audio files"):
        load_source(tmp_path)


def test_loose_audio_files_get_a_hint(tmp_path):
    write_wav(tmp_path / "x.wav", tone())
    with pytest.raises(DatasetError, match="one sub-folder per label"):
        load_source(tmp_path)


def test_csv_source(tmp_path):
    write_wav(tmp_path / "audio" / "1.wav", tone())
    csv = tmp_path / "labels.csv"
    csv.write_text('fname,label,extra\naudio/1.wav,"Dog, barking",7\naudio/2.wav,Café,8\n', encoding="utf-8")
    t = load_source(csv)
    assert list(t["label"]) == ["Dog, barking", "Café"] and "extra" in t.columns
    assert t.loc[1, "path"].endswith("audio/2.wav")  # missing file kept: the renderer records it


def test_csv_missing_columns_names_them(tmp_path):
    csv = tmp_path / "bad.csv"
    csv.write_text("file,category\n1.wav,dog\n")
    with pytest.raises(DatasetError, match=r"missing column\(s\) fname, label; found file, category"):
        load_csv(csv)


@pytest.mark.parametrize("text, match", [("", "empty"), ("fname,label\n", "no rows"),
                                         ("fname,label\na.wav,x\na.wav,y\n", "more than once")])
def test_bad_csvs(tmp_path, text, match):
    csv = tmp_path / "t.csv"
    csv.write_text(text)
    with pytest.raises(DatasetError, match=match):
        load_csv(csv)


def test_missing_source(tmp_path):
    with pytest.raises(DatasetError, match="no such file"):
        load_source(tmp_path / "nothing")
