"""Interpretation: confusion matrix, top losses, t-SNE, per-class report; what the model listens to
(Grad-CAM and occlusion maps, on the image and as sound); the figures of spectrograms.

Modules
-------
* :mod:`~audiospec_utils.explain.blend`: Window maps into one map of an image: each window weighted by its own evidence, blended without seams.
* :mod:`~audiospec_utils.explain.display`: Labelled plots for the course: waveform and spectrogram (any kind) with real axes and a colour bar.
* :mod:`~audiospec_utils.explain.explanation`: See and hear what a trained model listens to: class activation maps of whole clips.
* :mod:`~audiospec_utils.explain.interpret`: Reading what a trained classifier learned: confusion matrix, top losses, t-SNE, per-class report.
* :mod:`~audiospec_utils.explain.maps`: Maps on a clip's spectrogram grid: where they can be made, where they lie, and how they sound.
* :mod:`~audiospec_utils.explain.methods`: The two ways of making a map of a batch of windows for one class: Grad-CAM and occlusion.

Every public name below is importable from here (``from audiospec_utils.explain import ...``); it is
imported from its module when first asked for, so that importing one module of the subpackage never
loads the heavy libraries (torch, fastai) another needs.
"""

from __future__ import annotations

import importlib

#: Each public name and the module (of this subpackage) that defines it.
_WHERE = {
    "EVIDENCE": "blend",
    "TAPERS": "blend",
    "window_evidence": "blend",
    "window_taper": "blend",
    "blend_windows": "blend",
    "plot_clip": "display",
    "plot_examples": "display",
    "plot_kinds": "display",
    "show_spectrogram": "display",
    "show_image": "display",
    "plot_crop_windows": "display",
    "image_frequencies": "display",
    "plot_explanation": "explanation",
    "plot_mean_maps": "explanation",
    "EXPLAIN_JSON": "explanation",
    "Explanation": "explanation",
    "explain_clip": "explanation",
    "explain_files": "explanation",
    "save_explanation": "explanation",
    "explain_validation": "explanation",
    "load_run": "interpret",
    "predict_with_embeddings": "interpret",
    "clip_embeddings": "interpret",
    "confusion_table": "interpret",
    "plot_confusion_matrix": "interpret",
    "most_confused": "interpret",
    "per_class_report": "interpret",
    "plot_per_class": "interpret",
    "plot_top_losses": "interpret",
    "top_losses": "interpret",
    "plot_tsne": "interpret",
    "tsne_style": "interpret",
    "windows_dataloader": "interpret",
    "interpret_run": "interpret",
    "check_explainable": "maps",
    "map_frequencies": "maps",
    "map_stats": "maps",
    "mean_map": "maps",
    "place_windows": "maps",
    "image_maps_to_clip": "maps",
    "explained_audio": "maps",
    "METHODS": "methods",
    "WEIGHTINGS": "methods",
    "AUTO_ROWS": "methods",
    "gradcam": "methods",
    "occlusion": "methods",
    "stages": "methods",
    "resolve_layer": "methods",
    "auto_stage": "methods",
}

__all__ = list(_WHERE)


def __getattr__(name):
    if name in _WHERE:
        return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
