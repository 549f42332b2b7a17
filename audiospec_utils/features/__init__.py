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
* :mod:`~audiospec_utils.features.folders`: The two folders the toolkit writes, each with one home: a
  render folder and a run folder.
* :mod:`~audiospec_utils.features.image_cache`: A render folder's images decoded once into one compact
  uint8 array, for fast training on crops.
* :mod:`~audiospec_utils.features.images`: Spectrogram images: how an array of any kind becomes 8-bit
  pixels, and how pixels become a PNG file.
* :mod:`~audiospec_utils.features.kinds`: The spectrogram arrays of every kind, computed from one shared
  short-time Fourier transform.
* :mod:`~audiospec_utils.features.params`: Spectrogram parameters, and the two policies they state: one
  sample rate, and each clip's length.
* :mod:`~audiospec_utils.features.render`: Render a whole dataset to spectrogram images: parallel,
  resumable, never stopped by one bad clip.

Every public name below is importable from here (``from audiospec_utils.features import ...``); it is
imported from its module when first asked for (``lazy_loader``, as librosa does), so that importing
one module of the subpackage never loads the heavy libraries (torch, fastai) another needs.
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(__name__, submod_attrs={
    "folders": ["RenderFolder", "as_render_folder", "MANIFEST", "PARAMS", "PARTIAL", "IMAGES", "write_json"],
    "image_cache": ["SpectrogramCache", "resize_height", "as_frames"],
    "images": ["render_clip", "spectrogram_to_image", "spectrogram_image", "encode_png", "write_png", "read_image",
               "colour_lut"],
    "kinds": ["image_frequencies", "stft_db", "logmel", "mfcc", "chroma", "stack", "spectrogram",
              "band_frequencies", "hann_window", "mel_basis", "squared_pair_blocks", "frame_count",
              "stft_rows_kept", "resize_rows", "SILENCE_POWER", "N_CHROMA"],
    "params": ["SpectrogramParams", "AUTO_RATE", "CLIP_POLICIES", "KINDS", "STACK_CHANNELS", "default_n_fft",
               "fit_length", "clip_segments", "segment_starts", "with_fixed_rate", "warn_rate_dependent",
               "RateDependentWarning"],
    "render": ["render_spectrograms", "read_manifest", "image_name", "connect_scheduler", "RenderError",
               "MANIFEST_COLUMNS"],
})
