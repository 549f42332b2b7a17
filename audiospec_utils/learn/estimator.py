"""The estimator: a spectrogram classifier built from a :class:`~audiospec_utils.learn.config.TrainingConfig`.

:class:`SpectrogramClassifier` (``fit``, ``predict_proba``, ``save``, ``load``, as scikit-learn's
estimators) is how every path of the toolkit trains: :func:`audiospec_utils.learn.train.train_classifier`,
cross-validation, the course's experiments and the image rows of ``compare``. This module is the
only one that builds a fastai ``Learner``: :func:`create_learner` (``vision_learner`` with a
torchvision ResNet, or :func:`small_cnn` from scratch; accuracy, error_rate and MAP@3 as metrics,
optional label smoothing). :func:`load_imagenet_weights` finds the ImageNet weights (a local file,
``AUDIOSPEC_WEIGHTS``, the torch hub cache, or a download) and says how to go on offline;
:func:`to_device_precision` puts the model in mixed precision and channels-last on a GPU.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path

import pandas as pd

from ..exceptions import ParameterError, WeightsUnavailableError
from ..features.folders import RenderFolder, as_render_folder
from ..fileio import atomic_path, write_csv_atomic, write_text_atomic
from .config import ARCHS, TrainingConfig, cpu_computes_bf16, device_name
from .inference import valid_clip_predictions
from .metrics import clip_score_intervals, clip_scores, map_at_3
from .run import Run, as_run

__all__ = ["SpectrogramClassifier", "save_run", "params_for_run", "load_imagenet_weights", "create_learner", "time_pool_layer", "to_device_precision", "adamw",
           "small_cnn"]

logger = logging.getLogger(__name__)


def _arch_fn(arch: str):
    from torchvision import models

    if arch not in ARCHS:
        raise ParameterError(f"arch must be one of {', '.join(ARCHS)}, got {arch!r}")
    return getattr(models, arch)


def load_imagenet_weights(arch: str = "resnet34", weights=None) -> dict:
    """ImageNet weights of a torchvision ResNet as a state dict, from a file or the network.

    Parameters
    ----------
    arch : str
        One of :data:`ARCHS`.
    weights : str or os.PathLike or None
        A local file: a state dict saved with ``torch.save(model.state_dict(), FILE)`` (e.g.
        torchvision's ``resnet34-b627a593.pth``), or a checkpoint dict holding one under
        ``"state_dict"`` or ``"model"``. ``None``: the file named by the environment variable
        ``AUDIOSPEC_WEIGHTS`` when it is set and `arch` is ``"resnet34"`` (an attached weights file
        on an offline Kaggle kernel), else torchvision's ImageNet weights, taken from the torch hub
        cache (``$TORCH_HOME/hub/checkpoints``) when present, else downloaded.

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
    if weights is None and arch == "resnet34" and os.environ.get("AUDIOSPEC_WEIGHTS", "").strip():
        weights = os.environ["AUDIOSPEC_WEIGHTS"].strip()
        logger.info("ImageNet weights from AUDIOSPEC_WEIGHTS=%s", weights)
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


def adamw(params, lr: float = 1e-3, mom: float = 0.9, sqr_mom: float = 0.99, eps: float = 1e-5, wd: float = 0.01):
    """fastai's Adam, stepped by PyTorch's fused ``torch.optim.AdamW``: the learners' optimizer.

    fastai's own ``Adam`` loops over the parameters in Python. PyTorch's fused kernel updates every
    weight in one pass: on the 2-core AVX2 CPU of ``make test`` a step over ResNet-34's 21.3 million
    weights took 25 to 42 ms against 145 to 205 ms with ``foreach=True`` (ResNet-18: 14 to 21 ms
    against 50 to 113 ms; 1 and 2 threads, 20 steps each), up to a third of a training batch of 16
    small crops. The hyper-parameters are
    fastai's defaults under fastai's names, so ``fit_one_cycle`` schedules the momentum (``mom``,
    beta 1) and the learning rate as it does for its own optimizer (``OptimWrapper``). The update is
    the same Adam with decoupled weight decay, with one difference: fastai exempts BatchNorm and
    bias parameters from weight decay and this applies it to every parameter (a shrink of
    ``lr * wd``, about 3e-5, per step).

    Parameters
    ----------
    params : iterable
        Parameter groups, as fastai's splitter gives them.
    lr, mom, sqr_mom, eps, wd : float
        Learning rate, the two averaging coefficients (beta 1 and beta 2), the denominator's epsilon
        and the decoupled weight decay: fastai's ``Adam`` defaults.

    Returns
    -------
    fastai.optimizer.OptimWrapper

    References
    ----------
    Loshchilov and Hutter, "Decoupled Weight Decay Regularization", ICLR 2019 (AdamW).
    """
    import torch
    from fastai.optimizer import OptimWrapper

    return OptimWrapper(params, torch.optim.AdamW, lr=lr, betas=(mom, sqr_mom), eps=eps, weight_decay=wd,
                        fused=True)


def create_learner(dls, arch: str = "resnet34", *, pretrained: bool = True, weights=None, path=None,
                   label_smoothing: float = 0.0, cpu_bf16: bool = False):
    """A fastai ``vision_learner`` for the spectrogram DataLoaders.

    Parameters
    ----------
    dls : SpectrogramDataLoaders
        From :func:`spectrogram_dataloaders` (their normalisation is already in the batches).
    arch : str
        ``"resnet34"`` (default), ``"resnet18"``, ``"resnet50"``, or ``"small_cnn"`` (:func:`small_cnn`,
        from scratch only).
    pretrained : bool
        Start from ImageNet weights (default; body frozen at first, as fastai does).
    weights : str or os.PathLike or None
        Local weights file (implies pretrained); see :func:`load_imagenet_weights`.
    path : str or os.PathLike or None
        Folder the learner saves to (``learn.path``).
    label_smoothing : float
        Label smoothing of the cross-entropy loss (0 = none).
    cpu_bf16 : bool
        On a CPU that computes bfloat16 in hardware, train in bf16 autocast (see
        :func:`to_device_precision`); ignored on a GPU and on other CPUs.

    Returns
    -------
    fastai.learner.Learner
        Metrics: accuracy, error_rate, MAP@3 (:func:`audiospec_utils.learn.metrics.map_at_3`).

    Raises
    ------
    WeightsUnavailableError
        `pretrained` and the weights can be neither downloaded nor read from `weights`.
    """
    from fastai.vision.all import (
        CrossEntropyLossFlat,
        LabelSmoothingCrossEntropyFlat,
        Learner,
        accuracy,
        error_rate,
        model_meta,
        vision_learner,
    )
    from torch import nn

    loss = LabelSmoothingCrossEntropyFlat(eps=label_smoothing) if label_smoothing else CrossEntropyLossFlat()
    pool = int((getattr(dls, "config", None) or {}).get("time_pool", 1))
    if arch == "small_cnn":
        if pretrained or weights is not None:
            raise ParameterError("the small CNN has no pretrained weights; use pretrained=False")
        model = small_cnn(len(dls.vocab))
        if pool > 1:  # averaged in time before the first convolution
            model = nn.Sequential(time_pool_layer(pool), *model)
        learn = Learner(dls, model, loss_func=loss, metrics=[accuracy, error_rate, map_at_3], path=path,
                        opt_func=adamw)
        return to_device_precision(learn, cpu_bf16=cpu_bf16)
    fn = _arch_fn(arch)
    meta = model_meta[fn]
    common = dict(metrics=[accuracy, error_rate, map_at_3], loss_func=loss, path=path, splitter=meta["split"],
                  opt_func=adamw)
    if pretrained or weights is not None:
        state = load_imagenet_weights(arch, weights)

        def arch_with_weights(pretrained=True, **kwargs):
            model = fn(weights=None)
            model.load_state_dict(state)
            return model

        learn = vision_learner(dls, arch_with_weights, pretrained=True, cut=meta["cut"], normalize=False, **common)
    else:
        learn = vision_learner(dls, fn, pretrained=False, normalize=False, **common)
    learn.arch = fn  # a module-level function, so that learn.export() can pickle it
    if pool > 1:  # averaged in time before the first convolution; the body's layers (and its splitter) unchanged
        body = learn.model[0]
        body[0] = nn.Sequential(time_pool_layer(pool), body[0])
    return to_device_precision(learn, cpu_bf16=cpu_bf16)


def time_pool_layer(pool: int):
    """The layer that averages every `pool` columns (frames) of an image into one: ``(B, C, H, W)`` ->
    ``(B, C, H, W // pool)``, so that a whole-clip crop costs what a crop `pool` times shorter does (as if
    rendered with a hop `pool` times longer).

    The first layer of the model, so that training, evaluation, prediction and the ONNX export see the same
    columns.
    """
    from torch import nn

    return nn.AvgPool2d(kernel_size=(1, int(pool)), stride=(1, int(pool)))


def to_device_precision(learn, cpu_bf16: bool = False):
    """Channels-last weights, and on a GPU mixed precision (bf16 where the GPU supports it, else fp16).

    A CPU keeps float32 unless `cpu_bf16` (below); channels-last convolutions (oneDNN) took 0.85 to 1.0 of the
    time of a ResNet-18 training step there (2-core CPU, 48-pixel crops). Measured again (2-core AVX512-BF16
    EPYC, 2 threads, whole steps on synthetic batches), a step in the default layout took, against
    channels-last: ResNet-18, 48 px, batch 64: 1.10x in float32, 1.08x in bf16, 1.47x held to AVX2 kernels;
    ResNet-34, 64 px, batch 64: 1.00x, 1.30x, 1.20x; it was quicker only for smaller batches (ResNet-34, 32 px,
    batch 16: 0.84x, 0.87x, 0.69x). ``bench/memory_format.py`` has the table. The batches of
    :class:`~audiospec_utils.learn.dataloaders.SpectrogramBatch` are made channels-last too.

    Parameters
    ----------
    learn : fastai.learner.Learner
    cpu_bf16 : bool
        On a CPU with bfloat16 instructions (:func:`audiospec_utils.learn.config.cpu_computes_bf16`),
        add :class:`audiospec_utils.learn.callbacks.CpuBfloat16`: training batches in bf16 autocast,
        evaluation and prediction in float32.

    Returns
    -------
    fastai.learner.Learner
        `learn`, changed in place.
    """
    import torch

    learn.model = learn.model.to(memory_format=torch.channels_last)
    if device_name() != "cuda":
        if cpu_bf16 and cpu_computes_bf16():
            from .callbacks import CpuBfloat16

            learn.add_cb(CpuBfloat16())
        return learn
    return learn.to_bf16() if torch.cuda.is_bf16_supported() else learn.to_fp16()


def small_cnn(n_classes: int, *, n_in: int = 3, widths=(16, 32, 64, 128), p_drop: float = 0.25):
    """A small CNN from scratch: conv-batchnorm-ReLU-maxpool blocks, global pooling, one linear layer.

    The network of the TensorFlow "simple audio recognition" and Keras audio tutorials, with batch
    normalisation: each block is a 3x3 convolution (padding 1, no bias), ``BatchNorm2d``,
    ``ReLU`` and a 2x2 max-pooling that halves height and width; then ``AdaptiveAvgPool2d(1)``,
    dropout and a linear classifier. With the default widths: about 100 k weights (ResNet-34:
    21 M).

    Parameters
    ----------
    n_classes : int
        Outputs (logits).
    n_in : int
        Input channels (3: the DataLoaders give RGB images).
    widths : sequence of int
        Channels of each block; one block per entry.
    p_drop : float
        Dropout before the linear layer.

    Returns
    -------
    torch.nn.Sequential
        Input ``(bs, n_in, H, W)`` float with ``H, W >= 2 ** len(widths)``; output
        ``(bs, n_classes)`` logits.
    """
    from torch import nn

    layers, c = [], n_in
    for w in widths:
        layers += [nn.Conv2d(c, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True),
                   nn.MaxPool2d(2)]
        c = w
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(p_drop), nn.Linear(c, n_classes)]
    return nn.Sequential(*layers)


