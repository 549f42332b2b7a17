"""Where the model heard its label: occlusion maps with NumPy and any window network (no torch).

Used by the web app (:mod:`audiospec_utils.share.app`) and copied as it is into a Hugging Face Space
folder: it imports NumPy and :mod:`audiospec_utils.exceptions` only. The network is any callable
that takes normalised image windows ``(n, 3, height, length)`` and gives probabilities ``(n,
n_classes)``, such as the window network :func:`audiospec_utils.share.export_app.export_window_network`
cuts out of an exported model.

The method (Zeiler and Fergus 2014, *Visualizing and understanding convolutional networks*):

1. The clip's image is cut into the windows the model classifies (:func:`clip_windows`; those of
   :meth:`audiospec_utils.infer.onnx_predict.OnnxClassifier.analyse`, segment by segment).
2. In each window a patch of 1/8 of the height by 1/16 of the window's length slides with a stride of
   half a patch; under the patch each row is replaced by its median over the window (the row's
   typical level: the patch removes an event without adding a black hole the network never saw),
   and the drop of the label's log-odds is recorded. A pixel's value is the mean of the positive
   drops of the patches that cover it (:func:`occlusion_map`).
3. The window maps are combined into one map of the clip (:func:`blend_window_maps`): each window
   counts by its own evidence for the label (its odds relative to the clip's most convincing window,
   :func:`window_weights`, as ``audiospec explain`` weighs them), so that a window that does not hold
   the sound does not paint the clip, and each is tapered by a
   Hann window and the sum divided by the summed tapers, so that overlapping windows blend without
   seams where one window ends.

:func:`explain_analysis` does it all for one clip; :func:`row_frequencies` gives the image rows'
frequencies in Hz for the figure's axis.
"""

from __future__ import annotations

import time

import numpy as np

from ..exceptions import ParameterError

__all__ = ["log_odds", "clip_windows", "window_tensor", "occlusion_map", "window_weights", "blend_window_maps",
           "explain_analysis", "row_frequencies", "hz_to_mel", "mel_to_hz", "PATCH_FRACTION", "STRIDE_FRACTION"]

#: The occluding patch as a fraction of the window's (height, length).
PATCH_FRACTION = (1 / 8, 1 / 16)
#: The patch's stride as a fraction of the patch.
STRIDE_FRACTION = 0.5


def log_odds(p) -> np.ndarray:
    """``log(p / (1 - p))`` with `p` clipped to [1e-7, 1 - 1e-7] (float64, the shape of `p`)."""
    p = np.clip(np.asarray(p, dtype=np.float64), 1e-7, 1 - 1e-7)
    return np.log(p) - np.log1p(-p)


# ----------------------------------------------------------------------------------------------
# Windows


def _window_hop(length: int, overlap: float) -> int:
    return max(1, int(round(length * (1 - overlap))))


def _segment_window_starts(n_frames: int, length: int, overlap: float) -> np.ndarray:
    """First frame of each window of an image `n_frames` wide (the exported graph's rule)."""
    hop = _window_hop(length, overlap)
    last = max(n_frames - length, 0)
    n = (last + hop - 1) // hop + 1
    return np.minimum(np.arange(n) * hop, last)


