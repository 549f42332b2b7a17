"""Window maps into one map of an image: each window weighted by its own evidence, blended without seams.

A clip longer than the model's window is explained window by window (the windows of
:func:`audiospec_utils.learn.crops.window_starts`, overlapping by half). This module puts the window maps
back on their image, with NumPy alone (no torch, no librosa, nothing else of audiospec), so that a
runtime without torch (the ONNX app) can copy it as it is:

* :func:`window_evidence`: how much each window speaks for the label, from the window's own
  probabilities (the ones :func:`audiospec_utils.infer.predict.predict_files` averages);
* :func:`window_taper`: a weight over the columns of one window, highest at its centre;
* :func:`blend_windows`: per image column, ``sum_w taper_w * evidence_w * map_w / sum_w taper_w``
  over the windows covering it.

Why these, measured on known-answer clips (``bench/explain_known_answer.py``; README "What does
the model listen to?"): averaging the windows, each counting once, let a window without the sound
paint the clip as brightly as the window holding it (Grad-CAM's map of a window is relative to that
window: it always finds *something*), and every window edge, where a window's map starts or stops
counting, made a step in the map (vertical seams every window hop).

Evidence
--------
``"odds"`` (default): each window's odds of the label relative to the clip's most convincing
window, ``exp(L_w - max_v L_v)`` with ``L = log(p / (1 - p))``: 1 for the best window, ``1/e`` for a
window one unit of log-odds below, ~0 for a window that leaves the label at chance while another is
sure. A clip whose windows all agree (a stationary sound) gets equal weights. ``"probability"``:
``p_w`` itself (a window at chance still counts half, with two labels). ``"none"``: 1 for every
window (the former plain mean, apart from the taper).

Blending
--------
The evidence multiplies the map, while the normaliser holds the taper alone: where one window
covers a column by itself, its map is kept scaled by its evidence, so a weak window stays weak
(dividing by ``sum taper * evidence`` instead would scale a lone weak window's map back up to full
strength). The taper (``"hann"``: ``sin^2`` over the window, ``np.hanning(length + 2)[1:-1]``, never 0)
makes each window's share fall smoothly to its edges, so that no column changes its set of
weights abruptly: the jump between adjacent columns at a window's edge is no larger than inside
(``"flat"`` keeps the former steps). Where two images meet (segments of a long recording, see
:attr:`audiospec_utils.features.SpectrogramParams.segment_seconds`), no window spans the boundary
and the map may change there.
"""

from __future__ import annotations

import numpy as np

try:                                    # inside audiospec; a copy of this file alone raises ValueError
    from ..exceptions import ParameterError
except ImportError:                     # pragma: no cover - the standalone copy
    ParameterError = ValueError

__all__ = ["EVIDENCE", "TAPERS", "window_evidence", "window_taper", "blend_windows"]

#: Ways of weighing a window by its evidence for the label (:func:`window_evidence`).
EVIDENCE = ("odds", "probability", "none")
#: Tapers over a window's columns (:func:`window_taper`).
TAPERS = ("hann", "flat")

_EPS = 1e-7                             # float32 probabilities saturate at 0 and 1


def window_evidence(probs, target: int, kind: str = "odds") -> np.ndarray:
    """How much each window speaks for class `target`, from its own probabilities.

    Parameters
    ----------
    probs : array-like, float, shape (n_windows, n_classes)
        Softmax probabilities of each window (rows sum to 1).
    target : int
        Column of the label.
    kind : {"odds", "probability", "none"}
        ``"odds"``: ``exp(L_w - max L)`` with ``L_w = log(p_w / (1 - p_w))`` (p clipped to
        ``[1e-7, 1 - 1e-7]``), so 1 for the window most sure of the label. ``"probability"``: ``p_w``.
        ``"none"``: 1.

    Returns
    -------
    np.ndarray, float64, shape (n_windows,)
        Values in [0, 1]; empty for no windows.

    Raises
    ------
    ParameterError
        An unknown `kind`, `probs` not 2-D, or `target` outside its columns.
    """
    if kind not in EVIDENCE:
        raise ParameterError(f"evidence must be one of {', '.join(EVIDENCE)}, got {kind!r}")
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2:
        raise ParameterError(f"probs must have shape (n_windows, n_classes), got {probs.shape}")
    if not 0 <= int(target) < probs.shape[1]:
        raise ParameterError(f"target {target} is not a column of probs of shape {probs.shape}")
    if len(probs) == 0 or kind == "none":
        return np.ones(len(probs))
    p = np.clip(probs[:, int(target)], _EPS, 1 - _EPS)
    if kind == "probability":
        return p
    log_odds = np.log(p) - np.log1p(-p)
    return np.exp(log_odds - log_odds.max())


