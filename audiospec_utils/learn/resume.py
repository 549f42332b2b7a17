"""Training that survives a disconnect: a checkpoint after every epoch, and a resume that matches.

After each finished epoch, :class:`~audiospec_utils.learn.callbacks.EpochCheckpoint` writes
``models/resume.pth`` of the run folder (atomically: a temporary file renamed over the old one) with everything the rest of the training
depends on: the weights, the optimizer's state (Adam's moments), where the schedule is (the stage
and the epoch within it: the one-cycle learning rate is a function of that position), every random
state (Python's, NumPy's, torch's, and the DataLoaders' own generators, which draw the crops and
the shuffling), the epoch history so far, and the settings the training was started with. It also
keeps ``models/last.pth`` (the weights alone, as ``learn.save("last")`` writes them) for
``learn.load("last")``.

Running the same training again into the same folder (:func:`audiospec_utils.learn.train.train_classifier`,
``audiospec train``, the course's training cell) loads that state and continues at the next epoch:
the finished epochs are skipped (:class:`~audiospec_utils.learn.callbacks.SkipFinishedEpochs`, fastai's ``SkipToEpoch`` without its empty
log rows; fastai puts the one-cycle schedule where it was from the epoch number),
and, the random states being restored, the rest of the training is the one an uninterrupted run
would have done (on the CPU to the last digit; CUDA's non-deterministic kernels may differ slightly).
A run started with other settings is refused, with the differences named
(:func:`settings_difference`); ``restart=True`` / ``--restart`` starts over.

This is the approach of the training libraries users know (``resume_from_checkpoint`` in Hugging
Face's Trainer, ``ckpt_path`` in Lightning).

This module decides whether and from what a training resumes (:func:`resumable_state`,
:func:`load_training_state`, :func:`restore_training_state`); the callbacks that write the state are
in :mod:`audiospec_utils.learn.callbacks`, the random states and the atomic save in
:mod:`audiospec_utils.learn.callbacks` (both re-exported here).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import torch

from ..exceptions import DatasetError, ParameterError
from .callbacks import RESUME_VERSION, restore_random_states
from .run import Run

__all__ = ["load_training_state", "settings_difference", "describe_difference", "restore_training_state",
           "resumable_state"]

logger = logging.getLogger(__name__)


def settings_difference(saved: dict, now: dict) -> dict:
    """``{name: (saved, now)}`` for every setting that differs between a checkpoint and a new start.

    Keys starting with ``_`` are facts of the run (e.g. the rate ``lr_find`` chose), not settings.

    Parameters
    ----------
    saved, now : dict
        The checkpoint's settings and the new start's.

    Returns
    -------
    dict
        ``{name: (saved value, new value)}``, names sorted; empty when they agree.
    """
    keys = sorted(k for k in set(saved) | set(now) if not k.startswith("_"))
    return {k: (saved.get(k), now.get(k)) for k in keys if saved.get(k) != now.get(k)}


def describe_difference(diff: dict) -> str:
    """``"epochs 200 -> 1, lr None -> 0.01"``: a :func:`settings_difference` in words."""
    return ", ".join(f"{k} {a!r} -> {b!r}" for k, (a, b) in diff.items())


def load_training_state(path, settings: dict, *, map_location="cpu") -> dict | None:
    """The state saved by :class:`~audiospec_utils.learn.callbacks.EpochCheckpoint`, checked against the settings of a new start.

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


def restore_training_state(learn, state: dict) -> None:
    """Weights, optimizer state and random states of a checkpoint, into a learner set up for its stage.

    Parameters
    ----------
    learn : fastai.learner.Learner
        Frozen or unfrozen as the checkpoint's stage was (its optimizer is created when missing).
    state : dict
        From :func:`load_training_state`.
    """
    learn.model.load_state_dict(state["model"])
    if state.get("opt") is not None:
        if learn.opt is None:
            learn.create_opt()
        learn.opt.load_state_dict(state["opt"])  # torch's AdamW (learner.adamw) moves it to the weights' device
    restore_random_states(state["random"], learn.dls)


def resumable_state(run: Run, settings: dict, *, restart: bool, device) -> dict | None:
    """The state to resume a training from, or None to start from the beginning.

    Parameters
    ----------
    run : audiospec_utils.learn.run.Run
        The run folder the training writes.
    settings : dict
        The settings the training is started with now.
    restart : bool
        Start over even when an interrupted training with the same settings is there.
    device : torch.device
        Where the checkpoint's tensors are loaded.

    Returns
    -------
    dict or None
        :func:`load_training_state`'s state when the run holds an interrupted training (no
        ``metrics.json``) and `restart` is not set. Otherwise None, the stale checkpoint removed and
        the interrupted training's last weights kept aside as ``models/last_interrupted_<time>.pth``.

    Raises
    ------
    ParameterError
        The interrupted training had other settings (see :func:`load_training_state`).
    DatasetError
        Its checkpoint is unreadable.
    """
    resume_file, last = run.file(Run.RESUME), run.file(Run.CHECKPOINT)
    interrupted = not run.file(Run.METRICS).is_file()  # a finished run trains again from the start
    if interrupted and not restart and resume_file.is_file():
        return load_training_state(resume_file, settings, map_location=device)  # ParameterError: other settings
    resume_file.unlink(missing_ok=True)
    if interrupted and last.is_file():
        kept = last.with_name(f"last_interrupted_{time.strftime('%Y%m%d-%H%M%S')}.pth")
        last.rename(kept)
        logger.warning("%s: an earlier training here was interrupted; its last weights are kept as %s. "
                       "Training starts again from the beginning.", run.path, kept)
    return None
