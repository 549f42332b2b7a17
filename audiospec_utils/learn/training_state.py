"""The state a training checkpoint captures: the random states, written to disk whole or not at all.

A resumed training repeats an uninterrupted one only if every random generator it draws from is
where it was: Python's, NumPy's, torch's (and CUDA's), and the DataLoaders' own generators, which
draw the crops and the shuffling. :func:`random_states` captures them, :func:`restore_random_states`
puts them back, and :func:`save_atomic` writes a checkpoint so that a training killed while saving
leaves the previous one whole. :data:`RESUME_VERSION` is the format of that file.

The checkpoint itself is written by :class:`audiospec_utils.learn.callbacks.EpochCheckpoint` and read by
:func:`audiospec_utils.learn.resume.load_training_state`; this module is what both need, below both.
"""

from __future__ import annotations

import random

import numpy as np
import torch

from ..fileio import atomic_path

__all__ = ["RESUME_VERSION", "save_atomic", "random_states", "restore_random_states"]

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
