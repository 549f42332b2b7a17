"""Model: the training configuration, crops and augmentation, DataLoaders, the Learner, schedules and
callbacks, resume, the window-averaged clip scores, and the run folder that training writes.

Modules
-------
* :mod:`~audiospec_utils.learn.augment`: The augmentations of spectrogram batches, as functions on tensors: SpecAugment masks and time shift.
* :mod:`~audiospec_utils.learn.callbacks`: The toolkit's fastai callbacks, each a small module-level class, and what a Learner shows while it trains.
* :mod:`~audiospec_utils.learn.config`: The training configuration: every option of a training, said once, and the recipes as instances of it.
* :mod:`~audiospec_utils.learn.crops`: Where crops and windows fall in a spectrogram image: the time geometry of training and prediction, in frames.
* :mod:`~audiospec_utils.learn.dataloaders`: Where the data meets the model: fixed-length time crops of spectrograms, batched on the device.
* :mod:`~audiospec_utils.learn.distributed`: Training on several GPUs or machines: processes started by Hugging Face Accelerate, fastai's ``distrib_ctx``.
* :mod:`~audiospec_utils.learn.estimator`: The estimator: a spectrogram classifier built from a :class:`~audiospec_utils.learn.config.TrainingConfig`.
* :mod:`~audiospec_utils.learn.inference`: Clip inference, written once: windows -> class probabilities -> one prediction per clip.
* :mod:`~audiospec_utils.learn.metrics`: Evaluation metrics, MAP@3 (the FSDKaggle2018 competition metric) first among them.
* :mod:`~audiospec_utils.learn.resume`: Training that survives a disconnect: a checkpoint after every epoch, and a resume that matches.
* :mod:`~audiospec_utils.learn.run`: The run folder: what training writes, and what evaluation, prediction and interpretation read.
* :mod:`~audiospec_utils.learn.schedules`: The training schedules of fastai, as stages of ``fit_one_cycle``, with checkpoints, history and resume.
* :mod:`~audiospec_utils.learn.time_estimate`: Say the cost first: how long a training will take on this machine, from its first batches.
* :mod:`~audiospec_utils.learn.train`: Fine-tune an ImageNet CNN on spectrogram crops with fastai: one call from a render folder to a run folder.

Every public name below is importable from here (``from audiospec_utils.learn import ...``); it is
imported from its module when first asked for, so that importing one module of the subpackage never
loads the heavy libraries (torch, fastai) another needs.
"""

from __future__ import annotations

import importlib

#: Each public name and the module (of this subpackage) that defines it.
_WHERE = {
    "band_mask": "augment",
    "mask_bands": "augment",
    "circular_time_shift": "augment",
    "RESUME_VERSION": "callbacks",
    "save_atomic": "callbacks",
    "random_states": "callbacks",
    "restore_random_states": "callbacks",
    "InterruptGuard": "callbacks",
    "EpochHistory": "callbacks",
    "EpochCheckpoint": "callbacks",
    "SkipFinishedEpochs": "callbacks",
    "CpuBfloat16": "callbacks",
    "silence": "callbacks",
    "remove_progress_bar": "callbacks",
    "recorder_state": "callbacks",
    "restore_recorder": "callbacks",
    "TrainingConfig": "config",
    "RECIPES": "config",
    "DEFAULT_LR": "config",
    "ARCHS": "config",
    "resolve_recipe": "config",
    "add_config_options": "config",
    "config_from_args": "config",
    "option_help": "config",
    "device_name": "config",
    "auto_normalize": "config",
    "cpu_computes_bf16": "config",
    "window_starts": "crops",
    "window_layout": "crops",
    "random_crop_starts": "crops",
    "frames_per_second": "crops",
    "default_crop_seconds": "crops",
    "crop_geometry": "crops",
    "SpecAugment": "dataloaders",
    "TimeShift": "dataloaders",
    "spectrogram_augmentations": "dataloaders",
    "SpectrogramBatch": "dataloaders",
    "CropItems": "dataloaders",
    "SpectrogramDL": "dataloaders",
    "SpectrogramDataLoaders": "dataloaders",
    "spectrogram_dataloaders": "dataloaders",
    "IMAGENET_STATS": "dataloaders",
    "NORMALIZE": "dataloaders",
    "world_size": "distributed",
    "rank": "distributed",
    "is_distributed": "distributed",
    "is_main_process": "distributed",
    "check_launch": "distributed",
    "init_process": "distributed",
    "main_process_first": "distributed",
    "distrib_ctx": "distributed",
    "revert_sync_batchnorm": "distributed",
    "SpectrogramClassifier": "estimator",
    "save_run": "estimator",
    "params_for_run": "estimator",
    "load_imagenet_weights": "estimator",
    "create_learner": "estimator",
    "to_device_precision": "estimator",
    "adamw": "estimator",
    "small_cnn": "estimator",
    "window_probabilities": "inference",
    "mean_per_image": "inference",
    "image_probabilities": "inference",
    "clip_predictions": "inference",
    "valid_clip_predictions": "inference",
    "FileWindows": "inference",
    "predict_windows": "inference",
    "map_at_k": "metrics",
    "map_at_3": "metrics",
    "clip_scores": "metrics",
    "grouped_bootstrap_interval": "metrics",
    "clip_score_intervals": "metrics",
    "load_training_state": "resume",
    "settings_difference": "resume",
    "describe_difference": "resume",
    "restore_training_state": "resume",
    "resumable_state": "resume",
    "Run": "run",
    "as_run": "run",
    "SCHEDULES": "schedules",
    "fit": "schedules",
    "schedule_stages": "schedules",
    "find_learning_rate": "schedules",
    "TimeEstimate": "time_estimate",
    "expected_seconds": "time_estimate",
    "format_estimate": "time_estimate",
    "VALID_BATCH_SHARE": "time_estimate",
    "training_table": "train",
    "train_classifier": "train",
    "read_history": "train",
}

__all__ = list(_WHERE)


def __getattr__(name):
    if name in _WHERE:
        return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
