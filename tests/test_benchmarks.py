"""The public benchmark layouts (UrbanSound8K, ESC-50, FSDKaggle2018's groups), on tiny generated copies."""

import logging

import pandas as pd
import pytest

from audiospec_utils.audio import benchmarks, datasets
from audiospec_utils.cli import main
from audiospec_utils.audio import OPTIONAL_COLUMNS
from audiospec_utils.audio.datasets import find_esc50, find_urbansound8k, load_esc50, load_fsdkaggle2018, load_source, load_urbansound8k
from audiospec_utils.exceptions import DatasetError, ParameterError

from helpers import tone, write_wav

SR = 8000
US8K_HEADER = "slice_file_name,fsID,start,end,salience,fold,classID,class"
# (recording, class id, class, slice, fold): two recordings per class, slices of one recording in one fold
US8K_ROWS = [(100032, 3, "dog_bark", 0, 1), (100032, 3, "dog_bark", 1, 1), (7061, 6, "gun_shot", 0, 1),
             (200001, 3, "dog_bark", 0, 2), (7062, 6, "gun_shot", 0, 2), (7062, 6, "gun_shot", 1, 2),
             (300003, 3, "dog_bark", 0, 3), (7063, 6, "gun_shot", 0, 3)]


def make_us8k(root, rows=US8K_ROWS, *, header=US8K_HEADER, skip_audio=()):
    """A tiny UrbanSound8K copy: audio/fold<k>/<fsID>-<classID>-0-<slice>.wav and its metadata CSV."""
    lines = [header]
    for fs_id, class_id, cls, n, fold in rows:
        name = f"{fs_id}-{class_id}-0-{n}.wav"
        lines.append(f"{name},{fs_id},{n * 4}.0,{n * 4 + 0.5},1,{fold},{class_id},{cls}")
        if name not in skip_audio:
            folder = f"fold{int(fold)}" if str(fold).isdigit() else f"fold{fold}"
            write_wav(root / "audio" / folder / name, tone(300 + 100 * class_id, 0.1, sr=SR), sr=SR)
    (root / "metadata").mkdir(parents=True, exist_ok=True)
    (root / "metadata" / "UrbanSound8K.csv").write_text("\n".join(lines) + "\n")
    return root


ESC_HEADER = "filename,fold,target,category,esc10,src_file,take"
# (fold, src_file, take, target, category, esc10)
ESC_ROWS = [(1, 100032, "A", 0, "dog", True), (1, 100032, "B", 0, "dog", True),
            (1, 100038, "A", 14, "chirping_birds", False), (2, 110389, "A", 0, "dog", True), (2, 115545, "A", 14, "chirping_birds", False),
            (5, 9031, "A", 1, "rooster", True)]


def make_esc50(root, rows=ESC_ROWS, *, header=ESC_HEADER, skip_audio=()):
    """A tiny ESC-50 copy: audio/<fold>-<src_file>-<take>-<target>.wav and meta/esc50.csv."""
    lines = [header]
    for fold, src, take, target, cat, esc10 in rows:
        name = f"{fold}-{src}-{take}-{target}.wav"
        lines.append(f"{name},{fold},{target},{cat},{esc10},{src},{take}")
        if name not in skip_audio:
            write_wav(root / "audio" / name, tone(200 + 50 * target, 0.1, sr=SR), sr=SR)
    (root / "meta").mkdir(parents=True, exist_ok=True)
    (root / "meta" / "esc50.csv").write_text("\n".join(lines) + "\n")
    return root


def assert_common_table(t):
    assert list(t.columns[:7]) == datasets.COLUMNS + list(OPTIONAL_COLUMNS)
    for col in datasets.COLUMNS + list(OPTIONAL_COLUMNS):
        assert all(isinstance(v, str) for v in t[col]), col
    assert not t["clip_id"].duplicated().any()


# --------------------------------------------------------------------------------------- UrbanSound8K

def test_urbansound8k_is_detected_and_loaded(tmp_path):
    root = make_us8k(tmp_path / "us8k")
    t = load_source(root)
    assert_common_table(t)
    assert len(t) == len(US8K_ROWS) and set(t["split"]) == {"train"}
    first = t.iloc[0]
    assert first["clip_id"] == "fold1/100032-3-0-0" and first["fname"] == "100032-3-0-0.wav"
    assert first["path"] == str((root / "audio" / "fold1" / "100032-3-0-0.wav").resolve())
    assert first["label"] == "dog_bark" and first["group"] == "100032" and first["fold"] == "1"
    assert list(t["fold"]) == [str(r[4]) for r in US8K_ROWS]
    assert list(t["group"]) == [str(r[0]) for r in US8K_ROWS]
    # the CSV's other columns are kept, typed
    assert t.loc[1, "start"] == 4.0 and t.loc[1, "end"] == 4.5
    assert list(t["classID"]) == [r[1] for r in US8K_ROWS] and set(t["salience"]) == {1}
    assert find_urbansound8k(root) == root and find_esc50(root) is None


