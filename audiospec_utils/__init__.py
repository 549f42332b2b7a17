"""audiospec: classify sounds by classifying their spectrogram images.

Modules, one per concern (as librosa does), in the order the data flows: *clips -> images -> model
-> run*:

Clips
  * :mod:`~audiospec_utils.audio`: read audio files, with clear errors
  * :mod:`~audiospec_utils.datasets`: a folder per class or a CSV -> one clip table (``group``, ``fold``)
  * :mod:`~audiospec_utils.benchmarks`: FSDKaggle2018, UrbanSound8K and ESC-50 in their own layouts
  * :mod:`~audiospec_utils.mini`: the built-in synthetic mini dataset (FSDKaggle2018 layout)
  * :mod:`~audiospec_utils.download`: FSDKaggle2018 from Zenodo (or a mirror), resumable and verified
Images
  * :mod:`~audiospec_utils.spectrogram`: spectrogram parameters and kinds (log-mel, STFT, MFCC, chroma)
  * :mod:`~audiospec_utils.images`: the 8-bit pixels of each kind, and PNG encoding
  * :mod:`~audiospec_utils.render`: render a whole dataset into a render folder, in parallel, resumably
  * :mod:`~audiospec_utils.folders`: :class:`RenderFolder` and :class:`Run`, the only code that knows
    the files inside the folders the toolkit writes
  * :mod:`~audiospec_utils.image_cache`: a render folder's images decoded once, for training on crops
Model
  * :mod:`~audiospec_utils.splits`: train / validation / test splits that never cut a recording in two
  * :mod:`~audiospec_utils.dataloaders`: fixed-length time crops and windows, batched on the device
  * :mod:`~audiospec_utils.recipes`: the ``quick`` (CPU) and ``full`` (GPU) training recipes
  * :mod:`~audiospec_utils.learner`: the network (ImageNet ResNet, new head), its weights, its precision
  * :mod:`~audiospec_utils.train`: the schedule (``fine_tune``, ``fit_one_cycle``); trains and saves a run
  * :mod:`~audiospec_utils.distributed`: training on several processes (``accelerate launch``)
  * :mod:`~audiospec_utils.metrics`: MAP@3, and intervals from a bootstrap over groups
Run
  * :mod:`~audiospec_utils.evaluate`: held-out metrics per clip and a Kaggle submission
  * :mod:`~audiospec_utils.predict`: top-3 labels for new audio files;
    :mod:`~audiospec_utils.predict_batch`: folders, a CSV as it goes, timelines of long recordings
  * :mod:`~audiospec_utils.export_onnx`: a run as one ONNX model (audio in, probabilities out);
    :mod:`~audiospec_utils.onnx_predict`: its runtime, with NumPy, soundfile, soxr and onnxruntime only
  * :mod:`~audiospec_utils.interpret`: confusion matrix, top losses, t-SNE, per-class report
  * :mod:`~audiospec_utils.explain`: what the model listens to: Grad-CAM and occlusion maps of a
    clip, on its spectrogram and as sound
  * :mod:`~audiospec_utils.cv`: cross-validation, and why a per-clip split lies
  * :mod:`~audiospec_utils.compare`, :mod:`~audiospec_utils.baselines`: baselines and spectrogram kinds
Course
  * :mod:`~audiospec_utils.course`: the notebooks' configuration; :mod:`~audiospec_utils.display`,
    :mod:`~audiospec_utils.explorer`, :mod:`~audiospec_utils.widgets`: their plots and widgets
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
