"""Scores you can trust: held-out evaluation, cross-validation by group, baselines and spectrogram kinds
compared, and the course's paired experiments.

Modules
-------
* :mod:`~audiospec_utils.assess.baselines`: The baselines the image approach is compared with: gradient boosting on log-mel statistics, a small CNN.
* :mod:`~audiospec_utils.assess.compare`: Does the image approach earn its cost? Baselines and spectrogram kinds on the same clips and split.
* :mod:`~audiospec_utils.assess.cv`: Cross-validation: one model per fold, each fold held out once; the field's way to compare recipes.
* :mod:`~audiospec_utils.assess.evaluate`: Score a trained run on a test split, per clip, and write a Kaggle submission.
* :mod:`~audiospec_utils.assess.experiments`: Small controlled experiments behind the course's claims: one split, one change at a time, intervals.
* :mod:`~audiospec_utils.assess.image_classifier`: The image rows of a comparison: a CNN trained with fastai on one kind of spectrogram image.

Every public name below is importable from here (``from audiospec_utils.assess import ...``); it is
imported from its module when first asked for, so that importing one module of the subpackage never
loads the heavy libraries (torch, fastai) another needs.
"""

from __future__ import annotations

import importlib

#: Each public name and the module (of this subpackage) that defines it.
_WHERE = {
    "STATS": "baselines",
    "logmel_stats": "baselines",
    "stats_feature_names": "baselines",
    "clip_features": "baselines",
    "GBMBaseline": "baselines",
    "COMPARE_CONFIG": "compare",
    "ROWS": "compare",
    "ROW_GROUPS": "compare",
    "COLUMNS": "compare",
    "COMPARISON_TABLE": "compare",
    "COMPARISON_CHART": "compare",
    "ROW_RESULT": "compare",
    "score_clip_predictions": "compare",
    "evaluate": "compare",
    "compare": "compare",
    "plot_comparison": "compare",
    "select_rows": "compare",
    "cross_validate": "cv",
    "CV_COLUMNS": "cv",
    "CV_TABLE": "cv",
    "CV_CHART": "cv",
    "FOLDS_TABLE": "cv",
    "FOLD_RESULT": "cv",
    "plot_cv": "cv",
    "split_leakage": "cv",
    "load_test_split": "evaluate",
    "fallback_labels": "evaluate",
    "evaluate_run": "evaluate",
    "write_submission": "evaluate",
    "format_test_score": "evaluate",
    "format_interval": "evaluate",
    "per_class_table": "evaluate",
    "experiment_split": "experiments",
    "render_squished": "experiments",
    "train_variant": "experiments",
    "experiment_table": "experiments",
    "paired_difference": "experiments",
    "verdict": "experiments",
    "ImageClassifier": "image_classifier",
    "check_positive_ints": "image_classifier",
}

__all__ = list(_WHERE)


def __getattr__(name):
    if name in _WHERE:
        return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
