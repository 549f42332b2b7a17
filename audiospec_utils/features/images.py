"""Spectrogram images: how an array of any kind becomes 8-bit pixels, and how pixels become a PNG file.

:mod:`audiospec_utils.features` computes the arrays (log-mel, STFT, MFCC, chroma, stacks); this
module maps them to the pixels the classifier sees (:func:`spectrogram_image`), writes them
(:func:`encode_png`, :func:`write_png`) without any figure, and reads them back
(:func:`read_image`, the one place an image file is decoded into pixels).

Pixels
------
Row 0 of an image is the highest frequency (or coefficient, or pitch class B), so low
frequencies are at the bottom as in a plot; time runs left to right, one column per frame.

dB kinds (``"stft"``, ``"logmel"``)
    The spectrogram is converted to dB relative to its loudest bin (``10 * log10(S / S.max())``,
    so the maximum is 0 dB) and clipped at ``-top_db``. Pixels are then
    ``round(255 * (S_db + top_db) / top_db)``: 0 dB -> 255 (white), ``-top_db`` and below -> 0
    (black). A silent clip is all black.
``"mfcc"``
    Each coefficient (row) scaled separately from its minimum over the clip (0) to its maximum
    (255), as cepstral mean and variance normalisation does per coefficient: MFCCs have no fixed
    range, and coefficient 0 (the overall level) is far larger than the others, so one scale for
    the whole image would leave coefficients 1.. nearly flat (a few grey levels). A constant row is
    black.
``"delta"``, ``"delta2"`` (stack channels)
    Scaled per image symmetrically around zero: ``round(127.5 + 127.5 * d / max|d|)``, so no
    change is mid-grey (128), rising energy brighter, falling energy darker.
``"chroma"``
    The fixed range 0..1 -> 0..255.

A colour map (``cmap``) maps the grey levels 0..255 of a single-channel kind through a
matplotlib colour map (e.g. ``"magma"``) to RGB; ``"stack"`` is RGB by construction.

Image size
----------
The height is fixed by the kind: ``n_mels`` (logmel, stack), ``n_fft // 2 + 1`` bins up to
``fmax`` (stft), ``n_mfcc`` (mfcc), 12 (chroma). The width is the number of frames, proportional
to the duration (default), or a fixed ``width`` in pixels: the time axis is then resampled with
PIL's bilinear filter (``Image.resize``), which averages neighbouring frames when shrinking (an
antialiased downsampling) and interpolates linearly between frames when stretching; the frequency
axis is never resized.
"""

from __future__ import annotations

import struct
import zlib
from functools import lru_cache

import numpy as np

from ..audio.decode import load_audio
from ..exceptions import ParameterError
from ..fileio import write_bytes_atomic
from .kinds import spectrogram
from .params import STACK_CHANNELS, SpectrogramParams, fit_length

__all__ = ["render_clip", "spectrogram_to_image", "spectrogram_image", "encode_png", "write_png", "read_image", "colour_lut"]


@lru_cache(maxsize=8)
def colour_lut(cmap: str) -> np.ndarray:
    """The colours a grey level 0..255 becomes through a matplotlib colour map.

    Parameters
    ----------
    cmap : str
        A matplotlib colour map name (``"magma"``, ``"viridis"``...).

    Returns
    -------
    np.ndarray, uint8, shape (256, 3)
        Row ``g`` is the RGB colour of grey level ``g`` (the map sampled at ``g / 255``, rounded).
        Cached per name: do not modify it.

    Raises
    ------
    KeyError
        `cmap` is not a matplotlib colour map (:class:`SpectrogramParams` checks it first).
    """
    import matplotlib

    return (matplotlib.colormaps[cmap](np.linspace(0, 1, 256))[:, :3] * 255).round().astype(np.uint8)


