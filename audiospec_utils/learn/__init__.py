"""Model: the training configuration, crops and augmentation, DataLoaders, the Learner, schedules and
callbacks, resume, the window-averaged clip scores, and the run folder that training writes.

Modules
-------
* :mod:`~audiospec_utils.learn.augment`: The augmentations of spectrogram batches, as functions on
  tensors: SpecAugment masks and time shift.
* :mod:`~audiospec_utils.learn.callbacks`: The toolkit's fastai callbacks, each a small module-level
  class, and what a Learner shows while it trains.
* :mod:`~audiospec_utils.learn.config`: The training configuration: every option of a training, said
  once, and the recipes as instances of it.
* :mod:`~audiospec_utils.learn.crops`: Where crops and windows fall in a spectrogram image: the time
  geometry of training and prediction, in frames.
* :mod:`~audiospec_utils.learn.dataloaders`: Where the data meets the model: fixed-length time crops of
  spectrograms, batched on the device.
* :mod:`~audiospec_utils.learn.distributed`: Training on several GPUs or machines: processes started by
  Hugging Face Accelerate, fastai's ``distrib_ctx``.
* :mod:`~audiospec_utils.learn.estimator`: The estimator: a spectrogram classifier built from a
  :class:`~audiospec_utils.learn.config.TrainingConfig`.
* :mod:`~audiospec_utils.learn.inference`: Clip inference, written once: windows -> class probabilities
  -> one prediction per clip.
* :mod:`~audiospec_utils.learn.metrics`: Evaluation metrics, MAP@3 (the FSDKaggle2018 competition
  metric) first among them.
* :mod:`~audiospec_utils.learn.resume`: Training that survives a disconnect: a checkpoint after every
  epoch, and a resume that matches.
* :mod:`~audiospec_utils.learn.run`: The run folder: what training writes, and what evaluation,
  prediction and interpretation read.
* :mod:`~audiospec_utils.learn.schedules`: The training schedules of fastai, as stages of
  ``fit_one_cycle``, with checkpoints, history and resume.
* :mod:`~audiospec_utils.learn.time_estimate`: Say the cost first: how long a training will take on this
  machine, from its first batches.
* :mod:`~audiospec_utils.learn.train`: Fine-tune an ImageNet CNN on spectrogram crops with fastai: one
  call from a render folder to a run folder.

Every public name below is importable from here (``from audiospec_utils.learn import ...``); it is
imported from its module when first asked for (``lazy_loader``, as librosa does), so that importing
one module of the subpackage never loads the heavy libraries (torch, fastai) another needs.
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(__name__, submod_attrs={
    "augment": ["band_mask", "mask_bands", "circular_time_shift", "low_pass_rows"],
    "callbacks": ["RESUME_VERSION", "save_atomic", "random_states", "restore_random_states", "InterruptGuard",
                  "EpochValidation", "EpochHistory", "EpochCheckpoint", "SkipFinishedEpochs", "CpuBfloat16",
                  "silence", "remove_progress_bar", "recorder_state", "restore_recorder"],
    "config": ["TrainingConfig", "RECIPES", "QUICK_LOW_PASS", "DEFAULT_LR", "ARCHS", "resolve_recipe",
               "add_config_options", "config_from_args", "option_help", "device_name", "auto_normalize",
               "cpu_computes_bf16"],
    "crops": ["middle_windows", "window_starts", "window_layout", "random_crop_starts", "frames_per_second",
              "default_crop_seconds", "crop_geometry", "CropGeometry", "crop_coverage", "EVENT_COVERAGE",
              "WHOLE_CLIP_MAX_SECONDS"],
    "dataloaders": ["SpecAugment", "TimeShift", "LowPass", "LOW_PASS_HZ", "spectrogram_augmentations",
                    "SpectrogramBatch", "CropItems", "SpectrogramDL", "SpectrogramDataLoaders",
                    "spectrogram_dataloaders", "IMAGENET_STATS", "NORMALIZE"],
    "distributed": ["world_size", "rank", "is_distributed", "is_main_process", "check_launch", "init_process",
                    "main_process_first", "distrib_ctx", "revert_sync_batchnorm"],
    "estimator": ["SpectrogramClassifier", "save_run", "params_for_run", "load_imagenet_weights", "create_learner",
                  "to_device_precision", "adamw", "small_cnn"],
    "inference": ["window_probabilities", "mean_per_image", "image_probabilities", "clip_predictions",
                  "valid_clip_predictions", "FileWindows", "predict_windows"],
    "metrics": ["map_at_k", "map_at_3", "clip_scores", "grouped_bootstrap_interval", "clip_score_intervals"],
    "resume": ["load_training_state", "settings_difference", "describe_difference", "restore_training_state",
               "resumable_state"],
    "run": ["Run", "as_run"],
    "schedules": ["SCHEDULES", "fit", "schedule_stages", "find_learning_rate"],
    "time_estimate": ["TimeEstimate", "expected_seconds", "format_estimate", "VALID_BATCH_SHARE"],
    "train": ["training_table", "train_classifier", "read_history"],
})
