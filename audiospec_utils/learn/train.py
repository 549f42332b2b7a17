"""Fine-tune an ImageNet CNN on spectrogram crops with fastai: one call from a render folder to a run folder.

The path is the fastai one: :func:`~audiospec_utils.learn.dataloaders.spectrogram_dataloaders` turns a
render folder into DataLoaders of fixed-length time crops,
:func:`~audiospec_utils.learn.learner.create_learner` builds a ResNet-34 with a new head
(``vision_learner``), :func:`~audiospec_utils.learn.schedules.fit` trains it (``fine_tune`` from ImageNet
weights, ``fit_one_cycle`` from scratch), and :func:`save_run` scores the validation clips (windows
averaged, :mod:`audiospec_utils.learn.inference`) and exports the Learner into the run folder. These are
re-exported here, where notebook 03 imports them. :func:`train_classifier` does all of it in one
call, with a **recipe** of defaults (:data:`~audiospec_utils.learn.recipes.RECIPES`) that the individual
options override, and in named steps: the settings, the images, the processes, the starting point
(resume or learning-rate finder), the fit, the run folder.

Scores are honest: the validation clips never share a source recording (``group``) with a training
clip (:mod:`audiospec_utils.audio.splits`), ``metrics.json`` says how the split was made, and the
validation accuracy comes with a 95% interval from a bootstrap over groups
(:func:`audiospec_utils.learn.metrics.clip_score_intervals`).
"""

from __future__ import annotations

import dataclasses
import logging
import sys
import time

import numpy as np
import pandas as pd
import torch
from fastai.callback.core import Callback
from fastai.learner import Recorder, noop  # noop: the one fastai's no_logging() puts in place

from ..audio.datasets import groups_from_pattern
from ..exceptions import DatasetError, ParameterError, TrainingInterrupted
from ..features.folders import MANIFEST, RenderFolder
from ..fileio import atomic_path, write_csv_atomic, write_text_atomic
from ..progress import show_progress
from .callbacks import CpuBfloat16, remove_progress_bar
from .dataloaders import spectrogram_dataloaders
from .distributed import (
    check_launch,
    distrib_ctx,
    init_process,
    is_distributed,
    is_main_process,
    main_process_first,
    rank,
    world_size,
)
from .inference import valid_clip_predictions
from .learner import create_learner
from .metrics import clip_score_intervals, clip_scores
from .recipes import auto_normalize, device_name, resolve_recipe
from .resume import resumable_state
from .run import Run
from .schedules import find_learning_rate, fit

__all__ = ["training_table", "save_run", "params_for_run", "train_classifier", "read_history"]

logger = logging.getLogger(__name__)


def training_table(spec_dir, *, split: str = "train", manually_verified_only: bool = False) -> pd.DataFrame:
    """The images of a render folder that can be trained on (or tested), with absolute paths.

    Parameters
    ----------
    spec_dir : str or os.PathLike
        Folder written by :func:`audiospec_utils.features.render.render_spectrograms`.
    split : str
        ``"train"`` (labelled images) or ``"test"``.
    manually_verified_only : bool
        Keep only rows with ``manually_verified == 1`` (FSDKaggle2018).

    Returns
    -------
    pandas.DataFrame
        Manifest rows with an image, plus ``image_path`` (absolute).

    Raises
    ------
    DatasetError
        No usable images, or fewer than two labels.
    """
    folder = RenderFolder(spec_dir)
    if split == "train":
        return folder.training_images(manually_verified_only=manually_verified_only)
    df = folder.images(split=split)
    if df.empty:
        raise DatasetError(f"{folder.path}: no rendered {split} images in {MANIFEST}")
    return df


def read_history(run_dir) -> pd.DataFrame:
    """The per-epoch history of a run (:meth:`audiospec_utils.learn.run.Run.history`).

    Returns
    -------
    pandas.DataFrame
        One row per epoch: ``epoch`` (from 0, over all stages), ``stage`` (``"frozen"``,
        ``"unfrozen"`` or ``"one_cycle"``), ``train_loss``, ``valid_loss``, ``accuracy``,
        ``error_rate``, ``map_at_3``, ``time``.

    Raises
    ------
    DatasetError
        The run folder has no history.
    """
    return Run(run_dir).history()


