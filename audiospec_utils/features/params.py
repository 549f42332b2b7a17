"""Spectrogram parameters, and the two policies they state: one sample rate, and each clip's length.

:class:`SpectrogramParams` holds everything that decides how a clip becomes an image (what
``params.json`` of a render folder stores); :meth:`SpectrogramParams.resolve` fills in the STFT and
mel settings for a sample rate. Two policies go with them:

* **the sample rate** (:func:`with_fixed_rate`, :func:`warn_rate_dependent`): ``sr="auto"``
  becomes one rate chosen from the data, so that a pixel row means the same frequency band for
  every file; ``sr=None`` (each file at its own rate) is warned about once per folder;
* **the clip length** (:func:`fit_length`, :func:`clip_segments`): how a clip of any length
  becomes the segment(s) that are each made into one image (``clip_policy``, ``duration``).

This is the lowest module of the images layer: :mod:`audiospec_utils.stft`,
:mod:`audiospec_utils.features.kinds`, :mod:`audiospec_utils.features.images` and
:mod:`audiospec_utils.features.images` take their parameters from here, and
:mod:`audiospec_utils.features` re-exports every public name.
"""

from __future__ import annotations

import dataclasses
import json
import math
import warnings
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ..audio.decode import most_common_rate
from ..exceptions import ParameterError

__all__ = [
    "SpectrogramParams",
    "AUTO_RATE",
    "CLIP_POLICIES",
    "KINDS",
    "STACK_CHANNELS",
    "default_n_fft",
    "fit_length",
    "clip_segments",
    "segment_starts",
    "with_fixed_rate",
    "warn_rate_dependent",
    "RateDependentWarning",
]

#: ``SpectrogramParams.sr`` value that lets the data choose the rate (:func:`with_fixed_rate`).
AUTO_RATE = "auto"

#: Clip-length policies: how a clip of any length becomes image(s).
CLIP_POLICIES = ("full", "pad", "loop", "windows")

#: A remainder of a long file shorter than this fraction of ``segment_seconds`` is joined to the segment
#: before it rather than made into an image of its own (:func:`segment_starts`).
SHORTEST_REMAINDER = 0.25

#: Spectrogram kinds (``SpectrogramParams.kind``).
KINDS = ("stft", "logmel", "mfcc", "chroma", "stack")

#: What each RGB channel of ``kind="stack"`` can hold.
STACK_CHANNELS = ("logmel", "delta", "delta2", "stft", "mfcc", "chroma")


def default_n_fft(sr: int) -> int:
    """FFT size giving a window of about 46 ms at sample rate `sr`.

    46 ms is librosa's default window at 22,050 Hz (2,048 samples at 44,100 Hz), a common choice
    for general sounds. The result is the nearest power of two: 2,048 at 44.1 and 48 kHz, 1,024 at
    22.05/16 kHz, 512 at 8 kHz.

    Parameters
    ----------
    sr : int
        Sample rate in Hz.

    Returns
    -------
    int
        n_fft in samples.
    """
    return int(2 ** round(math.log2(0.046 * sr)))


def _is_pos_int(value) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, np.integer)) and value > 0


