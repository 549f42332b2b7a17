"""Where the data meets the model: fixed-length time crops of spectrograms, batched on the device.

A clip of FSDKaggle2018 lasts from 0.3 to 30 s. Squishing every clip into one square image gives a
30 s clip half a second per pixel column and stretches a 0.3 s one; the best systems of the
competition trained instead on **fixed-length random crops** of the log-mel and averaged their
predictions over **windows** at test time (e.g. the winning and runner-up DCASE 2018 task 2
systems, Jeong and Lim 2018; Iqbal et al. 2018). So do these DataLoaders:

* every image keeps one column per STFT frame and is only resized in **height** (frequency);
* a training item is a crop of ``length`` frames (``crop_seconds`` of sound) starting at a random
  frame, chosen anew every epoch; a clip shorter than the crop is **repeated** to fill it;
* validation (and :func:`audiospec_utils.assess.evaluate.evaluate_run`, :func:`audiospec_utils.infer.predict.predict_files`)
  cuts each clip into windows of the same length overlapping by half, and the class probabilities
  of a clip's windows are averaged (:func:`window_starts`).

The images come from a :class:`~audiospec_utils.features.image_cache.SpectrogramCache` (decoded once, a
memory-mapped uint8 array; on a GPU it is copied to the GPU once). A batch is built by indexing that
array, then, on the device: scaling to [0, 1], normalisation, SpecAugment, time shift
(:class:`SpectrogramBatch`); mixup is fastai's ``MixUp`` callback. No PNG is decoded and nothing is
resized per item, so a DataLoader needs no worker processes.

Spectrograms are not photos, so there are no flips or rotations: SpecAugment's frequency and time
masking (Park et al., 2019, "SpecAugment: A Simple Data Augmentation Method for Automatic Speech
Recognition", Interspeech), a random circular time shift, and optionally mixup (Zhang et al., 2018,
"mixup: Beyond Empirical Risk Minimization", ICLR).

The module is one concern, the DataLoaders of crops: the classes an exported learner pickles
(``SpecAugment``, ``TimeShift``, ``SpectrogramBatch``, ``CropItems``, ``SpectrogramDL``,
``SpectrogramDataLoaders``: they must stay defined here, which makes it a little over 600 lines) and
:func:`spectrogram_dataloaders`, which builds them. The augmentations' arithmetic is
:mod:`audiospec_utils.learn.augment`; where crops and windows fall (frames, seconds) is
:mod:`audiospec_utils.learn.crops`, whose names are re-exported here.
"""

from __future__ import annotations

import logging
import math
import os

import numpy as np
import pandas as pd
import torch
from fastai.data.core import DataLoaders
from fastai.data.load import DataLoader
from fastai.vision.all import DisplayedTransform

from ..audio.splits import split_clips
from ..exceptions import DatasetError, ParameterError
from ..features.folders import as_render_folder
from ..features.kinds import image_frequencies
from ..features.params import warn_rate_dependent
from .augment import circular_time_shift, low_pass_rows, mask_bands
from .config import device_name
from .crops import crop_geometry, middle_windows, random_crop_starts, window_layout

__all__ = ["SpecAugment", "TimeShift", "LowPass", "LOW_PASS_HZ", "spectrogram_augmentations", "SpectrogramBatch", "CropItems",
           "SpectrogramDL", "SpectrogramDataLoaders", "spectrogram_dataloaders", "IMAGENET_STATS", "NORMALIZE"]

logger = logging.getLogger(__name__)

#: ImageNet mean and standard deviation of the R, G, B channels (what torchvision's weights expect).
IMAGENET_STATS = ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])

#: Normalisation choices: ``"auto"`` (ImageNet statistics for pretrained weights, the data set's own
#: from scratch), ``"imagenet"``, ``"dataset"``.
NORMALIZE = ("auto", "imagenet", "dataset")