class EpochRows(Callback):
    """fastai's epoch table as plain lines, for output that is no terminal (``make demo > log``, CI).

    fastprogress draws its progress bars with carriage returns into any stdout; where they would
    pile up in a log, this prints only the header and one row per epoch, as the table looks in a
    terminal.
    """
    order = Recorder.order + 10  # the recorder's metric names are set

    def before_fit(self):
        self._previous = None
        if self.learn.logger is noop:  # get_preds / validate: fastai logs nothing there
            return
        self._previous, self.learn.logger = self.learn.logger, self._write
        names = list(self.recorder.metric_names)
        self._widths = [max(8, len(name)) for name in names]
        print("  ".join(f"{name:<{w}}" for name, w in zip(names, self._widths)), flush=True)

    def _write(self, log):
        cells = [f"{v:.6f}" if isinstance(v, float) else str(v) for v in log]
        print("  ".join(f"{c:<{w}}" for c, w in zip(cells, self._widths)), flush=True)

    def after_fit(self):
        if self._previous is not None:
            self.learn.logger, self._previous = self._previous, None


def params_for_run(folder: RenderFolder):
    """The spectrogram parameters a run trained on `folder` renders new audio with.

    The render folder's parameters, with :attr:`~audiospec_utils.features.SpectrogramParams.segment_seconds`
    set to the duration of the longest clip of the folder's manifest (with ``clip_policy="full"``,
    when the render did not set it). Every clip of the folder (training, validation and test) is
    then made into the same image as before, while a longer recording is read as segments of that
    length, each with its own dB reference: the quiet part of a long field recording is rendered
    as it would be alone, as bright as the training clips were, not darkened by the loudest moment
    elsewhere in the file.

    Parameters
    ----------
    folder : RenderFolder

    Returns
    -------
    SpectrogramParams or None
        ``None`` when the folder has no ``params.json``.

    Raises
    ------
    DatasetError
        ``params.json`` or ``manifest.csv`` is unreadable.
    """
    if not folder.params_file.is_file():
        return None
    params = folder.params
    if params.clip_policy != "full" or params.segment_seconds is not None or not folder.manifest_file.is_file():
        return params
    durations = pd.to_numeric(folder.manifest()["duration"], errors="coerce").dropna()
    durations = durations[durations > 0]
    if durations.empty:
        return params
    return dataclasses.replace(params, segment_seconds=float(durations.max()))


def save_run(learn, dls, out_dir, **settings) -> dict:
    """Score the validation clips and save the run: metrics, split, predictions, exported learner.

    Parameters
    ----------
    learn : fastai.learner.Learner
        A trained learner.
    dls : SpectrogramDataLoaders
        From :func:`spectrogram_dataloaders` (its ``valid_table``, ``train_table`` and ``split``).
    out_dir : audiospec_utils.learn.run.Run or str or os.PathLike
        Run folder.
    **settings
        Recorded in ``metrics.json`` as they are (epochs, seconds, arch...). A ``spec_dir``
        setting (the render folder) also has its parameters written to the run's ``params.json``
        (:func:`params_for_run`: the render's, with ``segment_seconds`` set to its longest
        clip), so that evaluation and prediction render new audio exactly as the training images
        were, and read a longer recording as parts of the length the model knows.

    Returns
    -------
    dict
        ``accuracy``, ``error_rate``, ``map_at_3`` (per clip: the probabilities of a clip's windows
        are averaged), ``valid_interval`` (95% intervals from a bootstrap over groups, see
        :func:`audiospec_utils.learn.metrics.clip_score_intervals`), ``split`` (how it was made:
        :meth:`audiospec_utils.audio.splits.Split.to_dict`), ``n_train``, ``n_valid`` (clips),
        ``classes``, ``train_label_counts``, ``crop`` (height, crop length and normalisation),
        ``device`` and `settings`; written to ``metrics.json``. Also writes
        ``valid_predictions.csv`` (per-clip probabilities), ``valid_items.csv`` (validation
        windows), ``split.csv``, ``params.json`` and ``export.pkl`` (``learn.export``).
    """
    run = Run(out_dir)
    run.path.mkdir(parents=True, exist_ok=True)
    vocab = list(dls.vocab)
    clip_preds = valid_clip_predictions(learn, dls)
    write_csv_atomic(clip_preds, run.file(Run.VALID_PREDICTIONS))
    train_clips = dls.train_table.drop_duplicates("clip_id")
    counts = train_clips["label"].value_counts()
    split = dls.split
    groups = split.clips.set_index("clip_id")["group"] if split is not None else None
    metrics = {
        **clip_scores(clip_preds, vocab),
        "valid_interval": clip_score_intervals(clip_preds, vocab, groups),
        "split": split.to_dict() if split is not None else None,
        "n_train": int(len(train_clips)),
        "n_valid": int(len(clip_preds)),
        "classes": vocab,
        "train_label_counts": {str(k): int(v) for k, v in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))},
        "crop": dict(dls.config),
        **settings,
        "device": device_name(),
        "torch_threads": torch.get_num_threads(),
    }
    run.write_metrics(metrics)
    if split is not None:
        write_csv_atomic(split.clips[["clip_id", "label", "group", "fold", "side"]], run.file(Run.SPLIT))
    spec_dir = settings.get("spec_dir")
    if spec_dir:
        run_params = params_for_run(RenderFolder(spec_dir))
        if run_params is not None:
            write_text_atomic(run.file(Run.PARAMS), run_params.to_json())
    write_csv_atomic(dls.valid_table, run.file(Run.VALID_ITEMS))
    with atomic_path(run.file(Run.EXPORT)) as tmp:
        learn.export(tmp)
    return metrics