def params_for_run(folder: RenderFolder):
    """The spectrogram parameters a run trained on `folder` renders new audio with.

    The render folder's parameters, with :attr:`~audiospec_utils.features.SpectrogramParams.segment_seconds`
    set to the duration of the longest clip of the folder's manifest (with ``clip_policy="full"``,
    when the render did not set it). Every clip of the folder (training, validation and test) is
    then made into the same image as before, while a longer recording is read as segments of that
    length, each with its own dB reference: the quiet part of a long field recording is rendered
    as it would be alone, as bright as the training clips were, not darkened by the loudest moment
    elsewhere in the file.

    Parameters
    ----------
    folder : RenderFolder

    Returns
    -------
    SpectrogramParams or None
        ``None`` when the folder has no ``params.json``.

    Raises
    ------
    DatasetError
        ``params.json`` or ``manifest.csv`` is unreadable.
    """
    if not folder.params_file.is_file():
        return None
    params = folder.params
    if params.clip_policy != "full" or params.segment_seconds is not None or not folder.manifest_file.is_file():
        return params
    durations = pd.to_numeric(folder.manifest()["duration"], errors="coerce").dropna()
    durations = durations[durations > 0]
    if durations.empty:
        return params
    return dataclasses.replace(params, segment_seconds=float(durations.max()))


