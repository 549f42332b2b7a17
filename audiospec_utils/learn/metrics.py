"""Evaluation metrics, MAP@3 (the FSDKaggle2018 competition metric) first among them.

Clip scoring is written once, here: :func:`clip_scores` is what training, ``evaluate``, ``cv`` and
``compare`` report for a table of clip predictions (:func:`audiospec_utils.learn.inference.clip_predictions`),
and :func:`grouped_bootstrap_interval` gives its interval (:func:`clip_score_intervals`: the intervals
of accuracy and MAP@3 that ``metrics.json`` and ``test_metrics.json`` report).
"""

from __future__ import annotations

import numpy as np

from ..exceptions import ParameterError
from ..ranking import top_k_labels

__all__ = ["map_at_k", "map_at_3", "clip_scores", "grouped_bootstrap_interval", "clip_score_intervals"]


def map_at_k(y_true, scores, k: int = 3) -> float:
    """Mean average precision at k for clips with exactly one true label.

    For each clip the true label scores ``1 / rank`` if it is among the `k` best-ranked
    predictions (rank 1 = best) and 0 otherwise; the result is the mean over clips. With one true
    label per clip this equals the mean of AP@k, the metric of the Kaggle competition
    "Freesound General-Purpose Audio Tagging Challenge" (FSDKaggle2018, DCASE 2018 task 2, k = 3;
    Fonseca et al., 2018, "General-purpose tagging of Freesound audio with AudioSet labels").

    Parameters
    ----------
    y_true : array-like, shape (n_clips,), int
        True class index of each clip.
    scores : array-like, shape (n_clips, n_classes)
        Predicted scores (e.g. probabilities); or, already ranked, an int array of shape
        (n_clips, k) of class indices, best first, when ``scores.shape[1] == k`` and its dtype is
        integer.
    k : int >= 1
        Number of ranked predictions that count (3 in the competition).

    Returns
    -------
    float
        In [0, 1]; ``nan`` for zero clips.

    Raises
    ------
    ParameterError
        Shapes do not match, or `k` < 1.

    Examples
    --------
    >>> round(map_at_k([0, 1, 2], [[0.7, 0.2, 0.1]] * 3, k=3), 4)  # (1 + 1/2 + 1/3) / 3
    0.6111
    """
    y_true = np.asarray(y_true).reshape(-1)
    scores = np.asarray(scores)
    if scores.ndim != 2 or scores.shape[0] != y_true.shape[0]:
        raise ParameterError(f"scores must have shape (n_clips={y_true.shape[0]}, n_classes), got {scores.shape}")
    if k < 1:
        raise ParameterError(f"k must be >= 1, got {k}")
    if y_true.size == 0:
        return float("nan")
    ranked = scores[:, :k] if (np.issubdtype(scores.dtype, np.integer) and scores.shape[1] == k) else top_k_labels(scores, k)
    hits = ranked == y_true[:, None]
    precision = hits / np.arange(1, ranked.shape[1] + 1)
    return float(precision.sum(axis=1).mean())


def map_at_3(preds, targs) -> float:
    """MAP@3 as a fastai metric: ``preds`` (bs, n_classes) tensor, ``targs`` (bs,) tensor.

    fastai averages it over the validation set weighted by batch size, which equals
    :func:`map_at_k` on the whole set. See :func:`map_at_k` for the definition and source.
    """
    import torch

    k = min(3, preds.shape[-1])
    top = preds.topk(k, dim=-1).indices
    hits = (top == targs.view(-1, 1)).float()
    return (hits / torch.arange(1, k + 1, device=preds.device).float()).sum(dim=1).mean()


def clip_scores(clip_preds, vocab, *, macro_f1: bool = False, f1_over: str = "vocab") -> dict:
    """Accuracy, error rate and MAP@3 (and macro F1) of clip predictions with a known label.

    Parameters
    ----------
    clip_preds : pandas.DataFrame
        ``label`` and one probability column per class of `vocab`, one row per clip
        (:func:`audiospec_utils.learn.inference.clip_predictions`). Rows whose label is not in `vocab`
        (unlabelled test clips, labels the model never saw) are left out.
    vocab : sequence of str
        The classes, in column order.
    macro_f1 : bool
        Also give ``macro_f1``: :func:`sklearn.metrics.f1_score` with ``average="macro"`` over the
        labels of `vocab` (every label counts the same; a label never predicted scores 0).
    f1_over : {"vocab", "present"}
        The labels the macro F1 averages over: every label of `vocab` (a label absent from the
        clips and never predicted counts 0: what ``compare`` reports), or only those present in
        the truth or the predictions (scikit-learn's default: what ``evaluate`` reports).

    Returns
    -------
    dict
        ``accuracy`` (fraction of clips whose best class is right), ``error_rate``
        (1 - accuracy) and ``map_at_3`` (:func:`map_at_k`, k = 3), floats in [0, 1], NaN when
        no clip has a known label; with `macro_f1`, ``macro_f1`` too.
    """
    vocab = list(vocab)
    known = clip_preds[clip_preds["label"].isin(vocab)]
    y = known["label"].map({c: i for i, c in enumerate(vocab)}).to_numpy()
    p = known[vocab].to_numpy()
    acc = float((p.argmax(1) == y).mean()) if len(y) else float("nan")
    out = {"accuracy": acc, "error_rate": 1 - acc, "map_at_3": map_at_k(y, p, 3)}
    if macro_f1:
        from sklearn.metrics import f1_score

        pred = [vocab[i] for i in p.argmax(1)] if len(y) else []
        if f1_over not in ("vocab", "present"):
            raise ParameterError(f"f1_over must be 'vocab' or 'present', got {f1_over!r}")
        labels = vocab if f1_over == "vocab" else None
        out["macro_f1"] = (float(f1_score(known["label"], pred, labels=labels, average="macro", zero_division=0))
                           if len(y) else float("nan"))
    return out


