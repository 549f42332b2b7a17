"""Sources of labelled audio, all loaded into one table.

Three sources give the same :class:`pandas.DataFrame` (one row per clip):

* FSDKaggle2018, in its extracted Zenodo layout or the Kaggle competition layout
  (:func:`load_fsdkaggle2018`);
* a folder per class: one sub-folder per label, clips inside (:func:`load_folder_per_class`);
* a CSV with ``fname`` and ``label`` columns plus a folder of audio (:func:`load_csv`).

:func:`load_source` looks at a path and picks the right one.

Columns of the table
--------------------
clip_id : str
    Unique, file-system-safe id of the clip, e.g. ``"train/00044347"`` or ``"Bark/dog_01"``;
    spectrogram images are named after it.
fname : str
    File name of the clip, as FSDKaggle2018's CSVs and a Kaggle submission name it.
path : str
    Absolute path of the audio file.
label : str
    The clip's label (``""`` when unknown, e.g. unlabelled test clips).
split : str
    ``"train"`` or ``"test"``. Validation clips are drawn from ``"train"`` at training time.

FSDKaggle2018 adds ``manually_verified`` (0/1, train) and ``usage`` (``Public``/``Private``, test).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from .audio import is_audio_file
from .exceptions import DatasetError, ParameterError

__all__ = [
    "FSDKAGGLE2018_LABELS",
    "load_source",
    "load_fsdkaggle2018",
    "load_folder_per_class",
    "load_csv",
    "find_fsdkaggle2018",
    "sample_per_label",
]

logger = logging.getLogger(__name__)

#: The 41 labels of FSDKaggle2018 (Fonseca et al., DCASE 2018 task 2), in alphabetical order.
FSDKAGGLE2018_LABELS = (
    "Acoustic_guitar", "Applause", "Bark", "Bass_drum", "Burping_or_eructation", "Bus", "Cello",
    "Chime", "Clarinet", "Computer_keyboard", "Cough", "Cowbell", "Double_bass",
    "Drawer_open_or_close", "Electric_piano", "Fart", "Finger_snapping", "Fireworks", "Flute",
    "Glockenspiel", "Gong", "Gunshot_or_gunfire", "Harmonica", "Hi-hat", "Keys_jangling", "Knock",
    "Laughter", "Meow", "Microwave_oven", "Oboe", "Saxophone", "Scissors", "Shatter", "Snare_drum",
    "Squeak", "Tambourine", "Tearing", "Telephone", "Trumpet", "Violin_or_fiddle", "Writing",
)

COLUMNS = ["clip_id", "fname", "path", "label", "split"]

# (audio folder, csv, extra columns) per split, for the two published layouts.
_ZENODO = {
    "train": ("FSDKaggle2018.audio_train", "FSDKaggle2018.meta/train_post_competition.csv"),
    "test": ("FSDKaggle2018.audio_test", "FSDKaggle2018.meta/test_post_competition_scoring_clips.csv"),
}
_KAGGLE = {
    "train": ("audio_train", "train.csv"),
    "test": ("audio_test", "sample_submission.csv"),
}


def _read_csv(csv_path: Path, required=("fname", "label")) -> pd.DataFrame:
    try:
        df = pd.read_csv(csv_path, dtype=str, keep_default_na=False, skipinitialspace=True,
                         encoding="utf-8-sig")
    except FileNotFoundError:
        raise DatasetError(f"{csv_path}: CSV file not found") from None
    except pd.errors.EmptyDataError:
        raise DatasetError(f"{csv_path}: the CSV is empty (no header, no rows)") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as err:
        raise DatasetError(f"{csv_path}: cannot parse as CSV ({err})") from None
    df.columns = [str(c).strip() for c in df.columns]
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise DatasetError(
            f"{csv_path}: missing column(s) {', '.join(missing)}; found {', '.join(df.columns) or 'none'}. "
            f"The CSV needs a header row with at least: {', '.join(required)}."
        )
    return df


def find_fsdkaggle2018(root) -> tuple[str, Path] | None:
    """Recognise an FSDKaggle2018 folder.

    Parameters
    ----------
    root : str or os.PathLike
        A folder that may hold the dataset.

    Returns
    -------
    (layout, root) or None
        ``layout`` is ``"zenodo"`` (extracted Zenodo archives: ``FSDKaggle2018.audio_train/``,
        ``FSDKaggle2018.meta/``...) or ``"kaggle"`` (competition files: ``audio_train/``,
        ``train.csv``); ``None`` when neither layout is there.
    """
    root = Path(root)
    if (root / _ZENODO["train"][1]).is_file() or (root / _ZENODO["test"][1]).is_file():
        return "zenodo", root
    if (root / "train.csv").is_file() and (root / "audio_train").is_dir():
        return "kaggle", root
    return None


def load_fsdkaggle2018(root, *, split: str = "all", manually_verified_only: bool = False,
                       n_per_label: int | None = None, seed: int = 0) -> pd.DataFrame:
    """Load FSDKaggle2018's clips and labels into the common table.

    Parameters
    ----------
    root : str or os.PathLike
        Folder with the extracted Zenodo archives (``FSDKaggle2018.audio_train/``,
        ``FSDKaggle2018.audio_test/``, ``FSDKaggle2018.meta/``) or the Kaggle competition files
        (``audio_train/``, ``audio_test/``, ``train.csv``, ``sample_submission.csv``). The built-in
        mini dataset (:func:`audiospec_utils.mini.make_mini_dataset`) has the Zenodo layout.
    split : {"all", "train", "test"}
        Which clips to return. ``"test"`` is the 1,600 scored test clips (labelled in the Zenodo
        layout; unlabelled, ``label == ""``, in the Kaggle layout).
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
        Columns ``clip_id, fname, path, label, split`` plus ``manually_verified`` (int, train; 1
        for test) and ``usage`` (str, test; ``""`` for train). ``clip_id`` is ``"<split>/<stem>"``.

    Raises
    ------
    DatasetError
        `root` holds neither layout, or a CSV lacks its columns.
    ParameterError
        `split` or `n_per_label` is out of range.
    """
    if split not in ("all", "train", "test"):
        raise ParameterError(f"split must be 'all', 'train' or 'test', got {split!r}")
    found = find_fsdkaggle2018(root)
    if found is None:
        raise DatasetError(
            f"{root}: not an FSDKaggle2018 folder. Expected the extracted Zenodo archives "
            f"({_ZENODO['train'][0]}/, {_ZENODO['test'][0]}/, FSDKaggle2018.meta/) or the Kaggle "
            f"competition files (audio_train/, train.csv). Download it with "
            f"`audiospec download fsdkaggle2018 --dest {root}`."
        )
    layout, root = found
    root = root.resolve()
    files = _ZENODO if layout == "zenodo" else _KAGGLE
    frames = []
    for part in ("train", "test") if split == "all" else (split,):
        audio_dir, csv_name = files[part]
        csv_path = root / csv_name
        if not csv_path.is_file():
            if split == "all":
                logger.warning("%s not found: no %s clips loaded", csv_path, part)
                continue
            raise DatasetError(f"{csv_path}: CSV of the {part} split not found")
        df = _read_csv(csv_path, required=("fname",) if (layout, part) == ("kaggle", "test") else ("fname", "label"))
        if (layout, part) == ("kaggle", "test"):
            df["label"] = ""  # sample_submission.csv holds placeholder predictions, not labels
        df["fname"] = df["fname"].str.strip()
        df["path"] = [str(root / audio_dir / f) for f in df["fname"]]
        df["split"] = part
        df["clip_id"] = [f"{part}/{Path(f).stem}" for f in df["fname"]]
        if "manually_verified" in df.columns:
            df["manually_verified"] = pd.to_numeric(df["manually_verified"], errors="coerce").fillna(0).astype(int)
        else:
            df["manually_verified"] = 1 if part == "test" else 0
        if "usage" not in df.columns:
            df["usage"] = ""
        frames.append(df[COLUMNS + ["manually_verified", "usage"]])
    if not frames:
        raise DatasetError(f"{root}: no FSDKaggle2018 CSV found")
    table = pd.concat(frames, ignore_index=True)
    if manually_verified_only:
        table = table[(table["split"] == "test") | (table["manually_verified"] == 1)]
    if n_per_label is not None:
        table = sample_per_label(table, n_per_label, seed=seed)
    return table.reset_index(drop=True)


def sample_per_label(table: pd.DataFrame, n_per_label: int, *, seed: int = 0) -> pd.DataFrame:
    """Keep at most `n_per_label` rows per (split, label), sampled reproducibly.

    Parameters
    ----------
    table : pandas.DataFrame
        A clip table (see the module docstring).
    n_per_label : int >= 1
    seed : int

    Returns
    -------
    pandas.DataFrame
        The sampled rows, in their original order.

    Raises
    ------
    ParameterError
        `n_per_label` < 1.
    """
    if n_per_label is None or int(n_per_label) < 1:
        raise ParameterError(f"n_per_label must be an integer >= 1, got {n_per_label!r}")
    rng = np.random.default_rng(seed)
    keep = []
    for _, group in table.groupby(["split", "label"], sort=True):
        idx = group.index.to_numpy()
        if len(idx) > n_per_label:
            idx = rng.choice(idx, size=int(n_per_label), replace=False)
        keep.extend(idx.tolist())
    return table.loc[sorted(keep)]


def load_folder_per_class(root, *, split: str = "train") -> pd.DataFrame:
    """Load a folder with one sub-folder per label.

    ``root/<label>/<clip>.wav`` (clips may sit deeper inside the label folder). If `root` holds
    ``train/`` and ``test/`` folders, each laid out per class, their clips get that split.
    Files without an audio extension (:data:`audiospec_utils.audio.AUDIO_EXTENSIONS`) are
    skipped with a warning; hidden files and folders are ignored.

    Parameters
    ----------
    root : str or os.PathLike
    split : str
        Split given to every clip when `root` has no ``train/``/``test/`` folders.

    Returns
    -------
    pandas.DataFrame
        Columns ``clip_id, fname, path, label, split``; ``clip_id`` is ``"<label folder>/<path
        inside it, without extension>"`` (prefixed by the split folder when there is one).

    Raises
    ------
    DatasetError
        `root` is missing, or holds no audio in any sub-folder.
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root}: folder not found")
    root = root.resolve()
    split_dirs = [d for d in ("train", "test") if (root / d).is_dir()]
    bases = [(root / d, d, f"{d}/") for d in split_dirs] if split_dirs else [(root, split, "")]
    rows, skipped, empty = [], [], []
    for base, part, prefix in bases:
        for label_dir in sorted(p for p in base.iterdir() if p.is_dir() and not p.name.startswith(".")):
            n_before = len(rows)
            for f in sorted(label_dir.rglob("*")):
                if f.name.startswith(".") or not f.is_file():
                    continue
                if not is_audio_file(f):
                    skipped.append(f)
                    continue
                rel = f.relative_to(label_dir).with_suffix("").as_posix()
                rows.append((f"{prefix}{label_dir.name}/{rel}", f.name, str(f), label_dir.name, part))
            if len(rows) == n_before:
                empty.append(label_dir)
    if skipped:
        logger.warning("%d non-audio file(s) skipped in %s, e.g. %s", len(skipped), root, skipped[0])
    if empty:
        logger.warning("%d label folder(s) without audio in %s: %s", len(empty), root,
                       ", ".join(p.name for p in empty[:10]))
    if not rows:
        loose = [f for f in root.iterdir() if f.is_file() and is_audio_file(f)]
        hint = (" The audio files sit directly in the folder: put them in one sub-folder per label,"
                " or give a CSV with fname,label.") if loose else ""
        raise DatasetError(f"{root}: no audio files found in any label sub-folder.{hint}")
    table = pd.DataFrame(rows, columns=COLUMNS)
    labels = table.loc[table["split"] != "test", "label"].unique()
    if len(labels) < 2:
        logger.warning("%s: only %d label(s) found (%s); a classifier needs at least two",
                       root, len(labels), ", ".join(labels))
    return table


