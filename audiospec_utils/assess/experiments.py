"""Small controlled experiments behind the course's claims: one split, one change at a time, intervals.

Notebook 03 claims that fixed-length time crops beat one squished image per clip, that the crop
length matters a little, that ImageNet weights help, and that augmentation (SpecAugment, mixup)
does not pay over a few epochs from scratch. Each claim is checked here the same way:

1. one grouped, stratified split of the course's clips (:func:`experiment_split`), shared by every
   variant, so that the variants differ in one setting only;
2. one short training per variant (:func:`train_variant`: the toolkit's DataLoaders, learner and
   ``fit``, seeded), scored per validation clip (windows averaged) with a 95% interval from a
   bootstrap over groups;
3. a paired comparison of two variants on the same clips (:func:`paired_difference`,
   :func:`verdict`): the difference of their accuracies with its own 95% interval, and one sentence
   saying what it shows and how sure it is.

The sizes come from ``course_config().experiments`` (seconds on the mini dataset, minutes on a GPU
on FSDKaggle2018), so the same cells run everywhere.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np
import pandas as pd

from ..audio.clip_table import COLUMNS, sample_per_label
from ..audio.splits import split_clips
from ..exceptions import ParameterError
from ..features.folders import as_render_folder
from ..features.render import render_spectrograms
from ..learn.config import TrainingConfig
from ..learn.estimator import SpectrogramClassifier
from ..learn.metrics import clip_scores, grouped_bootstrap_interval

__all__ = ["experiment_split", "render_squished", "train_variant", "experiment_table", "paired_difference",
           "verdict"]


def experiment_split(spec_dir, *, n_per_label: int | None = None, valid_pct: float = 0.2, seed: int = 42):
    """One grouped, stratified train/validation split of a render folder's labelled clips.

    Parameters
    ----------
    spec_dir : str or os.PathLike
        Render folder (``manifest.csv``).
    n_per_label : int or None
        Keep at most this many clips per label (sampled with `seed`); None: all.
    valid_pct : float
        Share of each label's clips (by group) in validation.
    seed : int
        Seed of the sample and of the split.

    Returns
    -------
    audiospec_utils.audio.splits.Split
        Grouped by source recording when the manifest has groups (see
        :func:`audiospec_utils.audio.splits.split_clips`).
    """
    images = as_render_folder(spec_dir).training_images()
    clips = images.drop_duplicates("clip_id")
    if n_per_label is not None:
        keep = set(sample_per_label(clips, int(n_per_label), seed=seed)["clip_id"])
        images = images[images["clip_id"].isin(keep)].reset_index(drop=True)
    return split_clips(images, valid_pct=valid_pct, seed=seed, warn=False)


def render_squished(spec_dir, out_dir, width: int, *, clip_ids=None, progress: bool = False) -> Path:
    """Render clips again as one image per clip, squished (or stretched) to `width` columns.

    The old way: every clip, 0.3 s or 30 s, becomes one image of the same width, so its time scale
    depends on its length. Same spectrogram settings as `spec_dir` otherwise.

    Parameters
    ----------
    spec_dir : str or os.PathLike
        The course's render folder (one column per frame).
    out_dir : str or os.PathLike
        Where the squished images go (a render folder of its own; only missing clips are rendered).
    width : int >= 8
        Image width in pixels (time).
    clip_ids : iterable of str or None
        Render only these clips (e.g. ``split.clips["clip_id"]``); None: every labelled clip.
    progress : bool

    Returns
    -------
    Path
        `out_dir`, a render folder whose ``params.json`` has ``width``.
    """
    if not isinstance(width, (int, np.integer)) or width < 8:
        raise ParameterError(f"width must be an integer of at least 8 pixels, got {width!r}")
    folder = as_render_folder(spec_dir)
    table = folder.training_images().drop_duplicates("clip_id")
    if clip_ids is not None:
        table = table[table["clip_id"].isin(set(clip_ids))]
    extra = [c for c in ("group", "fold", "manually_verified", "usage") if c in table.columns]
    table = table[[c for c in COLUMNS if c in table.columns] + extra]
    params = dataclasses.replace(folder.params, width=int(width), clip_policy="full")
    render_spectrograms(table.reset_index(drop=True), out_dir, params, progress=progress)
    return Path(out_dir)


def train_variant(spec_dir, split, config: TrainingConfig | None = None, **options) -> dict:
    """Train one variant on `split` and score its validation clips (windows averaged).

    Parameters
    ----------
    spec_dir : RenderFolder or str or os.PathLike
        Render folder holding every clip of `split`.
    split : audiospec_utils.audio.splits.Split
        The shared split (:func:`experiment_split`).
    config : TrainingConfig or None
        The variant's training (:class:`~audiospec_utils.learn.config.TrainingConfig`; the course
        passes ``cfg.training_config()`` at ``cfg.experiments``' sizes). A render with a fixed
        ``width`` is trained on whole images, whatever ``crop_seconds`` says.
    **options
        Fields of the configuration that replace its own (``crop_seconds=0.5``,
        ``spec_augment=True``, ``seed=1``...).

    Returns
    -------
    dict
        ``accuracy``, ``low`` and ``high`` (its 95% interval, bootstrap over groups),
        ``map_at_3``, ``n_valid`` (clips), ``seconds`` (training and scoring), and ``correct``: a
        pandas Series, clip id -> 1.0 or 0.0, for :func:`paired_difference`.
    """
    start = time.time()
    config = (config or TrainingConfig()).replace(**options)
    images = as_render_folder(spec_dir).training_images()
    images = images[images["clip_id"].isin(set(split.clips["clip_id"]))].reset_index(drop=True)
    clf = SpectrogramClassifier(config).fit(spec_dir, table=images, split=split)
    preds = clf.predict_proba()
    scores = clip_scores(preds, clf.classes_)  # every validation label is in the vocabulary: every clip is scored
    correct = pd.Series((preds["pred"] == preds["label"]).astype(float).to_numpy(), index=preds["clip_id"])
    low, high = grouped_bootstrap_interval(correct.to_numpy(), _groups_of(correct.index, split))
    return {"accuracy": scores["accuracy"], "low": low, "high": high, "map_at_3": scores["map_at_3"],
            "n_valid": int(len(correct)), "seconds": round(time.time() - start, 1), "correct": correct}


def _groups_of(clip_ids, split) -> np.ndarray:
    """The group of each clip (``""``: unknown, the clip is its own group), from the split's clip table."""
    return split.clips.set_index("clip_id")["group"].reindex(clip_ids).fillna("").to_numpy()


