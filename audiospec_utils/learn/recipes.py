"""Training recipes: documented sets of defaults that every explicit option still overrides.

A learner should not have to know that a CPU wants small images and few epochs while a GPU can
afford SpecAugment, mixup and thirty epochs. :func:`audiospec_utils.learn.train.train_classifier` (and
``audiospec train --recipe``) starts from a recipe:

``quick``
    The most held-out accuracy per CPU minute, measured by grouped cross-validation over three
    seeds on real recordings (``bench/recipes.py``, README "Recipes"): **ResNet-18 from scratch**
    (ResNet-34 when ImageNet weights are used), 48-pixel-high images, **1 s crops**, 15 one-cycle
    epochs, batches of 64, no augmentation, and on a CPU with bfloat16 instructions the training
    batches in bf16 autocast (``cpu_bf16``; evaluation and prediction stay float32). Against
    ``quick`` before (ResNet-34, 64 px, crops of up to 2 s, 10 epochs), the cross-validated
    accuracy rose from 0.70 to 0.75 and render, training and evaluation together took 0.35 of the
    time on 2,622 clips of 4 s and 0.59 on 1,916 clips of 0.8 s. Fewer epochs lose the accuracy
    (12 gave 0.71 against 0.77 on the same folds); batches of 32 gave 0.02 more on 280-clip folds
    and the same (0.741 against 0.738) on 980-clip folds, for 1.15 times the time; bf16 changed nothing but the time (0.8 of it). The cost is a fixed
    number of epochs, so it grows linearly with the number of clips. SpecAugment cost 0.09 over
    these 15 epochs from scratch: it slows learning more than it helps so early.
``full``
    What a free Colab or Kaggle GPU trains in about ten minutes: 128-pixel-high images, 30 epochs,
    batch size 64, SpecAugment masking, mixup (alpha 0.4) and label smoothing (0.1), the
    ingredients of the best FSDKaggle2018 and UrbanSound8K systems trained longer.
``auto`` (the default)
    ``full`` when a GPU is usable, ``quick`` on a CPU.

Every recipe trains on fixed-length time crops whose length comes from the clips' durations
(:func:`audiospec_utils.learn.dataloaders.default_crop_seconds`: the median kept within 1 s and the
recipe's ``max_crop_seconds``: always 1 s for ``quick``, whose time a longer crop would double, and
up to 4 s for ``full``) and normalises the images with ImageNet statistics for pretrained weights and with the data set's own from scratch (``normalize="auto"``).
This module imports nothing heavy, so the course's configuration can read it before torch loads.
"""

from __future__ import annotations

import os

from ..exceptions import ParameterError

__all__ = ["RECIPES", "device_name", "resolve_recipe", "auto_normalize", "cpu_computes_bf16"]

#: The recipes: every setting ``train_classifier`` takes from them (``None``: its own default).
RECIPES = {
    "quick": {"arch": "resnet18", "pretrained_arch": "resnet34", "img_size": 48, "epochs": 15, "bs": 64,
              "crop_seconds": None, "max_crop_seconds": 1.0,
              "spec_augment": False, "time_shift": 0.0, "mixup": 0.0, "label_smoothing": 0.0, "lr": None,
              "cpu_bf16": True},
    "full": {"arch": "resnet34", "pretrained_arch": "resnet34", "img_size": 128, "epochs": 30, "bs": 64,
             "crop_seconds": None, "max_crop_seconds": 4.0,
             "spec_augment": True, "time_shift": 0.0, "mixup": 0.4, "label_smoothing": 0.1, "lr": None,
             "cpu_bf16": False},
}


def device_name() -> str:
    """``"cuda"`` when a GPU is usable by torch, else ``"cpu"``."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def cpu_computes_bf16(cpuinfo: str = "/proc/cpuinfo") -> bool:
    """Whether this CPU has bfloat16 arithmetic in hardware (x86 AVX512-BF16 or AMX-BF16).

    Read from the CPU flags of `cpuinfo` (Linux's ``/proc/cpuinfo``); ``False`` elsewhere or when
    unreadable.
    The environment variable ``AUDIOSPEC_CPU_BF16=0`` answers ``False`` whatever the CPU (to train
    in float32 throughout). On a CPU without these instructions torch emulates bf16, slower than
    float32, so :class:`audiospec_utils.learn.callbacks.CpuBfloat16` is used only where this is ``True``.

    Parameters
    ----------
    cpuinfo : str
        The file to read the flags from.

    Returns
    -------
    bool
    """
    if os.environ.get("AUDIOSPEC_CPU_BF16", "").strip() == "0":
        return False
    try:
        with open(cpuinfo, encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[-1].split())
                    return bool(flags & {"avx512_bf16", "amx_bf16"})
    except OSError:
        pass
    return False


def auto_normalize(pretrained: bool) -> str:
    """The image statistics that ``normalize="auto"`` stands for.

    Parameters
    ----------
    pretrained : bool
        Whether the model starts from ImageNet weights.

    Returns
    -------
    str
        ``"imagenet"`` for pretrained weights (the statistics they were trained with), ``"dataset"``
        (the training images' own) from scratch: from scratch, ImageNet's did no better on real
        audio (README, "Crops, windows and recipes").
    """
    return "imagenet" if pretrained else "dataset"


def resolve_recipe(recipe: str = "auto", **overrides) -> dict:
    """The settings of a recipe, with the options given explicitly taking precedence.

    Parameters
    ----------
    recipe : {"auto", "quick", "full"}
        ``"auto"``: ``"full"`` when a GPU is usable by torch, else ``"quick"``.
    **overrides
        Settings of :data:`RECIPES`; a value of ``None`` means "not given" and keeps the recipe's.

    Returns
    -------
    dict
        Every setting of the recipe, plus ``recipe`` (the one used, never ``"auto"``).

    Raises
    ------
    ParameterError
        Unknown recipe or setting.
    """
    if recipe == "auto":
        recipe = "full" if device_name() == "cuda" else "quick"
    if recipe not in RECIPES:
        raise ParameterError(f"recipe must be one of auto, {', '.join(RECIPES)}, got {recipe!r}")
    unknown = set(overrides) - set(RECIPES[recipe])
    if unknown:
        raise ParameterError(f"unknown recipe setting(s): {', '.join(sorted(unknown))}")
    out = dict(RECIPES[recipe])
    out.update({k: v for k, v in overrides.items() if v is not None})
    out["recipe"] = recipe
    return out
