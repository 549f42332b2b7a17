"""The notebooks' front end: the course configuration (platform, data, weights), its widgets and the
spectrogram explorer.

Modules
-------
* :mod:`~audiospec_utils.course.config`: Settings shared by the course notebooks, and idempotent steps they call.
* :mod:`~audiospec_utils.course.explorer`: An interactive spectrogram explorer for the course (ipywidgets).
* :mod:`~audiospec_utils.course.widgets`: Jupyter widgets of the course: upload a clip and see what the model hears; browse top losses.

Every public name below is importable from here (``from audiospec_utils.course import ...``); it is
imported from its module when first asked for, so that importing one module of the subpackage never
loads the heavy libraries (torch, fastai) another needs.
"""

from __future__ import annotations

import importlib

#: Each public name and the module (of this subpackage) that defines it.
_WHERE = {
    "CourseConfig": "config",
    "course_config": "config",
    "project_root": "config",
    "detect_platform": "config",
    "platform_dirs": "config",
    "find_fsdkaggle2018_root": "config",
    "find_weights_file": "config",
    "check_runtime": "config",
    "get_dataset": "config",
    "course_table": "config",
    "render_course_spectrograms": "config",
    "train_course_model": "config",
    "split_leakage_demo": "config",
    "own_sounds_folder": "config",
    "EXAMPLE_GROUP_PATTERN": "config",
    "explorer": "explorer",
    "SpectrogramExplorer": "explorer",
    "StaticExplorer": "explorer",
    "STATIC_NOTE": "explorer",
    "PredictWidget": "widgets",
    "predict_widget": "widgets",
    "spectrogram_png": "widgets",
    "bar_chart_png": "widgets",
    "top_losses_widget": "widgets",
}

__all__ = list(_WHERE)


def __getattr__(name):
    if name in _WHERE:
        return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
