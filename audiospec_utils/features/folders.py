"""The two folders the toolkit writes, each with one home: a render folder and a run folder.

The package reads as *data -> render -> model -> run*: :mod:`~audiospec_utils.audio.datasets` gives a clip
table, :mod:`~audiospec_utils.features.render` turns it into a **render folder** of images, training turns a
render folder into a **run folder**, and evaluation, prediction and interpretation read a run
folder. This module is the only code that knows the files inside them:

:class:`RenderFolder` (written by :func:`audiospec_utils.features.render.render_spectrograms`)::

    params.json               the SpectrogramParams every image was made with
    manifest.csv              one row per image (and one per clip that failed, with its reason)
    manifest.partial.jsonl    progress of a render that is running or was interrupted
    images/<clip_id>.png      the images
    cache/h<height>-<key>.npy the images decoded at one height (SpectrogramCache)

:class:`~audiospec_utils.learn.run.Run`, the run folder, is described in :mod:`audiospec_utils.learn.run`.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import pandas as pd

from ..exceptions import DatasetError, ParameterError
from ..fileio import write_csv_atomic, write_json_atomic, write_text_atomic
from .image_cache import SpectrogramCache
from .params import SpectrogramParams

__all__ = ["RenderFolder", "as_render_folder", "MANIFEST", "PARAMS", "PARTIAL", "IMAGES", "write_json"]

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
        """The folder's :class:`~audiospec_utils.features.SpectrogramParams`.

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
            :data:`audiospec_utils.features.render.MANIFEST_COLUMNS` plus the clip table's other columns
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
        """Every image of the folder decoded at `height` px (:class:`~audiospec_utils.features.image_cache.SpectrogramCache`).

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


def as_render_folder(folder) -> RenderFolder:
    """`folder` as a :class:`RenderFolder`: the object itself when it is one, else a new one for the path.

    Parameters
    ----------
    folder : RenderFolder or str or os.PathLike

    Returns
    -------
    RenderFolder
    """
    return folder if isinstance(folder, RenderFolder) else RenderFolder(folder)
