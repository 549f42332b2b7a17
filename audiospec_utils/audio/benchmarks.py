"""The public benchmark datasets, read in the layouts their archives extract to.

This module's concern is knowing each benchmark's published layout (folders, metadata CSV,
columns, folds) and turning it into the common clip table of :mod:`audiospec_utils.audio.datasets`,
with the clear errors a malformed copy deserves:

* FSDKaggle2018 (:func:`load_fsdkaggle2018`): Zenodo or Kaggle layout (their names are in
  :mod:`audiospec_utils.audio.fsdkaggle2018`); ``group`` is the Freesound id of the recording, there
  are no folds (it has a train and a test split);
* UrbanSound8K (:func:`load_urbansound8k`): ten predefined folds; ``group`` is the Freesound
  id of the recording the 4 s slices were cut from;
* ESC-50 (:func:`load_esc50`): five predefined folds; ``group`` is the source Freesound clip.

Scoring on UrbanSound8K or ESC-50 with a random per-clip split mixes slices of one recording
into training and validation, and the score is optimistic; use their folds (or the groups).
:func:`audiospec_utils.audio.datasets.load_source` recognises each layout from the folder, and every
public name here can also be imported from :mod:`audiospec_utils.audio.datasets`. The steps every
loader shares (reading a CSV, folds as text, column order) are in :mod:`audiospec_utils.audio.clip_table`.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from ..exceptions import DatasetError, ParameterError
from .clip_table import (
    COLUMNS,
    OPTIONAL_COLUMNS,
    fold_string,
    read_metadata_csv,
    sample_per_label,
    warn_missing_files,
    with_optional_columns,
)
from .fsdkaggle2018 import (
    AUDIO_FOLDERS,
    KAGGLE_FILES,
    KAGGLE_POST_COMPETITION,
    META_FOLDER,
    SCORED_USAGES,
    ZENODO_FILES,
    find_fsdkaggle2018,
)

__all__ = ["URBANSOUND8K_COLUMNS", "ESC50_COLUMNS", "load_fsdkaggle2018", "find_urbansound8k", "load_urbansound8k",
           "find_esc50", "load_esc50"]

logger = logging.getLogger(__name__)

#: Columns of UrbanSound8K's ``metadata/UrbanSound8K.csv``.
URBANSOUND8K_COLUMNS = ("slice_file_name", "fsID", "start", "end", "salience", "fold", "classID", "class")
#: Columns of ESC-50's ``meta/esc50.csv``.
ESC50_COLUMNS = ("filename", "fold", "target", "category", "esc10", "src_file", "take")

_US8K_CSV = Path("metadata") / "UrbanSound8K.csv"
_ESC50_CSV = Path("meta") / "esc50.csv"


# ---------------------------------------------------------------------------------------- FSDKaggle2018

def load_fsdkaggle2018(root, *, split: str = "all", manually_verified_only: bool = False,
                       n_per_label: int | None = None, seed: int = 0) -> pd.DataFrame:
    """Load FSDKaggle2018's clips and labels into the common table.

    Parameters
    ----------
    root : str or os.PathLike
        Folder with the extracted Zenodo archives (``FSDKaggle2018.audio_train/``,
        ``FSDKaggle2018.audio_test/``, ``FSDKaggle2018.meta/``) or the Kaggle competition files
        (``audio_train/``, ``audio_test/``, ``train.csv``, ``sample_submission.csv``). The built-in
        mini dataset (:func:`audiospec_utils.audio.mini.make_mini_dataset`) has the Zenodo layout.
    split : {"all", "train", "test"}
        Which clips to return. ``"test"``: the 1,600 scored test clips in the Zenodo layout
        (labelled); in the Kaggle layout every clip of ``sample_submission.csv`` (9,400: the
        1,600 scored ones and 7,800 padding clips), labelled with their ``usage`` when the
        competition's ``test_post_competition.csv`` is beside it (the ``Public`` and ``Private``
        clips; ``Ignored`` ones keep ``label == ""``), else all unlabelled.
    manually_verified_only : bool
        Keep only train clips whose label a person checked (``manually_verified == 1``; 3,710 of
        9,473 in the full set). Test clips are all manually verified and are kept.
    n_per_label : int or None
        For a quick run: keep at most this many clips per label and split, sampled with `seed`.
    seed : int
        Seed of the sampling.

    Returns
    -------
    pandas.DataFrame
        Columns ``clip_id, fname, path, label, split, group, fold`` (str) plus
        ``manually_verified`` (int, train; 1 for test) and ``usage`` (str, test; ``""`` for
        train). ``clip_id`` is ``"<split>/<stem>"``; ``group`` is the ``freesound_id`` of the
        recording (both Zenodo CSVs have it; in the Kaggle layout it comes from
        ``train_post_competition.csv`` / ``test_post_competition.csv`` when they are there, else
        ``""``);
        ``fold`` is ``""`` (the dataset has no folds).

    Raises
    ------
    DatasetError
        `root` holds neither layout, or a CSV lacks its columns.
    ParameterError
        `split` or `n_per_label` is out of range.

    References
    ----------
    E. Fonseca, M. Plakal, F. Font, D. P. W. Ellis, X. Favory, J. Pons, X. Serra, "General-purpose
    tagging of Freesound audio with AudioSet labels: task description, dataset, and baseline",
    DCASE 2018 Workshop. Data: https://zenodo.org/record/2552860.
    """
    if split not in ("all", "train", "test"):
        raise ParameterError(f"split must be 'all', 'train' or 'test', got {split!r}")
    found = find_fsdkaggle2018(root)
    if found is None:
        raise DatasetError(
            f"{root}: not an FSDKaggle2018 folder. Expected the extracted Zenodo archives "
            f"({AUDIO_FOLDERS['train']}/, {AUDIO_FOLDERS['test']}/, {META_FOLDER}/) or the Kaggle "
            f"competition files ({KAGGLE_FILES['train'][0]}/, {KAGGLE_FILES['train'][1]}). Download it with "
            f"`audiospec download fsdkaggle2018 --out {root}`."
        )
    layout, root = found
    root = root.resolve()
    frames = []
    for part in ("train", "test") if split == "all" else (split,):
        df = _fsdkaggle2018_split(root, layout, part, required=split != "all")
        if df is not None:
            frames.append(df)
    if not frames:
        raise DatasetError(f"{root}: no FSDKaggle2018 CSV found")
    table = pd.concat(frames, ignore_index=True)
    if manually_verified_only:
        table = table[(table["split"] == "test") | (table["manually_verified"] == 1)]
    if n_per_label is not None:
        table = sample_per_label(table, n_per_label, seed=seed)
    return with_optional_columns(table)


def _fsdkaggle2018_split(root: Path, layout: str, part: str, *, required: bool) -> pd.DataFrame | None:
    """The clips of one split (``part``) of an FSDKaggle2018 folder in `layout`, as table rows.

    None (with a warning) when the split's CSV is missing and not `required`; DatasetError when
    it is missing and `required`.
    """
    audio_dir, csv_name = (ZENODO_FILES if layout == "zenodo" else KAGGLE_FILES)[part]
    csv_path = root / csv_name
    if not csv_path.is_file():
        if not required:
            logger.warning("%s not found: no %s clips loaded", csv_path, part)
            return None
        raise DatasetError(f"{csv_path}: CSV of the {part} split not found")
    required_columns = ("fname",) if (layout, part) == ("kaggle", "test") else ("fname", "label")
    df = read_metadata_csv(csv_path, required=required_columns)
    df["fname"] = df["fname"].str.strip()
    if layout == "kaggle":
        df = _with_post_competition(df, root / KAGGLE_POST_COMPETITION[part], part)
    df["path"] = [str(root / audio_dir / f) for f in df["fname"]]
    df["split"] = part
    df["clip_id"] = [f"{part}/{Path(f).stem}" for f in df["fname"]]
    df["group"] = df["freesound_id"].str.strip() if "freesound_id" in df.columns else ""
    df["fold"] = ""
    if "manually_verified" in df.columns:
        df["manually_verified"] = pd.to_numeric(df["manually_verified"], errors="coerce").fillna(0).astype(int)
    else:
        df["manually_verified"] = 1 if part == "test" else 0
    if "usage" not in df.columns:
        df["usage"] = ""
    return df[COLUMNS + list(OPTIONAL_COLUMNS) + ["manually_verified", "usage"]]


def _with_post_competition(df: pd.DataFrame, post_csv: Path, part: str) -> pd.DataFrame:
    """A Kaggle-layout table with what the post-competition CSV adds: test labels and usage, recordings."""
    if part == "test":
        df["label"] = ""  # sample_submission.csv holds placeholder predictions, not labels
    if not post_csv.is_file():
        if part == "test":
            logger.info("%s not found: the test clips have no labels (submission only)", post_csv)
        return df
    post = read_metadata_csv(post_csv, required=("fname", "label") + (("usage",) if part == "test" else ()))
    post = post.assign(fname=post["fname"].str.strip()).drop_duplicates("fname").set_index("fname")
    known = df["fname"].isin(post.index)
    if part == "test":
        usage = df["fname"].map(post["usage"].str.strip()).fillna("")
        scored = known & usage.isin(SCORED_USAGES)
        df["usage"] = usage
        df["label"] = df["fname"].map(post["label"].str.strip()).where(scored, "")  # Ignored: label 'None'
    if "freesound_id" in post.columns:
        df["freesound_id"] = df["fname"].map(post["freesound_id"].str.strip()).fillna("")
    return df


# ------------------------------------------------------------------------------------- shared checks

def _find_layout(root, marker: Path, parents: tuple[str, ...], looks_like) -> Path | None:
    """`root` or one of its sub-folders `parents` if it holds `marker` (or `looks_like` says so)."""
    root = Path(root)
    for base in (root, *(root / p for p in parents)):
        if (base / marker).is_file() or (base.is_dir() and looks_like(base)):
            return base
    return None


def _metadata(csv_path: Path, required: tuple[str, ...], name: str) -> pd.DataFrame:
    """The benchmark's metadata CSV, with its columns checked and stripped."""
    if not csv_path.is_file():
        raise DatasetError(f"{csv_path}: {name} metadata CSV not found (the {name} layout has it there; "
                           f"extract the whole archive)")
    df = read_metadata_csv(csv_path, required=required)
    if df.empty:
        raise DatasetError(f"{csv_path}: the CSV has a header but no rows")
    for col in df.columns:
        df[col] = df[col].str.strip()
    return df


