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


def test_crop_coverage_tells_a_steady_sound_from_one_short_event():
    from audiospec_utils.learn.crops import EVENT_COVERAGE, crop_coverage

    rng = np.random.default_rng(0)
    steady = 1.0 + 0.2 * rng.random(344)  # 4 s at 86 frames/s, power within 1 dB
    event = np.full(344, 0.01)
    event[150:193] = 1.0  # 0.5 s at 20 dB over the background
    length = 86  # 1 s crops
    assert crop_coverage(steady, length) > 0.9
    assert crop_coverage(event, length) < EVENT_COVERAGE
    assert crop_coverage(event[:80], length) == 1.0  # no longer than a crop
    assert crop_coverage(np.roll(event, 100), length) < EVENT_COVERAGE  # near the end: fewer crops hold it
    long_event = np.full(344, 0.01)
    long_event[50:300] = 1.0
    assert crop_coverage(long_event, length) > EVENT_COVERAGE


def test_the_default_crop_is_the_whole_clip_for_events_and_short_for_steady_sounds():
    from audiospec_utils.learn.crops import WHOLE_CLIP_MAX_SECONDS, default_crop_seconds

    four = [4.0] * 20
    assert default_crop_seconds(four, 1.0) == 1.0  # the durations alone
    assert default_crop_seconds(four, 1.0, coverage=0.9) == 1.0  # steady
    assert default_crop_seconds(four, 1.0, coverage=0.4) == 4.0  # events: the whole clip
    assert default_crop_seconds([9.0] * 5, 1.0, coverage=0.4) == WHOLE_CLIP_MAX_SECONDS
    assert default_crop_seconds([0.6] * 5, 1.0, coverage=0.2) == 0.6  # never longer than the clips


def test_crop_geometry_pools_only_a_whole_clip_crop_it_chose_itself():
    """The time pooling follows the crop: 4 s crops chosen for events with a 1 s cap average 4 frames
    into one; a crop asked for, or the same clips as steady sounds, none; an explicit pool is kept."""
    import pandas as pd

    from audiospec_utils.features import SpectrogramParams
    from audiospec_utils.learn.crops import crop_geometry, frames_per_second

    params = SpectrogramParams()
    table = pd.DataFrame({"sr": 22050, "duration": 4.0, "clip_id": [f"c{i}" for i in range(12)]})
    fps = frames_per_second(params, 22050)
    event = np.full(int(4 * fps), 0.01)
    event[150:193] = 1.0
    steady = np.ones(int(4 * fps))
    chosen = crop_geometry(params, table, None, 1.0, frame_power=lambda i: event)
    assert (chosen.crop_seconds, chosen.time_pool) == (4.0, 4) and chosen.length == round(4.0 * fps)
    assert chosen.whole_clip  # what training logs as "crops of the whole clip"
    steady_crop = crop_geometry(params, table, None, 1.0, frame_power=lambda i: steady)
    assert (steady_crop.crop_seconds, steady_crop.time_pool, steady_crop.whole_clip) == (1.0, 1, False)
    asked = crop_geometry(params, table, 4.0, 1.0, frame_power=lambda i: event)
    assert (asked.time_pool, asked.whole_clip) == (1, False)  # asked for: not a choice made here
    assert crop_geometry(params, table, None, 1.0, frame_power=lambda i: event, time_pool=2).time_pool == 2
    early = np.roll(event, -140)  # the event in the first 0.6 s: few 2 s crops hold it
    assert crop_geometry(params, table, None, 2.0, frame_power=lambda i: early)[1::2] == (4.0, 2)
    assert not crop_geometry(params, table, None, 4.0, frame_power=lambda i: event).whole_clip  # within the cap
    with pytest.raises(ParameterError, match="time_pool"):
        crop_geometry(params, table, None, 1.0, time_pool=0)