def experiment_table(runs: dict) -> pd.DataFrame:
    """The results of several variants as a table, one row each.

    Parameters
    ----------
    runs : dict
        Variant name -> what :func:`train_variant` returned.

    Returns
    -------
    pandas.DataFrame
        Index: variant; columns ``accuracy``, ``95% interval`` (text), ``map_at_3``, ``n_valid``,
        ``seconds``.
    """
    rows = [{"variant": name, "accuracy": round(r["accuracy"], 3),
             "95% interval": f"{r['low']:.2f}-{r['high']:.2f}", "map_at_3": round(r["map_at_3"], 3),
             "n_valid": r["n_valid"], "seconds": r["seconds"]} for name, r in runs.items()]
    return pd.DataFrame(rows).set_index("variant")


def paired_difference(a: dict, b: dict, split=None) -> tuple[float, float, float]:
    """Accuracy of `b` minus accuracy of `a` on the same clips, with a 95% interval.

    The two variants were scored on the same validation clips, so their difference is judged clip
    by clip (a paired comparison: much tighter than comparing two separate intervals), resampling
    whole groups (:func:`audiospec_utils.learn.metrics.grouped_bootstrap_interval`).

    Parameters
    ----------
    a, b : dict
        What :func:`train_variant` returned, for the same split.
    split : audiospec_utils.audio.splits.Split or None
        Gives each clip's group; None: every clip its own group.

    Returns
    -------
    (difference, low, high) : tuple of float

    Raises
    ------
    ParameterError
        The two variants were not scored on the same clips.
    """
    ca, cb = a["correct"], b["correct"]
    if set(ca.index) != set(cb.index):
        raise ParameterError("the two variants were scored on different clips: use one split for both")
    diff = cb.reindex(ca.index).to_numpy() - ca.to_numpy()
    low, high = grouped_bootstrap_interval(diff, None if split is None else _groups_of(ca.index, split))
    return float(diff.mean()), low, high


def verdict(runs: dict, a: str, b: str, split=None) -> str:
    """One sentence: how much better `b` did than `a`, and whether this run can tell.

    Parameters
    ----------
    runs : dict
        Variant name -> :func:`train_variant` result.
    a, b : str
        The two variants to compare (`a` the reference).
    split : audiospec_utils.audio.splits.Split or None
        For the groups of the paired bootstrap.

    Returns
    -------
    str
        E.g. ``"crops of 1 s vs whole clip squished: +0.083 accuracy [-0.04, +0.21] on 48 clips; the
        interval includes 0: this run cannot tell them apart (one seed, few clips)."``
    """
    d, low, high = paired_difference(runs[a], runs[b], split)
    n = runs[a]["n_valid"]
    head = f"{b} vs {a}: {d:+.3f} accuracy [{low:+.2f}, {high:+.2f}] on {n} clips; "
    if not np.isfinite(low) or low <= 0 <= high:
        return head + "the interval includes 0: this run cannot tell them apart (one seed, few clips)."
    better = b if d > 0 else a
    return head + f"the interval excludes 0: {better} did better here (one seed: repeat with others, or use cv)."