def train_classifier(spec_dir, out_dir, *, recipe: str = "auto", arch: str | None = None, epochs: int | None = None,
                     img_size: int | None = None, crop_seconds: float | None = None, valid_pct: float = 0.2,
                     seed: int = 42, bs: int | None = None, lr: float | None = None, pretrained: bool = True,
                     weights=None, freeze_epochs: int = 1, manually_verified_only: bool = False,
                     label_smoothing: float | None = None, progress: bool = True, schedule: str = "auto",
                     unfrozen_lr=None, lr_find: bool = False, lr_find_iters: int = 100,
                     spec_augment: bool | None = None, time_shift: float | None = None, mixup: float | None = None,
                     verified_weight: float | None = None, normalize: str = "auto", test_fold=None, valid_fold=None,
                     group_pattern: str | None = None, folds=None, num_workers: int | None = None,
                     restart: bool = False, cpu_bf16: bool | None = None):
    """Train a classifier on a render folder and save everything in a run folder.

    :func:`spectrogram_dataloaders`, :func:`create_learner`, :func:`fit` and :func:`save_run`
    in one call (notebook 03 shows them one by one).

    Parameters
    ----------
    spec_dir : str or os.PathLike
        Render folder (``manifest.csv``, ``images/``).
    out_dir : str or os.PathLike
        Run folder (created): ``export.pkl``, ``metrics.json``, ``history.csv``, ``split.csv``,
        ``valid_predictions.csv``, ``valid_items.csv``, ``models/last.pth``.
    recipe : {"auto", "quick", "full"}
        The defaults of every setting below that is left at ``None`` (:data:`RECIPES`): ``quick``
        for a CPU, ``full`` for a GPU; ``auto`` picks by the device.
    arch : {"resnet18", "resnet34", "resnet50"} or None
        The network; None: the recipe's (``quick``: ResNet-18 from scratch, ResNet-34 with ImageNet
        weights; ``full``: ResNet-34; README "Recipes" says why). ``metrics.json`` records the one
        used.
    epochs : int or None
        Epochs of one-cycle training (after `freeze_epochs` frozen ones when pretrained).
    img_size : int or None
        Image height in pixels (images are resized in height only; time keeps one column per frame).
    crop_seconds : float or None
        Length of the training crops and of the windows averaged at validation, in seconds; None:
        from the clips' durations (:func:`audiospec_utils.learn.dataloaders.default_crop_seconds`), at
        most the recipe's ``max_crop_seconds`` (``quick`` 1 s, ``full`` 4 s).
    valid_pct, seed, bs :
        Validation share (grouped when the manifest has groups), random seed (split, init,
        shuffling, crops), batch size.
    lr : float or None
        Peak learning rate; default 2e-3 (fine_tune) or 3e-3 (from scratch).
    pretrained : bool
        ImageNet weights (default) then ``fine_tune``; ``False``: random init and ``fit_one_cycle``.
    weights : str or os.PathLike or None
        Local ImageNet weights file (see :func:`load_imagenet_weights`).
    freeze_epochs : int
        Epochs with the pretrained body frozen, before unfreezing (``fine_tune``).
    manually_verified_only : bool
        FSDKaggle2018: train only on manually verified clips.
    label_smoothing : float or None
        Label smoothing of the cross-entropy (0 = plain cross-entropy).
    progress : bool
        Show fastai's progress bars.
    schedule : {"auto", "fine_tune", "one_cycle", "unfreeze"}
        See :func:`fit`.
    unfrozen_lr : (float, float) or None
        Discriminative rates ``slice(lo, hi)`` of the unfrozen stage of ``"unfreeze"``.
    lr_find : bool
        Run :func:`find_learning_rate` first and train with its ``valley`` suggestion (unless
        `lr` is given); the plot is saved as ``lr_find.png`` and the suggestions in
        ``metrics.json`` (``lr_find``).
    lr_find_iters : int
        Mini-batches of the learning-rate sweep.
    spec_augment, time_shift, mixup :
        Augmentation of the training batches (SpecAugment masking, circular time shift as a fraction
        of the crop, MixUp alpha; see :mod:`audiospec_utils.learn.dataloaders` and :func:`fit`).
    verified_weight : float or None
        Sampling weight of manually verified clips (FSDKaggle2018).
    normalize : {"auto", "imagenet", "dataset"}
        Per-channel statistics of the images: ``auto`` takes ImageNet's with pretrained weights
        (what they were trained with) and the training images' own from scratch.
    test_fold : str or int or None
        A fold held out altogether (neither trained on nor validated on), for
        :func:`audiospec_utils.assess.evaluate.evaluate_run` to score afterwards.
    valid_fold : str or int or None
        Validate on this fold instead of a grouped share of the training folds.
    group_pattern : str or None
        A regex whose first capture group in each clip's file name is its group (source
        recording, speaker...), when the render folder has none (see
        :func:`audiospec_utils.audio.datasets.groups_from_pattern`).
    folds : pandas.Series or None
        Folds to use instead of the manifest's (``clip_id`` -> fold), as
        :func:`audiospec_utils.assess.cv.cross_validate` gives when the data has none.
    num_workers : int or None
        DataLoader worker processes (default 0: crops are slices of one array).
    restart : bool
        Start over even when the run folder holds an interrupted training (see Notes).
    cpu_bf16 : bool or None
        On a CPU with bfloat16 instructions, the training batches in bf16 autocast
        (:class:`audiospec_utils.learn.callbacks.CpuBfloat16`); None: the recipe's. ``metrics.json``
        records whether it was used (``cpu_bf16``); evaluation and prediction compute in float32.

    Returns
    -------
    learn : fastai.learner.Learner
        The trained learner (its last epoch).
    metrics : dict
        What ``metrics.json`` holds (see :func:`save_run`): ``accuracy``, ``error_rate``,
        ``map_at_3``, ``valid_interval``, ``split``, ``n_train``, ``n_valid``, ``classes``,
        ``epochs``, ``seconds``, ``recipe`` and every setting above.

    Notes
    -----
    With the same `seed`, two runs on the CPU give the same weights, history and metrics
    (``fastai.torch_core.set_seed(seed, reproducible=True)``). On a GPU, cuDNN and mixed
    precision may still differ in the last digits. Started by ``accelerate launch`` (several
    processes), training runs in fastai's ``distrib_ctx`` and only the main process writes the run
    folder.

    Raises
    ------
    DatasetError
        The render folder has no usable images, one label only, or too few groups to split.
    WeightsUnavailableError
        Pretrained weights unavailable (see :func:`load_imagenet_weights`).
    ParameterError
        A parameter is out of range, or a fold the data does not have.
    TrainingInterrupted
        Ctrl-C (KeyboardInterrupt) during training: the message says where the last finished epoch
        is saved and that running the same training again resumes it.
    ParameterError
        Also: the run folder holds an interrupted training with other settings (named), and
        `restart` is not set.

    Notes
    -----
    **Resume.** After every epoch the whole training state is saved in ``models/resume.pth``
    (:mod:`audiospec_utils.learn.resume`). Calling this again with the same settings and `out_dir`
    after an interruption (Ctrl-C, a killed process, a dead kernel, a disconnected Colab runtime)
    continues at the next epoch, and logs "resuming at epoch k of N"; with the same seed on the
    CPU the result is the uninterrupted run's. ``restart=True`` starts over instead (the old
    weights are kept as ``models/last_interrupted_<time>.pth``). A finished run (``metrics.json``)
    is trained again from the start. Resume needs one process: under ``accelerate launch`` the
    training starts over.
    """
    from fastai.vision.all import set_seed

    cfg = _checked_recipe(recipe, normalize=normalize, lr_find=lr_find, arch=arch, img_size=img_size, epochs=epochs,
                          bs=bs, crop_seconds=crop_seconds, spec_augment=spec_augment, time_shift=time_shift,
                          mixup=mixup, label_smoothing=label_smoothing, lr=lr, cpu_bf16=cpu_bf16)
    start = time.time()
    # each process its own random crops and augmentations (rank 0 as in one process); DDP gives all rank 0's weights
    set_seed(seed + rank(), reproducible=True)
    use_pretrained = pretrained or weights is not None
    if arch is None and use_pretrained:  # the ImageNet weights a learner attaches are ResNet-34's
        cfg["arch"] = cfg["pretrained_arch"]
    norm = auto_normalize(use_pretrained) if normalize == "auto" else normalize
    folder, run = RenderFolder(spec_dir), Run(out_dir)
    table = _training_images(folder, manually_verified_only=manually_verified_only, group_pattern=group_pattern,
                             folds=folds)
    device = _join_processes(folder, int(cfg["img_size"]), progress=progress)
    dls = spectrogram_dataloaders(folder, table=table, img_size=cfg["img_size"], crop_seconds=cfg["crop_seconds"],
                                  max_crop_seconds=cfg["max_crop_seconds"], valid_pct=valid_pct, seed=seed,
                                  bs=cfg["bs"], spec_augment=cfg["spec_augment"],
                                  time_shift=cfg["time_shift"], verified_weight=verified_weight,
                                  test_fold=test_fold, valid_fold=valid_fold, normalize=norm,
                                  num_workers=num_workers, progress=progress, device=device)
    logger.info("%s", dls.split.describe())
    learn = create_learner(dls, cfg["arch"], pretrained=use_pretrained, weights=weights, path=run.path,
                           label_smoothing=cfg["label_smoothing"], cpu_bf16=cfg["cpu_bf16"])
    _show_training(learn, progress)
    run_settings = dict(recipe=cfg["recipe"], arch=cfg["arch"], epochs=int(cfg["epochs"]), img_size=int(cfg["img_size"]),
                        bs=int(cfg["bs"]), lr=cfg["lr"], crop_seconds=dls.config["crop_seconds"],
                        pretrained=bool(use_pretrained), weights=str(weights) if weights is not None else None,
                        normalize=norm, valid_pct=valid_pct, seed=int(seed), schedule=schedule,
                        freeze_epochs=int(freeze_epochs), lr_find=bool(lr_find),
                        unfrozen_lr=list(unfrozen_lr) if unfrozen_lr is not None else None,
                        label_smoothing=float(cfg["label_smoothing"]), spec_augment=bool(cfg["spec_augment"]),
                        time_shift=float(cfg["time_shift"]), mixup=float(cfg["mixup"]),
                        verified_weight=verified_weight, manually_verified_only=bool(manually_verified_only),
                        group_pattern=group_pattern, test_fold=test_fold, valid_fold=valid_fold,
                        spec_dir=str(folder.path), n_train=int(len(dls.train_table)),
                        cpu_bf16=any(isinstance(cb, CpuBfloat16) for cb in learn.cbs))
    resume, peak_lr, lr_found = _starting_point(learn, run, run_settings, cfg["lr"], restart=restart,
                                                lr_find=lr_find, lr_find_iters=lr_find_iters)
    used_lr = _fit_run(learn, run, dict(run_settings, _lr=peak_lr, _lr_find=lr_found), resume=resume,
                       epochs=cfg["epochs"], pretrained=use_pretrained, lr=peak_lr, freeze_epochs=freeze_epochs,
                       schedule=schedule, unfrozen_lr=unfrozen_lr, mixup=cfg["mixup"])
    if not is_main_process():
        return learn, None
    run.file(Run.RESUME).unlink(missing_ok=True)  # finished: a new call trains again
    # metrics.json: the settings the training was started with, and what it found and took
    settings = {**{k: v for k, v in run_settings.items() if k not in ("lr", "lr_find", "test_fold", "valid_fold",
                                                                      "n_train")},
                "seconds": round(time.time() - start, 1), "lr": used_lr, "lr_find": lr_found,
                "world_size": world_size()}
    return learn, save_run(learn, dls, run, **settings)


