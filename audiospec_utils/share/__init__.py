"""Sharing a model: the web page (gradio) that runs an exported ONNX model, and a Hugging Face Space
written from a run.

Modules
-------
* :mod:`~audiospec_utils.share.app`: A web page for an exported model: drop a sound, read its labels, see where the model heard them.
* :mod:`~audiospec_utils.share.app_explain`: Where the model heard its label: occlusion maps with NumPy and any window network (no torch).
* :mod:`~audiospec_utils.share.export_app`: What the web app and a Hugging Face Space need beside the exported model: its window network and its card.
* :mod:`~audiospec_utils.share.space`: A folder that runs a model's web page as a Hugging Face Space, as it is (``audiospec space``).

Every public name below is importable from here (``from audiospec_utils.share import ...``); it is
imported from its module when first asked for, so that importing one module of the subpackage never
loads the heavy libraries (torch, fastai) another needs.
"""

from __future__ import annotations

import importlib

#: Each public name and the module (of this subpackage) that defines it.
_WHERE = {
    "AppModel": "app",
    "build_app": "app",
    "launch_app": "app",
    "serve_folder": "app",
    "card_markdown": "app",
    "spectrogram_figure": "app",
    "timeline_figure": "app",
    "example_files": "app",
    "DEFAULT_MAX_SECONDS": "app",
    "DEFAULT_EXPLAIN_WINDOWS": "app",
    "SILENCE_PEAK": "app",
    "MAX_UPLOAD": "app",
    "log_odds": "app_explain",
    "clip_windows": "app_explain",
    "window_tensor": "app_explain",
    "occlusion_map": "app_explain",
    "window_weights": "app_explain",
    "blend_window_maps": "app_explain",
    "explain_analysis": "app_explain",
    "row_frequencies": "app_explain",
    "hz_to_mel": "app_explain",
    "mel_to_hz": "app_explain",
    "PATCH_FRACTION": "app_explain",
    "STRIDE_FRACTION": "app_explain",
    "export_window_network": "export_app",
    "model_card": "export_app",
    "basic_card": "export_app",
    "prepare_model": "export_app",
    "window_network_path": "export_app",
    "card_path": "export_app",
    "CARD_KEY": "export_app",
    "WINDOWS_KEY": "export_app",
    "APP_CACHE": "export_app",
    "write_space": "space",
    "vendored_modules": "space",
    "SPACE_PACKAGE": "space",
    "SPACE_REQUIREMENTS": "space",
    "ENTRY_MODULE": "space",
}

__all__ = list(_WHERE)


def __getattr__(name):
    if name in _WHERE:
        return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
