"""Say the cost first: how long a training will take on this machine, from its first batches.

A learner on a laptop should know before the first epoch ends whether the run takes two minutes or
two hours. :class:`TimeEstimate` is a fastai callback that times the first training batches of the
real training (no separate warm-up, nothing changes in the training) and prints one line::

    expected time: about 1.4 min for 10 epochs (9 batches of 32 + 3 validation batches each;
    0.62 s a training batch on this cpu, 2 threads)

The first batch is not timed (memory allocation and lazy initialisation make it slow); the mean of
the next :attr:`TimeEstimate.timed` batches is, each timed from the end of the one before to its own
end, so that what a training pays per batch outside the model (loading and cropping the images, the
batch transforms, the progress bar) is counted too: timed inside the step alone, the line said 42 s
for a training that took 56 s (the event stand-in of ``bench/recipe_time.sh``, bf16, 2 cores). A
validation batch is counted as a third of a training batch of its size: it is a forward pass only,
without the backward pass that costs about twice the forward one, and its batches are usually twice
as large (the toolkit validates in batches of 2 x bs). :func:`expected_seconds` is the arithmetic,
:func:`format_estimate` the line. The set-up before the first batch (the image cache, the
DataLoaders) is not in the line.
"""

from __future__ import annotations

import sys
import time

from fastai.callback.core import Callback

__all__ = ["TimeEstimate", "expected_seconds", "format_estimate", "VALID_BATCH_SHARE"]

#: Cost of a validation batch as a share of a training batch (forward only: about 1/3 of
#: forward + backward, the usual rule of thumb for convolutional networks).
VALID_BATCH_SHARE = 1 / 3


def expected_seconds(batch_seconds: float, train_batches: int, valid_batches: int, epochs: int,
                     valid_size: float = 1.0) -> float:
    """Expected wall time of a training, in seconds.

    Parameters
    ----------
    batch_seconds : float
        Wall time of one training batch (forward, backward, optimizer step, data), in seconds.
    train_batches, valid_batches : int
        Batches per epoch of the training and validation DataLoaders.
    epochs : int
        Epochs still to run.
    valid_size : float
        Size of a validation batch over that of a training batch (``valid_bs / bs``).

    Returns
    -------
    float
        ``epochs * batch_seconds * (train_batches + VALID_BATCH_SHARE * valid_size * valid_batches)``.
    """
    return float(epochs) * float(batch_seconds) * (int(train_batches)
                                                   + VALID_BATCH_SHARE * float(valid_size) * int(valid_batches))


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def format_estimate(seconds: float, *, epochs: int, train_batches: int, valid_batches: int, bs: int,
                    batch_seconds: float, device: str) -> str:
    """The line :class:`TimeEstimate` prints (see the module's docstring for an example)."""
    return (f"expected time: about {_duration(seconds)} for {epochs} epoch{'s' if epochs != 1 else ''} "
            f"({train_batches} batches of {bs} + {valid_batches} validation batches each; "
            f"{batch_seconds:.2f} s a training batch on this {device})")


def _device(learn) -> str:
    import torch

    try:
        dev = next(learn.model.parameters()).device
    except StopIteration:
        dev = torch.device("cpu")
    if dev.type == "cuda":
        return f"GPU ({torch.cuda.get_device_name(dev)})"
    return f"cpu, {torch.get_num_threads()} thread{'s' if torch.get_num_threads() != 1 else ''}"


class TimeEstimate(Callback):
    """Print the expected training time once, after timing the first training batches.

    Parameters
    ----------
    epochs : int
        Epochs the whole training will run from now (all its stages: frozen and unfrozen), so the
        estimate covers the training, not only the current ``fit`` call.
    timed : int
        Batches timed after the first (untimed) one; fewer when an epoch has fewer batches.
    file : file-like or None
        Where the line goes (default: ``sys.stderr``, so that ``--json`` output stays JSON).

    Attributes
    ----------
    seconds : float or None
        The estimate, in seconds, once printed.
    """

    order = -20  # first at after_batch: a batch's time ends before its bookkeeping, the one before it counts

    def __init__(self, epochs: int, timed: int = 5, file=None):
        self.epochs, self.timed, self.file = int(epochs), int(timed), file
        self.seconds = None
        self._times: list[float] = []  # from the end of one training batch to the end of the next
        self._start = self._end = None

    def before_batch(self):
        if self.training and self.seconds is None and self._start is None:
            self._start = time.perf_counter()  # the first batch: its step alone, for an epoch of one batch

    def after_batch(self):
        if not self.training or self.seconds is not None or self._start is None:
            return
        now = time.perf_counter()
        if self._end is not None:
            self._times.append(now - self._end)  # data, transforms, step and bookkeeping of this batch
        self._end = now
        if len(self._times) >= self.timed or self.iter + 1 >= self.n_iter:
            self._report()

    def _report(self):
        times = self._times or [self._end - self._start]  # the first batch warms up: timed alone only if alone
        batch_seconds = sum(times) / len(times)
        valid = getattr(self.dls, "valid_epoch", None) or self.dls.valid  # what each epoch scores
        n_train, n_valid = len(self.dls.train), len(valid) if valid is not None else 0
        valid_size = valid.bs / self.dls.train.bs if n_valid else 1.0
        self.seconds = expected_seconds(batch_seconds, n_train, n_valid, self.epochs, valid_size=valid_size)
        line = format_estimate(self.seconds, epochs=self.epochs, train_batches=n_train, valid_batches=n_valid,
                               bs=self.dls.train.bs, batch_seconds=batch_seconds, device=_device(self.learn))
        print(line, file=self.file or sys.stderr, flush=True)
