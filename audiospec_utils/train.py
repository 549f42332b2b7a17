"""Fine-tune an ImageNet CNN on spectrogram images with fastai.

The path is the fastai one: a :class:`~fastai.data.block.DataBlock` turns the render manifest into
:class:`~fastai.data.core.DataLoaders`, :func:`~fastai.vision.learner.vision_learner` builds a
ResNet-34 with a new head, ``fine_tune`` (pretrained) or ``fit_one_cycle`` (from scratch) trains
it, and the trained :class:`~fastai.learner.Learner` is exported for later use.

Spectrograms are not photos, so the augmentation is not fastai's ``aug_transforms`` (flips and
rotations would turn time backwards or move frequencies): it is SpecAugment's frequency and time
masking (Park et al., 2019, "SpecAugment: A Simple Data Augmentation Method for Automatic Speech
Recognition", Interspeech), a random circular time shift, and optionally mixup (Zhang et al., 2018,
"mixup: Beyond Empirical Risk Minimization", ICLR; fastai's ``MixUp`` callback).
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd

from .exceptions import DatasetError, ParameterError, TrainingInterrupted, WeightsUnavailableError
from .metrics import map_at_3, map_at_k
from .render import read_manifest

__all__ = [
    "TrainingInterrupted",
    "ARCHS",
    "training_table",
    "split_by_clip",
    "spectrogram_dataloaders",
    "load_imagenet_weights",
    "create_learner",
    "fit",
    "save_run",
    "train_classifier",
    "clip_predictions",
    "device_name",
    "SpecAugment",
    "TimeShift",
    "spectrogram_augmentations",
    "find_learning_rate",
    "SCHEDULES",
    "read_history",
]

logger = logging.getLogger(__name__)

#: Architectures known by name (torchvision ResNets, as fastai's vision_learner takes them).
ARCHS = ("resnet18", "resnet34", "resnet50")


#: Training schedules of :func:`fit`.
SCHEDULES = ("auto", "fine_tune", "one_cycle", "unfreeze")


def _arch_fn(arch: str):
    from torchvision import models

    if arch not in ARCHS:
        raise ParameterError(f"arch must be one of {', '.join(ARCHS)}, got {arch!r}")
    return getattr(models, arch)


def device_name() -> str:
    """``"cuda"`` when a GPU is usable by torch, else ``"cpu"``."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def training_table(spec_dir, *, split: str = "train", manually_verified_only: bool = False) -> pd.DataFrame:
    """The images of a render folder that can be trained on, with absolute paths.

    Parameters
    ----------
    spec_dir : str or os.PathLike
        Folder written by :func:`audiospec_utils.render.render_spectrograms`.
    split : str
        Which split's images to return (``"train"``; ``"test"`` for evaluation).
    manually_verified_only : bool
        Keep only rows with ``manually_verified == 1`` (FSDKaggle2018).

    Returns
    -------
    pandas.DataFrame
        Manifest rows with an image and a label, plus ``image_path`` (absolute).

    Raises
    ------
    DatasetError
        No usable images, or fewer than two labels.
    """
    spec_dir = Path(spec_dir).resolve()
    df = read_manifest(spec_dir)
    df = df[(df["image"] != "") & (df["split"] == split)]
    if split == "train":
        df = df[df["label"] != ""]
    if manually_verified_only and "manually_verified" in df.columns:
        df = df[pd.to_numeric(df["manually_verified"], errors="coerce") == 1]
    if df.empty:
        raise DatasetError(f"{spec_dir}: no rendered {split} images with labels in manifest.csv")
    df = df.copy()
    df["image_path"] = [str(spec_dir / i) for i in df["image"]]
    if split == "train" and df["label"].nunique() < 2:
        raise DatasetError(f"{spec_dir}: only one label ({df['label'].iloc[0]!r}); a classifier needs at least two")
    return df.reset_index(drop=True)


def split_by_clip(df: pd.DataFrame, valid_pct: float = 0.2, seed: int = 42) -> np.ndarray:
    """Row indices of a validation split drawn per label and per clip.

    All images (windows) of one clip fall on the same side, so the validation score is not
    inflated by near-copies; each label keeps about `valid_pct` of its clips (at least one
    when it has two or more).

    Parameters
    ----------
    df : pandas.DataFrame
        Rows with ``clip_id`` and ``label``.
    valid_pct : float in (0, 1)
    seed : int

    Returns
    -------
    np.ndarray, int64
        Positional indices of the validation rows.
    """
    if not 0 < valid_pct < 1:
        raise ParameterError(f"valid_pct must be between 0 and 1 (exclusive), got {valid_pct!r}")
    rng = np.random.default_rng(seed)
    clips = df.drop_duplicates("clip_id")[["clip_id", "label"]]
    valid_clips = []
    for _, group in clips.groupby("label", sort=True):
        ids = group["clip_id"].to_numpy()
        n = int(round(valid_pct * len(ids)))
        if len(ids) >= 2:
            n = min(max(n, 1), len(ids) - 1)
        valid_clips.extend(rng.permutation(ids)[:n].tolist())
    return np.flatnonzero(df["clip_id"].isin(set(valid_clips)).to_numpy())

