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

Environment variables override: ``AUDIOSPEC_DATA`` (data folder), ``AUDIOSPEC_RUNS`` (runs
folder), ``AUDIOSPEC_FSDK_ROOT`` (an FSDKaggle2018 folder you already have, either layout),
``AUDIOSPEC_WEIGHTS`` (a local ImageNet ResNet-34 weights file, for offline kernels).

Every step here can be run again: what is already there is not redone.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path

from .exceptions import ParameterError
from .spectrogram import SpectrogramParams

__all__ = ["CourseConfig", "course_config", "project_root", "detect_platform", "find_fsdkaggle2018_root",
           "find_weights_file", "check_runtime", "get_dataset", "course_table", "render_course_spectrograms",
           "train_course_model"]

DATASETS = ("fsdkaggle2018", "mini")
KAGGLE_INPUT = Path("/kaggle/input")
KAGGLE_WORKING = Path("/kaggle/working")
COLAB_ROOT = Path("/content")


def detect_platform() -> str:
    """Where this Python runs: ``"kaggle"``, ``"colab"`` or ``"local"``.

    Kaggle kernels set ``KAGGLE_KERNEL_RUN_TYPE``; Colab sets ``COLAB_RELEASE_TAG`` (and has the
    ``google.colab`` module). ``AUDIOSPEC_PLATFORM`` forces an answer (for tests).
    """
    import sys

    forced = os.environ.get("AUDIOSPEC_PLATFORM")
    if forced:
        return forced
    if os.environ.get("KAGGLE_KERNEL_RUN_TYPE") or os.environ.get("KAGGLE_URL_BASE"):
        return "kaggle"
    if os.environ.get("COLAB_RELEASE_TAG") or "google.colab" in sys.modules:
        return "colab"
    return "local"


def find_fsdkaggle2018_root(candidates=None, *, input_dir=KAGGLE_INPUT) -> Path | None:
    """The first folder holding FSDKaggle2018 (Zenodo or Kaggle layout), or None.

    Parameters
    ----------
    candidates : iterable of path-like or None
        Folders to try first, in order.
    input_dir : path-like
        A folder whose sub-folders (two levels deep) are searched too: Kaggle mounts attached
        datasets under ``/kaggle/input/<name>/``.

    Returns
    -------
    Path or None
    """
    from .datasets import find_fsdkaggle2018

    tried = [Path(c) for c in (candidates or [])]
    base = Path(input_dir)
    if base.is_dir():
        tried += [base / "freesound-audio-tagging"] + sorted(p for p in base.glob("*") if p.is_dir())
        tried += sorted(p for p in base.glob("*/*") if p.is_dir())
    for folder in tried:
        try:
            if find_fsdkaggle2018(folder) is not None:
                return folder
        except OSError:
            continue
    return None