class SpecAugment(DisplayedTransform):
    """Frequency and time masking of a batch of spectrogram images (SpecAugment).

    SpecAugment (Park et al., 2019, Interspeech) hides random bands of mel channels and random
    stretches of time, so that the network cannot rely on one narrow feature. Each image of the
    batch gets its own `freq_masks` horizontal bands (each at most ``freq_width`` of the image
    height) and `time_masks` vertical bands (each at most ``time_width`` of the width), set to 0;
    as this runs after normalisation, 0 is the mean pixel (the paper masks with the mean too). Time
    warping, the paper's third step, is left out (its own ablation shows it adds little). Applied
    to training batches only (``split_idx = 0``).

    Parameters
    ----------
    freq_masks, time_masks : int >= 0
        Number of frequency bands and time bands masked per image.
    freq_width, time_width : float in [0, 1)
        Largest width of one band, as a fraction of the image height (frequency) or width (time);
        each band's width is drawn uniformly in ``[0, width]``.

    Notes
    -----
    Input and output: a float tensor of shape ``(bs, channels, height, width)`` on any device.
    Random numbers come from torch's global generator, so a seeded run repeats exactly.
    """

    split_idx = 0
    order = 100

    def __init__(self, freq_masks: int = 2, freq_width: float = 0.1, time_masks: int = 2, time_width: float = 0.1):
        super().__init__()
        for name, v in (("freq_masks", freq_masks), ("time_masks", time_masks)):
            if not isinstance(v, (int, np.integer)) or v < 0:
                raise ParameterError(f"{name} must be an integer >= 0, got {v!r}")
        for name, v in (("freq_width", freq_width), ("time_width", time_width)):
            if not 0 <= v < 1:
                raise ParameterError(f"{name} must be a fraction in [0, 1), got {v!r}")
        self.freq_masks, self.freq_width = int(freq_masks), float(freq_width)
        self.time_masks, self.time_width = int(time_masks), float(time_width)

    def encodes(self, x: torch.Tensor):
        return mask_bands(x, self.freq_masks, self.freq_width, self.time_masks, self.time_width)


class TimeShift(DisplayedTransform):
    """Random circular shift of each spectrogram image along time (its width).

    A sound event can start anywhere; rolling the image by a random number of columns (what leaves
    on the right comes back on the left) teaches the network that. Frequencies are never moved.
    Applied to training batches only.

    Parameters
    ----------
    max_shift : float in [0, 1]
        Largest shift as a fraction of the image width; each image's shift is drawn uniformly in
        ``[-max_shift, max_shift]``.

    Notes
    -----
    Input and output: a tensor of shape ``(bs, channels, height, width)``.
    """

    split_idx = 0
    order = 101

    def __init__(self, max_shift: float = 0.5):
        super().__init__()
        if not 0 <= max_shift <= 1:
            raise ParameterError(f"max_shift must be a fraction in [0, 1], got {max_shift!r}")
        self.max_shift = float(max_shift)

    def encodes(self, x: torch.Tensor):
        return circular_time_shift(x, self.max_shift)


#: The cut-offs of :class:`LowPass`, Hz: from the Nyquist frequency of 8 kHz recordings to that of 22.05 kHz ones.
LOW_PASS_HZ = (4000.0, 11000.0)


class LowPass(DisplayedTransform):
    """Random low-pass of training images: the rows above a random cut-off frequency set to silence.

    A recording made at 16 kHz (a phone, a web form) and resampled to a 44.1 kHz folder's rate has
    nothing above 8 kHz: its image's top rows are silence. A network trained only on full-band
    clips leans on those bands and misreads such a recording; shown low-passed crops (with
    probability `p`, cut-off uniform in `low_hz`..`high_hz`), it learns to do without them.
    Applied to training batches only, after normalisation (silence is then ``-mean / std``).

    Parameters
    ----------
    row_hz : sequence of float, shape (height,)
        Centre frequency of each image row in Hz, top row (highest) first
        (:func:`audiospec_utils.features.kinds.image_frequencies`, reversed).
    mean, std : sequence of float
        The batch's normalisation, per channel (1 or 3 values).
    p : float in [0, 1]
        Probability that an image is low-passed.
    low_hz, high_hz : float
        Range of the cut-off, Hz (default :data:`LOW_PASS_HZ`).

    Notes
    -----
    Input and output: a float tensor of shape ``(bs, channels, height, width)``. An image of
    another height than `row_hz` is left as it is.
    """

    split_idx = 0
    order = 99  # before SpecAugment's masks

    def __init__(self, row_hz, mean, std, p: float = 0.5, low_hz: float = LOW_PASS_HZ[0],
                 high_hz: float = LOW_PASS_HZ[1]):
        super().__init__()
        if not 0 <= p <= 1:
            raise ParameterError(f"low_pass must be a probability in [0, 1], got {p!r}")
        if not 0 < low_hz <= high_hz:
            raise ParameterError(f"the low-pass cut-offs must be 0 < low_hz <= high_hz, got {low_hz!r}, {high_hz!r}")
        mean, std = np.broadcast_to(np.asarray(mean, float), 3), np.broadcast_to(np.asarray(std, float), 3)
        self.row_hz = torch.as_tensor(np.asarray(row_hz, dtype=np.float32))
        self.floor = torch.as_tensor((-mean / std).astype(np.float32))
        self.p, self.low_hz, self.high_hz = float(p), float(low_hz), float(high_hz)

    def encodes(self, x: torch.Tensor):
        return low_pass_rows(x, self.row_hz, self.floor, self.p, self.low_hz, self.high_hz)