def _checked_recipe(recipe: str, *, normalize: str, lr_find: bool, **overrides) -> dict:
    """The recipe's settings with the options given (:func:`resolve_recipe`), checked (ParameterError)."""
    cfg = resolve_recipe(recipe, **overrides)
    for name in ("epochs", "bs", "img_size"):
        if not isinstance(cfg[name], (int, np.integer)) or cfg[name] < 1:
            raise ParameterError(f"{name} must be a positive integer, got {cfg[name]!r}")
    if not 0 <= cfg["label_smoothing"] < 1:
        raise ParameterError(f"label_smoothing must be in [0, 1), got {cfg['label_smoothing']!r}")
    if normalize not in ("auto", "imagenet", "dataset"):
        raise ParameterError(f"normalize must be 'auto', 'imagenet' or 'dataset', got {normalize!r}")
    if lr_find and is_distributed():
        raise ParameterError("lr_find runs in one process: find the rate without accelerate launch (--lr-find), "
                             "then pass it as --lr / lr= to the distributed training")
    return cfg


def _training_images(folder: RenderFolder, *, manually_verified_only: bool, group_pattern: str | None,
                     folds) -> pd.DataFrame:
    """The folder's labelled training images, with the groups of `group_pattern` and the `folds` given."""
    table = folder.training_images(manually_verified_only=manually_verified_only)
    if group_pattern:
        table["group"] = groups_from_pattern(table["fname"].tolist(), group_pattern)
    if folds is not None:
        table["fold"] = pd.Series(folds).astype(str).reindex(table["clip_id"]).fillna("").to_numpy()
    return table