def find_weights_file(*, input_dir=KAGGLE_INPUT) -> Path | None:
    """A local ImageNet ResNet-34 weights file: ``AUDIOSPEC_WEIGHTS``, or one attached on Kaggle.

    Looks for ``resnet34-*.pth`` (torchvision's name, e.g. ``resnet34-b627a593.pth``) up to three
    folders deep under `input_dir`. Returns None when there is none (then the weights come from the
    torch hub cache or the network).
    """
    env = os.environ.get("AUDIOSPEC_WEIGHTS")
    if env:
        return Path(env)
    base = Path(input_dir)
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
        The stale modules, ``"name old -> new"`` (empty: nothing to do).
    """
    import importlib.metadata as md

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
        Training settings (see :func:`audiospec_utils.train.train_classifier`).
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
    pretrained: bool = True
    n_per_label: int | None = None
    parts: tuple = ("train", "test", "meta")
    platform: str = "local"
    weights: Path | None = None

    def __str__(self):
        rows = [f"{f.name:>12}: {getattr(self, f.name)}" for f in dataclasses.fields(self)]
        return "\n".join(rows)


def course_config(dataset: str | None = None) -> CourseConfig:
    """The notebooks' configuration.

    Parameters
    ----------
    dataset : {"fsdkaggle2018", "mini"} or None
        ``None`` reads the environment variable ``AUDIOSPEC_DATASET`` (default
        ``"fsdkaggle2018"``).

    Returns
    -------
    CourseConfig
        For ``"mini"``: the synthetic dataset, 64-pixel images, 10 epochs from scratch (CPU, no
        network). For ``"fsdkaggle2018"``: the real dataset, 128-pixel images, ImageNet-pretrained
        ResNet-34 fine-tuned for 5 epochs (a GPU is advised).

    Raises
    ------
    ParameterError
        Unknown dataset name.
    """
    dataset = (dataset or os.environ.get("AUDIOSPEC_DATASET") or "fsdkaggle2018").strip().lower()
    if dataset not in DATASETS:
        raise ParameterError(f"AUDIOSPEC_DATASET must be one of {', '.join(DATASETS)}, got {dataset!r}")
    platform = detect_platform()
    root = project_root()
    if root is not None:
        default_data, default_runs = root / "data", root / "runs"
    elif platform == "kaggle":
        default_data, default_runs = KAGGLE_WORKING / "audiospec_data", KAGGLE_WORKING / "runs"
    elif platform == "colab":
        default_data, default_runs = COLAB_ROOT / "audiospec_data", COLAB_ROOT / "runs"
    else:
        default_data, default_runs = Path.cwd() / "data", Path.cwd() / "runs"
    data_root = Path(os.environ.get("AUDIOSPEC_DATA") or default_data).resolve()
    runs_root = Path(os.environ.get("AUDIOSPEC_RUNS") or default_runs).resolve()
    weights = find_weights_file()
    if dataset == "mini":
        return CourseConfig(dataset, data_root, data_root / "mini", data_root / "spectrograms_mini",
                            runs_root / "course_mini", epochs=10, img_size=64, bs=32, pretrained=False,
                            platform=platform, weights=weights)
    given = os.environ.get("AUDIOSPEC_FSDK_ROOT")
    own = data_root / "fsdkaggle2018"
    found = find_fsdkaggle2018_root([given] if given else [own]) or (Path(given) if given else own)
    return CourseConfig(dataset, data_root, found.resolve(), data_root / "spectrograms_fsdkaggle2018",
                        runs_root / "course_fsdkaggle2018", platform=platform, weights=weights)


def get_dataset(cfg: CourseConfig, *, progress: bool = True) -> Path:
    """Make sure the course's dataset is on disk and return its root.

    The mini dataset is generated (seconds); FSDKaggle2018 is downloaded from Zenodo (4.6 GB) and
    extracted, resuming any partial download. Nothing is redone when it is already there.
    """
    if cfg.dataset == "mini":
        from .mini import make_mini_dataset

        return make_mini_dataset(cfg.dataset_dir)
    from .datasets import find_fsdkaggle2018

    found = find_fsdkaggle2018(cfg.dataset_dir)
    if found is not None and (found[0] == "kaggle" or all(
            (cfg.dataset_dir / d).is_dir() for d in ("FSDKaggle2018.audio_train", "FSDKaggle2018.audio_test"))):
        return cfg.dataset_dir
    if not os.access(cfg.dataset_dir.parent if not cfg.dataset_dir.exists() else cfg.dataset_dir, os.W_OK):
        from .exceptions import DatasetError

        raise DatasetError(
            f"{cfg.dataset_dir}: FSDKaggle2018 is not there and the folder is read-only. On Kaggle, attach the "
            f"competition data (freesound-audio-tagging) or an FSDKaggle2018 dataset; elsewhere set "
            f"AUDIOSPEC_FSDK_ROOT to the folder that holds it.")
    from .download import download_fsdkaggle2018

    return download_fsdkaggle2018(cfg.dataset_dir, parts=cfg.parts, progress=progress)


def course_table(cfg: CourseConfig):
    """The clip table of the course's dataset (see :mod:`audiospec_utils.datasets`)."""
    from .datasets import load_fsdkaggle2018

    return load_fsdkaggle2018(get_dataset(cfg), n_per_label=cfg.n_per_label)


def render_course_spectrograms(cfg: CourseConfig, *, progress: bool = True):
    """Render the course's spectrograms (only what is missing); return the manifest."""
    from .render import render_spectrograms

    return render_spectrograms(course_table(cfg), cfg.spec_dir, cfg.params, progress=progress)


def train_course_model(cfg: CourseConfig, *, force: bool = False, progress: bool = True) -> dict:
    """Train the course's model unless ``run_dir`` already holds one; return its metrics."""
    import json

    metrics_file = cfg.run_dir / "metrics.json"
    if metrics_file.is_file() and (cfg.run_dir / "export.pkl").is_file() and not force:
        return json.loads(metrics_file.read_text())
    from .train import train_classifier

    render_course_spectrograms(cfg, progress=progress)
    _, metrics = train_classifier(cfg.spec_dir, cfg.run_dir, epochs=cfg.epochs, img_size=cfg.img_size,
                                  bs=cfg.bs, pretrained=cfg.pretrained, weights=cfg.weights if cfg.pretrained else None,
                                  progress=progress)
    return metrics
