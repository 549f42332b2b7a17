"""Maps on a clip's spectrogram grid: where they can be made, where they lie, and how they sound.

:func:`audiospec_utils.explain.explanation.explain_clip` makes one map per window of a clip's images
(:mod:`audiospec_utils.explain.methods`); this module does everything after that, with NumPy and
librosa only (no torch):

* **what can be explained** (:func:`check_explainable`): images whose rows are frequencies;
* **from windows to the clip**: :func:`blend_windows` (from :mod:`audiospec_utils.explain.blend`,
  NumPy alone) puts the window maps back on their images, each weighted by its evidence for the
  label and tapered to its edges (:func:`place_windows`: the plain mean used before);
  :func:`image_maps_to_clip` the image maps on the clip's own spectrogram grid (row 0 the lowest
  frequency, one column per STFT frame), undoing the clip-length policy (segments of a long
  recording, repetitions of a short one), the resizing in height and a fixed render width;
* **where a map lies** (:func:`map_frequencies`, :func:`map_stats`, :func:`mean_map`);
* **how it sounds** (:func:`explained_audio`): the clip's STFT weighted by the map, inverted.
"""

from __future__ import annotations

import numpy as np

from ..exceptions import AudiospecError, ParameterError
from ..features.kinds import band_frequencies, frame_count, mel_basis, resize_rows
from ..features.params import fit_length, segment_starts
from .blend import blend_windows

__all__ = ["check_explainable", "map_frequencies", "map_stats", "mean_map", "place_windows", "image_maps_to_clip",
           "explained_audio"]

#: Stack channels whose rows are the mel bands of the log-mel.
MEL_CHANNELS = ("logmel", "delta", "delta2")


# ----------------------------------------------------------------------------------------------
# What can be explained


def check_explainable(params, where="the run") -> None:
    """Refuse spectrogram parameters whose image rows are not frequencies.

    Parameters
    ----------
    params : SpectrogramParams
        The run's parameters.
    where : str or os.PathLike
        Named in the message (the run folder).

    Raises
    ------
    ParameterError
        Kind ``"mfcc"`` (rows are cepstral coefficients), ``"chroma"`` (pitch classes), or a
        ``"stack"`` with a channel other than ``logmel``, ``delta``, ``delta2``: the map could
        not be placed on frequencies nor turned back into sound.
    """
    if params.kind in ("logmel", "stft"):
        return
    if params.kind == "stack" and all(c in MEL_CHANNELS for c in params.channels):
        return
    what = f"kind={params.kind!r}" + (f" with channels {','.join(params.channels)}" if params.kind == "stack" else "")
    raise ParameterError(
        f"{where}: cannot explain a run trained on {what}: its image rows are not frequencies, so a map "
        f"could not be placed on the spectrogram nor turned back into sound. Maps need kind 'logmel' or "
        f"'stft' (or a 'stack' of {', '.join(MEL_CHANNELS)})")



# ----------------------------------------------------------------------------------------------
# Where a map lies


def map_frequencies(params, sr: int, n_rows: int | None = None) -> np.ndarray:
    """Centre frequency in Hz of each row of a map (and of the spectrogram) at `params` and `sr`.

    Parameters
    ----------
    params : SpectrogramParams
    sr : int
        Sample rate in Hz.
    n_rows : int or None
        Rows of the spectrogram (for ``"stft"``, the bins kept up to ``fmax``); default from the
        parameters.

    Returns
    -------
    np.ndarray, float64, shape (n_rows,)
        Log-mel (and stack): the centres of librosa's Slaney mel filters between ``fmin`` and
        ``fmax`` (``librosa.mel_frequencies(n_mels + 2, fmin, fmax)[1:-1]``); STFT: bin ``k`` at
        ``k * sr / n_fft``. Increasing: row 0 is the lowest.

    Raises
    ------
    ParameterError
        The kind has no frequency axis (see :func:`check_explainable`) or `params` is impossible at `sr`.
    """
    check_explainable(params, "these parameters")
    if params.kind == "stft" and n_rows is not None:
        return np.arange(int(n_rows), dtype=np.float64) * sr / params.resolve(int(sr))["n_fft"]
    return band_frequencies(params, sr)


