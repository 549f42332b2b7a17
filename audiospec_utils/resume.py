"""Training that survives a disconnect: a checkpoint after every epoch, and a resume that matches.

After each finished epoch, :class:`EpochCheckpoint` writes ``models/resume.pth`` of the run folder
(atomically: a temporary file renamed over the old one) with everything the rest of the training
depends on: the weights, the optimizer's state (Adam's moments), where the schedule is (the stage
and the epoch within it: the one-cycle learning rate is a function of that position), every random
state (Python's, NumPy's, torch's, and the DataLoaders' own generators, which draw the crops and
the shuffling), the epoch history so far, and the settings the training was started with. It also
keeps ``models/last.pth`` (the weights alone, as ``learn.save("last")`` writes them) for
``learn.load("last")``.

Running the same training again into the same folder (:func:`audiospec_utils.train.train_classifier`,
``audiospec train``, the course's training cell) loads that state and continues at the next epoch:
the finished epochs are skipped (:class:`SkipFinishedEpochs`, fastai's ``SkipToEpoch`` without its empty
log rows; fastai puts the one-cycle schedule where it was from the epoch number),
and, the random states being restored, the rest of the training is the one an uninterrupted run
would have done (on the CPU to the last digit; CUDA's non-deterministic kernels may differ slightly).
A run started with other settings is refused, with the differences named
(:func:`settings_difference`); ``restart=True`` / ``--restart`` starts over.

This is the approach of the training libraries users know (``resume_from_checkpoint`` in Hugging
Face's Trainer, ``ckpt_path`` in Lightning).
"""

from __future__ import annotations

import os
import random
import uuid
from pathlib import Path

import numpy as np
import torch
from fastai.callback.core import Callback, CancelEpochException
from fastai.learner import Recorder

from .exceptions import DatasetError, ParameterError

__all__ = ["EpochHistory", "EpochCheckpoint", "SkipFinishedEpochs", "RESUME_VERSION", "load_training_state", "settings_difference",
           "describe_difference", "random_states", "restore_random_states", "save_atomic"]

#: Format of ``models/resume.pth``; a file of another version is not resumed from.
RESUME_VERSION = 1


def save_atomic(obj, path) -> None:
    """``torch.save`` to a unique temporary name beside `path`, then rename it over `path`.

    A training killed while saving leaves the previous file whole (and a hidden temporary file,
    never read).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _seeded_loaders(dls) -> list:
    """The DataLoaders with a random generator of their own (fastai's ``DataLoader.rng``)."""
    return [dl for dl in dls.loaders if hasattr(dl, "rng")]


def random_states(dls=None) -> dict:
    """Every random state the training draws from: Python, NumPy, torch (and CUDA), the DataLoaders'."""
    states = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    if dls is not None:
        states["dataloaders"] = [dl.rng.getstate() for dl in _seeded_loaders(dls)]
    return states


def restore_random_states(states: dict, dls=None) -> None:
    """Put back what :func:`random_states` captured."""
    random.setstate(states["python"])
    np.random.set_state(states["numpy"])
    torch.set_rng_state(states["torch"])
    if "cuda" in states and torch.cuda.is_available() and len(states["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(states["cuda"])
    if dls is not None and "dataloaders" in states:
        for dl, state in zip(_seeded_loaders(dls), states["dataloaders"]):
            dl.rng.setstate(state)


def settings_difference(saved: dict, now: dict) -> dict:
    """``{name: (saved, now)}`` for every setting that differs between a checkpoint and a new start.

    Keys starting with ``_`` are facts of the run (e.g. the rate ``lr_find`` chose), not settings.
    """
    keys = sorted(k for k in set(saved) | set(now) if not k.startswith("_"))
    return {k: (saved.get(k), now.get(k)) for k in keys if saved.get(k) != now.get(k)}


def describe_difference(diff: dict) -> str:
    """``"epochs 200 -> 1, lr None -> 0.01"``."""
    return ", ".join(f"{k} {a!r} -> {b!r}" for k, (a, b) in diff.items())


def load_training_state(path, settings: dict, *, map_location="cpu") -> dict | None:
    """The state saved by :class:`EpochCheckpoint`, checked against the settings of a new start.

    Parameters
    ----------
    path : str or os.PathLike
        ``models/resume.pth`` of a run folder.
    settings : dict
        The settings the training is started with now (JSON-like values).
    map_location : str or torch.device
        Where the tensors are loaded.

    Returns
    -------
    dict or None
        ``None`` when there is no such file. Else ``model``, ``opt`` (state dicts), ``stage``
        (index of the schedule's stage), ``epoch`` (epochs finished in that stage), ``done``
        (epochs finished in all), ``total``, ``history`` (rows), ``random`` and ``settings``.

    Raises
    ------
    ParameterError
        The checkpoint was made with other settings (the message names them and the way to start
        over: ``--restart`` / ``restart=True``).
    DatasetError
        The file is unreadable or of another format version.
    """
    path = Path(path)
    if not path.is_file():
        return None
    try:
        state = torch.load(path, map_location=map_location, weights_only=False)
    except Exception as err:  # a truncated or foreign file
        raise DatasetError(f"{path}: cannot read the training checkpoint ({type(err).__name__}: {err}); delete it "
                           f"or train with --restart") from None
    if not isinstance(state, dict) or state.get("version") != RESUME_VERSION:
        raise DatasetError(f"{path}: a training checkpoint of another format; delete it or train with --restart")
    diff = settings_difference(state["settings"], settings)
    if diff:
        raise ParameterError(
            f"{path.parent.parent}: an interrupted training with other settings is there "
            f"({describe_difference(diff)}): run it again with the same settings to resume it at epoch "
            f"{state['done'] + 1} of {state['total']}, or add --restart (restart=True) to start over.")
    return state


class EpochHistory(Callback):
    """Collect each epoch's recorder line (losses, metrics), across several fits (stages).

    Parameters
    ----------
    rows : list of dict or None
        Rows of epochs finished before (a resumed training), kept in front.
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
    """
    order = Recorder.order + 5  # after the recorder has started the epoch's line, before the progress bar

    def __init__(self, start: int, smooth_loss=None):
        self.start, self._logger, self.smooth_loss = int(start), None, smooth_loss

    def before_epoch(self):
        if self.epoch < self.start:
            if self._logger is None:
                self._logger = self.learn.logger
                self.learn.logger = lambda *args, **kwargs: None
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


class EpochCheckpoint(Callback):
    """After every finished epoch: ``models/last.pth`` (weights) and ``models/resume.pth`` (everything).

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

    def after_epoch(self):
        import pandas as pd

        if self.epoch < self.skip:
            return
        learn = self.learn
        done = self.done_before + self.epoch + 1
        save_atomic({"version": RESUME_VERSION, "model": learn.model.state_dict(),
                     "opt": learn.opt.state_dict() if learn.opt is not None else None,
                     "stage": self.stage_index, "epoch": self.epoch + 1, "done": done, "total": self.total,
                     "history": self.history.rows, "random": random_states(learn.dls), "settings": self.settings,
                     "smooth_loss": {"count": learn.recorder.smooth_loss.count,
                                     "val": learn.recorder.smooth_loss.val.detach().cpu()}},
                    self.resume_file)
        learn.save("last", with_opt=False)
        if self.history_file is not None:
            tmp = Path(self.history_file).with_name(f".{Path(self.history_file).name}.{os.getpid()}.tmp")
            pd.DataFrame(self.history.rows).to_csv(tmp, index=False)
            os.replace(tmp, self.history_file)
