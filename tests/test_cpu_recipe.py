"""The CPU recipe's pieces (issue 29): a cheap score after each epoch (one window per validation
image) with the every-window score once at the end, and a random low-pass of training crops so that
band-limited recordings are read as full-band ones."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from audiospec_utils.exceptions import ParameterError
from audiospec_utils.learn.augment import low_pass_rows
from audiospec_utils.learn.crops import middle_windows, window_layout


def test_low_pass_silences_exactly_the_rows_above_the_cut_off():
    x = torch.randn(4, 3, 8, 5)
    hz = torch.tensor([9000.0, 8000, 7000, 6000, 5000, 4000, 3000, 2000])  # row 0 the highest
    floor = torch.tensor([-1.0, -2.0, -3.0])
    y = low_pass_rows(x, hz, floor, 1.0, 5500.0, 5500.0)
    assert torch.equal(y[:, :, :4], floor.view(1, 3, 1, 1).expand(4, 3, 4, 5))
    assert torch.equal(y[:, :, 4:], x[:, :, 4:])
    assert torch.equal(low_pass_rows(x, hz, floor, 0.0, 4000.0, 11000.0), x)  # p = 0: nothing
    torch.manual_seed(0)
    some = low_pass_rows(torch.randn(2000, 1, 8, 1), hz, floor[:1], 0.3, 4000.0, 11000.0)
    share = (some[:, 0, 0, 0] == -1.0).float().mean().item()  # row 0 (9 kHz) is cut when the cut-off < 9 kHz
    assert 0.3 * 5 / 7 - 0.05 < share < 0.3 * 5 / 7 + 0.05


def test_middle_windows_pick_one_window_per_image_nearest_its_middle():
    widths = np.array([10, 40, 4])
    starts, of = window_layout(widths, 8, 0.5)
    chosen = middle_windows(starts, of, widths, 8)
    assert of[chosen].tolist() == [0, 1, 2]
    assert starts[chosen[1]] in (12, 16) and abs(starts[chosen[1]] - 16) <= 4  # (40 - 8) / 2 = 16


def test_a_training_scores_one_window_per_image_each_epoch_and_every_window_at_the_end(mini_specs, tmp_path):
    from fastai.callback.core import Callback

    from audiospec_utils.learn import SpectrogramClassifier
    from audiospec_utils.learn.schedules import fit

    clf = SpectrogramClassifier(arch="resnet18", epochs=1, img_size=32, bs=8, pretrained=False,
                                crop_seconds=0.25).build(mini_specs, path=tmp_path)
    dls = clf.dls_
    n_images = dls.valid_table["image"].nunique()
    assert len(dls.valid_epoch.dataset) == n_images < len(dls.valid.dataset)  # several windows per clip

    class Count(Callback):
        def before_fit(self):
            self.seen = 0

        def after_batch(self):
            if not self.training:
                self.seen += len(self.yb[0])

    counter = Count()
    clf.learn_.add_cb(counter)
    fit(clf.learn_, 1, pretrained=False, checkpoint=False, history=False, estimate=False)
    assert counter.seen == n_images  # the epoch's validation: one window per image
    preds = clf.predict_proba()
    assert len(preds) == dls.valid_table["clip_id"].nunique()  # the clip scores: every window averaged
    probs, _ = clf.learn_.get_preds(dl=dls.valid)
    assert len(probs) == len(dls.valid_table)  # get_preds outside a fit still reads every window


def test_low_pass_reaches_the_training_batches_of_a_log_mel_render(mini_specs):
    from audiospec_utils.learn.dataloaders import LowPass, spectrogram_dataloaders

    dls = spectrogram_dataloaders(mini_specs, img_size=32, bs=8, crop_seconds=0.25, low_pass=1.0)
    low = [t for t in dls.train.batch_tfm.augment if isinstance(t, LowPass)]
    assert len(low) == 1 and low[0].p == 1.0
    hz = low[0].row_hz.numpy()
    assert hz[0] > hz[-1] and hz[0] > 11000 and hz[-1] < 100  # top row first, up to the folder's Nyquist
    x, _ = dls.train.one_batch()
    top = hz > 11000  # above every cut-off: silence in every training image
    assert torch.allclose(x[:, :, torch.as_tensor(top)], low[0].floor.view(1, 3, 1, 1).to(x.dtype))
    assert not any(isinstance(t, LowPass) for t in dls.valid.batch_tfm.augment)  # never at validation
    with pytest.raises(ParameterError, match="low_pass must be a probability"):
        from audiospec_utils.learn import TrainingConfig

        TrainingConfig(low_pass=1.5)
