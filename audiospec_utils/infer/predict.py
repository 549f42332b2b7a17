"""Predict the labels of new audio files with a trained run.

A run folder (:class:`~audiospec_utils.learn.run.Run`, written by
:func:`audiospec_utils.learn.train.train_classifier`) holds the exported learner and the spectrogram
parameters its images were made with. A new file of any length and any format the decoders read
(WAV, FLAC, OGG, MP3...) is rendered with those same parameters, resized in height as the training
images were, cut into windows of the training crop length (overlapping by half; a clip shorter than
one window is repeated to fill it), and the class probabilities of its windows are averaged into
one prediction per file, as at validation and evaluation time.

One bad file never stops the others: it gets an entry with its ``error`` instead of ``top``.
"""

from __future__ import annotations

import logging

import numpy as np

from ..exceptions import AudiospecError, ParameterError
from ..features.image_cache import SpectrogramCache
from ..features.images import read_image
from ..features.params import warn_rate_dependent
from ..learn.inference import image_probabilities, predict_windows
from ..learn.run import as_run
from ..ranking import top_labels  # noqa: F401

__all__ = ["run_learner", "load_model", "run_spectrogram_params", "run_metrics", "predict_images", "error_reason",
           "predict_files", "format_predictions"]

logger = logging.getLogger(__name__)


def run_metrics(run) -> dict:
    """``metrics.json`` of a run as a dict (:attr:`audiospec_utils.learn.run.Run.metrics`).

    Parameters
    ----------
    run : Run or str or os.PathLike

    Raises
    ------
    DatasetError
        The file is missing or not JSON.
    """
    return (as_run(run)).metrics


def run_learner(run):
    """The exported fastai Learner of a run folder, ready to predict (:meth:`audiospec_utils.learn.run.Run.learner`).

    Parameters
    ----------
    run : Run or str or os.PathLike
        A :class:`~audiospec_utils.learn.run.Run` keeps the loaded Learner: asking it again costs nothing.

    Returns
    -------
    fastai.learner.Learner
        On the GPU when there is one, else on the CPU; ``learn.dls.vocab`` holds the labels and
        ``learn.dls.config`` the image height, crop length and normalisation.

    Raises
    ------
    DatasetError
        No ``export.pkl``, it cannot be loaded, or an older audiospec made it.
    """
    return (as_run(run)).learner()


#: The name of :func:`run_learner` in earlier versions (it returns a fastai Learner, not a bare model).
load_model = run_learner


def run_spectrogram_params(run):
    """The spectrogram parameters a run was trained with (:attr:`audiospec_utils.learn.run.Run.spec_params`).

    Parameters
    ----------
    run : Run or str or os.PathLike

    Returns
    -------
    audiospec_utils.features.SpectrogramParams

    Raises
    ------
    DatasetError
        Neither the run's nor its render folder's ``params.json`` exists, or it is not valid.
    """
    return (as_run(run)).spec_params


def predict_images(learn, images, bs: int = 64) -> np.ndarray:
    """Class probabilities of spectrogram images, each the mean over its windows.

    Parameters
    ----------
    learn : fastai.learner.Learner
    images : sequence of (str or os.PathLike or np.ndarray)
        PNG paths, or uint8 pixel arrays of shape ``(n_mels, n_frames)`` (grey) or
        ``(n_mels, n_frames, 3)`` as :func:`audiospec_utils.features.render_clip` returns. All
        of one kind (grey or colour).
    bs : int
        Windows per batch.

    Returns
    -------
    np.ndarray, shape (n_images, n_classes), float32
        Columns in the order of ``learn.dls.vocab``.
    """
    if len(images) == 0:
        return np.zeros((0, len(learn.dls.vocab)), np.float32)
    arrays = [im if isinstance(im, np.ndarray) else read_image(im) for im in images]
    cache = SpectrogramCache.from_arrays(arrays, learn.dls.config["height"])
    return image_probabilities(learn, cache, np.arange(len(arrays)), bs=bs)


