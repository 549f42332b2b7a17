"""The two folders the toolkit writes, each with one home: a render folder and a run folder.

The package reads as *data -> render -> model -> run*: :mod:`~audiospec_utils.datasets` gives a clip
table, :mod:`~audiospec_utils.render` turns it into a **render folder** of images, training turns a
render folder into a **run folder**, and evaluation, prediction and interpretation read a run
folder. This module is the only code that knows the files inside them:

:class:`RenderFolder` (written by :func:`audiospec_utils.render.render_spectrograms`)::

    params.json               the SpectrogramParams every image was made with
    manifest.csv              one row per image (and one per clip that failed, with its reason)
    manifest.partial.jsonl    progress of a render that is running or was interrupted
    images/<clip_id>.png      the images
    cache/h<height>-<key>.npy the images decoded at one height (SpectrogramCache)

:class:`Run` (written by :func:`audiospec_utils.train.train_classifier`)::

    metrics.json              validation scores, the split, every setting
    params.json               copy of the render folder's params.json
    export.pkl                the exported fastai Learner
    history.csv               losses and metrics per epoch
    split.csv                 which clip was on which side (train / valid / test)
    valid_items.csv           validation images (one row per window)
    valid_predictions.csv     per-clip validation probabilities
    lr_find.png               the learning-rate finder's plot (when it ran)
    models/last.pth, models/resume.pth   the last finished epoch: weights, whole training state
    test_metrics.json, test_predictions.csv, submission.csv   (audiospec evaluate)
    interpretation.json, per_class.csv, *.png                 (audiospec interpret)
"""

from __future__ import annotations

import copy
import json
import math
import logging
import warnings
from pathlib import Path

import pandas as pd

from .exceptions import DatasetError, ParameterError
from .fileio import write_csv_atomic, write_json_atomic, write_text_atomic
from .image_cache import SpectrogramCache
from .spectrogram import SpectrogramParams

__all__ = ["RenderFolder", "Run", "MANIFEST", "PARAMS", "PARTIAL", "IMAGES", "write_json"]

logger = logging.getLogger(__name__)

MANIFEST = "manifest.csv"
PARAMS = "params.json"
PARTIAL = "manifest.partial.jsonl"
IMAGES = "images"


def write_json(path, data) -> None:
    """Write `data` as indented JSON, atomically (:func:`audiospec_utils.fileio.write_json_atomic`).

    Parameters
    ----------
    path : str or os.PathLike
        The file (its folder is created when missing).
    data : JSON-like
        Values JSON cannot encode (paths, NumPy scalars...) are written as their ``str``.
    """
    write_json_atomic(path, data, default=str)


