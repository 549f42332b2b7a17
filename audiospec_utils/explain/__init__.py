"""Interpretation: confusion matrix, top losses, t-SNE, per-class report; what the model listens to
(Grad-CAM and occlusion maps, on the image and as sound); the figures of spectrograms.

Modules
-------
* :mod:`~audiospec_utils.explain.blend`: Window maps into one map of an image: each window weighted by
  its own evidence, blended without seams.
* :mod:`~audiospec_utils.explain.display`: Labelled plots for the course: waveform and spectrogram (any
  kind) with real axes and a colour bar.
* :mod:`~audiospec_utils.explain.explanation`: See and hear what a trained model listens to: class
  activation maps of whole clips.
* :mod:`~audiospec_utils.explain.interpret`: Reading what a trained classifier learned: confusion
  matrix, top losses, t-SNE, per-class report.
* :mod:`~audiospec_utils.explain.maps`: Maps on a clip's spectrogram grid: where they can be made, where
  they lie, and how they sound.
* :mod:`~audiospec_utils.explain.methods`: The two ways of making a map of a batch of windows for one
  class: Grad-CAM and occlusion.

Every public name below is importable from here (``from audiospec_utils.explain import ...``); it is
imported from its module when first asked for (``lazy_loader``, as librosa does), so that importing
one module of the subpackage never loads the heavy libraries (torch, fastai) another needs.
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(__name__, submod_attrs={
    "blend": ["EVIDENCE", "TAPERS", "window_evidence", "window_taper", "blend_windows"],
    "display": ["plot_clip", "plot_examples", "plot_kinds", "show_spectrogram", "show_image", "plot_crop_windows"],
    "explanation": ["plot_explanation", "plot_mean_maps", "EXPLAIN_JSON", "Explanation", "explain_clip",
                    "explain_files", "save_explanation", "explain_validation"],
    "interpret": ["load_run", "predict_with_embeddings", "clip_embeddings", "confusion_table",
                  "plot_confusion_matrix", "most_confused", "per_class_report", "plot_per_class", "plot_top_losses",
                  "top_losses", "plot_tsne", "tsne_style", "windows_dataloader", "interpret_run"],
    "maps": ["check_explainable", "map_frequencies", "map_stats", "mean_map", "place_windows", "image_maps_to_clip",
             "explained_audio"],
    "methods": ["METHODS", "WEIGHTINGS", "AUTO_ROWS", "gradcam", "occlusion", "stages", "resolve_layer",
                "auto_stages"],
})
