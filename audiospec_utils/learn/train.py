"""Fine-tune an ImageNet CNN on spectrogram crops with fastai: one call from a render folder to a run folder.

The path is the fastai one: :func:`~audiospec_utils.learn.dataloaders.spectrogram_dataloaders` turns a
render folder into DataLoaders of fixed-length time crops,
:func:`~audiospec_utils.learn.estimator.create_learner` builds a ResNet-34 with a new head
(``vision_learner``), :func:`~audiospec_utils.learn.schedules.fit` trains it (``fine_tune`` from ImageNet
weights, ``fit_one_cycle`` from scratch), and :func:`save_run` scores the validation clips (windows
averaged, :mod:`audiospec_utils.learn.inference`) and exports the Learner into the run folder. These are
re-exported here, where notebook 03 imports them. :func:`train_classifier` does all of it in one
call, with a **recipe** of defaults (:data:`~audiospec_utils.learn.config.RECIPES`) that the individual
options override, and in named steps: the settings, the images, the processes, the starting point
(resume or learning-rate finder), the fit, the run folder.

Scores are honest: the validation clips never share a source recording (``group``) with a training
clip (:mod:`audiospec_utils.audio.splits`), ``metrics.json`` says how the split was made, and the
validation accuracy comes with a 95% interval from a bootstrap over groups
(:func:`audiospec_utils.learn.metrics.clip_score_intervals`).
"""

from __future__ import annotations

import logging
import sys
import time

import pandas as pd
from fastai.callback.core import Callback
from fastai.learner import Recorder, noop  # noop: the one fastai's no_logging() puts in place

from ..audio.datasets import groups_from_pattern
from ..exceptions import DatasetError, ParameterError, TrainingInterrupted
from ..features.folders import MANIFEST, RenderFolder, as_render_folder
from ..progress import show_progress
from .callbacks import CpuBfloat16, remove_progress_bar
from .config import TrainingConfig
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
from .estimator import SpectrogramClassifier, save_run
from .resume import resumable_state
from .run import Run
from .schedules import find_learning_rate, fit

__all__ = ["training_table", "train_classifier", "read_history"]

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
    folder = as_render_folder(spec_dir)
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


def train_classifier(spec_dir, out_dir, config: TrainingConfig | None = None, *, progress: bool = True,
                     restart: bool = False, folds=None, **options):
    """Train a classifier on a render folder and save everything in a run folder.

    :class:`~audiospec_utils.learn.estimator.SpectrogramClassifier` (DataLoaders, learner), the
    schedule (:func:`~audiospec_utils.learn.schedules.fit`) with resume, and
    :func:`~audiospec_utils.learn.estimator.save_run`, in one call (notebook 03 shows them one by one).

    Parameters
    ----------
    spec_dir : RenderFolder or str or os.PathLike
        Render folder (``manifest.csv``, ``images/``).
    out_dir : Run or str or os.PathLike
        Run folder (created): ``export.pkl``, ``metrics.json``, ``history.csv``, ``split.csv``,
        ``valid_predictions.csv``, ``valid_items.csv``, ``models/last.pth``.
    config : TrainingConfig or None
        Every option of the training (:class:`~audiospec_utils.learn.config.TrainingConfig`: the
        recipe, network, sizes, schedule, augmentation, split...); default ``TrainingConfig()``,
        the ``auto`` recipe. ``metrics.json`` records it resolved (``config``).
    progress : bool
        Show fastai's progress bars.
    restart : bool
        Start over even when the run folder holds an interrupted training (see Notes).
    folds : pandas.Series or None
        Folds to use instead of the manifest's (``clip_id`` -> fold), as
        :func:`audiospec_utils.assess.cv.cross_validate` gives when the data has none.
    **options
        Fields of :class:`~audiospec_utils.learn.config.TrainingConfig` that replace the
        configuration's (``train_classifier(specs, run, epochs=5, pretrained=False)``).

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
    config = (config or TrainingConfig()).replace(**options)
    if config.lr_find and is_distributed():
        raise ParameterError("lr_find runs in one process: find the rate without accelerate launch (--lr-find), "
                             "then pass it as --lr / lr= to the distributed training")
    start = time.time()
    folder, run = as_render_folder(spec_dir), Run(out_dir)
    table = _training_images(folder, manually_verified_only=config.manually_verified_only,
                             group_pattern=config.group_pattern, folds=folds)
    device = _join_processes(folder, int(config.resolve().img_size), progress=progress)
    # each process its own random crops and augmentations (rank 0 as in one process); DDP gives all rank 0's weights
    clf = SpectrogramClassifier(config).build(folder, table=table, path=run.path, progress=progress, silent=False,
                                              device=device, seed=config.seed + rank())
    cfg, dls, learn = clf.config_, clf.dls_, clf.learn_
    logger.info("%s", dls.split.describe())
    _show_training(learn, progress)
    # what makes this training what it is (the resume key, and metrics.json's settings): every resolved
    # option but those that change how it runs, not what it learns; then what the data decided
    run_settings = {k: v for k, v in cfg.to_dict().items() if k not in _HOW_IT_RUNS}
    run_settings.update(crop_seconds=dls.config["crop_seconds"], time_pool=int(dls.config["time_pool"]),
                        spec_dir=str(folder.path), n_train=int(len(dls.train_table)),
                        cpu_bf16=any(isinstance(cb, CpuBfloat16) for cb in learn.cbs))
    resume, peak_lr, lr_found = _starting_point(learn, run, run_settings, cfg.lr, restart=restart,
                                                lr_find=cfg.lr_find, lr_find_iters=cfg.lr_find_iters)
    used_lr = _fit_run(learn, run, dict(run_settings, _lr=peak_lr, _lr_find=lr_found), resume=resume,
                       epochs=cfg.epochs, pretrained=cfg.pretrained, lr=peak_lr, freeze_epochs=cfg.freeze_epochs,
                       schedule=cfg.schedule, unfrozen_lr=cfg.unfrozen_lr, mixup=cfg.mixup)
    if not is_main_process():
        return learn, None
    run.file(Run.RESUME).unlink(missing_ok=True)  # finished: a new call trains again
    # metrics.json: the settings the training was started with, and what it found and took
    settings = {**{k: v for k, v in run_settings.items() if k not in ("lr", "lr_find", "test_fold", "valid_fold",
                                                                      "n_train")},
                "seconds": round(time.time() - start, 1), "lr": used_lr, "lr_find": lr_found,
                "world_size": world_size(), "config": cfg.replace(lr=used_lr).to_dict()}
    return learn, save_run(learn, dls, run, folder=folder, **settings)


#: Options of :class:`TrainingConfig` that change how a training runs, not the model it trains: left out
#: of the resume key (a training resumed with more DataLoader workers is the same training).
#: ``pretrained_arch`` and ``max_crop_seconds`` are resolved into ``arch`` and ``crop_seconds``.
_HOW_IT_RUNS = ("num_workers", "lr_find_iters", "pretrained_arch", "max_crop_seconds")


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
