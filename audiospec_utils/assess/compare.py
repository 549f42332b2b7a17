"""Does the image approach earn its cost? Baselines and spectrogram kinds on the same clips and split.

Write-ups of "audio classification as image classification" each report one number on their own
data: a gradient-boosting classifier on mel spectrograms, a small CNN trained from scratch on STFT
magnitudes (the TensorFlow "simple audio recognition" tutorial), an ImageNet network fine-tuned on
mel images (the fastai approach of this course). None compares them on the same clips. This module
fits them all on **one** clip table, **one** train/validation split (drawn once per clip with
:func:`audiospec_utils.audio.splits.split_clips`: grouped by source recording when the data says which clip
comes from which, never per clip then) and **one** seed, and scores every row with the same
three metrics on the same validation clips.

The rows (:data:`ROWS`)
-----------------------
``gbm``
    Classical baseline: summary statistics of each clip's log-mel (:func:`logmel_stats`: per mel
    band the mean, standard deviation, min, max, 10th/50th/90th percentile and mean absolute
    frame-to-frame change, 8 x 40 = 320 numbers) fed to scikit-learn's
    :class:`~sklearn.ensemble.HistGradientBoostingClassifier` (:class:`GBMBaseline`). No image,
    no GPU, no pretrained weights.
``small_cnn``
    Four conv-batchnorm-ReLU-maxpool blocks, global average pooling and one linear layer
    (:func:`small_cnn`, about 100 k weights, as in the TensorFlow and Keras audio tutorials),
    trained from scratch with fastai on the same log-mel images and DataLoaders as ResNet-34.
``resnet34_logmel``
    The course's model: ResNet-34 on log-mel images, from ImageNet weights when they are
    available (``fine_tune``), else from scratch (``fit_one_cycle``); the ``pretrained`` column
    says which.
``resnet34_stft``, ``resnet34_mfcc``, ``resnet34_chroma``, ``resnet34_stack``
    The same ResNet-34 recipe on the other spectrogram kinds of
    :class:`audiospec_utils.features.SpectrogramParams` (``kind``): linear-frequency STFT in
    dB, MFCCs, chroma, and the 3-channel stack (log-mel and its two time derivatives as RGB).
    Each kind is rendered into its own folder, ``OUT/spectrograms/<kind>/``.

Metrics, per clip on the validation split: accuracy, MAP@3
(:func:`audiospec_utils.learn.metrics.map_at_k`, the FSDKaggle2018 metric) and macro-averaged F1
(:func:`sklearn.metrics.f1_score`, ``average="macro"``: every label counts the same, however
rare). ``train_seconds`` is the fitting alone; ``predict_ms_per_clip`` is the inference on the
validation clips (for the CNNs with reading and resizing their images) divided by their number.
Neither includes decoding the audio and computing its spectrogram or statistics, which every row
needs (2-6 ms per short clip on one core) and which is done once per kind and cached.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

from ..audio.clip_table import COLUMNS as CLIP_COLUMNS
from ..audio.clip_table import sample_per_label
from ..audio.datasets import load_source
from ..audio.splits import Split, split_clips
from ..exceptions import AudiospecError, DatasetError, ParameterError, WeightsUnavailableError
from ..features.params import SpectrogramParams, with_fixed_rate
from ..fileio import read_finished_result, write_csv_atomic, write_json_atomic
from ..learn.config import TrainingConfig
from ..learn.estimator import load_imagenet_weights
from ..learn.metrics import clip_scores
from ..learn.run import Run
from .baselines import GBMBaseline
from .image_classifier import ImageClassifier, check_positive_ints

__all__ = ["COMPARE_CONFIG", "ROWS", "ROW_GROUPS", "COLUMNS", "COMPARISON_TABLE", "COMPARISON_CHART", "ROW_RESULT",
           "score_clip_predictions", "evaluate", "compare", "plot_comparison", "select_rows"]

logger = logging.getLogger(__name__)

#: Rows of the comparison: id -> (method, feature). ``feature`` is the spectrogram kind the method
#: sees (``"logmel_stats"``: statistics of the log-mel, see :func:`logmel_stats`).
ROWS = {
    "gbm": ("gbm", "logmel_stats"),
    "small_cnn": ("small_cnn", "logmel"),
    "resnet34_logmel": ("resnet34", "logmel"),
    "resnet34_stft": ("resnet34", "stft"),
    "resnet34_mfcc": ("resnet34", "mfcc"),
    "resnet34_chroma": ("resnet34", "chroma"),
    "resnet34_stack": ("resnet34", "stack"),
}

#: Names that select several rows at once (``audiospec compare --method baselines``).
ROW_GROUPS = {
    "all": tuple(ROWS),
    "baselines": ("gbm", "small_cnn", "resnet34_logmel"),
    "kinds": tuple(r for r in ROWS if r.startswith("resnet34_")),
}

#: Columns of ``comparison.csv``; ``error`` is empty for the rows that ran.
COLUMNS = ["row", "method", "feature", "pretrained", "accuracy", "map_at_3", "macro_f1", "train_seconds",
           "predict_ms_per_clip", "n_train", "n_valid", "error"]

#: The files of a comparison's output folder; each row has its folder ``rows/<row>/`` (with
#: :data:`ROW_RESULT`, ``valid_predictions.csv`` and ``history.csv``), the split is ``split.csv``.
COMPARISON_TABLE = "comparison.csv"
COMPARISON_CHART = "comparison.png"
ROW_RESULT = "result.json"

_VERSION = 1  # of the cached row results; bump when a method changes


def select_rows(methods=None) -> list[str]:
    """Expand row ids and group names into the list of rows to run, in :data:`ROWS` order.

    Parameters
    ----------
    methods : iterable of str, or str, or None
        Row ids (:data:`ROWS`) and group names (:data:`ROW_GROUPS`: ``all``, ``baselines``,
        ``kinds``); a string may hold several, separated by commas. ``None``: every row.

    Returns
    -------
    list of str
        Row ids, each once.

    Raises
    ------
    ParameterError
        An unknown name.
    """
    if methods is None:
        return list(ROWS)
    if isinstance(methods, str):
        methods = [methods]
    wanted = set()
    for item in methods:
        for name in str(item).split(","):
            name = name.strip()
            if not name:
                continue
            if name in ROW_GROUPS:
                wanted.update(ROW_GROUPS[name])
            elif name in ROWS:
                wanted.add(name)
            else:
                raise ParameterError(f"unknown method {name!r}; choose among {', '.join([*ROWS, *ROW_GROUPS])}")
    if not wanted:
        raise ParameterError("no method selected")
    return [r for r in ROWS if r in wanted]


# ----------------------------------------------------------------------------------------------
# Scores, the rows, the chart


def score_clip_predictions(clip_preds: pd.DataFrame, vocab) -> dict:
    """Accuracy, MAP@3 and macro F1 of per-clip predictions (:func:`audiospec_utils.learn.metrics.clip_scores`).

    Parameters
    ----------
    clip_preds : pandas.DataFrame
        ``label`` and one probability column per class of `vocab` (one row per clip), as
        :meth:`GBMBaseline.predict` and :meth:`ImageClassifier.predict` return.
    vocab : sequence of str
        The classes, in column order.

    Returns
    -------
    dict
        ``accuracy`` (fraction of clips whose best class is right), ``map_at_3``
        (:func:`audiospec_utils.learn.metrics.map_at_k` with k = 3), ``macro_f1``
        (:func:`sklearn.metrics.f1_score` with ``average="macro"`` over the labels of `vocab`;
        a label never predicted scores 0), and ``n_valid`` (clips); floats in [0, 1].

    Raises
    ------
    DatasetError
        No clip with a label of `vocab`.
    """
    vocab = list(vocab)
    known = clip_preds[clip_preds["label"].isin(vocab)]
    if known.empty:
        raise DatasetError("no validation clip with a known label to score")
    scores = clip_scores(known, vocab, macro_f1=True)
    return {"accuracy": scores["accuracy"], "map_at_3": scores["map_at_3"], "macro_f1": scores["macro_f1"],
            "n_valid": int(len(known))}


#: The name of :func:`score_clip_predictions` in earlier versions.
evaluate = score_clip_predictions


def _resolve_pretrained(pretrained, weights, arch="resnet34") -> tuple[bool, str, str]:
    """(use ImageNet weights, note, error): `pretrained` None = when available; error when required."""
    if pretrained is False:
        return False, "from scratch (pretrained=False)", ""
    try:
        load_imagenet_weights(arch, weights)
    except WeightsUnavailableError as err:
        first = str(err).splitlines()[0]
        if pretrained:
            return True, "ImageNet weights required but unavailable", f"WeightsUnavailableError: {first}"
        logger.warning("ImageNet weights unavailable (%s): the ResNet-34 rows train from scratch", first)
        return False, f"from scratch: ImageNet weights unavailable ({first})", ""
    return True, "ImageNet weights" + (f" from {weights}" if weights else ""), ""


@dataclasses.dataclass
class _RowFactory:
    """How the rows of one comparison are built, and the settings that identify a row's result."""

    out_dir: Path
    base: SpectrogramParams
    epochs: int
    img_size: int
    bs: int
    crop_seconds: float | None
    seed: int
    n_jobs: int
    progress: bool
    use_pretrained: bool
    weights: object

    def model(self, row: str):
        """The row's model (not yet prepared): a :class:`GBMBaseline` or an :class:`ImageClassifier`."""
        method, feature = ROWS[row]
        if method == "gbm":
            return GBMBaseline(dataclasses.replace(self.base, n_mels=40, kind="logmel", cmap=None), seed=self.seed,
                               n_jobs=self.n_jobs, cache=self.out_dir / "features" / "logmel_stats.npz",
                               progress=self.progress)
        kind_params = dataclasses.replace(self.base, kind=feature, cmap=None)  # ParameterError if unknown kind
        return ImageClassifier(self.out_dir / "spectrograms" / feature, method, params=kind_params, epochs=self.epochs,
                               img_size=self.img_size, bs=self.bs, crop_seconds=self.crop_seconds,
                               pretrained=self.use_pretrained and method == "resnet34",
                               weights=self.weights if self.use_pretrained else None,  # none for a row from scratch
                               path=self.out_dir / "rows" / row, n_jobs=self.n_jobs, progress=self.progress)

    def settings(self, model) -> dict:
        """What a row's cached result must match: the model's rendering and training settings."""
        settings = {"params": json.loads(model.params.to_json())}
        if model.method == "gbm":
            settings.update(max_iter=model.max_iter, learning_rate=model.learning_rate)
        else:
            settings.update(epochs=int(self.epochs), img_size=int(self.img_size), bs=int(self.bs),
                            crop_seconds=self.crop_seconds,
                            weights=str(self.weights) if self.weights and model.pretrained else None)
        return settings


