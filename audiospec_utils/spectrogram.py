"""Log-mel spectrograms and the images the classifier sees.

The pipeline for one clip is: decode -> fit the clip-length policy -> STFT -> mel projection ->
dB -> 8-bit image. :func:`logmel` computes the array, :func:`spectrogram_to_image` maps dB to
pixels, :func:`render_clip` does a whole clip, and
:func:`audiospec_utils.render.render_spectrograms` does a whole dataset.

dB to pixels
------------
The spectrogram is converted to dB relative to its loudest bin (``10 * log10(S / S.max())``,
so the maximum is 0 dB) and clipped at ``-top_db``. Pixels are then
``round(255 * (S_db + top_db) / top_db)``: 0 dB -> 255 (white), ``-top_db`` and below -> 0
(black). Low frequencies are at the bottom row of the image, time runs left to right.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .exceptions import ParameterError

__all__ = [
    "SpectrogramParams",
    "default_n_fft",
    "logmel",
    "fit_length",
    "spectrogram_to_image",
    "render_clip",
    "CLIP_POLICIES",
]

#: Clip-length policies: how a clip of any length becomes image(s).
CLIP_POLICIES = ("full", "pad", "loop", "windows")

#: Power below which a spectrogram counts as silent (-100 dB re full scale).
SILENCE_POWER = 1e-10


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


@dataclass(frozen=True)
class SpectrogramParams:
    """Everything that decides how a clip becomes an image.

    Parameters
    ----------
    sr : int or None
        Sample rate in Hz to resample to; ``None`` (default) keeps each file's own rate.
    n_fft : int or None
        FFT window size in samples; ``None`` picks about 46 ms for the clip's rate
        (:func:`default_n_fft`: 2,048 at 44.1 kHz).
    hop_length : int or None
        Samples between frames; ``None`` = ``n_fft // 4`` (512 at 44.1 kHz, 11.6 ms).
    n_mels : int
        Number of mel bands = image height in pixels. Default 128.
    fmin, fmax : float
        Lowest and highest frequency of the mel filters in Hz; ``fmax=None`` is the Nyquist
        frequency ``sr / 2``.
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
        (``"magma"``, ``"viridis"``...) for an RGB image.
    """

    sr: int | None = None
    n_fft: int | None = None
    hop_length: int | None = None
    n_mels: int = 128
    fmin: float = 20.0
    fmax: float | None = None
    top_db: float = 80.0
    clip_policy: str = "full"
    duration: float | None = None
    cmap: str | None = None

    def __post_init__(self):
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
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
                raise ParameterError(f"{name} must be a positive integer, got {value!r}")

        pos_int("sr", self.sr)
        pos_int("n_fft", self.n_fft)
        pos_int("hop_length", self.hop_length)
        pos_int("n_mels", self.n_mels, allow_none=False)
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
        if self.cmap is not None:
            import matplotlib

            if self.cmap not in matplotlib.colormaps:
                raise ParameterError(f"cmap must be a matplotlib colour map name or None, got {self.cmap!r}")
        if self.sr is not None:
            self.resolve(self.sr)

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
        n_fft = self.n_fft or default_n_fft(sr)
        hop = self.hop_length or max(1, n_fft // 4)
        nyquist = sr / 2
        fmax = nyquist if self.fmax is None else float(self.fmax)
        if fmax > nyquist:
            raise ParameterError(
                f"fmax={fmax:g} Hz is above the Nyquist frequency {nyquist:g} Hz of {sr} Hz audio; "
                f"use fmax <= {nyquist:g} or resample with sr")
        if self.fmin >= fmax:
            raise ParameterError(f"fmin={self.fmin:g} Hz must be below fmax={fmax:g} Hz for {sr} Hz audio")
        n_bins = n_fft // 2 + 1
        if self.n_mels > n_bins:
            raise ParameterError(
                f"n_mels={self.n_mels} is larger than the {n_bins} frequency bins of n_fft={n_fft}; "
                f"use n_mels <= {n_bins} or a larger n_fft")
        return {"n_fft": n_fft, "hop_length": hop, "n_mels": self.n_mels, "fmin": float(self.fmin), "fmax": fmax}

    def to_dict(self) -> dict:
        """The parameters as a JSON-serialisable dict (what ``params.json`` stores)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "SpectrogramParams":
        """Inverse of :meth:`to_dict`; unknown keys raise ParameterError."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ParameterError(f"unknown spectrogram parameter(s): {', '.join(sorted(unknown))}")
        return cls(**d)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)


@lru_cache(maxsize=32)
def _mel_basis(sr: int, n_fft: int, n_mels: int, fmin: float, fmax: float) -> np.ndarray:
    import librosa

    return librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax).astype(np.float32)


def logmel(y: np.ndarray, sr: int, params: SpectrogramParams | None = None) -> np.ndarray:
    """Log-mel spectrogram in dB relative to the clip's maximum.

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
    import librosa

    params = params or SpectrogramParams()
    r = params.resolve(sr)
    y = np.asarray(y, dtype=np.float32)
    if y.ndim != 1:
        raise ParameterError(f"y must be mono audio of shape (n_samples,), got shape {y.shape}")
    if len(y) < r["n_fft"]:
        y = np.pad(y, (0, r["n_fft"] - len(y)))
    stft = librosa.stft(y, n_fft=r["n_fft"], hop_length=r["hop_length"], center=True)
    power = stft.real ** 2 + stft.imag ** 2
    mel = _mel_basis(sr, r["n_fft"], r["n_mels"], r["fmin"], r["fmax"]) @ power
    peak = float(mel.max())
    if peak <= SILENCE_POWER:
        return np.full(mel.shape, -params.top_db, dtype=np.float32)
    s_db = 10.0 * np.log10(np.maximum(mel, peak * 1e-12) / peak)
    return np.maximum(s_db, -params.top_db).astype(np.float32)