def spectrogram_augmentations(spec_augment: bool = True, time_shift: float = 0.5, *, freq_masks: int = 2,
                              freq_width: float = 0.1, time_masks: int = 2, time_width: float = 0.1,
                              low_pass: float = 0.0, row_hz=None, mean=(0.0,), std=(1.0,)) -> list:
    """The batch augmentations for spectrogram images: SpecAugment masking and time shift.

    No flips, rotations, zooms or warps: flipping a spectrogram turns time backwards or puts low
    frequencies on top, which no real sound does.

    Parameters
    ----------
    spec_augment : bool
        Frequency and time masking (:class:`SpecAugment`, Park et al. 2019).
    time_shift : float
        Largest circular time shift as a fraction of the width (:class:`TimeShift`); 0 = none.
    freq_masks, freq_width, time_masks, time_width :
        See :class:`SpecAugment`.
    low_pass : float in [0, 1]
        Probability of a random low-pass (:class:`LowPass`); needs `row_hz`, `mean` and `std`.
    row_hz, mean, std :
        See :class:`LowPass`.

    Returns
    -------
    list of fastai transforms
        Applied to training batches after normalisation (:class:`SpectrogramBatch`).
    """
    tfms = []
    if low_pass and row_hz is not None:
        tfms.append(LowPass(row_hz, mean, std, low_pass))
    if spec_augment:
        tfms.append(SpecAugment(freq_masks, freq_width, time_masks, time_width))
    if time_shift:
        tfms.append(TimeShift(time_shift))
    return tfms


class SpectrogramBatch:
    """The per-batch work on the device: uint8 crops -> normalised float images, augmented when training.

    Parameters
    ----------
    mean, std : sequence of float
        Per-channel statistics in [0, 1] units (3 values, or 1 for grey images of a data set's own
        statistics, used for every channel).
    augment : sequence of transforms
        Applied to training batches after normalisation (:func:`spectrogram_augmentations`).
    channels_last : bool
        Return the batch in channels-last memory format (faster convolutions on recent GPUs, and
        through oneDNN on a CPU).

    Notes
    -----
    Input: uint8 ``(bs, channels, height, length)`` on the device; a grey batch (1 channel) is
    repeated to the 3 channels an ImageNet network takes. Output: float32
    ``(bs, 3, height, length)``.
    """

    def __init__(self, mean, std, augment=(), channels_last: bool = False):
        self.mean, self.std = [float(m) for m in mean], [float(s) for s in std]
        if len(self.mean) != len(self.std) or len(self.mean) not in (1, 3) or min(self.std) <= 0:
            raise ParameterError(f"mean and std must be 1 or 3 values each, std > 0; got {mean!r}, {std!r}")
        self.augment = list(augment)
        self.channels_last = bool(channels_last)
        self._stats = {}

    def _on(self, device):
        if device not in self._stats:
            m = torch.tensor(self.mean, device=device).view(1, -1, 1, 1)
            s = torch.tensor(self.std, device=device).view(1, -1, 1, 1)
            self._stats[device] = (m, s)
        return self._stats[device]

    def __getstate__(self):  # tensors cached per device are not part of an export
        state = dict(self.__dict__)
        state["_stats"] = {}
        return state

    def __call__(self, x, train: bool = False):
        x = x.float().div_(255.0)
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        m, s = self._on(x.device)
        x = (x - m) / s
        if train:
            for tfm in self.augment:
                x = tfm(x, split_idx=0)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x

    def __repr__(self):
        aug = ", ".join(type(t).__name__ for t in self.augment) or "none"
        return f"SpectrogramBatch(mean={self.mean}, std={self.std}, augment: {aug})"


