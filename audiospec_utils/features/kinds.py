"""The spectrogram arrays of every kind, computed from one shared short-time Fourier transform.

:func:`spectrogram` computes the array of the kind ``SpectrogramParams.kind``; :func:`stft_db`,
:func:`logmel`, :func:`mfcc`, :func:`chroma` and :func:`stack` compute one kind each. The kinds
are described in :mod:`audiospec_utils.features` (the public face of this module); how they
become pixels, in :mod:`audiospec_utils.features.images`.

The STFT is computed here once per signal and shared by every kind that needs it (a stack needs
several): centred frames (:func:`frame_count`), a periodic Hann window (:func:`hann_window`), a
batched single-precision real FFT over blocks of frames (:func:`squared_pair_blocks`), and the
mel filters applied only where they are non-zero (:func:`mel_basis`, as a sparse matrix). The
building blocks are public for the modules that must compute the same thing another way: the
ONNX export (:mod:`audiospec_utils.infer.export_onnx`) and the maps turned back into sound
(:mod:`audiospec_utils.explain.maps`).
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from ..exceptions import ParameterError
from .params import SpectrogramParams

__all__ = ["image_frequencies", 
    "stft_db",
    "logmel",
    "mfcc",
    "chroma",
    "stack",
    "spectrogram",
    "band_frequencies",
    "hann_window",
    "mel_basis",
    "squared_pair_blocks",
    "frame_count",
    "stft_rows_kept",
    "resize_rows",
    "SILENCE_POWER",
    "N_CHROMA",
]


#: Power below which a spectrogram counts as silent (-100 dB re full scale).
SILENCE_POWER = 1e-10

#: Number of chroma bins (pitch classes).
N_CHROMA = 12


# ----------------------------------------------------------------------------------------------
# The shared STFT and the kinds


@lru_cache(maxsize=16)
def hann_window(n_fft: int) -> np.ndarray:
    """The periodic Hann window of the STFT (``scipy.signal.get_window("hann", n_fft, fftbins=True)``).

    Parameters
    ----------
    n_fft : int
        Window length in samples.

    Returns
    -------
    np.ndarray, float32, shape (n_fft,)
        Cached per `n_fft`: do not modify it.
    """
    import scipy.signal

    return scipy.signal.get_window("hann", n_fft, fftbins=True).astype(np.float32)


@lru_cache(maxsize=32)
def mel_basis(sr: int, n_fft: int, n_mels: int, fmin: float, fmax: float) -> np.ndarray:
    """librosa's Slaney mel filters (``librosa.filters.mel``), in single precision.

    Parameters
    ----------
    sr : int
        Sample rate in Hz.
    n_fft : int
        FFT size in samples.
    n_mels : int
        Number of mel bands.
    fmin, fmax : float
        Lowest and highest frequency of the filters in Hz.

    Returns
    -------
    np.ndarray, float32, shape (n_mels, n_fft // 2 + 1)
        Row ``m`` is the triangle of band ``m`` (lowest band first) over the FFT bins. Cached per
        arguments: do not modify it.
    """
    import librosa

    return librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax).astype(np.float32)


@lru_cache(maxsize=32)
def _mel_basis_sparse(sr: int, n_fft: int, n_mels: int, fmin: float, fmax: float):
    """The mel basis as a sparse matrix (n_mels, n_fft // 2 + 1).

    Each mel filter is a triangle over a few FFT bins: about 2 non-zero weights per bin instead of
    n_mels, so a sparse product does some 60 times fewer multiply-adds than a dense one.
    """
    import scipy.sparse

    return scipy.sparse.csr_array(mel_basis(sr, n_fft, n_mels, fmin, fmax))


@lru_cache(maxsize=32)
def _mel_basis_pairs_sparse(sr: int, n_fft: int, n_mels: int, fmin: float, fmax: float):
    """The sparse mel basis with each weight repeated for a bin's squared real and imaginary parts.

    Shape (n_mels, 2 * (n_fft // 2 + 1)): applied to the blocks of :func:`squared_pair_blocks`,
    it gives the mel power without forming ``re**2 + im**2`` first (one pass less over the spectrum).
    """
    import scipy.sparse

    return scipy.sparse.csr_array(np.repeat(mel_basis(sr, n_fft, n_mels, fmin, fmax), 2, axis=1))


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


def squared_pair_blocks(y: np.ndarray, n_fft: int, hop: int):
    """Yield ``(first_frame, sq)`` blocks of squared STFT parts, sq of shape (frames, 2 * (n_fft // 2 + 1)).

    ``sq[:, 2k]`` and ``sq[:, 2k + 1]`` are the squared real and imaginary parts of frequency bin
    ``k``, so their sum is the power. The frames are those of ``librosa.stft(y, n_fft=n_fft,
    hop_length=hop, center=True)`` (periodic Hann window, zero padding), computed with a batched
    real FFT in single precision, :data:`_BLOCK` frames at a time so that nothing large is
    materialised.

    Parameters
    ----------
    y : np.ndarray, float32, shape (n_samples,)
        Mono audio; zero-padded to `n_fft` first when shorter.
    n_fft : int
        FFT size in samples.
    hop : int
        Samples between frames.

    Yields
    ------
    first_frame : int
        Index of the block's first frame.
    sq : np.ndarray, float32, shape (n_block_frames, 2 * (n_fft // 2 + 1))
        A buffer reused by the next block: copy what must be kept.
    """
    import scipy.fft
    from numpy.lib.stride_tricks import sliding_window_view

    if len(y) < n_fft:
        y = np.pad(y, (0, n_fft - len(y)))
    padded = np.pad(y, n_fft // 2)
    frames = sliding_window_view(padded, n_fft)[::hop]          # a view: no copy
    window = hann_window(n_fft)
    buf = np.empty((min(_BLOCK, len(frames)), n_fft), np.float32)
    for i in range(0, len(frames), _BLOCK):
        block = frames[i:i + _BLOCK]
        windowed = np.multiply(block, window, out=buf[:len(block)])
        pairs = scipy.fft.rfft(windowed, axis=-1, overwrite_x=True).view(np.float32)  # re, im, re, im...
        yield i, np.square(pairs, out=pairs)


def _power_blocks(y: np.ndarray, n_fft: int, hop: int):
    """Yield ``(first_frame, power)`` blocks, power of shape (frames, n_fft // 2 + 1): ``|STFT|**2``."""
    for i, sq in squared_pair_blocks(y, n_fft, hop):
        yield i, sq[:, 0::2] + sq[:, 1::2]


def frame_count(n_samples: int, n_fft: int, hop: int) -> int:
    """Number of centred STFT frames of a signal (as ``librosa.stft(center=True)``, short signals padded).

    Parameters
    ----------
    n_samples : int
        Length of the signal; one shorter than `n_fft` is zero-padded to `n_fft` first.
    n_fft : int
        FFT size in samples.
    hop : int
        Samples between frames.

    Returns
    -------
    int
        ``1 + (max(n_samples, n_fft) + 2 * (n_fft // 2) - n_fft) // hop``.
    """
    return 1 + (max(n_samples, n_fft) + 2 * (n_fft // 2) - n_fft) // hop  # = len(sliding windows[::hop])


def _power_spectrogram(y: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """Power spectrogram, shape (n_frames, n_fft // 2 + 1), float32 (frames first)."""
    out = np.empty((frame_count(len(y), n_fft, hop), n_fft // 2 + 1), np.float32)
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
        self.r = params.resolve(self.sr)
        self._cache = {}

    def get(self, kind: str) -> np.ndarray:
        if kind not in self._cache:
            self._cache[kind] = getattr(self, "_" + kind)()
        return self._cache[kind]

    def _power(self):
        return _power_spectrogram(self.y, self.r["n_fft"], self.r["hop_length"])

    def _logmel_power(self):
        r = self.r
        if "power" in self._cache:
            basis = _mel_basis_sparse(self.sr, r["n_fft"], r["n_mels"], r["fmin"], r["fmax"])
            return basis @ np.ascontiguousarray(self._cache["power"].T)  # (n_mels, n_frames)
        pair_basis = _mel_basis_pairs_sparse(self.sr, r["n_fft"], r["n_mels"], r["fmin"], r["fmax"])
        out = np.empty((r["n_mels"], frame_count(len(self.y), r["n_fft"], r["hop_length"])), np.float32)
        for i, sq in squared_pair_blocks(self.y, r["n_fft"], r["hop_length"]):
            out[:, i:i + len(sq)] = pair_basis @ sq.T
        return out

    def _logmel(self):
        return np.ascontiguousarray(_to_db(self.get("logmel_power"), self.params.top_db))

    def _stft(self):
        n_keep = stft_rows_kept(self.sr, self.r["n_fft"], self.r["fmax"])
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
        return np.stack([resize_rows(self.get(c), self.params.n_mels) for c in self.params.channels])



def stft_rows_kept(sr: int, n_fft: int, fmax: float) -> int:
    """Rows of a ``"stft"`` spectrogram: the FFT bins from 0 Hz up to `fmax`.

    Parameters
    ----------
    sr : int
        Sample rate in Hz.
    n_fft : int
        FFT size in samples (bin ``k`` is ``k * sr / n_fft`` Hz).
    fmax : float
        Highest frequency kept, in Hz.

    Returns
    -------
    int
        ``min(n_fft // 2 + 1, floor(fmax * n_fft / sr) + 1)``.
    """
    return min(n_fft // 2 + 1, int(math.floor(fmax * n_fft / sr)) + 1)


def resize_rows(a: np.ndarray, height: int) -> np.ndarray:
    """Resize a float array along its rows only (Pillow's bilinear filter), as the images are resized.

    Parameters
    ----------
    a : np.ndarray, float, shape (n_rows, n_columns)
    height : int
        Rows wanted.

    Returns
    -------
    np.ndarray, float32, shape (height, n_columns)
        `a` itself when it has `height` rows already.
    """
    if a.shape[0] == height:
        return a
    from PIL import Image

    img = Image.fromarray(np.ascontiguousarray(a, dtype=np.float32), mode="F")
    return np.array(img.resize((a.shape[1], int(height)), Image.Resampling.BILINEAR), dtype=np.float32)


def band_frequencies(params: SpectrogramParams, sr: int) -> np.ndarray:
    """Centre frequency in Hz of each row of the frequency axis at `params` and `sr`, lowest first.

    Parameters
    ----------
    params : SpectrogramParams
    sr : int
        Sample rate in Hz.

    Returns
    -------
    np.ndarray, float64
        ``"stft"``: bin ``k`` at ``k * sr / n_fft`` Hz, the :func:`stft_rows_kept` bins up to
        ``fmax``. Every other kind: the centres of librosa's Slaney mel filters between ``fmin``
        and ``fmax`` (``librosa.mel_frequencies(n_mels + 2, fmin, fmax)[1:-1]``), the rows of the
        log-mel (``n_mels``).

    Raises
    ------
    ParameterError
        `params` impossible at `sr`.
    """
    import librosa

    r = params.resolve(int(sr))
    if params.kind == "stft":
        return np.arange(stft_rows_kept(sr, r["n_fft"], r["fmax"]), dtype=np.float64) * sr / r["n_fft"]
    return librosa.mel_frequencies(n_mels=r["n_mels"] + 2, fmin=r["fmin"], fmax=r["fmax"])[1:-1].astype(np.float64)


def image_frequencies(params: SpectrogramParams, sr: int, height: int) -> np.ndarray:
    """The frequency (Hz) of each pixel row of a rendered image, bottom row first.

    Parameters
    ----------
    params : SpectrogramParams
        The render's parameters (``"logmel"``: mel bands; ``"stft"``: FFT bins).
    sr : int
        Sample rate of the rendered audio in Hz.
    height : int
        Rows of the image (``n_mels`` as rendered, or the height it was resized to).

    Returns
    -------
    np.ndarray, shape (height,), float
        Centre frequency of each row: the rows of a resized image are spread evenly over the bands
        (mel bands are evenly spaced in mels, not in Hz).
    """
    bins = band_frequencies(params, sr)  # the rows of the spectrogram as rendered, lowest first
    pos = (np.arange(height) + 0.5) * len(bins) / height - 0.5
    return np.interp(pos, np.arange(len(bins)), bins)


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