def _folds_of(df: pd.DataFrame, csv_path: Path, file_col: str, n_folds: int) -> list[str]:
    """The fold of each row as ``"1"`` ... ``str(n_folds)``; DatasetError naming the first bad one."""
    folds = [fold_string(v) for v in df["fold"]]
    bad = [i for i, f in enumerate(folds) if not (f.isdigit() and 1 <= int(f) <= n_folds)]
    if bad:
        i = bad[0]
        more = f" ({len(bad)} rows have an unknown fold)" if len(bad) > 1 else ""
        raise DatasetError(f"{csv_path}: unknown fold {df['fold'].iloc[i]!r} on line {i + 2} "
                           f"({df[file_col].iloc[i]}): folds are the integers 1 to {n_folds}{more}")
    return folds


def _wanted_folds(folds, n_folds: int, present, csv_path: Path, name: str) -> set[str] | None:
    """`folds` (None, an int, ``"1,2"`` or an iterable) as a set of fold strings, checked."""
    if folds is None:
        return None
    if isinstance(folds, str):
        folds = [f for f in folds.split(",") if f.strip()]
    elif isinstance(folds, (int, np.integer)):
        folds = [folds]
    wanted = set()
    for f in folds:
        text = fold_string(f)
        if not (text.isdigit() and 1 <= int(text) <= n_folds):
            raise ParameterError(f"folds: {name} has folds 1 to {n_folds}, got {f!r}")
        if text not in present:
            raise ParameterError(f"folds: fold {text} has no clips in {csv_path} (folds there: "
                                 f"{', '.join(sorted(present, key=int))})")
        wanted.add(text)
    if not wanted:
        raise ParameterError(f"folds: give at least one fold of 1 to {n_folds} (or None for all), got {folds!r}")
    return wanted