def map_stats(cam: np.ndarray, times: np.ndarray, freqs: np.ndarray) -> dict:
    """Where a map's weight lies: its centre of mass in seconds and in Hz, and how spread it is.

    Parameters
    ----------
    cam : np.ndarray, shape (n_rows, n_frames), values >= 0
    times : np.ndarray, shape (n_frames,)
        Frame centres in seconds.
    freqs : np.ndarray, shape (n_rows,)
        Row centres in Hz, increasing.

    Returns
    -------
    dict
        ``centre_s``: ``sum(cam * t) / sum(cam)`` in seconds. ``centre_hz``: the centre of mass
        along the map's own rows (mel bands for a log-mel, where a row is a fixed step of pitch
        rather than of Hz), converted to Hz by interpolating `freqs`. ``share_above_half``: the
        fraction of the map's cells at or above half its maximum (small: a focused map; 1: flat).
        All None when the map is all 0.
    """
    cam = np.asarray(cam, dtype=np.float64)
    total = float(cam.sum()) if cam.size else 0.0
    if not total > 0 or not np.isfinite(total):
        return {"centre_s": None, "centre_hz": None, "share_above_half": None}
    centre_s = float((cam.sum(axis=0) * np.asarray(times, dtype=np.float64)).sum() / total)
    row = float((cam.sum(axis=1) * np.arange(cam.shape[0])).sum() / total)
    centre_hz = float(np.interp(row, np.arange(len(freqs)), np.asarray(freqs, dtype=np.float64)))
    share = float((cam >= 0.5 * cam.max()).mean())
    return {"centre_s": centre_s, "centre_hz": centre_hz, "share_above_half": share}



def mean_map(cams, n_times: int = 100) -> np.ndarray:
    """The mean of maps of clips of different lengths, on a common grid of relative time.

    Parameters
    ----------
    cams : sequence of np.ndarray, shape (n_rows, n_frames_i)
        Maps of the same rows (same run), any number of frames.
    n_times : int
        Points of the common time grid: ``(j + 0.5) / n_times`` of each clip's duration, from its
        start (0) to its end (1); each map is linearly interpolated onto it.

    Returns
    -------
    np.ndarray, float32, shape (n_rows, n_times)
        Each clip counts once, whatever its length.

    Raises
    ------
    ParameterError
        No maps, maps with different rows, or `n_times` < 1.
    """
    cams = [np.asarray(c, dtype=np.float32) for c in cams]
    if not cams:
        raise ParameterError("no maps to average")
    if len({c.shape[0] for c in cams}) != 1:
        raise ParameterError(f"maps of different heights cannot be averaged: {sorted({c.shape[0] for c in cams})}")
    if not isinstance(n_times, (int, np.integer)) or n_times < 1:
        raise ParameterError(f"n_times must be a positive integer, got {n_times!r}")
    return np.mean([_resample_columns(c, int(n_times)) for c in cams], axis=0).astype(np.float32)



# ----------------------------------------------------------------------------------------------
# From windows to the clip


def _resample_columns(a: np.ndarray, n: int) -> np.ndarray:
    """Linear resampling of a map's columns to `n` (undoing a render's fixed ``width``)."""
    w = a.shape[1]
    if w == n:
        return a
    pos = (np.arange(n) + 0.5) * w / n - 0.5           # where each of the n frames lies among the w columns
    return np.stack([np.interp(pos, np.arange(w), r) for r in a]).astype(np.float32)


def place_windows(window_maps, rows, starts, widths) -> list[np.ndarray]:
    """Window maps back onto their images: per column, the plain mean over the windows that cover it.

    The combination before issue 30, kept for comparison: :func:`blend_windows` with
    ``evidence=None, taper="flat"``. :func:`audiospec_utils.explain.explanation.explain_clip` weighs each window
    by its evidence and tapers it (:mod:`audiospec_utils.explain.blend`).

    Parameters
    ----------
    window_maps : np.ndarray, shape (n_windows, height, length)
    rows, starts : np.ndarray of int, shape (n_windows,)
        Image of each window and its first column (as the windows DataLoader cuts them).
    widths : np.ndarray of int, shape (n_images,)

    Returns
    -------
    list of np.ndarray, float32, shape (height, width_i)
        A window longer than its image (a repeated clip) wraps around: its repetitions are averaged.
    """
    return blend_windows(window_maps, rows, starts, widths, evidence=None, taper="flat")[0]


