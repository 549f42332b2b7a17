"""The training schedules of fastai, as stages of ``fit_one_cycle``, with checkpoints, history and resume.

:func:`fit` trains a Learner with the schedule for its starting point (Smith, 2018, "A disciplined
approach to neural network hyper-parameters"; the fastai course):

``fine_tune``
    fastai's ``Learner.fine_tune`` written out: the new head with the pretrained body frozen, then
    everything with discriminative learning rates;
``one_cycle``
    ``fit_one_cycle`` on the whole network, the way to train from scratch;
``unfreeze``
    the explicit recipe of the course: ``freeze``, ``fit_one_cycle``, ``unfreeze``,
    ``fit_one_cycle`` with ``slice(lo, hi)``.

Each stage (:func:`schedule_stages`) is one ``fit_one_cycle`` with the callbacks of
:mod:`audiospec_utils.learn.callbacks` (interrupt guard, history, checkpoint after every epoch), so that an
interrupted training resumes at its next epoch (:mod:`audiospec_utils.learn.resume`).
:func:`find_learning_rate` is fastai's learning-rate finder, to choose the peak rate.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from ..exceptions import ParameterError
from ..fileio import write_csv_atomic
from .callbacks import (
    EpochCheckpoint,
    EpochHistory,
    EpochValidation,
    InterruptGuard,
    SkipFinishedEpochs,
    restore_recorder,
)
from .config import DEFAULT_LR
from .distributed import is_main_process
from .resume import load_training_state, restore_training_state
from .run import Run
from .time_estimate import TimeEstimate

__all__ = ["SCHEDULES", "fit", "schedule_stages", "find_learning_rate"]

logger = logging.getLogger(__name__)

#: Training schedules of :func:`fit`.
SCHEDULES = ("auto", "fine_tune", "one_cycle", "unfreeze")


def fit(learn, epochs: int, *, pretrained: bool, lr: float | None = None, freeze_epochs: int = 1,
        save_best: bool = False, checkpoint: bool = True, history: bool = True, schedule: str = "auto",
        unfrozen_lr=None, mixup: float = 0.0, settings: dict | None = None, resume: dict | bool | None = None,
        estimate: bool = True):
    """Train a learner with the fastai recipe for its starting point.

    Parameters
    ----------
    learn : fastai.learner.Learner
        From :func:`audiospec_utils.learn.estimator.create_learner`.
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
        training state as ``models/resume.pth`` (:class:`audiospec_utils.learn.callbacks.EpochCheckpoint`),
        so that an interrupted training keeps its last finished epoch and can be resumed.
    history : bool
        Write each epoch's losses and metrics, over all stages, to ``learn.path/history.csv``
        (see :func:`audiospec_utils.learn.train.read_history`).
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
        A state from :func:`audiospec_utils.learn.resume.load_training_state`: the weights, optimizer
        and random states are loaded and training continues at its next epoch. ``True``: the
        state in ``learn.path/models/resume.pth`` when there is one (what a notebook's training
        cell passes, so that running it again after a dead kernel continues); a state saved with
        other settings raises ``ParameterError``.
    estimate : bool
        Say the cost first: time the first training batches and print, once, how long the
        training (every stage, the epochs still to run) is expected to take on this machine
        (:class:`audiospec_utils.learn.time_estimate.TimeEstimate`, on standard error).

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

    schedule = _checked_schedule(epochs, freeze_epochs=freeze_epochs, lr=lr, schedule=schedule, mixup=mixup,
                                 unfrozen_lr=unfrozen_lr, pretrained=pretrained)
    lr = lr or DEFAULT_LR["pretrained" if pretrained else "scratch"]
    Path(learn.path).mkdir(parents=True, exist_ok=True)
    run = Run(learn.path)
    cbs = [InterruptGuard(), EpochValidation()]
    if save_best:
        cbs.append(SaveModelCallback(monitor="valid_loss", fname="best", with_opt=False))
    if mixup:
        cbs.append(MixUp(mixup))
    stages, lr = schedule_stages(schedule, epochs, freeze_epochs, lr, unfrozen_lr)
    if settings is None:
        settings = dict(epochs=int(epochs), pretrained=bool(pretrained), lr=float(lr), schedule=schedule,
                        freeze_epochs=int(freeze_epochs), mixup=float(mixup),
                        unfrozen_lr=list(unfrozen_lr) if unfrozen_lr is not None else None)
    if resume is True:
        device = next(learn.model.parameters()).device
        resume = load_training_state(run.file(Run.RESUME), settings, map_location=device)
        if resume is not None:
            logger.warning("%s: resuming at epoch %d of %d", learn.path, resume["done"] + 1, resume["total"])
    elif resume is False:
        resume = None
    hist = EpochHistory(resume["history"] if resume else None)
    history_file = run.file(Run.HISTORY) if history else None
    total, done = sum(n for _, _, n, _, _ in stages), 0
    if estimate and is_main_process():  # say the cost first: timed on the first batches, printed once
        cbs = cbs + [TimeEstimate(total - (int(resume["done"]) if resume is not None else 0))]
    for index, (name, frozen, n_epochs, lr_arg, kwargs) in enumerate(stages):
        if resume is not None and index < resume["stage"]:
            done += n_epochs
            continue
        learn.freeze() if frozen else learn.unfreeze()
        skip = 0
        if resume is not None and index == resume["stage"]:
            restore_training_state(learn, resume)
            skip = int(resume["epoch"])
        if skip >= n_epochs:  # the checkpoint was taken at the end of this stage
            done += n_epochs
            if index == len(stages) - 1:  # finished before: keep its loss curve for plot_loss
                restore_recorder(learn.recorder, resume.get("recorder"))
            continue
        hist.stage, hist.skip = name, skip
        stage_cbs = cbs + [hist]
        if checkpoint:
            stage_cbs.append(EpochCheckpoint(settings, hist, run.file(Run.RESUME), stage=index,
                                             total=total, done_before=done, skip=skip, history_file=history_file))
        if skip:
            stage_cbs.append(SkipFinishedEpochs(skip, resume.get("smooth_loss")))
        try:
            learn.fit_one_cycle(n_epochs, lr_arg, cbs=stage_cbs, **kwargs)
        finally:  # the last epoch's files are whole on disk, even when the fit raised
            for cb in stage_cbs:
                if isinstance(cb, EpochCheckpoint):
                    cb.join()
        done += n_epochs
    if history:
        write_csv_atomic(pd.DataFrame(hist.rows), history_file)
    return lr


