"""Settings shared by the course notebooks, and idempotent steps they call.

The configuration cell of every notebook is ``cfg = course_config()``. It reads the environment
variable ``AUDIOSPEC_DATASET``: unset (or ``fsdkaggle2018``) means the real FSDKaggle2018 course,
``mini`` the built-in synthetic mini dataset with small sizes and few epochs (what ``make test``,
``make demo`` and ``pytest --nbval`` use).

Where things go depends on where the notebook runs (:func:`detect_platform`):

=========  ==============================================  ===================================
platform   data and runs                                   FSDKaggle2018 looked for in
=========  ==============================================  ===================================
local      ``data/`` and ``runs/`` of the project folder   ``data/fsdkaggle2018``
colab      ``/content/audiospec_data``, ``/content/runs``  ``/content/audiospec_data/fsdkaggle2018``
kaggle     ``/kaggle/working/...`` (input is read-only)    every dataset attached under ``/kaggle/input``
=========  ==============================================  ===================================

Environment variables (all optional; an empty value counts as unset):

===============================  ===========================================================================
variable                         meaning
===============================  ===========================================================================
``AUDIOSPEC_DATASET``            ``fsdkaggle2018`` (default) or ``mini``
``AUDIOSPEC_DATA``               the data folder (datasets and spectrograms)
``AUDIOSPEC_RUNS``               the runs folder (trained models, comparisons)
``AUDIOSPEC_FSDK_ROOT``          an FSDKaggle2018 folder you already have (either layout)
``AUDIOSPEC_WEIGHTS``            a local ImageNet ResNet-34 weights file (offline kernels)
``AUDIOSPEC_MIRROR``             base URL serving the FSDKaggle2018 archives instead of Zenodo
``AUDIOSPEC_EPOCHS``             training epochs (notebooks 03, 05 and 06)
``AUDIOSPEC_IMG_SIZE``           image size in pixels: the height images are resized to (notebooks 03, 05 and 06; >= 16)
``AUDIOSPEC_BS``                 batch size (notebooks 03, 05 and 06)
``AUDIOSPEC_LR_FIND_ITERS``      mini-batches of notebook 03's learning-rate sweep (at least 10)
``AUDIOSPEC_N_PER_LABEL``        at most this many clips per label and split (notebooks 02 to 06)
``AUDIOSPEC_OWN_SOUNDS``         notebook 06: your folder per class (``<folder>/<label>/<file>``); unset: an example
``AUDIOSPEC_OWN_GROUP_PATTERN``  notebook 06: a regex whose first group in a file name is its recording
``AUDIOSPEC_PLATFORM``           force ``local``, ``colab`` or ``kaggle`` (normally detected)
``AUDIOSPEC_KAGGLE_INPUT``       the folder that stands for ``/kaggle/input`` (tests)
``AUDIOSPEC_KAGGLE_WORKING``     the folder that stands for ``/kaggle/working`` (tests)
``AUDIOSPEC_COLAB_ROOT``         the folder that stands for ``/content`` (tests)
===============================  ===========================================================================

The size variables change numbers only, never the code path: the real course with
``AUDIOSPEC_EPOCHS=1 AUDIOSPEC_IMG_SIZE=64`` runs the same cells, pretrained weights included, in
minutes on a CPU (what the tests do), and a learner with a GPU can ask for more.

Every step here can be run again: what is already there is not redone.

The steps import the toolkit's modules that need pandas, scipy, requests or fastai when they run,
not when this module is imported: a notebook's first cell imports it to check the runtime
(:func:`check_runtime`), which must work, and name what is missing, before those are installed.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata as md
import importlib.util
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from ..audio.fsdkaggle2018 import AUDIO_FOLDERS, DEFAULT_PARTS, KAGGLE_COMPETITION, find_fsdkaggle2018
from ..exceptions import DatasetError, ParameterError
from ..features.params import SpectrogramParams
from ..learn.config import TrainingConfig, auto_normalize, resolve_recipe

__all__ = ["CourseConfig", "course_config", "project_root", "detect_platform", "platform_dirs",
           "find_fsdkaggle2018_root", "find_weights_file", "check_runtime", "get_dataset", "course_table",
           "render_course_spectrograms", "train_course_model", "split_leakage_demo", "own_sounds_folder",
           "EXAMPLE_GROUP_PATTERN"]

DATASETS = ("fsdkaggle2018", "mini")
PLATFORMS = ("local", "colab", "kaggle")
#: How the files of notebook 06's example folder name their recording: ``<recording>-part<k>.wav``.
EXAMPLE_GROUP_PATTERN = r"^(.+)-part\d+"
KAGGLE_INPUT = Path("/kaggle/input")
KAGGLE_WORKING = Path("/kaggle/working")
COLAB_ROOT = Path("/content")

#: Environment variables of the size overrides: variable -> (CourseConfig field, smallest value).
SIZE_VARIABLES = {
    "AUDIOSPEC_EPOCHS": ("epochs", 1),
    "AUDIOSPEC_IMG_SIZE": ("img_size", 16),
    "AUDIOSPEC_BS": ("bs", 1),
    "AUDIOSPEC_LR_FIND_ITERS": ("lr_find_iters", 10),
    "AUDIOSPEC_N_PER_LABEL": ("n_per_label", 1),
}


def _env(name: str) -> str | None:
    """The value of an environment variable, stripped; None when unset or empty."""
    value = os.environ.get(name, "").strip()
    return value or None


def platform_dirs() -> dict[str, Path]:
    """The platforms' fixed folders, each overridable by an environment variable.

    Returns
    -------
    dict
        ``kaggle_input`` (``AUDIOSPEC_KAGGLE_INPUT``, default ``/kaggle/input``: attached datasets,
        read-only), ``kaggle_working`` (``AUDIOSPEC_KAGGLE_WORKING``, default ``/kaggle/working``)
        and ``colab_root`` (``AUDIOSPEC_COLAB_ROOT``, default ``/content``). Tests point them at
        temporary folders to simulate the platforms.
    """
    return {"kaggle_input": Path(_env("AUDIOSPEC_KAGGLE_INPUT") or KAGGLE_INPUT),
            "kaggle_working": Path(_env("AUDIOSPEC_KAGGLE_WORKING") or KAGGLE_WORKING),
            "colab_root": Path(_env("AUDIOSPEC_COLAB_ROOT") or COLAB_ROOT)}


def detect_platform() -> str:
    """Where this Python runs: ``"kaggle"``, ``"colab"`` or ``"local"``.

    Kaggle kernels set ``KAGGLE_KERNEL_RUN_TYPE``; Colab sets ``COLAB_RELEASE_TAG`` (and has the
    ``google.colab`` module). ``AUDIOSPEC_PLATFORM`` forces an answer (for tests).

    Raises
    ------
    ParameterError
        ``AUDIOSPEC_PLATFORM`` is set to something else than ``local``, ``colab`` or ``kaggle``.
    """
    forced = _env("AUDIOSPEC_PLATFORM")
    if forced:
        if forced.lower() not in PLATFORMS:
            raise ParameterError(f"AUDIOSPEC_PLATFORM must be one of {', '.join(PLATFORMS)}, got {forced!r}")
        return forced.lower()
    if os.environ.get("KAGGLE_KERNEL_RUN_TYPE") or os.environ.get("KAGGLE_URL_BASE"):
        return "kaggle"
    if os.environ.get("COLAB_RELEASE_TAG") or "google.colab" in sys.modules:
        return "colab"
    return "local"


def find_fsdkaggle2018_root(candidates=None, *, input_dir=None) -> Path | None:
    """The first folder holding FSDKaggle2018 (Zenodo or Kaggle layout), or None.

    Parameters
    ----------
    candidates : iterable of path-like or None
        Folders to try first, in order.
    input_dir : path-like or None
        A folder whose sub-folders (two levels deep) are searched too: Kaggle mounts attached
        datasets under ``/kaggle/input/<name>/``. None: ``platform_dirs()["kaggle_input"]``.

    Returns
    -------
    Path or None
    """
    tried = [Path(c) for c in (candidates or [])]
    base = Path(input_dir) if input_dir is not None else platform_dirs()["kaggle_input"]
    if base.is_dir():
        tried += [base / KAGGLE_COMPETITION] + sorted(p for p in base.glob("*") if p.is_dir())
        tried += sorted(p for p in base.glob("*/*") if p.is_dir())
    for folder in tried:
        try:
            if find_fsdkaggle2018(folder) is not None:
                return folder
        except OSError:
            continue
    return None


def find_weights_file(*, input_dir=None) -> Path | None:
    """A local ImageNet ResNet-34 weights file: ``AUDIOSPEC_WEIGHTS``, or one attached on Kaggle.

    Looks for ``resnet34-*.pth`` (torchvision's name, e.g. ``resnet34-b627a593.pth``) up to three
    folders deep under `input_dir` (None: ``platform_dirs()["kaggle_input"]``). Returns None when
    there is none (then the weights come from the torch hub cache or the network).

    Raises
    ------
    ParameterError
        ``AUDIOSPEC_WEIGHTS`` names a file that does not exist.
    """
    env = _env("AUDIOSPEC_WEIGHTS")
    if env:
        path = Path(env).expanduser()
        if not path.is_file():
            raise ParameterError(f"AUDIOSPEC_WEIGHTS={env}: no such file (a torchvision ResNet-34 state dict such "
                                 f"as resnet34-b627a593.pth is expected)")
        return path
    base = Path(input_dir) if input_dir is not None else platform_dirs()["kaggle_input"]
    if base.is_dir():
        for pattern in ("resnet34*.pth", "*/resnet34*.pth", "*/*/resnet34*.pth"):
            found = sorted(base.glob(pattern))
            if found:
                return found[0]
    return None


def check_runtime(before: dict | None = None) -> list[str]:
    """Say whether the runtime must be restarted after a ``pip install``.

    Colab keeps the old version of a package it had already imported (librosa, numpy...) after pip
    upgrades it; code then runs against a mix of versions. Pass the ``{module: __version__}`` of
    ``sys.modules`` taken before installing; every module whose installed version now differs is
    listed and a restart is asked for.

    Parameters
    ----------
    before : dict or None
        Module name -> version string, taken before the install.

    Returns
    -------
    list of str
        The stale modules, ``"name old -> new"``, or the missing ones, ``"name missing"`` (each
        named with the ``pip install`` command that adds it); empty: nothing to do.
    """
    missing = missing_dependencies()
    if missing:
        names = " ".join(dict.fromkeys(missing.values()))
        print(f"audiospec cannot run: {', '.join(missing)} not importable. Add them with: pip install {names}"
              f" (offline, on a kernel without internet: attach a dataset holding their wheels and run "
              f"pip install --no-index --find-links /kaggle/input/<dataset> {names})")
        return [f"{m} missing" for m in missing]
    stale = []
    dists = md.packages_distributions()
    for name, old in (before or {}).items():
        if not old or "." in name or name not in dists:
            continue
        try:
            new = md.version(dists[name][0])
        except md.PackageNotFoundError:
            continue
        if str(old) != new:
            stale.append(f"{name} {old} -> {new}")
    if stale:
        print("pip upgraded packages that this runtime had already imported: " + ", ".join(stale) + ".\n"
              "Restart the runtime (Colab: Runtime > Restart session; Kaggle: Run > Restart & clear outputs), "
              "then run the notebook again from the top.")
    else:
        print(f"audiospec is ready ({detect_platform()}).")
    return stale


#: Modules the toolkit imports at run time -> the pip package that provides each.
RUNTIME_MODULES = {"numpy": "numpy", "pandas": "pandas", "torch": "torch", "torchvision": "torchvision",
                   "fastai": "fastai", "librosa": "librosa", "soundfile": "soundfile", "soxr": "soxr",
                   "sklearn": "scikit-learn", "matplotlib": "matplotlib", "seaborn": "seaborn", "PIL": "pillow",
                   "joblib": "joblib", "tqdm": "tqdm", "requests": "requests", "ipywidgets": "ipywidgets"}


def missing_dependencies() -> dict:
    """The runtime dependencies that cannot be imported here: ``{module: pip package}`` (empty: none).

    An install with ``--no-deps`` (the offline wheel) or the package used from a read-only folder
    on ``sys.path`` relies on the platform's own packages; this says which are missing.
    """
    return {mod: pkg for mod, pkg in RUNTIME_MODULES.items() if importlib.util.find_spec(mod) is None}


def project_root(start=None) -> Path | None:
    """The audiospec project folder above `start` (default: the working folder), or None."""
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        pyproject = folder / "pyproject.toml"
        if pyproject.is_file() and 'name = "audiospec"' in pyproject.read_text(errors="ignore"):
            return folder
    return None


@dataclass
class CourseConfig:
    """Where the course's data and runs live and how big the run is.

    Attributes
    ----------
    dataset : {"fsdkaggle2018", "mini"}
    data_root : Path
        Folder for datasets and spectrograms.
    dataset_dir : Path
        The dataset's root (FSDKaggle2018 layout).
    spec_dir : Path
        Render folder of the course's spectrograms.
    run_dir : Path
        Folder of the trained model and its figures.
    params : SpectrogramParams
        Spectrogram settings.
    epochs, img_size, bs : int
        Training settings (see :func:`audiospec_utils.learn.train.train_classifier`).
    arch : str
        The network every notebook trains (``"resnet34"``, the course's model, in both modes; see
        :data:`audiospec_utils.learn.estimator.ARCHS`): notebook 03 builds it, :func:`train_course_model`
        trains it (so notebook 04 run alone trains what 03 trains), 05 compares it and 06 trains it
        on your own sounds.
    pretrained : bool
        Start from ImageNet weights.
    n_per_label : int or None
        Clips per label and split to use (None: all).
    parts : tuple of str
        FSDKaggle2018 archives to download.
    platform : str
        ``"local"``, ``"colab"`` or ``"kaggle"`` (:func:`detect_platform`).
    weights : Path or None
        Local ImageNet weights file for offline training (:func:`find_weights_file`).
    lr_find_iters : int
        Mini-batches of the learning-rate finder's sweep in notebook 03 (at least 10).
    mirror : str or None
        Base URL the FSDKaggle2018 archives are downloaded from instead of Zenodo (with the
        mirror's ``md5sums.txt`` when it has one); None: Zenodo.
    compare : dict
        Keyword arguments of :func:`audiospec_utils.assess.compare.compare` in notebook 05 (epochs,
        img_size, bs, crop_seconds, n_per_label, params, pretrained, weights): the same size
        overrides apply.
    recipe : str
        The training recipe (:mod:`audiospec_utils.learn.config`) whose settings fill `epochs`,
        `img_size`, `bs` and the fields below: ``"full"`` for the real course (a GPU is advised),
        ``"quick"`` for the mini dataset.
    crop_seconds : float or None
        Length of the training crops and prediction windows (None: from the clips' durations, at
        most the recipe's cap).
    spec_augment, time_shift, low_pass, mixup, label_smoothing :
        The recipe's augmentation and loss settings (see :func:`audiospec_utils.learn.train.train_classifier`).
    leakage : dict
        Settings of notebook 03's experiment on why a per-clip split lies
        (:func:`split_leakage_demo`): ``n_per_label``, ``slice_seconds``, ``max_slices_per_clip``,
        ``epochs``, ``img_size``.
    experiments : dict
        Sizes of notebook 03's experiments behind its claims (:mod:`audiospec_utils.assess.experiments`):
        ``n_per_label``, ``epochs``, ``img_size`` (also the width of the squished images), ``bs``,
        ``crop_seconds`` (the reference crop), ``crops`` (the crop lengths compared). The size
        overrides apply to them too.
    own : dict
        Notebook 06 ("Your own sounds"): ``folder`` (``AUDIOSPEC_OWN_SOUNDS``, or None for the
        course's clips laid out as a folder per class by :func:`own_sounds_folder`),
        ``group_pattern`` (the recording in a file name), ``n_per_label`` (recordings per label in
        the example folder), ``part_seconds`` and ``max_parts`` (each example recording cut into at
        most that many parts, as takes of one session), ``k`` (folds), ``epochs``, ``img_size``,
        ``bs``. The size overrides apply to them too.
    """

    dataset: str
    data_root: Path
    dataset_dir: Path
    spec_dir: Path
    run_dir: Path
    params: SpectrogramParams = field(default_factory=SpectrogramParams)
    epochs: int = 5
    img_size: int = 128
    bs: int = 64
    arch: str = "resnet34"
    pretrained: bool = True
    n_per_label: int | None = None
    parts: tuple = DEFAULT_PARTS
    platform: str = "local"
    weights: Path | None = None
    lr_find_iters: int = 100
    mirror: str | None = None
    compare: dict = field(default_factory=dict)
    recipe: str = "full"
    crop_seconds: float | None = None
    spec_augment: bool = False
    time_shift: float = 0.0
    low_pass: float = 0.0
    mixup: float = 0.0
    label_smoothing: float = 0.0
    leakage: dict = field(default_factory=dict)
    experiments: dict = field(default_factory=dict)
    own: dict = field(default_factory=dict)

    def apply_recipe(self, name: str) -> None:
        """Fill the training settings from a recipe (:func:`audiospec_utils.learn.config.resolve_recipe`).

        The network is the recipe's for the starting point (``pretrained_arch`` with ImageNet
        weights, else ``arch``); the course configuration then sets the one the course teaches.
        """
        r = resolve_recipe(name)
        self.recipe = r["recipe"]
        self.arch = r["pretrained_arch"] if self.pretrained else r["arch"]
        for key in ("epochs", "img_size", "bs", "crop_seconds", "spec_augment", "time_shift", "low_pass", "mixup",
                    "label_smoothing"):
            setattr(self, key, r[key])

    def training_config(self) -> TrainingConfig:
        """The course's training as a :class:`~audiospec_utils.learn.config.TrainingConfig`: what
        notebooks 03 to 06 train (``train_course_model``, the experiments, the leakage demo, your
        own sounds), each changing only the sizes it needs (``.replace(epochs=...)``).

        Returns
        -------
        TrainingConfig
            The recipe, network (``arch``), sizes, crop, augmentation and weights of this
            configuration (``weights`` only when ``pretrained``).
        """
        return TrainingConfig(recipe=self.recipe, arch=self.arch, epochs=self.epochs, img_size=self.img_size,
                              bs=self.bs, crop_seconds=self.crop_seconds, spec_augment=self.spec_augment,
                              time_shift=self.time_shift, low_pass=self.low_pass, mixup=self.mixup,
                              label_smoothing=self.label_smoothing, pretrained=self.pretrained,
                              weights=str(self.weights) if self.pretrained and self.weights is not None else None)

    @property
    def normalize(self) -> str:
        """Image statistics: ImageNet's for pretrained weights, the data set's own from scratch."""
        return auto_normalize(self.pretrained)

    def __str__(self):
        rows = [f"{f.name:>15}: {getattr(self, f.name)}" for f in dataclasses.fields(self)]
        return "\n".join(rows)


def _size(name: str, value, smallest: int, given_as: str) -> int:
    """`value` (int or str) as an int >= `smallest`; ParameterError naming `given_as` otherwise."""
    try:
        number = int(str(value).strip()) if not isinstance(value, bool) else None
    except ValueError:
        number = None
    if number is None or number < smallest:
        raise ParameterError(f"{given_as} must be an integer >= {smallest} ({name}), got {value!r}")
    return number


def _mirror(value, given_as: str) -> str:
    if not isinstance(value, str) or not re.match(r"^https?://[^/\s]+", value.strip()):
        raise ParameterError(f"{given_as} must be an http(s) base URL such as http://host:8000/fsdkaggle2018/, "
                             f"got {value!r}")
    return value.strip()


def course_config(dataset: str | None = None, *, mirror: str | None = None, epochs: int | None = None,
                  img_size: int | None = None, bs: int | None = None, lr_find_iters: int | None = None,
                  n_per_label: int | None = None) -> CourseConfig:
    """The notebooks' configuration.

    Every argument left to None is read from its environment variable (see the module's
    table), else takes the dataset's default. The size settings change numbers only: the real
    course with ``epochs=1, img_size=64`` runs exactly the same steps, only smaller.

    Parameters
    ----------
    dataset : {"fsdkaggle2018", "mini"} or None
        ``AUDIOSPEC_DATASET`` (default ``"fsdkaggle2018"``).
    mirror : str or None
        ``AUDIOSPEC_MIRROR``: an http(s) base URL that serves the FSDKaggle2018 archives under
        their Zenodo names (and, best, their ``md5sums.txt``); default Zenodo.
    epochs, img_size, bs : int or None
        ``AUDIOSPEC_EPOCHS``, ``AUDIOSPEC_IMG_SIZE`` (>= 16), ``AUDIOSPEC_BS``: training
        settings of notebooks 03 and 05.
    lr_find_iters : int or None
        ``AUDIOSPEC_LR_FIND_ITERS`` (>= 10): length of notebook 03's learning-rate sweep.
    n_per_label : int or None
        ``AUDIOSPEC_N_PER_LABEL``: use at most this many clips per label and split.

    Returns
    -------
    CourseConfig
        For ``"mini"``: the synthetic dataset, ResNet-34 from scratch, 64-pixel images, 10 epochs
        (CPU, no network; the ``quick`` recipe's other settings with 1 s crops). For
        ``"fsdkaggle2018"``: the real dataset, ImageNet-pretrained ResNet-34 trained with the
        ``full`` recipe (128-pixel images, 30 epochs, crops of the median duration within 1 to
        4 s; a GPU is advised). Then the overrides.

    Raises
    ------
    ParameterError
        Unknown dataset or platform name, a size that is not an integer in range, a mirror that is
        not an http(s) URL, or ``AUDIOSPEC_WEIGHTS`` naming no file. The message names the
        environment variable or argument.
    """
    dataset = (dataset or _env("AUDIOSPEC_DATASET") or "fsdkaggle2018").strip().lower()
    if dataset not in DATASETS:
        raise ParameterError(f"AUDIOSPEC_DATASET must be one of {', '.join(DATASETS)}, got {dataset!r}")
    platform = detect_platform()
    dirs = platform_dirs()
    if platform == "kaggle":  # the project folder may be an attached, read-only dataset: never write there
        default_data, default_runs = dirs["kaggle_working"] / "audiospec_data", dirs["kaggle_working"] / "runs"
    elif platform == "colab":
        default_data, default_runs = dirs["colab_root"] / "audiospec_data", dirs["colab_root"] / "runs"
    else:
        root = project_root() or Path.cwd()
        default_data, default_runs = root / "data", root / "runs"
    data_root = Path(_env("AUDIOSPEC_DATA") or default_data).expanduser().resolve()
    runs_root = Path(_env("AUDIOSPEC_RUNS") or default_runs).expanduser().resolve()
    weights = find_weights_file()

    if mirror is not None:
        mirror = _mirror(mirror, "mirror")
    elif _env("AUDIOSPEC_MIRROR"):
        mirror = _mirror(_env("AUDIOSPEC_MIRROR"), "AUDIOSPEC_MIRROR")
    given = {"epochs": epochs, "img_size": img_size, "bs": bs, "lr_find_iters": lr_find_iters,
             "n_per_label": n_per_label}
    sizes = {}
    for var, (name, smallest) in SIZE_VARIABLES.items():
        if given[name] is not None:
            sizes[name] = _size(name, given[name], smallest, name)
        elif _env(var) is not None:
            sizes[name] = _size(name, _env(var), smallest, var)

    if dataset == "mini":
        cfg = CourseConfig(dataset, data_root, data_root / "mini", data_root / "spectrograms_mini",
                           runs_root / "course_mini", pretrained=False, platform=platform, weights=weights,
                           lr_find_iters=10, mirror=mirror)
        cfg.apply_recipe("quick")  # from scratch, no augmentation but a rare low-pass: minutes on a CPU
        # the sizes the mini course's notebooks were written for (the synthetic sounds need no more;
        # the notebooks train ResNet-34, as the course teaches, where `quick` alone would pick ResNet-18)
        cfg.arch, cfg.epochs, cfg.img_size, cfg.crop_seconds, cfg.bs = "resnet34", 10, 64, 1.0, 32
        # notebook 05: seven rows, kept short (170 s on one thread of a 2-core CPU; the ResNet rows from
        # scratch reach 0.29-0.56 of 8 labels at 3 epochs, 0.35-0.60 at 4 in 223 s; at 2 they stay near
        # chance, 0.13-0.33: nothing to compare)
        cfg.compare = dict(epochs=3, img_size=32, bs=16, crop_seconds=1.0, n_per_label=None, pretrained=False)
        # notebook 03's per-clip-split experiment: two small models on 1 s slices
        cfg.leakage = dict(n_per_label=8, slice_seconds=1.0, max_slices_per_clip=4, epochs=3, img_size=32)
        # notebook 03's experiments behind its claims: 12 clips per label, seconds each on a CPU
        cfg.experiments = dict(n_per_label=12, epochs=3, img_size=32, bs=16, crop_seconds=1.0, crops=(0.5, 1.0, 2.0))
        # notebook 06: 20 recordings per label cut into parts of 1.5 s, a short training (half a minute on a CPU)
        cfg.own = dict(n_per_label=20, part_seconds=1.5, max_parts=3, k=5, epochs=4, img_size=48, bs=16)
    else:
        given_root = _env("AUDIOSPEC_FSDK_ROOT")
        own = data_root / "fsdkaggle2018"
        found = find_fsdkaggle2018_root([given_root] if given_root else [own]) or (
            Path(given_root) if given_root else own)
        cfg = CourseConfig(dataset, data_root, found.expanduser().resolve(),
                           data_root / "spectrograms_fsdkaggle2018", runs_root / "course_fsdkaggle2018",
                           platform=platform, weights=weights, mirror=mirror)
        cfg.apply_recipe("full")  # 128 px, 30 epochs, SpecAugment, mixup, label smoothing: a GPU is advised
        cfg.leakage = dict(n_per_label=30, slice_seconds=1.0, max_slices_per_clip=4, epochs=5, img_size=64)
        # notebook 03's experiments: 40 clips per label (about 1,600), minutes each on a GPU
        cfg.experiments = dict(n_per_label=40, epochs=5, img_size=64, bs=64, crop_seconds=2.0, crops=(1.0, 2.0, 4.0))
        # notebook 05: 75 clips per label (about 3,000) on the crops of 03's experiments (2 s); ImageNet
        # weights when they can be had (the file found above, the torch hub cache or a download), else from scratch
        cfg.compare = dict(epochs=5, img_size=128, bs=64, n_per_label=75, crop_seconds=cfg.experiments["crop_seconds"],
                           pretrained=None, weights=weights)
        # notebook 06: 20 recordings per label cut into parts of 4 s, minutes on a GPU
        cfg.own = dict(n_per_label=20, part_seconds=4.0, max_parts=3, k=5, epochs=10, img_size=128, bs=64)
    own_folder = _env("AUDIOSPEC_OWN_SOUNDS")
    cfg.own.update(folder=Path(own_folder).expanduser().resolve() if own_folder else None,
                   group_pattern=_env("AUDIOSPEC_OWN_GROUP_PATTERN") or (None if own_folder else EXAMPLE_GROUP_PATTERN))
    for name, value in sizes.items():
        setattr(cfg, name, value)
        for settings in (cfg.compare, cfg.experiments, cfg.leakage, cfg.own):
            if name in settings:
                settings[name] = value
    return cfg


def get_dataset(cfg: CourseConfig, *, progress: bool = True) -> Path:
    """Make sure the course's dataset is on disk and return its root.

    The mini dataset is generated (seconds); FSDKaggle2018 is downloaded from Zenodo (4.6 GB), or
    from ``cfg.mirror`` when set, checked (MD5) and extracted, resuming any partial download.
    Nothing is redone, and the network is not used, when it is already there.

    Raises
    ------
    DatasetError
        FSDKaggle2018 is missing and its folder is read-only (an attached Kaggle input).
    DownloadError
        The download failed (see :func:`audiospec_utils.audio.download.download_fsdkaggle2018`).
    """
    if cfg.dataset == "mini":
        from ..audio.mini import make_mini_dataset

        return make_mini_dataset(cfg.dataset_dir)
    found = find_fsdkaggle2018(cfg.dataset_dir)
    if found is not None and (found[0] == "kaggle" or all(
            (cfg.dataset_dir / d).is_dir() for d in AUDIO_FOLDERS.values())):
        return cfg.dataset_dir
    existing = next((p for p in (cfg.dataset_dir, *cfg.dataset_dir.parents) if p.exists()), cfg.dataset_dir)
    if not os.access(existing, os.W_OK):
        raise DatasetError(
            f"{cfg.dataset_dir}: FSDKaggle2018 is not there and the folder is read-only. On Kaggle, attach the "
            f"competition data ({KAGGLE_COMPETITION}) or an FSDKaggle2018 dataset; elsewhere set "
            f"AUDIOSPEC_FSDK_ROOT to the folder that holds it.")
    from ..audio.download import download_fsdkaggle2018

    return download_fsdkaggle2018(cfg.dataset_dir, parts=cfg.parts, mirror=cfg.mirror, progress=progress)


def course_table(cfg: CourseConfig):
    """The clip table of the course's dataset (see :mod:`audiospec_utils.audio.datasets`)."""
    from ..audio.benchmarks import load_fsdkaggle2018

    return load_fsdkaggle2018(get_dataset(cfg), n_per_label=cfg.n_per_label)


def render_course_spectrograms(cfg: CourseConfig, *, progress: bool = True):
    """Render the course's spectrograms (only what is missing); return the manifest."""
    from ..features.render import render_spectrograms

    return render_spectrograms(course_table(cfg), cfg.spec_dir, cfg.params, progress=progress)


def train_course_model(cfg: CourseConfig, *, force: bool = False, progress: bool = True) -> dict:
    """Train the course's model unless ``run_dir`` already holds one; return its metrics.

    The model is the one notebook 03 trains: ``cfg.arch`` (ResNet-34 in both modes), the recipe's
    settings with the configuration's sizes, crops and weights.
    """
    from ..learn.run import Run

    run = Run(cfg.run_dir)
    if run.is_trained() and not force:
        return run.metrics
    from ..learn.train import train_classifier

    render_course_spectrograms(cfg, progress=progress)
    _, metrics = train_classifier(cfg.spec_dir, cfg.run_dir, cfg.training_config(), progress=progress)
    return metrics


def split_leakage_demo(cfg: CourseConfig, *, progress: bool = False):
    """Notebook 03's experiment: the course's clips cut into slices, validated per slice and by clip.

    Renders (once) ``cfg.leakage["n_per_label"]`` clips per label and split of the course's
    dataset as slices of ``cfg.leakage["slice_seconds"]`` (``clip_policy="windows"``) into
    ``<data_root>/spectrograms_<dataset>_slices``, then runs
    :func:`audiospec_utils.assess.cv.split_leakage` with the course's weights.

    Returns
    -------
    pandas.DataFrame
        See :func:`audiospec_utils.assess.cv.split_leakage`: per split, the validation accuracy, the
        accuracy on the test clips (recordings neither model has heard) and the gap.
    """
    from ..assess.cv import split_leakage
    from ..audio.benchmarks import load_fsdkaggle2018
    from ..features.render import render_spectrograms

    leak = cfg.leakage
    table = load_fsdkaggle2018(get_dataset(cfg, progress=progress), n_per_label=leak.get("n_per_label"))
    spec = cfg.data_root / f"spectrograms_{cfg.dataset}_slices"
    params = dataclasses.replace(cfg.params, clip_policy="windows", duration=float(leak["slice_seconds"]))
    render_spectrograms(table, spec, params, progress=progress)
    # the course's network and weights; one whole slice per crop, no augmentation: only the split differs
    config = cfg.training_config().replace(epochs=int(leak["epochs"]), img_size=int(leak["img_size"]),
                                           crop_seconds=float(leak["slice_seconds"]), spec_augment=False,
                                           time_shift=0.0, low_pass=0.0, mixup=0.0, label_smoothing=0.0)
    return split_leakage(spec, config, max_slices_per_clip=leak.get("max_slices_per_clip"), progress=progress)


def own_sounds_folder(cfg: CourseConfig, *, progress: bool = False) -> Path:
    """Notebook 06's folder per class: yours (``cfg.own["folder"]``), or the course's clips laid out as one.

    With ``AUDIOSPEC_OWN_SOUNDS`` set, that folder is returned as it is (``<folder>/<label>/<file>``,
    see :func:`audiospec_utils.audio.datasets.load_folder_per_class`). Otherwise an example is written,
    once, from the course's own recordings (the real FSDKaggle2018 clips, or the mini dataset's):
    at most ``cfg.own["n_per_label"]`` training recordings per label, each cut into consecutive
    parts of ``cfg.own["part_seconds"]`` (at most ``cfg.own["max_parts"]``; a shorter recording is
    one part), written as ``<data_root>/own_sounds_<dataset>/<label>/<recording>-part<k>.wav`` in
    16-bit PCM at the recording's own rate (a folder written before with other settings is made
    anew). The parts of one recording are what a learner gets by
    cutting one long take into clips: they sound alike, so every split must keep them on one side
    (their group is :data:`EXAMPLE_GROUP_PATTERN`'s capture, the recording's name).

    Parameters
    ----------
    cfg : CourseConfig
    progress : bool
        Progress bar of the dataset's download (FSDKaggle2018, when not there yet).

    Returns
    -------
    Path
        The folder.

    Raises
    ------
    DatasetError
        ``AUDIOSPEC_OWN_SOUNDS`` names no folder.
    """
    import json
    import shutil

    import soundfile as sf

    from ..audio.benchmarks import load_fsdkaggle2018
    from ..audio.clip_table import sample_per_label
    from ..fileio import atomic_path, write_text_atomic

    own = cfg.own
    if own.get("folder") is not None:
        folder = Path(own["folder"])
        if not folder.is_dir():
            raise DatasetError(f"AUDIOSPEC_OWN_SOUNDS={folder}: no such folder (a folder per class is expected: "
                               f"<folder>/<label>/<file>.wav)")
        return folder
    out = cfg.data_root / f"own_sounds_{cfg.dataset}"
    settings = {k: own[k] for k in ("n_per_label", "part_seconds", "max_parts")}
    settings["source"] = str(cfg.dataset_dir)
    done = out / ".written.json"
    if done.is_file():
        try:
            if json.loads(done.read_text()) == settings:
                return out
        except ValueError:
            pass
    if out.exists():  # written before with other settings, or interrupted: this function's own folder, made anew
        shutil.rmtree(out)
    table = load_fsdkaggle2018(get_dataset(cfg, progress=progress), split="train", n_per_label=cfg.n_per_label)
    table = sample_per_label(table, int(own["n_per_label"]), seed=0)
    for row in table.itertuples(index=False):
        y, sr = sf.read(row.path, dtype="float32", always_2d=False)
        n = max(1, int(round(float(own["part_seconds"]) * sr)))
        starts = list(range(0, max(len(y), 1), n))[: int(own["max_parts"])]
        for k, start in enumerate(starts, 1):
            part = y[start:start + n]
            if k > 1 and len(part) < n // 4:  # a scrap at the end is not a clip
                break
            with atomic_path(out / row.label / f"{Path(row.fname).stem}-part{k}.wav") as tmp:
                sf.write(tmp, part, sr, subtype="PCM_16", format="WAV")
    write_text_atomic(done, json.dumps(settings))
    return out