def clip_windows(analysis: dict, metadata: dict) -> dict:
    """The windows of a clip as the model cut them, placed on the clip's frame grid.

    Parameters
    ----------
    analysis : dict
        What :meth:`audiospec_utils.infer.onnx_predict.OnnxClassifier.analyse` returns: ``images`` (one
        float32 array (channels, height, n_frames) per segment), ``window_start`` (s),
        ``window_probs`` (n_windows, n_classes), ``duration`` (s), and ``segment_start`` (s, one
        per image; absent in older versions: then the images follow each other).
    metadata : dict
        The model's metadata: ``sample_rate``, ``hop_length``, ``crop_frames``, ``overlap``,
        ``clip_policy``, ``duration``.

    Returns
    -------
    dict
        ``segment`` int (n_windows,): the image each window is cut from; ``start`` int
        (n_windows,): its first frame in that image; ``offset`` int (n_images,): each image's first
        frame on the clip's grid; ``n_frames`` int: frames of the clip's grid (frame ``f`` at
        ``f * hop_length / sample_rate`` s); ``hop_seconds`` float.

    Raises
    ------
    ParameterError
        The windows found do not match the analysis's (a model whose windows this version does not
        know how to cut).
    """
    sr, hop = int(metadata["sample_rate"]), int(metadata["hop_length"])
    hop_s = hop / sr
    length, overlap = int(metadata["crop_frames"]), float(metadata.get("overlap", 0.5))
    images = analysis["images"]
    seg_start = analysis.get("segment_start")
    if seg_start is None:
        seg_len = float(metadata.get("duration") or 0.0) if len(images) > 1 else 0.0
        seg_start = np.arange(len(images)) * seg_len
    seg_start = np.asarray(seg_start, dtype=np.float64)
    segment, start = [], []
    for i, img in enumerate(images):
        s = _segment_window_starts(int(img.shape[-1]), length, overlap)
        segment.append(np.full(len(s), i))
        start.append(s)
    segment, start = np.concatenate(segment), np.concatenate(start)
    expected = np.asarray(analysis["window_start"], dtype=np.float64)
    found = seg_start[segment] + start * hop_s
    if len(found) != len(expected) or not np.allclose(found, expected, atol=hop_s / 2 + 1e-9):
        raise ParameterError(f"the model's windows ({len(expected)}) are not those this version cuts ({len(found)}): "
                             f"no occlusion map for this model")
    offset = np.round(seg_start / hop_s).astype(np.int64)
    clip_frames = 1 + int(round(float(analysis["duration"]) * sr)) // hop
    ends = [int(o) + int(img.shape[-1]) for o, img in zip(offset, images)]
    return {"segment": segment, "start": start, "offset": offset, "n_frames": max(1, min(max(ends), clip_frames)),
            "hop_seconds": hop_s}


def window_tensor(image: np.ndarray, start: int, length: int, mean, std) -> np.ndarray:
    """One window of an image as the model feeds it to its network.

    Parameters
    ----------
    image : np.ndarray, float32, shape (channels, height, n_frames)
        Pixels 0..255 (the model's ``image`` output).
    start : int
        First frame; the window wraps around the image when it is shorter than `length` (a short
        clip is repeated, as the model does).
    length : int
        Frames per window (``crop_frames``).
    mean, std : sequence of float
        The model's normalisation (one value, or one per channel).

    Returns
    -------
    np.ndarray, float32, shape (3, height, length)
        ``(pixels / 255 - mean) / std``, a grey image repeated on three channels.
    """
    cols = (int(start) + np.arange(length)) % image.shape[-1]
    x = image[:, :, cols].astype(np.float32) / np.float32(255.0)
    if x.shape[0] == 1:
        x = np.repeat(x, 3, axis=0)
    m = np.asarray(mean, np.float32).reshape(-1, 1, 1)
    s = np.asarray(std, np.float32).reshape(-1, 1, 1)
    return ((x - m) / s).astype(np.float32)


# ----------------------------------------------------------------------------------------------
# Occlusion


def _positions(n: int, size: int, step: int) -> list[int]:
    pos = list(range(0, max(n - size, 0) + 1, step))
    if pos[-1] != max(n - size, 0):
        pos.append(max(n - size, 0))
    return pos


def occlusion_map(predict, window: np.ndarray, label: int, *, patch=PATCH_FRACTION, stride: float = STRIDE_FRACTION,
                  batch: int = 64) -> tuple[np.ndarray, float, int]:
    """How much each pixel of one window holds the label: mean positive drop of its log-odds when hidden.

    Parameters
    ----------
    predict : callable
        ``predict(x)`` with `x` float32 (n, 3, height, length) gives probabilities (n, n_classes).
    window : np.ndarray, float32, shape (3, height, length)
        The normalised window (:func:`window_tensor`).
    label : int
        Column of the label explained.
    patch : (float, float)
        Patch height and length as fractions of the window's (default 1/8 by 1/16; at least one pixel).
    stride : float
        Patch step as a fraction of the patch (default one half; at least one pixel).
    batch : int
        Occluded windows per call of `predict`.

    Returns
    -------
    map : np.ndarray, float32, shape (height, length)
        Mean over the patches covering each pixel of ``max(0, log-odds before - log-odds after)``
        (>= 0; log-odds units).
    base : float
        The label's log-odds on the window as it is.
    n_passes : int
        Windows sent through the network (1 + the patches).
    """
    _, h, w = window.shape
    ph, pw = max(1, int(round(h * patch[0]))), max(1, int(round(w * patch[1])))
    sh, sw = max(1, int(round(ph * stride))), max(1, int(round(pw * stride)))
    rows, cols = _positions(h, ph, sh), _positions(w, pw, sw)
    fill = np.median(window, axis=2)                                   # (3, h): each row's typical level
    base = float(log_odds(np.asarray(predict(window[None]))[0, label]))
    patches = [(r, c) for r in rows for c in cols]
    total = np.zeros((h, w), np.float64)
    count = np.zeros((h, w), np.float64)
    for i in range(0, len(patches), batch):
        chunk = patches[i:i + batch]
        x = np.repeat(window[None], len(chunk), axis=0)
        for k, (r, c) in enumerate(chunk):
            x[k, :, r:r + ph, c:c + pw] = fill[:, r:r + ph, None]
        drops = base - log_odds(np.asarray(predict(x))[:, label])
        for (r, c), d in zip(chunk, drops):
            total[r:r + ph, c:c + pw] += max(float(d), 0.0)
            count[r:r + ph, c:c + pw] += 1
    return (total / np.maximum(count, 1)).astype(np.float32), base, 1 + len(patches)


