"""audiospec: classify sounds by classifying their spectrogram images.

Modules, one per concern (as librosa does):

* :mod:`~audiospec_utils.audio`: read audio files, with clear errors
* :mod:`~audiospec_utils.datasets`: FSDKaggle2018, a folder per class, or a CSV -> one clip table
* :mod:`~audiospec_utils.mini`: the built-in synthetic mini dataset (FSDKaggle2018 layout)
* :mod:`~audiospec_utils.download`: FSDKaggle2018 from Zenodo, resumable and verified
* :mod:`~audiospec_utils.spectrogram`: spectrograms (log-mel, STFT, MFCC, chroma) and their images
* :mod:`~audiospec_utils.render`: render a whole dataset, in parallel and resumably
* :mod:`~audiospec_utils.display`: labelled plots of waveforms and spectrograms
* :mod:`~audiospec_utils.metrics`: MAP@3 and friends
* :mod:`~audiospec_utils.train`: fastai DataLoaders and a ResNet-34 Learner
* :mod:`~audiospec_utils.interpret`: confusion matrix, top losses, t-SNE, per-class report
* :mod:`~audiospec_utils.evaluate`: test-set metrics per clip and a Kaggle submission
* :mod:`~audiospec_utils.predict`: top-3 labels for new audio files
* :mod:`~audiospec_utils.explorer`, :mod:`~audiospec_utils.widgets`: the notebooks' widgets
* :mod:`~audiospec_utils.compare`: baselines and spectrogram kinds side by side
* :mod:`~audiospec_utils.course`: the notebooks' configuration

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
