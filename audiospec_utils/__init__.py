"""audiospec: classify sounds by classifying their spectrogram images.

Subpackages, one per concern (as librosa has ``core`` and ``feature``), in layers that the data flows
through; each subpackage's ``__init__`` is its public face (``__all__``):

* :mod:`audiospec_utils.audio`: clips: read audio files, the clip table, datasets in their layouts,
  FSDKaggle2018's download, the synthetic mini dataset, splits that never cut a recording in two
* :mod:`audiospec_utils.features`: images: spectrogram parameters and kinds, render a dataset into a
  render folder, the image cache
* :mod:`audiospec_utils.learn`: model: the training configuration, DataLoaders, the Learner, schedules,
  callbacks, resume, clip scores, the estimator and the run folder
* :mod:`audiospec_utils.infer` (prediction, the ONNX export and runtime) and
  :mod:`audiospec_utils.explain` (interpretation, Grad-CAM and occlusion, figures): two independent
  users of a trained model
* :mod:`audiospec_utils.assess`: held-out evaluation, cross-validation, baselines compared, experiments
* :mod:`audiospec_utils.course` (the notebooks' configuration and widgets) and
  :mod:`audiospec_utils.share` (the web page and the Hugging Face Space): two independent front ends
* :mod:`audiospec_utils.cli` (the ``audiospec`` command) and :mod:`audiospec_utils.demo` (``make demo``)
  on top

Beneath them, the modules every layer may use: :mod:`~audiospec_utils.exceptions` (the errors, one
``ParameterError`` as librosa has), :mod:`~audiospec_utils.fileio` (atomic writes),
:mod:`~audiospec_utils.progress` (when to draw progress bars) and :mod:`~audiospec_utils.ranking`
(top-k labels, NumPy only).

A module imports only from its own subpackage and the layers below; the contract is written in
``pyproject.toml`` (``[tool.importlinter]``) and ``make test`` checks it (``lint-imports``), with no
import cycle and no private name used outside its module. Heavy libraries (torch, fastai) load only
when a module that needs them is imported.

The flat module names of audiospec before 0.2 (``audiospec_utils.train``, ``audiospec_utils.spectrogram``...)
still import, with a ``DeprecationWarning`` that names the new place: old notebooks keep working and
an ``export.pkl`` written before the move (it names its classes by module path) still loads.
"""

__version__ = "0.1.0"

import importlib
import importlib.abc
import importlib.util
import sys
import types
import warnings

from .exceptions import (  # noqa: F401
    AudioLoadError,
    AudiospecError,
    DatasetError,
    DownloadError,
    ParameterError,
    TrainingInterrupted,
    WeightsUnavailableError,
)

#: Each module of the flat layout before 0.2 and where its names live now (several: searched in order).
MOVED_MODULES = {
    "app": "share.app",
    "app_explain": "share.app_explain",
    "augment": "learn.augment",
    "baselines": "assess.baselines",
    "benchmarks": "audio.benchmarks",
    "callbacks": "learn.callbacks",
    "clip_images": "features.images",
    "clip_table": "audio.clip_table",
    "compare": "assess.compare",
    "crops": "learn.crops",
    "cv": "assess.cv",
    "dataloaders": "learn.dataloaders",
    "datasets": "audio.datasets",
    "display": "explain.display",
    "distributed": "learn.distributed",
    "download": "audio.download",
    "evaluate": "assess.evaluate",
    "experiments": "assess.experiments",
    "explain_blend": "explain.blend",
    "explain_figures": "explain.explanation",
    "explain_maps": "explain.maps",
    "explain_methods": "explain.methods",
    "explorer": "course.explorer",
    "export_app": "share.export_app",
    "export_onnx": "infer.export_onnx",
    "folders": "features.folders learn.run",
    "fsdkaggle2018": "audio.fsdkaggle2018",
    "http_download": "audio.http_download",
    "image_cache": "features.image_cache",
    "image_classifier": "assess.image_classifier",
    "images": "features.images",
    "inference": "learn.inference",
    "interpret": "explain.interpret",
    "learner": "learn.estimator",
    "metrics": "learn.metrics",
    "mini": "audio.mini",
    "onnx_predict": "infer.onnx_predict",
    "predict": "infer.predict",
    "predict_batch": "infer.predict_batch",
    "recipes": "learn.config",
    "render": "features.render",
    "resume": "learn.resume",
    "schedules": "learn.schedules",
    "space": "share.space",
    "spectrogram": "features",
    "spectrogram_kinds": "features.kinds",
    "spectrogram_params": "features.params",
    "splits": "audio.splits",
    "synthesis": "audio.synthesis",
    "time_estimate": "learn.time_estimate",
    "train": "learn.train",
    "training_state": "learn.callbacks",
    "unzip": "audio.unzip",
    "widgets": "course.widgets",
}


class _MovedModuleFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Imports ``audiospec_utils.<old name>`` as the module(s) it moved to (:data:`MOVED_MODULES`)."""

    def find_spec(self, fullname, path=None, target=None):
        head, _, old = fullname.rpartition(".")
        if head == __name__ and old in MOVED_MODULES:
            return importlib.util.spec_from_loader(fullname, self)
        return None

    def create_module(self, spec):
        old = spec.name.rpartition(".")[2]
        targets = [f"{__name__}.{t}" for t in MOVED_MODULES[old].split()]
        warnings.warn(f"{spec.name} moved to {' and '.join(targets)} in audiospec 0.2; import it from there "
                      f"(the old name goes in the next release)", DeprecationWarning, stacklevel=2)
        if len(targets) == 1:
            return importlib.import_module(targets[0])
        proxy = types.ModuleType(spec.name, f"The names of {' and '.join(targets)}.")

        def lookup(name):
            for target in targets:
                module = importlib.import_module(target)
                if hasattr(module, name):
                    return getattr(module, name)
            raise AttributeError(f"module {spec.name!r} has no attribute {name!r}")

        proxy.__getattr__ = lookup
        return proxy

    def exec_module(self, module):
        pass


if not any(isinstance(f, _MovedModuleFinder) for f in sys.meta_path):
    sys.meta_path.append(_MovedModuleFinder())


def __getattr__(name):
    """``RenderFolder`` and ``Run`` at the package level, imported when first asked for."""
    if name == "RenderFolder":
        return importlib.import_module(".features.folders", __name__).RenderFolder
    if name == "Run":
        return importlib.import_module(".learn.run", __name__).Run
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
