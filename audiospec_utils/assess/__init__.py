"""Scores you can trust: held-out evaluation, cross-validation by group, baselines and spectrogram kinds
compared, and the course's paired experiments.

Modules
-------
* :mod:`~audiospec_utils.assess.baselines`: The baselines the image approach is compared with: gradient
  boosting on log-mel statistics, a small CNN.
* :mod:`~audiospec_utils.assess.compare`: Does the image approach earn its cost? Baselines and
  spectrogram kinds on the same clips and split.
* :mod:`~audiospec_utils.assess.cv`: Cross-validation: one model per fold, each fold held out once; the
  field's way to compare recipes.
* :mod:`~audiospec_utils.assess.evaluate`: Score a trained run on a test split, per clip, and write a
  Kaggle submission.
* :mod:`~audiospec_utils.assess.experiments`: Small controlled experiments behind the course's claims:
  one split, one change at a time, intervals.
* :mod:`~audiospec_utils.assess.image_classifier`: The image rows of a comparison: a CNN trained with
  fastai on one kind of spectrogram image.

Every public name below is importable from here (``from audiospec_utils.assess import ...``); it is
imported from its module when first asked for (``lazy_loader``, as librosa does), so that importing
one module of the subpackage never loads the heavy libraries (torch, fastai) another needs.
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(__name__, submod_attrs={
    "baselines": ["STATS", "logmel_stats", "stats_feature_names", "clip_features", "GBMBaseline"],
    "compare": ["COMPARE_CONFIG", "ROWS", "ROW_GROUPS", "COLUMNS", "COMPARISON_TABLE", "COMPARISON_CHART",
                "ROW_RESULT", "score_clip_predictions", "plot_comparison", "select_rows"],
    "cv": ["cross_validate", "CV_COLUMNS", "CV_TABLE", "CV_CHART", "FOLDS_TABLE", "FOLD_RESULT", "plot_cv",
           "split_leakage"],
    "evaluate": ["load_test_split", "fallback_labels", "evaluate_run", "write_submission", "format_test_score",
                 "format_interval", "per_class_table"],
    "experiments": ["experiment_split", "render_squished", "train_variant", "experiment_table", "paired_difference",
                    "verdict"],
    "image_classifier": ["ImageClassifier", "check_positive_ints"],
})
