"""The toolkit's fastai callbacks, each a small module-level class, and what a Learner shows while it trains.

fastai's way of changing a training loop is a ``Callback`` with hooks (``before_fit``,
``after_epoch``...). The ones the toolkit adds to every training (:func:`audiospec_utils.learn.train.fit`):

:class:`InterruptGuard`
    never loses a Ctrl-C (one that Python swallowed inside a ``__del__`` is raised at the next batch);
:class:`EpochHistory`
    collects each epoch's losses and metrics across the stages of a schedule (``history.csv``);
:class:`EpochCheckpoint`
    saves ``models/last.pth`` and the whole training state ``models/resume.pth`` after every epoch;
:class:`SkipFinishedEpochs`
    skips, silently, the epochs a resumed training had already finished (:mod:`audiospec_utils.learn.resume`).

and, where a recipe asks for it on a CPU with bfloat16 in hardware, :class:`CpuBfloat16`.

fastai draws a progress bar (``ProgressCallback``) and logs one row per epoch (``learn.logger``). A
benchmark, ``cv``, ``compare`` or an experiment of the course trains many models and wants neither:
:func:`silence` takes both away, the same way everywhere. (``audiospec_utils.learn.train.EpochRows``, which
prints the epoch table as plain lines in a log, stays in :mod:`audiospec_utils.learn.train`: exported
learners refer to it there.)
"""

from __future__ import annotations

import random
import signal
import threading

import numpy as np
import pandas as pd
import torch
from fastai.callback.core import Callback, CancelEpochException
from fastai.learner import Recorder
from fastai.torch_core import get_model

from ..fileio import atomic_path, write_csv_atomic

__all__ = ["RESUME_VERSION", "save_atomic", "random_states", "restore_random_states", "InterruptGuard", "EpochValidation", "EpochHistory", "EpochCheckpoint", "SkipFinishedEpochs", "CpuBfloat16", "silence",
           "remove_progress_bar", "recorder_state", "restore_recorder"]


def _no_log(*args, **kwargs) -> None:
    """A logger that logs nothing (module-level, so that an exported learner still pickles)."""


def remove_progress_bar(learn):
    """Remove a Learner's progress bar (fastai's ``ProgressCallback``); returns the Learner.

    Parameters
    ----------
    learn : fastai.learner.Learner

    Returns
    -------
    fastai.learner.Learner
        The same object, changed in place; its logger (one row per epoch) is left as it is.
    """
    learn.remove_cbs([cb for cb in learn.cbs if type(cb).__name__ == "ProgressCallback"])
    return learn


def silence(learn):
    """Remove a Learner's progress bar and per-epoch log lines; returns the Learner.

    Parameters
    ----------
    learn : fastai.learner.Learner

    Returns
    -------
    fastai.learner.Learner
        The same object, without its ``ProgressCallback`` and with a logger that prints nothing.
    """
    remove_progress_bar(learn)
    learn.logger = _no_log
    return learn


class InterruptGuard(Callback):
    """Never lose a Ctrl-C: remember it, and raise it at the next batch if Python swallowed it.

    Python raises KeyboardInterrupt wherever the main thread is when SIGINT arrives; inside a
    ``__del__`` or a weakref callback it is printed as "Exception ignored" and lost, and the
    training went on (seen once in a test that interrupts a 200-epoch run). From ``before_fit`` to
    ``after_fit`` this callback's handler takes SIGINT's place, but only over Python's own Ctrl-C
    handler in the main thread: an ignored SIGINT (a background job) or a program's own handler is
    left as it is.

    Attributes
    ----------
    requested : bool
        Whether a Ctrl-C arrived during the fit.
    """
    order = -100  # before every other callback

    def before_fit(self):
        self.requested, self.previous = False, None
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
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)
            self.previous = None