def _join_processes(folder: RenderFolder, img_size: int, *, progress: bool):
    """This process's device under a launcher (the main process builds the image cache first); None alone."""
    if not is_distributed():
        check_launch()  # `accelerate launch --cpu --num_processes N` runs one process: say so
        return None
    device = init_process()  # the process group and this process's GPU, before anything goes on a device
    with main_process_first():  # the main process builds the image cache, the others then open it
        folder.cache(img_size, progress=progress and is_main_process())
    return device


def _show_training(learn, progress: bool) -> None:
    """Progress bars in a terminal or a notebook; elsewhere (a log file) none, and the epoch table as plain rows.

    Only the bar goes (:func:`audiospec_utils.learn.callbacks.remove_progress_bar`, not ``silence``): without
    `progress`, fastai's own logger still prints one line per epoch, which ``-q`` runs show.
    """
    if not show_progress(progress, sys.stdout):  # fastprogress would redraw its bars into a log file too
        remove_progress_bar(learn)
        if progress:
            learn.add_cb(EpochRows())


def _starting_point(learn, run: Run, run_settings: dict, lr: float | None, *, restart: bool, lr_find: bool,
                    lr_find_iters: int) -> tuple[dict | None, float | None, dict | None]:
    """Where the training starts: an interrupted one's state, or the beginning (after the lr finder if asked).

    Returns the state to resume from (or None), the peak learning rate to train with (the
    interrupted training's, the finder's ``valley`` when `lr` is None, else `lr`) and the finder's
    suggestions (``valley``, ``minimum``, ``steep``) or None.
    """
    resume, found = None, None
    if is_main_process():
        run.path.mkdir(parents=True, exist_ok=True)
        resume = resumable_state(run, run_settings, restart=restart or is_distributed(), device=learn.dls.device)
    if resume is not None:
        found = resume["settings"].get("_lr_find")
        lr = resume["settings"].get("_lr", lr)
        logger.warning("%s: resuming at epoch %d of %d (the interrupted training's checkpoint: %s)", run.path,
                       resume["done"] + 1, resume["total"], run.file(Run.RESUME))
    elif lr_find:
        found = find_learning_rate(learn, num_it=lr_find_iters, show_plot=False,
                                   save_to=run.file(Run.LR_FIND) if is_main_process() else None)
        lr = lr or found["valley"]
        logger.info("lr_find suggests %.2e (valley); training with %.2e", found["valley"], lr)
    return resume, lr, ({k: found[k] for k in ("valley", "minimum", "steep")} if found else None)


def _fit_run(learn, run: Run, saved: dict, *, resume: dict | None, **fit_kwargs) -> float:
    """:func:`fit`, in data-parallel mode under a launcher; a Ctrl-C becomes TrainingInterrupted, saying what is kept."""
    try:
        if not is_distributed():
            return fit(learn, settings=saved, resume=resume, **fit_kwargs)
        main_process = is_main_process()
        with distrib_ctx(learn):
            return fit(learn, history=main_process, checkpoint=main_process, **fit_kwargs)
    except KeyboardInterrupt:
        last = run.file(Run.CHECKPOINT)
        said = (f"the last finished epoch is saved in {last} (learn.load('last') loads it). Running the same "
                f"command again resumes the training at the next epoch (--restart starts over)"
                if last.is_file() else "no epoch had finished, so nothing was saved")
        raise TrainingInterrupted(f"training interrupted: {said}.") from None
