"""Train / validation / test splits that never cut a source recording in two.

Clips cut from one longer recording (the slices of UrbanSound8K, the takes of one speaker, the
windows of one clip) sound alike. A validation split drawn per clip puts near-copies on both sides,
and the score it gives is the score on sounds the model has already heard: on UrbanSound8K a random
split gives about 0.98 accuracy where the authors' 10-fold protocol gives about 0.84 with the same
model (Salamon, Jacoby and Bello, ACM MM 2014, ask for their folds for exactly this reason).

Every split of the toolkit (``train``, ``compare``, ``cv``, the notebooks) comes from
:func:`split_clips`, which is scikit-learn's
:class:`~sklearn.model_selection.StratifiedGroupKFold`: stratified by label, and never putting two
clips of one ``group`` on different sides. The columns it reads are those of the clip table
(:mod:`audiospec_utils.audio.datasets`):

``group``
    The clip's source recording, speaker, session... (``""``: unknown, the clip is its own group).
``fold``
    A predefined partition (UrbanSound8K's 10 folds, ESC-50's 5; ``""``: none).

How validation is drawn, in order:

* ``valid_fold=J``: fold J (``split_by="fold"``);
* the table has groups: a grouped, stratified share of about ``valid_pct`` of the clips
  (``split_by="group"``);
* otherwise per clip (``split_by="clip"``), with a warning that the score may be optimistic for data
  cut from longer recordings.

``test_fold=K`` takes fold K out first: it is neither trained on nor used for validation, and
:func:`audiospec_utils.assess.evaluate.evaluate_run` scores it afterwards. :func:`assign_folds` makes k
grouped, stratified folds for cross-validation when a data set has none.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..exceptions import DatasetError, ParameterError

__all__ = ["SPLIT_BY", "Split", "split_clips", "assign_folds", "clip_table", "PER_CLIP_WARNING"]

logger = logging.getLogger(__name__)

#: How a validation split can be drawn (``Split.split_by``).
SPLIT_BY = ("group", "fold", "clip")

#: Said once when a source has no groups.
PER_CLIP_WARNING = (
    "validation is per clip: this source gives no groups (source recordings, speakers...), so clips cut "
    "from one longer recording may land on both sides and the validation score may be optimistic. Give "
    "groups (a 'group' column in a CSV, --group-pattern for a folder per class) or folds where the data "
    "has them.")


def _text(values) -> np.ndarray:
    """Values as stripped strings, ``""`` for missing; integral floats without ``.0`` (3.0 -> "3")."""
    out = []
    for v in values:
        if v is None or (isinstance(v, float) and np.isnan(v)):
            out.append("")
        elif isinstance(v, (float, np.floating)) and float(v).is_integer():
            out.append(str(int(v)))
        else:
            out.append(str(v).strip())
    return np.array(out, dtype=object)


def clip_table(table: pd.DataFrame) -> pd.DataFrame:
    """One row per clip of an image or clip table: ``clip_id``, ``label``, ``group``, ``fold``.

    Parameters
    ----------
    table : pandas.DataFrame
        Rows with ``clip_id`` and ``label`` (one per clip or one per image/window), and optionally
        ``group`` and ``fold``.

    Returns
    -------
    pandas.DataFrame
        In the order of first appearance; ``group`` and ``fold`` are str (``""`` when unknown);
        ``group_key`` is the group, or the clip id when the clip has none. The other columns of
        each clip's first row (``path``, ``fname``...) are kept after these.

    Raises
    ------
    DatasetError
        ``clip_id`` or ``label`` missing, or one clip with two labels.
    """
    for col in ("clip_id", "label"):
        if col not in table.columns:
            raise DatasetError(f"the table has no {col!r} column; it needs clip_id and label")
    labels = table.groupby("clip_id", sort=False)["label"].nunique()
    if (labels > 1).any():
        raise DatasetError(f"clip {labels.index[labels > 1][0]!r} has rows with different labels")
    clips = table.drop_duplicates("clip_id").reset_index(drop=True)
    out = pd.DataFrame({"clip_id": clips["clip_id"].astype(str).to_numpy(),
                        "label": clips["label"].astype(str).to_numpy()})
    for col in ("group", "fold"):
        out[col] = _text(clips[col]) if col in clips.columns else ""
    out["group_key"] = np.where(out["group"] != "", out["group"], "clip:" + out["clip_id"])
    for col in clips.columns:
        if col not in out.columns and col != "side":
            out[col] = clips[col].to_numpy()
    return out


@dataclass
class Split:
    """Which clip is on which side, and how that was decided.

    Attributes
    ----------
    clips : pandas.DataFrame
        One row per clip: ``clip_id``, ``label``, ``group``, ``fold``, ``group_key`` (see
        :func:`clip_table`) and ``side`` (``"train"``, ``"valid"`` or ``"test"``).
    split_by : {"group", "fold", "clip"}
        How the validation clips were chosen.
    seed : int
    valid_pct : float or None
        The share asked for (``None`` with a validation fold).
    test_fold, valid_fold : str or None
    """

    clips: pd.DataFrame
    split_by: str
    seed: int = 42
    valid_pct: float | None = 0.2
    test_fold: str | None = None
    valid_fold: str | None = None
    notes: list = field(default_factory=list)

    def _ids(self, side) -> list:
        return self.clips.loc[self.clips["side"] == side, "clip_id"].tolist()

    @property
    def train_ids(self) -> list:
        """Clip ids trained on."""
        return self._ids("train")

    @property
    def valid_ids(self) -> list:
        """Clip ids of the validation split."""
        return self._ids("valid")

    @property
    def test_ids(self) -> list:
        """Clip ids of the held-out test fold (empty without ``test_fold``)."""
        return self._ids("test")

    @property
    def vocab(self) -> list:
        """Sorted labels of the training and validation clips; a label's class index is its position."""
        return sorted(self.clips.loc[self.clips["side"] != "test", "label"].unique().tolist())

    @property
    def train_clips(self) -> pd.DataFrame:
        """The rows of :attr:`clips` on the training side."""
        return self.clips[self.clips["side"] == "train"]

    @property
    def valid_clips(self) -> pd.DataFrame:
        """The rows of :attr:`clips` on the validation side."""
        return self.clips[self.clips["side"] == "valid"]

    @property
    def has_groups(self) -> bool:
        """Whether any clip has a group."""
        return bool((self.clips["group"] != "").any())

    def side_of(self, clip_ids) -> np.ndarray:
        """The side (``"train"``, ``"valid"``, ``"test"``) of each of `clip_ids`; ``""`` for unknown ids."""
        sides = self.clips.set_index("clip_id")["side"]
        return sides.reindex(pd.Index(clip_ids, dtype=object)).fillna("").to_numpy()

    def _groups(self, side) -> list:
        c = self.clips[(self.clips["side"] == side) & (self.clips["group"] != "")]
        return sorted(c["group"].unique().tolist())

    def _folds(self, side) -> list:
        c = self.clips[(self.clips["side"] == side) & (self.clips["fold"] != "")]
        return sorted(c["fold"].unique().tolist(), key=lambda f: (len(f), f))

    def to_dict(self) -> dict:
        """What ``metrics.json`` records under ``"split"``.

        Returns
        -------
        dict
            ``split_by``, ``seed``, ``valid_pct``, ``test_fold``, ``valid_fold``, ``n_train``,
            ``n_valid``, ``n_test`` (clips), ``n_train_groups``, ``n_valid_groups`` (groups, or clips
            where a clip has none), ``train_folds``, ``valid_folds``, ``test_folds``, and
            ``train_groups``, ``valid_groups`` (the group names; empty without groups).
        """
        c = self.clips
        return {
            "split_by": self.split_by, "seed": int(self.seed), "valid_pct": self.valid_pct,
            "test_fold": self.test_fold, "valid_fold": self.valid_fold,
            **{f"n_{s}": int((c["side"] == s).sum()) for s in ("train", "valid", "test")},
            "n_train_groups": int(c.loc[c["side"] == "train", "group_key"].nunique()),
            "n_valid_groups": int(c.loc[c["side"] == "valid", "group_key"].nunique()),
            **{f"{s}_folds": self._folds(s) for s in ("train", "valid", "test")},
            "train_groups": self._groups("train"), "valid_groups": self._groups("valid"),
        }

    def describe(self) -> str:
        """One line saying how the split was made, for a learner."""
        d = self.to_dict()
        how = {"group": f"by group: no source recording (group) on both sides, {d['n_valid_groups']} groups "
                        f"in validation",
               "fold": f"by fold: validation is fold {self.valid_fold}",
               "clip": "per clip (no groups: may be optimistic for clips cut from longer recordings)"}[self.split_by]
        line = f"{d['n_train']} training and {d['n_valid']} validation clips, split {how}"
        if self.test_fold is not None:
            line += f"; fold {self.test_fold} ({d['n_test']} clips) held out for testing"
        return line

    def fingerprint(self) -> str:
        """A short hash of which clip is on which side with which label (for caching results)."""
        h = hashlib.sha1()
        for cid, label, side in self.clips[["clip_id", "label", "side"]].itertuples(index=False):
            h.update(f"{cid}\t{label}\t{side}\n".encode())
        return h.hexdigest()[:16]


