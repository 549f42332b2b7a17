"""Sources of labelled audio, all loaded into one table.

Every source gives the same :class:`pandas.DataFrame` (one row per clip):

* FSDKaggle2018, in its extracted Zenodo layout or the Kaggle competition layout;
* UrbanSound8K and ESC-50, in the layouts their archives extract to;
* a folder per class: one sub-folder per label, clips inside (:func:`load_folder_per_class`);
* a CSV with ``fname`` and ``label`` columns plus a folder of audio (:func:`load_csv`).

The three public benchmarks are read by :mod:`audiospec_utils.audio.benchmarks`; their loaders
(:func:`load_fsdkaggle2018`, :func:`load_urbansound8k`, :func:`load_esc50`, the ``find_*``
functions and :data:`FSDKAGGLE2018_LABELS`) can also be imported from here.
:func:`load_source` looks at a path and picks the right loader. The column names and the steps
the loaders share live in :mod:`audiospec_utils.audio.clip_table` (:data:`COLUMNS` and
:func:`sample_per_label` can be imported from here too).

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
group : str
    What the clip was cut from or recorded in: its source recording, speaker, session...
    (``""`` when unknown). Clips of one group belong on the same side of a split, or the
    validation score is optimistic. See :func:`groups_from_pattern`.
fold : str
    A predefined partition of the source (``"1"`` ... ``"10"`` for UrbanSound8K, ``"1"`` ...
    ``"5"`` for ESC-50; ``""`` when the source has none). Integers are written without
    leading zeros or ``".0"``.

:data:`COLUMNS` are the five required columns: a table built by hand needs only those.
:data:`OPTIONAL_COLUMNS` (``group``, ``fold``) are in every table a loader returns. Loaders may
add more (FSDKaggle2018: ``manually_verified``, ``usage``; UrbanSound8K: ``start``, ``end``,
``salience``, ``classID``...); the renderer keeps every extra column in ``manifest.csv``.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path, PurePosixPath

import pandas as pd

from ..exceptions import DatasetError, ParameterError
from .benchmarks import find_esc50, find_urbansound8k, load_esc50, load_fsdkaggle2018, load_urbansound8k
from .clip_table import COLUMNS, read_metadata_csv, warn_missing_files, with_optional_columns
from .decode import is_audio_file
from .fsdkaggle2018 import find_fsdkaggle2018

__all__ = ["load_source", "load_folder_per_class", "load_csv", "groups_from_pattern"]

logger = logging.getLogger(__name__)


def groups_from_pattern(names, pattern: str, *, fallback=None) -> list[str]:
    """Groups of clips from their file names: the first capture group of a regular expression.

    Clips cut from one source recording (or spoken by one speaker...) usually say so in their
    file names; ``group`` keeps them on one side of a split.

    Parameters
    ----------
    names : iterable of str
        File names (e.g. a clip table's or a manifest's ``fname``). The pattern is searched
        (:func:`re.search`) in the last path component only: folders are not searched.
    pattern : str
        Regular expression with at least one capture group; the first one is the group.
        ``r"^(\\d+)-"`` gives ``"100032"`` for UrbanSound8K-style slices
        ``100032-3-0-0.wav`` (``<recording>-<class>-<n>-<slice>``); ``r"_([a-z]+)_"`` gives
        ``"jackson"`` for ``0_jackson_12.wav`` (``<digit>_<speaker>_<take>``).
    fallback : iterable of str, optional
        The group of each name the pattern does not match (or matches with an empty capture);
        default: the name itself. Loaders pass the clip ids, so that such a clip is a group of
        its own and can never straddle a split.

    Returns
    -------
    list of str
        One group per name, in order.

    Raises
    ------
    ParameterError
        `pattern` is not a valid regular expression, has no capture group, or `fallback` is not
        as long as `names`.
    DatasetError
        The pattern matches none of the names (the message names the pattern and an example).

    Notes
    -----
    When some names do not match, one warning (:mod:`logging`) gives their number and an example.

    Examples
    --------
    >>> groups_from_pattern(["100032-3-0-0.wav", "100032-3-0-1.wav", "7061-6-0-0.wav"], r"^(\\d+)-")
    ['100032', '100032', '7061']
    """
    try:
        rx = re.compile(pattern)
    except (re.error, TypeError) as err:
        raise ParameterError(f"group_pattern '{pattern}' is not a valid regular expression ({err})") from None
    if rx.groups < 1:
        raise ParameterError(f"group_pattern '{pattern}' has no capture group: put the part of the file name "
                             f"that names the group in parentheses, e.g. r'^(\\d+)-'")
    names = [str(n) for n in names]
    fallback = names if fallback is None else [str(f) for f in fallback]
    if len(fallback) != len(names):
        raise ParameterError(f"fallback must give one group per name: {len(fallback)} for {len(names)} names")
    groups, unmatched = [], []
    for name, own in zip(names, fallback):
        m = rx.search(PurePosixPath(name.replace("\\", "/")).name)
        group = (m.group(1) or "").strip() if m else ""
        if group:
            groups.append(group)
        else:
            groups.append(own)
            unmatched.append(name)
    if names and len(unmatched) == len(names):
        raise DatasetError(f"group_pattern '{pattern}' matches none of the {len(names)} file name(s), e.g. "
                           f"{PurePosixPath(names[0]).name!r}: it is searched in the file name, and its first "
                           f"capture group is the group")
    if unmatched:
        logger.warning("group_pattern '%s' does not match %d of %d file name(s), e.g. %r: each of them is a group "
                       "of its own", pattern, len(unmatched), len(names), PurePosixPath(unmatched[0]).name)
    return groups


def load_folder_per_class(root, *, split: str = "train", group_pattern: str | None = None) -> pd.DataFrame:
    """Load a folder with one sub-folder per label.

    ``root/<label>/<clip>.wav`` (clips may sit deeper inside the label folder). If `root` holds
    ``train/`` and ``test/`` folders, each laid out per class, their clips get that split.
    Files without an audio extension (:data:`audiospec_utils.audio.decode.AUDIO_EXTENSIONS`) are
    skipped with a warning; hidden files and folders are ignored.

    Parameters
    ----------
    root : str or os.PathLike
    split : str
        Split given to every clip when `root` has no ``train/``/``test/`` folders.
    group_pattern : str or None
        Regular expression whose first capture group, searched in each file name, is the clip's
        ``group`` (e.g. ``r"^(\\d+)-"`` for ``<recording>-<class>-<n>-<slice>.wav``,
        ``r"_([a-z]+)_"`` for ``<digit>_<speaker>_<take>.wav``); see
        :func:`groups_from_pattern`. A clip whose name does not match is a group of its own
        (its ``clip_id``). None: ``group`` is ``""``.

    Returns
    -------
    pandas.DataFrame
        Columns ``clip_id, fname, path, label, split, group, fold`` (all str; ``fold`` is
        ``""``); ``clip_id`` is ``"<label folder>/<path inside it, without extension>"``
        (prefixed by the split folder when there is one).

    Raises
    ------
    DatasetError
        `root` is missing, holds no audio in any sub-folder, or `group_pattern` matches no file
        name.
    ParameterError
        `group_pattern` is not a valid regular expression or has no capture group.
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
    if group_pattern is not None:
        table["group"] = groups_from_pattern(table["fname"], group_pattern, fallback=table["clip_id"])
    labels = table.loc[table["split"] != "test", "label"].unique()
    if len(labels) < 2:
        logger.warning("%s: only %d label(s) found (%s); a classifier needs at least two",
                       root, len(labels), ", ".join(labels))
    return with_optional_columns(table)