def spectrogram_to_image(s_db: np.ndarray, top_db: float = 80.0, cmap: str | None = None) -> np.ndarray:
    """Map a dB spectrogram to 8-bit image pixels.

    Parameters
    ----------
    s_db : np.ndarray, shape (n_bins, n_frames)
        dB relative to the maximum (0 dB at most), as :func:`logmel` and :func:`stft_db` return.
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
    return _grey_to_image(_db_grey(s_db, top_db), cmap)


def _db_grey(s_db, top_db) -> np.ndarray:
    scaled = (np.asarray(s_db, dtype=np.float32) + np.float32(top_db)) * np.float32(255.0 / top_db)
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)[::-1]


def _rowwise_minmax_grey(a) -> np.ndarray:
    a = np.asarray(a, dtype=np.float32)
    if a.size == 0:
        return np.zeros(a.shape, np.uint8)
    lo, hi = a.min(axis=1, keepdims=True), a.max(axis=1, keepdims=True)
    span = np.where(hi > lo, hi - lo, np.float32(np.inf))
    return np.clip(np.rint((a - lo) * (255.0 / span)), 0, 255).astype(np.uint8)[::-1]


def _symmetric_grey(a) -> np.ndarray:
    a = np.asarray(a, dtype=np.float32)
    m = float(np.abs(a).max()) if a.size else 0.0
    if m <= 0:
        return np.full(a.shape, 128, np.uint8)
    return np.clip(np.rint(127.5 + a * (127.5 / m)), 0, 255).astype(np.uint8)[::-1]


def _unit_grey(a) -> np.ndarray:
    return np.clip(np.rint(np.asarray(a, dtype=np.float32) * 255.0), 0, 255).astype(np.uint8)[::-1]


def _grey_to_image(grey: np.ndarray, cmap: str | None) -> np.ndarray:
    if cmap is not None:
        grey = colour_lut(cmap)[grey]
    return np.ascontiguousarray(grey)


def _kind_grey(a: np.ndarray, kind: str, top_db: float) -> np.ndarray:
    if kind in ("logmel", "stft"):
        return _db_grey(a, top_db)
    if kind == "mfcc":
        return _rowwise_minmax_grey(a)
    if kind in ("delta", "delta2"):
        return _symmetric_grey(a)
    if kind == "chroma":
        return _unit_grey(a)
    raise ParameterError(f"kind must be one of {', '.join(STACK_CHANNELS)}, got {kind!r}")


def _resize_width(pixels: np.ndarray, width: int | None) -> np.ndarray:
    if width is None or pixels.shape[1] == width:
        return pixels
    from PIL import Image

    img = Image.fromarray(pixels).resize((width, pixels.shape[0]), Image.Resampling.BILINEAR)
    return np.asarray(img)


def spectrogram_image(S: np.ndarray, params: SpectrogramParams | None = None) -> np.ndarray:
    """Map a spectrogram of kind ``params.kind`` to the 8-bit pixels of its image.

    The mapping per kind (dB range, per-image min..max, fixed 0..1...) is described in the module
    docstring; ``params.width``, when set, resizes the time axis.

    Parameters
    ----------
    S : np.ndarray, float
        What :func:`spectrogram` returns for `params`: shape ``(n_bins, n_frames)``, or
        ``(3, n_mels, n_frames)`` for ``"stack"``.
    params : SpectrogramParams or None
        ``kind``, ``top_db``, ``cmap``, ``channels``, ``width``.

    Returns
    -------
    np.ndarray, dtype uint8
        ``(n_bins, width)`` grey, or ``(n_bins, width, 3)`` RGB (a colour map, or ``"stack"``);
        ``width`` is ``n_frames`` unless ``params.width`` is set. Row 0 is the highest frequency.

    Raises
    ------
    ParameterError
        `S` has the wrong number of dimensions for the kind.
    """
    if params is None:
        params = SpectrogramParams()
    S = np.asarray(S)
    if params.kind == "stack":
        if S.ndim != 3 or S.shape[0] != 3:
            raise ParameterError(f"a 'stack' spectrogram must have shape (3, n_mels, n_frames), got {S.shape}")
        pixels = np.stack([_kind_grey(c, k, params.top_db) for c, k in zip(S, params.channels)], axis=-1)
    else:
        if S.ndim != 2:
            raise ParameterError(f"a {params.kind!r} spectrogram must have shape (n_bins, n_frames), got {S.shape}")
        pixels = _grey_to_image(_kind_grey(S, params.kind, params.top_db), params.cmap)
    return np.ascontiguousarray(_resize_width(pixels, params.width))


def encode_png(pixels: np.ndarray) -> bytes:
    """Encode uint8 pixels as a PNG file (8 bits per channel, grey or RGB, no interlacing).

    Every row uses PNG's "Sub" filter (each byte minus the byte one pixel to its left, modulo 256)
    and the IDAT stream is compressed with zlib level 1 and its run-length strategy (``Z_RLE``).
    On spectrograms this gives files about as small as Pillow's ``compress_level=1`` (whose
    adaptive per-row filter choice costs more time than the whole rest of the encode) in about a
    third of the time; any PNG reader decodes them (the tests read them back with Pillow).

    Parameters
    ----------
    pixels : np.ndarray, uint8, shape (H, W) or (H, W, 3)
        Grey or RGB pixels; row 0 is the top of the image.

    Returns
    -------
    bytes
        The whole file: signature, ``IHDR``, one ``IDAT`` and ``IEND`` chunks (PNG specification,
        ISO/IEC 15948, sections 5, 9 and 11).

    Raises
    ------
    ParameterError
        `pixels` is not uint8, is empty, or is not of shape (H, W) or (H, W, 3).
    """
    pixels = np.asarray(pixels)
    if pixels.dtype != np.uint8 or pixels.ndim not in (2, 3) or (pixels.ndim == 3 and pixels.shape[2] != 3) \
            or pixels.size == 0:
        raise ParameterError(f"PNG pixels must be non-empty uint8 of shape (H, W) or (H, W, 3), "
                             f"got {pixels.dtype} of shape {pixels.shape}")
    height, width = pixels.shape[:2]
    bpp = 1 if pixels.ndim == 2 else 3                       # bytes per pixel
    flat = np.ascontiguousarray(pixels).reshape(height, width * bpp)
    rows = np.empty((height, width * bpp + 1), np.uint8)
    rows[:, 0] = 1                                           # filter type 1: Sub
    rows[:, 1:1 + bpp] = flat[:, :bpp]
    np.subtract(flat[:, bpp:], flat[:, :-bpp], out=rows[:, 1 + bpp:])  # uint8: wraps modulo 256

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    z = zlib.compressobj(1, zlib.DEFLATED, 15, 9, zlib.Z_RLE)
    idat = z.compress(rows.data) + z.flush()
    colour_type = 0 if bpp == 1 else 2
    ihdr = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def write_png(pixels: np.ndarray, path) -> None:
    """Write uint8 pixels to a PNG atomically (temporary name in the same folder, then rename).

    Parameters
    ----------
    pixels : np.ndarray, uint8, shape (H, W) or (H, W, 3)
    path : str or os.PathLike
        Its folder is created when missing.

    Raises
    ------
    ParameterError
        `pixels` cannot be a PNG (see :func:`encode_png`).
    OSError
        The write failed (e.g. no space left); the temporary file is removed, nothing is left
        under `path` (:func:`audiospec_utils.fileio.write_bytes_atomic`).
    """
    write_bytes_atomic(path, encode_png(pixels))


def read_image(path) -> np.ndarray:
    """Decode a spectrogram image file into its pixels, as the render wrote them.

    Parameters
    ----------
    path : str or os.PathLike
        A PNG (or any image Pillow reads).

    Returns
    -------
    np.ndarray, uint8
        ``(height, width)`` for a grey image (Pillow mode ``"L"``), ``(height, width, 3)`` for an
        RGB one; any other mode (palette, RGBA, 16-bit...) is converted to RGB. Row 0 is the top
        of the image (the highest frequency).

    Raises
    ------
    OSError
        The file is missing or not an image Pillow can decode (``FileNotFoundError``,
        ``PIL.UnidentifiedImageError``).
    """
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im if im.mode in ("L", "RGB") else im.convert("RGB"))


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
        The file cannot be read (see :func:`audiospec_utils.audio.decode.load_audio`).
    ParameterError
        Parameters impossible at the file's sample rate.
    OSError
        Writing an image failed (e.g. disk full); no partial image is left under the final name.

    Notes
    -----
    The audio is resampled (soxr) when ``params.sr`` is a rate and differs from the file's. No
    figure is made; the per-clip path is decode, one float32 FFT, one matrix product, a lookup
    to uint8 and a fast PNG encode (:func:`~audiospec_utils.features.images.encode_png`: Sub filter, zlib level 1, run-length
    strategy).
    """
    params = params or SpectrogramParams()
    y, sr, source_sr = load_audio(path, sr=params.target_sr, with_source_rate=True)
    params.resolve(sr)  # ParameterError now when the parameters do not fit this rate
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
