"""One audio file to its spectrogram image(s): decode, clip-length policy, spectrogram, pixels, PNG.

:func:`render_clip` is the per-clip step of :func:`audiospec_utils.features.render.render_spectrograms` (a
whole dataset) and of prediction (:func:`audiospec_utils.infer.predict.predict_files`, which keeps the
images in memory). It is re-exported by :mod:`audiospec_utils.features`.
"""

from __future__ import annotations

import numpy as np

from ..audio.decode import load_audio
from .images import spectrogram_image, write_png
from .kinds import spectrogram
from .params import SpectrogramParams, fit_length

__all__ = ["render_clip"]


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
