"""Clip inference, written once: windows -> class probabilities -> one prediction per clip.

Validation, ``evaluate``, ``predict``, ``cv``, ``compare`` and ``explain`` all turn a trained
Learner's outputs into clip predictions the same way, and all of them call this module:

1. :func:`window_probabilities`: each image is cut into overlapping windows of the training crop's
   length (:meth:`~audiospec_utils.learn.dataloaders.SpectrogramDataLoaders.windows_dl`) and the model
   gives softmax probabilities per window;
2. :func:`mean_per_image`: the windows of one image are averaged;
3. :func:`clip_predictions`: the images of one clip (one, or several when a clip was rendered as
   several windows or crops) are averaged into one row per clip, with the best class.

:func:`predict_windows` renders one audio file and runs step 1 on it, :func:`image_probabilities` is
steps 1 and 2, :func:`valid_clip_predictions` is the validation set
of a :class:`~audiospec_utils.learn.dataloaders.SpectrogramDataLoaders` through steps 1 to 3. Scores of
the result come from :func:`audiospec_utils.learn.metrics.clip_scores`.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..features.image_cache import SpectrogramCache
from ..features.images import render_clip

__all__ = ["window_probabilities", "mean_per_image", "image_probabilities", "clip_predictions",
           "valid_clip_predictions", "FileWindows", "predict_windows"]


def window_probabilities(learn, cache, rows, *, bs: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Class probabilities of every window of some images.

    Parameters
    ----------
    learn : fastai.learner.Learner
        Trained on :class:`~audiospec_utils.learn.dataloaders.SpectrogramDataLoaders`.
    cache : SpectrogramCache
        Images at the learner's height.
    rows : array-like of int
        Positions of the images in `cache`.
    bs : int
        Windows per batch.

    Returns
    -------
    probs : np.ndarray, float32, shape (n_windows, n_classes)
        Softmax probabilities, columns in the order of ``learn.dls.vocab``.
    image_of_window : np.ndarray, int64, shape (n_windows,)
        The position in `rows` of each window's image.
    """
    rows = np.asarray(rows, dtype=np.int64)
    if len(rows) == 0:
        return np.zeros((0, len(learn.dls.vocab)), np.float32), np.zeros(0, np.int64)
    dl, image_of_window = learn.dls.windows_dl(cache, rows, bs=bs)
    with warnings.catch_warnings(), learn.no_bar():
        warnings.filterwarnings("ignore", category=UserWarning)
        probs, _ = learn.get_preds(dl=dl)
    return probs.float().numpy(), image_of_window


def mean_per_image(probs: np.ndarray, image_of_window: np.ndarray, n: int) -> np.ndarray:
    """The mean of the window probabilities of each image.

    Parameters
    ----------
    probs : np.ndarray, shape (n_windows, n_classes)
        As :func:`window_probabilities` returns.
    image_of_window : np.ndarray of int, shape (n_windows,)
        The image (0 to ``n - 1``) of each window.
    n : int
        Number of images; an image without a window gets a row of zeros.

    Returns
    -------
    np.ndarray, float32, shape (n, n_classes)
    """
    out = np.zeros((n, probs.shape[1]), np.float64)
    np.add.at(out, image_of_window, probs)
    counts = np.bincount(image_of_window, minlength=n).clip(min=1)
    return (out / counts[:, None]).astype(np.float32)


def image_probabilities(learn, cache, rows, *, bs: int = 64) -> np.ndarray:
    """Class probabilities of some images, each the mean over its windows.

    Parameters
    ----------
    learn, cache, rows, bs :
        As :func:`window_probabilities`.

    Returns
    -------
    np.ndarray, float32, shape (len(rows), n_classes)
        Columns in the order of ``learn.dls.vocab``.
    """
    probs, image_of_window = window_probabilities(learn, cache, rows, bs=bs)
    return mean_per_image(probs, image_of_window, len(np.asarray(rows)))