def save_run(learn, dls, out_dir, *, folder=None, **settings) -> dict:
    """Score the validation clips and save the run: metrics, split, predictions, exported learner.

    Parameters
    ----------
    learn : fastai.learner.Learner
        A trained learner.
    dls : SpectrogramDataLoaders
        From :func:`spectrogram_dataloaders` (its ``valid_table``, ``train_table`` and ``split``).
    out_dir : audiospec_utils.learn.run.Run or str or os.PathLike
        Run folder.
    folder : RenderFolder or None
        The render folder trained on (default: the ``spec_dir`` setting's), whose parameters the
        run keeps.
    **settings
        Recorded in ``metrics.json`` as they are (epochs, seconds, arch...). A ``spec_dir``
        setting (the render folder) also has its parameters written to the run's ``params.json``
        (:func:`params_for_run`: the render's, with ``segment_seconds`` set to its longest
        clip), so that evaluation and prediction render new audio exactly as the training images
        were, and read a longer recording as parts of the length the model knows.

    Returns
    -------
    dict
        ``accuracy``, ``error_rate``, ``map_at_3`` (per clip: the probabilities of a clip's windows
        are averaged), ``valid_interval`` (95% intervals from a bootstrap over groups, see
        :func:`audiospec_utils.learn.metrics.clip_score_intervals`), ``split`` (how it was made:
        :meth:`audiospec_utils.audio.splits.Split.to_dict`), ``n_train``, ``n_valid`` (clips),
        ``classes``, ``train_label_counts``, ``crop`` (height, crop length and normalisation),
        ``device`` and `settings`; written to ``metrics.json``. Also writes
        ``valid_predictions.csv`` (per-clip probabilities), ``valid_items.csv`` (validation
        windows), ``split.csv``, ``params.json`` and ``export.pkl`` (``learn.export``).
    """
    import torch

    run = as_run(out_dir)
    run.path.mkdir(parents=True, exist_ok=True)
    vocab = list(dls.vocab)
    clip_preds = valid_clip_predictions(learn, dls)
    write_csv_atomic(clip_preds, run.file(Run.VALID_PREDICTIONS))
    train_clips = dls.train_table.drop_duplicates("clip_id")
    counts = train_clips["label"].value_counts()
    split = dls.split
    groups = split.clips.set_index("clip_id")["group"] if split is not None else None
    metrics = {
        **clip_scores(clip_preds, vocab),
        "valid_interval": clip_score_intervals(clip_preds, vocab, groups),
        "split": split.to_dict() if split is not None else None,
        "n_train": int(len(train_clips)),
        "n_valid": int(len(clip_preds)),
        "classes": vocab,
        "train_label_counts": {str(k): int(v) for k, v in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))},
        "crop": dict(dls.config),
        **settings,
        "device": device_name(),
        "torch_threads": torch.get_num_threads(),
    }
    run.write_metrics(metrics)
    if split is not None:
        write_csv_atomic(split.clips[["clip_id", "label", "group", "fold", "side"]], run.file(Run.SPLIT))
    if folder is None and settings.get("spec_dir"):
        folder = RenderFolder(settings["spec_dir"])
    if folder is not None:
        run_params = params_for_run(as_render_folder(folder))
        if run_params is not None:
            write_text_atomic(run.file(Run.PARAMS), run_params.to_json())
    write_csv_atomic(dls.valid_table, run.file(Run.VALID_ITEMS))
    with atomic_path(run.file(Run.EXPORT)) as tmp:
        learn.export(tmp)
    return metrics