def test_events_get_whole_clip_crops_averaged_in_time_inside_the_network(tmp_path):
    """Clips of one short burst in quiet noise: the automatic crop is the whole clip, its frames averaged
    by ceil(crop / max_crop_seconds) inside the model, and the ONNX export agrees with it."""
    from helpers import write_wav

    from audiospec_utils.audio.datasets import load_folder_per_class
    from audiospec_utils.features.render import render_spectrograms
    from audiospec_utils.infer.export_onnx import export_onnx
    from audiospec_utils.infer.onnx_predict import OnnxClassifier
    from audiospec_utils.infer.predict import predict_files
    from audiospec_utils.learn import TrainingConfig
    from audiospec_utils.learn.train import train_classifier

    sr, rng = 16000, np.random.default_rng(0)
    for label, f0 in (("low", 300.0), ("high", 2500.0)):
        for i in range(8):
            y = 0.003 * rng.standard_normal(3 * sr)
            at = rng.integers(0, 2 * sr)
            t = np.arange(int(0.3 * sr)) / sr
            y[at:at + len(t)] += 0.5 * np.sin(2 * np.pi * f0 * t) * np.hanning(len(t))
            write_wav(tmp_path / "clips" / label / f"rec{i}.wav", y.astype(np.float32), sr)
    render_spectrograms(load_folder_per_class(tmp_path / "clips"), tmp_path / "specs", progress=False)
    config = TrainingConfig(recipe="quick", pretrained=False, epochs=1, img_size=32, bs=8)
    learn, metrics = train_classifier(tmp_path / "specs", tmp_path / "run", config=config, progress=False)
    assert learn.dls.config["crop_seconds"] == pytest.approx(3.0, abs=0.05)  # the whole clip, not quick's 1 s
    assert learn.dls.config["time_pool"] == 3
    pool = learn.model[0][0][0]
    assert isinstance(pool, torch.nn.AvgPool2d) and pool.kernel_size == (1, 3)
    x = torch.zeros(1, 3, 32, learn.dls.config["length"])
    assert pool(x).shape[-1] == learn.dls.config["length"] // 3  # the first conv sees a third of the columns
    # a crop asked for is taken at every frame
    from audiospec_utils.learn.dataloaders import spectrogram_dataloaders

    assert spectrogram_dataloaders(tmp_path / "specs", img_size=32, crop_seconds=3.0, max_crop_seconds=1.0,
                                   bs=8).config["time_pool"] == 1
    export_onnx(tmp_path / "run", tmp_path / "events.onnx")  # 8-bit pixels, as the render folder holds
    files = sorted((tmp_path / "clips").rglob("*.wav"))[:4]
    ref = predict_files(tmp_path / "run", files, learn=learn, return_probs=True)
    clf = OnnxClassifier(tmp_path / "events.onnx")
    for f, r in zip(files, ref):  # the exported model pools the same columns
        import soundfile as sf

        y, rate = sf.read(f, dtype="float32")
        a = clf.analyse(y, rate)
        assert a["n_windows"] == r["n_windows"]
        assert np.abs(a["probs"] - r["probs"]).max() < 1e-3
    from audiospec_utils.explain.explanation import explain_clip

    expl = explain_clip(tmp_path / "run", files[0], learn=learn)  # Grad-CAM through the pooled first layer
    assert expl.cam.shape == expl.spectrogram.shape  # a map over every frame, not over the pooled columns
    assert np.isfinite(expl.cam).all() and expl.cam.max() > expl.cam.min()


def test_quick_low_passes_a_share_of_its_training_crops_and_full_none(mini_specs, tmp_path):
    from audiospec_utils.learn import RECIPES, SpectrogramClassifier
    from audiospec_utils.learn.dataloaders import LowPass

    def low_passes(recipe):
        dls = SpectrogramClassifier(recipe=recipe, epochs=1, img_size=32, bs=8, pretrained=False,
                                    crop_seconds=0.25).build(mini_specs, path=tmp_path / recipe).dls_
        assert not any(isinstance(t, LowPass) for t in dls.valid.batch_tfm.augment)  # never at validation
        return [t.p for t in dls.train.batch_tfm.augment if isinstance(t, LowPass)]

    assert 0 < RECIPES["quick"].low_pass < 0.1  # a rare low-pass: it cost < 0.01 at 0.05, 0.014 at 0.1 (README)
    assert low_passes("quick") == [RECIPES["quick"].low_pass]
    assert low_passes("full") == [] and RECIPES["full"].low_pass == 0
