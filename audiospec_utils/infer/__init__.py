"""Prediction: top-k labels for new audio files (one, a folder, a long recording), the ONNX export and
its light runtime (NumPy, soundfile, soxr, onnxruntime).

Modules
-------
* :mod:`~audiospec_utils.infer.export_onnx`: Export a trained run as one ONNX model that takes raw audio
  and gives class probabilities.
* :mod:`~audiospec_utils.infer.onnx_predict`: Predict with an exported ONNX model: NumPy, soundfile,
  soxr and onnxruntime only.
* :mod:`~audiospec_utils.infer.predict`: Predict the labels of new audio files with a trained run.
* :mod:`~audiospec_utils.infer.predict_batch`: Prediction at the scale users bring: folders of clips, a
  CSV written as it goes, timelines of long recordings.

Every public name below is importable from here (``from audiospec_utils.infer import ...``); it is
imported from its module when first asked for (``lazy_loader``, as librosa does), so that importing
one module of the subpackage never loads the heavy libraries (torch, fastai) another needs.
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(__name__, submod_attrs={
    "export_onnx": ["OPSET", "SUPPORTED_KINDS", "resize_matrix"],
    "onnx_predict": ["OnnxClassifier", "resample", "fit_length", "METADATA_KEY"],
    "predict": ["run_learner", "load_model", "run_spectrogram_params", "run_metrics", "predict_images",
                "error_reason", "predict_files", "format_predictions"],
    "predict_batch": ["audio_inputs", "FastaiBackend", "OnnxBackend", "predict_paths", "plot_timeline",
                      "TIMELINE_CSV"],
})
