"""Predict the labels of new audio files with a trained run.

A run folder (written by :func:`audiospec_utils.train.train_classifier`) holds the exported
learner (``export.pkl``) and the spectrogram parameters its images were made with
(``params.json``; older runs point to their render folder in ``metrics.json["spec_dir"]``). A new
file of any length and format that the decoders read (WAV, FLAC, OGG, MP3...) is rendered with
those same parameters, every window of it is classified, and the window probabilities are
averaged into one prediction per file, as at evaluation time.

One bad file never stops the others: it gets an entry with its ``error`` instead of ``top``.
"""

from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path

import numpy as np

from .exceptions import AudiospecError, DatasetError, ParameterError

__all__ = ["load_model", "run_spectrogram_params", "run_metrics", "predict_images", "predict_files",
           "format_predictions"]

logger = logging.getLogger(__name__)


def run_metrics(run_dir) -> dict:
    """``RUN_DIR/metrics.json`` as a dict.

    Raises
    ------
    DatasetError
        The file is missing or not JSON.
    """
    path = Path(run_dir) / "metrics.json"
    if not path.is_file():
        raise DatasetError(f"{run_dir}: no metrics.json; train a model into this folder first "
                           f"(audiospec train SPEC_DIR --out {run_dir})")
    try:
        return json.loads(path.read_text())
    except ValueError as err:
        raise DatasetError(f"{path}: not valid JSON ({err})") from None


def load_model(run_dir):
    """The exported learner of a run folder, ready to predict.

    Parameters
    ----------
    run_dir : str or os.PathLike
        Folder written by :func:`audiospec_utils.train.train_classifier`.

    Returns
    -------
    fastai.learner.Learner
        On the GPU when there is one, else on the CPU; ``learn.dls.vocab`` holds the labels.

    Raises
    ------
    DatasetError
        No ``export.pkl`` in `run_dir`, or it cannot be loaded.
    """
    from fastai.learner import load_learner

    from . import train  # noqa: F401  (the exported pipeline refers to its augmentation classes)
    from .train import device_name

    path = Path(run_dir) / "export.pkl"
    if not path.is_file():
        raise DatasetError(f"{run_dir}: no export.pkl; train a model into this folder first "
                           f"(audiospec train SPEC_DIR --out {run_dir})")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*insecure pickle.*")
        try:
            return load_learner(path, cpu=device_name() == "cpu")
        except Exception as err:  # a truncated or foreign pickle
            raise DatasetError(f"{path}: cannot load the exported learner ({type(err).__name__}: {err})") from None


def run_spectrogram_params(run_dir):
    """The spectrogram parameters a run was trained with.

    Read from ``RUN_DIR/params.json`` (copied there at training time), else from the render
    folder the run names in ``metrics.json["spec_dir"]``.

    Returns
    -------
    audiospec_utils.spectrogram.SpectrogramParams

    Raises
    ------
    DatasetError
        Neither file exists, or the file is not valid parameters.
    """
    from .spectrogram import SpectrogramParams

    run_dir = Path(run_dir)
    candidates = [run_dir / "params.json"]
    if (run_dir / "metrics.json").is_file():
        spec_dir = run_metrics(run_dir).get("spec_dir")
        if spec_dir:
            candidates.append(Path(spec_dir) / "params.json")
    for path in candidates:
        if path.is_file():
            try:
                return SpectrogramParams.from_dict(json.loads(path.read_text()))
            except (ValueError, TypeError) as err:  # ParameterError is a ValueError
                raise DatasetError(f"{path}: not valid spectrogram parameters ({err})") from None
    raise DatasetError(f"{run_dir}: no params.json in the run folder nor in its render folder "
                       f"({', '.join(str(c) for c in candidates)}); the spectrogram settings of the run are unknown")


def predict_images(learn, images, bs: int = 64) -> np.ndarray:
    """Class probabilities of spectrogram images.

    Parameters
    ----------
    learn : fastai.learner.Learner
    images : sequence of (str or os.PathLike or np.ndarray)
        PNG paths, or uint8 pixel arrays of shape ``(n_mels, n_frames)`` (grey) or
        ``(n_mels, n_frames, 3)`` as :func:`audiospec_utils.spectrogram.render_clip` returns.
    bs : int
        Batch size.

    Returns
    -------
    np.ndarray, shape (n_images, n_classes), float32
        Softmax probabilities, columns in the order of ``learn.dls.vocab``.
    """
    import pandas as pd
    from PIL import Image

    if len(images) == 0:
        return np.zeros((0, len(learn.dls.vocab)), np.float32)
    items = [Image.fromarray(np.asarray(im)).convert("RGB") if isinstance(im, np.ndarray) else str(im)
             for im in images]
    dl = learn.dls.test_dl(pd.DataFrame({"image_path": items}), bs=bs)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=UserWarning)
        probs, _ = learn.get_preds(dl=dl)
    return probs.float().numpy()


def _top(probs: np.ndarray, vocab, k: int) -> list[dict]:
    from .metrics import top_k_labels

    return [{"label": str(vocab[i]), "probability": float(probs[i])} for i in top_k_labels(probs[None], k)[0]]


def predict_files(run_dir, files, *, k: int = 3, learn=None, params=None, return_probs: bool = False) -> list[dict]:
    """Top-`k` labels of audio files of any length, one entry per file, never stopped by a bad one.

    Each file is rendered in memory with the run's spectrogram parameters
    (:func:`run_spectrogram_params`); when they cut clips into windows, every window is
    classified and the probabilities are averaged (as :func:`audiospec_utils.train.clip_predictions`
    does at evaluation).

    Parameters
    ----------
    run_dir : str or os.PathLike
        A trained run folder.
    files : sequence of str or os.PathLike
        Audio files: WAV, FLAC, OGG, MP3... (see :func:`audiospec_utils.audio.load_audio`).
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
    from .spectrogram import render_clip

    if not isinstance(k, (int, np.integer)) or k < 1:
        raise ParameterError(f"k must be a positive integer, got {k!r}")
    learn = learn if learn is not None else load_model(run_dir)
    params = params if params is not None else run_spectrogram_params(run_dir)
    vocab = list(learn.dls.vocab)
    results = []
    for f in files:
        entry = {"file": str(f)}
        try:
            out = render_clip(f, None, params)
            probs = predict_images(learn, out["images"]).mean(axis=0)
        except AudiospecError as err:
            entry["error"] = getattr(err, "reason", None) or str(err)
        except Exception as err:  # a decoder bug must not stop the other files
            entry["error"] = f"unexpected error: {type(err).__name__}: {err}"
        else:
            entry.update(top=_top(probs, vocab, k), duration=float(out["duration"]), n_windows=int(out["n_images"]))
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
            lines.append(f"{r['file']:<{width}}  {r['duration']:7.2f} s  {tops}")
    return "\n".join(lines)
