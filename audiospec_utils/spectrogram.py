"""Spectrograms of every kind the course compares, and the images the classifier sees.

The pipeline for one clip is: decode -> fit the clip-length policy -> STFT -> (mel projection,
MFCC, chroma...) -> 8-bit image. :func:`spectrogram` computes the array of the kind chosen by
``SpectrogramParams.kind``, :func:`spectrogram_image` maps it to pixels, :func:`render_clip` does
a whole clip, and :func:`audiospec_utils.render.render_spectrograms` does a whole dataset.

Kinds
-----
All kinds share one STFT: centred frames (``n_frames = 1 + n_samples // hop_length``, the signal
zero-padded by ``n_fft // 2`` on both sides, as ``librosa.stft(center=True)``), a periodic Hann
window, float32 throughout.

``"stft"`` (:func:`stft_db`)
    Linear-frequency power in dB, ``n_fft // 2 + 1`` bins from 0 Hz up to ``fmax`` (all bins to
    the Nyquist frequency by default); what ffmpeg's ``showspectrumpic`` and the TensorFlow
    "simple audio recognition" tutorial show. ``fmin`` is not used.
``"logmel"`` (:func:`logmel`, the default)
    Power pooled into ``n_mels`` mel bands between ``fmin`` and ``fmax`` (librosa's Slaney mel
    filters), in dB; equal to ``librosa.feature.melspectrogram`` followed by
    ``librosa.power_to_db(ref=np.max, top_db=top_db)``.
``"mfcc"`` (:func:`mfcc`)
    ``librosa.feature.mfcc`` (DCT-II, orthonormal) of the log-mel in dB: ``n_mfcc`` coefficients.
``"chroma"`` (:func:`chroma`)
    ``librosa.feature.chroma_stft`` of the power spectrogram with ``tuning=0`` (no tuning
    estimation): 12 pitch classes C, C#, ..., B, each frame scaled so its largest class is 1.
``"stack"`` (:func:`stack`)
    Three of ``"logmel"``, ``"delta"``, ``"delta2"`` (first and second time derivative of the
    log-mel, ``librosa.feature.delta``, width 9), ``"stft"``, ``"mfcc"``, ``"chroma"`` as the red,
    green and blue channels of one RGB image (``channels``; default the log-mel and its two
    deltas: K. J. Piczak, "Environmental sound classification with convolutional neural
    networks", MLSP 2015, fed a CNN the log-mel and its delta as channels). Each channel is
    mapped to pixels as its kind is (below), then resized to the common height ``n_mels``
    (bilinear).

How the arrays become pixels (per kind), the image size, and the PNG encoding are described in
:mod:`audiospec_utils.images`.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .exceptions import ParameterError
from .images import (STACK_CHANNELS, encode_png, spectrogram_image, spectrogram_to_image,  # noqa: F401
                     write_png)

__all__ = [
    "SpectrogramParams",
    "AUTO_RATE",
    "with_fixed_rate",
    "warn_rate_dependent",
    "RateDependentWarning",
    "default_n_fft",
    "stft_db",
    "logmel",
    "mfcc",
    "chroma",
    "stack",
    "spectrogram",
    "fit_length",
    "spectrogram_to_image",
    "spectrogram_image",
    "render_clip",
    "encode_png",
    "write_png",
    "CLIP_POLICIES",
    "KINDS",
    "STACK_CHANNELS",
]

#: ``SpectrogramParams.sr`` value that lets the data choose the rate (:func:`with_fixed_rate`).
AUTO_RATE = "auto"

#: Clip-length policies: how a clip of any length becomes image(s).
CLIP_POLICIES = ("full", "pad", "loop", "windows")

#: Spectrogram kinds (``SpectrogramParams.kind``).
KINDS = ("stft", "logmel", "mfcc", "chroma", "stack")


#: Power below which a spectrogram counts as silent (-100 dB re full scale).
SILENCE_POWER = 1e-10

#: Number of chroma bins (pitch classes).
N_CHROMA = 12


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
        """The parameters as a JSON-serialisable dict (what ``params.json`` stores)."""
        d = dataclasses.asdict(self)
        d["channels"] = list(self.channels)
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
# The shared STFT and the kinds


@lru_cache(maxsize=16)
def _window(n_fft: int) -> np.ndarray:
    import scipy.signal

    return scipy.signal.get_window("hann", n_fft, fftbins=True).astype(np.float32)


@lru_cache(maxsize=32)
def _mel_basis(sr: int, n_fft: int, n_mels: int, fmin: float, fmax: float) -> np.ndarray:
    import librosa

    return librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax).astype(np.float32)


@lru_cache(maxsize=32)
def _mel_basis_sparse(sr: int, n_fft: int, n_mels: int, fmin: float, fmax: float):
    """The mel basis as a sparse matrix (n_mels, n_fft // 2 + 1).

    Each mel filter is a triangle over a few FFT bins: about 2 non-zero weights per bin instead of
    n_mels, so a sparse product does some 60 times fewer multiply-adds than a dense one.
    """
    import scipy.sparse

    return scipy.sparse.csr_array(_mel_basis(sr, n_fft, n_mels, fmin, fmax))


@lru_cache(maxsize=32)
def _mel_basis_pairs_sparse(sr: int, n_fft: int, n_mels: int, fmin: float, fmax: float):
    """The sparse mel basis with each weight repeated for a bin's squared real and imaginary parts.

    Shape (n_mels, 2 * (n_fft // 2 + 1)): applied to the blocks of :func:`_squared_pair_blocks`,
    it gives the mel power without forming ``re**2 + im**2`` first (one pass less over the spectrum).
    """
    import scipy.sparse

    return scipy.sparse.csr_array(np.repeat(_mel_basis(sr, n_fft, n_mels, fmin, fmax), 2, axis=1))


@lru_cache(maxsize=16)
def _chroma_basis(sr: int, n_fft: int) -> np.ndarray:
    import librosa

    return librosa.filters.chroma(sr=sr, n_fft=n_fft, tuning=0.0, n_chroma=N_CHROMA).astype(np.float32)


def _mono(y) -> np.ndarray:
    y = np.asarray(y, dtype=np.float32)
    if y.ndim != 1:
        raise ParameterError(f"y must be mono audio of shape (n_samples,), got shape {y.shape}")
    return y


#: Frames per block of the STFT: a block's frames, spectrum and power stay in the CPU cache.
_BLOCK = 64


def _squared_pair_blocks(y: np.ndarray, n_fft: int, hop: int):
    """Yield ``(first_frame, sq)`` blocks of squared STFT parts, sq of shape (frames, 2 * (n_fft // 2 + 1)).

    ``sq[:, 2k]`` and ``sq[:, 2k + 1]`` are the squared real and imaginary parts of frequency bin
    ``k``, so their sum is the power. The frames are those of ``librosa.stft(y, n_fft=n_fft,
    hop_length=hop, center=True)`` (periodic Hann window, zero padding), computed with a batched
    real FFT in single precision, :data:`_BLOCK` frames at a time so that nothing large is
    materialised.
    """
    import scipy.fft
    from numpy.lib.stride_tricks import sliding_window_view

    if len(y) < n_fft:
        y = np.pad(y, (0, n_fft - len(y)))
    padded = np.pad(y, n_fft // 2)
    frames = sliding_window_view(padded, n_fft)[::hop]          # a view: no copy
    window = _window(n_fft)
    buf = np.empty((min(_BLOCK, len(frames)), n_fft), np.float32)
    for i in range(0, len(frames), _BLOCK):
        block = frames[i:i + _BLOCK]
        windowed = np.multiply(block, window, out=buf[:len(block)])
        pairs = scipy.fft.rfft(windowed, axis=-1, overwrite_x=True).view(np.float32)  # re, im, re, im...
        yield i, np.square(pairs, out=pairs)


def _power_blocks(y: np.ndarray, n_fft: int, hop: int):
    """Yield ``(first_frame, power)`` blocks, power of shape (frames, n_fft // 2 + 1): ``|STFT|**2``."""
    for i, sq in _squared_pair_blocks(y, n_fft, hop):
        yield i, sq[:, 0::2] + sq[:, 1::2]


def _n_frames(n_samples: int, n_fft: int, hop: int) -> int:
    return 1 + (max(n_samples, n_fft) + 2 * (n_fft // 2) - n_fft) // hop  # = len(sliding windows[::hop])


def _power(y: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """Power spectrogram, shape (n_frames, n_fft // 2 + 1), float32 (frames first)."""
    out = np.empty((_n_frames(len(y), n_fft, hop), n_fft // 2 + 1), np.float32)
    for i, block in _power_blocks(y, n_fft, hop):
        out[i:i + len(block)] = block
    return out


def _to_db(power: np.ndarray, top_db: float) -> np.ndarray:
    """dB relative to the maximum, clipped at -top_db; all -top_db when silent."""
    peak = float(power.max()) if power.size else 0.0
    if peak <= SILENCE_POWER:
        return np.full(power.shape, -top_db, dtype=np.float32)
    s_db = np.maximum(power, np.float32(peak * 1e-12))
    np.log10(s_db, out=s_db)
    s_db *= np.float32(10.0)
    s_db -= np.float32(10.0 * math.log10(peak))
    return np.maximum(s_db, np.float32(-top_db), out=s_db)


class _Features:
    """The kinds of one signal, each computed once and shared (a stack needs several)."""

    def __init__(self, y, sr: int, params: SpectrogramParams):
        self.y = _mono(y)
        self.sr = int(sr)
        self.params = params
        self.r = dict(_resolve(params, self.sr))
        self._cache = {}

    def get(self, kind: str) -> np.ndarray:
        if kind not in self._cache:
            self._cache[kind] = getattr(self, "_" + kind)()
        return self._cache[kind]

    def _power(self):
        return _power(self.y, self.r["n_fft"], self.r["hop_length"])

    def _logmel_power(self):
        r = self.r
        if "power" in self._cache:
            basis = _mel_basis_sparse(self.sr, r["n_fft"], r["n_mels"], r["fmin"], r["fmax"])
            return basis @ np.ascontiguousarray(self._cache["power"].T)  # (n_mels, n_frames)
        pair_basis = _mel_basis_pairs_sparse(self.sr, r["n_fft"], r["n_mels"], r["fmin"], r["fmax"])
        out = np.empty((r["n_mels"], _n_frames(len(self.y), r["n_fft"], r["hop_length"])), np.float32)
        for i, sq in _squared_pair_blocks(self.y, r["n_fft"], r["hop_length"]):
            out[:, i:i + len(sq)] = pair_basis @ sq.T
        return out

    def _logmel(self):
        return np.ascontiguousarray(_to_db(self.get("logmel_power"), self.params.top_db))

    def _stft(self):
        n_keep = min(self.r["n_fft"] // 2 + 1, int(math.floor(self.r["fmax"] * self.r["n_fft"] / self.sr)) + 1)
        return np.ascontiguousarray(_to_db(self.get("power")[:, :n_keep], self.params.top_db).T)

    def _mfcc(self):
        import librosa

        return librosa.feature.mfcc(S=self.get("logmel"), n_mfcc=self.params.n_mfcc).astype(np.float32)

    def _chroma(self):
        import librosa

        raw = _chroma_basis(self.sr, self.r["n_fft"]) @ self.get("power").T
        return librosa.util.normalize(raw, norm=np.inf, axis=0).astype(np.float32)

    def _delta_of(self, order):
        import librosa

        s = self.get("logmel")
        if s.shape[1] >= 9:
            return librosa.feature.delta(s, order=order, width=9).astype(np.float32)
        return librosa.feature.delta(s, order=order, width=3, mode="nearest").astype(np.float32)

    def _delta(self):
        return self._delta_of(1)

    def _delta2(self):
        return self._delta_of(2)

    def _stack(self):
        return np.stack([_resize_rows(self.get(c), self.params.n_mels) for c in self.params.channels])


def _resize_rows(a: np.ndarray, height: int) -> np.ndarray:
    if a.shape[0] == height:
        return a
    from PIL import Image

    img = Image.fromarray(np.ascontiguousarray(a, dtype=np.float32), mode="F")
    return np.array(img.resize((a.shape[1], height), Image.Resampling.BILINEAR), dtype=np.float32)


def stft_db(y: np.ndarray, sr: int, params: SpectrogramParams | None = None) -> np.ndarray:
    """Linear-frequency STFT power in dB relative to the clip's maximum.

    What ffmpeg's ``showspectrumpic`` and the TensorFlow "simple audio recognition" tutorial
    (``tf.signal.stft``) show: every FFT bin, equally spaced in Hz.

    Parameters
    ----------
    y : np.ndarray, shape (n_samples,), float
        Mono audio.
    sr : int
        Sample rate of `y` in Hz.
    params : SpectrogramParams or None
        n_fft, hop_length, fmax (bins above it are cut), top_db; defaults when ``None``.

    Returns
    -------
    S_db : np.ndarray, shape (n_bins, n_frames), float32
        ``n_bins = n_fft // 2 + 1`` (to the Nyquist frequency), or the bins up to ``fmax``:
        bin ``k`` is ``k * sr / n_fft`` Hz. dB re the maximum (0 dB), clipped at ``-top_db``.
        ``n_frames = 1 + len(y) // hop_length``.

    Raises
    ------
    ParameterError
        Parameters impossible at this `sr`, or `y` not 1-D.
    """
    return _Features(y, sr, params or SpectrogramParams()).get("stft")


def logmel(y: np.ndarray, sr: int, params: SpectrogramParams | None = None) -> np.ndarray:
    """Log-mel spectrogram in dB relative to the clip's maximum.

    Equal (to float32 precision) to ``librosa.power_to_db(librosa.feature.melspectrogram(y=y,
    sr=sr, n_fft=n_fft, hop_length=hop_length, n_mels=n_mels, fmin=fmin, fmax=fmax), ref=np.max,
    top_db=top_db)``, computed faster (float32 FFT, mel filters applied only where non-zero).

    Parameters
    ----------
    y : np.ndarray, shape (n_samples,), float
        Mono audio.
    sr : int
        Sample rate of `y` in Hz.
    params : SpectrogramParams or None
        n_fft, hop_length, n_mels, fmin, fmax, top_db; defaults when ``None``.

    Returns
    -------
    S_db : np.ndarray, shape (n_mels, n_frames), float32
        Power in dB relative to the maximum bin (0 dB), clipped at ``-top_db``.
        ``n_frames = 1 + len(y) // hop_length`` (centred frames, as librosa). A silent clip gives
        all ``-top_db``. Clips shorter than ``n_fft`` are zero-padded to ``n_fft`` first.

    Raises
    ------
    ParameterError
        Parameters impossible at this `sr` (see :meth:`SpectrogramParams.resolve`), or `y` not 1-D.
    """
    return _Features(y, sr, params or SpectrogramParams()).get("logmel")


def mfcc(y: np.ndarray, sr: int, params: SpectrogramParams | None = None) -> np.ndarray:
    """Mel-frequency cepstral coefficients of the log-mel spectrogram.

    ``librosa.feature.mfcc(S=logmel(y, sr, params), n_mfcc=n_mfcc)``: the DCT-II (orthonormal)
    of each frame's log-mel in dB. Coefficient 0 is the frame's overall level, the next ones the
    coarse shape of its spectrum (Davis & Mermelstein, 1980).

    Parameters
    ----------
    y : np.ndarray, shape (n_samples,), float
        Mono audio.
    sr : int
        Sample rate of `y` in Hz.
    params : SpectrogramParams or None
        The log-mel settings and ``n_mfcc``.

    Returns
    -------
    np.ndarray, shape (n_mfcc, n_frames), float32
        Coefficients (dB-scaled, no fixed range).

    Raises
    ------
    ParameterError
        Parameters impossible at this `sr`, or `y` not 1-D.
    """
    return _Features(y, sr, params or SpectrogramParams()).get("mfcc")


def chroma(y: np.ndarray, sr: int, params: SpectrogramParams | None = None) -> np.ndarray:
    """Chromagram: the energy of the 12 pitch classes, from the STFT.

    ``librosa.feature.chroma_stft(S=power, sr=sr, n_fft=n_fft, tuning=0)``: the power spectrum
    folded onto the 12 semitones of the octave (A440 tuning, no tuning estimation), each frame
    scaled so that its largest pitch class is 1.

    Parameters
    ----------
    y : np.ndarray, shape (n_samples,), float
        Mono audio.
    sr : int
        Sample rate of `y` in Hz.
    params : SpectrogramParams or None
        n_fft and hop_length are used.

    Returns
    -------
    np.ndarray, shape (12, n_frames), float32
        Values in 0..1; row 0 is C, row 11 is B. A silent frame is all 0.

    Raises
    ------
    ParameterError
        Parameters impossible at this `sr`, or `y` not 1-D.
    """
    return _Features(y, sr, params or SpectrogramParams()).get("chroma")


def stack(y: np.ndarray, sr: int, params: SpectrogramParams | None = None) -> np.ndarray:
    """Three kinds, resized to a common height, for the three channels of an RGB image.

    Parameters
    ----------
    y : np.ndarray, shape (n_samples,), float
        Mono audio.
    sr : int
        Sample rate of `y` in Hz.
    params : SpectrogramParams or None
        ``channels`` (default ``("logmel", "delta", "delta2")``) and each kind's settings.
        ``"delta"``/``"delta2"`` are ``librosa.feature.delta`` (order 1/2, width 9 frames) of
        the log-mel in dB, in dB per frame.

    Returns
    -------
    np.ndarray, shape (3, n_mels, n_frames), float32
        Each channel in its own units (see the kinds); those of another height are resized to
        ``n_mels`` rows (bilinear).

    Raises
    ------
    ParameterError
        Parameters impossible at this `sr`, or `y` not 1-D.
    """
    return _Features(y, sr, params or SpectrogramParams()).get("stack")


def spectrogram(y: np.ndarray, sr: int, params: SpectrogramParams | None = None) -> np.ndarray:
    """The spectrogram of the kind ``params.kind`` (:func:`stft_db`, :func:`logmel`, ...).

    Parameters
    ----------
    y : np.ndarray, shape (n_samples,), float
        Mono audio.
    sr : int
        Sample rate of `y` in Hz.
    params : SpectrogramParams or None
        Defaults (log-mel) when ``None``.

    Returns
    -------
    np.ndarray, float32
        Shape ``(n_bins, n_frames)``, or ``(3, n_mels, n_frames)`` for ``"stack"``.

    Raises
    ------
    ParameterError
        Parameters impossible at this `sr`, or `y` not 1-D.
    """
    params = params or SpectrogramParams()
    return _Features(y, sr, params).get(params.kind)


def fit_length(y: np.ndarray, sr: int, params: SpectrogramParams) -> list[np.ndarray]:
    """Apply the clip-length policy.

    Parameters
    ----------
    y : np.ndarray, shape (n_samples,)
    sr : int
        Sample rate in Hz.
    params : SpectrogramParams
        ``clip_policy`` and ``duration`` (s) are used.

    Returns
    -------
    list of np.ndarray
        One segment (``"full"``, ``"pad"``, ``"loop"``), or one per window (``"windows"``); every
        segment but ``"full"``'s has exactly ``round(duration * sr)`` samples. Segments are views
        of `y` where no padding is needed.
    """
    if params.clip_policy == "full":
        return [y]
    n = max(1, int(round(params.duration * sr)))
    if params.clip_policy == "pad":
        return [y[:n] if len(y) >= n else np.pad(y, (0, n - len(y)))]
    if params.clip_policy == "loop":
        if len(y) == 0:
            return [np.zeros(n, dtype=y.dtype)]
        return [np.resize(y, n) if len(y) < n else y[:n]]
    # windows
    n_win = max(1, math.ceil(len(y) / n))
    padded = np.pad(y, (0, n_win * n - len(y)))
    return [padded[i * n:(i + 1) * n] for i in range(n_win)]


def render_clip(path, image_paths=None, params: SpectrogramParams | None = None) -> dict:
    """Render one audio file to spectrogram image(s).

    Parameters
    ----------
    path : str or os.PathLike
        Audio file.
    image_paths : callable or None
        ``image_paths(n)`` returns the ``n`` output paths for the ``n`` segments of the clip's
        length policy; ``None`` renders without writing (the images are returned).
    params : SpectrogramParams or None

    Returns
    -------
    dict
        ``sr`` (Hz, the rate the images were made at), ``source_sr`` (Hz, the file's own rate),
        ``band_limited`` (bool: the file's rate is below ``params.sr``, so the bands above its
        Nyquist frequency are empty), ``duration`` (s), ``silent`` (bool), ``n_images`` and
        ``images`` (list of paths written, or of uint8 arrays of shape ``(height, width[, 3])``
        when `image_paths` is None).

    Raises
    ------
    AudioLoadError
        The file cannot be read (see :func:`audiospec_utils.audio.load_audio`).
    ParameterError
        Parameters impossible at the file's sample rate.
    OSError
        Writing an image failed (e.g. disk full); no partial image is left under the final name.

    Notes
    -----
    The audio is resampled (soxr) when ``params.sr`` is a rate and differs from the file's. No
    figure is made; the per-clip path is decode, one float32 FFT, one matrix product, a lookup
    to uint8 and a fast PNG encode (:func:`encode_png`: Sub filter, zlib level 1, run-length
    strategy).
    """
    from .audio import load_audio

    params = params or SpectrogramParams()
    y, sr, source_sr = load_audio(path, sr=params.target_sr, with_source_rate=True)
    _resolve(params, sr)
    segments = fit_length(y, sr, params)
    silent = not np.any(y)
    pixels_list = [spectrogram_image(spectrogram(seg, sr, params), params) for seg in segments]
    if image_paths is None:
        images = pixels_list
    else:
        images = []
        for pixels, out in zip(pixels_list, image_paths(len(pixels_list))):
            write_png(pixels, out)
            images.append(str(out))
    return {"sr": sr, "source_sr": source_sr, "band_limited": bool(source_sr < sr), "duration": len(y) / sr,
            "silent": silent, "n_images": len(images), "images": images}


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
    import warnings

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
        (:func:`audiospec_utils.audio.most_common_rate`, headers only).
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
    import dataclasses

    from .audio import most_common_rate

    if params.sr == AUTO_RATE:
        rate = int(sr) if sr is not None else most_common_rate(paths)
        params = dataclasses.replace(params, sr=rate)
    if params.sr is not None and params.fmax is None:
        params = dataclasses.replace(params, fmax=params.sr / 2)
    return params
