"""Fine-tune an ImageNet CNN on spectrogram images with fastai.

The path is the fastai one: a :class:`~fastai.data.block.DataBlock` turns the render manifest into
:class:`~fastai.data.core.DataLoaders`, :func:`~fastai.vision.learner.vision_learner` builds a
ResNet-34 with a new head, ``fine_tune`` (pretrained) or ``fit_one_cycle`` (from scratch) trains
it, and the trained :class:`~fastai.learner.Learner` is exported for later use.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd

from .exceptions import DatasetError, ParameterError, WeightsUnavailableError
from .metrics import map_at_3, map_at_k
from .render import read_manifest

__all__ = [
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
]

logger = logging.getLogger(__name__)

#: Architectures known by name (torchvision ResNets, as fastai's vision_learner takes them).
ARCHS = ("resnet18", "resnet34", "resnet50")


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


def spectrogram_dataloaders(spec_dir, *, img_size: int = 128, valid_pct: float = 0.2, seed: int = 42,
                            bs: int = 64, num_workers: int | None = None,
                            manually_verified_only: bool = False, table: pd.DataFrame | None = None):
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

    Returns
    -------
    fastai.data.core.DataLoaders
        ``train`` and ``valid``; batches are ``(bs, 3, img_size, img_size)`` float tensors
        normalised with ImageNet statistics, and int64 label indices. ``dls.vocab`` is the sorted
        label list. ``dls.valid_table`` holds the validation rows.
    """
    from fastai.vision.all import (CategoryBlock, ColReader, DataBlock, ImageBlock, IndexSplitter, Normalize,
                                   Resize, ResizeMethod, imagenet_stats)

    if img_size < 16:
        raise ParameterError(f"img_size must be at least 16 pixels, got {img_size}")
    df = training_table(spec_dir, manually_verified_only=manually_verified_only) if table is None else table
    valid_idx = split_by_clip(df, valid_pct, seed)
    block = DataBlock(
        blocks=(ImageBlock, CategoryBlock(vocab=sorted(df["label"].unique()))),
        get_x=ColReader("image_path"),
        get_y=ColReader("label"),
        splitter=IndexSplitter(valid_idx),
        item_tfms=Resize(img_size, method=ResizeMethod.Squish),
        batch_tfms=[Normalize.from_stats(*imagenet_stats)],
    )
    if num_workers is None:
        num_workers = 0 if device_name() == "cpu" else min(8, __import__("os").cpu_count() or 1)
    dls = block.dataloaders(df, bs=bs, num_workers=num_workers, seed=seed, device=device_name())
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


