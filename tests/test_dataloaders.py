"""Time crops and windows (issue 12): window_starts, the image cache, the crops DataLoader, window averaging.

Images are built so that every pixel of frame (column) f holds the value f: a crop then tells by its
own pixels which frames it took, so the tests read the crop start and the repetition of short clips
from the data itself.
"""

from __future__ import annotations

import os
import time

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from audiospec_utils.learn.dataloaders import CropItems, SpectrogramBatch, SpectrogramDL
from audiospec_utils.learn import default_crop_seconds, window_starts
from audiospec_utils.exceptions import DatasetError, ParameterError
from audiospec_utils.features.image_cache import SpectrogramCache, resize_height

from helpers import tone, write_wav


def ramp(width, height=8, rgb=False):
    """uint8 image whose column f holds the value f (f < 256); RGB: channels f, f+1, f+2 (mod 256)."""
    cols = np.arange(width, dtype=np.int64)
    img = np.repeat(cols[None, :], height, axis=0)
    if rgb:
        img = np.stack([img, img + 1, img + 2], axis=2)
    return (img % 256).astype(np.uint8)


# ---------------------------------------------------------------------------------------------
# window_starts, default_crop_seconds


@pytest.mark.parametrize("width", [1, 5, 10])
def test_window_starts_short_image_is_one_window_at_zero(width):
    assert window_starts(width, 10).tolist() == [0]


@pytest.mark.parametrize("width, length", [(11, 10), (100, 10), (101, 10), (37, 8), (64, 7), (1000, 96)])
def test_window_starts_cover_the_whole_width(width, length):
    starts = window_starts(width, length)
    assert starts.dtype == np.int64 and starts[0] == 0
    assert starts[-1] == width - length  # the last window ends exactly at the end
    assert (np.diff(starts) > 0).all()
    hop = int(round(length * 0.5))
    assert (np.diff(starts)[:-1] == hop).all() and np.diff(starts)[-1] <= hop  # hop = half a window
    covered = np.zeros(width, bool)
    for s in starts:
        covered[s:s + length] = True
    assert covered.all()


def test_window_starts_overlap_and_errors():
    assert window_starts(40, 10, overlap=0).tolist() == [0, 10, 20, 30]
    assert window_starts(20, 10, overlap=0.75).tolist() == [0, 2, 4, 6, 8, 10]  # hop round(2.5) = 2
    with pytest.raises(ParameterError, match="length"):
        window_starts(10, 0)
    with pytest.raises(ParameterError, match="overlap"):
        window_starts(10, 4, overlap=1.0)


def test_default_crop_seconds():
    assert default_crop_seconds([2.5, 2.5, 3.0]) == 2.5  # the median
    assert default_crop_seconds([1.4, 0.6, 0.5]) == 1.0  # at least 1 s where clips reach it
    assert default_crop_seconds([0.3, 0.5, 0.4]) == 0.5  # else as long as the clips: no crop of padding
    assert default_crop_seconds([0.8] * 39 + [3.0]) == 0.8  # the 95th percentile, one long clip aside
    assert default_crop_seconds([0.2, 0.31]) == 0.4  # rounded up to 0.1 s, so that the clips fit
    assert default_crop_seconds([10, 20, 30]) == 4.0  # at most 4 s
    assert default_crop_seconds([]) == 2.0
    assert default_crop_seconds([np.nan, -1, 0, 3.04, 3.04]) == 3.0  # only finite positive durations count
    assert default_crop_seconds([10, 20, 30], max_seconds=2.0) == 2.0  # the quick recipe's cap
    assert default_crop_seconds([1.5, 1.5], max_seconds=2.0) == 1.5
    with pytest.raises(ParameterError, match="max_seconds"):
        default_crop_seconds([3.0], max_seconds=0.5)


# ---------------------------------------------------------------------------------------------
# SpectrogramCache in memory: crops, padding by repetition, frame_index, image, stats


def test_crop_of_a_short_clip_repeats_it():
    short = ramp(5)
    cache = SpectrogramCache.from_arrays([ramp(50), short], height=8)
    for start in (0, 3):
        crop = cache.crops([1], [start], 12)
        assert crop.shape == (1, 1, 8, 12) and crop.dtype == np.uint8
        expected = short[:, (start + np.arange(12)) % 5]  # the clip again and again, from `start`
        np.testing.assert_array_equal(crop[0, 0], expected)
    # a one-frame clip fills the crop with that frame
    one = SpectrogramCache.from_arrays([ramp(1) + 7], height=8)
    np.testing.assert_array_equal(one.crops([0], [0], 6)[0, 0], np.full((8, 6), 7, np.uint8))