class CropItems:
    """The items of a DataLoader of crops: image position, crop start (or -1: random), label index.

    Parameters
    ----------
    rows : array-like of int, shape (n,)
        Positions of the images in the cache.
    starts : array-like of int, shape (n,)
        First frame of each crop; ``-1`` draws a random start every time the item is used.
    y : array-like of int, shape (n,)
        Label index of each item (``-1`` when unknown).
    weights : array-like of float or None
        Sampling weights of the items (training with weighted sampling), or None.
    """

    def __init__(self, rows=(), starts=(), y=(), weights=None):
        self.rows = np.asarray(rows, dtype=np.int64)
        self.starts = np.asarray(starts, dtype=np.int64)
        self.y = np.asarray(y, dtype=np.int64)
        self.weights = None if weights is None else np.asarray(weights, dtype=np.float64)
        if not (len(self.rows) == len(self.starts) == len(self.y)):
            raise ParameterError("rows, starts and y must have the same length")

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i):
        return int(self.rows[i]), int(self.starts[i]), int(self.y[i])

    def new_empty(self) -> "CropItems":
        return CropItems()


class SpectrogramDL(DataLoader):
    """A fastai DataLoader of fixed-length crops from a :class:`SpectrogramCache`.

    Each batch is made whole, by indexing (no per-item Python work): random starts for training
    items, then either the uint8 crops are gathered here from the memory-mapped cache (CPU), or the
    positions are sent to the device and gathered there from the cache's GPU copy. ``after_batch``
    runs :class:`SpectrogramBatch` on the device.

    Parameters
    ----------
    dataset : CropItems
    cache : SpectrogramCache or None
        ``None`` in an exported learner (no data is kept).
    length : int
        Frames per crop.
    train : bool
        Random starts and augmentation (training) or fixed windows (validation, prediction).
    batch_tfm : SpectrogramBatch
    **kwargs
        fastai ``DataLoader`` arguments (``bs``, ``shuffle``, ``drop_last``, ``device``...).
    """

    def __init__(self, dataset=None, cache=None, length: int = 64, train: bool = False, batch_tfm=None, **kwargs):
        super().__init__(dataset if dataset is not None else CropItems(), **kwargs)
        self.cache, self.length, self.train_mode, self.batch_tfm = cache, int(length), bool(train), batch_tfm

    def new(self, dataset=None, cls=None, **kwargs):
        kw = dict(cache=self.cache, length=self.length, train=self.train_mode, batch_tfm=self.batch_tfm)
        kw.update(kwargs)
        return super().new(dataset, cls, **kw)

    def __getstate__(self):
        state = dict(self.__dict__)
        state.pop("it", None)
        return state

    def get_idxs(self):
        w = getattr(self.dataset, "weights", None)
        if not self.shuffle or w is None or len(w) == 0:
            return super().get_idxs()
        rng = np.random.default_rng(self.rng.randint(0, 2 ** 32 - 1))  # weighted sampling with replacement
        return rng.choice(len(w), size=len(w), replace=True, p=w / w.sum()).tolist()

    def create_batches(self, samps):
        ds = self.dataset
        idx = np.fromiter(samps, dtype=np.int64)
        rng = np.random.default_rng(self.rng.randint(0, 2 ** 32 - 1))
        on_device = self.cache.on_device
        widths = self.cache.widths
        for i in range(0, len(idx), self.bs):
            b = idx[i:i + self.bs]
            if self.drop_last and len(b) < self.bs:
                break
            rows, starts = ds.rows[b], ds.starts[b].copy()
            rand = starts < 0
            if rand.any():
                starts[rand] = random_crop_starts(widths[rows[rand]], self.length, rng)
            x = (torch.from_numpy(rows), torch.from_numpy(starts)) if on_device else \
                torch.from_numpy(self.cache.crops(rows, starts, self.length))
            yb = ds.y[b]
            # unlabelled items (prediction): the batch holds the input only, so no loss is computed
            yield (x, torch.from_numpy(yb)) if (yb >= 0).all() else (x,)

    def to_detach(self, b, cpu: bool = True, gather: bool = True):
        """Detach (and move to the CPU) a batch's outputs, never gathering them from other processes.

        Every process of a distributed training holds the whole of this DataLoader: its outputs are
        already complete here, and fastai's gathering would wait for the other processes (and repeat
        their items). The ``DistributedDL`` that shares it out during training gathers its own.
        """
        from fastai.torch_core import to_detach

        return to_detach(b, cpu, gather=False)

    def after_batch(self, b):
        x = b[0]
        if isinstance(x, (tuple, list)):
            x = self.cache.crops(x[0], x[1], self.length)
        return (self.batch_tfm(x, train=self.train_mode), *b[1:])