@dataclass(frozen=True)
class SpectrogramParams:
    """Everything that decides how a clip becomes an image.

    Parameters
    ----------
    sr : int or "auto" or None
        Sample rate in Hz that every clip is resampled to (soxr), so that a pixel row means the
        same frequency band whatever the rate of the file. ``"auto"`` (default): chosen from the
        data when a dataset is rendered (the most common rate of its files, see
        :func:`with_fixed_rate`) and recorded in ``params.json``; a single clip rendered with
        ``"auto"`` keeps its own rate. ``None``: no resampling at all, each file keeps its own rate
        and its own frequency axis (how render folders made before the rate was fixed read; a
        model trained so gives other answers for the same sound recorded at another rate).
    n_fft : int or None
        FFT window size in samples; ``None`` picks about 46 ms for the clip's rate
        (:func:`default_n_fft`: 2,048 at 44.1 kHz).
    hop_length : int or None
        Samples between frames; ``None`` = ``n_fft // 4`` (512 at 44.1 kHz, 11.6 ms).
    n_mels : int
        Number of mel bands = image height in pixels of ``"logmel"`` and ``"stack"``. Default 128.
    fmin, fmax : float
        Lowest and highest frequency of the mel filters in Hz; ``fmax=None`` is the Nyquist
        frequency ``sr / 2``. ``"stft"`` keeps the bins from 0 Hz to ``fmax``.
    top_db : float
        Dynamic range kept, in dB below the clip's maximum (default 80 dB); quieter bins are black.
    clip_policy : {"full", "pad", "loop", "windows"}
        ``"full"``: the whole clip, image width proportional to duration (clips shorter than one
        window are zero-padded to ``n_fft``). ``"pad"``: zero-pad or crop (from the start) to
        `duration` seconds. ``"loop"``: repeat short clips, crop long ones to `duration`.
        ``"windows"``: cut into `duration`-second windows (the last one zero-padded), one image
        each, all with the clip's label.
    duration : float or None
        Seconds, for the policies other than ``"full"``.
    cmap : str or None
        ``None`` (default): one grey channel. Otherwise the name of a matplotlib colour map
        (``"magma"``, ``"viridis"``...) for an RGB image. Not with ``kind="stack"``.
    kind : {"logmel", "stft", "mfcc", "chroma", "stack"}
        What the image shows (see the module docstring). Default ``"logmel"``.
    n_mfcc : int
        Number of MFCCs for ``"mfcc"`` (image height), at most ``n_mels``. Default 20.
    channels : tuple of 3 str
        For ``kind="stack"``: the kinds in the red, green and blue channels, each one of
        :data:`STACK_CHANNELS`. Default ``("logmel", "delta", "delta2")``.
    width : int or None
        ``None`` (default): one pixel column per frame, so the width is proportional to the
        duration. An int: every image is resized to this many pixels along time (bilinear).
    segment_seconds : float or None
        The longest stretch of audio that shares one dB reference, in seconds (``clip_policy="full"``
        only). A file longer than this is cut into consecutive segments of this length (the last one
        holds what is left; a remainder shorter than a quarter of the length is joined to the
        segment before it), each made into its own image with **its own** loudest bin as 0 dB
        (:func:`segment_starts`), so that every part of a
        long recording becomes the image it would be as a clip of that length, instead of being
        darkened by the loudest moment elsewhere in the file. ``None`` (default): one image per file.
        Training sets it, in the run's ``params.json``, to the longest clip of the render folder, so
        that no clip the model was trained or evaluated on changes and a longer recording is read
        as parts of training length (:func:`audiospec_utils.learn.train.train_classifier`).

    Raises
    ------
    ParameterError
        On construction, naming the parameter, its value and the allowed range (see
        :meth:`validate`).

    Notes
    -----
    A ``params.json`` written before ``kind``, ``n_mfcc``, ``channels`` and ``width`` existed
    lacks those keys; they take the defaults above, which render exactly what was rendered then.
    """

    sr: int | str | None = "auto"
    n_fft: int | None = None
    hop_length: int | None = None
    n_mels: int = 128
    fmin: float = 20.0
    fmax: float | None = None
    top_db: float = 80.0
    clip_policy: str = "full"
    duration: float | None = None
    cmap: str | None = None
    kind: str = "logmel"
    n_mfcc: int = 20
    channels: tuple = ("logmel", "delta", "delta2")
    width: int | None = None
    segment_seconds: float | None = None

    def __post_init__(self):
        if isinstance(self.channels, list):  # from JSON
            object.__setattr__(self, "channels", tuple(self.channels))
        self.validate()

    def validate(self) -> None:
        """Check every parameter, before any work starts.

        Raises
        ------
        ParameterError
            Naming the parameter, its value and the allowed range.
        """
        def pos_int(name, value, allow_none=True):
            if value is None and allow_none:
                return
            if not _is_pos_int(value):
                raise ParameterError(f"{name} must be a positive integer, got {value!r}")

        if self.sr != AUTO_RATE:
            pos_int("sr", self.sr)
        pos_int("n_fft", self.n_fft)
        pos_int("hop_length", self.hop_length)
        pos_int("n_mels", self.n_mels, allow_none=False)
        pos_int("n_mfcc", self.n_mfcc, allow_none=False)
        pos_int("width", self.width)
        if self.n_fft is not None and self.n_fft < 16:
            raise ParameterError(f"n_fft must be at least 16 samples, got {self.n_fft}")
        if not (isinstance(self.fmin, (int, float)) and math.isfinite(self.fmin) and self.fmin >= 0):
            raise ParameterError(f"fmin must be a frequency >= 0 Hz, got {self.fmin!r}")
        if self.fmax is not None:
            if not (isinstance(self.fmax, (int, float)) and math.isfinite(self.fmax) and self.fmax > self.fmin):
                raise ParameterError(f"fmax must be a frequency above fmin ({self.fmin} Hz), got {self.fmax!r}")
        if not (isinstance(self.top_db, (int, float)) and math.isfinite(self.top_db) and self.top_db > 0):
            raise ParameterError(f"top_db must be a positive number of dB, got {self.top_db!r}")
        if self.clip_policy not in CLIP_POLICIES:
            raise ParameterError(f"clip_policy must be one of {', '.join(CLIP_POLICIES)}, got {self.clip_policy!r}")
        if self.clip_policy != "full":
            if self.duration is None or not math.isfinite(self.duration) or self.duration <= 0:
                raise ParameterError(
                    f"duration must be a positive number of seconds with clip_policy={self.clip_policy!r}, "
                    f"got {self.duration!r}")
        elif self.duration is not None and (not math.isfinite(self.duration) or self.duration <= 0):
            raise ParameterError(f"duration must be a positive number of seconds, got {self.duration!r}")
        if self.segment_seconds is not None:
            if (isinstance(self.segment_seconds, bool) or not isinstance(self.segment_seconds, (int, float))
                    or not math.isfinite(self.segment_seconds) or self.segment_seconds <= 0):
                raise ParameterError(
                    f"segment_seconds must be a positive number of seconds or None, got {self.segment_seconds!r}")
            if self.clip_policy != "full":
                raise ParameterError(f"segment_seconds is for clip_policy='full' (clip_policy={self.clip_policy!r} "
                                     f"already cuts clips to duration={self.duration!r} s)")
        if self.kind not in KINDS:
            raise ParameterError(f"kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        if (not isinstance(self.channels, tuple) or len(self.channels) != 3
                or any(c not in STACK_CHANNELS for c in self.channels)):
            raise ParameterError(f"channels must be 3 of {', '.join(STACK_CHANNELS)} (red, green, blue), "
                                 f"got {self.channels!r}")
        uses_mfcc = self.kind == "mfcc" or (self.kind == "stack" and "mfcc" in self.channels)
        if uses_mfcc and self.n_mfcc > self.n_mels:
            raise ParameterError(f"n_mfcc={self.n_mfcc} must not exceed n_mels={self.n_mels} "
                                 f"(the MFCCs are the DCT of the n_mels log-mel bands)")
        if self.cmap is not None:
            if self.kind == "stack":
                raise ParameterError(f"cmap must be None with kind='stack' (its three channels are the RGB "
                                     f"colours already), got {self.cmap!r}")
            import matplotlib

            if self.cmap not in matplotlib.colormaps:
                raise ParameterError(f"cmap must be a matplotlib colour map name or None, got {self.cmap!r}")
        if self.target_sr is not None:
            self.resolve(self.target_sr)

    @property
    def target_sr(self) -> int | None:
        """The rate in Hz clips are resampled to: ``sr``, or ``None`` (each file's own) for ``"auto"``/``None``."""
        return None if self.sr in (None, AUTO_RATE) else int(self.sr)

    @property
    def rate_dependent(self) -> bool:
        """True for ``sr=None``: images of files of different rates have different frequency axes."""
        return self.sr is None

    def resolve(self, sr: int) -> dict:
        """The concrete STFT/mel settings for audio at `sr` Hz.

        Parameters
        ----------
        sr : int
            Sample rate of the clip in Hz (after any resampling).

        Returns
        -------
        dict
            ``n_fft``, ``hop_length``, ``n_mels``, ``fmin``, ``fmax`` with every ``None`` filled.

        Raises
        ------
        ParameterError
            ``fmax`` above the Nyquist frequency ``sr / 2``, ``fmin`` not below it, or ``n_mels``
            larger than the ``n_fft // 2 + 1`` frequency bins of the FFT.
        """
        return dict(_resolve(self, int(sr)))

    def to_dict(self) -> dict:
        """The parameters as a JSON-serialisable dict (what ``params.json`` stores).

        ``segment_seconds`` is left out when it is ``None``, so that a render folder's
        ``params.json`` is what earlier versions wrote and read.
        """
        d = dataclasses.asdict(self)
        d["channels"] = list(self.channels)
        if d["segment_seconds"] is None:
            del d["segment_seconds"]
        return d

    @classmethod
    def defaults(cls) -> dict:
        """Every parameter's default value, as :meth:`to_dict` writes it."""
        return cls().to_dict()

    @classmethod
    def from_dict(cls, d: dict) -> "SpectrogramParams":
        """Inverse of :meth:`to_dict`; missing keys take their defaults.

        Raises
        ------
        ParameterError
            Unknown keys, or values out of range.
        """
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ParameterError(f"unknown spectrogram parameter(s): {', '.join(sorted(unknown))}")
        return cls(**d)

    def to_json(self) -> str:
        """:meth:`to_dict` as indented JSON with sorted keys."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)


@lru_cache(maxsize=256)
def _resolve(params: SpectrogramParams, sr: int) -> tuple:
    # cached per (params, sr): a render checks each clip's rate without re-validating everything
    n_fft = params.n_fft or default_n_fft(sr)
    hop = params.hop_length or max(1, n_fft // 4)
    nyquist = sr / 2
    fmax = nyquist if params.fmax is None else float(params.fmax)
    if fmax > nyquist:
        raise ParameterError(
            f"fmax={fmax:g} Hz is above the Nyquist frequency {nyquist:g} Hz of {sr} Hz audio; "
            f"use fmax <= {nyquist:g} or resample with sr")
    if params.fmin >= fmax:
        raise ParameterError(f"fmin={params.fmin:g} Hz must be below fmax={fmax:g} Hz for {sr} Hz audio")
    n_bins = n_fft // 2 + 1
    if params.n_mels > n_bins:
        raise ParameterError(
            f"n_mels={params.n_mels} is larger than the {n_bins} frequency bins of n_fft={n_fft}; "
            f"use n_mels <= {n_bins} or a larger n_fft")
    return tuple({"n_fft": n_fft, "hop_length": hop, "n_mels": params.n_mels, "fmin": float(params.fmin),
                  "fmax": fmax}.items())


# ----------------------------------------------------------------------------------------------
# The clip-length policy


def segment_starts(n_samples: int, sr: int, clip_policy: str, duration: float | None,
                   segment_seconds: float | None = None) -> np.ndarray:
    """Where each segment of a clip-length policy starts in the clip, in samples.

    Parameters
    ----------
    n_samples : int
        Length of the clip in samples (at `sr`).
    sr : int
        Sample rate in Hz.
    clip_policy : {"full", "pad", "loop", "windows"}
        See :class:`SpectrogramParams`.
    duration : float or None
        Seconds, for the policies other than ``"full"``.
    segment_seconds : float or None
        :attr:`SpectrogramParams.segment_seconds`: with ``"full"``, a clip longer than
        ``n = round(segment_seconds * sr)`` samples is cut into segments starting at ``0, n, 2n, ...``
        (each `n` samples long but the last, which holds what is left). A remainder shorter than
        ``n / 4`` is joined to the segment before it (:data:`SHORTEST_REMAINDER`): a clip a few
        samples longer than `n` (a resampled copy of a training clip) stays whole, and no image is
        made of a sliver.

    Returns
    -------
    np.ndarray, int64, shape (n_segments,)
        The first sample of each segment: ``[0]`` for one segment, ``i * round(duration * sr)`` for
        ``"windows"``.

    Raises
    ------
    ParameterError
        An unknown `clip_policy`.
    """
    if clip_policy not in CLIP_POLICIES:
        raise ParameterError(f"clip_policy must be one of {', '.join(CLIP_POLICIES)}, got {clip_policy!r}")
    n_samples = int(n_samples)
    if clip_policy == "full":
        if segment_seconds is None:
            return np.zeros(1, dtype=np.int64)
        n = max(1, int(round(float(segment_seconds) * sr)))
        if n_samples <= n:
            return np.zeros(1, dtype=np.int64)
        starts = np.arange(math.ceil(n_samples / n), dtype=np.int64) * n
        if len(starts) > 1 and n_samples - starts[-1] < SHORTEST_REMAINDER * n:
            starts = starts[:-1]
        return starts
    if clip_policy in ("pad", "loop"):
        return np.zeros(1, dtype=np.int64)
    n = max(1, int(round(duration * sr)))
    return np.arange(max(1, math.ceil(n_samples / n)), dtype=np.int64) * n


def clip_segments(y: np.ndarray, sr: int, clip_policy: str, duration: float | None,
                  segment_seconds: float | None = None) -> list[np.ndarray]:
    """Cut or pad a clip by a clip-length policy (:data:`CLIP_POLICIES`).

    Parameters
    ----------
    y : np.ndarray, shape (n_samples,)
    sr : int
        Sample rate in Hz.
    clip_policy : {"full", "pad", "loop", "windows"}
        See :class:`SpectrogramParams`.
    duration : float or None
        Seconds, for the policies other than ``"full"``.
    segment_seconds : float or None
        With ``"full"``: a clip longer than this many seconds becomes segments of exactly this
        length, starting where :func:`segment_starts` says (each gets its own dB reference when
        made into an image).

    Returns
    -------
    list of np.ndarray
        One segment (``"full"``, ``"pad"``, ``"loop"``), or one per window (``"windows"``, the
        last one zero-padded), or one per `segment_seconds` of a longer clip (``"full"``: each
        ``round(segment_seconds * sr)`` samples but the last, which holds what is left); every
        segment of ``"pad"``, ``"loop"`` and ``"windows"`` has exactly ``round(duration * sr)``
        samples (at least 1). Segments are views of `y` where no padding is needed.

    Raises
    ------
    ParameterError
        An unknown `clip_policy`.
    """
    if clip_policy == "full":
        starts = segment_starts(len(y), sr, clip_policy, duration, segment_seconds)
        if len(starts) == 1:
            return [y]
        ends = list(starts[1:]) + [len(y)]
        return [y[s:e] for s, e in zip(starts, ends)]
    if clip_policy not in CLIP_POLICIES:
        raise ParameterError(f"clip_policy must be one of {', '.join(CLIP_POLICIES)}, got {clip_policy!r}")
    n = max(1, int(round(duration * sr)))
    if clip_policy == "pad":
        return [y[:n] if len(y) >= n else np.pad(y, (0, n - len(y)))]
    if clip_policy == "loop":
        if len(y) == 0:
            return [np.zeros(n, dtype=y.dtype)]
        return [np.resize(y, n) if len(y) < n else y[:n]]
    # windows
    n_win = max(1, math.ceil(len(y) / n))
    padded = np.pad(y, (0, n_win * n - len(y)))
    return [padded[i * n:(i + 1) * n] for i in range(n_win)]


def fit_length(y: np.ndarray, sr: int, params: SpectrogramParams) -> list[np.ndarray]:
    """Apply the clip-length policy of `params` (:func:`clip_segments`).

    Parameters
    ----------
    y : np.ndarray, shape (n_samples,)
    sr : int
        Sample rate in Hz.
    params : SpectrogramParams
        ``clip_policy``, ``duration`` (s) and ``segment_seconds`` (s) are used.

    Returns
    -------
    list of np.ndarray
        One segment (``"full"``, ``"pad"``, ``"loop"``), or one per window (``"windows"``) or per
        ``segment_seconds`` of a longer clip (``"full"``); see :func:`clip_segments`. Segments are
        views of `y` where no padding is needed.
    """
    return clip_segments(y, sr, params.clip_policy, params.duration, params.segment_seconds)


# ----------------------------------------------------------------------------------------------
# One sample rate per dataset


class RateDependentWarning(UserWarning):
    """Images made at each file's own rate (``sr=None``): the frequency axis depends on the file."""


