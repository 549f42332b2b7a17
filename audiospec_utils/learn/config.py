"""The training configuration: every option of a training, said once, and the recipes as instances of it.

:class:`TrainingConfig` holds each option with its default, unit and help (as Hugging Face's
``TrainingArguments`` does). :func:`audiospec_utils.learn.train.train_classifier`,
:class:`audiospec_utils.learn.estimator.SpectrogramClassifier`, cross-validation, the course's
experiments and the command line all take one; the options of ``audiospec train``, ``cv``,
``compare`` and ``demo`` are made from its fields (:func:`add_config_options`), and ``metrics.json``
records the whole resolved configuration (``config``).

An option left at ``None`` takes its value from the recipe (:data:`RECIPES`), so that a learner
does not have to know that a CPU wants small images and few epochs while a GPU can afford
SpecAugment, mixup and thirty epochs:

``quick``
    The most held-out accuracy per CPU minute, chosen by grouped cross-validation over three seeds
    on real recordings (``bench/recipes.py``; the measurements are in the README, "Recipes"):
    ResNet-18 from scratch (ResNet-34 when ImageNet weights are used), 48-pixel-high images, 1 s
    crops, 15 one-cycle epochs, batches of 64, bf16 autocast on a CPU that has bfloat16
    instructions; no augmentation but a random low-pass of one training crop in twenty
    (:data:`QUICK_LOW_PASS`), so that recordings at 16 kHz are read as full-band ones.
``full``
    What a free Colab or Kaggle GPU trains in about ten minutes: 128-pixel-high images, 30 epochs,
    batches of 64, SpecAugment masking, mixup (alpha 0.4) and label smoothing (0.1), the
    ingredients of the best FSDKaggle2018 and UrbanSound8K systems, trained longer.
``auto`` (the default)
    ``full`` when a GPU is usable, ``quick`` on a CPU.

Every recipe trains on fixed-length time crops whose length comes from the clips' durations
(:func:`audiospec_utils.learn.crops.default_crop_seconds`, at most the recipe's
``max_crop_seconds``) and normalises the images with ImageNet's statistics for pretrained weights
and with the data set's own from scratch (``normalize="auto"``). This module imports nothing
heavy, so the course's configuration can read it before torch loads.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from dataclasses import dataclass, field

from ..exceptions import ParameterError

__all__ = ["TrainingConfig", "RECIPES", "QUICK_LOW_PASS", "DEFAULT_LR", "ARCHS", "resolve_recipe", "add_config_options",
           "config_from_args", "option_help", "device_name", "auto_normalize", "cpu_computes_bf16"]

#: The networks a learner can be built on (torchvision's ResNets; ImageNet weights exist for each).
ARCHS = ("resnet18", "resnet34", "resnet50")
#: The peak learning rate when none is given: fine_tune from ImageNet weights, fit_one_cycle from scratch.
DEFAULT_LR = {"pretrained": 2e-3, "scratch": 3e-3}


def _option(default, help: str, *, type=None, unit: str | None = None, choices=None, cli: bool = True,
            group: str = "training", metavar: str | None = None, nargs=None, unset: str | None = None):
    """A field of :class:`TrainingConfig` with what the command line and the docs need to know of it
    (`unset`: what the value None stands for, when it is not the recipe's)."""
    return field(default=default, metadata=dict(help=help, type=type, unit=unit, choices=choices, cli=cli,
                                                group=group, metavar=metavar, nargs=nargs, unset=unset))


@dataclass(frozen=True)
class TrainingConfig:
    """Every option of a training, with its default, unit and help (one place for all of them).

    Fields left at ``None`` take the recipe's value when the configuration is resolved
    (:meth:`resolve`). Build one with keywords (``TrainingConfig(epochs=5, pretrained=False)``),
    change one with :meth:`replace`, read one back from ``metrics.json`` with :meth:`from_dict`.
    ``dataclasses.fields(TrainingConfig)`` lists them; each field's ``metadata`` holds its
    ``help``, ``unit``, ``type`` and ``choices``.

    Raises
    ------
    ParameterError
        An unknown recipe, architecture, schedule or normalisation, or a size or rate out of range
        (checked when the configuration is made).
    """

    recipe: str = _option("auto", "defaults for every option left unset: quick (a 2-core CPU in minutes), full (a "
                          "GPU); auto picks by the device", type=str, choices=("auto", "quick", "full"))
    arch: str | None = _option(None, "the network (small_cnn: a small CNN, from scratch only)", type=str,
                               choices=(*ARCHS, "small_cnn"))
    pretrained_arch: str | None = _option(None, "the network when ImageNet weights are used and arch is unset",
                                          type=str, choices=ARCHS, cli=False)
    pretrained: bool | None = _option(True, "start from ImageNet weights and fine_tune (--no-pretrained: random "
                                      "initialisation and fit_one_cycle)", type=bool,
                                      unset="only with --weights; compare: also when the weights can be had")
    weights: str | None = _option(None, "local ImageNet weights file (a state dict): no network needed", type=str,
                                  metavar="FILE")
    epochs: int | None = _option(None, "epochs of one-cycle training (after the frozen ones when pretrained)",
                                 type=int)
    img_size: int | None = _option(None, "image height in pixels; time keeps one column per frame", type=int,
                                   unit="pixels")
    crop_seconds: float | None = _option(None, "length in seconds of the training crops and of the windows "
                                         "averaged at validation and prediction", type=float, unit="seconds",
                                         unset="from the clips' durations, at most the recipe's max_crop_seconds")
    max_crop_seconds: float | None = _option(None, "longest crop chosen from the clips' durations for steady "
                                             "sounds", type=float, unit="seconds", cli=False)
    time_pool: int | None = _option(None, "average every N frames of a crop into one column, the network's first "
                                    "layer, so that a long crop costs what a crop N times shorter does", type=int, metavar="N",
                                    unset="for a crop chosen from the data, its length over the recipe's max_crop_seconds, "
                                    "rounded up; 1 when --crop-seconds is given")
    bs: int | None = _option(None, "batch size", type=int)
    lr: float | None = _option(None, "peak learning rate", type=float,
                               unset=f"{DEFAULT_LR['pretrained']:g} pretrained, {DEFAULT_LR['scratch']:g} from scratch")
    schedule: str = _option("auto", "auto: fine_tune when pretrained, one_cycle from scratch; unfreeze: frozen "
                            "fit_one_cycle, then unfreeze and fit_one_cycle with the rates of --unfrozen-lr",
                            type=str, choices=("auto", "fine_tune", "one_cycle", "unfreeze"))
    freeze_epochs: int = _option(1, "epochs with the pretrained body frozen (fine_tune, unfreeze)", type=int)
    unfrozen_lr: tuple | None = _option(None, "discriminative learning rates slice(LO, HI) after unfreezing",
                                        type=float, nargs=2, metavar=("LO", "HI"), unset="lr/200, lr/2")
    lr_find: bool = _option(False, "run fastai's lr_find first (plot: lr_find.png in the run folder) and train "
                            "with its suggestion", type=bool)
    lr_find_iters: int = _option(100, "mini-batches of the lr_find sweep", type=int)
    label_smoothing: float | None = _option(None, "label smoothing of the cross-entropy (0: none)", type=float)
    mixup: float | None = _option(None, "MixUp alpha (0: off)", type=float, metavar="ALPHA")
    spec_augment: bool | None = _option(None, "SpecAugment time and frequency masking of the training crops",
                                        type=bool)
    time_shift: float | None = _option(None, "largest random circular time shift, a fraction of the crop (0: none)",
                                       type=float)
    low_pass: float | None = _option(None, "probability that a training crop is low-passed at a random cut-off of "
                                     "4 to 11 kHz, so that recordings at 8 to 22 kHz are read as full-band ones "
                                     "(0: never)", type=float, metavar="P")
    cpu_bf16: bool | None = _option(None, "on a CPU with bf16 instructions (AVX512-BF16, AMX), train in bf16 "
                                    "autocast; evaluation and prediction stay float32", type=bool)
    normalize: str = _option("auto", "image statistics: auto = ImageNet's with pretrained weights, the data's own "
                             "from scratch", type=str, choices=("auto", "imagenet", "dataset"))
    seed: int = _option(42, "random seed of the split, the initialisation, the shuffling and the crops", type=int)
    manually_verified_only: bool = _option(False, "FSDKaggle2018: train only on manually verified clips", type=bool)
    verified_weight: float | None = _option(None, "FSDKaggle2018: sample manually verified clips W times as often "
                                            "as unverified ones", type=float, metavar="W")
    num_workers: int | None = _option(None, "DataLoader worker processes", type=int, cli=False,
                                      unset="0: crops are slices of one array")
    valid_pct: float = _option(0.2, "share of the clips for validation (grouped by source recording when the data "
                               "has groups)", type=float, group="split")
    test_fold: str | None = _option(None, "hold out fold K altogether (not trained, not validated on) for "
                                    "`audiospec evaluate`", type=str, group="split", metavar="K")
    valid_fold: str | None = _option(None, "validate on fold J instead of a grouped share", type=str, group="split",
                                     metavar="J")
    group_pattern: str | None = _option(None, "regex whose first capture group in each file name is its group "
                                        "(recording, speaker...), when the render folder has none", type=str,
                                        group="split", metavar="REGEX")

    def __post_init__(self):
        for name in ("recipe", "arch", "pretrained_arch", "schedule", "normalize"):
            value, choices = getattr(self, name), _FIELDS[name].metadata["choices"]
            if value is not None and value not in choices:
                raise ParameterError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
        for name in ("epochs", "img_size", "bs", "freeze_epochs", "lr_find_iters", "time_pool"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < (
                    0 if name == "freeze_epochs" else 1)):
                raise ParameterError(f"{name} must be a positive integer, got {value!r}")
        if self.low_pass is not None and not 0 <= self.low_pass <= 1:
            raise ParameterError(f"low_pass must be a probability in [0, 1], got {self.low_pass!r}")
        if self.label_smoothing is not None and not 0 <= self.label_smoothing < 1:
            raise ParameterError(f"label_smoothing must be in [0, 1), got {self.label_smoothing!r}")
        if not 0 < self.valid_pct < 1:
            raise ParameterError(f"valid_pct must be between 0 and 1, got {self.valid_pct!r}")
        if self.unfrozen_lr is not None:
            object.__setattr__(self, "unfrozen_lr", tuple(float(v) for v in self.unfrozen_lr))
        for name in ("test_fold", "valid_fold"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, str(getattr(self, name)))
        if self.weights is not None:
            object.__setattr__(self, "weights", str(self.weights))

    def replace(self, **changes) -> "TrainingConfig":
        """A copy with `changes` (field name -> value); ParameterError names an unknown field."""
        unknown = sorted(set(changes) - set(_FIELDS))
        if unknown:
            raise ParameterError(f"unknown training option(s): {', '.join(unknown)} (the options: "
                                 f"{', '.join(_FIELDS)})")
        return dataclasses.replace(self, **changes)

    @property
    def uses_pretrained(self) -> bool:
        """Whether training starts from ImageNet weights (`pretrained`, or a `weights` file given)."""
        return bool(self.pretrained or self.weights is not None)

    def resolve(self) -> "TrainingConfig":
        """The configuration a training runs with: the recipe chosen (``auto`` by the device), every
        unset option taken from it, the network chosen by the start (``pretrained_arch`` with
        ImageNet weights) and ``normalize`` decided.

        Returns
        -------
        TrainingConfig
            With ``recipe`` one of :data:`RECIPES` and no recipe option left at ``None``
            (``lr``: None still means :data:`DEFAULT_LR`; ``crop_seconds``: None still means "from
            the clips' durations").
        """
        recipe = _recipe(self.recipe)
        name = recipe.recipe
        values = {f: getattr(recipe, f) if getattr(self, f) is None else getattr(self, f) for f in _RECIPE_OPTIONS}
        if self.arch is None and self.uses_pretrained:  # the ImageNet weights a learner attaches are ResNet-34's
            values["arch"] = recipe.pretrained_arch
        normalize = auto_normalize(self.uses_pretrained) if self.normalize == "auto" else self.normalize
        return dataclasses.replace(self, recipe=name, normalize=normalize, pretrained=self.uses_pretrained, **values)

    def to_dict(self) -> dict:
        """Every field, JSON-ready (tuples as lists), as ``metrics.json`` records it under ``config``."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls, values: dict) -> "TrainingConfig":
        """The configuration from :meth:`to_dict`'s output; keys that are not fields are ignored."""
        return cls(**{k: v for k, v in values.items() if k in _FIELDS})


_FIELDS = {f.name: f for f in dataclasses.fields(TrainingConfig)}


def _parameters_section() -> str:
    """The numpydoc ``Parameters`` of :class:`TrainingConfig`, written from its fields' metadata."""
    names = {bool: "bool", int: "int", float: "float", str: "str"}
    lines = ["", "    Parameters", "    ----------"]
    for f in dataclasses.fields(TrainingConfig):
        meta = f.metadata
        kind = (f"{{{', '.join(repr(c) for c in meta['choices'])}}}" if meta["choices"] else names[meta["type"]])
        kind = f"({kind}, {kind})" if meta["nargs"] == 2 else kind
        lines.append(f"    {f.name} : {kind}" + (" or None" if f.default is None or "None" in str(f.type) else ""))
        lines.append(f"        {meta['help'][0].upper()}{meta['help'][1:]}" + (f" ({meta['unit']})" if meta["unit"] else "")
                     + f". Default: {f.default!r}" + (f" ({meta['unset']})" if f.default is None and meta["unset"] else
                                                       " (the recipe's)" if f.name in _RECIPE_OPTIONS and f.default is None
                                                       else "") + ".")
    return "\n".join(lines) + "\n"
#: The options a recipe sets (the rest are the user's to give).
_RECIPE_OPTIONS = ("arch", "pretrained_arch", "img_size", "epochs", "bs", "crop_seconds", "max_crop_seconds",
                   "spec_augment", "time_shift", "low_pass", "mixup", "label_smoothing", "lr", "cpu_bf16")

TrainingConfig.__doc__ = TrainingConfig.__doc__.rstrip() + "\n" + _parameters_section()

#: ``quick``'s share of training crops low-passed at a random cut-off of 4 to 11 kHz
#: (:class:`audiospec_utils.learn.dataloaders.LowPass`). Chosen by issue 29's rule (on by default where
#: grouped cross-validation shows it costs less than 0.01 on full-band audio) with ``bench/low_pass.py``
#: on an AVX512-BF16 CPU in bf16: on 2 s slices of real instrument recordings (5 folds x 3 seeds) it
#: cost 0.006 on full band (0.742 -> 0.736) and brought the 16 kHz copies from 0.606 to 0.688; on the
#: event scenes of ``bench/make_event_scenes.py`` (folds 1 and 3 x 3 seeds) full band went 0.458 ->
#: 0.481 and the 16 kHz copies 0.153 -> 0.467 (in float32: 0.459 -> 0.474 and 0.262 -> 0.458). P = 0.1
#: cost 0.014 (README, "Recordings at a lower sample rate"). ``full`` keeps 0: not measured with its
#: augmentation on a GPU.
QUICK_LOW_PASS = 0.05

#: The recipes: each a TrainingConfig that sets every option of ``_RECIPE_OPTIONS`` (``lr`` and
#: ``crop_seconds`` None: :data:`DEFAULT_LR` and the crop from the clips' durations).
RECIPES = {
    "quick": TrainingConfig(recipe="quick", arch="resnet18", pretrained_arch="resnet34", img_size=48, epochs=15, bs=64,
                            max_crop_seconds=1.0, spec_augment=False, time_shift=0.0, low_pass=QUICK_LOW_PASS,
                            mixup=0.0, label_smoothing=0.0, cpu_bf16=True),
    "full": TrainingConfig(recipe="full", arch="resnet34", pretrained_arch="resnet34", img_size=128, epochs=30, bs=64,
                           max_crop_seconds=4.0, spec_augment=True, time_shift=0.0, low_pass=0.0, mixup=0.4,
                           label_smoothing=0.1, cpu_bf16=False),
}


def _recipe(name: str) -> TrainingConfig:
    """The recipe called `name`; ``"auto"``: ``full`` when a GPU is usable, ``quick`` on a CPU."""
    return RECIPES[("full" if device_name() == "cuda" else "quick") if name == "auto" else name]


def option_help(name: str, defaults: TrainingConfig | None = None) -> str:
    """The help of option `name` as the command line shows it: the field's help, its unit, and the
    recipes' values when it is a recipe option left unset.

    Parameters
    ----------
    name : str
        A field of :class:`TrainingConfig`.
    defaults : TrainingConfig or None
        The configuration whose values are the command's defaults (default: ``TrainingConfig()``).

    Returns
    -------
    str
    """
    meta = _FIELDS[name].metadata
    text = meta["help"]
    value = getattr(defaults or TrainingConfig(), name)
    if value is None and meta["unset"]:
        text += f" (unset: {meta['unset']})"
    elif name in _RECIPE_OPTIONS and value is None:
        shown = [f"{r} {_shown(getattr(c, name))}" + (f" ({c.pretrained_arch} with ImageNet weights)" if name == "arch"
                 and c.pretrained_arch != c.arch else "") for r, c in RECIPES.items()]
        text += " (unset: the recipe's; " + ", ".join(shown) + ")"
    elif value is not None and value is not False:
        text += f" (default: {_shown(value)})"
    return text


def _shown(value) -> str:
    return "on" if value is True else "off" if value is False else f"{value:g}" if isinstance(value, float) else str(value)


def add_config_options(parser, *, groups=("training",), defaults: TrainingConfig | None = None, only=None,
                       exclude=()) -> list:
    """Add an option to `parser` for each field of :class:`TrainingConfig` in `groups`.

    ``img_size`` becomes ``--img-size`` with the field's type, choices and help
    (:func:`option_help`); a boolean whose default is False becomes a flag, another one
    ``--name / --no-name``; a field of two values takes two.

    Parameters
    ----------
    parser : argparse.ArgumentParser
    groups : tuple of str
        ``"training"`` and/or ``"split"`` (the fields' ``metadata["group"]``).
    defaults : TrainingConfig or None
        Whose values are the options' defaults (a command such as ``compare`` has its own).
    only, exclude : collection of str or None
        Restrict the fields (``only``: these and no others).

    Returns
    -------
    list of str
        The field names added (read them back with :func:`config_from_args`).
    """
    defaults = defaults or TrainingConfig()
    added = []
    for group in groups:
        g = parser.add_argument_group("the split" if group == "split" else
                                      "training (options left unset take the recipe's value)")
        for f in dataclasses.fields(TrainingConfig):
            meta = f.metadata
            if not meta["cli"] or meta["group"] != group or (only is not None and f.name not in only) \
                    or f.name in exclude:
                continue
            flag, default = "--" + f.name.replace("_", "-"), getattr(defaults, f.name)
            kwargs = dict(default=default, help=option_help(f.name, defaults), dest=f.name)
            if meta["type"] is bool and default is False:
                g.add_argument(flag, action="store_true", **kwargs)
            elif meta["type"] is bool:
                g.add_argument(flag, action=argparse.BooleanOptionalAction, **kwargs)
            else:
                metavar = meta["metavar"] or (meta["unit"].upper() if meta["unit"] else None)
                g.add_argument(flag, type=meta["type"], choices=meta["choices"], metavar=metavar,
                               nargs=meta["nargs"], **kwargs)
            added.append(f.name)
    return added


def config_from_args(args, names, base: TrainingConfig | None = None) -> TrainingConfig:
    """The :class:`TrainingConfig` of parsed command-line options `names` (see :func:`add_config_options`).

    Parameters
    ----------
    args : argparse.Namespace
    names : list of str
        The fields whose options were added.
    base : TrainingConfig or None
        The values of the fields not on the command line.

    Returns
    -------
    TrainingConfig
    """
    return (base or TrainingConfig()).replace(**{n: getattr(args, n) for n in names if hasattr(args, n)})


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
    PyTorch held to older kernels counts as a CPU without them: ``ATEN_CPU_CAPABILITY`` below
    ``avx512`` (torch's ``torch.backends.cpu.get_cpu_capability()``), or oneDNN held to an
    instruction set without bf16 (``ONEDNN_MAX_CPU_ISA=AVX2``, ``AVX512_CORE``, ...). With both
    held to AVX2 on an AVX512-BF16 CPU, bf16 autocast was emulated: a training batch took 2.14 s
    against 0.12 s (ResNet-18, 48 px, batch 16, one thread, AMD EPYC with AVX512-BF16, 2026-12-07).

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
    isa = os.environ.get("ONEDNN_MAX_CPU_ISA", "").strip().upper()
    if isa and isa != "ALL" and not any(word in isa for word in ("BF16", "AMX", "FP16", "AVX10")):
        return False
    if os.environ.get("ATEN_CPU_CAPABILITY"):
        import torch

        if not torch.backends.cpu.get_cpu_capability().upper().startswith(("AVX512", "AMX")):
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
        Options of :class:`TrainingConfig`; a value of ``None`` means "not given" and keeps the recipe's.

    Returns
    -------
    dict
        The recipe's options (those a recipe sets), plus ``recipe`` (the one used, never ``"auto"``).

    Raises
    ------
    ParameterError
        Unknown recipe or option.
    """
    if recipe not in ("auto", *RECIPES):
        raise ParameterError(f"recipe must be one of auto, {', '.join(RECIPES)}, got {recipe!r}")
    unknown = set(overrides) - set(_RECIPE_OPTIONS)
    if unknown:
        raise ParameterError(f"unknown recipe setting(s): {', '.join(sorted(unknown))}")
    chosen = _recipe(recipe)
    out = {k: getattr(chosen, k) for k in _RECIPE_OPTIONS}
    out.update({k: v for k, v in overrides.items() if v is not None})
    out["recipe"] = chosen.recipe
    return out
