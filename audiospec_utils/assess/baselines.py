"""The baselines the image approach is compared with: gradient boosting on log-mel statistics, a small CNN.

:func:`logmel_stats` summarises a clip's log-mel as per-band statistics, :func:`clip_features` computes
them for a clip table (in parallel, cached), :class:`GBMBaseline` fits scikit-learn's
:class:`~sklearn.ensemble.HistGradientBoostingClassifier` on them, and :func:`small_cnn` is the small
from-scratch CNN of the TensorFlow and Keras audio tutorials. :mod:`audiospec_utils.assess.compare` runs
them beside ResNet-34 on the same clips and split.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from ..audio.decode import load_audio
from ..audio.splits import Split
from ..exceptions import AudiospecError, ParameterError
from ..features.kinds import logmel
from ..features.params import SpectrogramParams
from ..fileio import atomic_path
from ..learn.inference import clip_predictions
from ..progress import show_progress

__all__ = ["STATS", "logmel_stats", "stats_feature_names", "clip_features", "GBMBaseline"]

logger = logging.getLogger(__name__)

#: Statistics computed per mel band by :func:`logmel_stats`, in this order.
STATS = ("mean", "std", "min", "max", "p10", "p50", "p90", "delta_mean_abs")


# ----------------------------------------------------------------------------------------------
# Classical baseline: statistics of the log-mel + gradient boosting


def logmel_stats(S_db: np.ndarray) -> np.ndarray:
    """Summary statistics of a log-mel spectrogram, per mel band: a fixed-length clip descriptor.

    The classical route to audio classification: describe each clip by statistics of its
    spectrogram over time, whatever its length, and give them to a tabular classifier.

    Parameters
    ----------
    S_db : np.ndarray, shape (n_mels, n_frames), float
        Log-mel in dB (:func:`audiospec_utils.features.logmel`), ``n_frames >= 1``.

    Returns
    -------
    np.ndarray, shape (len(STATS) * n_mels,), float32
        Statistic-major: first the ``n_mels`` band means (dB), then the standard deviations (dB),
        minima, maxima, 10th, 50th and 90th percentiles (dB), and the mean absolute change from
        one frame to the next (dB per frame; 0 for a single frame). :func:`stats_feature_names`
        names them.

    Raises
    ------
    ParameterError
        `S_db` is not 2-D or has no frame.
    """
    S = np.asarray(S_db, dtype=np.float64)
    if S.ndim != 2 or S.shape[1] < 1:
        raise ParameterError(f"S_db must have shape (n_mels, n_frames >= 1), got {S.shape}")
    p10, p50, p90 = np.percentile(S, [10, 50, 90], axis=1)
    delta = np.abs(np.diff(S, axis=1)).mean(axis=1) if S.shape[1] > 1 else np.zeros(S.shape[0])
    parts = [S.mean(axis=1), S.std(axis=1), S.min(axis=1), S.max(axis=1), p10, p50, p90, delta]
    return np.concatenate(parts).astype(np.float32)


def stats_feature_names(n_mels: int) -> list[str]:
    """Names of the columns of :func:`logmel_stats`: ``"<stat>_band<k>"``, statistic-major.

    Parameters
    ----------
    n_mels : int
        Number of mel bands.

    Returns
    -------
    list of str, length ``len(STATS) * n_mels``
    """
    return [f"{s}_band{k:03d}" for s in STATS for k in range(int(n_mels))]


def _stats_one(path: str, params) -> np.ndarray | None:
    try:
        y, sr = load_audio(path, sr=params.target_sr)
        return logmel_stats(logmel(y, sr, params))
    except AudiospecError:
        return None


def clip_features(table: pd.DataFrame, params=None, *, n_jobs: int = -1, cache=None,
                  progress: bool = False) -> np.ndarray:
    """:func:`logmel_stats` of every clip of a table, in parallel, cached on disk.

    Parameters
    ----------
    table : pandas.DataFrame
        Clip table with ``clip_id`` and ``path`` (audio file).
    params : SpectrogramParams or None
        Log-mel settings (``kind`` is ignored; the whole clip is used whatever ``clip_policy``
        says). Default: ``SpectrogramParams(n_mels=40)``.
    n_jobs : int
        joblib worker processes; ``-1`` = all cores. Fewer than 64 clips run in-process.
    cache : str or os.PathLike or None
        An ``.npz`` file: features already there for these parameters are reused, new ones added.
    progress : bool
        Show a progress bar.

    Returns
    -------
    np.ndarray, shape (len(table), len(STATS) * n_mels), float32
        One row per clip, in the table's order; a clip that cannot be decoded gets a row of NaN
        (gradient boosting copes with NaN; :func:`compare` leaves such clips out of the split).
    """
    from joblib import Parallel, delayed
    from tqdm.auto import tqdm

    params = dataclasses.replace(params or SpectrogramParams(n_mels=40), kind="logmel", cmap=None)
    n_feat = len(STATS) * params.n_mels
    key = params.to_json()
    known = {}
    cache = Path(cache) if cache is not None else None
    if cache is not None and cache.is_file():
        try:
            with np.load(cache, allow_pickle=False) as z:
                if str(z["params"]) == key:
                    known = dict(zip(z["clip_id"].tolist(), z["X"]))
        except (OSError, ValueError, KeyError):
            logger.warning("%s: unreadable feature cache, recomputing", cache)
    ids, paths = table["clip_id"].tolist(), table["path"].tolist()
    todo = [i for i, cid in enumerate(ids) if cid not in known]
    if todo:
        jobs = (delayed(_stats_one)(paths[i], params) for i in todo)
        runner = Parallel(n_jobs=n_jobs if len(todo) >= 64 else 1, batch_size=16)
        results = list(tqdm(runner(jobs), total=len(todo), desc="Log-mel statistics", disable=not show_progress(progress)))
        for i, feats in zip(todo, results):
            known[ids[i]] = np.full(n_feat, np.nan, np.float32) if feats is None else feats
        if cache is not None:
            all_ids = list(known)
            with atomic_path(cache) as tmp, open(tmp, "wb") as fh:  # a file object: np.savez adds no ".npz"
                np.savez(fh, clip_id=np.array(all_ids), X=np.stack([known[c] for c in all_ids]), params=np.array(key))
    if not ids:
        return np.zeros((0, n_feat), np.float32)
    return np.stack([known[c] for c in ids]).astype(np.float32)


class GBMBaseline:
    """Gradient boosting on log-mel statistics: the classical, image-free baseline.

    scikit-learn's :class:`~sklearn.ensemble.HistGradientBoostingClassifier` (histogram-based
    gradient boosting of decision trees, as LightGBM; one tree per class and iteration) on the
    :func:`logmel_stats` of each clip.

    Parameters
    ----------
    params : SpectrogramParams or None
        Log-mel settings of the statistics; default 40 mel bands (320 features).
    max_iter : int
        Most boosting iterations. With 500 training clips or more, 10% of them are held out for
        early stopping (after 10 iterations without improvement); fewer clips train all
        `max_iter` iterations.
    learning_rate : float
    min_samples_leaf : int or None
        Fewest training clips in a leaf; ``None``: scikit-learn's 20, lowered to a quarter of
        the mean number of training clips per label when that is smaller (so that a tiny set
        can still be split).
    seed : int
        ``random_state`` of the classifier (early-stopping split).
    n_jobs : int
        Processes computing the features (:func:`clip_features`).
    n_threads : int or None
        OpenMP threads of the boosting. Default 1: OpenMP threads spin while they wait, so on a
        small or shared CPU one thread is several times faster than two (measured here: 0.2 s
        against 1 s per iteration on 2,400 clips). ``None``: scikit-learn's default (all cores).
    cache : str or os.PathLike or None
        Feature cache file (see :func:`clip_features`).

    Attributes
    ----------
    method, feature, pretrained : str, str, bool
        ``"gbm"``, ``"logmel_stats"``, ``False`` (the row's identity in the table).
    model_ : HistGradientBoostingClassifier
        After :meth:`fit`.
    """

    method, feature, pretrained = "gbm", "logmel_stats", False

    def __init__(self, params=None, *, max_iter: int = 200, learning_rate: float = 0.1,
                 min_samples_leaf: int | None = None, seed: int = 42,
                 n_jobs: int = -1, n_threads: int | None = 1, cache=None, progress: bool = False):
        self.params = dataclasses.replace(params or SpectrogramParams(n_mels=40), kind="logmel", cmap=None)
        self.max_iter, self.learning_rate, self.seed = int(max_iter), float(learning_rate), int(seed)
        self.min_samples_leaf = min_samples_leaf
        self.n_jobs, self.n_threads, self.cache, self.progress = n_jobs, n_threads, cache, progress

    def prepare(self, table: pd.DataFrame) -> set:
        """Compute (or load) the features of every clip; return the ids of the usable clips.

        Parameters
        ----------
        table : pandas.DataFrame
            Clip table (``clip_id``, ``path``).

        Returns
        -------
        set of str
            Clips whose audio could be decoded.
        """
        X = clip_features(table, self.params, n_jobs=self.n_jobs, cache=self.cache, progress=self.progress)
        self.features_ = dict(zip(table["clip_id"], X))  # fit and predict look them up, never compute again
        return set(table["clip_id"][np.isfinite(X).all(axis=1)])

    def _X(self, clips):
        if all(c in getattr(self, "features_", {}) for c in clips["clip_id"]):
            return np.stack([self.features_[c] for c in clips["clip_id"]])
        return clip_features(clips, self.params, n_jobs=self.n_jobs, cache=self.cache)

    def fit(self, split: Split) -> "GBMBaseline":
        """Fit on the training clips of `split`.

        Returns
        -------
        GBMBaseline
            `self`, fitted.
        """
        from sklearn.ensemble import HistGradientBoostingClassifier
        from threadpoolctl import threadpool_limits

        train = split.train_clips
        X = self._X(train)
        y = train["label"].map({c: i for i, c in enumerate(split.vocab)}).to_numpy()
        leaf = self.min_samples_leaf or min(20, max(1, len(y) // (4 * len(split.vocab))))
        self.model_ = HistGradientBoostingClassifier(
            max_iter=self.max_iter, learning_rate=self.learning_rate, min_samples_leaf=leaf,
            early_stopping=len(y) >= 500,
            validation_fraction=0.1, n_iter_no_change=10, random_state=self.seed)
        with threadpool_limits(limits=self.n_threads, user_api="openmp"):
            self.model_.fit(X, y)
        self.vocab_ = list(split.vocab)
        return self

    def predict(self, split: Split) -> pd.DataFrame:
        """Class probabilities of the validation clips of `split`.

        Returns
        -------
        pandas.DataFrame
            One row per validation clip: ``clip_id``, ``label``, one column per class of
            ``split.vocab`` (probability), ``pred`` (best class); as
            :func:`audiospec_utils.learn.inference.clip_predictions`.
        """
        from threadpoolctl import threadpool_limits

        valid = split.valid_clips
        with threadpool_limits(limits=self.n_threads, user_api="openmp"):
            proba = self.model_.predict_proba(self._X(valid))
        full = np.zeros((len(valid), len(self.vocab_)))
        full[:, self.model_.classes_] = proba  # a class absent from training keeps probability 0
        return clip_predictions(full, valid, self.vocab_)


# ----------------------------------------------------------------------------------------------
# Image classifiers: a small CNN from scratch, and ResNet-34
