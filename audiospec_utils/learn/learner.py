"""The model: an ImageNet CNN with a new head for spectrogram crops, its weights and its precision.

:func:`create_learner` builds the fastai ``Learner`` (``vision_learner`` with a torchvision ResNet,
accuracy, error_rate and MAP@3 as metrics, optional label smoothing); :func:`load_imagenet_weights`
finds the ImageNet weights (a local file, ``AUDIOSPEC_WEIGHTS``, the torch hub cache, or a download)
and says how to go on offline; :func:`to_device_precision` puts the model in mixed precision and
channels-last on a GPU. Training itself is :mod:`audiospec_utils.learn.train`.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from ..exceptions import ParameterError, WeightsUnavailableError
from .metrics import map_at_3
from .recipes import cpu_computes_bf16, device_name

__all__ = ["ARCHS", "load_imagenet_weights", "create_learner", "to_device_precision", "adamw"]

logger = logging.getLogger(__name__)

#: Architectures known by name (torchvision ResNets, as fastai's vision_learner takes them).
ARCHS = ("resnet18", "resnet34", "resnet50")

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
    """fastai's Adam, stepped by PyTorch's multi-tensor ``torch.optim.AdamW``: the learners' optimizer.

    fastai's own ``Adam`` loops over the parameters in Python: on a CPU its step over ResNet-18's
    11.7 million weights took 31 ms, against 25 ms for ``torch.optim.AdamW(foreach=True)`` over its
    three parameter groups (2-core CPU; memory-bound: ``fused`` was no faster), a fifth of a training
    batch of 32 small spectrogram crops. The hyper-parameters are
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
                        foreach=True)


def create_learner(dls, arch: str = "resnet34", *, pretrained: bool = True, weights=None, path=None,
                   label_smoothing: float = 0.0, cpu_bf16: bool = False):
    """A fastai ``vision_learner`` for the spectrogram DataLoaders.

    Parameters
    ----------
    dls : SpectrogramDataLoaders
        From :func:`spectrogram_dataloaders` (their normalisation is already in the batches).
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
        accuracy,
        error_rate,
        model_meta,
        vision_learner,
    )

    fn = _arch_fn(arch)
    meta = model_meta[fn]
    loss = LabelSmoothingCrossEntropyFlat(eps=label_smoothing) if label_smoothing else CrossEntropyLossFlat()
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
    return to_device_precision(learn, cpu_bf16=cpu_bf16)


def to_device_precision(learn, cpu_bf16: bool = False):
    """Channels-last weights, and on a GPU mixed precision (bf16 where the GPU supports it, else fp16).

    A CPU keeps float32 unless `cpu_bf16` (below); channels-last convolutions (oneDNN) took 0.85 to 1.0 of the
    time of a ResNet-18 training step there (2-core CPU, 48-pixel crops). The batches of
    :class:`~audiospec_utils.learn.dataloaders.SpectrogramBatch` are made channels-last too.

    Parameters
    ----------
    learn : fastai.learner.Learner
    cpu_bf16 : bool
        On a CPU with bfloat16 instructions (:func:`audiospec_utils.learn.recipes.cpu_computes_bf16`),
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