def _no_duplicates(df: pd.DataFrame, col: str, csv_path: Path) -> None:
    dup = df[col][df[col].duplicated()]
    if len(dup):
        raise DatasetError(f"{csv_path}: {len(dup)} file(s) listed more than once, e.g. {dup.iloc[0]!r}")


# --------------------------------------------------------------------------------------- UrbanSound8K

def _open_benchmark(root, find, csv_rel: Path, columns, name: str, file_col: str, n_folds: int, folds, expected: str):
    """A benchmark's root, metadata CSV path, metadata (with ``fold``) and the folds asked for.

    Raises
    ------
    DatasetError
        `root` is not such a folder (the message says what was `expected`), or its metadata is bad.
    ParameterError
        `folds` asks for a fold the data does not have.
    """
    found = find(root)
    if found is None:
        raise DatasetError(f"{root}: not an {name} folder. Expected {expected}")
    root = found.resolve()
    csv_path = root / csv_rel
    df = _metadata(csv_path, columns, name)
    df["fold"] = _folds_of(df, csv_path, file_col, n_folds)
    return root, csv_path, df, _wanted_folds(folds, n_folds, set(df["fold"]), csv_path, name)


def find_urbansound8k(root) -> Path | None:
    """Recognise an UrbanSound8K folder.

    Parameters
    ----------
    root : str or os.PathLike
        The dataset folder (``audio/fold1`` ... ``audio/fold10``, ``metadata/UrbanSound8K.csv``),
        or the folder its archive was extracted into (holding ``UrbanSound8K/``).

    Returns
    -------
    pathlib.Path or None
        The dataset folder, or ``None`` when `root` has neither the metadata CSV nor
        ``audio/fold<k>`` folders. A folder with the fold folders but no CSV is recognised, so
        that loading it says the CSV is missing.
    """
    return _find_layout(root, _US8K_CSV, ("UrbanSound8K",),
                        lambda d: any((d / "audio" / f"fold{k}").is_dir() for k in range(1, 11)))