class EpochValidation(Callback):
    """Score each epoch of a fit on one window per validation image (``dls.valid_epoch``), not all of them.

    The toolkit's reported score averages every window of a validation clip, and a 4 s clip in
    1 s crops has seven windows: scoring them all after every epoch cost more than the epoch's
    training on a CPU. The per-epoch line (and ``history.csv``) reads the middle window of each
    image instead; the every-window, clip-averaged score is computed once, after the fit. Only the
    validation of a fit is changed: ``get_preds`` and ``validate`` outside one still read every
    window.
    """

    order = 0

    def before_fit(self):
        self._in_fit = True

    def after_fit(self):
        self._in_fit = False

    def before_validate(self):
        cheap = getattr(self.dls, "valid_epoch", None)
        if getattr(self, "_in_fit", False) and cheap is not None and self.learn.dl is self.dls.valid:
            self.learn.dl = cheap


class CpuBfloat16(Callback):
    """The forward pass of training batches in bfloat16 autocast on a CPU; all else stays float32.

    ``torch.autocast("cpu", dtype=torch.bfloat16)`` runs the convolutions and matrix products of
    the forward pass (and so their backward) in bfloat16 while the weights, the optimizer and the
    loss stay float32 (the predictions are cast back before the loss). fastai's ``MixedPrecision``
    does this on a GPU only. Validation, ``get_preds``, prediction and an exported model compute in
    float32, so a clip gives the same probabilities whether or not the model was trained with it.
    Worth it only on a CPU with bf16 instructions (:func:`audiospec_utils.learn.config.cpu_computes_bf16`):
    elsewhere torch emulates them, slower than float32.
    """
    order = 10  # as fastai's MixedPrecision: after the batch is on the device, before the model

    def before_batch(self):
        self._autocast = None
        if self.training:
            self._autocast = torch.autocast("cpu", dtype=torch.bfloat16)
            self._autocast.__enter__()

    def after_pred(self):
        if self._leave():
            self.learn.pred = self.pred.float()

    def after_cancel_batch(self):
        self._leave()

    def _leave(self) -> bool:
        ctx, self._autocast = getattr(self, "_autocast", None), None
        if ctx is not None:
            ctx.__exit__(None, None, None)
        return ctx is not None


class EpochHistory(Callback):
    """Collect each epoch's recorder line (losses, metrics), across several fits (stages).

    Parameters
    ----------
    rows : list of dict or None
        Rows of epochs finished before (a resumed training), kept in front.

    Attributes
    ----------
    rows : list of dict
        One per epoch: ``epoch`` (from 0, over all stages), ``stage`` and the recorder's values.
    stage : str
        Name of the stage the next rows belong to (set before each fit).
    skip : int
        Epochs of this fit already recorded before a resume (not recorded again).
    """
    order = Recorder.order + 1

    def __init__(self, rows=None):
        self.rows, self.stage, self.skip = list(rows or []), "train", 0

    def after_epoch(self):
        if self.epoch < self.skip:  # skipped by a resume: it was recorded before the interruption
            return
        names = list(self.recorder.metric_names)
        row = dict(zip(names, list(self.recorder.log)))
        row.pop("epoch", None)
        self.rows.append({"epoch": len(self.rows), "stage": self.stage, **row})


class SkipFinishedEpochs(Callback):
    """Skip the epochs a resumed training had finished, silently (fastai's ``SkipToEpoch``, muted).

    fastai still runs ``after_epoch`` for a skipped epoch, and the recorder would print an empty
    row for it: the learner's logger is muted until the first epoch that really runs.

    Parameters
    ----------
    start : int
        The first epoch of this fit that runs.
    smooth_loss : dict or None
        The recorder's smoothed training loss at the checkpoint (``count``, ``val``), carried on.
    """
    order = Recorder.order + 5  # after the recorder has started the epoch's line, before the progress bar

    def __init__(self, start: int, smooth_loss=None):
        self.start, self._logger, self.smooth_loss = int(start), None, smooth_loss

    def before_epoch(self):
        if self.epoch < self.start:
            if self._logger is None:
                self._logger = self.learn.logger
                self.learn.logger = _no_log
            raise CancelEpochException
        if self._logger is not None:
            self.learn.logger, self._logger = self._logger, None
        if self.epoch == self.start and self.smooth_loss is not None:
            # the training loss fastai reports is smoothed over the whole fit: carry it on, not from zero
            sm = self.learn.recorder.smooth_loss
            sm.count, sm.val = self.smooth_loss["count"], self.smooth_loss["val"].to(sm.val.device)

    def after_fit(self):
        if self._logger is not None:
            self.learn.logger, self._logger = self._logger, None