def clip_predictions(probs, table: pd.DataFrame, vocab) -> pd.DataFrame:
    """Average image probabilities per clip (windows of one clip become one prediction).

    Parameters
    ----------
    probs : array-like, shape (n_images, n_classes)
    table : pandas.DataFrame
        The images' rows (``clip_id``, ``label``), aligned with `probs`.
    vocab : sequence of str
        Class names, in the order of the columns of `probs`.

    Returns
    -------
    pandas.DataFrame
        One row per clip: ``clip_id``, ``label``, one column per class (mean probability), and
        ``pred`` (best class).
    """
    probs = np.asarray(probs, dtype=np.float64)
    frame = pd.DataFrame(probs, columns=list(vocab))
    frame.insert(0, "clip_id", table["clip_id"].to_numpy())
    labels = table.drop_duplicates("clip_id").set_index("clip_id")["label"]
    out = frame.groupby("clip_id", sort=False).mean()
    out.insert(0, "label", labels.reindex(out.index).to_numpy())
    out["pred"] = out[list(vocab)].idxmax(axis=1)
    return out.reset_index()


def valid_clip_predictions(learn, dls=None) -> pd.DataFrame:
    """Clip predictions on the validation set of a Learner's DataLoaders.

    Parameters
    ----------
    learn : fastai.learner.Learner
    dls : SpectrogramDataLoaders or None
        Default ``learn.dls``; its ``valid`` loader gives the windows of the validation images
        and ``valid_table`` their rows.

    Returns
    -------
    pandas.DataFrame
        As :func:`clip_predictions`, one row per validation clip.
    """
    dls = dls if dls is not None else learn.dls
    with learn.no_bar():
        probs, _ = learn.get_preds(dl=dls.valid)
    return clip_predictions(probs.float().numpy(), dls.valid_table, list(dls.vocab))


@dataclass(frozen=True)
class FileWindows:
    """One audio file as the model sees it: its images, their windows and the windows' probabilities.

    Attributes
    ----------
    rendered : dict
        What :func:`audiospec_utils.features.render_clip` returns: ``images`` (uint8 arrays),
        ``duration`` (s), ``sr`` (Hz, rendered), ``source_sr`` (Hz, the file's), ``band_limited``.
    cache : SpectrogramCache
        The images at the learner's height.
    window_probs : np.ndarray, float32, shape (n_windows, n_classes)
        Softmax probabilities of every window of every image, columns in ``learn.dls.vocab`` order.
    image_of_window : np.ndarray, int64, shape (n_windows,)
        The image of each window.
    """

    rendered: dict
    cache: SpectrogramCache
    window_probs: np.ndarray
    image_of_window: np.ndarray

    @property
    def probs(self) -> np.ndarray:
        """The file's prediction: the mean over all its windows, float32, shape (n_classes,)."""
        return self.window_probs.mean(axis=0)


def predict_windows(learn, path, params, *, bs: int = 64) -> FileWindows:
    """Render one audio file as a run's images and predict every window of them.

    The file is rendered in memory with `params` (:func:`audiospec_utils.features.render_clip`),
    resized to the learner's height and cut into windows of the training crop length
    (:func:`audiospec_utils.learn.inference.window_probabilities`).

    Parameters
    ----------
    learn : fastai.learner.Learner
        A run's Learner (:func:`audiospec_utils.infer.predict.run_learner`).
    path : str or os.PathLike
        Audio file of any length (WAV, FLAC, OGG, MP3...).
    params : SpectrogramParams
        The run's spectrogram parameters (:func:`audiospec_utils.infer.predict.run_spectrogram_params`).
    bs : int
        Windows per batch.

    Returns
    -------
    FileWindows

    Raises
    ------
    AudiospecError
        The file cannot be loaded or rendered (empty, not audio, missing...).
    """
    rendered = render_clip(path, None, params)
    cache = SpectrogramCache.from_arrays(rendered["images"], learn.dls.config["height"])
    window_probs, image_of_window = window_probabilities(learn, cache, np.arange(len(cache)), bs=bs)
    return FileWindows(rendered, cache, window_probs, image_of_window)
