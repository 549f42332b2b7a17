"""Images: spectrogram parameters and kinds, a clip as an 8-bit image, a dataset rendered into a
render folder, and the image cache that training reads.

The pipeline for one clip is: decode -> fit the clip-length policy -> STFT -> (mel projection,
MFCC, chroma...) -> 8-bit image. :func:`spectrogram` computes the array of the kind chosen by
``SpectrogramParams.kind``, :func:`spectrogram_image` maps it to pixels, :func:`render_clip` does
a whole clip, and :func:`audiospec_utils.features.render.render_spectrograms` does a whole dataset.

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
:mod:`audiospec_utils.features.images`.

Modules
-------
* :mod:`~audiospec_utils.features.folders`: The two folders the toolkit writes, each with one home: a render folder and a run folder.
* :mod:`~audiospec_utils.features.image_cache`: A render folder's images decoded once into one compact uint8 array, for fast training on crops.
* :mod:`~audiospec_utils.features.images`: Spectrogram images: how an array of any kind becomes 8-bit pixels, and how pixels become a PNG file.
* :mod:`~audiospec_utils.features.kinds`: The spectrogram arrays of every kind, computed from one shared short-time Fourier transform.
* :mod:`~audiospec_utils.features.params`: Spectrogram parameters, and the two policies they state: one sample rate, and each clip's length.
* :mod:`~audiospec_utils.features.render`: Render a whole dataset to spectrogram images: parallel, resumable, never stopped by one bad clip.

Every public name below is importable from here (``from audiospec_utils.features import ...``); it is
imported from its module when first asked for, so that importing one module of the subpackage never
loads the heavy libraries (torch, fastai) another needs.
"""

from __future__ import annotations

import importlib

#: Each public name and the module (of this subpackage) that defines it.
_WHERE = {
    "RenderFolder": "folders",
    "as_render_folder": "folders",
    "MANIFEST": "folders",
    "PARAMS": "folders",
    "PARTIAL": "folders",
    "IMAGES": "folders",
    "write_json": "folders",
    "SpectrogramCache": "image_cache",
    "resize_height": "image_cache",
    "as_frames": "image_cache",
    "render_clip": "images",
    "spectrogram_to_image": "images",
    "spectrogram_image": "images",
    "encode_png": "images",
    "write_png": "images",
    "read_image": "images",
    "colour_lut": "images",
    "stft_db": "kinds",
    "logmel": "kinds",
    "mfcc": "kinds",
    "chroma": "kinds",
    "stack": "kinds",
    "spectrogram": "kinds",
    "band_frequencies": "kinds",
    "hann_window": "kinds",
    "mel_basis": "kinds",
    "squared_pair_blocks": "kinds",
    "frame_count": "kinds",
    "stft_rows_kept": "kinds",
    "resize_rows": "kinds",
    "SILENCE_POWER": "kinds",
    "N_CHROMA": "kinds",
    "SpectrogramParams": "params",
    "AUTO_RATE": "params",
    "CLIP_POLICIES": "params",
    "KINDS": "params",
    "STACK_CHANNELS": "params",
    "default_n_fft": "params",
    "fit_length": "params",
    "clip_segments": "params",
    "segment_starts": "params",
    "with_fixed_rate": "params",
    "warn_rate_dependent": "params",
    "RateDependentWarning": "params",
    "render_spectrograms": "render",
    "read_manifest": "render",
    "image_name": "render",
    "connect_scheduler": "render",
    "RenderError": "render",
    "MANIFEST_COLUMNS": "render",
}

__all__ = list(_WHERE)


def __getattr__(name):
    if name in _WHERE:
        return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