def test_urbansound8k_parent_folder_is_recognised(tmp_path):
    make_us8k(tmp_path / "UrbanSound8K")  # how the archive extracts
    assert find_urbansound8k(tmp_path) == tmp_path / "UrbanSound8K"
    t = load_source(tmp_path)
    assert len(t) == len(US8K_ROWS) and t.loc[0, "path"].startswith(str((tmp_path / "UrbanSound8K").resolve()))


def test_urbansound8k_folds_option(tmp_path):
    root = make_us8k(tmp_path)
    assert set(load_urbansound8k(root, folds=[1, 3])["fold"]) == {"1", "3"}
    assert set(load_source(root, folds="2")["fold"]) == {"2"}
    assert len(load_urbansound8k(root, folds=2)) == 3
    with pytest.raises(ParameterError, match=r"folds: UrbanSound8K has folds 1 to 10, got 11"):
        load_urbansound8k(root, folds=[1, 11])
    with pytest.raises(ParameterError, match=r"fold 7 has no clips in .*UrbanSound8K.csv \(folds there: 1, 2, 3\)"):
        load_urbansound8k(root, folds=7)


def test_urbansound8k_missing_columns_are_named(tmp_path):
    root = make_us8k(tmp_path)
    csv = root / "metadata" / "UrbanSound8K.csv"
    text = csv.read_text().replace("fsID", "freesound").replace(",class\n", ",label\n", 1)
    csv.write_text(text)
    with pytest.raises(DatasetError, match=r"UrbanSound8K.csv: missing column\(s\) fsID, class; "
                                           r"found slice_file_name, freesound, start"):
        load_source(root)


@pytest.mark.parametrize("fold", ["11", "0", "x", "2.5", ""])
def test_urbansound8k_unknown_fold_names_csv_value_line_and_file(tmp_path, fold):
    rows = list(US8K_ROWS)
    rows[2] = rows[2][:4] + (fold,)
    root = make_us8k(tmp_path, rows)
    with pytest.raises(DatasetError) as err:
        load_source(root)
    msg = str(err.value)
    assert "UrbanSound8K.csv" in msg and f"unknown fold {fold!r} on line 4 (7061-6-0-0.wav)" in msg
    assert "1 to 10" in msg


def test_urbansound8k_leading_zero_fold_is_normalised(tmp_path):
    rows = [r[:4] + (f"0{r[4]}",) for r in US8K_ROWS]
    root = make_us8k(tmp_path, rows)
    t = load_source(root)
    assert set(t["fold"]) == {"1", "2", "3"} and t.loc[0, "clip_id"] == "fold1/100032-3-0-0"


def test_urbansound8k_missing_csv(tmp_path):
    write_wav(tmp_path / "audio" / "fold1" / "1-0-0-0.wav", tone(seconds=0.1, sr=SR), sr=SR)
    with pytest.raises(DatasetError, match=r"metadata.UrbanSound8K.csv: UrbanSound8K metadata CSV not found"):
        load_source(tmp_path)


def test_urbansound8k_missing_files_are_kept_with_one_warning(tmp_path, caplog):
    root = make_us8k(tmp_path, skip_audio=("7061-6-0-0.wav", "7063-6-0-0.wav"))
    with caplog.at_level(logging.WARNING, logger="audiospec_utils"):
        t = load_source(root)
    assert len(t) == len(US8K_ROWS)
    warnings = [r.getMessage() for r in caplog.records if "do not exist" in r.getMessage()]
    assert len(warnings) == 1 and "2 of 8 listed file(s) do not exist" in warnings[0]


def test_urbansound8k_group_pattern_overrides_fsid(tmp_path):
    root = make_us8k(tmp_path)
    t = load_source(root, group_pattern=r"-(\d+)-0-")  # the class id, to see the override
    assert list(t["group"]) == [str(r[1]) for r in US8K_ROWS]


def test_urbansound8k_render_keeps_group_and_fold_in_manifest(tmp_path):
    root = make_us8k(tmp_path / "UrbanSound8K")
    out = tmp_path / "specs"
    assert main(["render", str(tmp_path), "--out", str(out), "--jobs", "1", "-q", "--n-mels", "32"]) == 0
    man = pd.read_csv(out / "manifest.csv", dtype=str, keep_default_na=False).set_index("clip_id")
    assert man.loc["fold2/7062-6-0-1", "group"] == "7062" and man.loc["fold2/7062-6-0-1", "fold"] == "2"
    assert (man["error"] == "").all() and (man["image"] != "").all()


# --------------------------------------------------------------------------------------------- ESC-50

def test_esc50_is_detected_and_loaded(tmp_path):
    root = make_esc50(tmp_path / "ESC-50")
    t = load_source(root)
    assert_common_table(t)
    assert len(t) == len(ESC_ROWS) and set(t["split"]) == {"train"}
    row = t.set_index("clip_id").loc["1-100032-B-0"]
    assert row["fname"] == "1-100032-B-0.wav" and row["label"] == "dog" and row["group"] == "100032"
    assert row["fold"] == "1" and row["take"] == "B" and row["target"] == 0 and bool(row["esc10"])
    assert row["path"] == str((root / "audio" / "1-100032-B-0.wav").resolve())
    assert list(t["fold"]) == [str(r[0]) for r in ESC_ROWS]
    assert t["esc10"].dtype == bool and find_urbansound8k(root) is None