def _segment_frames(params, seg_index: int, n_seg_frames: int, n_samples: int, hop: int, sr: int) -> np.ndarray:
    """The clip frame of each frame of a segment of the clip-length policy (-1: not in the clip)."""
    i = np.arange(n_seg_frames, dtype=np.int64)
    if params.clip_policy == "full":
        if getattr(params, "segment_seconds", None) is None:
            return i
        # a long recording rendered as segments of segment_seconds (the last one: what is left)
        start = int(segment_starts(n_samples, sr, "full", None, params.segment_seconds)[seg_index])
        samples = start + i * hop
    elif params.clip_policy == "windows":
        n = max(1, int(round(params.duration * sr)))
        samples = seg_index * n + i * hop
    elif params.clip_policy == "loop" and n_samples > 0:
        samples = (i * hop) % n_samples
    else:  # pad
        samples = i * hop
    frames = np.rint(samples / hop).astype(np.int64)
    return np.where(samples < max(n_samples, 1), frames, -1)


def _n_frames(n_samples: int, params, sr: int) -> int:
    r = params.resolve(int(sr))
    return frame_count(int(n_samples), r["n_fft"], r["hop_length"])


def image_maps_to_clip(image_maps, images, params, y, sr, n_clip_frames: int, coverage=None) -> np.ndarray:
    """Maps on a clip's images -> one map on the clip's spectrogram grid (row 0 the lowest frequency).

    Parameters
    ----------
    image_maps : sequence of np.ndarray, float, shape (height, width_i)
        One per image of the clip (:func:`place_windows`), at the model's image height; row 0 is
        the highest frequency, as in the images.
    images : sequence of np.ndarray
        The clip's images as rendered (:func:`audiospec_utils.features.images.render_clip` without
        paths): their height is the spectrogram's number of rows.
    params : SpectrogramParams
        The render's parameters (clip-length policy, hop length, fixed ``width``).
    y : np.ndarray, shape (n_samples,)
        The clip at `sr`.
    sr : int
        Sample rate in Hz.
    n_clip_frames : int
        Frames of the clip's whole spectrogram.
    coverage : sequence of np.ndarray, float, shape (width_i,), or None
        How much of the windows lies on each column of each image (the ``coverage`` of
        :func:`audiospec_utils.explain.blend.blend_windows`): where segments overlap (``"loop"``
        repetitions, the last segment of a long recording), each counts by its coverage there.
        None: each counts once.

    Returns
    -------
    np.ndarray, float32, shape (n_rows, n_clip_frames)
        A frame covered by several segments gets their mean (weighted by `coverage`); a frame no
        segment covers gets 0. Not normalised.

    Raises
    ------
    AudiospecError
        The clip-length policy gives another number of segments than there are maps.
    """
    hop = params.resolve(int(sr))["hop_length"]
    segments = fit_length(y, sr, params)
    if len(segments) != len(image_maps):
        raise AudiospecError(f"{len(image_maps)} images but {len(segments)} segments: the render changed under the map")
    n_rows = images[0].shape[0]
    acc = np.zeros((n_rows, n_clip_frames), np.float64)
    cnt = np.zeros(n_clip_frames, np.float64)
    for k, (m, seg) in enumerate(zip(image_maps, segments)):
        m = resize_rows(m, n_rows)[::-1]                        # image row 0 is the highest frequency
        n_seg = _n_frames(len(seg), params, sr)
        m = _resample_columns(m, n_seg)                          # a fixed render width back to frames
        w = np.ones(n_seg) if coverage is None else _resample_columns(
            np.asarray(coverage[k], np.float64)[None], n_seg)[0].astype(np.float64)
        frames = _segment_frames(params, k, n_seg, len(y), hop, sr)
        keep = (frames >= 0) & (frames < n_clip_frames)
        np.add.at(acc.T, frames[keep], (m[:, keep] * w[keep]).T)
        np.add.at(cnt, frames[keep], w[keep])
    out = acc / np.where(cnt > 0, cnt, 1.0)
    return out.astype(np.float32)