def test_crop_of_a_long_clip_is_the_slice_of_its_image():
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (8, w), dtype=np.uint8) for w in (30, 80, 17)]
    cache = SpectrogramCache.from_arrays(images, height=8)
    assert cache.widths.tolist() == [30, 80, 17] and len(cache) == 3
    rows, starts = np.array([1, 1, 0, 2]), np.array([0, 60, 13, 5])
    crops = cache.crops(rows, starts, 12)
    assert crops.shape == (4, 1, 8, 12)
    for k, (r, s) in enumerate(zip(rows, starts)):
        np.testing.assert_array_equal(crops[k, 0], images[r][:, s:s + 12])


def test_rgb_crops_keep_the_channels():
    img = ramp(20, rgb=True)
    cache = SpectrogramCache.from_arrays([img], height=8)
    assert cache.channels == 3 and cache.height == 8
    crop = cache.crops([0], [4], 6)
    assert crop.shape == (1, 3, 8, 6)
    np.testing.assert_array_equal(crop[0].transpose(1, 2, 0), img[:, 4:10])
    np.testing.assert_array_equal(cache.image(0), img)
    with pytest.raises(ParameterError, match="mix grey and RGB"):
        SpectrogramCache.from_arrays([ramp(4), img], height=8)
    with pytest.raises(ParameterError, match="no images"):
        SpectrogramCache.from_arrays([], height=8)


def test_frame_index_numpy_and_torch_agree():
    cache = SpectrogramCache.from_arrays([ramp(w) for w in (3, 40, 9, 25)], height=8)
    rows, starts = np.array([0, 1, 2, 3, 1]), np.array([2, 35, 0, 24, 0])
    np_idx = cache.frame_index(rows, starts, 16)
    t_idx = cache.frame_index(torch.as_tensor(rows), torch.as_tensor(starts), 16)
    assert isinstance(t_idx, torch.Tensor) and isinstance(np_idx, np.ndarray)
    np.testing.assert_array_equal(t_idx.numpy(), np_idx)
    offsets = cache.offsets
    for k, (r, s) in enumerate(zip(rows, starts)):
        w = offsets[r + 1] - offsets[r]
        np.testing.assert_array_equal(np_idx[k], offsets[r] + (s + np.arange(16)) % w)


def test_to_device_cpu_gathers_the_same_crops():
    cache = SpectrogramCache.from_arrays([ramp(w) for w in (6, 33)], height=8)
    on = cache.to_device("cpu")
    assert on.on_device and not cache.on_device and on.widths.tolist() == cache.widths.tolist()
    rows, starts = np.array([0, 1, 1]), np.array([5, 0, 20])
    got = on.crops(torch.as_tensor(rows), torch.as_tensor(starts), 10)
    assert isinstance(got, torch.Tensor) and got.dtype == torch.uint8
    np.testing.assert_array_equal(got.numpy(), cache.crops(rows, starts, 10))
    np.testing.assert_array_equal(on.image(1), cache.image(1))


def test_image_and_channel_stats():
    a, b = ramp(10), np.full((8, 4), 255, np.uint8)
    cache = SpectrogramCache.from_arrays([a, b], height=8)
    np.testing.assert_array_equal(cache.image(0), a)
    np.testing.assert_array_equal(cache.image(1), b)
    mean, std = cache.channel_stats([0])
    assert mean == pytest.approx([a.mean() / 255]) and std == pytest.approx([a.std() / 255])
    mean, std = cache.channel_stats([1])
    assert mean == pytest.approx([1.0]) and std == pytest.approx([1e-3])  # never a zero std
    mean_all, _ = cache.channel_stats()
    assert mean_all == pytest.approx([np.concatenate([a, b], axis=1).mean() / 255])


