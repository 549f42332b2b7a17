"""Say the cost first: the expected training time is printed once, from the first batches, before the
first epoch ends (the line's accuracy is a matter for bench/, not for a unit test)."""

from __future__ import annotations

import io

import pytest

from audiospec_utils.learn.time_estimate import VALID_BATCH_SHARE, TimeEstimate, expected_seconds, format_estimate


def test_expected_seconds_counts_training_and_validation_batches_of_every_epoch():
    assert expected_seconds(0.5, train_batches=10, valid_batches=3, epochs=4) == pytest.approx(
        4 * 0.5 * (10 + 3 * VALID_BATCH_SHARE))
    assert expected_seconds(0.5, 10, 3, 0) == 0
    # validation batches twice the size of training ones cost twice as much each
    assert expected_seconds(0.5, 10, 3, 4, valid_size=2.0) == pytest.approx(4 * 0.5 * (10 + 3 * 2 * VALID_BATCH_SHARE))


def test_format_estimate_says_the_time_the_epochs_and_the_batches():
    line = format_estimate(150.0, epochs=10, train_batches=9, valid_batches=3, bs=32, batch_seconds=1.5,
                           device="cpu, 2 threads")
    assert line.startswith("expected time: about 2.5 min for 10 epochs")
    assert "9 batches of 32" in line and "1.50 s a training batch on this cpu, 2 threads" in line


def test_the_estimate_is_printed_once_after_the_timed_batches_of_the_first_epoch():
    from fastai.callback.core import Callback
    from fastai.test_utils import synth_dbunch, synth_learner

    out = io.StringIO()
    seen = []

    class Watch(Callback):
        order = TimeEstimate.order + 1

        def after_batch(self):
            if self.training:
                seen.append((self.epoch, self.iter, out.getvalue().count("expected time")))

    learn = synth_learner(data=synth_dbunch(bs=2, n_train=10, n_valid=4), cbs=[TimeEstimate(epochs=3, timed=3, file=out), Watch()])
    learn.fit(2)
    assert out.getvalue().count("expected time:") == 1
    assert "for 3 epochs (10 batches of 2 + 4 validation batches each" in out.getvalue()
    printed_at = next(i for i, (_, _, n) in enumerate(seen) if n)
    assert seen[printed_at][:2] == (0, 3)  # after the untimed first batch and 3 timed ones
    assert learn.cbs.filter(lambda c: isinstance(c, TimeEstimate))[0].seconds > 0


def test_a_short_epoch_still_gets_an_estimate():
    from fastai.test_utils import synth_dbunch, synth_learner

    out = io.StringIO()
    learn = synth_learner(data=synth_dbunch(bs=2, n_train=2, n_valid=1), cbs=[TimeEstimate(epochs=1, timed=5, file=out)])
    learn.fit(1)
    assert "for 1 epoch (2 batches of 2" in out.getvalue()


def test_the_time_a_batch_costs_outside_the_step_is_counted():
    import time

    from fastai.callback.core import Callback
    from fastai.test_utils import synth_dbunch, synth_learner

    class SlowBookkeeping(Callback):  # stands for what runs between two steps: data, transforms, progress bar
        order = TimeEstimate.order + 1

        def after_batch(self):
            if self.training:
                time.sleep(0.05)

    estimate = TimeEstimate(epochs=1, timed=3, file=io.StringIO())
    learn = synth_learner(data=synth_dbunch(bs=2, n_train=10, n_valid=4), cbs=[estimate, SlowBookkeeping()])
    learn.fit(1)
    assert estimate.seconds >= 5 * 0.05  # 5 batches of 2, each at least the 0.05 s spent after its step