def load_csv(csv_path, audio_dir=None, *, split: str = "train") -> pd.DataFrame:
    """Load clips listed in a CSV with ``fname`` and ``label`` columns.

    Parameters
    ----------
    csv_path : str or os.PathLike
        CSV with a header row; ``fname`` is a path relative to `audio_dir` (or absolute),
        ``label`` the clip's label (any text: spaces, commas in quotes, non-ASCII are kept). An
        optional ``split`` column (``train``/``test``) sets each clip's split; other columns are
        kept.
    audio_dir : str or os.PathLike or None
        Folder the fnames are relative to; default: the CSV's folder.
    split : str
        Split of rows when the CSV has no ``split`` column.

    Returns
    -------
    pandas.DataFrame
        ``clip_id, fname, path, label, split`` and the CSV's other columns. Files named in the CSV
        that do not exist are kept (the renderer records them as failed, "file not found"), and a
        warning gives their number.

    Raises
    ------
    DatasetError
        The CSV is missing, empty, unparsable, lacks ``fname`` or ``label``, has no rows, or names
        the same file twice.
    """
    csv_path = Path(csv_path)
    df = _read_csv(csv_path)
    if df.empty:
        raise DatasetError(f"{csv_path}: the CSV has a header but no rows")
    audio_dir = Path(audio_dir) if audio_dir is not None else csv_path.parent
    audio_dir = audio_dir.resolve()
    df["fname"] = df["fname"].str.strip()
    df["label"] = df["label"].str.strip()
    dup = df["fname"][df["fname"].duplicated()]
    if len(dup):
        raise DatasetError(f"{csv_path}: {len(dup)} fname(s) listed more than once, e.g. {dup.iloc[0]!r}")
    paths = [Path(f) if Path(f).is_absolute() else audio_dir / f for f in df["fname"]]
    df["path"] = [str(p) for p in paths]
    if "split" not in df.columns:
        df["split"] = split
    df["clip_id"] = [Path(f).with_suffix("").as_posix().lstrip("/") for f in df["fname"]]
    missing = sum(not p.exists() for p in paths)
    if missing:
        logger.warning("%s: %d of %d listed file(s) do not exist in %s", csv_path, missing, len(df), audio_dir)
    extra = [c for c in df.columns if c not in COLUMNS]
    return df[COLUMNS + extra].reset_index(drop=True)


def load_source(source, **kwargs) -> pd.DataFrame:
    """Load any supported source of labelled audio into the common table.

    Parameters
    ----------
    source : str or os.PathLike
        A CSV file (``fname,label``; audio relative to its folder), an FSDKaggle2018 folder
        (Zenodo or Kaggle layout, including the mini dataset), or a folder per class.
    **kwargs
        Passed to the loader chosen (e.g. ``manually_verified_only`` or ``n_per_label`` for
        FSDKaggle2018, ``audio_dir`` for a CSV).

    Returns
    -------
    pandas.DataFrame
        The clip table described in the module docstring.

    Raises
    ------
    DatasetError
        `source` does not exist or holds no recognisable audio.
    """
    source = Path(source)
    if not source.exists():
        raise DatasetError(f"{source}: no such file or folder")
    if source.is_file():
        if source.suffix.lower() not in (".csv", ".tsv", ".txt"):
            raise DatasetError(f"{source}: a file source must be a CSV with fname,label columns")
        return load_csv(source, **kwargs)
    if find_fsdkaggle2018(source) is not None:
        return load_fsdkaggle2018(source, **kwargs)
    return load_folder_per_class(source, **kwargs)