def test_resize_height_keeps_the_width():
    rng = np.random.default_rng(1)
    grey = rng.integers(0, 256, (64, 37), dtype=np.uint8)
    out = resize_height(grey, 16)
    assert out.shape == (16, 37) and out.dtype == np.uint8
    assert resize_height(grey, 64) is grey or np.array_equal(resize_height(grey, 64), grey)
    rgb = rng.integers(0, 256, (20, 11, 3), dtype=np.uint8)
    assert resize_height(rgb, 40).shape == (40, 11, 3)
    # a column that is constant stays constant: nothing leaks across time
    stripes = np.repeat(np.array([[0, 255, 0, 255, 100]], np.uint8), 32, axis=0)
    np.testing.assert_array_equal(resize_height(stripes, 8), np.repeat(stripes[:1], 8, axis=0))
    with pytest.raises(ParameterError, match="height"):
        resize_height(grey, 0)
    with pytest.raises(ParameterError, match="uint8"):
        resize_height(grey.astype(np.float32), 8)


def test_from_arrays_resizes_in_height_only():
    cache = SpectrogramCache.from_arrays([ramp(50, height=64), ramp(7, height=20)], height=16)
    assert cache.height == 16 and cache.widths.tolist() == [50, 7]
    np.testing.assert_array_equal(cache.image(0), ramp(50, height=16))


# ---------------------------------------------------------------------------------------------
# SpectrogramCache.for_folder: on disk, keyed, atomic, with a fallback place


@pytest.fixture
def render_folder(tmp_path):
    from audiospec_utils.features.render import render_spectrograms
    from audiospec_utils.features import SpectrogramParams

    src = tmp_path / "src"
    for i, seconds in enumerate((0.3, 0.8, 1.5)):
        write_wav(src / "low" / f"l{i}.wav", tone(300 + 50 * i, seconds, sr=8000), sr=8000)
        write_wav(src / "high" / f"h{i}.wav", tone(2500 + 100 * i, seconds, sr=8000), sr=8000)
    out = tmp_path / "specs"
    render_spectrograms(src, out, SpectrogramParams(n_mels=32), n_jobs=1, progress=False)
    return out


def _names(folder):
    from audiospec_utils.features.folders import RenderFolder

    return sorted(RenderFolder(folder).images()["image"].tolist())


def test_for_folder_builds_once_and_reuses_the_cache(render_folder):
    names = _names(render_folder)
    cache = SpectrogramCache.for_folder(render_folder, names, 16, progress=False)
    assert cache.path.parent == render_folder / "cache" and cache.path.name.startswith("h16-")
    assert cache.path.is_file() and cache.path.with_suffix(".json").is_file()
    assert not [p for p in (render_folder / "cache").iterdir() if p.name.startswith(".")]  # no temporary left
    assert isinstance(cache.pixels, np.memmap) and cache.images == names and cache.height == 16
    for i, name in enumerate(names):  # every image, resized in height only
        with Image.open(render_folder / name) as im:
            png = np.asarray(im)
        np.testing.assert_array_equal(cache.image(i), resize_height(png, 16))
    mtime = cache.path.stat().st_mtime_ns
    time.sleep(0.01)
    again = SpectrogramCache.for_folder(render_folder, names, 16, progress=False)
    assert again.path == cache.path and again.path.stat().st_mtime_ns == mtime  # opened, not rebuilt
    np.testing.assert_array_equal(np.asarray(again.pixels), np.asarray(cache.pixels))
    other = SpectrogramCache.for_folder(render_folder, names, 24, progress=False)  # another height: its own file
    assert other.path != cache.path and cache.path.is_file()


