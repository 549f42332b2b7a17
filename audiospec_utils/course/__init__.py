"""The notebooks' front end: the course configuration (platform, data, weights), its widgets and the
spectrogram explorer.

Modules
-------
* :mod:`~audiospec_utils.course.config`: Settings shared by the course notebooks, and idempotent steps
  they call.
* :mod:`~audiospec_utils.course.explorer`: An interactive spectrogram explorer for the course
  (ipywidgets).
* :mod:`~audiospec_utils.course.widgets`: Jupyter widgets of the course: upload a clip and see what the
  model hears; browse top losses.

Every public name below is importable from here (``from audiospec_utils.course import ...``); it is
imported from its module when first asked for (``lazy_loader``, as librosa does), so that importing
one module of the subpackage never loads the heavy libraries (torch, fastai) another needs.
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(__name__, submod_attrs={
    "config": ["CourseConfig", "course_config", "project_root", "detect_platform", "platform_dirs",
               "find_fsdkaggle2018_root", "find_weights_file", "check_runtime", "get_dataset", "course_table",
               "render_course_spectrograms", "train_course_model", "split_leakage_demo", "own_sounds_folder",
               "EXAMPLE_GROUP_PATTERN"],
    "explorer": ["SpectrogramExplorer", "StaticExplorer", "STATIC_NOTE"],
    "widgets": ["PredictWidget", "predict_widget", "spectrogram_png", "bar_chart_png", "top_losses_widget"],
})
