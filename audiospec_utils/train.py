"""Fine-tune an ImageNet CNN on spectrogram crops with fastai: the schedule, the run, the recipes.

The path is the fastai one: :func:`~audiospec_utils.dataloaders.spectrogram_dataloaders` turns a
render folder into DataLoaders of fixed-length time crops,
:func:`~audiospec_utils.learner.create_learner` builds a ResNet-34 with a new head
(``vision_learner``; re-exported here), :func:`fit` trains it (``fine_tune`` from ImageNet weights,
``fit_one_cycle`` from scratch), and :func:`save_run` scores the validation clips (windows averaged)
and exports the Learner into the run folder. :func:`train_classifier` does all of it in one call,
with a **recipe** of defaults (:data:`RECIPES`) that the individual options override.

Scores are honest: the validation clips never share a source recording (``group``) with a training
clip (:mod:`audiospec_utils.splits`), ``metrics.json`` says how the split was made, and the
validation accuracy comes with a 95% interval from a bootstrap over groups
(:func:`audiospec_utils.metrics.grouped_bootstrap_interval`).
"""

from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from fastai.callback.core import Callback
from fastai.learner import Recorder, noop  # noop: the one fastai's no_logging() puts in place

from .dataloaders import (SpecAugment, TimeShift, spectrogram_augmentations,  # noqa: F401  (public names)
                          spectrogram_dataloaders)
from .exceptions import DatasetError, ParameterError, TrainingInterrupted, WeightsUnavailableError  # noqa: F401
from .learner import ARCHS, create_learner, load_imagenet_weights  # noqa: F401  (public names)
from .inference import clip_predictions, valid_clip_predictions  # noqa: F401  (clip_predictions: public name)
from .metrics import clip_scores, grouped_bootstrap_interval, map_at_k
from .recipes import RECIPES, auto_normalize, device_name, resolve_recipe  # noqa: F401  (public names)
from .progress import show_progress
from .resume import (EpochCheckpoint, EpochHistory, SkipFinishedEpochs, load_training_state,
                     restore_random_states)

__all__ = [
    "TrainingInterrupted",
    "ARCHS",
    "RECIPES",
    "resolve_recipe",
    "training_table",
    "spectrogram_dataloaders",
    "load_imagenet_weights",
    "create_learner",
    "fit",
    "save_run",
    "train_classifier",
    "clip_predictions",
    "device_name",
    "SpecAugment",
    "TimeShift",
    "spectrogram_augmentations",
    "find_learning_rate",
    "SCHEDULES",
    "read_history",
]

logger = logging.getLogger(__name__)

#: Training schedules of :func:`fit`.
SCHEDULES = ("auto", "fine_tune", "one_cycle", "unfreeze")