def recorder_state(recorder) -> dict:
    """What fastai's ``Recorder`` holds of the current ``fit``, as plain lists (saved in a checkpoint).

    With it, a training that is found finished when a notebook's cell runs again still has its loss
    curve: ``learn.recorder.plot_loss()`` draws the saved one (:func:`restore_recorder`).
    """
    return {"metric_names": [str(n) for n in recorder.metric_names],
            "lrs": [float(x) for x in recorder.lrs], "iters": [int(x) for x in recorder.iters],
            "losses": [float(x) for x in recorder.losses], "values": [list(v) for v in recorder.values]}


def restore_recorder(recorder, state: dict | None) -> None:
    """Put a :func:`recorder_state` back into a ``Recorder`` (nothing when `state` is None)."""
    from fastcore.foundation import L

    if not state:
        return
    recorder.metric_names = L(state["metric_names"])
    recorder.lrs, recorder.iters = L(state["lrs"]), L(state["iters"])
    recorder.losses, recorder.values = L(torch.tensor(x) for x in state["losses"]), L(state["values"])


class EpochCheckpoint(Callback):
    """After every finished epoch: ``models/last.pth`` (weights) and ``models/resume.pth`` (everything).

    The state is copied in memory on the training thread (tens of milliseconds) and written by a
    thread of its own while the next epoch trains: the epochs no longer wait for 100 to 200 MB of
    file (issue 29). The next epoch's write, and the end of the fit, first wait for the previous
    one. Each file is written under a temporary name and renamed (:func:`save_atomic`): a process
    killed while writing leaves the previous epoch's files whole, and a resume from them is exact.

    Parameters
    ----------
    settings : dict
        The training's settings, saved so that a resume with other settings is refused.
    history : EpochHistory
        Its rows are saved (and written to `history_file`).
    resume_file : path
        Where the state goes (``models/resume.pth`` of the run folder).
    stage : int
        Index of the schedule stage this fit is.
    total : int
        Epochs of the whole training (all stages).
    done_before : int
        Epochs finished in the stages before this one.
    skip : int
        Epochs of this stage finished before a resume (not saved again).
    history_file : path or None
        ``history.csv``, rewritten after each epoch (each epoch once).
    """
    order = Recorder.order + 2  # after the history

    def __init__(self, settings: dict, history: EpochHistory, resume_file, *, stage: int, total: int,
                 done_before: int = 0, skip: int = 0, history_file=None):
        self.settings, self.history, self.stage_index = settings, history, stage
        self.total, self.done_before, self.skip = total, done_before, skip
        self.history_file, self.resume_file = history_file, resume_file
        self._writer: threading.Thread | None = None
        self._error: BaseException | None = None

    def after_epoch(self):
        if self.epoch < self.skip:
            return
        learn = self.learn
        done = self.done_before + self.epoch + 1
        model = _cpu_copy(learn.model.state_dict())
        bare = get_model(learn.model)  # without a DistributedDataParallel wrapper, as learn.save writes it
        weights = model if bare is learn.model else _cpu_copy(bare.state_dict())
        state = {"version": RESUME_VERSION, "model": model,
                 "opt": _cpu_copy(learn.opt.state_dict()) if learn.opt is not None else None,
                 "stage": self.stage_index, "epoch": self.epoch + 1, "done": done, "total": self.total,
                 "history": [dict(r) for r in self.history.rows], "random": random_states(learn.dls),
                 "settings": self.settings,
                 "smooth_loss": {"count": learn.recorder.smooth_loss.count,
                                 "val": learn.recorder.smooth_loss.val.detach().cpu().clone()},
                 "recorder": recorder_state(learn.recorder)}
        last = learn.path / learn.model_dir / "last.pth"  # what learn.save("last", with_opt=False) writes
        self.wait()
        self._writer = threading.Thread(target=self._write, args=(state, weights, last), name="EpochCheckpoint")
        self._writer.start()

    def _write(self, state: dict, weights: dict, last) -> None:
        try:
            save_atomic(state, self.resume_file)
            save_atomic(weights, last)
            if self.history_file is not None:
                write_csv_atomic(pd.DataFrame(state["history"]), self.history_file)
        except BaseException as err:  # raised on the training thread by wait()
            self._error = err

    def join(self) -> None:
        """Block until the last epoch's files are written."""
        if self._writer is not None:
            self._writer.join()
            self._writer = None

    def wait(self) -> None:
        """:meth:`join`, then raise the error the writing met, if any."""
        self.join()
        if self._error is not None:
            err, self._error = self._error, None
            raise err

    def after_fit(self):
        self.wait()