def test_a_changed_image_gives_a_new_cache_and_removes_the_old_one(render_folder):
    names = _names(render_folder)
    old = SpectrogramCache.for_folder(render_folder, names, 16, progress=False)
    changed = render_folder / names[0]
    with Image.open(changed) as im:
        pixels = np.asarray(im).copy()
    pixels[:, : pixels.shape[1] // 2] = 255 - pixels[:, : pixels.shape[1] // 2]
    Image.fromarray(pixels).save(changed)
    later = time.time() + 5
    os.utime(changed, (later, later))
    new = SpectrogramCache.for_folder(render_folder, names, 16, progress=False)
    assert new.path != old.path and new.path.parent == old.path.parent
    assert not old.path.exists() and not old.path.with_suffix(".json").exists()  # superseded, removed
    np.testing.assert_array_equal(new.image(0), resize_height(pixels, 16))
    assert sorted(p.name for p in (render_folder / "cache").glob("h16-*.npy")) == [new.path.name]


def test_unwritable_render_folder_caches_in_AUDIOSPEC_CACHE(render_folder, tmp_path, monkeypatch):
    names = _names(render_folder)
    (render_folder / "cache").write_text("a file where the cache folder would go")  # cache/ cannot be created
    home = tmp_path / "cache_home"
    monkeypatch.setenv("AUDIOSPEC_CACHE", str(home))
    cache = SpectrogramCache.for_folder(render_folder, names, 16, progress=False)
    assert home in cache.path.parents and cache.path.is_file()
    mtime = cache.path.stat().st_mtime_ns
    again = SpectrogramCache.for_folder(render_folder, names, 16, progress=False)
    assert again.path == cache.path and again.path.stat().st_mtime_ns == mtime
    np.testing.assert_array_equal(again.image(2), cache.image(2))


def test_for_folder_errors(render_folder):
    names = _names(render_folder)
    with pytest.raises(ParameterError, match="height"):
        SpectrogramCache.for_folder(render_folder, names, 0, progress=False)
    with pytest.raises(ParameterError, match="no images"):
        SpectrogramCache.for_folder(render_folder, [], 16, progress=False)
    (render_folder / names[1]).unlink()
    with pytest.raises(DatasetError, match="missing; render again"):
        SpectrogramCache.for_folder(render_folder, names, 16, progress=False)
    with pytest.raises(DatasetError, match="not in the cache"):
        SpectrogramCache.from_arrays([ramp(3)], 8).rows(["nope.png"])


# ---------------------------------------------------------------------------------------------
# the training DataLoader: random crops, within range, new every epoch


def _train_dl(widths, length, bs=4, seed=0):
    from fastai.torch_core import set_seed

    set_seed(seed)
    cache = SpectrogramCache.from_arrays([ramp(w) for w in widths], height=8)
    rows = np.arange(len(widths))
    items = CropItems(rows, np.full(len(rows), -1), rows)  # label = image position, to find the image back
    return SpectrogramDL(items, cache=cache, length=length, train=True, batch_tfm=SpectrogramBatch([0.0], [1.0]),
                         bs=bs, shuffle=True, drop_last=False, num_workers=0, device=torch.device("cpu"))


def _epoch_starts(dl, widths, length):
    """{image: start} of one epoch, read from the crops' pixels (frame f holds f)."""
    starts = {}
    for xb, yb in dl:
        assert tuple(xb.shape[1:]) == (3, 8, length) and xb.dtype == torch.float32
        frames = (xb[:, 0, 0, :] * 255).round().long().numpy()
        for frame, y in zip(frames, yb.tolist()):
            w = widths[y]
            start = int(frame[0])
            np.testing.assert_array_equal(frame, (start + np.arange(length)) % w)  # one run of the image's frames
            starts[y] = start
    return starts


def _check_starts_in_range(epochs, widths, length):
    for starts in epochs:
        assert sorted(starts) == list(range(len(widths)))  # every image once per epoch
        for y, s in starts.items():
            w = widths[y]
            if w >= length:
                assert 0 <= s <= w - length, f"image of {w} frames: crop of {length} starts at {s}"
            else:
                assert 0 <= s < w  # a short image is repeated from wherever it starts


def test_training_crops_start_at_random_within_range_and_change_every_epoch():
    widths, length = [200, 120, 70, 63, 5], 32
    dl = _train_dl(widths, length)
    epochs = [_epoch_starts(dl, widths, length) for _ in range(6)]
    _check_starts_in_range(epochs, widths, length)
    for y in (0, 1, 2, 4):
        assert len({e[y] for e in epochs}) > 1  # chosen anew every epoch
    # the same seed gives the same crops, another seed others
    same, other = _train_dl(widths, length), _train_dl(widths, length, seed=1)
    assert [_epoch_starts(same, widths, length) for _ in range(6)] == epochs
    assert [_epoch_starts(other, widths, length) for _ in range(6)] != epochs


def test_training_crops_of_images_a_little_longer_than_the_crop_stay_inside_them():
    """Images of length <= w < 2 * length - 1 frames: starts in [0, w - length], no wrap-around.

    (Drawn in [0, max(w - length + 1, min(w, length))) before: up to length - 1, so such a clip
    was crop-wrapped although it is long enough.)
    """
    widths, length = [33, 40, 50, 62], 32
    dl = _train_dl(widths, length)
    _check_starts_in_range([_epoch_starts(dl, widths, length) for _ in range(8)], widths, length)


def test_training_starts_reach_the_whole_range():
    length = 8
    dl = _train_dl([20] * 64, length, bs=64)  # 13 possible starts: 0..12
    dl.dataset.y[:] = 0
    seen = set()
    for _ in range(3):
        for xb, _ in dl:
            seen |= set((xb[:, 0, 0, 0] * 255).round().long().tolist())
    assert seen == set(range(13))


def test_validation_loader_of_a_render_folder_covers_each_clip_with_windows(render_folder):
    from audiospec_utils.learn.dataloaders import spectrogram_dataloaders

    dls = spectrogram_dataloaders(render_folder, img_size=16, bs=4, crop_seconds=0.5, valid_pct=0.5, seed=0,
                                  device="cpu")
    length = dls.config["length"]
    assert (dls.train.dataset.starts == -1).all() and dls.train.train_mode  # random starts for training
    vt = dls.valid_table
    assert len(vt) and set(vt["clip_id"]).isdisjoint(dls.train_table["clip_id"])
    for image, rows in vt.groupby("image"):
        w = int(dls.cache.widths[dls.cache.rows([image])[0]])
        assert rows["window_start"].tolist() == window_starts(w, length).tolist()
    xb, yb = dls.train.one_batch()
    assert tuple(xb.shape[1:]) == (3, 16, length)


# ---------------------------------------------------------------------------------------------
# windows at prediction time: window_probabilities, windows_dl, crops_dl, predict_images


def test_predict_images_is_the_mean_of_the_window_probabilities(trained_run):
    from audiospec_utils.learn import Run
    from audiospec_utils.infer.predict import predict_images
    from audiospec_utils.learn import window_probabilities

    run, metrics = trained_run
    learn = Run(run).learner()
    height, length = learn.dls.config["height"], learn.dls.config["length"]
    rng = np.random.default_rng(0)
    long_img = rng.integers(0, 256, (64, 3 * length + 5), dtype=np.uint8)
    short_img = rng.integers(0, 256, (64, max(1, length // 3)), dtype=np.uint8)
    cache = SpectrogramCache.from_arrays([long_img, short_img], height)
    probs, of_window = window_probabilities(learn, cache, [0, 1])
    expected_starts = [window_starts(cache.widths[0], length), window_starts(cache.widths[1], length)]
    assert of_window.tolist() == [0] * len(expected_starts[0]) + [1]
    assert probs.shape == (len(of_window), len(metrics["classes"]))
    # each window's probabilities are the model's on that crop
    crops = cache.crops(np.repeat([0, 1], [len(s) for s in expected_starts]), np.concatenate(expected_starts), length)
    model = learn.model.eval().cpu()
    with torch.no_grad():
        direct = torch.softmax(model(learn.dls.batch_tfm(torch.from_numpy(crops))), dim=1).numpy()
    np.testing.assert_allclose(probs, direct, atol=1e-5)
    assert np.ptp(probs[of_window == 0], axis=0).max() > 0  # the windows differ: averaging is not trivial
    # an image's prediction is the mean of its windows
    mean = predict_images(learn, [long_img, short_img])
    np.testing.assert_allclose(mean[0], probs[of_window == 0].mean(axis=0), atol=1e-6)
    np.testing.assert_allclose(mean[1], probs[of_window == 1][0], atol=1e-6)


def test_windows_dl_and_crops_dl(trained_run):
    from audiospec_utils.learn import Run

    run, _ = trained_run
    learn = Run(run).learner()
    height, length = learn.dls.config["height"], learn.dls.config["length"]
    widths = [length * 2 + 3, 4, length]
    cache = SpectrogramCache.from_arrays([ramp(w, height) for w in widths], height)
    dl, of_image = learn.dls.windows_dl(cache, [2, 0, 1], bs=3)
    starts = [window_starts(w, length) for w in (widths[2], widths[0], widths[1])]
    assert of_image.tolist() == np.repeat([0, 1, 2], [len(s) for s in starts]).tolist()
    assert dl.dataset.rows.tolist() == np.repeat([2, 0, 1], [len(s) for s in starts]).tolist()
    assert dl.dataset.starts.tolist() == np.concatenate(starts).tolist() and not dl.train_mode
    assert sum(len(b[0]) for b in dl) == len(of_image)
    fixed = learn.dls.crops_dl(cache, [0, 0], [0, 5], y=[1, 0], bs=2)
    xb, yb = next(iter(fixed))
    assert yb.tolist() == [1, 0] and tuple(xb.shape) == (2, 3, height, length)
    with pytest.raises(DatasetError, match="cached at 8 px"):
        learn.dls.crops_dl(SpectrogramCache.from_arrays([ramp(10)], 8), [0], [0])