def _grouped_folds(labels, groups, n_splits: int, seed: int) -> list:
    """Test indices of `n_splits` grouped folds: stratified by label when the labels allow it.

    scikit-learn's StratifiedGroupKFold refuses data where every label has fewer clips than folds
    (tiny data sets); the folds are then grouped without stratification (GroupKFold), and a log
    line says so.
    """
    import warnings

    from sklearn.model_selection import GroupKFold, StratifiedGroupKFold

    X = np.zeros(len(labels))
    with warnings.catch_warnings():  # "The least populated class has only n members": expected on small data
        warnings.filterwarnings("ignore", category=UserWarning, module="sklearn")
        try:
            sgkf = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=int(seed))
            return [test for _, test in sgkf.split(X, labels, groups)]
        except ValueError:
            logger.info("too few clips per label to stratify %d folds: grouped folds without stratification", n_splits)
        try:
            gkf = GroupKFold(n_splits=n_splits, shuffle=True, random_state=int(seed))
        except TypeError:  # scikit-learn < 1.6: no shuffling
            gkf = GroupKFold(n_splits=n_splits)
        return [test for _, test in gkf.split(X, labels, groups)]


def _fold_value(name: str, value, folds: list) -> str:
    text = _text([value])[0]
    if text not in folds:
        if not folds:
            raise ParameterError(f"{name}={value!r}: this data has no folds (no 'fold' column, or it is empty); "
                                 f"folds come with UrbanSound8K, ESC-50, or a CSV 'fold' column")
        raise ParameterError(f"{name}={value!r} is not a fold of this data; its folds are {', '.join(folds)}")
    return text