class SpectrogramDataLoaders(DataLoaders):
    """Training and validation DataLoaders of spectrogram crops, with what a learner must remember.

    Attributes
    ----------
    vocab : list of str
        Sorted labels; ``c`` is their number.
    config : dict
        ``height`` (pixels), ``length`` (frames per crop), ``crop_seconds``, ``frames_per_second``,
        ``channels`` (of the cache), ``mean`` and ``std`` (normalisation), ``normalize``,
        ``overlap`` (of validation windows). Kept in an exported learner, so that prediction crops
        and normalises new audio exactly as in training.
    train_table : pandas.DataFrame
        The training images (manifest rows).
    valid_table : pandas.DataFrame
        One row per validation window: the image's manifest row plus ``window_start`` (frame).
    split : audiospec_utils.audio.splits.Split or None
        How the clips were split.
    valid_epoch : SpectrogramDL or None
        One window per validation image (the middle one), what training scores after each epoch
        (:class:`audiospec_utils.learn.callbacks.EpochValidation`); ``valid`` holds every window, the
        clip-averaged score reported at the end. Not part of an exported learner.
    """

    #: One window per validation image, scored after each epoch (None: every window, ``valid``).
    valid_epoch = None

    def __init__(self, *loaders, path=".", device=None, vocab=(), config=None):
        super().__init__(*loaders, path=path, device=device)
        self.vocab = list(vocab)
        self.c = len(self.vocab)
        self.config = dict(config or {})
        self.train_table = self.valid_table = None
        self.split = None

    def new_empty(self) -> "SpectrogramDataLoaders":
        """A copy without data (no cache, no items), for ``learn.export``."""
        loaders = [dl.new(CropItems(), cache=None) for dl in self.loaders]
        return SpectrogramDataLoaders(*loaders, path=self.path, device=self.device, vocab=self.vocab,
                                      config=self.config)

    @property
    def batch_tfm(self) -> SpectrogramBatch:
        """The per-batch transform of the validation loader (no augmentation)."""
        return self.loaders[1].batch_tfm if len(self.loaders) > 1 else self.loaders[0].batch_tfm

    def crops_dl(self, cache, rows, starts, y=None, *, bs: int = 64):
        """A DataLoader of given crops of `cache`, normalised as in training, never augmented.

        Parameters
        ----------
        cache : SpectrogramCache
            Of this learner's height (``config["height"]``).
        rows, starts : array-like of int, shape (n,)
            Image positions in `cache` and the first frame of each crop.
        y : array-like of int or None
            Label indices (``-1`` or None: unknown).
        bs : int
            Batch size.

        Returns
        -------
        SpectrogramDL

        Raises
        ------
        DatasetError
            The cache's height differs from the learner's.
        """
        cfg = self.config
        if cache.height != cfg["height"]:
            raise DatasetError(f"images cached at {cache.height} px, but the model was trained at {cfg['height']} px")
        rows = np.asarray(rows, dtype=np.int64)
        y = np.full(len(rows), -1) if y is None else np.asarray(y, dtype=np.int64)
        if cache.on_device and self.device is not None and cache.pixels.device != self.device:
            cache = cache.to_device(self.device)
        return SpectrogramDL(CropItems(rows, starts, y), cache=cache, length=cfg["length"], train=False,
                             batch_tfm=self.batch_tfm, bs=bs, shuffle=False, drop_last=False, device=self.device)

    def windows_dl(self, cache, rows, *, bs: int = 64, overlap: float | None = None):
        """A DataLoader over every window of some images of `cache` (see :func:`window_starts`).

        Parameters
        ----------
        cache : SpectrogramCache
            Of this learner's height (``config["height"]``).
        rows : array-like of int
            Positions of the images in `cache`.
        bs : int
            Batch size.
        overlap : float or None
            Window overlap; default ``config["overlap"]`` (0.5).

        Returns
        -------
        dl : SpectrogramDL
        image_of_window : np.ndarray, int64
            For each window (in the DataLoader's order), the position in `rows` of its image.
        """
        cfg = self.config
        overlap = cfg.get("overlap", 0.5) if overlap is None else overlap
        rows = np.asarray(rows, dtype=np.int64)
        starts, image_of_window = window_layout(cache.widths[rows], cfg["length"], overlap)
        return self.crops_dl(cache, rows[image_of_window], starts, bs=bs), image_of_window

    def show_batch(self, max_n: int = 8, nrows: int = 2, figsize=(10, 5), dl=None):
        """Show a training batch as the network sees it (normalised, augmented), low frequencies at the bottom.

        Returns
        -------
        matplotlib.figure.Figure
        """
        import matplotlib.pyplot as plt

        dl = dl or self.train
        with dl.fake_l.no_multiproc():
            xb, yb = next(iter(dl))
        n = min(max_n, len(xb))
        ncols = max(1, math.ceil(n / nrows))
        fig, axes = plt.subplots(nrows, ncols, figsize=figsize, squeeze=False)
        for k, ax in enumerate(axes.flat):
            ax.axis("off")
            if k >= n:
                continue
            ax.imshow(xb[k, 0].float().cpu().numpy(), aspect="auto", cmap="magma")
            ax.set_title(self.vocab[int(yb[k])] if int(yb[k]) >= 0 else "?", fontsize=8)
        fig.suptitle(f"{n} training crops: {self.config.get('crop_seconds', 0):.1f} s "
                     f"({self.config.get('length')} frames) x {self.config.get('height')} px", fontsize=9)
        fig.tight_layout()
        return fig