class RenderFolder:
    """A folder of spectrogram images, its parameters and its manifest.

    Parameters
    ----------
    path : str or os.PathLike
        The folder (it need not exist yet when it is about to be rendered).

    Attributes
    ----------
    path : pathlib.Path
        Absolute.
    """

    def __init__(self, path):
        self.path = Path(path).resolve()

    def __repr__(self) -> str:
        return f"RenderFolder({str(self.path)!r})"

    def __fspath__(self) -> str:
        return str(self.path)

    @property
    def manifest_file(self) -> Path:
        return self.path / MANIFEST

    @property
    def params_file(self) -> Path:
        return self.path / PARAMS

    @property
    def partial_file(self) -> Path:
        return self.path / PARTIAL

    @property
    def images_dir(self) -> Path:
        return self.path / IMAGES

    def exists(self) -> bool:
        """Whether the folder has a manifest (something was rendered into it)."""
        return self.manifest_file.is_file()

    # ------------------------------------------------------------------------------------------
    # parameters

    def read_params_dict(self) -> dict | None:
        """``params.json`` as a dict with every key (later ones take their defaults); None if absent.

        Raises
        ------
        ParameterError
            ``params.json`` is unreadable or not a JSON object.
        """
        if not self.params_file.exists():
            return None
        try:
            old = json.loads(self.params_file.read_text())
        except (OSError, ValueError) as err:
            raise ParameterError(f"{self.params_file}: unreadable ({err}); delete it or choose another output "
                                 f"folder") from None
        if not isinstance(old, dict):
            raise ParameterError(f"{self.params_file}: not a JSON object of spectrogram parameters; delete it or "
                                 f"choose another output folder")
        return {**SpectrogramParams.defaults(), **old}

    @property
    def params(self):
        """The folder's :class:`~audiospec_utils.spectrogram.SpectrogramParams`.

        Raises
        ------
        DatasetError
            No ``params.json``, or not valid parameters.
        """
        try:
            d = self.read_params_dict()
        except ParameterError as err:
            raise DatasetError(str(err)) from None
        if d is None:
            raise DatasetError(f"{self.path}: no {PARAMS}; render spectrograms into it first")
        try:
            return SpectrogramParams.from_dict(d)
        except (ValueError, TypeError) as err:
            raise DatasetError(f"{self.params_file}: not valid spectrogram parameters ({err})") from None

    def params_difference(self, params) -> dict | None:
        """How the folder's ``params.json`` differs from `params`: ``{key: (folder's, params')}``.

        Returns
        -------
        dict or None
            ``None`` when the folder has no ``params.json``; ``{}`` when they are the same.
            ``segment_seconds`` set in `params` but not in the folder is no difference when no clip
            of the folder's manifest is longer than it (those images are the same either way).

        Raises
        ------
        ParameterError
            ``params.json`` is unreadable or not a JSON object.
        """
        old = self.read_params_dict()
        if old is None:
            return None
        new = json.loads(params.to_json())
        diff = {k: (old.get(k), v) for k, v in sorted(new.items()) if old.get(k) != v}
        seg = diff.get("segment_seconds")
        if seg is not None and seg[0] is None and self._longest_clip() <= seg[1]:
            del diff["segment_seconds"]  # no clip of the folder is long enough to be cut: same images
        return diff

    def _longest_clip(self) -> float:
        """Seconds of the folder's longest rendered clip; infinity when unknown (no manifest yet)."""
        if not self.manifest_file.is_file():
            return math.inf
        durations = pd.to_numeric(self.manifest()["duration"], errors="coerce").dropna()
        return float(durations.max()) if len(durations) else 0.0

    def claim(self, params) -> None:
        """Check that the folder was rendered with `params`, or record them in a new folder.

        Raises
        ------
        ParameterError
            The folder holds images rendered with other parameters (the message names the
            differences and the ways out).
        """
        diff = self.params_difference(params)
        if diff:
            said = ", ".join(f"{k} {a!r} -> {b!r}" for k, (a, b) in diff.items())
            raise ParameterError(
                f"{self.path} holds spectrograms rendered with other parameters ({said}). Images made "
                f"with different settings are never mixed: choose another output folder (e.g. "
                f"{self.path.name}_{'_'.join(diff)}) or delete this one.")
        if diff is None:
            write_text_atomic(self.params_file, params.to_json())

    # ------------------------------------------------------------------------------------------
    # manifest and images

    def write_manifest(self, manifest: pd.DataFrame) -> None:
        """Write ``manifest.csv`` atomically (:func:`audiospec_utils.fileio.write_csv_atomic`)."""
        write_csv_atomic(manifest, self.manifest_file)

    def manifest(self) -> pd.DataFrame:
        """``manifest.csv``: one row per image, plus one per failed clip.

        Returns
        -------
        pandas.DataFrame
            :data:`audiospec_utils.render.MANIFEST_COLUMNS` plus the clip table's other columns
            (``group``, ``fold``...); failed clips have an empty ``image`` and their reason in
            ``error``. ``group`` and ``fold`` are str (``""`` when unknown).

        Raises
        ------
        DatasetError
            No manifest (render first).
        """
        if not self.manifest_file.is_file():
            raise DatasetError(f"{self.path}: no {MANIFEST}; render spectrograms into it first "
                               f"(audiospec render SOURCE --out {self.path})")
        text_cols = {c: str for c in ("clip_id", "fname", "label", "image", "error", "split", "path", "group", "fold")}
        df = pd.read_csv(self.manifest_file, dtype=text_cols, keep_default_na=False)
        for col in ("duration", "sr", "source_sr", "source_mtime"):
            if col in df.columns:
                df[col] = pd.to_numeric(df[col], errors="coerce")
        if "sr" in df.columns and "source_sr" not in df.columns:  # rendered before the rate was fixed
            df["source_sr"], df["band_limited"] = df["sr"], False
        for col in ("silent", "band_limited"):
            if col in df.columns:
                df[col] = df[col].astype(str).str.lower().isin(("true", "1"))
        for col in ("group", "fold"):
            if col not in df.columns:
                df[col] = ""
        return df

    def images(self, *, split: str | None = None, labelled: bool = False) -> pd.DataFrame:
        """Rows of the manifest that have an image, with ``image_path`` (absolute).

        Parameters
        ----------
        split : str or None
            Keep one split (``"train"``, ``"test"``); None: all.
        labelled : bool
            Keep only rows with a label.
        """
        df = self.manifest()
        df = df[df["image"] != ""]
        if split is not None:
            df = df[df["split"] == split]
        if labelled:
            df = df[df["label"] != ""]
        df = df.copy()
        df["image_path"] = [str(self.path / i) for i in df["image"]]
        return df.reset_index(drop=True)

    def training_images(self, *, manually_verified_only: bool = False) -> pd.DataFrame:
        """The labelled images of the ``train`` split (what training and cross-validation use).

        Raises
        ------
        DatasetError
            No usable images, or fewer than two labels.
        """
        df = self.images(split="train", labelled=True)
        if manually_verified_only and "manually_verified" in df.columns:
            df = df[pd.to_numeric(df["manually_verified"], errors="coerce") == 1].reset_index(drop=True)
        if df.empty:
            raise DatasetError(f"{self.path}: no rendered train images with labels in {MANIFEST}")
        if df["label"].nunique() < 2:
            raise DatasetError(f"{self.path}: only one label ({df['label'].iloc[0]!r}); a classifier needs at least two")
        return df

    def cache(self, height: int, *, progress: bool = True):
        """Every image of the folder decoded at `height` px (:class:`~audiospec_utils.image_cache.SpectrogramCache`).

        Built on first use and kept in ``cache/``; rebuilt when the images or parameters change.

        Parameters
        ----------
        height : int
            Image height in the cache, pixels.
        progress : bool
            Progress bar while the cache is built.

        Returns
        -------
        SpectrogramCache
            Memory-mapped, every image of the manifest (sorted by name).
        """
        names = sorted(self.images()["image"].unique().tolist())
        return SpectrogramCache.for_folder(self.path, names, int(height), params_file=self.params_file,
                                           progress=progress)