def fit_length(y: np.ndarray, sr: int, params: SpectrogramParams) -> list[np.ndarray]:
    """Apply the clip-length policy.

    Parameters
    ----------
    y : np.ndarray, shape (n_samples,)
    sr : int
        Sample rate in Hz.
    params : SpectrogramParams
        ``clip_policy`` and ``duration`` are used.

    Returns
    -------
    list of np.ndarray
        One segment (``"full"``, ``"pad"``, ``"loop"``), or one per window (``"windows"``); every
        segment but ``"full"``'s has exactly ``round(duration * sr)`` samples.
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


@lru_cache(maxsize=8)
def _colour_lut(cmap: str) -> np.ndarray:
    import matplotlib

    return (matplotlib.colormaps[cmap](np.linspace(0, 1, 256))[:, :3] * 255).round().astype(np.uint8)


def spectrogram_to_image(s_db: np.ndarray, top_db: float = 80.0, cmap: str | None = None) -> np.ndarray:
    """Map a dB spectrogram to 8-bit image pixels.

    Parameters
    ----------
    s_db : np.ndarray, shape (n_bins, n_frames)
        dB relative to the maximum (0 dB at most), as :func:`logmel` returns.
    top_db : float
        The dB range mapped onto 0..255: ``-top_db`` dB and below -> 0, 0 dB -> 255.
    cmap : str or None
        ``None``: grey, one channel. A matplotlib colour map name: RGB.

    Returns
    -------
    np.ndarray, dtype uint8
        Shape ``(n_bins, n_frames)`` (grey) or ``(n_bins, n_frames, 3)`` (RGB); row 0 is the
        highest frequency, so low frequencies are at the bottom as in a plot.
    """
    scaled = (np.asarray(s_db, dtype=np.float32) + top_db) * (255.0 / top_db)
    pixels = np.clip(np.rint(scaled), 0, 255).astype(np.uint8)[::-1]
    if cmap is not None:
        pixels = _colour_lut(cmap)[pixels]
    return np.ascontiguousarray(pixels)


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
        ``sr`` (Hz), ``duration`` (s), ``silent`` (bool), ``n_images`` and ``images`` (list of
        paths written, or of uint8 arrays when `image_paths` is None).

    Raises
    ------
    AudioLoadError
        The file cannot be read (see :func:`audiospec_utils.audio.load_audio`).
    ParameterError
        Parameters impossible at the file's sample rate.
    OSError
        Writing an image failed (e.g. disk full); no partial image is left under the final name.
    """
    from .audio import load_audio

    params = params or SpectrogramParams()
    y, sr = load_audio(path, sr=params.sr)
    params.resolve(sr)
    segments = fit_length(y, sr, params)
    silent = not np.any(y)
    images = []
    pixels_list = [spectrogram_to_image(logmel(seg, sr, params), params.top_db, params.cmap) for seg in segments]
    if image_paths is None:
        images = pixels_list
    else:
        for pixels, out in zip(pixels_list, image_paths(len(pixels_list))):
            write_png(pixels, out)
            images.append(str(out))
    return {"sr": sr, "duration": len(y) / sr, "silent": silent, "n_images": len(images), "images": images}


def write_png(pixels: np.ndarray, path) -> None:
    """Write uint8 pixels to a PNG atomically (temporary name in the same folder, then rename).

    Parameters
    ----------
    pixels : np.ndarray, uint8, shape (H, W) or (H, W, 3)
    path : str or os.PathLike

    Raises
    ------
    OSError
        The write failed (e.g. no space left); the temporary file is removed, nothing is left
        under `path`.
    """
    import os
    from pathlib import Path

    from PIL import Image

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        Image.fromarray(pixels).save(tmp, format="PNG", compress_level=1)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