def fit(learn, epochs: int, *, pretrained: bool, lr: float | None = None, freeze_epochs: int = 1,
        save_best: bool = True, history: bool = True):
    """Train a learner with the fastai recipe for its starting point.

    Parameters
    ----------
    learn : fastai.learner.Learner
        From :func:`create_learner`.
    epochs : int
        One-cycle epochs (after `freeze_epochs` frozen ones when `pretrained`).
    pretrained : bool
        ``True``: ``learn.fine_tune(epochs, base_lr=lr or 2e-3, freeze_epochs)`` (train the new
        head with the body frozen, then everything with discriminative learning rates).
        ``False``: ``learn.fit_one_cycle(epochs, lr_max=lr or 3e-3)``.
    lr : float or None
        Peak learning rate.
    freeze_epochs : int
    save_best : bool
        Keep the epoch with the lowest validation loss (fastai ``SaveModelCallback``, saved as
        ``learn.path/models/best.pth`` and loaded back at the end).
    history : bool
        Write each epoch's losses and metrics to ``learn.path/history.csv`` (``CSVLogger``).

    Returns
    -------
    float
        The peak learning rate used.
    """
    from fastai.vision.all import CSVLogger, SaveModelCallback

    for name, value in (("epochs", epochs), ("freeze_epochs", freeze_epochs)):
        if not isinstance(value, (int, np.integer)) or value < (1 if name == "epochs" else 0):
            raise ParameterError(f"{name} must be a positive integer, got {value!r}")
    if lr is not None and not lr > 0:
        raise ParameterError(f"lr must be a positive number, got {lr!r}")
    Path(learn.path).mkdir(parents=True, exist_ok=True)
    cbs = []
    if save_best:
        cbs.append(SaveModelCallback(monitor="valid_loss", fname="best", with_opt=False))
    if history:
        cbs.append(CSVLogger(fname="history.csv"))
    if pretrained:
        lr = lr or 2e-3
        learn.fine_tune(epochs, base_lr=lr, freeze_epochs=freeze_epochs, cbs=cbs)
    else:
        lr = lr or 3e-3
        learn.fit_one_cycle(epochs, lr_max=lr, cbs=cbs)
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
        Recorded in ``metrics.json`` as they are (epochs, seconds, arch...).

    Returns
    -------
    dict
        ``accuracy``, ``error_rate``, ``map_at_3`` (per clip: windows of a clip are averaged),
        ``n_train``, ``n_valid`` (clips), ``classes``, ``device`` and `settings`; written to
        ``metrics.json``. Also writes ``valid_predictions.csv`` (per-clip probabilities),
        ``valid_items.csv`` (validation images) and ``export.pkl`` (``learn.export``).
    """
    import torch

    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    probs, _ = learn.get_preds(dl=dls.valid)
    vocab = list(dls.vocab)
    clip_preds = clip_predictions(probs.float().numpy(), dls.valid_table, vocab)
    clip_preds.to_csv(out_dir / "valid_predictions.csv", index=False)
    metrics = {
        **_scores(clip_preds, vocab),
        "n_train": int(dls.train.items["clip_id"].nunique()),
        "n_valid": int(len(clip_preds)),
        "classes": vocab,
        **settings,
        "device": device_name(),
        "torch_threads": torch.get_num_threads(),
    }
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2, default=str))
    dls.valid_table.to_csv(out_dir / "valid_items.csv", index=False)
    learn.export(out_dir / "export.pkl")
    return metrics


def train_classifier(spec_dir, out_dir, *, arch: str = "resnet34", epochs: int = 8, img_size: int = 64,
                     valid_pct: float = 0.2, seed: int = 42, bs: int = 32, lr: float | None = None,
                     pretrained: bool = True, weights=None, freeze_epochs: int = 1,
                     manually_verified_only: bool = False, label_smoothing: float = 0.0,
                     progress: bool = True):
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
        Label smoothing (0 = plain cross-entropy).
    progress : bool
        Show fastai's progress bars.

    Returns
    -------
    learn : fastai.learner.Learner
        The trained learner (best epoch by validation loss).
    metrics : dict
        What ``metrics.json`` holds: ``accuracy``, ``error_rate``, ``map_at_3`` (per clip, on the
        validation split), ``n_train``, ``n_valid``, ``classes``, ``epochs``, ``seconds`` and the
        settings.

    Raises
    ------
    DatasetError
        The render folder has no usable images or one label only.
    WeightsUnavailableError
        Pretrained weights unavailable (see :func:`load_imagenet_weights`).
    ParameterError
        A parameter is out of range.
    """
    from fastai.vision.all import set_seed

    for name, value in (("epochs", epochs), ("bs", bs), ("img_size", img_size)):
        if not isinstance(value, (int, np.integer)) or value < 1:
            raise ParameterError(f"{name} must be a positive integer, got {value!r}")
    start = time.time()
    set_seed(seed, reproducible=True)
    dls = spectrogram_dataloaders(spec_dir, img_size=img_size, valid_pct=valid_pct, seed=seed, bs=bs,
                                  manually_verified_only=manually_verified_only)
    use_pretrained = pretrained or weights is not None
    learn = create_learner(dls, arch, pretrained=use_pretrained, weights=weights, path=Path(out_dir).resolve(),
                           label_smoothing=label_smoothing)
    if not progress:
        learn.remove_cbs([cb for cb in learn.cbs if type(cb).__name__ == "ProgressCallback"])
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    used_lr = fit(learn, epochs, pretrained=use_pretrained, lr=lr, freeze_epochs=freeze_epochs)
    metrics = save_run(learn, dls, out_dir, epochs=int(epochs), seconds=round(time.time() - start, 1), arch=arch,
                       pretrained=bool(use_pretrained), weights=str(weights) if weights is not None else None,
                       img_size=int(img_size), valid_pct=valid_pct, seed=int(seed), bs=int(bs), lr=used_lr,
                       spec_dir=str(Path(spec_dir).resolve()))
    return learn, metrics