# The augmentation classes subclass fastai's Transform, so importing this module imports fastai.
from fastai.vision.all import DisplayedTransform, TensorImage  # noqa: E402


class SpecAugment(DisplayedTransform):
    """Frequency and time masking of a batch of spectrogram images (SpecAugment).

    SpecAugment (Park et al., 2019, Interspeech) hides random bands of mel channels and random
    stretches of time, so that the network cannot rely on one narrow feature. Each image of the
    batch gets its own `freq_masks` horizontal bands (each at most ``freq_width`` of the image
    height) and `time_masks` vertical bands (each at most ``time_width`` of the width), set to 0;
    as this runs after ``Normalize``, 0 is the dataset's mean pixel (the paper masks with the
    mean too). Time warping, the paper's third step, is left out (its own ablation shows it adds
    little). A fastai batch transform, applied to the training set only (``split_idx = 0``).

    Parameters
    ----------
    freq_masks, time_masks : int >= 0
        Number of frequency bands and time bands masked per image.
    freq_width, time_width : float in [0, 1)
        Largest width of one band, as a fraction of the image height (frequency) or width (time);
        each band's width is drawn uniformly in ``[0, width]``.

    Notes
    -----
    Input and output: ``TensorImage`` of shape ``(bs, channels, height, width)``, float. Random
    numbers come from torch's global generator, so a seeded run repeats exactly.
    """

    split_idx = 0
    order = 100  # after Normalize (99)

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

    @staticmethod
    def _bands(bs, size, n, width, device):
        import torch

        hide = torch.zeros(bs, size, dtype=torch.bool, device=device)
        if n == 0 or width == 0:
            return hide
        pos = torch.arange(size, device=device)
        for _ in range(n):
            w = (torch.rand(bs, device=device) * (width * size + 1)).long().clamp(max=size)
            start = (torch.rand(bs, device=device) * (size - w + 1).float()).long()
            hide |= (pos[None] >= start[:, None]) & (pos[None] < (start + w)[:, None])
        return hide

    def encodes(self, x: TensorImage):
        bs, _, h, w = x.shape
        rows = self._bands(bs, h, self.freq_masks, self.freq_width, x.device)
        cols = self._bands(bs, w, self.time_masks, self.time_width, x.device)
        return x.masked_fill(rows[:, None, :, None] | cols[:, None, None, :], 0.0)


class TimeShift(DisplayedTransform):
    """Random circular shift of each spectrogram image along time (its width).

    A sound event can start anywhere in a clip; rolling the image by a random number of columns
    (what leaves on the right comes back on the left) teaches the network that. Frequencies are
    never moved. A fastai batch transform, applied to the training set only.

    Parameters
    ----------
    max_shift : float in [0, 1]
        Largest shift as a fraction of the image width; each image's shift is drawn uniformly in
        ``[-max_shift, max_shift]``.

    Notes
    -----
    Input and output: ``TensorImage`` of shape ``(bs, channels, height, width)``.
    """

    split_idx = 0
    order = 101

    def __init__(self, max_shift: float = 0.5):
        super().__init__()
        if not 0 <= max_shift <= 1:
            raise ParameterError(f"max_shift must be a fraction in [0, 1], got {max_shift!r}")
        self.max_shift = float(max_shift)

    def encodes(self, x: TensorImage):
        import torch

        bs, c, h, w = x.shape
        if self.max_shift == 0:
            return x
        shift = ((torch.rand(bs, device=x.device) * 2 - 1) * self.max_shift * w).round().long()
        idx = (torch.arange(w, device=x.device)[None] - shift[:, None]) % w
        return x.gather(3, idx[:, None, None, :].expand(bs, c, h, w))