def _is_crop_dataloaders(dls) -> bool:
    """Whether `dls` is (a subclass of) ``audiospec_utils.dataloaders.SpectrogramDataLoaders``.

    Tested by name along the class's ancestry, so that this module, which the model layer builds
    on, never imports the DataLoaders module.
    """
    return any(c.__name__ == "SpectrogramDataLoaders" and c.__module__ == "audiospec_utils.dataloaders"
               for c in type(dls).__mro__)


class Run:
    """A trained model's folder: its settings, scores, learner, split and spectrogram parameters.

    Parameters
    ----------
    path : str or os.PathLike
        The run folder.
    spec_dir : str or os.PathLike or None
        Where its render folder is now, if it has moved since training (the manifest's relative
        image paths are looked up there).

    Notes
    -----
    A ``Run`` reads its files when asked, parses ``metrics.json`` once (again only when the file
    changes) and caches the loaded learner: pass the object along rather than its path.
    """

    METRICS = "metrics.json"
    PARAMS = PARAMS
    EXPORT = "export.pkl"
    HISTORY = "history.csv"
    SPLIT = "split.csv"
    VALID_ITEMS = "valid_items.csv"
    VALID_PREDICTIONS = "valid_predictions.csv"
    TEST_METRICS = "test_metrics.json"
    TEST_PREDICTIONS = "test_predictions.csv"
    SUBMISSION = "submission.csv"
    INTERPRETATION = "interpretation.json"
    #: The learning-rate finder's plot (``lr_find=True`` / ``--lr-find``).
    LR_FIND = "lr_find.png"
    #: The weights after the last finished epoch (fastai's ``learn.save("last")`` in ``models/``).
    CHECKPOINT = "models/last.pth"
    #: The whole training state after the last finished epoch, to resume from (:mod:`audiospec_utils.resume`).
    RESUME = "models/resume.pth"

    def __init__(self, path, spec_dir=None):
        if isinstance(path, Run):
            spec_dir = spec_dir if spec_dir is not None else path._spec_dir
            path = path.path
        self.path = Path(path).resolve()
        self._spec_dir = Path(spec_dir).resolve() if spec_dir is not None else None
        self._learn = None
        self._metrics = None  # (stat signature of metrics.json, its parsed content)

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r})"

    def __fspath__(self) -> str:
        return str(self.path)

    def file(self, name: str) -> Path:
        """Path of one of the run's files (e.g. ``Run.SUBMISSION``)."""
        return self.path / name

    def is_trained(self) -> bool:
        """True when the folder holds a finished training: its metrics and its exported learner."""
        return (self.path / self.METRICS).is_file() and (self.path / self.EXPORT).is_file()

    def _need(self, name: str) -> Path:
        p = self.path / name
        if not p.is_file():
            raise DatasetError(f"{self.path}: no {name}; train a model into this folder first "
                               f"(audiospec train SPEC_DIR --out {self.path})")
        return p

    @property
    def metrics(self) -> dict:
        """``metrics.json``: validation scores, the split and every training setting.

        Raises
        ------
        DatasetError
            The file is missing or not JSON.
        """
        p = self._need(self.METRICS)
        st = p.stat()
        signature = (st.st_mtime_ns, st.st_size, st.st_ino)
        if self._metrics is None or self._metrics[0] != signature:
            try:
                self._metrics = (signature, json.loads(p.read_text()))
            except ValueError as err:
                raise DatasetError(f"{p}: not valid JSON ({err})") from None
        return copy.deepcopy(self._metrics[1])  # a copy: a caller may change what it is given

    def write_metrics(self, metrics: dict) -> None:
        """Write ``metrics.json`` (atomically).

        Parameters
        ----------
        metrics : dict
            JSON-like; values JSON cannot encode are written as their ``str``.
        """
        self.path.mkdir(parents=True, exist_ok=True)
        write_json(self.path / self.METRICS, metrics)
        self._metrics = None  # read back as written (str() of what JSON cannot encode)

    @property
    def test_fold(self) -> str | None:
        """The fold held out for testing at training time, or None."""
        if not (self.path / self.METRICS).is_file():
            return None
        return (self.metrics.get("split") or {}).get("test_fold")

    @property
    def render_folder(self) -> RenderFolder:
        """The render folder the run was trained on (or the one given as `spec_dir`).

        Raises
        ------
        DatasetError
            The run names no render folder.
        """
        if self._spec_dir is not None:
            return RenderFolder(self._spec_dir)
        spec = self.metrics.get("spec_dir")
        if not spec:
            raise DatasetError(f"{self.path / self.METRICS} names no spec_dir (render folder)")
        return RenderFolder(spec)

    @property
    def spec_params(self):
        """The :class:`~audiospec_utils.spectrogram.SpectrogramParams` the run was trained with.

        Read from the run's ``params.json`` (copied at training time), else from its render folder.

        Raises
        ------
        DatasetError
            Neither exists or is valid.
        """
        candidates = [self.path / PARAMS]
        if (self.path / self.METRICS).is_file() and (self.metrics.get("spec_dir") or self._spec_dir):
            candidates.append(self.render_folder.params_file)
        for path in candidates:
            if path.is_file():
                try:
                    return SpectrogramParams.from_dict(json.loads(path.read_text()))
                except (ValueError, TypeError) as err:
                    raise DatasetError(f"{path}: not valid spectrogram parameters ({err})") from None
        raise DatasetError(f"{self.path}: no params.json in the run folder nor in its render folder "
                           f"({', '.join(str(c) for c in candidates)}); the spectrogram settings of the run are "
                           f"unknown")

    def learner(self):
        """The exported learner (loaded once), on the GPU when there is one.

        Raises
        ------
        DatasetError
            No ``export.pkl``, it cannot be loaded, or it was trained by an older audiospec whose
            learners read images another way (train again).
        """
        if self._learn is not None:
            return self._learn
        import torch
        from fastai.learner import load_learner

        path = self._need(self.EXPORT)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*insecure pickle.*")
            warnings.filterwarnings("ignore", category=UserWarning)
            try:  # the unpickler imports the classes the learner refers to (audiospec_utils.dataloaders...)
                learn = load_learner(path, cpu=not torch.cuda.is_available())
            except Exception as err:  # a truncated or foreign pickle
                raise DatasetError(f"{path}: cannot load the exported learner ({type(err).__name__}: {err})") from None
        if not _is_crop_dataloaders(learn.dls):
            raise DatasetError(f"{path}: trained by an older version of audiospec (whole squished images); "
                               f"train it again to get time crops and window-averaged predictions")
        self._learn = learn
        return learn

    def valid_items(self) -> pd.DataFrame:
        """The validation images (one row per window), with ``image_path`` where they are now.

        Raises
        ------
        DatasetError
            No ``valid_items.csv``.
        """
        p = self._need(self.VALID_ITEMS)
        valid = pd.read_csv(p, dtype={"label": str, "clip_id": str, "image": str, "group": str, "fold": str},
                            keep_default_na=False)
        if self._spec_dir is not None:
            if "image" not in valid.columns:
                raise DatasetError(f"{p}: no 'image' column (paths relative to the render folder), so its images "
                                   f"cannot be looked up in {self._spec_dir}")
            valid["image_path"] = [str(self._spec_dir / rel) for rel in valid["image"]]
        return valid

    def split_table(self) -> pd.DataFrame:
        """``split.csv``: ``clip_id, label, group, fold, side``."""
        return pd.read_csv(self._need(self.SPLIT), dtype=str, keep_default_na=False)

    def history(self) -> pd.DataFrame:
        """``history.csv``: one row per epoch (``epoch``, ``stage``, losses, metrics, ``time``)."""
        return pd.read_csv(self._need(self.HISTORY))

    @property
    def test_metrics(self) -> dict:
        """``test_metrics.json`` (after ``audiospec evaluate``)."""
        p = self.path / self.TEST_METRICS
        if not p.is_file():
            raise DatasetError(f"{self.path}: no {self.TEST_METRICS}; run `audiospec evaluate {self.path}` first")
        return json.loads(p.read_text())