def error_reason(err: BaseException) -> str:
    """Why one file could not be predicted, as its entry's ``error`` says it.

    Parameters
    ----------
    err : BaseException
        What predicting the file raised.

    Returns
    -------
    str
        An :class:`~audiospec_utils.exceptions.AudiospecError`'s ``reason`` (or message); for any
        other error (a decoder bug), ``"unexpected error: <type>: <message>"``.
    """
    if isinstance(err, AudiospecError):
        return getattr(err, "reason", None) or str(err)
    return f"unexpected error: {type(err).__name__}: {err}"


def predict_files(run, files, *, k: int = 3, learn=None, params=None, return_probs: bool = False) -> list[dict]:
    """Top-`k` labels of audio files of any length, one entry per file, never stopped by a bad one.

    Each file is rendered in memory with the run's spectrogram parameters, cut into windows of the
    training crop length, and the probabilities of its windows are averaged (:func:`predict_windows`).

    Parameters
    ----------
    run : Run or str or os.PathLike
        A trained run folder.
    files : sequence of str or os.PathLike
        Audio files: WAV, FLAC, OGG, MP3... (see :func:`audiospec_utils.audio.decode.load_audio`).
    k : int >= 1
        Labels per file (at most the number of labels).
    learn : fastai.learner.Learner or None
        An already loaded learner (saves loading ``export.pkl`` again, e.g. in a widget).
    params : SpectrogramParams or None
        Override the run's parameters (advanced; the model only knows images made like its own).
    return_probs : bool
        Also give each successful entry ``probs`` (np.ndarray, shape (n_classes,)) and
        ``images`` (the rendered uint8 arrays).

    Returns
    -------
    list of dict
        In the order of `files`. Success: ``{"file": str, "top": [{"label": str,
        "probability": float}, ...k], "duration": seconds, "n_windows": int}``, best first,
        probabilities in [0, 1]. Failure: ``{"file": str, "error": str}`` with the reason
        (empty file, not audio, missing...).

    Raises
    ------
    DatasetError
        The run folder cannot be used (no ``export.pkl`` or no spectrogram parameters).
    ParameterError
        `k` < 1.
    """
    if not isinstance(k, (int, np.integer)) or k < 1:
        raise ParameterError(f"k must be a positive integer, got {k!r}")
    run = as_run(run)
    learn = learn if learn is not None else run.learner()
    params = params if params is not None else run.spec_params
    warn_rate_dependent(params, run.path)
    vocab = list(learn.dls.vocab)
    results = []
    for f in files:
        entry = {"file": str(f)}
        try:
            windows = predict_windows(learn, f, params)
            probs = windows.probs
        except Exception as err:  # one bad file (or a decoder bug) must not stop the other files
            entry["error"] = error_reason(err)
        else:
            out = windows.rendered
            entry.update(top=top_labels(probs, vocab, k), duration=float(out["duration"]),
                         n_windows=int(len(windows.window_probs)), sr=int(out["source_sr"]),
                         band_limited=bool(out["band_limited"]))
            if return_probs:
                entry.update(probs=probs, images=out["images"])
        results.append(entry)
    return results


def format_predictions(results: list[dict]) -> str:
    """A plain-text table of :func:`predict_files` results, one line per file.

    Returns
    -------
    str
        ``file  duration  1st label (p)  2nd label (p)  3rd label (p)``; failed files show
        ``error: <reason>``.
    """
    if not results:
        return "(no files)"
    width = max(len(r["file"]) for r in results)
    lines = []
    for r in results:
        if "error" in r:
            lines.append(f"{r['file']:<{width}}  error: {r['error']}")
        else:
            tops = "  ".join(f"{t['label']} ({t['probability']:.2f})" for t in r["top"])
            note = f"  (band-limited: {r['sr']} Hz)" if r.get("band_limited") else ""
            lines.append(f"{r['file']:<{width}}  {r['duration']:7.2f} s  {tops}{note}")
    return "\n".join(lines)
