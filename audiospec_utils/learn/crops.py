"""Where crops and windows fall in a spectrogram image: the time geometry of training and prediction, in frames.

Images keep one column per STFT frame, so time is counted in frames: ``sr / hop_length`` per second
(:func:`frames_per_second`). Training draws crops of a fixed number of frames at random starts
(:func:`random_crop_starts`); validation and prediction cut each image into windows of the same
length overlapping by half (:func:`window_starts`, :func:`window_layout`) and average their
probabilities. A clip shorter than the crop is repeated to fill it (the gather is
:meth:`audiospec_utils.features.image_cache.SpectrogramCache.crops`). The crop length comes from the clips'
durations (:func:`default_crop_seconds`, :func:`crop_geometry`).

Plain NumPy and pandas: no model, no data loading.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd

from ..exceptions import ParameterError

__all__ = ["middle_windows", "window_starts", "window_layout", "random_crop_starts", "frames_per_second", "default_crop_seconds",
           "crop_geometry", "CropGeometry", "crop_coverage", "WHOLE_CLIP_MAX_SECONDS", "EVENT_COVERAGE"]

#: Longest crop (s) taken when the clips hold intermittent events: the whole clip, up to this.
WHOLE_CLIP_MAX_SECONDS = 4.0
#: Below this median :func:`crop_coverage` the clips are taken for intermittent events (a bark, a
#: shot in seconds of background), whose short crops would often hold only the background.
EVENT_COVERAGE = 0.55


def window_starts(width: int, length: int, overlap: float = 0.5) -> np.ndarray:
    """First frames of the windows that cover an image of `width` frames.

    Parameters
    ----------
    width : int
        Frames of the image (clip).
    length : int
        Frames per window.
    overlap : float in [0, 1)
        Fraction of a window shared with the next one (0.5: hop of half a window).

    Returns
    -------
    np.ndarray, int64
        ``[0]`` when the image is no longer than a window (it is repeated to fill it); otherwise
        starts every ``round(length * (1 - overlap))`` frames, the last window ending exactly at the
        image's end.

    Raises
    ------
    ParameterError
        `length` < 1 or `overlap` outside [0, 1).
    """
    if length < 1:
        raise ParameterError(f"length must be at least 1 frame, got {length}")
    if not 0 <= overlap < 1:
        raise ParameterError(f"overlap must be in [0, 1), got {overlap}")
    if width <= length:
        return np.zeros(1, dtype=np.int64)
    hop = max(1, int(round(length * (1 - overlap))))
    starts = list(range(0, width - length + 1, hop))
    if starts[-1] != width - length:
        starts.append(width - length)
    return np.asarray(starts, dtype=np.int64)


def window_layout(widths, length: int, overlap: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """Every window of several images, in order: each window's start and the image it belongs to.

    Parameters
    ----------
    widths : array-like of int, shape (n_images,)
        Frames of each image.
    length : int
        Frames per window.
    overlap : float in [0, 1)
        See :func:`window_starts`.

    Returns
    -------
    starts : np.ndarray, int64, shape (n_windows,)
        First frame of each window.
    image_of_window : np.ndarray, int64, shape (n_windows,)
        The position (0 to ``n_images - 1``) of each window's image; windows of one image are
        consecutive.
    """
    per_image = [window_starts(int(w), length, overlap) for w in widths]
    image_of_window = np.repeat(np.arange(len(per_image)), [len(s) for s in per_image]).astype(np.int64)
    starts = np.concatenate(per_image) if per_image else np.zeros(0, np.int64)
    return starts, image_of_window


def middle_windows(starts, image_of_window, widths, length: int) -> np.ndarray:
    """The window of each image nearest its middle: one per image, for a cheap score during training.

    Parameters
    ----------
    starts, image_of_window : np.ndarray, int64, shape (n_windows,)
        From :func:`window_layout`.
    widths : array-like of int, shape (n_images,)
        Frames of each image.
    length : int
        Frames per window.

    Returns
    -------
    np.ndarray, int64, shape (n_images,)
        Positions (into `starts`) of the chosen windows, image by image.
    """
    starts, of = np.asarray(starts, np.int64), np.asarray(image_of_window, np.int64)
    centre = (np.asarray(widths, np.float64)[of] - length) / 2.0
    order = np.lexsort((np.abs(starts - centre), of))  # by image, then by distance to its middle
    first = np.r_[True, of[order][1:] != of[order][:-1]]
    return order[first]


def random_crop_starts(widths, length: int, rng: np.random.Generator) -> np.ndarray:
    """Random first frames of training crops: anywhere inside a long image, any rotation of a short one.

    Parameters
    ----------
    widths : np.ndarray of int, shape (n,)
        Frames of each crop's image.
    length : int
        Frames per crop.
    rng : numpy.random.Generator
        Draws one number per crop.

    Returns
    -------
    np.ndarray, int64, shape (n,)
        ``0 <= start <= width - length`` for an image at least `length` long (the crop is a slice
        of it); ``0 <= start < width`` for a shorter one (repeated to fill the crop, from `start`).
    """
    widths = np.asarray(widths)
    span = np.where(widths >= length, widths - length + 1, widths)
    return np.minimum((rng.random(len(widths)) * span).astype(np.int64), span - 1)


def frames_per_second(params, sr) -> float:
    """STFT frames per second of audio at `sr` Hz rendered with `params` (``sr / hop_length``).

    Parameters
    ----------
    params : audiospec_utils.features.SpectrogramParams
    sr : int or float
        Sample rate, Hz.

    Returns
    -------
    float
    """
    return float(sr) / params.resolve(int(sr))["hop_length"]


def crop_coverage(frame_power, length: int) -> float:
    """How much of a clip's loudest stretch a crop at a random place holds: 1 for a steady sound.

    Parameters
    ----------
    frame_power : array-like of float, shape (n_frames,)
        Power of each frame (linear, any unit: only ratios count).
    length : int
        Frames per crop.

    Returns
    -------
    float in (0, 1]
        The mean, over every start of a crop of `length` frames, of the crop's energy divided by the
        energy of the loudest crop. About 1 for a steady sound (an engine, a held note); near
        ``(event + crop) / clip`` for one short event in a quiet background (0.4 for an event of
        0.5 s in 4 s, 1 s crops). 1 when the clip is no longer than a crop.
    """
    p = np.asarray(frame_power, dtype=np.float64)
    if len(p) <= length:
        return 1.0
    energy = np.convolve(p, np.ones(int(length)), mode="valid")
    best = float(energy.max())
    return float(energy.mean() / best) if best > 0 else 1.0


def default_crop_seconds(durations, max_seconds: float = 4.0, coverage: float | None = None) -> float:
    """The crop length used when none is given: the median clip duration within 1 s and `max_seconds`,
    or the whole clip when the clips hold intermittent events.

    Parameters
    ----------
    durations : array-like of float
        Durations (s) of the training clips.
    max_seconds : float >= 1
        Upper bound (s) for steady sounds. The ``quick`` recipe uses 1 s: a crop's cost grows with
        its length, and on a CPU the epochs a shorter crop saves bought more accuracy than a longer
        crop on tonal sounds (:mod:`audiospec_utils.learn.config`).
    coverage : float or None
        The median :func:`crop_coverage` of the training clips for crops of the length chosen from
        the durations (None: unknown, the durations decide alone). Below :data:`EVENT_COVERAGE` the
        crop is the clips' median duration, up to :data:`WHOLE_CLIP_MAX_SECONDS`: a short crop of
        a bark in 4 s of street noise often holds only the noise (issue 29: on 4 s scenes of one
        real onset in noise, ``bench/make_event_scenes.py``, folds 1 and 3 held out x 3 seeds,
        whole-clip crops averaged 4 frames to 1 scored 0.466 where 1 s crops scored 0.360).

    Returns
    -------
    float
        Seconds, rounded to 0.1 s. Half the median is too short to hear a whole event of a typical
        clip; longer crops than 4 s cost time for little more context. The 1 s floor stops at the
        length of the clips themselves: when 95 % of the clips are shorter than 1 s (spoken digits,
        clicks), the crop is their 95th percentile rounded up to 0.1 s, since a longer one would
        add only padding (a fifth of the pixels for clips of 0.8 s) that costs time and carries
        nothing.

    Raises
    ------
    ParameterError
        `max_seconds` below 1.
    """
    if not max_seconds >= 1.0:
        raise ParameterError(f"max_seconds must be at least 1 s, got {max_seconds!r}")
    d = np.asarray([x for x in durations if np.isfinite(x) and x > 0], dtype=np.float64)
    if not len(d):
        return float(min(float(max_seconds), 2.0))
    med = float(np.median(d))
    floor = min(1.0, np.ceil(round(float(np.percentile(d, 95)) * 10, 6)) / 10)
    chosen = float(min(float(max_seconds), max(floor, round(med, 1))))
    if coverage is not None and coverage < EVENT_COVERAGE:
        chosen = max(chosen, float(min(WHOLE_CLIP_MAX_SECONDS, round(med, 1))))
    return chosen


class CropGeometry(NamedTuple):
    """The crop of a training (:func:`crop_geometry`)."""

    #: Frames (pixels) per crop, at least 8.
    length: int
    #: The crop in seconds (NaN for a render of fixed width).
    crop_seconds: float
    #: Spectrogram frames per second of the training images (NaN for a render of fixed width).
    frames_per_second: float
    #: Frames averaged into one column by the network's first layer (1: none).
    time_pool: int
    #: The crop was chosen here as the whole clip of intermittent events (longer than the recipe's cap).
    whole_clip: bool = False


def crop_geometry(params, train_table: pd.DataFrame, crop_seconds: float | None,
                  max_crop_seconds: float, frame_power=None, time_pool: int | None = None) -> CropGeometry:
    """The crop of a training: its length in frames and seconds, the frame rate, the time pooling.

    Parameters
    ----------
    params : audiospec_utils.features.SpectrogramParams
        The render folder's parameters.
    train_table : pandas.DataFrame
        The training images (``sr``, ``duration``, ``clip_id`` columns of the manifest).
    crop_seconds : float or None
        The crop asked for; None: :func:`default_crop_seconds` of the training clips' durations,
        at most `max_crop_seconds` for steady sounds, the whole clip (up to
        :data:`WHOLE_CLIP_MAX_SECONDS`) for intermittent events.
    max_crop_seconds : float
        Upper bound of the default for steady sounds.
    frame_power : callable or None
        ``frame_power(i)``: the power of each frame (linear, shape ``(n_frames,)``) of the `i`-th
        row of `train_table`, to tell intermittent events from steady sounds
        (:func:`crop_coverage`, measured on at most 400 clips); None: the durations decide alone.
    time_pool : int or None
        Frames averaged into one column inside the network; None: 1, except for a crop chosen here
        longer than `max_crop_seconds` (whole clips of events), ``ceil(crop / max_crop_seconds)``,
        so that such a crop costs about what a `max_crop_seconds` one does.

    Returns
    -------
    CropGeometry
        ``length`` (frames per crop, at least 8: the crop's seconds times the median frame rate of
        the training images, 22,050 Hz when no rate is known; a render with a fixed ``width`` has
        no time scale, the crop is then the whole image and the two floats are NaN),
        ``crop_seconds``, ``frames_per_second``, ``time_pool``, and ``whole_clip``: True when the
        crop was chosen here longer than `max_crop_seconds` (the whole clip of intermittent events).

    Raises
    ------
    ParameterError
        `time_pool` below 1.
    """
    if time_pool is not None and int(time_pool) < 1:
        raise ParameterError(f"time_pool must be an integer >= 1, got {time_pool!r}")
    if params.width is not None:
        return CropGeometry(int(params.width), float("nan"), float("nan"), int(time_pool or 1))
    srs = pd.to_numeric(train_table["sr"], errors="coerce").dropna()
    fps = float(np.median([frames_per_second(params, sr) for sr in srs.unique()])) if len(srs) else \
        frames_per_second(params, 22050)
    automatic = crop_seconds is None
    if automatic:
        durations = pd.to_numeric(train_table.drop_duplicates("clip_id")["duration"], errors="coerce")
        crop_seconds = default_crop_seconds(durations, max_crop_seconds)
        if frame_power is not None and len(train_table):
            length = max(8, int(round(crop_seconds * fps)))
            picked = np.random.default_rng(0).permutation(len(train_table))[:400]
            coverage = float(np.median([crop_coverage(frame_power(int(i)), length) for i in picked]))
            crop_seconds = default_crop_seconds(durations, max_crop_seconds, coverage)
    whole_clip = automatic and crop_seconds > max_crop_seconds
    if time_pool is None:  # a whole-clip crop of events, at the cost of a max_crop_seconds one
        time_pool = max(1, int(np.ceil(crop_seconds / max_crop_seconds - 1e-6))) if whole_clip else 1
    return CropGeometry(max(8, int(round(crop_seconds * fps))), float(crop_seconds), fps, int(time_pool),
                        bool(whole_clip))