def _checked_schedule(epochs, *, freeze_epochs, lr, schedule: str, mixup, unfrozen_lr, pretrained: bool) -> str:
    """The schedule :func:`fit` runs (``"auto"`` resolved), after checking its settings (ParameterError)."""
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
    return schedule


def schedule_stages(schedule: str, epochs: int, freeze_epochs: int, lr: float, unfrozen_lr) -> tuple[list, float]:
    """A schedule as the ``fit_one_cycle`` calls that make it, and the peak learning rate it reports.

    Parameters
    ----------
    schedule : {"fine_tune", "one_cycle", "unfreeze"}
        Resolved (not ``"auto"``); see :func:`fit`.
    epochs, freeze_epochs : int
        Epochs of the unfrozen (or only) stage and of the frozen one.
    lr : float
        Peak learning rate (of the frozen stage for ``"unfreeze"``).
    unfrozen_lr : (float, float) or None
        ``(lo, hi)`` of the unfrozen stage of ``"unfreeze"``; default ``(lr / 200, lr / 2)``.

    Returns
    -------
    stages : list of tuple
        ``(name, frozen, epochs, lr argument, fit_one_cycle keywords)``, in order; ``name`` is
        ``"frozen"``, ``"unfrozen"`` or ``"one_cycle"`` (the ``stage`` column of the history).
    lr : float
        The peak rate reported (``hi`` of the unfrozen stage for ``"unfreeze"``).
    """
    if schedule == "fine_tune":  # fastai's Learner.fine_tune, written out
        stages = [("frozen", True, freeze_epochs, slice(lr), {"pct_start": 0.99})] if freeze_epochs else []
        return stages + [("unfrozen", False, epochs, slice(lr / 200, lr / 2), {"pct_start": 0.3, "div": 5.0})], lr
    if schedule == "unfreeze":
        lo, hi = unfrozen_lr or (lr / 200, lr / 2)
        return [("frozen", True, freeze_epochs, lr, {}), ("unfrozen", False, epochs, slice(lo, hi), {})], hi
    return [("one_cycle", False, epochs, lr, {})], lr


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
        From :func:`audiospec_utils.learn.estimator.create_learner`; its weights are unchanged afterwards.
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
        ``SuggestionMethod``: ``valley`` is the one :func:`audiospec_utils.learn.train.train_classifier` uses),
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