def _cpu_copy(obj):
    """A copy of a (nested) state dict whose tensors are detached CPU clones, safe to write while training goes on."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().to("cpu", copy=True)
    if isinstance(obj, dict):
        return {k: _cpu_copy(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_cpu_copy(v) for v in obj)
    return obj


#: Format of ``models/resume.pth``; a file of another version is not resumed from.
RESUME_VERSION = 2  # 2: the optimizer's state is torch's AdamW's (learner.adamw), no longer fastai's Adam's


def save_atomic(obj, path) -> None:
    """``torch.save`` to a unique temporary name beside `path`, then rename it over `path`.

    A training killed while saving leaves the previous file whole (and a hidden temporary file,
    never read). See :func:`audiospec_utils.fileio.atomic_path`.

    Parameters
    ----------
    obj : object
        What ``torch.save`` takes (a dict of tensors and plain values).
    path : str or os.PathLike
        The file; its folder is created when missing.
    """
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def _seeded_loaders(dls) -> list:
    """The DataLoaders with a random generator of their own (fastai's ``DataLoader.rng``)."""
    return [dl for dl in dls.loaders if hasattr(dl, "rng")]


def random_states(dls=None) -> dict:
    """Every random state the training draws from: Python, NumPy, torch (and CUDA), the DataLoaders'.

    Parameters
    ----------
    dls : fastai.data.core.DataLoaders or None
        Their loaders' own generators (``dl.rng``) are captured too.

    Returns
    -------
    dict
        ``python``, ``numpy``, ``torch``, ``cuda`` (when a GPU is usable) and ``dataloaders``
        (when `dls` is given), for :func:`restore_random_states`.
    """
    states = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    if dls is not None:
        states["dataloaders"] = [dl.rng.getstate() for dl in _seeded_loaders(dls)]
    return states


def restore_random_states(states: dict, dls=None) -> None:
    """Put back what :func:`random_states` captured.

    Parameters
    ----------
    states : dict
        From :func:`random_states`. The CUDA states are restored only on as many GPUs as they
        were taken on.
    dls : fastai.data.core.DataLoaders or None
        The DataLoaders whose generators are restored (in the order of ``dls.loaders``).
    """
    random.setstate(states["python"])
    np.random.set_state(states["numpy"])
    torch.set_rng_state(states["torch"])
    if "cuda" in states and torch.cuda.is_available() and len(states["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(states["cuda"])
    if dls is not None and "dataloaders" in states:
        for dl, state in zip(_seeded_loaders(dls), states["dataloaders"]):
            dl.rng.setstate(state)