def split_clips(table: pd.DataFrame, *, valid_pct: float = 0.2, seed: int = 42, test_fold=None, valid_fold=None,
                warn: bool = True) -> Split:
    """Split clips into training, validation (and test) sides without cutting a group in two.

    Parameters
    ----------
    table : pandas.DataFrame
        Clips or images (``clip_id``, ``label``, optional ``group`` and ``fold``; several rows of one
        clip, its windows, always land on the same side).
    valid_pct : float in (0, 1)
        Share of the (remaining) clips for validation when no `valid_fold` is given. The grouped
        split is :class:`~sklearn.model_selection.StratifiedGroupKFold` with
        ``n_splits = round(1 / valid_pct)``, of which the first fold is the validation split, so
        the share is about ``1 / n_splits`` (0.2 -> 5 folds -> 20%).
    seed : int
        Seed of the shuffling inside StratifiedGroupKFold.
    test_fold : str or int or None
        A fold held out from training and validation, for testing.
    valid_fold : str or int or None
        A fold used as the validation split (different from `test_fold`).
    warn : bool
        Log :data:`PER_CLIP_WARNING` when the split is per clip.

    Returns
    -------
    Split

    Raises
    ------
    ParameterError
        `valid_pct` outside (0, 1); a fold that the data does not have; ``valid_fold == test_fold``.
    DatasetError
        Fewer groups (or clips) than the validation split needs, or nothing left to train on.

    Notes
    -----
    The grouped split is stratified as far as the groups allow: a label whose clips all come from one
    recording lands on one side only (a warning names such labels when it is missing from training).
    """
    if valid_fold is None and not (isinstance(valid_pct, (int, float)) and 0 < valid_pct < 1):
        raise ParameterError(f"valid_pct must be between 0 and 1 (exclusive), got {valid_pct!r}")
    clips = clip_table(table)
    folds = sorted(set(clips["fold"]) - {""}, key=lambda f: (len(f), f))
    clips["side"] = "train"
    if test_fold is not None:
        test_fold = _fold_value("test_fold", test_fold, folds)
        clips.loc[clips["fold"] == test_fold, "side"] = "test"
    if valid_fold is not None:
        valid_fold = _fold_value("valid_fold", valid_fold, folds)
        if valid_fold == test_fold:
            raise ParameterError(f"valid_fold and test_fold are both {valid_fold!r}; the test fold is never "
                                 f"used for validation")
        clips.loc[clips["fold"] == valid_fold, "side"] = "valid"
        split = Split(clips, "fold", int(seed), None, test_fold, valid_fold)
    else:
        rest = np.flatnonzero((clips["side"] == "train").to_numpy())
        has_groups = bool((clips["group"].to_numpy()[rest] != "").any())
        n_splits = max(2, int(round(1 / valid_pct)))
        groups = clips["group_key"].to_numpy()[rest]
        if len(set(groups)) < n_splits:
            what = "groups" if has_groups else "clips"
            raise DatasetError(f"a validation split of {valid_pct:.0%} needs at least {n_splits} {what} to "
                               f"train and validate on; found {len(set(groups))}")
        labels = clips["label"].to_numpy()[rest]
        valid_pos = _grouped_folds(labels, groups, n_splits, seed)[0]
        clips.loc[rest[valid_pos], "side"] = "valid"
        split = Split(clips, "group" if has_groups else "clip", int(seed), float(valid_pct), test_fold, None)
        if not has_groups and warn:
            logger.warning(PER_CLIP_WARNING)
    spread = clips[clips["group"] != ""].groupby("group")["side"].nunique()
    if (spread > 1).any():  # the folds given by the data cut some groups in two
        note = (f"{int((spread > 1).sum())} group(s) have clips in two folds that land on different sides, e.g. "
                f"{spread.index[spread > 1][0]!r}: the data's folds do not keep its groups together, so the "
                f"held-out score may be optimistic")
        split.notes.append(note)
        logger.warning(note)
    train = clips[clips["side"] == "train"]
    if train.empty:
        raise DatasetError("no clip is left to train on after taking out the validation and test clips")
    missing = sorted(set(clips.loc[clips["side"] == "valid", "label"]) - set(train["label"]))
    if missing:
        note = (f"{len(missing)} label(s) have validation clips but no training clip (all their clips come "
                f"from one group or fold): {', '.join(missing[:5])}")
        split.notes.append(note)
        logger.warning(note)
    return split


