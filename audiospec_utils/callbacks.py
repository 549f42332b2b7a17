"""What a Learner shows while it trains, set in one place.

fastai draws a progress bar (``ProgressCallback``) and logs one row per epoch (``learn.logger``).
A benchmark, ``cv``, ``compare`` or an experiment of the course trains many models and wants neither:
:func:`silence` takes both away, the same way everywhere.
"""

from __future__ import annotations

__all__ = ["silence"]


def _no_log(*args, **kwargs) -> None:
    """A logger that logs nothing (module-level, so that an exported learner still pickles)."""


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
    learn.remove_cbs([cb for cb in learn.cbs if type(cb).__name__ == "ProgressCallback"])
    learn.logger = _no_log
    return learn
