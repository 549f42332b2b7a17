"""Evaluation metrics, MAP@3 (the FSDKaggle2018 competition metric) first among them."""

from __future__ import annotations

import numpy as np

from .exceptions import ParameterError

__all__ = ["map_at_k", "top_k_labels", "map_at_3"]


def top_k_labels(scores, k: int = 3) -> np.ndarray:
    """Indices of the `k` highest scores per row, best first.

    Parameters
    ----------
    scores : array-like, shape (n_clips, n_classes)
        Probabilities or any scores; ties are broken by the lower class index.
    k : int >= 1

    Returns
    -------
    np.ndarray, shape (n_clips, min(k, n_classes)), int64
    """
    scores = np.asarray(scores)
    if scores.ndim != 2:
        raise ParameterError(f"scores must have shape (n_clips, n_classes), got {scores.shape}")
    if k < 1:
        raise ParameterError(f"k must be >= 1, got {k}")
    order = np.argsort(-scores, axis=1, kind="stable")
    return order[:, :k].astype(np.int64)


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