def training_table(spec_dir, *, split: str = "train", manually_verified_only: bool = False) -> pd.DataFrame:
    """The images of a render folder that can be trained on (or tested), with absolute paths.

    Parameters
    ----------
    spec_dir : str or os.PathLike
        Folder written by :func:`audiospec_utils.render.render_spectrograms`.
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
    from .folders import RenderFolder

    folder = RenderFolder(spec_dir)
    if split == "train":
        return folder.training_images(manually_verified_only=manually_verified_only)
    df = folder.images(split=split)
    if df.empty:
        raise DatasetError(f"{folder.path}: no rendered {split} images in manifest.csv")
    return df


def find_learning_rate(learn, *, num_it: int = 100, start_lr: float = 1e-7, end_lr: float = 10.0,
                       show_plot: bool = True, save_to=None) -> dict:
    """fastai's learning-rate finder: a short mock training with a rising learning rate.

    ``learn.lr_find`` trains on `num_it` batches while the learning rate grows exponentially
    from `start_lr` to `end_lr`, records the loss, then puts the weights back as they were
    (Smith, 2017, "Cyclical Learning Rates for Training Neural Networks"; fastai's ``LRFinder``).
    A good peak rate lies where the loss falls fastest, before it blows up.

    Parameters
    ----------
    learn : fastai.learner.Learner
        From :func:`create_learner`; its weights are unchanged afterwards.
    num_it : int >= 10
        Mini-batches of the mock training (fastai's default 100; 20-30 is enough for a CPU check
        on the mini dataset).
    start_lr, end_lr : float
        Range of learning rates swept (log scale).
    show_plot : bool
        Draw the loss against the learning rate, with the suggestions marked.
    save_to : str or os.PathLike or None
        Save the plot (PNG) there.

    Returns
    -------
    dict
        ``valley``, ``minimum``, ``steep`` (suggested rates, float; fastai's
        ``SuggestionMethod``: ``valley`` is the one :func:`train_classifier` uses),
        ``lrs`` and ``losses`` (lists of float, the sweep) and ``figure`` (matplotlib figure or
        None).

    Raises
    ------
    ParameterError
        `num_it` < 10 or the rates are not ``0 < start_lr < end_lr``.
    """
    import matplotlib.pyplot as plt
    from fastai.callback.schedule import minimum, steep, valley

    if not isinstance(num_it, (int, np.integer)) or num_it < 10:
        raise ParameterError(f"num_it must be an integer >= 10, got {num_it!r}")
    if not 0 < start_lr < end_lr:
        raise ParameterError(f"need 0 < start_lr < end_lr, got {start_lr!r}, {end_lr!r}")
    Path(learn.path).mkdir(parents=True, exist_ok=True)
    before = set(plt.get_fignums())
    res = learn.lr_find(start_lr=start_lr, end_lr=end_lr, num_it=int(num_it), show_plot=show_plot or save_to is not None,
                        suggest_funcs=(valley, minimum, steep))
    new = [n for n in plt.get_fignums() if n not in before]
    fig = plt.figure(new[-1]) if new else None
    if fig is not None and save_to is not None:
        fig.savefig(save_to, dpi=110)
    if fig is not None and not show_plot:
        plt.close(fig)
        fig = None
    return {"valley": float(res.valley), "minimum": float(res.minimum), "steep": float(res.steep),
            "lrs": [float(v) for v in learn.recorder.lrs], "losses": [float(v) for v in learn.recorder.losses],
            "figure": fig}


def _interrupt_guard():
    from fastai.callback.core import Callback

    class InterruptGuard(Callback):
        """Never lose a Ctrl-C: remember it, and raise it at the next batch if Python swallowed it.

        Python raises KeyboardInterrupt wherever the main thread is when SIGINT arrives; inside a
        ``__del__`` or a weakref callback it is printed as "Exception ignored" and lost, and the
        training went on (seen once in a test that interrupts a 200-epoch run).
        """
        order = -100  # before every other callback

        def before_fit(self):
            import signal
            import threading

            self.requested, self.previous = False, None
            # only over Python's own Ctrl-C handler: an ignored SIGINT (a background job) or a program's
            # own handler is left as it is
            if (threading.current_thread() is threading.main_thread()
                    and signal.getsignal(signal.SIGINT) is signal.default_int_handler):
                self.previous = signal.getsignal(signal.SIGINT)
                signal.signal(signal.SIGINT, self._on_sigint)

        def _on_sigint(self, signum, frame):
            self.requested = True
            self._restore()  # fastai runs no after_fit when the interrupt leaves fit
            raise KeyboardInterrupt

        def before_batch(self):
            if self.requested:
                raise KeyboardInterrupt

        def after_fit(self):
            self._restore()

        def _restore(self):
            import signal

            if self.previous is not None:
                signal.signal(signal.SIGINT, self.previous)
                self.previous = None

    return InterruptGuard()


def read_history(run_dir) -> pd.DataFrame:
    """The per-epoch history of a run (:meth:`audiospec_utils.folders.Run.history`).

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
    from .folders import Run

    return Run(run_dir).history()


def fit(learn, epochs: int, *, pretrained: bool, lr: float | None = None, freeze_epochs: int = 1,
        save_best: bool = False, checkpoint: bool = True, history: bool = True, schedule: str = "auto",
        unfrozen_lr=None, mixup: float = 0.0, settings: dict | None = None, resume: dict | None = None):
    """Train a learner with the fastai recipe for its starting point.

    Parameters
    ----------
    learn : fastai.learner.Learner
        From :func:`create_learner`.
    epochs : int
        One-cycle epochs (after `freeze_epochs` frozen ones for ``"fine_tune"``/``"unfreeze"``).
    pretrained : bool
        Whether the body holds ImageNet weights; picks the schedule when ``schedule="auto"`` and
        the default learning rate.
    lr : float or None
        Peak learning rate: default 2e-3 (pretrained) or 3e-3 (from scratch). For
        ``"unfreeze"`` the rate of the frozen stage.
    freeze_epochs : int
        Epochs with the body frozen (``"fine_tune"``, ``"unfreeze"``).
    save_best : bool
        Load back, at the end, the epoch with the lowest validation loss (fastai
        ``SaveModelCallback``, ``learn.path/models/best.pth``). Off by default: the model is the
        last epoch's, where a one-cycle schedule ends, so that the validation score it reports was
        not used to choose it (choosing the best of ten epochs on the validation clips makes their
        score optimistic; and with mixup or label smoothing the validation loss is a poor guide:
        measured on real slices it picked an epoch 0.2 below the last one's accuracy).
    checkpoint : bool
        After every epoch, save the weights as ``learn.path/models/last.pth`` and the whole
        training state as ``models/resume.pth`` (:class:`audiospec_utils.resume.EpochCheckpoint`),
        so that an interrupted training keeps its last finished epoch and can be resumed.
    history : bool
        Write each epoch's losses and metrics, over all stages, to ``learn.path/history.csv``
        (see :func:`read_history`).
    schedule : {"auto", "fine_tune", "one_cycle", "unfreeze"}
        ``"fine_tune"``: ``learn.fine_tune(epochs, base_lr=lr, freeze_epochs)`` (fastai: the new
        head with the body frozen, then everything with discriminative rates
        ``slice(lr / 200, lr / 2)``). ``"one_cycle"``: ``fit_one_cycle(epochs, lr)`` on the whole
        (unfrozen) network, the way to train from scratch. ``"unfreeze"``: the explicit recipe
        of the fastai course: ``freeze()``, ``fit_one_cycle(freeze_epochs, lr)``, ``unfreeze()``,
        ``fit_one_cycle(epochs, slice(lo, hi))`` with `unfrozen_lr` = ``(lo, hi)``
        (discriminative learning rates: the first layer group gets ``lo``, the head ``hi``,
        the groups between are spaced geometrically). ``"auto"``: ``"fine_tune"`` when
        `pretrained`, else ``"one_cycle"``.
    unfrozen_lr : tuple of two floats or None
        ``(lo, hi)`` for ``"unfreeze"``; default ``(lr / 200, lr / 2)``, the rates fine_tune uses.
    mixup : float
        ``alpha`` of fastai's ``MixUp`` callback (Zhang et al., 2018): each training batch is
        blended with a shuffled copy of itself, images and targets alike, with weights drawn from
        Beta(alpha, alpha); 0 (default) = off, 0.4 is fastai's default.
    settings : dict or None
        The settings saved in the checkpoint (a resume with other settings is refused).
    resume : dict or bool or None
        A state from :func:`audiospec_utils.resume.load_training_state`: the weights, optimizer
        and random states are loaded and training continues at its next epoch. ``True``: the
        state in ``learn.path/models/resume.pth`` when there is one (what a notebook's training
        cell passes, so that running it again after a dead kernel continues); a state saved with
        other settings raises ``ParameterError``.

    Returns
    -------
    float
        The peak learning rate used (of the last stage's head for ``"unfreeze"``).

    Raises
    ------
    ParameterError
        A parameter is out of range or `schedule` is unknown.
    """
    from fastai.vision.all import MixUp, SaveModelCallback

    from .folders import Run

    for name, value in (("epochs", epochs), ("freeze_epochs", freeze_epochs)):
        if not isinstance(value, (int, np.integer)) or value < (1 if name == "epochs" else 0):
            raise ParameterError(f"{name} must be a positive integer, got {value!r}")
    if lr is not None and not lr > 0:
        raise ParameterError(f"lr must be a positive number, got {lr!r}")
    if schedule not in SCHEDULES:
        raise ParameterError(f"schedule must be one of {', '.join(SCHEDULES)}, got {schedule!r}")
    if not mixup >= 0:
        raise ParameterError(f"mixup must be an alpha >= 0, got {mixup!r}")
    if unfrozen_lr is not None:
        if len(unfrozen_lr) != 2 or not 0 < unfrozen_lr[0] <= unfrozen_lr[1]:
            raise ParameterError(f"unfrozen_lr must be (lo, hi) with 0 < lo <= hi, got {unfrozen_lr!r}")
    if schedule == "auto":
        schedule = "fine_tune" if pretrained else "one_cycle"
    if schedule == "unfreeze" and freeze_epochs < 1:
        raise ParameterError("schedule 'unfreeze' needs freeze_epochs >= 1")
    lr = lr or (2e-3 if pretrained else 3e-3)
    Path(learn.path).mkdir(parents=True, exist_ok=True)
    cbs = [_interrupt_guard()]
    if save_best:
        cbs.append(SaveModelCallback(monitor="valid_loss", fname="best", with_opt=False))
    if mixup:
        cbs.append(MixUp(mixup))
    stages, lr = _stages(schedule, epochs, freeze_epochs, lr, unfrozen_lr)
    if settings is None:
        settings = dict(epochs=int(epochs), pretrained=bool(pretrained), lr=float(lr), schedule=schedule,
                        freeze_epochs=int(freeze_epochs), mixup=float(mixup),
                        unfrozen_lr=list(unfrozen_lr) if unfrozen_lr is not None else None)
    if resume is True:
        device = next(learn.model.parameters()).device
        resume = load_training_state(Run(learn.path).file(Run.RESUME), settings, map_location=device)
        if resume is not None:
            logger.warning("%s: resuming at epoch %d of %d", learn.path, resume["done"] + 1, resume["total"])
    elif resume is False:
        resume = None
    hist = EpochHistory(resume["history"] if resume else None)
    history_file = Run(learn.path).file(Run.HISTORY) if history else None
    total, done = sum(n for _, _, n, _, _ in stages), 0
    for index, (name, frozen, n_epochs, lr_arg, kwargs) in enumerate(stages):
        if resume is not None and index < resume["stage"]:
            done += n_epochs
            continue
        learn.freeze() if frozen else learn.unfreeze()
        skip = 0
        if resume is not None and index == resume["stage"]:
            _load_training_state(learn, resume)
            skip = int(resume["epoch"])
        if skip >= n_epochs:  # the checkpoint was taken at the end of this stage
            done += n_epochs
            continue
        hist.stage, hist.skip = name, skip
        stage_cbs = cbs + [hist]
        if checkpoint:
            stage_cbs.append(EpochCheckpoint(settings, hist, Path(learn.path) / Run.RESUME, stage=index,
                                             total=total, done_before=done, skip=skip, history_file=history_file))
        if skip:
            stage_cbs.append(SkipFinishedEpochs(skip, resume.get("smooth_loss")))
        learn.fit_one_cycle(n_epochs, lr_arg, cbs=stage_cbs, **kwargs)
        done += n_epochs
    if history:
        pd.DataFrame(hist.rows).to_csv(history_file, index=False)
    return lr


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


def _stages(schedule: str, epochs: int, freeze_epochs: int, lr: float, unfrozen_lr) -> tuple[list, float]:
    """The schedule as stages ``(name, frozen, epochs, lr argument, fit_one_cycle keywords)``, and its lr."""
    if schedule == "fine_tune":  # fastai's Learner.fine_tune, written out
        stages = [("frozen", True, freeze_epochs, slice(lr), {"pct_start": 0.99})] if freeze_epochs else []
        return stages + [("unfrozen", False, epochs, slice(lr / 200, lr / 2), {"pct_start": 0.3, "div": 5.0})], lr
    if schedule == "unfreeze":
        lo, hi = unfrozen_lr or (lr / 200, lr / 2)
        return [("frozen", True, freeze_epochs, lr, {}), ("unfrozen", False, epochs, slice(lo, hi), {})], hi
    return [("one_cycle", False, epochs, lr, {})], lr


def _load_training_state(learn, state: dict) -> None:
    """Weights, optimizer state and random states of a checkpoint, into a learner set up for its stage."""
    import torch

    device = next(learn.model.parameters()).device
    learn.model.load_state_dict(state["model"])
    if state.get("opt") is not None:
        if learn.opt is None:
            learn.create_opt()
        opt = {"hypers": state["opt"]["hypers"],
               "state": [{k: (v.to(device) if torch.is_tensor(v) else v) for k, v in s.items()}
                         for s in state["opt"]["state"]]}
        learn.opt.load_state_dict(opt)
    restore_random_states(state["random"], learn.dls)


def valid_interval(clip_preds: pd.DataFrame, vocab, groups=None, *, confidence: float = 0.95, seed: int = 0) -> dict:
    """95% intervals of per-clip accuracy and MAP@3, from a bootstrap over groups.

    Parameters
    ----------
    clip_preds : pandas.DataFrame
        One row per clip: ``clip_id``, ``label`` and one probability column per label of `vocab`.
    vocab : sequence of str
    groups : pandas.Series or None
        Group of each clip, indexed by ``clip_id`` (``""``: the clip is its own group).
    confidence : float
    seed : int

    Returns
    -------
    dict
        ``accuracy`` and ``map_at_3`` as ``[low, high]``, ``confidence``, ``n_groups`` (groups
        resampled) and ``method``.
    """
    from .metrics import top_k_labels

    vocab = list(vocab)
    known = clip_preds[clip_preds["label"].isin(vocab)]
    y = known["label"].map({c: i for i, c in enumerate(vocab)}).to_numpy()
    top = top_k_labels(known[vocab].to_numpy(), 3) if len(known) else np.zeros((0, 3), np.int64)
    hits = top == y[:, None]
    correct = hits[:, 0].astype(float)
    precision = (hits / np.arange(1, top.shape[1] + 1)).sum(axis=1) if len(known) else np.zeros(0)
    g = None
    if groups is not None:
        g = groups.reindex(known["clip_id"]).fillna("").astype(str).to_numpy()
    keys = g if g is not None else known["clip_id"].to_numpy()
    n_groups = len({k if k else f"clip:{i}" for i, k in enumerate(keys)})
    acc = grouped_bootstrap_interval(correct, g, confidence=confidence, seed=seed)
    mp3 = grouped_bootstrap_interval(precision, g, confidence=confidence, seed=seed)
    return {"accuracy": [round(acc[0], 4), round(acc[1], 4)], "map_at_3": [round(mp3[0], 4), round(mp3[1], 4)],
            "confidence": confidence, "n_groups": int(n_groups),
            "method": "percentile bootstrap over groups (scipy.stats.bootstrap, 2000 resamples)"}


def save_run(learn, dls, out_dir, **settings) -> dict:
    """Score the validation clips and save the run: metrics, split, predictions, exported learner.

    Parameters
    ----------
    learn : fastai.learner.Learner
        A trained learner.
    dls : SpectrogramDataLoaders
        From :func:`spectrogram_dataloaders` (its ``valid_table``, ``train_table`` and ``split``).
    out_dir : str or os.PathLike
        Run folder.
    **settings
        Recorded in ``metrics.json`` as they are (epochs, seconds, arch...). A ``spec_dir``
        setting (the render folder) also has its ``params.json`` copied into the run folder, so
        that evaluation and prediction render new audio exactly as the training images were.

    Returns
    -------
    dict
        ``accuracy``, ``error_rate``, ``map_at_3`` (per clip: the probabilities of a clip's windows
        are averaged), ``valid_interval`` (95% intervals from a bootstrap over groups, see
        :func:`valid_interval`), ``split`` (how it was made:
        :meth:`audiospec_utils.splits.Split.to_dict`), ``n_train``, ``n_valid`` (clips),
        ``classes``, ``train_label_counts``, ``crop`` (height, crop length and normalisation),
        ``device`` and `settings`; written to ``metrics.json``. Also writes
        ``valid_predictions.csv`` (per-clip probabilities), ``valid_items.csv`` (validation
        windows), ``split.csv``, ``params.json`` and ``export.pkl`` (``learn.export``).
    """
    import shutil

    import torch

    from .folders import Run

    run = Run(out_dir)
    out_dir = run.path
    out_dir.mkdir(parents=True, exist_ok=True)
    vocab = list(dls.vocab)
    clip_preds = valid_clip_predictions(learn, dls)
    clip_preds.to_csv(run.file(Run.VALID_PREDICTIONS), index=False)
    train_clips = dls.train_table.drop_duplicates("clip_id")
    counts = train_clips["label"].value_counts()
    split = dls.split
    groups = split.clips.set_index("clip_id")["group"] if split is not None else None
    metrics = {
        **clip_scores(clip_preds, vocab),
        "valid_interval": valid_interval(clip_preds, vocab, groups),
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
        split.clips[["clip_id", "label", "group", "fold", "side"]].to_csv(run.file(Run.SPLIT), index=False)
    spec_dir = settings.get("spec_dir")
    if spec_dir:
        from .folders import RenderFolder

        params = RenderFolder(spec_dir).params_file
        if params.is_file():
            shutil.copyfile(params, run.file(Run.PARAMS))
    dls.valid_table.to_csv(run.file(Run.VALID_ITEMS), index=False)
    learn.export(run.file(Run.EXPORT))
    return metrics


def _resumable_state(out_dir: Path, settings: dict, *, restart: bool, device) -> dict | None:
    """The state to resume from, or None to start from the beginning (an old checkpoint kept aside)."""
    from .folders import Run

    run = Run(out_dir)
    resume_file, last = run.file(Run.RESUME), run.file(Run.CHECKPOINT)
    interrupted = not run.file(Run.METRICS).is_file()  # a finished run trains again from the start
    if interrupted and not restart and resume_file.is_file():
        return load_training_state(resume_file, settings, map_location=device)  # ParameterError: other settings
    resume_file.unlink(missing_ok=True)
    if interrupted and last.is_file():
        kept = last.with_name(f"last_interrupted_{time.strftime('%Y%m%d-%H%M%S')}.pth")
        last.rename(kept)
        logger.warning("%s: an earlier training here was interrupted; its last weights are kept as %s. "
                       "Training starts again from the beginning.", out_dir, kept)
    return None


def _distributed() -> bool:
    """Whether this process is one of several started by ``accelerate launch`` / torchrun."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def train_classifier(spec_dir, out_dir, *, recipe: str = "auto", arch: str = "resnet34", epochs: int | None = None,
                     img_size: int | None = None, crop_seconds: float | None = None, valid_pct: float = 0.2,
                     seed: int = 42, bs: int | None = None, lr: float | None = None, pretrained: bool = True,
                     weights=None, freeze_epochs: int = 1, manually_verified_only: bool = False,
                     label_smoothing: float | None = None, progress: bool = True, schedule: str = "auto",
                     unfrozen_lr=None, lr_find: bool = False, lr_find_iters: int = 100,
                     spec_augment: bool | None = None, time_shift: float | None = None, mixup: float | None = None,
                     verified_weight: float | None = None, normalize: str = "auto", test_fold=None, valid_fold=None,
                     group_pattern: str | None = None, folds=None, num_workers: int | None = None,
                     restart: bool = False):
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
    arch : str
        ``"resnet34"`` (default), ``"resnet18"``, ``"resnet50"``.
    epochs : int or None
        Epochs of one-cycle training (after `freeze_epochs` frozen ones when pretrained).
    img_size : int or None
        Image height in pixels (images are resized in height only; time keeps one column per frame).
    crop_seconds : float or None
        Length of the training crops and of the windows averaged at validation, in seconds; None:
        from the clips' durations (:func:`audiospec_utils.dataloaders.default_crop_seconds`), at
        most the recipe's ``max_crop_seconds`` (``quick`` 2 s, ``full`` 4 s).
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
        of the crop, MixUp alpha; see :mod:`audiospec_utils.dataloaders` and :func:`fit`).
    verified_weight : float or None
        Sampling weight of manually verified clips (FSDKaggle2018).
    normalize : {"auto", "imagenet", "dataset"}
        Per-channel statistics of the images: ``auto`` takes ImageNet's with pretrained weights
        (what they were trained with) and the training images' own from scratch.
    test_fold : str or int or None
        A fold held out altogether (neither trained on nor validated on), for
        :func:`audiospec_utils.evaluate.evaluate_run` to score afterwards.
    valid_fold : str or int or None
        Validate on this fold instead of a grouped share of the training folds.
    group_pattern : str or None
        A regex whose first capture group in each clip's file name is its group (source
        recording, speaker...), when the render folder has none (see
        :func:`audiospec_utils.datasets.groups_from_pattern`).
    folds : pandas.Series or None
        Folds to use instead of the manifest's (``clip_id`` -> fold), as
        :func:`audiospec_utils.cv.cross_validate` gives when the data has none.
    num_workers : int or None
        DataLoader worker processes (default 0: crops are slices of one array).

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
    (:mod:`audiospec_utils.resume`). Calling this again with the same settings and `out_dir`
    after an interruption (Ctrl-C, a killed process, a dead kernel, a disconnected Colab runtime)
    continues at the next epoch, and logs "resuming at epoch k of N"; with the same seed on the
    CPU the result is the uninterrupted run's. ``restart=True`` starts over instead (the old
    weights are kept as ``models/last_interrupted_<time>.pth``). A finished run (``metrics.json``)
    is trained again from the start. Resume needs one process: under ``accelerate launch`` the
    training starts over.
    """
    from fastai.vision.all import set_seed

    from .folders import RenderFolder, Run

    cfg = resolve_recipe(recipe, img_size=img_size, epochs=epochs, bs=bs, crop_seconds=crop_seconds,
                         spec_augment=spec_augment, time_shift=time_shift, mixup=mixup,
                         label_smoothing=label_smoothing, lr=lr)
    for name in ("epochs", "bs", "img_size"):
        if not isinstance(cfg[name], (int, np.integer)) or cfg[name] < 1:
            raise ParameterError(f"{name} must be a positive integer, got {cfg[name]!r}")
    if not 0 <= cfg["label_smoothing"] < 1:
        raise ParameterError(f"label_smoothing must be in [0, 1), got {cfg['label_smoothing']!r}")
    if normalize not in ("auto", "imagenet", "dataset"):
        raise ParameterError(f"normalize must be 'auto', 'imagenet' or 'dataset', got {normalize!r}")
    if lr_find and _distributed():
        raise ParameterError("lr_find runs in one process: find the rate without accelerate launch (--lr-find), "
                             "then pass it as --lr / lr= to the distributed training")
    start = time.time()
    # each process its own random crops and augmentations (rank 0 as in one process); DDP gives all rank 0's weights
    set_seed(seed + int(os.environ.get("RANK", "0")), reproducible=True)
    use_pretrained = pretrained or weights is not None
    norm = auto_normalize(use_pretrained) if normalize == "auto" else normalize
    folder = RenderFolder(spec_dir)
    table = folder.training_images(manually_verified_only=manually_verified_only)
    if group_pattern:
        from .datasets import groups_from_pattern

        table["group"] = groups_from_pattern(table["fname"].tolist(), group_pattern)
    if folds is not None:
        table["fold"] = pd.Series(folds).astype(str).reindex(table["clip_id"]).fillna("").to_numpy()
    device = None
    if _distributed():
        from .distributed import init_process, main_process_first

        device = init_process()  # the process group and this process's GPU, before anything goes on a device
        with main_process_first():  # the main process builds the image cache, the others then open it
            folder.cache(int(cfg["img_size"]), progress=progress and int(os.environ.get("RANK", "0")) == 0)
    else:
        from .distributed import check_launch

        check_launch()  # `accelerate launch --cpu --num_processes N` runs one process: say so
    dls = spectrogram_dataloaders(folder.path, table=table, img_size=cfg["img_size"], crop_seconds=cfg["crop_seconds"],
                                  max_crop_seconds=cfg["max_crop_seconds"], valid_pct=valid_pct, seed=seed,
                                  bs=cfg["bs"], spec_augment=cfg["spec_augment"],
                                  time_shift=cfg["time_shift"], verified_weight=verified_weight,
                                  test_fold=test_fold, valid_fold=valid_fold, normalize=norm,
                                  num_workers=num_workers, progress=progress, device=device)
    logger.info("%s", dls.split.describe())
    out_dir = Path(out_dir).resolve()
    learn = create_learner(dls, arch, pretrained=use_pretrained, weights=weights, path=out_dir,
                           label_smoothing=cfg["label_smoothing"])
    if not show_progress(progress, sys.stdout):  # fastprogress would redraw its bars into a log file too
        learn.remove_cbs([cb for cb in learn.cbs if type(cb).__name__ == "ProgressCallback"])
        if progress:
            learn.add_cb(EpochRows())
    main_process = int(os.environ.get("RANK", "0")) == 0
    run_settings = dict(recipe=cfg["recipe"], arch=arch, epochs=int(cfg["epochs"]), img_size=int(cfg["img_size"]),
                        bs=int(cfg["bs"]), lr=cfg["lr"], crop_seconds=dls.config["crop_seconds"],
                        pretrained=bool(use_pretrained), weights=str(weights) if weights is not None else None,
                        normalize=norm, valid_pct=valid_pct, seed=int(seed), schedule=schedule,
                        freeze_epochs=int(freeze_epochs), lr_find=bool(lr_find),
                        unfrozen_lr=list(unfrozen_lr) if unfrozen_lr is not None else None,
                        label_smoothing=float(cfg["label_smoothing"]), spec_augment=bool(cfg["spec_augment"]),
                        time_shift=float(cfg["time_shift"]), mixup=float(cfg["mixup"]),
                        verified_weight=verified_weight, manually_verified_only=bool(manually_verified_only),
                        group_pattern=group_pattern, test_fold=test_fold, valid_fold=valid_fold,
                        spec_dir=str(folder.path), n_train=int(len(dls.train_table)))
    resume = None
    if main_process:
        out_dir.mkdir(parents=True, exist_ok=True)
        resume = _resumable_state(out_dir, run_settings, restart=restart or _distributed(),
                                  device=dls.device)
    found = None
    if resume is not None:
        found = resume["settings"].get("_lr_find")
        cfg["lr"] = resume["settings"].get("_lr", cfg["lr"])
        logger.warning("%s: resuming at epoch %d of %d (the interrupted training's checkpoint: %s)", out_dir,
                       resume["done"] + 1, resume["total"], Run(out_dir).file(Run.RESUME))
    elif lr_find:
        found = find_learning_rate(learn, num_it=lr_find_iters, show_plot=False,
                                   save_to=out_dir / "lr_find.png" if main_process else None)
        cfg["lr"] = cfg["lr"] or found["valley"]
        logger.info("lr_find suggests %.2e (valley); training with %.2e", found["valley"], cfg["lr"])
    lr_found = {k: found[k] for k in ("valley", "minimum", "steep")} if found else None
    try:
        if _distributed():
            from .distributed import distrib_ctx

            with distrib_ctx(learn):
                used_lr = fit(learn, cfg["epochs"], pretrained=use_pretrained, lr=cfg["lr"],
                              freeze_epochs=freeze_epochs, schedule=schedule, unfrozen_lr=unfrozen_lr,
                              mixup=cfg["mixup"], history=main_process, checkpoint=main_process)
        else:
            saved = {**run_settings, "_lr": cfg["lr"], "_lr_find": lr_found}
            used_lr = fit(learn, cfg["epochs"], pretrained=use_pretrained, lr=cfg["lr"], freeze_epochs=freeze_epochs,
                          schedule=schedule, unfrozen_lr=unfrozen_lr, mixup=cfg["mixup"], settings=saved,
                          resume=resume)
    except KeyboardInterrupt:
        last = Run(out_dir).file(Run.CHECKPOINT)
        said = (f"the last finished epoch is saved in {last} (learn.load('last') loads it). Running the same "
                f"command again resumes the training at the next epoch (--restart starts over)"
                if last.is_file() else "no epoch had finished, so nothing was saved")
        raise TrainingInterrupted(f"training interrupted: {said}.") from None
    if main_process:
        Run(out_dir).file(Run.RESUME).unlink(missing_ok=True)  # finished: a new call trains again
    # metrics.json: the settings the training was started with, and what it found and took
    settings = {**{k: v for k, v in run_settings.items() if k not in ("lr", "lr_find", "test_fold", "valid_fold",
                                                                      "n_train")},
                "seconds": round(time.time() - start, 1), "lr": used_lr, "lr_find": lr_found,
                "world_size": int(os.environ.get("WORLD_SIZE", "1"))}
    if not main_process:
        return learn, None
    metrics = save_run(learn, dls, out_dir, **settings)
    return learn, metrics