# ----------------------------------------------------------------------------------------------
# Hearing a map


def _bin_weights(cam: np.ndarray, params, sr: int) -> np.ndarray:
    """A map on the spectrogram's rows -> weights on the STFT's bins, shape (n_fft // 2 + 1, n_frames)."""
    r = params.resolve(int(sr))
    n_bins = r["n_fft"] // 2 + 1
    if params.kind == "stft":
        w = np.zeros((n_bins, cam.shape[1]), np.float32)
        w[:cam.shape[0]] = cam
        return w
    basis = mel_basis(int(sr), r["n_fft"], r["n_mels"], r["fmin"], r["fmax"]).astype(np.float64)
    peak = basis.max(axis=1, keepdims=True)
    tri = basis / np.where(peak > 0, peak, 1.0)                  # each band's triangle, peak 1
    cover = tri.sum(axis=0)                                      # (n_bins,)
    w = tri.T @ cam.astype(np.float64)                           # (n_bins, n_frames)
    return np.where(cover[:, None] > 0, w / np.where(cover > 0, cover, 1.0)[:, None], 0.0).astype(np.float32)


def explained_audio(y: np.ndarray, sr: int, cam: np.ndarray, params) -> np.ndarray:
    """The sound kept where a map is high: the STFT magnitude weighted by the map, the clip's phase.

    Parameters
    ----------
    y : np.ndarray, float, shape (n_samples,)
        The clip, mono, at `sr` (as :attr:`Explanation.y`).
    sr : int
        Sample rate in Hz.
    cam : np.ndarray, shape (n_rows, n_frames), values in [0, 1]
        A map on the clip's spectrogram grid (row 0 lowest).
    params : SpectrogramParams
        The run's parameters (``n_fft``, ``hop_length``, mel bands).

    Returns
    -------
    np.ndarray, float32, shape (n_samples,)
        Same length and rate as `y`, clipped to [-1, 1].

    Raises
    ------
    ParameterError
        `cam` does not have the frames of `y`'s STFT at `params`.

    Notes
    -----
    The STFT is the spectrogram's own (``librosa.stft``: centred frames, periodic Hann window of
    ``n_fft`` samples, hop ``hop_length``; a clip shorter than ``n_fft`` is zero-padded to it
    first, as the spectrogram pads it). A log-mel map goes back to STFT bins through the mel
    filters: each bin gets the mean of the bands whose triangle covers it, weighted by the
    triangle's height (peak 1), so a bin between two band centres is a linear interpolation of
    their values; bins below ``fmin`` or above ``fmax``, which no band covers and the model never
    saw, get 0. Each complex STFT value is multiplied by its weight (magnitude scaled, phase kept)
    and ``librosa.istft`` inverts it (weighted overlap-add); ``length`` restores the exact length.
    """
    import librosa

    y = np.asarray(y, dtype=np.float32)
    r = params.resolve(int(sr))
    n_fft, hop = r["n_fft"], r["hop_length"]
    work = np.pad(y, (0, max(0, n_fft - len(y))))
    D = librosa.stft(work, n_fft=n_fft, hop_length=hop, window="hann", center=True, pad_mode="constant")
    cam = np.asarray(cam, dtype=np.float32)
    if cam.ndim != 2 or cam.shape[1] != D.shape[1]:
        raise ParameterError(f"the map has shape {cam.shape}, but the clip's STFT has {D.shape[1]} frames at "
                             f"n_fft={n_fft}, hop_length={hop}")
    w = _bin_weights(cam, params, sr)
    out = librosa.istft(D * w, hop_length=hop, n_fft=n_fft, window="hann", center=True, length=len(work))
    return np.clip(out[:len(y)], -1.0, 1.0).astype(np.float32)