def assign_folds(table: pd.DataFrame, k: int = 5, *, seed: int = 42) -> pd.Series:
    """Assign every clip to one of `k` grouped, stratified folds, for cross-validation.

    Parameters
    ----------
    table : pandas.DataFrame
        Clips or images (``clip_id``, ``label``, optional ``group``).
    k : int >= 2
        Number of folds.
    seed : int
        Seed of StratifiedGroupKFold's shuffling.

    Returns
    -------
    pandas.Series
        Indexed by ``clip_id``: the fold, ``"1"`` .. ``str(k)``. Clips of one group share a fold.

    Raises
    ------
    ParameterError
        `k` < 2.
    DatasetError
        Fewer groups (or clips) than folds.
    """
    if not isinstance(k, (int, np.integer)) or k < 2:
        raise ParameterError(f"k must be an integer >= 2 (folds), got {k!r}")
    clips = clip_table(table)
    if clips["group_key"].nunique() < k:
        raise DatasetError(f"{k} folds need at least {k} groups (or clips); found {clips['group_key'].nunique()}")
    fold = np.empty(len(clips), dtype=object)
    for i, idx in enumerate(_grouped_folds(clips["label"].to_numpy(), clips["group_key"].to_numpy(), int(k), seed),
                            start=1):
        fold[idx] = str(i)
    return pd.Series(fold, index=pd.Index(clips["clip_id"], name="clip_id"), name="fold")
