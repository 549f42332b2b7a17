"""Prediction: top-k labels for new audio files (one, a folder, a long recording), the ONNX export and
its light runtime (NumPy, soundfile, soxr, onnxruntime).

Modules
-------
* :mod:`~audiospec_utils.infer.export_onnx`: Export a trained run as one ONNX model that takes raw audio and gives class probabilities.
* :mod:`~audiospec_utils.infer.onnx_predict`: Predict with an exported ONNX model: NumPy, soundfile, soxr and onnxruntime only.
* :mod:`~audiospec_utils.infer.predict`: Predict the labels of new audio files with a trained run.
* :mod:`~audiospec_utils.infer.predict_batch`: Prediction at the scale users bring: folders of clips, a CSV written as it goes, timelines of long recordings.

Every public name below is importable from here (``from audiospec_utils.infer import ...``); it is
imported from its module when first asked for, so that importing one module of the subpackage never
loads the heavy libraries (torch, fastai) another needs.
"""

from __future__ import annotations

import importlib

#: Each public name and the module (of this subpackage) that defines it.
_WHERE = {
    "export_onnx": "export_onnx",
    "OPSET": "export_onnx",
    "SUPPORTED_KINDS": "export_onnx",
    "resize_matrix": "export_onnx",
    "OnnxClassifier": "onnx_predict",
    "resample": "onnx_predict",
    "fit_length": "onnx_predict",
    "METADATA_KEY": "onnx_predict",
    "run_learner": "predict",
    "load_model": "predict",
    "run_spectrogram_params": "predict",
    "run_metrics": "predict",
    "predict_images": "predict",
    "error_reason": "predict",
    "predict_files": "predict",
    "format_predictions": "predict",
    "audio_inputs": "predict_batch",
    "FastaiBackend": "predict_batch",
    "OnnxBackend": "predict_batch",
    "predict_paths": "predict_batch",
    "plot_timeline": "predict_batch",
    "TIMELINE_CSV": "predict_batch",
}

__all__ = list(_WHERE)


def __getattr__(name):
    if name in _WHERE:
        return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