def window_taper(length: int, kind: str = "hann") -> np.ndarray:
    """Weight of each column of a window of `length` columns.

    Parameters
    ----------
    length : int
        Columns (frames) of the window, >= 1.
    kind : {"hann", "flat"}
        ``"hann"``: ``np.hanning(length + 2)[1:-1]``, i.e. ``sin^2(pi (i + 1) / (length + 1))``,
        peak 1 in the middle and small but never 0 at the ends (so a column covered by one window
        alone, at an image's edge, keeps that window's value). ``"flat"``: 1 everywhere.

    Returns
    -------
    np.ndarray, float64, shape (length,)

    Raises
    ------
    ParameterError
        `length` < 1 or an unknown `kind`.
    """
    if kind not in TAPERS:
        raise ParameterError(f"taper must be one of {', '.join(TAPERS)}, got {kind!r}")
    if int(length) < 1:
        raise ParameterError(f"a window has at least 1 column, got {length}")
    if kind == "flat":
        return np.ones(int(length))
    return np.hanning(int(length) + 2)[1:-1]


def blend_windows(window_maps, rows, starts, widths, *, evidence=None, taper: str = "hann"):
    """Window maps back onto their images, each weighted by its evidence and tapered to its edges.

    Parameters
    ----------
    window_maps : array-like, float, shape (n_windows, height, length)
        One map per window, values >= 0, in units comparable between windows.
    rows : array-like of int, shape (n_windows,)
        The image of each window (0 to ``n_images - 1``).
    starts : array-like of int, shape (n_windows,)
        The first column of each window in its image.
    widths : array-like of int, shape (n_images,)
        Columns of each image. A window longer than its image (a short clip repeated to fill the
        window) wraps around: column ``(start + i) % width``, its repetitions blended like windows.
    evidence : array-like of float, shape (n_windows,), or None
        Weight of each window (:func:`window_evidence`); None: 1 for all.
    taper : {"hann", "flat"}
        :func:`window_taper`.

    Returns
    -------
    maps : list of np.ndarray, float32, shape (height, width_i)
        Per column ``sum_w t_w e_w m_w / sum_w t_w`` over the windows covering it (0 where none).
    coverage : list of np.ndarray, float64, shape (width_i,)
        ``sum_w t_w`` per column: how much of the windows lies there, for combining images that
        overlap (:func:`audiospec_utils.explain.maps.image_maps_to_clip`).

    Raises
    ------
    ParameterError
        Shapes that do not agree, or an unknown `taper`.
    """
    window_maps = np.asarray(window_maps, dtype=np.float64)
    if window_maps.ndim != 3:
        raise ParameterError(f"window_maps must have shape (n_windows, height, length), got {window_maps.shape}")
    n_win, height, length = window_maps.shape
    rows, starts = np.asarray(rows, dtype=np.int64), np.asarray(starts, dtype=np.int64)
    widths = np.asarray(widths, dtype=np.int64)
    ev = np.ones(n_win) if evidence is None else np.asarray(evidence, dtype=np.float64)
    if len(rows) != n_win or len(starts) != n_win or len(ev) != n_win:
        raise ParameterError(f"{n_win} window maps but {len(rows)} rows, {len(starts)} starts, {len(ev)} evidences")
    if n_win and (rows.min() < 0 or rows.max() >= len(widths)):
        raise ParameterError(f"window rows must index the {len(widths)} images, got {rows.min()} to {rows.max()}")
    t = window_taper(length, taper) if length else np.zeros(0)
    acc = [np.zeros((height, int(w)), np.float64) for w in widths]
    cov = [np.zeros(int(w), np.float64) for w in widths]
    for m, r, s, e in zip(window_maps, rows, starts, ev):
        cols = (int(s) + np.arange(length)) % max(int(widths[r]), 1)
        np.add.at(acc[r].T, cols, (m * (t * e)).T)
        np.add.at(cov[r], cols, t)
    maps = [(a / np.where(c > 0, c, 1.0)).astype(np.float32) for a, c in zip(acc, cov)]
    return maps, cov
