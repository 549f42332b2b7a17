"""The top-k of class scores: the one ranking of the toolkit's answers, NumPy only.

Used by :mod:`audiospec_utils.learn.metrics` (MAP@3), :mod:`audiospec_utils.infer.predict` (the fastai model) and
:mod:`audiospec_utils.infer.onnx_predict` (the ONNX model). It imports nothing but NumPy and the package's
exceptions, so the Hugging Face Space folder (:mod:`audiospec_utils.share.space`) can copy it as it is.
"""

from __future__ import annotations

import numpy as np

from .exceptions import ParameterError

__all__ = ["top_k_labels", "top_labels"]


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


def top_labels(probs, vocab, k: int) -> list[dict]:
    """The `k` most probable labels of one prediction, best first.

    The one top-k of the toolkit's answers: :func:`audiospec_utils.infer.predict.predict_files` (the
    fastai model) and :meth:`audiospec_utils.infer.onnx_predict.OnnxClassifier.top` (the ONNX model) both
    give it.

    Parameters
    ----------
    probs : array-like, shape (n_classes,)
    vocab : sequence
        Class names, in the order of `probs`.
    k : int >= 1

    Returns
    -------
    list of dict
        ``[{"label": str, "probability": float}, ...]``, at most `k` (ties: the lower class index first).

    Raises
    ------
    ParameterError
        `k` < 1, or `probs` is not one row of scores.
    """
    probs = np.asarray(probs)
    if probs.ndim != 1:
        raise ParameterError(f"probs must have shape (n_classes,), got {probs.shape}")
    return [{"label": str(vocab[i]), "probability": float(probs[i])} for i in top_k_labels(probs[None], k)[0]]
