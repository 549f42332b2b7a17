"""Settings shared by the course notebooks, and idempotent steps they call.

The first cell of every notebook is ``cfg = course_config()``. It reads the environment variable
``AUDIOSPEC_DATASET``: unset (or ``fsdkaggle2018``) means the real FSDKaggle2018 course, ``mini``
the built-in synthetic mini dataset with small sizes and few epochs (what ``make test``,
``make demo`` and ``pytest --nbval`` use). Paths default to ``data/`` and ``runs/`` in the
project folder; ``AUDIOSPEC_DATA`` and ``AUDIOSPEC_RUNS`` override them.

Every step here can be run again: what is already there is not redone.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path

from .exceptions import ParameterError
from .spectrogram import SpectrogramParams

__all__ = ["CourseConfig", "course_config", "project_root", "get_dataset", "course_table",
           "render_course_spectrograms", "train_course_model"]

DATASETS = ("fsdkaggle2018", "mini")


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
    root = project_root() or Path.cwd()
    data_root = Path(os.environ.get("AUDIOSPEC_DATA") or root / "data").resolve()
    runs_root = Path(os.environ.get("AUDIOSPEC_RUNS") or root / "runs").resolve()
    if dataset == "mini":
        return CourseConfig(dataset, data_root, data_root / "mini", data_root / "spectrograms_mini",
                            runs_root / "course_mini", epochs=10, img_size=64, bs=32, pretrained=False)
    return CourseConfig(dataset, data_root, data_root / "fsdkaggle2018", data_root / "spectrograms_fsdkaggle2018",
                        runs_root / "course_fsdkaggle2018")


def get_dataset(cfg: CourseConfig, *, progress: bool = True) -> Path:
    """Make sure the course's dataset is on disk and return its root.

    The mini dataset is generated (seconds); FSDKaggle2018 is downloaded from Zenodo (4.6 GB) and
    extracted, resuming any partial download. Nothing is redone when it is already there.
    """
    if cfg.dataset == "mini":
        from .mini import make_mini_dataset

        return make_mini_dataset(cfg.dataset_dir)
    from .datasets import find_fsdkaggle2018

    if find_fsdkaggle2018(cfg.dataset_dir) is not None and all(
            (cfg.dataset_dir / d).is_dir() for d in ("FSDKaggle2018.audio_train", "FSDKaggle2018.audio_test")):
        return cfg.dataset_dir
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
                                  bs=cfg.bs, pretrained=cfg.pretrained, progress=progress)
    return metrics
