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

Modules
-------
This module is the public face of the images layer's spectrogram code (every name below has always
been importable from here); each concern has its own module:

* :mod:`audiospec_utils.spectrogram_params`: :class:`SpectrogramParams`, the sample-rate policy
  (:func:`with_fixed_rate`, :func:`warn_rate_dependent`) and the clip-length policy
  (:func:`fit_length`);
* :mod:`audiospec_utils.spectrogram_kinds`: the arrays of every kind from one shared STFT;
* :mod:`audiospec_utils.images`: arrays to pixels, pixels to PNG files and back;
* :mod:`audiospec_utils.clip_images`: one audio file to its image(s) (:func:`render_clip`).
"""

from __future__ import annotations

from .clip_images import render_clip
from .images import encode_png, spectrogram_image, spectrogram_to_image, write_png
from .spectrogram_kinds import (N_CHROMA, SILENCE_POWER, chroma, logmel, mfcc, spectrogram,  # noqa: F401
                                stack, stft_db)  # (N_CHROMA, SILENCE_POWER: constants this module always had)
from .spectrogram_params import (AUTO_RATE, CLIP_POLICIES, KINDS, STACK_CHANNELS, RateDependentWarning,
                                 SpectrogramParams, default_n_fft, fit_length, warn_rate_dependent,
                                 with_fixed_rate)

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