def spectrogram_augmentations(spec_augment: bool = True, time_shift: float = 0.5, *, freq_masks: int = 2,
                              freq_width: float = 0.1, time_masks: int = 2, time_width: float = 0.1) -> list:
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

    Returns
    -------
    list of fastai transforms
        To append to a DataBlock's ``batch_tfms`` (after ``Normalize``).
    """
    tfms = []
    if spec_augment:
        tfms.append(SpecAugment(freq_masks, freq_width, time_masks, time_width))
    if time_shift:
        tfms.append(TimeShift(time_shift))
    return tfms


def spectrogram_dataloaders(spec_dir, *, img_size: int = 128, valid_pct: float = 0.2, seed: int = 42,
                            bs: int = 64, num_workers: int | None = None,
                            manually_verified_only: bool = False, table: pd.DataFrame | None = None,
                            spec_augment: bool = False, time_shift: float = 0.0,
                            verified_weight: float | None = None, valid_ids=None):
    """fastai DataLoaders of spectrogram images and their labels.

    Parameters
    ----------
    spec_dir : str or os.PathLike
        Render folder (with ``manifest.csv``).
    img_size : int
        Images are resized (squished, not cropped: cropping a spectrogram would cut off time or
        frequencies) to ``img_size x img_size`` pixels.
    valid_pct : float
        Fraction of each label's clips held out for validation (:func:`split_by_clip`).
    seed : int
        Seed of the split and of shuffling.
    bs : int
        Batch size.
    num_workers : int or None
        DataLoader worker processes; ``None`` = 0 on CPU (the model, not image decoding, is the
        bottleneck there) and the number of cores on a GPU.
    manually_verified_only : bool
        FSDKaggle2018: train only on clips whose label a person checked.
    table : pandas.DataFrame or None
        Rows to use instead of :func:`training_table` (advanced).
    spec_augment : bool
        SpecAugment frequency and time masking of training batches (:class:`SpecAugment`). Off
        by default: it pays over longer trainings; with the few epochs of a CPU run from scratch
        it slowed learning a lot (spoken digits, 8 epochs: 0.15 instead of 0.79 accuracy after 3).
    time_shift : float
        Largest random circular time shift of training images, as a fraction of their width
        (:class:`TimeShift`); 0 (default) = none, 0.5 a typical value. No flips or rotations are
        ever applied.
    verified_weight : float or None
        FSDKaggle2018: weighted sampling of the training images, each manually verified clip
        drawn `verified_weight` times as often as an unverified one (fastai ``WeightedDL``:
        every epoch draws as many images as there are, with replacement). ``None`` (default):
        plain shuffling. Ignored (with a log line) when the table has no ``manually_verified``.
    valid_ids : collection of str or None
        Clip ids to hold out for validation (every image of those clips), instead of drawing them
        with :func:`split_by_clip` (`valid_pct` is then unused): to share one split between
        several models, as :func:`audiospec_utils.compare.compare` does.

    Returns
    -------
    fastai.data.core.DataLoaders
        ``train`` and ``valid``; batches are ``(bs, 3, img_size, img_size)`` float tensors
        normalised with ImageNet statistics, and int64 label indices. ``dls.vocab`` is the sorted
        label list. ``dls.valid_table`` holds the validation rows.

    Raises
    ------
    ParameterError
        `img_size` below 16, `verified_weight` not positive, or augmentation settings out of range.
    DatasetError
        No usable images (see :func:`training_table`).
    """
    from fastai.vision.all import (CategoryBlock, ColReader, DataBlock, ImageBlock, IndexSplitter, Normalize,
                                   Resize, ResizeMethod, imagenet_stats)

    if img_size < 16:
        raise ParameterError(f"img_size must be at least 16 pixels, got {img_size}")
    if verified_weight is not None and not verified_weight > 0:
        raise ParameterError(f"verified_weight must be a positive number, got {verified_weight!r}")
    df = training_table(spec_dir, manually_verified_only=manually_verified_only) if table is None else table
    if valid_ids is None:
        valid_idx = split_by_clip(df, valid_pct, seed)
    else:
        valid_idx = np.flatnonzero(df["clip_id"].isin(set(valid_ids)).to_numpy())
    block = DataBlock(
        blocks=(ImageBlock, CategoryBlock(vocab=sorted(df["label"].unique()))),
        get_x=ColReader("image_path"),
        get_y=ColReader("label"),
        splitter=IndexSplitter(valid_idx),
        item_tfms=Resize(img_size, method=ResizeMethod.Squish),
        batch_tfms=[Normalize.from_stats(*imagenet_stats), *spectrogram_augmentations(spec_augment, time_shift)],
    )
    if num_workers is None:
        num_workers = 0 if device_name() == "cpu" else min(8, __import__("os").cpu_count() or 1)
    kwargs = dict(bs=bs, num_workers=num_workers, seed=seed, device=device_name())
    if verified_weight is not None and "manually_verified" in df.columns:
        verified = pd.to_numeric(df["manually_verified"], errors="coerce").fillna(0).to_numpy() == 1
        dls = block.weighted_dataloaders(df, wgts=np.where(verified, float(verified_weight), 1.0), **kwargs)
    else:
        if verified_weight is not None:
            logger.info("verified_weight ignored: the manifest has no manually_verified column")
        dls = block.dataloaders(df, **kwargs)
    dls.valid_table = df.iloc[valid_idx].reset_index(drop=True)
    return dls


def load_imagenet_weights(arch: str = "resnet34", weights=None) -> dict:
    """ImageNet weights of a torchvision ResNet as a state dict, from a file or the network.

    Parameters
    ----------
    arch : str
        One of :data:`ARCHS`.
    weights : str or os.PathLike or None
        A local file: a state dict saved with ``torch.save(model.state_dict(), FILE)`` (e.g.
        torchvision's ``resnet34-b627a593.pth``), or a checkpoint dict holding one under
        ``"state_dict"`` or ``"model"``. ``None``: torchvision's ImageNet weights, taken from the
        torch hub cache (``$TORCH_HOME/hub/checkpoints``) when present, else downloaded.

    Returns
    -------
    dict
        The state dict, checked against the architecture.

    Raises
    ------
    WeightsUnavailableError
        The download failed (no network) and no file was given, the file is missing or not a
        state dict, or its tensors do not fit `arch`. The message names the ways out.
    """
    import torch

    fn = _arch_fn(arch)
    if weights is not None:
        path = Path(weights)
        if not path.is_file():
            raise WeightsUnavailableError(f"{path}: weights file not found")
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:
            raise WeightsUnavailableError(f"{path}: not a PyTorch weights file ({type(err).__name__}: {err})") from None
        if isinstance(state, dict):
            for key in ("state_dict", "model"):
                if isinstance(state.get(key), dict):
                    state = state[key]
        if not isinstance(state, dict):
            raise WeightsUnavailableError(f"{path}: expected a state dict, found {type(state).__name__}")
        try:
            fn(weights=None).load_state_dict(state)
        except RuntimeError as err:
            first = str(err).splitlines()[0:3]
            raise WeightsUnavailableError(f"{path}: does not hold {arch} weights ({' '.join(first)})") from None
        return state
    from torchvision.models import get_model_weights

    enum = get_model_weights(fn).DEFAULT
    url = enum.url
    hub_file = Path(torch.hub.get_dir()) / "checkpoints" / Path(url).name
    try:
        return enum.get_state_dict(progress=True, check_hash=True)
    except Exception as err:  # URLError, HTTPError, timeouts, SSL errors, hash mismatch
        reason = getattr(err, "reason", None) or err
        raise WeightsUnavailableError(
            f"Could not download the ImageNet weights of {arch} from {url} ({reason}).\n"
            f"Ways to go on:\n"
            f"  1. give a local copy of the file: --weights FILE on the command line, or "
            f"weights=FILE in Python (on Kaggle, attach a dataset that holds {Path(url).name});\n"
            f"  2. put the file in the torch hub cache, where it is found without network: {hub_file};\n"
            f"  3. train from scratch: --no-pretrained / pretrained=False (less accurate on real data)."
        ) from None


def create_learner(dls, arch: str = "resnet34", *, pretrained: bool = True, weights=None, path=None,
                   label_smoothing: float = 0.0):
    """A fastai ``vision_learner`` for the spectrogram DataLoaders.

    Parameters
    ----------
    dls : fastai.data.core.DataLoaders
        From :func:`spectrogram_dataloaders`.
    arch : str
        ``"resnet34"`` (default), ``"resnet18"`` or ``"resnet50"``.
    pretrained : bool
        Start from ImageNet weights (default; body frozen at first, as fastai does).
    weights : str or os.PathLike or None
        Local weights file (implies pretrained); see :func:`load_imagenet_weights`.
    path : str or os.PathLike or None
        Folder the learner saves to (``learn.path``).
    label_smoothing : float
        Label smoothing of the cross-entropy loss (0 = none).

    Returns
    -------
    fastai.learner.Learner
        Metrics: accuracy, error_rate, MAP@3 (:func:`audiospec_utils.metrics.map_at_3`).

    Raises
    ------
    WeightsUnavailableError
        `pretrained` and the weights can be neither downloaded nor read from `weights`.
    """
    from fastai.vision.all import CrossEntropyLossFlat, LabelSmoothingCrossEntropyFlat, accuracy, error_rate
    from fastai.vision.all import model_meta, vision_learner

    fn = _arch_fn(arch)
    meta = model_meta[fn]
    loss = LabelSmoothingCrossEntropyFlat(eps=label_smoothing) if label_smoothing else CrossEntropyLossFlat()
    common = dict(metrics=[accuracy, error_rate, map_at_3], loss_func=loss, path=path, splitter=meta["split"])
    if pretrained or weights is not None:
        state = load_imagenet_weights(arch, weights)

        def arch_with_weights(pretrained=True, **kwargs):
            model = fn(weights=None)
            model.load_state_dict(state)
            return model

        learn = vision_learner(dls, arch_with_weights, pretrained=True, cut=meta["cut"], **common)
    else:
        learn = vision_learner(dls, fn, pretrained=False, **common)
    learn.arch = fn  # a module-level function, so that learn.export() can pickle it
    if device_name() == "cuda":
        learn = learn.to_fp16()
    return learn


def clip_predictions(probs, table: pd.DataFrame, vocab) -> pd.DataFrame:
    """Average image probabilities per clip (windows of one clip become one prediction).

    Parameters
    ----------
    probs : array-like, shape (n_images, n_classes)
    table : pandas.DataFrame
        The images' rows (``clip_id``, ``label``), aligned with `probs`.
    vocab : sequence of str
        Class names, in the order of the columns of `probs`.

    Returns
    -------
    pandas.DataFrame
        One row per clip: ``clip_id``, ``label``, one column per class (mean probability), and
        ``pred`` (best class).
    """
    probs = np.asarray(probs, dtype=np.float64)
    frame = pd.DataFrame(probs, columns=list(vocab))
    frame.insert(0, "clip_id", table["clip_id"].to_numpy())
    labels = table.drop_duplicates("clip_id").set_index("clip_id")["label"]
    out = frame.groupby("clip_id", sort=False).mean()
    out.insert(0, "label", labels.reindex(out.index).to_numpy())
    out["pred"] = out[list(vocab)].idxmax(axis=1)
    return out.reset_index()


def _scores(clip_preds: pd.DataFrame, vocab) -> dict:
    known = clip_preds[clip_preds["label"].isin(list(vocab))]
    y = known["label"].map({c: i for i, c in enumerate(vocab)}).to_numpy()
    p = known[list(vocab)].to_numpy()
    acc = float((p.argmax(1) == y).mean()) if len(y) else float("nan")
    return {"accuracy": acc, "error_rate": 1 - acc, "map_at_3": map_at_k(y, p, 3)}


def find_learning_rate(learn, *, num_it: int = 100, start_lr: float = 1e-7, end_lr: float = 10.0,
                       show_plot: bool = True, save_to=None) -> dict:
    """fastai's learning-rate finder: a short mock training with a rising learning rate.

    ``learn.lr_find`` trains on `num_it` batches while the learning rate grows exponentially
    from `start_lr` to `end_lr`, records the loss, then puts the weights back as they were
    (Smith, 2017, "Cyclical Learning Rates for Training Neural Networks"; fastai's ``LRFinder``).
    A good peak rate lies where the loss falls fastest, before it blows up.

    Parameters
    ----------
    learn : fastai.learner.Learner
        From :func:`create_learner`; its weights are unchanged afterwards.
    num_it : int >= 10
        Mini-batches of the mock training (fastai's default 100; 20-30 is enough for a CPU check
        on the mini dataset).
    start_lr, end_lr : float
        Range of learning rates swept (log scale).
    show_plot : bool
        Draw the loss against the learning rate, with the suggestions marked.
    save_to : str or os.PathLike or None
        Save the plot (PNG) there.

    Returns
    -------
    dict
        ``valley``, ``minimum``, ``steep`` (suggested rates, float; fastai's
        ``SuggestionMethod``: ``valley`` is the one :func:`train_classifier` uses),
        ``lrs`` and ``losses`` (lists of float, the sweep) and ``figure`` (matplotlib figure or
        None).

    Raises
    ------
    ParameterError
        `num_it` < 10 or the rates are not ``0 < start_lr < end_lr``.
    """
    import matplotlib.pyplot as plt
    from fastai.callback.schedule import minimum, steep, valley

    if not isinstance(num_it, (int, np.integer)) or num_it < 10:
        raise ParameterError(f"num_it must be an integer >= 10, got {num_it!r}")
    if not 0 < start_lr < end_lr:
        raise ParameterError(f"need 0 < start_lr < end_lr, got {start_lr!r}, {end_lr!r}")
    Path(learn.path).mkdir(parents=True, exist_ok=True)
    before = set(plt.get_fignums())
    res = learn.lr_find(start_lr=start_lr, end_lr=end_lr, num_it=int(num_it), show_plot=show_plot or save_to is not None,
                        suggest_funcs=(valley, minimum, steep))
    new = [n for n in plt.get_fignums() if n not in before]
    fig = plt.figure(new[-1]) if new else None
    if fig is not None and save_to is not None:
        fig.savefig(save_to, dpi=110)
    if fig is not None and not show_plot:
        plt.close(fig)
        fig = None
    return {"valley": float(res.valley), "minimum": float(res.minimum), "steep": float(res.steep),
            "lrs": [float(v) for v in learn.recorder.lrs], "losses": [float(v) for v in learn.recorder.losses],
            "figure": fig}


def _history_callback():
    from fastai.callback.core import Callback
    from fastai.learner import Recorder

    class EpochHistory(Callback):
        "Collect each epoch's recorder line (losses, metrics), across several fits (stages)."
        order = Recorder.order + 1

        def __init__(self):
            self.rows, self.stage = [], "train"

        def after_epoch(self):
            names = list(self.recorder.metric_names)
            values = list(self.recorder.log)
            row = dict(zip(names, values))
            row.pop("epoch", None)
            self.rows.append({"epoch": len(self.rows), "stage": self.stage, **row})

    return EpochHistory()


def read_history(run_dir) -> pd.DataFrame:
    """The per-epoch history of a run: ``RUN_DIR/history.csv`` as a DataFrame.

    Returns
    -------
    pandas.DataFrame
        One row per epoch: ``epoch`` (from 0, over all stages), ``stage`` (``"frozen"``,
        ``"unfrozen"`` or ``"one_cycle"``), ``train_loss``, ``valid_loss``, ``accuracy``,
        ``error_rate``, ``map_at_3``, ``time``.

    Raises
    ------
    DatasetError
        The run folder has no history.csv.
    """
    path = Path(run_dir) / "history.csv"
    if not path.is_file():
        raise DatasetError(f"{run_dir}: no history.csv; train a model into this folder first")
    return pd.read_csv(path)


def fit(learn, epochs: int, *, pretrained: bool, lr: float | None = None, freeze_epochs: int = 1,
        save_best: bool = True, history: bool = True, schedule: str = "auto", unfrozen_lr=None,
        mixup: float = 0.0):
    """Train a learner with the fastai recipe for its starting point.

    Parameters
    ----------
    learn : fastai.learner.Learner
        From :func:`create_learner`.
    epochs : int
        One-cycle epochs (after `freeze_epochs` frozen ones for ``"fine_tune"``/``"unfreeze"``).
    pretrained : bool
        Whether the body holds ImageNet weights; picks the schedule when ``schedule="auto"`` and
        the default learning rate.
    lr : float or None
        Peak learning rate: default 2e-3 (pretrained) or 3e-3 (from scratch). For
        ``"unfreeze"`` the rate of the frozen stage.
    freeze_epochs : int
        Epochs with the body frozen (``"fine_tune"``, ``"unfreeze"``).
    save_best : bool
        Keep the epoch with the lowest validation loss (fastai ``SaveModelCallback``, saved as
        ``learn.path/models/best.pth`` and loaded back at the end; with two stages, the best
        epoch of the last stage).
    history : bool
        Write each epoch's losses and metrics, over all stages, to ``learn.path/history.csv``
        (see :func:`read_history`).
    schedule : {"auto", "fine_tune", "one_cycle", "unfreeze"}
        ``"fine_tune"``: ``learn.fine_tune(epochs, base_lr=lr, freeze_epochs)`` (fastai: the new
        head with the body frozen, then everything with discriminative rates
        ``slice(lr / 200, lr / 2)``). ``"one_cycle"``: ``fit_one_cycle(epochs, lr)`` on the whole
        (unfrozen) network, the way to train from scratch. ``"unfreeze"``: the explicit recipe
        of the fastai course: ``freeze()``, ``fit_one_cycle(freeze_epochs, lr)``, ``unfreeze()``,
        ``fit_one_cycle(epochs, slice(lo, hi))`` with `unfrozen_lr` = ``(lo, hi)``
        (discriminative learning rates: the first layer group gets ``lo``, the head ``hi``,
        the groups between are spaced geometrically). ``"auto"``: ``"fine_tune"`` when
        `pretrained`, else ``"one_cycle"``.
    unfrozen_lr : tuple of two floats or None
        ``(lo, hi)`` for ``"unfreeze"``; default ``(lr / 200, lr / 2)``, the rates fine_tune uses.
    mixup : float
        ``alpha`` of fastai's ``MixUp`` callback (Zhang et al., 2018): each training batch is
        blended with a shuffled copy of itself, images and targets alike, with weights drawn from
        Beta(alpha, alpha); 0 (default) = off, 0.4 is fastai's default.

    Returns
    -------
    float
        The peak learning rate used (of the last stage's head for ``"unfreeze"``).

    Raises
    ------
    ParameterError
        A parameter is out of range or `schedule` is unknown.
    """
    from fastai.vision.all import MixUp, SaveModelCallback

    for name, value in (("epochs", epochs), ("freeze_epochs", freeze_epochs)):
        if not isinstance(value, (int, np.integer)) or value < (1 if name == "epochs" else 0):
            raise ParameterError(f"{name} must be a positive integer, got {value!r}")
    if lr is not None and not lr > 0:
        raise ParameterError(f"lr must be a positive number, got {lr!r}")
    if schedule not in SCHEDULES:
        raise ParameterError(f"schedule must be one of {', '.join(SCHEDULES)}, got {schedule!r}")
    if not mixup >= 0:
        raise ParameterError(f"mixup must be an alpha >= 0, got {mixup!r}")
    if unfrozen_lr is not None:
        if len(unfrozen_lr) != 2 or not 0 < unfrozen_lr[0] <= unfrozen_lr[1]:
            raise ParameterError(f"unfrozen_lr must be (lo, hi) with 0 < lo <= hi, got {unfrozen_lr!r}")
    if schedule == "auto":
        schedule = "fine_tune" if pretrained else "one_cycle"
    if schedule == "unfreeze" and freeze_epochs < 1:
        raise ParameterError("schedule 'unfreeze' needs freeze_epochs >= 1")
    lr = lr or (2e-3 if pretrained else 3e-3)
    Path(learn.path).mkdir(parents=True, exist_ok=True)
    cbs = []
    if save_best:
        cbs.append(SaveModelCallback(monitor="valid_loss", fname="best", with_opt=False))
    hist = _history_callback()
    cbs.append(hist)
    if mixup:
        cbs.append(MixUp(mixup))
    if schedule == "fine_tune":
        learn.freeze()
        hist.stage = "frozen"
        if freeze_epochs:
            learn.fit_one_cycle(freeze_epochs, slice(lr), pct_start=0.99, cbs=cbs)
        learn.unfreeze()
        hist.stage = "unfrozen"
        learn.fit_one_cycle(epochs, slice(lr / 200, lr / 2), pct_start=0.3, div=5.0, cbs=cbs)
    elif schedule == "unfreeze":
        lo, hi = unfrozen_lr or (lr / 200, lr / 2)
        learn.freeze()
        hist.stage = "frozen"
        learn.fit_one_cycle(freeze_epochs, lr, cbs=cbs)
        learn.unfreeze()
        hist.stage = "unfrozen"
        learn.fit_one_cycle(epochs, slice(lo, hi), cbs=cbs)
        lr = hi
    else:
        learn.unfreeze()
        hist.stage = "one_cycle"
        learn.fit_one_cycle(epochs, lr, cbs=cbs)
    if history:
        pd.DataFrame(hist.rows).to_csv(Path(learn.path) / "history.csv", index=False)
    return lr


def save_run(learn, dls, out_dir, **settings) -> dict:
    """Evaluate on the validation split and save the run: metrics, predictions, exported learner.

    Parameters
    ----------
    learn : fastai.learner.Learner
        A trained learner.
    dls : fastai.data.core.DataLoaders
        From :func:`spectrogram_dataloaders` (its ``valid_table`` is used).
    out_dir : str or os.PathLike
        Run folder.
    **settings
        Recorded in ``metrics.json`` as they are (epochs, seconds, arch...). A ``spec_dir``
        setting (the render folder) also has its ``params.json`` copied into the run folder, so
        that evaluation and prediction render new audio exactly as the training images were.

    Returns
    -------
    dict
        ``accuracy``, ``error_rate``, ``map_at_3`` (per clip: windows of a clip are averaged),
        ``n_train``, ``n_valid`` (clips), ``classes``, ``train_label_counts`` (training clips
        per label), ``device`` and `settings`; written to ``metrics.json``. Also writes
        ``valid_predictions.csv`` (per-clip probabilities), ``valid_items.csv`` (validation
        images), ``params.json`` (spectrogram parameters) and ``export.pkl`` (``learn.export``).
    """
    import shutil

    import torch

    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    probs, _ = learn.get_preds(dl=dls.valid)
    vocab = list(dls.vocab)
    clip_preds = clip_predictions(probs.float().numpy(), dls.valid_table, vocab)
    clip_preds.to_csv(out_dir / "valid_predictions.csv", index=False)
    train_clips = dls.train.items.drop_duplicates("clip_id")
    counts = train_clips["label"].value_counts()
    metrics = {
        **_scores(clip_preds, vocab),
        "n_train": int(len(train_clips)),
        "n_valid": int(len(clip_preds)),
        "classes": vocab,
        "train_label_counts": {str(k): int(v) for k, v in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))},
        **settings,
        "device": device_name(),
        "torch_threads": torch.get_num_threads(),
    }
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2, default=str))
    spec_params = Path(str(settings.get("spec_dir", ""))) / "params.json" if settings.get("spec_dir") else None
    if spec_params is not None and spec_params.is_file():
        shutil.copyfile(spec_params, out_dir / "params.json")
    dls.valid_table.to_csv(out_dir / "valid_items.csv", index=False)
    learn.export(out_dir / "export.pkl")
    return metrics


def _keep_interrupted_checkpoint(out_dir: Path) -> Path | None:
    """Rename ``models/best.pth`` of an interrupted run (no ``metrics.json``) so a new run keeps it."""
    best = out_dir / "models" / "best.pth"
    if not best.is_file() or (out_dir / "metrics.json").is_file():
        return None
    kept = best.with_name(f"best_interrupted_{time.strftime('%Y%m%d-%H%M%S')}.pth")
    best.rename(kept)
    logger.warning("%s: an earlier training here was interrupted; its best checkpoint is kept as %s. "
                   "Training starts again from the beginning.", out_dir, kept)
    return kept


def train_classifier(spec_dir, out_dir, *, arch: str = "resnet34", epochs: int = 8, img_size: int = 64,
                     valid_pct: float = 0.2, seed: int = 42, bs: int = 32, lr: float | None = None,
                     pretrained: bool = True, weights=None, freeze_epochs: int = 1,
                     manually_verified_only: bool = False, label_smoothing: float = 0.0,
                     progress: bool = True, schedule: str = "auto", unfrozen_lr=None, lr_find: bool = False,
                     lr_find_iters: int = 100, spec_augment: bool = False, time_shift: float = 0.0,
                     mixup: float = 0.0, verified_weight: float | None = None):
    """Train a classifier on a render folder and save everything in a run folder.

    :func:`spectrogram_dataloaders`, :func:`create_learner`, :func:`fit` and :func:`save_run`
    in one call (notebook 03 shows them one by one).

    Parameters
    ----------
    spec_dir : str or os.PathLike
        Render folder (``manifest.csv``, ``images/``).
    out_dir : str or os.PathLike
        Run folder (created): ``export.pkl``, ``metrics.json``, ``history.csv``,
        ``valid_predictions.csv``, ``valid_items.csv``, ``models/best.pth``.
    arch : str
        ``"resnet34"`` (default), ``"resnet18"``, ``"resnet50"``.
    epochs : int
        Epochs of one-cycle training (after `freeze_epochs` frozen ones when pretrained).
    img_size : int
        Square input size in pixels. The default, 64, keeps CPU training to minutes; use 128 or
        more on a GPU for real FSDKaggle2018 runs.
    valid_pct, seed, bs :
        Validation fraction (per label, per clip), random seed (split, init, shuffling), batch size.
    lr : float or None
        Peak learning rate; default 2e-3 (fine_tune) or 3e-3 (from scratch).
    pretrained : bool
        ImageNet weights (default) then ``fine_tune``; ``False``: random init and
        ``fit_one_cycle``.
    weights : str or os.PathLike or None
        Local ImageNet weights file (see :func:`load_imagenet_weights`).
    freeze_epochs : int
        Epochs with the pretrained body frozen, before unfreezing (``fine_tune``).
    manually_verified_only : bool
        FSDKaggle2018: train only on manually verified clips.
    label_smoothing : float
        Label smoothing of the cross-entropy (0 = plain cross-entropy; 0.1 is common).
    progress : bool
        Show fastai's progress bars.
    schedule : {"auto", "fine_tune", "one_cycle", "unfreeze"}
        See :func:`fit`.
    unfrozen_lr : (float, float) or None
        Discriminative rates ``slice(lo, hi)`` of the unfrozen stage of ``"unfreeze"``.
    lr_find : bool
        Run :func:`find_learning_rate` first and train with its ``valley`` suggestion (unless
        `lr` is given); the plot is saved as ``lr_find.png`` and the suggestions in
        ``metrics.json`` (``lr_find``).
    lr_find_iters : int
        Mini-batches of the learning-rate sweep.
    spec_augment, time_shift :
        Augmentation of the training images (see :func:`spectrogram_dataloaders`).
    mixup : float
        MixUp alpha (see :func:`fit`); 0 = off.
    verified_weight : float or None
        Sampling weight of manually verified clips (see :func:`spectrogram_dataloaders`).

    Returns
    -------
    learn : fastai.learner.Learner
        The trained learner (best epoch by validation loss).
    metrics : dict
        What ``metrics.json`` holds: ``accuracy``, ``error_rate``, ``map_at_3`` (per clip, on the
        validation split), ``n_train``, ``n_valid``, ``classes``, ``train_label_counts``,
        ``epochs``, ``seconds``, every setting above and ``spec_dir``.

    Notes
    -----
    With the same `seed`, two runs on the CPU give the same weights, history and metrics
    (``fastai.torch_core.set_seed(seed, reproducible=True)`` seeds Python, NumPy and torch; the
    DataLoaders run in the main process). On a GPU, cuDNN and mixed precision may still differ
    in the last digits.

    Raises
    ------
    DatasetError
        The render folder has no usable images or one label only.
    WeightsUnavailableError
        Pretrained weights unavailable (see :func:`load_imagenet_weights`).
    ParameterError
        A parameter is out of range.
    TrainingInterrupted
        Ctrl-C (KeyboardInterrupt) during training: the message says where the best epoch so far
        is saved. A later run into the same folder keeps that checkpoint as
        ``models/best_interrupted_<time>.pth`` before training again.
    """
    from fastai.vision.all import set_seed

    for name, value in (("epochs", epochs), ("bs", bs), ("img_size", img_size)):
        if not isinstance(value, (int, np.integer)) or value < 1:
            raise ParameterError(f"{name} must be a positive integer, got {value!r}")
    start = time.time()
    set_seed(seed, reproducible=True)
    if not 0 <= label_smoothing < 1:
        raise ParameterError(f"label_smoothing must be in [0, 1), got {label_smoothing!r}")
    dls = spectrogram_dataloaders(spec_dir, img_size=img_size, valid_pct=valid_pct, seed=seed, bs=bs,
                                  manually_verified_only=manually_verified_only, spec_augment=spec_augment,
                                  time_shift=time_shift, verified_weight=verified_weight)
    use_pretrained = pretrained or weights is not None
    out_dir = Path(out_dir).resolve()
    learn = create_learner(dls, arch, pretrained=use_pretrained, weights=weights, path=out_dir,
                           label_smoothing=label_smoothing)
    if not progress:
        learn.remove_cbs([cb for cb in learn.cbs if type(cb).__name__ == "ProgressCallback"])
    out_dir.mkdir(parents=True, exist_ok=True)
    _keep_interrupted_checkpoint(out_dir)
    found = None
    if lr_find:
        found = find_learning_rate(learn, num_it=lr_find_iters, show_plot=False, save_to=out_dir / "lr_find.png")
        lr = lr or found["valley"]
        logger.info("lr_find suggests %.2e (valley); training with %.2e", found["valley"], lr)
    try:
        used_lr = fit(learn, epochs, pretrained=use_pretrained, lr=lr, freeze_epochs=freeze_epochs, schedule=schedule,
                      unfrozen_lr=unfrozen_lr, mixup=mixup)
    except KeyboardInterrupt:
        best = out_dir / "models" / "best.pth"
        said = (f"the best epoch so far (lowest validation loss) is saved in {best} (learn.load('best') loads it)"
                if best.is_file() else "no epoch had finished, so nothing was saved")
        raise TrainingInterrupted(
            f"training interrupted: {said}. Running the same command again trains from the start; that "
            f"checkpoint is kept, renamed best_interrupted_<time>.pth.") from None
    metrics = save_run(learn, dls, out_dir, epochs=int(epochs), seconds=round(time.time() - start, 1), arch=arch,
                       pretrained=bool(use_pretrained), weights=str(weights) if weights is not None else None,
                       img_size=int(img_size), valid_pct=valid_pct, seed=int(seed), bs=int(bs), lr=used_lr,
                       schedule=schedule, freeze_epochs=int(freeze_epochs),
                       unfrozen_lr=list(unfrozen_lr) if unfrozen_lr is not None else None,
                       lr_find={k: found[k] for k in ("valley", "minimum", "steep")} if found else None,
                       label_smoothing=float(label_smoothing), spec_augment=bool(spec_augment),
                       time_shift=float(time_shift), mixup=float(mixup), verified_weight=verified_weight,
                       manually_verified_only=bool(manually_verified_only), spec_dir=str(Path(spec_dir).resolve()))
    return learn, metrics