def load_urbansound8k(root, *, folds=None) -> pd.DataFrame:
    """Load UrbanSound8K into the common table, with its folds and source recordings.

    8,732 slices of at most 4 s from 10 classes of urban sounds, cut from 1,302 Freesound
    recordings and spread over 10 predefined folds (slices of one recording stay in one fold).
    Layout::

        ROOT/audio/fold1/100032-3-0-0.wav ... ROOT/audio/fold10/...
        ROOT/metadata/UrbanSound8K.csv   slice_file_name,fsID,start,end,salience,fold,classID,class

    Parameters
    ----------
    root : str or os.PathLike
        The dataset folder, or the folder holding ``UrbanSound8K/`` (how the archive extracts).
    folds : int, str, iterable of int, or None
        Keep only these folds (``3``, ``"1,2"``, ``[1, 2]``...); None: all ten.

    Returns
    -------
    pandas.DataFrame
        One row per slice, in the CSV's order:

        ============  =======  ==========================================================
        clip_id       str      ``"fold<k>/<stem>"``, e.g. ``"fold1/100032-3-0-0"``
        fname         str      ``slice_file_name``
        path          str      ``ROOT/audio/fold<k>/<slice_file_name>`` (absolute)
        label         str      ``class`` (e.g. ``"dog_bark"``)
        split         str      ``"train"`` for every slice (held-out scoring goes by fold)
        group         str      ``fsID``: the Freesound recording the slice was cut from
        fold          str      ``"1"`` ... ``"10"``
        start, end    float    the slice's place in the recording, in seconds
        salience      Int64    1 foreground, 2 background
        classID       Int64    0 ... 9
        ============  =======  ==========================================================

        Other columns of the CSV are kept (str). Slices listed but missing on disk are kept
        (the renderer records them as "file not found") and one warning gives their number.

    Raises
    ------
    DatasetError
        `root` is not an UrbanSound8K folder; the CSV is missing, unparsable, empty or lacks
        columns (the message names them and the columns found); a fold is not an integer 1 to
        10 (the message names the CSV, the value, the line and the file); a file is listed
        twice in one fold.
    ParameterError
        `folds` asks for a fold outside 1 to 10, or one without clips in the CSV.

    References
    ----------
    J. Salamon, C. Jacoby and J. P. Bello, "A Dataset and Taxonomy for Urban Sound Research",
    22nd ACM International Conference on Multimedia (ACM MM), Orlando, 2014.
    https://urbansounddataset.weebly.com/urbansound8k.html
    """
    root, csv_path, df, wanted = _open_benchmark(
        root, find_urbansound8k, _US8K_CSV, URBANSOUND8K_COLUMNS, "UrbanSound8K", "slice_file_name", 10, folds,
        f"audio/fold1/ ... audio/fold10/ and {_US8K_CSV.as_posix()} (in it or in its UrbanSound8K/ sub-folder)")
    df["fname"] = df["slice_file_name"]
    df["clip_id"] = [f"fold{k}/{Path(f).stem}" for k, f in zip(df["fold"], df["fname"])]
    _no_duplicates(df, "clip_id", csv_path)
    if wanted is not None:
        df = df[df["fold"].isin(wanted)].copy()
    df["path"] = [str(root / "audio" / f"fold{k}" / f) for k, f in zip(df["fold"], df["fname"])]
    df["label"] = df["class"]
    df["split"] = "train"
    df["group"] = df["fsID"]
    for col in ("start", "end"):
        df[col] = pd.to_numeric(df[col], errors="coerce").astype(float)
    for col in ("salience", "classID"):
        df[col] = pd.to_numeric(df[col], errors="coerce").astype("Int64")
    warn_missing_files(df["path"].tolist(), csv_path, root / "audio")
    extra = [c for c in df.columns if c not in URBANSOUND8K_COLUMNS and c not in COLUMNS and c not in OPTIONAL_COLUMNS]
    return with_optional_columns(df[COLUMNS + list(OPTIONAL_COLUMNS) + ["start", "end", "salience", "classID"]
                                     + extra])


