import logging
import re

import pandas as pd
import pytest

from audiospec_utils.cli import main
from audiospec_utils.audio.datasets import COLUMNS, groups_from_pattern, load_csv, load_folder_per_class, load_fsdkaggle2018, load_source
from audiospec_utils.audio import OPTIONAL_COLUMNS, sample_per_label
from audiospec_utils.exceptions import DatasetError, ParameterError

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


# ------------------------------------------------------------------------------------ groups and folds

def test_every_table_has_group_and_fold_as_str(tmp_path):
    write_wav(tmp_path / "dog" / "a.wav", tone(seconds=0.1))
    write_wav(tmp_path / "cat" / "b.wav", tone(seconds=0.1))
    t = load_source(tmp_path)
    assert COLUMNS == ["clip_id", "fname", "path", "label", "split"] and OPTIONAL_COLUMNS == ("group", "fold")
    assert list(t.columns) == COLUMNS + list(OPTIONAL_COLUMNS)
    assert list(t["group"]) == ["", ""] and list(t["fold"]) == ["", ""]
    csv = tmp_path / "plain.csv"
    csv.write_text("fname,label\ndog/a.wav,dog\n")
    assert load_csv(csv)[["group", "fold"]].values.tolist() == [["", ""]]


def test_csv_group_and_fold(tmp_path):
    csv = tmp_path / "labels.csv"
    csv.write_text("fname,label,group,fold,extra\n"
                   "a.wav,dog, rec1 ,03,x\n"
                   "b.wav,dog,rec1,3.0,y\n"
                   "c.wav,cat,rec 2, 10 ,z\n"
                   "d.wav,cat,,,w\n"
                   "e.wav,cat,rec3,A,v\n")
    t = load_csv(csv)
    assert list(t.columns[:7]) == COLUMNS + ["group", "fold"] and "extra" in t.columns
    assert list(t["group"]) == ["rec1", "rec1", "rec 2", "", "rec3"]
    assert list(t["fold"]) == ["3", "3", "10", "", "A"]
    assert all(isinstance(v, str) for v in list(t["group"]) + list(t["fold"]))


def test_groups_from_pattern(caplog):
    names = ["100032-3-0-0.wav", "100032-3-0-1.wav", "sub/7061-6-0-0.wav"]
    assert groups_from_pattern(names, r"^(\d+)-") == ["100032", "100032", "7061"]  # the file name, not its folder
    assert groups_from_pattern(["0_jackson_1.wav", "3_theo_12.wav"], r"_([a-z]+)_") == ["jackson", "theo"]
    with caplog.at_level(logging.WARNING, logger="audiospec_utils"):
        got = groups_from_pattern(["0_jackson_1.wav", "odd.wav", "x.wav"], r"_([a-z]+)_",
                                  fallback=["id0", "id1", "id2"])
    assert got == ["jackson", "id1", "id2"]  # the names that do not match are their own group
    msgs = [r.getMessage() for r in caplog.records]
    assert len(msgs) == 1 and "does not match 2 of 3 file name(s), e.g. 'odd.wav'" in msgs[0]
    assert groups_from_pattern(["odd.wav", "1_ann_2.wav"], r"_([a-z]+)_") == ["odd.wav", "ann"]


@pytest.mark.parametrize("pattern, match", [(r"^(\d+-", "not a valid regular expression"),
                                            (r"^\d+-", "has no capture group")])
def test_bad_group_patterns_are_parameter_errors(pattern, match):
    with pytest.raises(ParameterError, match=match) as err:
        groups_from_pattern(["1-a.wav"], pattern)
    assert f"group_pattern '{pattern}'" in str(err.value)


def test_group_pattern_matching_nothing_names_pattern_and_example():
    with pytest.raises(DatasetError, match=re.escape(r"group_pattern '^(\d+)-' matches none of the 2 file name(s), "
                                                     r"e.g. 'dog_1.wav'")):
        groups_from_pattern(["dog_1.wav", "cat_2.wav"], r"^(\d+)-")


def speakers(root):
    for digit in ("0", "1"):
        for speaker in ("jackson", "theo"):
            for take in range(2):
                write_wav(root / digit / f"{digit}_{speaker}_{take}.wav", tone(300 + 200 * int(digit), 0.1))
    write_wav(root / "1" / "stray.wav", tone(seconds=0.1))
    return root


def test_folder_per_class_group_pattern(tmp_path, caplog):
    root = speakers(tmp_path / "digits")
    with caplog.at_level(logging.WARNING, logger="audiospec_utils"):
        t = load_source(root, group_pattern=r"_([a-z]+)_").set_index("clip_id")
    assert t.loc["0/0_jackson_1", "group"] == "jackson" and t.loc["1/1_theo_0", "group"] == "theo"
    assert t.loc["1/stray", "group"] == "1/stray"  # its own clip id: it can never straddle a split
    assert set(t["group"]) == {"jackson", "theo", "1/stray"} and (t["fold"] == "").all()
    assert sum("does not match 1 of 9" in r.getMessage() for r in caplog.records) == 1
    assert (load_folder_per_class(root)["group"] == "").all()
    with pytest.raises(DatasetError, match="matches none"):
        load_folder_per_class(root, group_pattern=r"^(\d+)-")


def test_csv_group_pattern_overrides_the_group_column(tmp_path):
    csv = tmp_path / "t.csv"
    csv.write_text("fname,label,group\naudio/12-a.wav,dog,x\naudio/13-b.wav,cat,x\n")
    assert list(load_source(csv, group_pattern=r"^(\d+)-")["group"]) == ["12", "13"]


def test_cli_render_group_pattern_reaches_the_manifest(tmp_path, capsys):
    root = speakers(tmp_path / "digits")
    out = tmp_path / "specs"
    rc = main(["render", str(root), "--out", str(out), "--jobs", "1", "-q", "--n-mels", "32",
               "--group-pattern", r"_([a-z]+)_"])
    assert rc == 0
    man = pd.read_csv(out / "manifest.csv", dtype=str, keep_default_na=False).set_index("clip_id")
    assert man.loc["0/0_theo_1", "group"] == "theo" and man.loc["1/1_jackson_0", "group"] == "jackson"
    assert man.loc["1/stray", "group"] == "1/stray" and (man["fold"] == "").all()
    assert (man["image"] != "").all()
    capsys.readouterr()
    assert main(["render", str(root), "--out", str(tmp_path / "other"), "-q", "--group-pattern", "_[a-z]+_"]) == 2
    err = capsys.readouterr().err
    assert "audiospec render: error: group_pattern '_[a-z]+_' has no capture group" in err
    assert not (tmp_path / "other" / "manifest.csv").exists()