def window_weights(window_probs, label: int) -> np.ndarray:
    """Each window's evidence for the label: its odds relative to the clip's most convincing window.

    The weighting ``audiospec explain`` gives its windows (evidence ``"odds"``), so that the app and
    the command line combine window maps alike.

    Parameters
    ----------
    window_probs : np.ndarray, shape (n_windows, n_classes)
    label : int

    Returns
    -------
    np.ndarray, float64, shape (n_windows,)
        ``exp(L_w - max_v L_v)`` with ``L = log(p / (1 - p))`` of the label: 1 for the best window,
        ``1/e`` for a window one unit of log-odds below it, near 0 for a window at chance while
        another is sure; equal weights where every window says the same (a stationary sound).
    """
    lo = log_odds(np.asarray(window_probs, dtype=np.float64)[:, label])
    return np.exp(lo - lo.max())


def blend_window_maps(maps, columns, weights, n_frames: int) -> np.ndarray:
    """One map of the clip from its windows' maps: weighted by evidence, Hann-tapered, no seams.

    Parameters
    ----------
    maps : sequence of np.ndarray, each (height, length)
        One map per window (None for a window not explained: it counts as a map of zeros).
    columns : sequence of np.ndarray of int, each (length,)
        Where each window's columns fall on the clip's frame grid (columns at or past `n_frames`
        are dropped; a short clip's repeated window may name a frame twice).
    weights : np.ndarray, shape (n_windows,)
        Each window's weight (:func:`window_weights`).
    n_frames : int
        Frames of the clip's grid.

    Returns
    -------
    np.ndarray, float32, shape (height, n_frames)
        ``sum_w taper * weight_w * map_w / sum_w taper`` frame by frame: where windows overlap, each
        fades in and out with its Hann taper (never exactly 0, so a frame covered by one window
        keeps that window's value); 0 where no window reaches.
    """
    first = next(m for m in maps if m is not None)
    h, length = first.shape
    taper = np.hanning(length + 2)[1:-1]
    num = np.zeros((h, n_frames), np.float64)
    den = np.zeros(n_frames, np.float64)
    for m, cols, wt in zip(maps, columns, weights):
        cols = np.asarray(cols)
        keep = cols < n_frames
        np.add.at(den, cols[keep], taper[keep])
        if m is not None and wt > 0:
            np.add.at(num.T, cols[keep], (m[:, keep] * (taper[keep] * wt)).T)
    return (num / np.maximum(den, 1e-12)).astype(np.float32)