@pytest.mark.parametrize("folder", ["ESC-50-master", "ESC-50"])
def test_esc50_parent_folder_is_recognised(tmp_path, folder):
    make_esc50(tmp_path / folder)
    assert find_esc50(tmp_path) == tmp_path / folder
    assert len(load_source(tmp_path)) == len(ESC_ROWS)


def test_esc50_subset_and_folds(tmp_path):
    root = make_esc50(tmp_path)
    esc10 = load_esc50(root, esc10_only=True)
    assert set(esc10["label"]) == {"dog", "rooster"} and esc10["esc10"].all()
    assert list(load_esc50(root, folds=[2, 5], esc10_only=True)["clip_id"]) == ["2-110389-A-0", "5-9031-A-1"]
    with pytest.raises(ParameterError, match="ESC-50 has folds 1 to 5, got 6"):
        load_esc50(root, folds=6)
    with pytest.raises(ParameterError, match=r"fold 3 has no clips"):
        load_esc50(root, folds=[1, 3])


def test_esc50_unknown_fold(tmp_path):
    rows = list(ESC_ROWS)
    rows[4] = (6,) + rows[4][1:]
    root = make_esc50(tmp_path, rows)
    with pytest.raises(DatasetError, match=r"esc50.csv: unknown fold '6' on line 6 \(6-115545-A-14.wav\): "
                                           r"folds are the integers 1 to 5"):
        load_source(root)


def test_esc50_missing_columns_are_named(tmp_path):
    root = make_esc50(tmp_path, header=ESC_HEADER.replace("src_file", "source"))
    with pytest.raises(DatasetError, match=r"esc50.csv: missing column\(s\) src_file; found filename, fold"):
        load_source(root)


def test_esc50_missing_csv_and_missing_files(tmp_path, caplog):
    root = make_esc50(tmp_path / "a", skip_audio=("5-9031-A-1.wav",))
    with caplog.at_level(logging.WARNING, logger="audiospec_utils"):
        t = load_source(root)
    assert "5-9031-A-1" in set(t["clip_id"])  # kept: the renderer records it as "file not found"
    assert [r.getMessage() for r in caplog.records if "do not exist" in r.getMessage()] == [
        f"{root.resolve() / 'meta' / 'esc50.csv'}: 1 of 6 listed file(s) do not exist in "
        f"{root.resolve() / 'audio'}, e.g. 5-9031-A-1.wav"]
    (root / "meta" / "esc50.csv").unlink()
    with pytest.raises(DatasetError, match="ESC-50 metadata CSV not found"):
        load_source(root)


def test_esc50_duplicate_file(tmp_path):
    root = make_esc50(tmp_path, ESC_ROWS + [ESC_ROWS[0]])
    with pytest.raises(DatasetError, match=r"1 file\(s\) listed more than once, e.g. '1-100032-A-0.wav'"):
        load_esc50(root)


def test_not_a_benchmark_folder(tmp_path):
    with pytest.raises(DatasetError, match="not an UrbanSound8K folder"):
        load_urbansound8k(tmp_path)
    with pytest.raises(DatasetError, match="not an ESC-50 folder"):
        load_esc50(tmp_path)


# -------------------------------------------------------------------------------------- FSDKaggle2018

def test_fsdkaggle2018_group_is_the_freesound_id(mini_root):
    t = load_fsdkaggle2018(mini_root)
    assert_common_table(t)
    meta = pd.read_csv(mini_root / "FSDKaggle2018.meta/train_post_competition.csv", dtype=str)
    train = t[t["split"] == "train"].set_index("fname")
    assert (train.loc[meta["fname"], "group"].to_numpy() == meta["freesound_id"].to_numpy()).all()
    assert (t["group"] != "").all() and (t["fold"] == "").all()


def test_fsdkaggle2018_kaggle_layout_has_no_group(tmp_path):
    root = tmp_path / "kaggle"
    write_wav(root / "audio_train" / "aaaa0001.wav", tone(seconds=0.1))
    (root / "train.csv").write_text("fname,label,manually_verified\naaaa0001.wav,Bark,1\n")
    t = load_source(root)
    assert_common_table(t)
    assert list(t["group"]) == [""] and list(t["fold"]) == [""]


def test_benchmark_names_are_importable_from_the_audio_subpackage():
    import audiospec_utils.audio as audio
    from audiospec_utils.audio import fsdkaggle2018

    for name in ("FSDKAGGLE2018_LABELS", "find_fsdkaggle2018", "load_fsdkaggle2018", "find_urbansound8k",
                 "load_urbansound8k", "find_esc50", "load_esc50"):
        home = fsdkaggle2018 if hasattr(fsdkaggle2018, name) else benchmarks
        assert getattr(audio, name) is getattr(home, name)
        assert name in audio.__all__