def spectrogram_dataloaders(spec_dir, *, img_size: int = 64, crop_seconds: float | None = None, valid_pct: float = 0.2,
                            seed: int = 42, bs: int = 32, num_workers: int | None = None,
                            manually_verified_only: bool = False, table: pd.DataFrame | None = None,
                            spec_augment: bool = False, time_shift: float = 0.0, low_pass: float = 0.0,
                            verified_weight: float | None = None,
                            split=None, test_fold=None, valid_fold=None, normalize: str = "dataset",
                            max_crop_seconds: float = 4.0, time_pool: int | None = None, device=None,
                            progress: bool = False) -> SpectrogramDataLoaders:
    """fastai DataLoaders of fixed-length crops of a render folder's spectrograms.

    Parameters
    ----------
    spec_dir : str or os.PathLike
        Render folder (``manifest.csv``, ``params.json``, ``images/``).
    img_size : int >= 16
        Image height in pixels (frequency); images are resized in height only, never in time.
    crop_seconds : float or None
        Length of the training crops and of the validation windows, in seconds; ``None``:
        :func:`default_crop_seconds` of the training clips' durations, at most `max_crop_seconds`.
        Converted to frames with the
        median frame rate of the training images (``sr / hop_length``). A render with a fixed
        ``width`` has no time scale: the crop is then the whole image.
    valid_pct, seed, test_fold, valid_fold :
        How the clips are split (:func:`audiospec_utils.audio.splits.split_clips`): grouped when the
        manifest has groups, by fold with `valid_fold`; `test_fold` is left out altogether.
    bs : int
        Batch size.
    num_workers : int or None
        DataLoader worker processes; ``None``: 0 (the crops are slices of one array: nothing heavy
        is done per item).
    manually_verified_only : bool
        FSDKaggle2018: train only on clips whose label a person checked.
    table : pandas.DataFrame or None
        Image rows to use instead of the folder's labelled training images (advanced).
    spec_augment, time_shift, low_pass :
        Augmentation of training batches (:func:`spectrogram_augmentations`; `low_pass` the
        probability of a random low-pass, :class:`LowPass`, for log-mel and STFT images).
    verified_weight : float or None
        FSDKaggle2018: manually verified clips are drawn `verified_weight` times as often as the
        others (weighted sampling with replacement, as many items per epoch as there are).
    split : audiospec_utils.audio.splits.Split or None
        A split made beforehand (shared by several models, as :func:`audiospec_utils.assess.compare.compare`
        does); `valid_pct`, `test_fold` and `valid_fold` are then unused.
    normalize : {"dataset", "imagenet"}
        Per-channel statistics: the training images' own, or ImageNet's (for pretrained weights).
    max_crop_seconds : float
        Upper bound of the default crop length for steady sounds (unused when `crop_seconds` is
        given); clips of intermittent events get whole-clip crops up to
        :data:`audiospec_utils.learn.crops.WHOLE_CLIP_MAX_SECONDS` (:func:`default_crop_seconds`).
    time_pool : int or None
        Frames averaged into one column inside the network (``config["time_pool"]``, read by
        :func:`audiospec_utils.learn.estimator.create_learner`); None: for a crop chosen from the
        data, ``ceil(crop_seconds / max_crop_seconds)``, so that a whole-clip crop costs about what a
        crop of `max_crop_seconds` does; 1 when `crop_seconds` is given or the render has a fixed
        ``width``.
    device : str or torch.device or None
        Where batches go; default the GPU when there is one. On a GPU the cache is copied there
        once when it takes less than half of the free memory.
    progress : bool
        Progress bar while the image cache is built.

    Returns
    -------
    SpectrogramDataLoaders
        ``train`` yields ``(x, y)`` with x float32 ``(bs, 3, img_size, length)`` and y int64;
        ``valid`` yields every window of the validation clips. ``dls.valid_table`` has one row per
        validation window (``clip_id``, ``label``...), ``dls.split`` the split.

    Raises
    ------
    ParameterError
        `img_size` below 16, `crop_seconds` not positive, `verified_weight` not positive,
        `normalize` unknown, or augmentation settings out of range.
    DatasetError
        No usable images, fewer than two labels, or too few groups to split.
    """
    _check_loader_settings(img_size, crop_seconds, verified_weight, normalize)
    folder = as_render_folder(spec_dir)
    df = folder.training_images(manually_verified_only=manually_verified_only) if table is None else table.copy()
    if split is None:
        split = split_clips(df.reset_index(drop=True), valid_pct=valid_pct, seed=seed, test_fold=test_fold,
                            valid_fold=valid_fold)
    train_df, valid_df = _split_sides(df, split, os.fspath(spec_dir))
    vocab = sorted(set(train_df["label"]) | set(valid_df["label"]))
    cache = folder.cache(int(img_size), progress=progress)
    train_rows, valid_rows = cache.rows(train_df["image"]), cache.rows(valid_df["image"])
    params = folder.params
    warn_rate_dependent(params, folder.path)
    geometry = crop_geometry(params, train_df, crop_seconds, max_crop_seconds, _frame_power(cache, train_rows, params),
                             time_pool)
    length, crop_seconds, fps, time_pool = geometry.length, geometry.crop_seconds, geometry.frames_per_second, \
        geometry.time_pool
    dev = torch.device(device) if device is not None else torch.device(device_name())
    mean, std = IMAGENET_STATS if normalize == "imagenet" else cache.channel_stats(train_rows)
    idx = {c: i for i, c in enumerate(vocab)}
    train_items = CropItems(train_rows, np.full(len(train_rows), -1), train_df["label"].map(idx).to_numpy(),
                            _sampling_weights(train_df, verified_weight))
    starts, of_window = window_layout(cache.widths[valid_rows], length, 0.5)
    valid_items = CropItems(valid_rows[of_window], starts, valid_df["label"].map(idx).to_numpy()[of_window])
    augment = spectrogram_augmentations(spec_augment, time_shift, low_pass=low_pass, mean=mean, std=std,
                                        row_hz=_row_frequencies(params, train_df, int(img_size)) if low_pass else None)
    train_dl, valid_dl = _crop_loaders(train_items, valid_items, cache.for_device(dev), length=length,
                                       mean=mean, std=std, augment=augment, bs=int(bs), device=dev,
                                       num_workers=num_workers or 0)
    if geometry.whole_clip:
        logger.info("the clips hold intermittent sounds (a random %g s crop holds little of each clip's loudest "
                    "stretch): crops of the whole clip, %.1f s, every %d frames averaged into one column",
                    max_crop_seconds, crop_seconds, time_pool)
    config = {"height": int(img_size), "length": int(length), "crop_seconds": float(crop_seconds),
              "time_pool": int(time_pool),
              "frames_per_second": float(fps), "channels": int(cache.channels), "mean": list(map(float, mean)),
              "std": list(map(float, std)), "normalize": normalize, "overlap": 0.5}
    dls = SpectrogramDataLoaders(train_dl, valid_dl, path=str(folder.path), device=dev, vocab=vocab, config=config)
    # during training, each epoch is scored on one window per validation image (the middle one): the
    # every-window, clip-averaged score is computed once, at the end (valid_clip_predictions)
    one = middle_windows(starts, of_window, cache.widths[valid_rows], length)
    dls.valid_epoch = valid_dl.new(CropItems(valid_items.rows[one], valid_items.starts[one], valid_items.y[one]))
    dls.train_table = train_df
    vt = valid_df.iloc[of_window].reset_index(drop=True)
    vt["window_start"] = valid_items.starts
    dls.valid_table = vt
    dls.split = split
    dls.cache = cache
    return dls


