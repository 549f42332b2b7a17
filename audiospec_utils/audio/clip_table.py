"""The common clip table: its columns, and the steps every loader of a source shares.

Every source of labelled audio (:mod:`audiospec_utils.audio.datasets`, :mod:`audiospec_utils.audio.benchmarks`)
is loaded into one :class:`pandas.DataFrame` with one row per clip; its columns are described in
:mod:`audiospec_utils.audio.datasets`. This module holds what the loaders share: the column names
(:data:`COLUMNS`, :data:`OPTIONAL_COLUMNS`), reading a metadata CSV with clear errors
(:func:`read_metadata_csv`), folds as text (:func:`fold_string`), the warning about listed files
that are missing (:func:`warn_missing_files`), the final column order
(:func:`with_optional_columns`) and sampling a few clips per label (:func:`sample_per_label`).
It sits below the loaders, so that they import it and never each other.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from ..exceptions import DatasetError, ParameterError

__all__ = [
    "COLUMNS",
    "OPTIONAL_COLUMNS",
    "read_metadata_csv",
    "fold_string",
    "with_optional_columns",
    "warn_missing_files",
    "sample_per_label",
]

logger = logging.getLogger(__name__)

#: The five columns every clip table has (a table built by hand needs only these).
COLUMNS = ["clip_id", "fname", "path", "label", "split"]

#: Columns every loader adds: ``group`` and ``fold``, both str, ``""`` when unknown.
OPTIONAL_COLUMNS = ("group", "fold")


def read_metadata_csv(csv_path: Path, required=("fname", "label")) -> pd.DataFrame:
    """Read a metadata CSV as text, with its header checked.

    Parameters
    ----------
    csv_path : pathlib.Path
        The CSV (UTF-8, a byte-order mark allowed); spaces after the commas are skipped.
    required : tuple of str
        Columns the CSV must have.

    Returns
    -------
    pandas.DataFrame
        Every cell as str (empty cells are ``""``, never NaN); column names stripped.

    Raises
    ------
    DatasetError
        The CSV is missing, empty (no header), unparsable, or lacks a `required` column (the
        message names them and the columns found).
    """
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


def fold_string(value) -> str:
    """A fold as text: stripped; an integer without leading zeros or ``".0"``.

    Parameters
    ----------
    value : object
        A fold as read from a CSV or given by a caller (``" 03"``, ``3``, ``3.0``, ``None``...).

    Returns
    -------
    str
        ``" 03"`` -> ``"3"``, ``3.0`` -> ``"3"``, ``None`` -> ``""``; text that is not a number is
        returned stripped.
    """
    text = "" if value is None else str(value).strip()
    try:
        number = float(text)
    except ValueError:
        return text
    return str(int(number)) if number.is_integer() else text


def with_optional_columns(df: pd.DataFrame) -> pd.DataFrame:
    """A clip table with ``group`` and ``fold`` as stripped str, and its columns in order.

    Parameters
    ----------
    df : pandas.DataFrame
        A table with at least :data:`COLUMNS`.

    Returns
    -------
    pandas.DataFrame
        A copy: :data:`COLUMNS`, then ``group`` and ``fold`` (``""`` when absent; folds through
        :func:`fold_string`), then the other columns in their order; a fresh 0-based index.
    """
    df = df.copy()
    for col in OPTIONAL_COLUMNS:
        if col not in df.columns:
            df[col] = ""
        else:
            df[col] = df[col].fillna("").astype(str).str.strip()
    df["fold"] = [fold_string(f) for f in df["fold"]]
    extra = [c for c in df.columns if c not in COLUMNS and c not in OPTIONAL_COLUMNS]
    return df[COLUMNS + list(OPTIONAL_COLUMNS) + extra].reset_index(drop=True)


def warn_missing_files(paths, where, folder) -> None:
    """One warning giving how many of `paths` do not exist (they stay in the table).

    Parameters
    ----------
    paths : sequence of str or os.PathLike
        The audio files a metadata CSV lists.
    where : str or os.PathLike
        What lists them (the CSV), named in the warning.
    folder : str or os.PathLike
        Where they were looked for, named in the warning.

    Notes
    -----
    Logs one warning (:mod:`logging`) with the number of missing files and an example; nothing
    when every file exists.
    """
    missing = [p for p in paths if not Path(p).exists()]
    if missing:
        logger.warning("%s: %d of %d listed file(s) do not exist in %s, e.g. %s", where, len(missing), len(paths),
                       folder, Path(missing[0]).name)


def sample_per_label(table: pd.DataFrame, n_per_label: int, *, seed: int = 0) -> pd.DataFrame:
    """Keep at most `n_per_label` rows per (split, label), sampled reproducibly.

    Parameters
    ----------
    table : pandas.DataFrame
        A clip table (see :mod:`audiospec_utils.audio.datasets`).
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