class SpectrogramClassifier:
    """A classifier of spectrogram images, built from a :class:`~audiospec_utils.learn.config.TrainingConfig`.

    The one pipeline of the toolkit: DataLoaders of time crops
    (:func:`audiospec_utils.learn.dataloaders.spectrogram_dataloaders`), a learner
    (:func:`create_learner`), the schedule for its starting point
    (:func:`audiospec_utils.learn.schedules.fit`), and window-averaged clip probabilities
    (:mod:`audiospec_utils.learn.inference`). ``train_classifier``, ``cross_validate``, the
    course's experiments and ``compare``'s image rows all train through it, so a change of recipe
    reaches every one of them.

    Parameters
    ----------
    config : TrainingConfig or None
        The options (default: ``TrainingConfig()``); resolved against its recipe at :meth:`build`.
    **options
        Fields of :class:`TrainingConfig` that replace the configuration's.

    Attributes
    ----------
    config : TrainingConfig
        As given.
    config_ : TrainingConfig
        Resolved (the recipe's values filled in), after :meth:`build` or :meth:`fit`.
    dls_, learn_, folder_ :
        The DataLoaders, the fastai ``Learner`` and the render folder, after :meth:`build` or :meth:`fit`.
    classes_ : list of str
        The labels, in the order of the probability columns.

    Examples
    --------
    >>> clf = SpectrogramClassifier(epochs=3, pretrained=False).fit("my_specs")   # doctest: +SKIP
    >>> clf.predict_proba().head()                                              # doctest: +SKIP
    """

    def __init__(self, config: TrainingConfig | None = None, **options):
        self.config = (config or TrainingConfig()).replace(**options)

    def __repr__(self) -> str:
        return f"SpectrogramClassifier({self.config!r})"

    @property
    def classes_(self) -> list:
        return list(self.dls_.vocab)

    def build(self, folder, *, table=None, split=None, path=None, progress: bool = False, silent: bool | None = None,
              device=None, seed: int | None = None):
        """Make the DataLoaders and the learner (untrained, seeded): what :meth:`train` trains.

        Parameters
        ----------
        folder : RenderFolder or str or os.PathLike
            The render folder.
        table : pandas.DataFrame or None
            The images to use (default: the folder's training images).
        split : audiospec_utils.audio.splits.Split or None
            A split to use as it is (default: one made from the configuration's ``valid_pct``,
            ``test_fold``, ``valid_fold`` and ``seed``, grouped by source recording).
        path : str or os.PathLike or None
            The learner's folder (``learn.path``: history, checkpoints).
        progress : bool
            Progress bars.
        silent : bool or None
            No progress bar and no per-epoch lines (default: when not `progress`).
        device : torch.device or None
            Where the batches go (default: the GPU when there is one).
        seed : int or None
            Seed of the crops, the shuffling and the initialisation (default: the configuration's;
            fastai's ``set_seed(seed, reproducible=True)``).

        Returns
        -------
        SpectrogramClassifier
            `self`, with ``config_``, ``dls_`` and ``learn_``.

        Raises
        ------
        DatasetError
            No usable images, one label only, or too few groups to split.
        WeightsUnavailableError
            ImageNet weights asked for and unavailable.
        """
        from fastai.torch_core import set_seed

        from .callbacks import silence
        from .dataloaders import spectrogram_dataloaders

        set_seed(self.config.seed if seed is None else seed, reproducible=True)
        cfg, folder = self.config.resolve(), as_render_folder(folder)
        dls = spectrogram_dataloaders(folder, table=table, split=split, img_size=cfg.img_size,
                                      crop_seconds=cfg.crop_seconds, max_crop_seconds=cfg.max_crop_seconds,
                                      valid_pct=cfg.valid_pct, seed=cfg.seed, bs=cfg.bs,
                                      spec_augment=cfg.spec_augment, time_shift=cfg.time_shift,
                                      low_pass=cfg.low_pass,
                                      verified_weight=cfg.verified_weight, test_fold=cfg.test_fold,
                                      valid_fold=cfg.valid_fold, normalize=cfg.normalize,
                                      num_workers=cfg.num_workers, time_pool=cfg.time_pool, progress=progress,
                                      device=device)
        learn = create_learner(dls, cfg.arch, pretrained=cfg.pretrained, weights=cfg.weights, path=path,
                               label_smoothing=cfg.label_smoothing, cpu_bf16=cfg.cpu_bf16)
        if (not progress) if silent is None else silent:
            silence(learn)  # no bar, no per-epoch lines either
        self.config_, self.dls_, self.learn_, self.folder_ = cfg, dls, learn, folder
        return self

    def fit(self, folder, *, table=None, split=None, path=None, progress: bool = False, checkpoint: bool = False,
            history: bool = False, estimate: bool = True) -> "SpectrogramClassifier":
        """Train on the render folder `folder`: :meth:`build`, then :meth:`train` (the same seed gives the
        same model on a CPU).

        Parameters
        ----------
        folder, table, split, path, progress :
            As :meth:`build`.
        checkpoint, history, estimate :
            As :meth:`train`.

        Returns
        -------
        SpectrogramClassifier
            `self`, trained.
        """
        self.build(folder, table=table, split=split, path=path, progress=progress)
        return self.train(checkpoint=checkpoint, history=history, estimate=estimate)

    def train(self, *, checkpoint: bool = False, history: bool = False, estimate: bool = True) -> "SpectrogramClassifier":
        """Train the learner :meth:`build` made, with the schedule for its start
        (:func:`audiospec_utils.learn.schedules.fit`: ``fine_tune`` from ImageNet weights,
        ``fit_one_cycle`` from scratch). The last epoch is kept: no selection on the validation
        clips, which are the ones scored.

        Parameters
        ----------
        checkpoint, history : bool
            Write ``models/last.pth`` and ``models/resume.pth`` after every epoch, and
            ``history.csv``, into the learner's folder (what a run folder holds; an experiment
            writes neither).
        estimate : bool
            Print the expected training time first.

        Returns
        -------
        SpectrogramClassifier
            `self`, with ``lr_`` (the peak learning rate used).
        """
        from .schedules import fit

        cfg = self.config_
        self.lr_ = fit(self.learn_, cfg.epochs, pretrained=cfg.pretrained, lr=cfg.lr, freeze_epochs=cfg.freeze_epochs,
                       schedule=cfg.schedule, unfrozen_lr=cfg.unfrozen_lr, mixup=cfg.mixup, save_best=False,
                       checkpoint=checkpoint, history=history, estimate=estimate)
        return self

    def predict_proba(self, images=None, folder=None):
        """Class probabilities per clip, the windows of a clip averaged.

        Parameters
        ----------
        images : pandas.DataFrame or None
            Rows of a render folder's manifest (``clip_id``, ``image``, ``label``...) to predict;
            None: the validation clips of the training.
        folder : RenderFolder or str or os.PathLike or None
            The render folder `images` are in (default: the one trained on).

        Returns
        -------
        pandas.DataFrame
            One row per clip: ``clip_id``, ``label``, one float column per class of
            :attr:`classes_` (probabilities summing to 1), ``pred``
            (:func:`audiospec_utils.learn.inference.clip_predictions`).
        """
        from .inference import clip_predictions, image_probabilities

        if images is None:
            return valid_clip_predictions(self.learn_, self.dls_)
        folder = as_render_folder(folder) if folder is not None else self.folder_
        cache = folder.cache(self.config_.img_size, progress=False)
        images = images.reset_index(drop=True)
        probs = image_probabilities(self.learn_, cache, cache.rows(images["image"]))
        return clip_predictions(probs, images, self.classes_)

    def save(self, run, **extra) -> dict:
        """Write the trained model into the run folder `run` (``export.pkl``, ``metrics.json``...).

        Parameters
        ----------
        run : Run or str or os.PathLike
        **extra
            Further entries of ``metrics.json``.

        Returns
        -------
        dict
            What ``metrics.json`` holds (:func:`audiospec_utils.learn.train.save_run`).
        """
        return save_run(self.learn_, self.dls_, run, folder=self.folder_, spec_dir=str(self.folder_.path),
                        config=self.config_.to_dict(), **extra)

    @classmethod
    def load(cls, run) -> "SpectrogramClassifier":
        """The classifier saved in a run folder (by :meth:`save` or ``audiospec train``), ready to predict.

        Raises
        ------
        DatasetError
            The run has no model, or one trained by an audiospec older than time crops.
        """
        from .run import as_run

        run = as_run(run)
        metrics = run.metrics
        config = TrainingConfig.from_dict(metrics.get("config") or {k: v for k, v in metrics.items()
                                                                    if k in ("arch", "img_size", "seed")})
        clf = cls(config)
        clf.config_, clf.learn_ = config, run.learner()
        clf.dls_, clf.folder_ = clf.learn_.dls, run.render_folder
        return clf