def _frame_power(cache, rows, params):
    """``power(i)``: the linear power of each frame of training image ``rows[i]`` (mean over the rows of
    its first channel, pixels read back to dB), or None where the images are no dB scale (MFCC, colour maps)."""
    if params.kind not in ("logmel", "stft") or getattr(params, "cmap", None):
        return None
    top_db = float(params.top_db)

    def power(i: int) -> np.ndarray:
        r = int(rows[i])
        pixels = cache.pixels[cache.offsets[r]:cache.offsets[r + 1], 0, :]
        pixels = np.asarray(pixels.cpu() if hasattr(pixels, "cpu") else pixels, dtype=np.float32)
        return np.mean(10.0 ** (pixels * (top_db / 255.0) / 10.0), axis=1)

    return power


def _row_frequencies(params, table: pd.DataFrame, height: int):
    """Centre frequency (Hz) of each row of the training images, top row first; None where the rows are no
    frequency axis of one kind (MFCC, chroma, stacked kinds: a low-pass has no meaning there)."""
    if params.kind not in ("logmel", "stft"):
        logger.info("low_pass ignored: %s images have no frequency axis to low-pass", params.kind)
        return None
    srs = pd.to_numeric(table["sr"], errors="coerce").dropna()
    sr = int(srs.median()) if len(srs) else 22050
    return image_frequencies(params, sr, height)[::-1].copy()