def load_csv(csv_path, audio_dir=None, *, split: str = "train") -> pd.DataFrame:
    """Load clips listed in a CSV with ``fname`` and ``label`` columns.

    Parameters
    ----------
    csv_path : str or os.PathLike
        CSV with a header row; ``fname`` is a path relative to `audio_dir` (or absolute),
        ``label`` the clip's label (any text: spaces, commas in quotes, non-ASCII are kept). An
        optional ``split`` column (``train``/``test``) sets each clip's split; optional
        ``group`` (source recording, speaker...) and ``fold`` (predefined partition) columns
        give each clip's group and fold; other columns are kept.
    audio_dir : str or os.PathLike or None
        Folder the fnames are relative to; default: the CSV's folder.
    split : str
        Split of rows when the CSV has no ``split`` column.

    Returns
    -------
    pandas.DataFrame
        ``clip_id, fname, path, label, split, group, fold`` (str; ``group`` and ``fold`` are
        stripped, ``""`` where the CSV has no such column or an empty cell, and an integer fold
        such as ``"03"`` reads ``"3"``) and the CSV's other columns (str). Files named in the
        CSV that do not exist are kept (the renderer records them as failed, "file not found"),
        and a warning gives their number.

    Raises
    ------
    DatasetError
        The CSV is missing, empty, unparsable, lacks ``fname`` or ``label``, has no rows, or names
        the same file twice.
    """
    csv_path = Path(csv_path)
    df = read_metadata_csv(csv_path)
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
    warn_missing_files(paths, csv_path, audio_dir)
    return with_optional_columns(df)