def explain_analysis(predict, analysis: dict, metadata: dict, label: int, *, max_windows: int | None = 12,
                     batch: int = 64) -> dict:
    """The occlusion map of one clip for one label, on the clip's frame grid.

    Parameters
    ----------
    predict : callable
        The window network: float32 (n, 3, height, length) -> probabilities (n, n_classes).
    analysis : dict
        :meth:`audiospec_utils.infer.onnx_predict.OnnxClassifier.analyse` of the clip.
    metadata : dict
        The model's metadata (``sample_rate``, ``hop_length``, ``crop_frames``, ``overlap``,
        ``mean``, ``std``...).
    label : int
        Column of the label explained.
    max_windows : int or None
        Explain at most this many windows, those of most evidence (each costs hundreds of network
        passes); the others count as maps of zeros. None: all.
    batch : int
        Occluded windows per network call.

    Returns
    -------
    dict
        ``map`` float32 (height, n_frames), 0..1 (divided by its maximum; all 0 when nothing
        dropped); ``raw`` the same before the division (log-odds units); ``image`` float32
        (channels, height, n_frames), the clip's pixels 0..255 on the same grid; ``times`` float64
        (n_frames,) s; ``weights`` (n_windows,); ``explained`` (n_windows,) bool;
        ``window_agreement``: largest difference between the window network's probabilities and
        the model's own; ``passes`` (network passes); ``seconds``.

    Raises
    ------
    ParameterError
        The model's windows cannot be cut again (:func:`clip_windows`), or `label` is out of range.
    """
    t0 = time.perf_counter()
    wp = np.asarray(analysis["window_probs"])
    if not 0 <= int(label) < wp.shape[1]:
        raise ParameterError(f"label index {label} is out of range for {wp.shape[1]} classes")
    win = clip_windows(analysis, metadata)
    length = int(metadata["crop_frames"])
    images = analysis["images"]
    weights = window_weights(wp, label)
    order = [int(i) for i in np.argsort(-weights, kind="stable") if weights[i] > 1e-6]
    if max_windows is not None:
        order = order[:max_windows]
    explained = np.zeros(len(wp), bool)
    explained[order] = True
    maps, columns, agreement, passes = [None] * len(wp), [], 0.0, 0
    for i in range(len(wp)):
        seg, s = int(win["segment"][i]), int(win["start"][i])
        width = images[seg].shape[-1]
        columns.append(win["offset"][seg] + (s + np.arange(length)) % width)
        if explained[i]:
            x = window_tensor(images[seg], s, length, metadata["mean"], metadata["std"])
            maps[i], base, n = occlusion_map(predict, x, label, batch=batch)
            passes += n
            agreement = max(agreement, abs(float(1 / (1 + np.exp(-base))) - float(wp[i, label])))
    raw = blend_window_maps(maps, columns, weights, win["n_frames"])
    peak = float(raw.max()) if raw.size else 0.0
    n_frames = win["n_frames"]
    clip_image = np.zeros((images[0].shape[0], images[0].shape[1], n_frames), np.float32)
    for seg, img in enumerate(images):  # a later segment (the last ends with the clip) over an earlier one
        o = int(win["offset"][seg])
        n = max(0, min(img.shape[-1], n_frames - o))
        clip_image[:, :, o:o + n] = img[:, :, :n]
    return {"map": raw / peak if peak > 0 else raw, "raw": raw, "image": clip_image,
            "times": np.arange(n_frames) * win["hop_seconds"], "weights": weights, "explained": explained,
            "window_agreement": agreement, "passes": passes, "seconds": time.perf_counter() - t0}


# ----------------------------------------------------------------------------------------------
# The frequency axis


def hz_to_mel(f) -> np.ndarray:
    """Slaney's mel scale (librosa's default, ``htk=False``): linear below 1 kHz, logarithmic above."""
    f = np.asarray(f, dtype=np.float64)
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, np.log(6.4) / 27.0
    return np.where(f >= min_log_hz, min_log_mel + np.log(np.maximum(f, 1e-10) / min_log_hz) / logstep, f / f_sp)


def mel_to_hz(m) -> np.ndarray:
    """The inverse of :func:`hz_to_mel`."""
    m = np.asarray(m, dtype=np.float64)
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, np.log(6.4) / 27.0
    return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), f_sp * m)


def row_frequencies(metadata: dict) -> np.ndarray:
    """The centre frequency of each row of the model's image, in Hz, top row (highest) first.

    Parameters
    ----------
    metadata : dict
        The model's metadata: ``kind`` (``"logmel"`` or ``"stft"``), ``n_mels``, ``fmin``, ``fmax``,
        ``sample_rate``, ``n_fft``, ``height``.

    Returns
    -------
    np.ndarray, float64, shape (height,)
        Decreasing. For log-mel, the centres of the mel bands (Slaney's scale) at the rows' positions
        after the image was resized to ``height`` rows; for ``stft``, the FFT bins' frequencies.
    """
    height = int(metadata["height"])
    if metadata.get("kind", "logmel") == "stft":
        sr, n_fft = float(metadata["sample_rate"]), int(metadata["n_fft"])
        n_rows = min(n_fft // 2 + 1, int(np.floor(float(metadata["fmax"]) * n_fft / sr)) + 1)
        centres = np.arange(n_rows) * sr / n_fft
    else:
        n_rows = int(metadata["n_mels"])
        mels = np.linspace(hz_to_mel(float(metadata["fmin"])), hz_to_mel(float(metadata["fmax"])), n_rows + 2)
        centres = mel_to_hz(mels[1:-1])
    # row j of the resized image (counted from the bottom) is centred on input row (j + 0.5) * scale - 0.5
    pos = (np.arange(height) + 0.5) * (n_rows / height) - 0.5
    return np.interp(pos, np.arange(n_rows), centres)[::-1]