def grouped_bootstrap_interval(values, groups=None, *, confidence: float = 0.95, n_resamples: int = 2000,
                               seed: int = 0) -> tuple[float, float]:
    """Confidence interval of a mean over clips, resampling whole groups (a cluster bootstrap).

    Clips of one source recording are not independent: resampling clips would make the interval
    too narrow. The groups (recordings, speakers...) are resampled with replacement instead, and
    the statistic is the mean over all clips of the resampled groups, ``sum(values) / n_clips``.
    The interval is the percentile bootstrap of :func:`scipy.stats.bootstrap` (Efron and
    Tibshirani, "An Introduction to the Bootstrap", 1993; for clusters: Field and Welsh, "Bootstrapping
    clustered data", JRSS B, 2007).

    Parameters
    ----------
    values : array-like, shape (n_clips,)
        Per-clip scores: 1/0 for accuracy, the per-clip precision for MAP@3.
    groups : array-like, shape (n_clips,) or None
        Group of each clip; ``None`` or ``""`` entries make a clip its own group.
    confidence : float in (0, 1)
    n_resamples : int
    seed : int

    Returns
    -------
    (low, high) : tuple of float
        ``(nan, nan)`` with fewer than two groups.

    Raises
    ------
    ParameterError
        Shapes differ or `confidence` is outside (0, 1).
    """
    import warnings

    import pandas as pd
    from scipy.stats import DegenerateDataWarning, bootstrap

    values = np.asarray(values, dtype=np.float64).reshape(-1)
    if not 0 < confidence < 1:
        raise ParameterError(f"confidence must be in (0, 1), got {confidence!r}")
    if groups is None:
        keys = np.arange(len(values)).astype(str)
    else:
        keys = np.asarray(groups, dtype=object).reshape(-1)
        if keys.shape != values.shape:
            raise ParameterError(f"groups must have one entry per value ({values.shape[0]}), got {keys.shape[0]}")
        keys = np.array([k if isinstance(k, str) and k else f"clip:{i}" for i, k in enumerate(keys)], dtype=object)
    frame = pd.DataFrame({"g": keys, "v": values}).groupby("g", sort=True)["v"].agg(["sum", "count"])
    if len(frame) < 2:
        return float("nan"), float("nan")
    sums, counts = frame["sum"].to_numpy(), frame["count"].to_numpy().astype(np.float64)
    if np.all(sums / counts == sums[0] / counts[0]):  # every group scores the same: no spread to resample
        v = float(sums.sum() / counts.sum())
        return v, v
    with warnings.catch_warnings():  # NaN bounds (a NaN value): returned as they are, without scipy's warning
        warnings.filterwarnings("ignore", category=DegenerateDataWarning)
        res = bootstrap((sums, counts), lambda s, c, axis=-1: s.sum(axis=axis) / c.sum(axis=axis), paired=True,
                        vectorized=True, confidence_level=confidence, n_resamples=int(n_resamples),
                        method="percentile", rng=np.random.default_rng(seed))
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def clip_score_intervals(clip_preds, vocab, groups=None, *, confidence: float = 0.95, seed: int = 0) -> dict:
    """95% intervals of per-clip accuracy and MAP@3, from a bootstrap over groups.

    Parameters
    ----------
    clip_preds : pandas.DataFrame
        One row per clip: ``clip_id``, ``label`` and one probability column per label of `vocab`
        (:func:`audiospec_utils.learn.inference.clip_predictions`); clips whose label is not in `vocab`
        are left out.
    vocab : sequence of str
    groups : pandas.Series or None
        Group of each clip, indexed by ``clip_id`` (``""``: the clip is its own group).
    confidence : float
    seed : int

    Returns
    -------
    dict
        ``accuracy`` and ``map_at_3`` as ``[low, high]`` (rounded to 4 digits), ``confidence``,
        ``n_groups`` (groups resampled) and ``method``; see :func:`grouped_bootstrap_interval`.
    """
    vocab = list(vocab)
    known = clip_preds[clip_preds["label"].isin(vocab)]
    y = known["label"].map({c: i for i, c in enumerate(vocab)}).to_numpy()
    top = top_k_labels(known[vocab].to_numpy(), 3) if len(known) else np.zeros((0, 3), np.int64)
    hits = top == y[:, None]
    correct = hits[:, 0].astype(float)
    precision = (hits / np.arange(1, top.shape[1] + 1)).sum(axis=1) if len(known) else np.zeros(0)
    g = None
    if groups is not None:
        g = groups.reindex(known["clip_id"]).fillna("").astype(str).to_numpy()
    keys = g if g is not None else known["clip_id"].to_numpy()
    n_groups = len({k if k else f"clip:{i}" for i, k in enumerate(keys)})
    acc = grouped_bootstrap_interval(correct, g, confidence=confidence, seed=seed)
    mp3 = grouped_bootstrap_interval(precision, g, confidence=confidence, seed=seed)
    return {"accuracy": [round(acc[0], 4), round(acc[1], 4)], "map_at_3": [round(mp3[0], 4), round(mp3[1], 4)],
            "confidence": confidence, "n_groups": int(n_groups),
            "method": "percentile bootstrap over groups (scipy.stats.bootstrap, 2000 resamples)"}
