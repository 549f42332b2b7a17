"""The run folder: what training writes, and what evaluation, prediction and interpretation read.

:class:`Run` (written by :func:`audiospec_utils.learn.train.train_classifier`)::

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
import warnings
from pathlib import Path

import pandas as pd

from ..exceptions import DatasetError
from ..features.folders import PARAMS, RenderFolder, write_json
from ..features.params import SpectrogramParams

__all__ = ["Run", "as_run"]


def _is_crop_dataloaders(dls) -> bool:
    """Whether `dls` is a :class:`~audiospec_utils.learn.dataloaders.SpectrogramDataLoaders` (crops and windows)."""
    from .dataloaders import SpectrogramDataLoaders

    return isinstance(dls, SpectrogramDataLoaders)


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
    #: The whole training state after the last finished epoch, to resume from (:mod:`audiospec_utils.learn.resume`).
    RESUME = "models/resume.pth"

    def __init__(self, path, spec_dir=None):
        if isinstance(path, Run):
            spec_dir = spec_dir if spec_dir is not None else path._spec_dir
            path = path.path
        self.path = Path(path).resolve()
        self._spec_dir = Path(spec_dir).resolve() if spec_dir is not None else None
        self._learn = None
        self._render_folder = None
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
        if self._render_folder is None:
            spec = self._spec_dir if self._spec_dir is not None else self.metrics.get("spec_dir")
            if not spec:
                raise DatasetError(f"{self.path / self.METRICS} names no spec_dir (render folder)")
            self._render_folder = RenderFolder(spec)  # built once: a Run is passed along, not its path
        return self._render_folder

    @property
    def spec_params(self):
        """The :class:`~audiospec_utils.features.SpectrogramParams` the run was trained with.

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
            try:  # the unpickler imports the classes the learner refers to (audiospec_utils.learn.dataloaders...)
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


def as_run(run, spec_dir=None) -> Run:
    """`run` as a :class:`Run`: the object itself when it is one (its parsed metrics and loaded learner
    kept), else a new one for the folder.

    Parameters
    ----------
    run : Run or str or os.PathLike
        A run or its folder.
    spec_dir : str or os.PathLike or None
        Where its render folder is now, when it has moved (see :class:`Run`).

    Returns
    -------
    Run
    """
    if isinstance(run, Run) and (spec_dir is None or run._spec_dir == Path(spec_dir).resolve()):
        return run
    return Run(run, spec_dir=spec_dir)