_WARNED_RATE: set = set()


def warn_rate_dependent(params: SpectrogramParams, where) -> bool:
    """Warn once per `where` that `params` keep each file's own sample rate.

    Parameters
    ----------
    params : SpectrogramParams
    where : str or os.PathLike
        The render folder or run the parameters belong to (named in the message).

    Returns
    -------
    bool
        True when `params` are rate dependent (``sr=None``), whether or not the warning was new.
    """
    if not params.rate_dependent:
        return False
    key = str(where)
    if key not in _WARNED_RATE:
        _WARNED_RATE.add(key)
        warnings.warn(
            f"{where}: rendered with sr=None, each file at its own sample rate, so a pixel row means another "
            f"frequency for files of other rates and predictions depend on each file's rate. Re-render at one "
            f"rate: audiospec render SOURCE --out NEW_FOLDER (the rate is chosen from the data, or --sr 44100), "
            f"then train on NEW_FOLDER.", RateDependentWarning, stacklevel=2)
    return True


def with_fixed_rate(params: SpectrogramParams, paths=(), *, sr: int | None = None) -> SpectrogramParams:
    """`params` with one concrete sample rate: ``"auto"`` becomes a rate chosen from the data.

    Parameters
    ----------
    params : SpectrogramParams
        ``sr="auto"`` is replaced; an int rate or ``None`` (each file's own rate) is kept.
    paths : iterable of str or os.PathLike
        The dataset's audio files; their most common rate is chosen
        (:func:`audiospec_utils.audio.decode.most_common_rate`, headers only).
    sr : int or None
        Use this rate instead of looking at `paths` (e.g. an existing render folder's).

    Returns
    -------
    SpectrogramParams
        With ``sr`` an int (or ``None`` when `params` had ``None``), and ``fmax`` the Nyquist
        frequency ``sr / 2`` in Hz where it was ``None``, so that ``params.json`` states the
        frequency axis in full.

    Raises
    ------
    ParameterError
        `fmax` above the Nyquist frequency of the chosen rate.

    Notes
    -----
    Why the most common rate: a dataset recorded at one rate (FSDKaggle2018: 44.1 kHz) is rendered
    exactly as before, with no resampling at all, and a mixed collection is resampled only for the
    files of the other rates; files below the chosen rate are marked ``band_limited`` (their top
    bands are empty). A standard rate (22,050 Hz, as ``librosa.load``'s default) would also fix
    the axis, but would halve the band of 44.1 kHz sets; ``--sr`` chooses one.
    """
    if params.sr == AUTO_RATE:
        rate = int(sr) if sr is not None else most_common_rate(paths)
        params = dataclasses.replace(params, sr=rate)
    if params.sr is not None and params.fmax is None:
        params = dataclasses.replace(params, fmax=params.sr / 2)
    return params