def _write_table(rows: list[dict], out_dir: Path) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=COLUMNS)
    write_csv_atomic(df, out_dir / COMPARISON_TABLE)
    return df


def _row_label(r) -> str:
    names = {"gbm": "Gradient boosting", "small_cnn": "Small CNN", "resnet34": "ResNet-34"}
    label = f"{names.get(r['method'], r['method'])}\n{r['feature']}"
    if r["method"] not in ("gbm", "small_cnn"):
        label += " (ImageNet)" if r["pretrained"] else " (scratch)"
    return label


def plot_comparison(table: pd.DataFrame, save_to=None, *, title: str | None = None):
    """Horizontal bar chart of accuracy and MAP@3 per row of a comparison.

    Parameters
    ----------
    table : pandas.DataFrame
        What :func:`compare` returns (or ``comparison.csv`` read back). Rows that failed are
        drawn without bars and marked "failed".
    save_to : str or os.PathLike or None
        Save the figure there (PNG, 110 dpi).
    title : str or None

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    df = table.reset_index(drop=True)
    n = len(df)
    fig, ax = plt.subplots(figsize=(8, 1.0 + 0.62 * max(n, 1)))
    ypos = np.arange(n)[::-1]
    h = 0.38
    bars_spec = ((h / 2, "accuracy", "#4c72b0", "accuracy"), (-h / 2, "map_at_3", "#dd8452", "MAP@3"))
    for off, col, colour, name in bars_spec:
        vals = pd.to_numeric(df[col], errors="coerce").fillna(0).to_numpy() if n else np.zeros(0)
        bars = ax.barh(ypos + off, vals, height=h, color=colour, label=name)
        for bar, v, err in zip(bars, vals, df.get("error", pd.Series([""] * n)).fillna("")):
            if not err:
                ax.text(v + 0.005, bar.get_y() + bar.get_height() / 2, f"{v:.3f}", va="center", fontsize=8)
    for y, err in zip(ypos, df.get("error", pd.Series([""] * n)).fillna("")):
        if err:
            ax.text(0.01, y, f"failed: see {COMPARISON_TABLE}", va="center", fontsize=8, color="firebrick")
    ax.set_yticks(ypos, [_row_label(r) for _, r in df.iterrows()], fontsize=8)
    ax.set_xlim(0, 1.1)
    ax.set_xlabel("validation score (same clips for every row)")
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title(title or "Baselines and spectrogram kinds on one split")
    fig.tight_layout()
    if save_to is not None:
        fig.savefig(save_to, dpi=110)
    return fig


# ----------------------------------------------------------------------------------------------
# The whole comparison, step by step


def _check_settings(*, epochs, img_size, bs, valid_pct) -> None:
    """Refuse settings out of range (ParameterError) before any work."""
    check_positive_ints(epochs=epochs, img_size=img_size, bs=bs)
    if img_size < 16:
        raise ParameterError(f"img_size must be at least 16 pixels, got {img_size}")
    if not 0 < valid_pct < 1:
        raise ParameterError(f"valid_pct must be between 0 and 1 (exclusive), got {valid_pct!r}")


def _labelled_training_clips(source, *, n_per_label: int | None, seed: int) -> pd.DataFrame:
    """The labelled training clips of `source` (at most `n_per_label` per label), sorted by id.

    Raises
    ------
    DatasetError
        The clip table lacks a column, or has no labelled training clip.
    """
    table = load_source(source) if isinstance(source, (str, os.PathLike)) else source.copy()
    missing = [c for c in CLIP_COLUMNS if c not in table.columns]
    if missing:
        raise DatasetError(f"clip table lacks column(s) {', '.join(missing)}")
    table = table[(table["split"] == "train") & (table["label"] != "")]
    if n_per_label is not None:
        table = sample_per_label(table, n_per_label, seed=seed)
    for col in ("group", "fold"):
        if col not in table.columns:
            table[col] = ""
    table = table[CLIP_COLUMNS + ["group", "fold"]].sort_values("clip_id", kind="stable").reset_index(drop=True)
    if table.empty:
        raise DatasetError(f"{source}: no labelled training clips")
    return table


def _prepare_rows(rows: list[str], factory: _RowFactory, table: pd.DataFrame,
                  weights_error: str) -> tuple[dict, dict, set]:
    """Build every row's model and render (or compute the features of) each feature once.

    Returns
    -------
    models : dict
        Row -> model, for the rows that could be prepared.
    errors : dict
        Row -> why it cannot run.
    usable : set of str
        The clips every prepared feature could use.
    """
    models, errors, usable, prepared = {}, {}, set(table["clip_id"]), {}
    for row in rows:
        method, feature = ROWS[row]
        if method == "resnet34" and weights_error:
            errors[row] = weights_error
            continue
        try:
            models[row] = factory.model(row)
            if feature not in prepared:
                start = time.time()
                prepared[feature] = models[row].prepare(table)
                logger.info("%s: %d of %d clips ready in %.0f s", feature, len(prepared[feature]), len(table),
                            time.time() - start)
            usable &= prepared[feature]
        except (AudiospecError, ValueError, TypeError, OSError) as err:  # TypeError: no such parameter
            errors[row] = f"{type(err).__name__}: {err}"
            logger.warning("%s: cannot prepare (%s)", row, errors[row])
    return models, errors, usable


def _run_rows(rows: list[str], models: dict, errors: dict, split: Split, factory: _RowFactory, *,
              force: bool) -> pd.DataFrame:
    """Fit and score every row in turn (``comparison.csv`` rewritten after each); the table."""
    results = []
    for row in rows:
        method, feature = ROWS[row]
        model = models.get(row)
        res = {"row": row, "method": method, "feature": feature,
               "pretrained": bool(getattr(model, "pretrained", method == "resnet34" and factory.use_pretrained)),
               "accuracy": np.nan, "map_at_3": np.nan, "macro_f1": np.nan, "train_seconds": np.nan,
               "predict_ms_per_clip": np.nan,
               "n_train": len(split.train_clips), "n_valid": len(split.valid_clips), "error": errors.get(row, "")}
        if model is not None and not res["error"]:
            res.update(_run_row(row, model, split, factory.out_dir / "rows" / row, force=force,
                                settings=factory.settings(model)))
            for attr in ("learn_", "dls_", "model_"):  # free each row's model before the next one
                if hasattr(model, attr):
                    delattr(model, attr)
        results.append(res)
        _write_table(results, factory.out_dir)
    return _write_table(results, factory.out_dir)


#: The training of ``audiospec compare``'s image rows by default (``--epochs`` and the rest): short, small
#: images; ``pretrained`` unset: ImageNet weights when they can be had (or ``weights``), else from scratch.
COMPARE_CONFIG = TrainingConfig(epochs=3, img_size=64, bs=64, pretrained=None)


def compare(source, out_dir, *, methods=None, epochs: int = COMPARE_CONFIG.epochs,
            img_size: int = COMPARE_CONFIG.img_size, bs: int = COMPARE_CONFIG.bs,
            crop_seconds: float | None = COMPARE_CONFIG.crop_seconds, seed: int = COMPARE_CONFIG.seed,
            valid_pct: float = COMPARE_CONFIG.valid_pct, n_per_label: int | None = None, params=None,
            pretrained: bool | None = COMPARE_CONFIG.pretrained, weights=None, n_jobs: int = -1, force: bool = False,
            progress: bool = True) -> pd.DataFrame:
    """Fit every baseline and spectrogram kind on the same clips and split; write the table and chart.

    Steps: load the clips (labelled training clips only), render every kind the selected rows need
    into ``out_dir/spectrograms/<kind>/`` and compute the GBM's statistics (both resumable),
    keep the clips that every one of them could use, draw the validation split once
    (:func:`audiospec_utils.audio.splits.split_clips`: grouped when the source has groups), then fit and
    score each row (:data:`ROWS`). A row that fails records
    its error and the run goes on. Each row's result is kept in ``out_dir/rows/<row>/``
    (``result.json``, ``valid_predictions.csv``, ``history.csv``); run again with the same
    settings and finished rows are read back, not retrained (``force=True`` retrains them).

    Parameters
    ----------
    source : str or os.PathLike or pandas.DataFrame
        Folder per class, CSV (``fname,label``), FSDKaggle2018 root, or a clip table.
    out_dir : str or os.PathLike
        Output folder: ``comparison.csv``, ``comparison.png``, ``split.csv``, ``rows/``,
        ``spectrograms/``, ``features/``.
    methods : iterable of str or None
        Rows (:data:`ROWS`) or groups (:data:`ROW_GROUPS`); default all seven.
    epochs : int
        Epochs of every CNN row (one-cycle; pretrained ResNets get one frozen epoch more).
    img_size, bs : int
        Image height in pixels and batch size of the CNN rows.
    crop_seconds : float or None
        Length (s) of the CNN rows' training crops and validation windows; None: from the clips'
        durations (:func:`audiospec_utils.learn.dataloaders.default_crop_seconds`).
    seed : int
        Seed of the split, the training of every row and the GBM.
    valid_pct : float
        Fraction of each label's clips in the validation split.
    n_per_label : int or None
        Keep at most this many clips per label (sampled with `seed`) for a quicker run.
    params : SpectrogramParams or None
        Base rendering settings (``sr``, ``n_fft``, ``hop_length``, ``n_mels``, ``width``...); each
        kind replaces ``kind`` (and drops ``cmap``). The GBM's statistics use 40 mel bands of the
        same STFT. Default: the course's defaults.
    pretrained : bool or None
        ResNet rows: ``None`` (default) ImageNet weights when they can be loaded (`weights`, the
        torch hub cache, or a download), else from scratch with a warning; ``True`` require them
        (the ResNet rows fail without); ``False`` from scratch. The ``pretrained`` column says
        what was used.
    weights : str or os.PathLike or None
        Local ImageNet ResNet-34 weights file.
    n_jobs : int
        Processes rendering and computing features (``-1``: all cores).
    force : bool
        Retrain rows that already have a result.
    progress : bool
        Progress bars.

    Returns
    -------
    pandas.DataFrame
        The table written to ``comparison.csv``, one row per selected row, columns
        :data:`COLUMNS`: ``row``, ``method``, ``feature``, ``pretrained`` (bool), ``accuracy``,
        ``map_at_3``, ``macro_f1`` (per validation clip), ``train_seconds`` (s, fitting only),
        ``predict_ms_per_clip`` (ms, inference only), ``n_train``, ``n_valid`` (clips) and
        ``error`` (empty when the row ran; then the scores are NaN).

    Raises
    ------
    DatasetError
        The source has no labelled clips, fewer than two labels, or no clip usable by every row.
    ParameterError
        A setting out of range or an unknown method.

    Notes
    -----
    Cost, measured on a 2-core AVX2 CPU (no GPU, float32) with the defaults (``epochs=3``,
    ``img_size=64``, ``bs=64``, ResNet-34 from scratch, crops from the clips' durations) on 3,033
    real 0.5 s clips (FSDKaggle2018 slices, 10 labels; 2,427 training and 606 validation clips):
    **17 min 10 s** in all (21 min 37 s with ``bs=32``). The five ResNet-34 rows are nine tenths
    of it: 168-196 s of training each (226-242 s with ``bs=32``: at these image sizes a step
    costs about the same at 48 or 64 pixels, and half the steps over 21.8 million weights save
    about a quarter), 7-9 ms per clip to predict; ``gbm`` 23 s, ``small_cnn`` 17 s; the five
    renders under two minutes (once; resumable). Time grows linearly with clips and epochs; with
    ImageNet weights each ResNet row has one frozen epoch more (cheaper than a full one). Three
    epochs leave a ResNet-34 trained from scratch short of its best (0.70 on those clips, as the
    GBM): compare the baselines alone with more epochs (``methods=["baselines"], epochs=8``) to
    see what more training buys.
    """
    rows = select_rows(methods)
    _check_settings(epochs=epochs, img_size=img_size, bs=bs, valid_pct=valid_pct)
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    table = _labelled_training_clips(source, n_per_label=n_per_label, seed=seed)
    base = with_fixed_rate(params or SpectrogramParams(), table["path"])  # one rate, one frequency axis, every row

    need_resnet = any(ROWS[r][0] == "resnet34" for r in rows)
    use_pretrained, note, weights_error = _resolve_pretrained(pretrained, weights) if need_resnet else (False, "", "")
    factory = _RowFactory(out_dir, base, epochs=epochs, img_size=img_size, bs=bs, crop_seconds=crop_seconds,
                          seed=seed, n_jobs=n_jobs, progress=progress, use_pretrained=use_pretrained, weights=weights)
    models, errors, usable = _prepare_rows(rows, factory, table, weights_error)
    table = table[table["clip_id"].isin(usable)].reset_index(drop=True)
    if table.empty:
        raise DatasetError("no clip could be used by every selected method; see the render manifests")
    split = split_clips(table, valid_pct=valid_pct, seed=seed)
    write_csv_atomic(split.clips[["clip_id", "label", "group", "fold", "side"]], out_dir / Run.SPLIT)
    logger.info("split: %d training and %d validation clips, %d labels (fingerprint %s)",
                len(split.train_clips), len(split.valid_clips), len(split.vocab), split.fingerprint())

    df = _run_rows(rows, models, errors, split, factory, force=force)
    import matplotlib.pyplot as plt

    fig = plot_comparison(df, out_dir / COMPARISON_CHART,
                          title=f"{len(split.clips)} clips, {len(split.vocab)} labels, {len(split.valid_clips)} "
                                f"validation clips; {epochs} epochs, {img_size} px")
    plt.close(fig)
    df.attrs["split"] = split
    df.attrs["pretrained_note"] = note
    return df


def _read_row_result(result_file: Path, key: dict) -> dict | None:
    """The scores of a row that finished with the same settings and split, or None."""
    old = read_finished_result(result_file, key)
    try:
        return None if old is None else {k: old[k] for k in ("accuracy", "map_at_3", "macro_f1", "train_seconds",
                                                             "predict_ms_per_clip", "n_train", "n_valid", "pretrained")}
    except KeyError:
        return None


def _run_row(row: str, model, split: Split, row_dir: Path, *, force: bool, settings: dict) -> dict:
    """Fit, predict and score one row, or read back its earlier result; errors become a field."""
    key = {"version": _VERSION, "row": row, "split": split.fingerprint(), "seed": split.seed,
           "pretrained": bool(model.pretrained), **settings}
    result_file = row_dir / ROW_RESULT
    old = None if force else _read_row_result(result_file, key)
    if old is not None:
        logger.info("%s: done before, read back from %s", row, result_file)
        return old
    row_dir.mkdir(parents=True, exist_ok=True)
    logger.info("%s: fitting %s on %s", row, model.method, model.feature)
    try:
        start = time.perf_counter()
        model.fit(split)
        train_seconds = time.perf_counter() - start
        start = time.perf_counter()
        preds = model.predict(split)
        predict_s = time.perf_counter() - start
        scores = score_clip_predictions(preds, split.vocab)
    except KeyboardInterrupt:
        raise
    except Exception as err:  # one row's failure must not stop the comparison
        logger.warning("%s failed: %s: %s", row, type(err).__name__, err, exc_info=logger.isEnabledFor(logging.DEBUG))
        return {"error": f"{type(err).__name__}: {err}"}
    write_csv_atomic(preds, row_dir / Run.VALID_PREDICTIONS)
    out = {"accuracy": scores["accuracy"], "map_at_3": scores["map_at_3"], "macro_f1": scores["macro_f1"],
           "train_seconds": round(train_seconds, 2),
           "predict_ms_per_clip": round(1000 * predict_s / max(scores["n_valid"], 1), 3),
           "n_train": int(len(split.train_clips)), "n_valid": scores["n_valid"], "pretrained": bool(model.pretrained)}
    write_json_atomic(result_file, {**out, "error": "", "key": key}, default=str)
    logger.info("%s: accuracy %.3f, MAP@3 %.3f, macro F1 %.3f (%.0f s)", row, out["accuracy"], out["map_at_3"],
                out["macro_f1"], train_seconds)
    return out
