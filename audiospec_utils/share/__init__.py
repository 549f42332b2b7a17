"""Sharing a model: the web page (gradio) that runs an exported ONNX model, and a Hugging Face Space
written from a run.

Modules
-------
* :mod:`~audiospec_utils.share.app`: A web page for an exported model: drop a sound, read its labels,
  see where the model heard them.
* :mod:`~audiospec_utils.share.app_explain`: Where the model heard its label: occlusion maps with NumPy
  and any window network (no torch).
* :mod:`~audiospec_utils.share.export_app`: What the web app and a Hugging Face Space need beside the
  exported model: its window network and its card.
* :mod:`~audiospec_utils.share.space`: A folder that runs a model's web page as a Hugging Face Space, as
  it is (``audiospec space``).

Every public name below is importable from here (``from audiospec_utils.share import ...``); it is
imported from its module when first asked for (``lazy_loader``, as librosa does), so that importing
one module of the subpackage never loads the heavy libraries (torch, fastai) another needs.
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(__name__, submod_attrs={
    "app": ["AppModel", "build_app", "launch_app", "serve_folder", "card_markdown", "spectrogram_figure",
            "timeline_figure", "example_files", "DEFAULT_MAX_SECONDS", "DEFAULT_EXPLAIN_WINDOWS", "SILENCE_PEAK",
            "MAX_UPLOAD"],
    "app_explain": ["log_odds", "clip_windows", "window_tensor", "occlusion_map", "window_weights",
                    "blend_window_maps", "explain_analysis", "row_frequencies", "hz_to_mel", "mel_to_hz",
                    "PATCH_FRACTION", "STRIDE_FRACTION"],
    "export_app": ["export_window_network", "model_card", "basic_card", "prepare_model", "window_network_path",
                   "card_path", "CARD_KEY", "WINDOWS_KEY", "APP_CACHE"],
    "space": ["write_space", "vendored_modules", "SPACE_PACKAGE", "SPACE_REQUIREMENTS", "ENTRY_MODULE"],
})