def _check_loader_settings(img_size, crop_seconds, verified_weight, normalize) -> None:
    """Refuse settings of :func:`spectrogram_dataloaders` out of range (ParameterError), before any work."""
    if not isinstance(img_size, (int, np.integer)) or img_size < 16:
        raise ParameterError(f"img_size must be an integer of at least 16 pixels, got {img_size!r}")
    if crop_seconds is not None and not crop_seconds > 0:
        raise ParameterError(f"crop_seconds must be a positive number of seconds, got {crop_seconds!r}")
    if verified_weight is not None and not verified_weight > 0:
        raise ParameterError(f"verified_weight must be a positive number, got {verified_weight!r}")
    if normalize not in ("dataset", "imagenet"):
        raise ParameterError(f"normalize must be 'dataset' or 'imagenet', got {normalize!r}")


def _split_sides(df: pd.DataFrame, split, where: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The training and validation rows of an image table (each re-indexed from 0); DatasetError if one is empty."""
    df = df.reset_index(drop=True)
    side = split.side_of(df["clip_id"])
    train_df = df[side == "train"].reset_index(drop=True)
    valid_df = df[side == "valid"].reset_index(drop=True)
    if train_df.empty or valid_df.empty:
        raise DatasetError(f"{where}: the split leaves {len(train_df)} training and {len(valid_df)} validation "
                           f"images; both need some")
    return train_df, valid_df


def _sampling_weights(train_df: pd.DataFrame, verified_weight: float | None):
    """Sampling weight of each training image (`verified_weight` for manually verified clips, else 1), or None."""
    if verified_weight is None:
        return None
    if "manually_verified" not in train_df.columns:
        logger.info("verified_weight ignored: the manifest has no manually_verified column")
        return None
    verified = pd.to_numeric(train_df["manually_verified"], errors="coerce").fillna(0).to_numpy() == 1
    return np.where(verified, float(verified_weight), 1.0)


def _crop_loaders(train_items: CropItems, valid_items: CropItems, cache, *, length: int, mean, std, augment,
                  bs: int, device: torch.device, num_workers: int) -> tuple[SpectrogramDL, SpectrogramDL]:
    """The training loader (random crops, shuffled, augmented) and the validation one (windows, in order)."""
    channels_last = True  # the learner's weights are channels-last too (learner.to_device_precision)
    common = dict(cache=cache, length=length, device=device, num_workers=num_workers)
    train_bs = min(bs, len(train_items))
    train_dl = SpectrogramDL(train_items, train=True, batch_tfm=SpectrogramBatch(mean, std, augment, channels_last),
                             bs=train_bs, shuffle=True, drop_last=len(train_items) > train_bs, **common)
    valid_dl = SpectrogramDL(valid_items, train=False, batch_tfm=SpectrogramBatch(mean, std, (), channels_last),
                             bs=bs * 2, shuffle=False, **common)
    return train_dl, valid_dl
