"""audiospec: classify sounds by classifying their spectrogram images.

Modules, one per concern (as librosa does), in layers that the data flows through: *clips -> images
-> model -> run -> course*. A module imports only from its own layer and the layers below; the
contract is written in ``pyproject.toml`` (``[tool.importlinter]``) and ``make test`` checks it
(``lint-imports``), with no import cycle and no private name used outside its module.

Base
  * :mod:`~audiospec_utils.exceptions`: the errors, one ``ParameterError`` as librosa has;
    :mod:`~audiospec_utils.progress`: when to draw progress bars; :mod:`~audiospec_utils.fileio`:
    atomic writes (every file appears whole or not at all)
Clips
  * :mod:`~audiospec_utils.audio`: read audio files, with clear errors
  * :mod:`~audiospec_utils.clip_table`: the clip table's columns and the CSV readers the loaders share
  * :mod:`~audiospec_utils.datasets`: a folder per class or a CSV -> one clip table (``group``, ``fold``)
  * :mod:`~audiospec_utils.benchmarks`: FSDKaggle2018, UrbanSound8K and ESC-50 in their own layouts;
    :mod:`~audiospec_utils.fsdkaggle2018`: FSDKaggle2018's files and columns, described once
  * :mod:`~audiospec_utils.synthesis` and :mod:`~audiospec_utils.mini`: the built-in synthetic mini
    dataset (its sounds, and the dataset writer in the FSDKaggle2018 layout)
  * :mod:`~audiospec_utils.download`: FSDKaggle2018 from Zenodo (or a mirror), over
    :mod:`~audiospec_utils.http_download` (HTTP with resume and checksums) and
    :mod:`~audiospec_utils.unzip` (extraction that an interruption cannot leave half done)
Images
  * :mod:`~audiospec_utils.spectrogram_params`: the spectrogram parameters, the sample-rate and
    clip-length policies; :mod:`~audiospec_utils.spectrogram_kinds`: the kinds (log-mel, STFT, MFCC,
    chroma) from one STFT; :mod:`~audiospec_utils.spectrogram`: their public face
  * :mod:`~audiospec_utils.images`: the 8-bit pixels of each kind, PNG encoding and decoding;
    :mod:`~audiospec_utils.clip_images`: one audio file -> its images (``render_clip``)
  * :mod:`~audiospec_utils.render`: render a whole dataset into a render folder, in parallel, resumably
  * :mod:`~audiospec_utils.folders`: :class:`RenderFolder` and :class:`Run`, the only code that knows
    the files inside the folders the toolkit writes
  * :mod:`~audiospec_utils.image_cache`: a render folder's images decoded once, for training on crops
Model
  * :mod:`~audiospec_utils.splits`: train / validation / test splits that never cut a recording in two
  * :mod:`~audiospec_utils.crops`, :mod:`~audiospec_utils.augment`, :mod:`~audiospec_utils.dataloaders`:
    fixed-length time crops and windows, SpecAugment and time shifts, batched on the device
  * :mod:`~audiospec_utils.recipes`: the ``quick`` (CPU) and ``full`` (GPU) training recipes
  * :mod:`~audiospec_utils.learner`: the network (ImageNet ResNet, new head), its weights, its precision
  * :mod:`~audiospec_utils.schedules`: ``fit`` (``fine_tune``, ``fit_one_cycle``) and ``lr_find``;
    :mod:`~audiospec_utils.callbacks`: fastai callbacks (history, checkpoint, interrupt guard, silence);
    :mod:`~audiospec_utils.training_state` and :mod:`~audiospec_utils.resume`: resuming an
    interrupted training; :mod:`~audiospec_utils.time_estimate`: the expected time, said first
  * :mod:`~audiospec_utils.train`: trains and saves a run in one call
  * :mod:`~audiospec_utils.distributed`: training on several processes (``accelerate launch``)
  * :mod:`~audiospec_utils.inference`: windows -> probabilities -> clip predictions (written once);
    :mod:`~audiospec_utils.metrics`: MAP@3, clip scores and intervals from a bootstrap over groups
Run
  * :mod:`~audiospec_utils.evaluate`: held-out metrics per clip and a Kaggle submission
  * :mod:`~audiospec_utils.predict`: top-3 labels for new audio files;
    :mod:`~audiospec_utils.predict_batch`: folders, a CSV as it goes, timelines of long recordings
  * :mod:`~audiospec_utils.export_onnx`: a run as one ONNX model (audio in, probabilities out);
    :mod:`~audiospec_utils.onnx_predict`: its runtime, with NumPy, soundfile, soxr and onnxruntime only
  * :mod:`~audiospec_utils.interpret`: confusion matrix, top losses, t-SNE, per-class report;
    :mod:`~audiospec_utils.display`: the figures of spectrograms
  * :mod:`~audiospec_utils.explain`: what the model listens to (:mod:`~audiospec_utils.explain_methods`:
    Grad-CAM and occlusion; :mod:`~audiospec_utils.explain_maps`: maps on the clip, and as sound;
    :mod:`~audiospec_utils.explain_figures`)
  * :mod:`~audiospec_utils.cv`: cross-validation, and why a per-clip split lies
  * :mod:`~audiospec_utils.compare`, :mod:`~audiospec_utils.image_classifier`,
    :mod:`~audiospec_utils.baselines`: baselines and spectrogram kinds compared
Course
  * :mod:`~audiospec_utils.course`: the notebooks' configuration; :mod:`~audiospec_utils.explorer`,
    :mod:`~audiospec_utils.widgets`, :mod:`~audiospec_utils.experiments`: their widgets and experiments
  * :mod:`~audiospec_utils.cli`: the ``audiospec`` command; :mod:`~audiospec_utils.demo`: ``make demo``

Heavy libraries (torch, fastai) load only when a module that needs them is imported.
"""

__version__ = "0.1.0"

from .exceptions import (  # noqa: F401
    AudioLoadError,
    AudiospecError,
    DatasetError,
    DownloadError,
    ParameterError,
    TrainingInterrupted,
    WeightsUnavailableError,
)


def __getattr__(name):
    """``RenderFolder`` and ``Run`` at the package level, imported when first asked for."""
    if name in ("RenderFolder", "Run"):
        from . import folders

        return getattr(folders, name)
    raise AttributeError(f"module 'audiospec_utils' has no attribute {name!r}")