# --------------------------------------------------------------------------------------------- ESC-50

def find_esc50(root) -> Path | None:
    """Recognise an ESC-50 folder.

    Parameters
    ----------
    root : str or os.PathLike
        The dataset folder (``audio/``, ``meta/esc50.csv``), or the folder holding
        ``ESC-50-master/`` (how GitHub's archive extracts) or ``ESC-50/``.

    Returns
    -------
    pathlib.Path or None
        The dataset folder, or ``None`` when `root` has neither ``meta/esc50.csv`` nor both
        ``audio/`` and ``meta/`` folders. A folder with ``audio/`` and ``meta/`` but no CSV is
        recognised, so that loading it says the CSV is missing.
    """
    return _find_layout(root, _ESC50_CSV, ("ESC-50-master", "ESC-50"),
                        lambda d: (d / "audio").is_dir() and (d / "meta").is_dir())


def load_esc50(root, *, folds=None, esc10_only: bool = False) -> pd.DataFrame:
    """Load ESC-50 (or its ESC-10 subset) into the common table, with its folds and sources.

    2,000 clips of 5 s from 50 classes of environmental sounds (40 per class), cut from
    Freesound recordings and spread over 5 predefined folds (clips of one source recording stay
    in one fold). Layout::

        ROOT/audio/1-100032-A-0.wav ...
        ROOT/meta/esc50.csv   filename,fold,target,category,esc10,src_file,take

    Parameters
    ----------
    root : str or os.PathLike
        The dataset folder, or the folder holding ``ESC-50-master/`` or ``ESC-50/``.
    folds : int, str, iterable of int, or None
        Keep only these folds (``3``, ``"1,2"``, ``[1, 2]``...); None: all five.
    esc10_only : bool
        Keep only the ESC-10 subset (10 classes, 400 clips; ``esc10`` is True).

    Returns
    -------
    pandas.DataFrame
        One row per clip, in the CSV's order:

        ========  =======  ==============================================================
        clip_id   str      the file's stem, e.g. ``"1-100032-A-0"``
        fname     str      ``filename``
        path      str      ``ROOT/audio/<filename>`` (absolute)
        label     str      ``category`` (e.g. ``"dog"``)
        split     str      ``"train"`` for every clip (held-out scoring goes by fold)
        group     str      ``src_file``: the Freesound clip the excerpt comes from
        fold      str      ``"1"`` ... ``"5"``
        target    Int64    class number 0 ... 49
        esc10     bool     part of ESC-10
        take      str      ``"A"``, ``"B"``...: which excerpt of the source
        ========  =======  ==============================================================

        Other columns of the CSV are kept (str). Clips listed but missing on disk are kept
        (the renderer records them as "file not found") and one warning gives their number.

    Raises
    ------
    DatasetError
        `root` is not an ESC-50 folder; the CSV is missing, unparsable, empty or lacks columns
        (the message names them and the columns found); a fold is not an integer 1 to 5 (the
        message names the CSV, the value, the line and the file); a file is listed twice; with
        `esc10_only`, no clip is marked ESC-10.
    ParameterError
        `folds` asks for a fold outside 1 to 5, or one without clips in the CSV.

    References
    ----------
    K. J. Piczak, "ESC: Dataset for Environmental Sound Classification", 23rd ACM International
    Conference on Multimedia (ACM MM), Brisbane, 2015. https://github.com/karolpiczak/ESC-50
    """
    root, csv_path, df, wanted = _open_benchmark(
        root, find_esc50, _ESC50_CSV, ESC50_COLUMNS, "ESC-50", "filename", 5, folds,
        f"audio/ and {_ESC50_CSV.as_posix()} (in it, or in its ESC-50-master/ or ESC-50/ sub-folder)")
    _no_duplicates(df, "filename", csv_path)
    df["esc10"] = df["esc10"].str.lower().isin(("true", "1", "yes"))
    if esc10_only:
        df = df[df["esc10"]].copy()
        if df.empty:
            raise DatasetError(f"{csv_path}: no clip has esc10 True: the ESC-10 subset is empty")
    if wanted is not None:
        df = df[df["fold"].isin(wanted)].copy()
    df["fname"] = df["filename"]
    df["clip_id"] = [Path(f).stem for f in df["fname"]]
    df["path"] = [str(root / "audio" / f) for f in df["fname"]]
    df["label"] = df["category"]
    df["split"] = "train"
    df["group"] = df["src_file"]
    df["target"] = pd.to_numeric(df["target"], errors="coerce").astype("Int64")
    warn_missing_files(df["path"].tolist(), csv_path, root / "audio")
    extra = [c for c in df.columns if c not in ESC50_COLUMNS and c not in COLUMNS and c not in OPTIONAL_COLUMNS]
    return with_optional_columns(df[COLUMNS + list(OPTIONAL_COLUMNS) + ["target", "esc10", "take"] + extra])