def load_source(source, *, group_pattern: str | None = None, **kwargs) -> pd.DataFrame:
    """Load any supported source of labelled audio into the common table.

    The kind of source is recognised in this order: a file is a CSV; a folder is FSDKaggle2018
    (:func:`find_fsdkaggle2018`), UrbanSound8K (:func:`find_urbansound8k`), ESC-50
    (:func:`find_esc50`), else a folder per class.

    Parameters
    ----------
    source : str or os.PathLike
        A CSV file (``fname,label[,split,group,fold]``; audio relative to its folder), an
        FSDKaggle2018 folder (Zenodo or Kaggle layout, including the mini dataset), an
        UrbanSound8K or ESC-50 folder (or the folder their archive extracted into), or a folder
        per class.
    group_pattern : str or None
        Regular expression whose first capture group, searched in each clip's file name
        (``fname``), is its ``group`` (see :func:`groups_from_pattern`). It applies to every
        kind of source and replaces the groups the source gives (a CSV's ``group`` column,
        UrbanSound8K's ``fsID``...); a clip whose name does not match is a group of its own
        (its ``clip_id``). None: the source's own groups (``""`` when it has none).
    **kwargs
        Passed to the loader chosen (e.g. ``manually_verified_only`` or ``n_per_label`` for
        FSDKaggle2018, ``folds`` for UrbanSound8K and ESC-50, ``audio_dir`` for a CSV).

    Returns
    -------
    pandas.DataFrame
        The clip table described in the module docstring: :data:`COLUMNS`, ``group`` and
        ``fold`` (str), and the loader's other columns.

    Raises
    ------
    DatasetError
        `source` does not exist, holds no recognisable audio, a CSV of it is missing or
        malformed, or `group_pattern` matches no file name.
    ParameterError
        `group_pattern` is not a valid regular expression or has no capture group, or a loader's
        parameter is out of range.
    """
    source = Path(source)
    if not source.exists():
        raise DatasetError(f"{source}: no such file or folder")
    if source.is_file():
        if source.suffix.lower() not in (".csv", ".tsv", ".txt"):
            raise DatasetError(f"{source}: a file source must be a CSV with fname,label columns")
        table = load_csv(source, **kwargs)
    elif find_fsdkaggle2018(source) is not None:
        table = load_fsdkaggle2018(source, **kwargs)
    elif find_urbansound8k(source) is not None:
        table = load_urbansound8k(source, **kwargs)
    elif find_esc50(source) is not None:
        table = load_esc50(source, **kwargs)
    else:
        return load_folder_per_class(source, group_pattern=group_pattern, **kwargs)
    if group_pattern is not None:
        if (table["group"] != "").any():
            logger.info("group_pattern '%s' replaces the groups given by %s", group_pattern, source)
        table["group"] = groups_from_pattern(table["fname"], group_pattern, fallback=table["clip_id"])
    return table
