"""Cross-validation: one model per fold, each fold held out once; the field's way to compare recipes.

One validation split of a few dozen source recordings swings by tens of points from one draw to the
next; a recipe that wins on it may only have been lucky. Cross-validation trains one model per fold
with that fold held out as the test set (never trained on, never used to pick an epoch) and reports
the mean and standard deviation over the folds: UrbanSound8K's authors ask for exactly this on their
10 folds (Salamon, Jacoby and Bello, ACM MM 2014), ESC-50's for its 5 (Piczak, ACM MM 2015).

:func:`cross_validate` uses the data's own folds when it has them (the ``fold`` column) and otherwise
makes ``k`` grouped, stratified folds (:func:`audiospec_utils.audio.splits.assign_folds`: the clips of one
source recording stay in one fold). Each fold's run folder is ``OUT/fold_<k>/`` (a complete run:
``audiospec evaluate`` and ``interpret`` work on it); the table ``OUT/cv.csv`` has one row per fold
and two more, ``mean`` and ``std``; ``OUT/cv.png`` plots it. A fold that finished is read back when
the same command runs again (nothing is retrained), so an interrupted cross-validation continues.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd

from ..audio.splits import assign_folds, clip_table, split_clips
from ..exceptions import AudiospecError, DatasetError, ParameterError, TrainingInterrupted
from ..features.folders import RenderFolder, as_render_folder
from ..features.render import render_spectrograms
from ..fileio import read_finished_result, write_csv_atomic, write_json_atomic
from ..learn.config import TrainingConfig
from ..learn.estimator import SpectrogramClassifier
from ..learn.metrics import clip_scores
from ..learn.run import Run
from . import evaluate

__all__ = ["cross_validate", "CV_COLUMNS", "CV_TABLE", "CV_CHART", "FOLDS_TABLE", "FOLD_RESULT", "plot_cv",
           "split_leakage"]

logger = logging.getLogger(__name__)

#: Columns of ``cv.csv``.
CV_COLUMNS = ["fold", "accuracy", "map_at_3", "macro_f1", "n_train", "n_valid", "n_test", "valid_accuracy",
              "seconds", "error"]

#: The files of a cross-validation's output folder (each fold's run folder is ``fold_<k>/``).
CV_TABLE = "cv.csv"
CV_CHART = "cv.png"
FOLDS_TABLE = "folds.csv"
#: A finished fold's row, in its run folder (read back instead of training again).
FOLD_RESULT = "cv_result.json"

_VERSION = 1  # of a fold's cached result; bump when the protocol changes


def _parse_folds(folds) -> list[str] | None:
    if folds is None:
        return None
    if isinstance(folds, (int, np.integer)):
        return [str(int(folds))]
    if isinstance(folds, str):
        folds = [f for f in folds.split(",")]
    out = [str(f).strip() for f in folds if str(f).strip()]
    if not out:
        raise ParameterError("folds is empty; give fold names like 1,2,3")
    return out


def _fold_key(settings: dict, fold: str, fold_clips: list) -> str:
    h = hashlib.sha1(json.dumps({"v": _VERSION, "fold": fold, "settings": settings}, sort_keys=True,
                                default=str).encode())
    for cid in sorted(fold_clips):
        h.update(f"{cid}\n".encode())
    return h.hexdigest()[:16]


def _render_folder_of(source, out: Path, params, *, n_jobs: int, progress: bool) -> RenderFolder:
    """`source` itself when it is a render folder, else its audio rendered into ``out/spectrograms``."""
    folder = RenderFolder(source)
    if folder.exists():
        return folder
    spec = out / "spectrograms"
    render_spectrograms(source, spec, params, n_jobs=n_jobs, progress=progress)
    return RenderFolder(spec)


def _fold_of_clips(folder: RenderFolder, out: Path, *, k: int, seed: int) -> tuple[pd.Series, str]:
    """The fold of every training clip (the data's own, else `k` made here); written to ``folds.csv``.

    Returns
    -------
    fold_of : pandas.Series
        Fold name (str) by ``clip_id``.
    folds_from : {"data", "made"}
    """
    images = folder.training_images()
    clips = clip_table(images)
    if (clips["fold"] != "").all():
        fold_of, folds_from = clips.set_index("clip_id")["fold"], "data"
    else:
        if (clips["fold"] != "").any():
            logger.warning("%s: only some clips have a fold; making %d folds of all clips instead", folder.path, k)
        fold_of, folds_from = assign_folds(images, k, seed=seed), "made"
    write_csv_atomic(fold_of.rename("fold").reset_index().merge(clips[["clip_id", "label", "group"]], on="clip_id"),
                     out / FOLDS_TABLE)
    return fold_of, folds_from


def _chosen_folds(folds, fold_of: pd.Series, folder: RenderFolder) -> list[str]:
    """The folds to hold out: `folds` (checked against the data's), or every fold."""
    available = sorted(fold_of.unique(), key=lambda f: (len(f), f))
    wanted = _parse_folds(folds) or available
    unknown = [f for f in wanted if f not in available]
    if unknown:
        raise ParameterError(f"fold(s) {', '.join(unknown)} not in the data; its folds are {', '.join(available)}")
    if len(available) < 2:
        raise DatasetError(f"{folder.path}: cross-validation needs at least 2 folds; found {len(available)}")
    return wanted


def _finished_fold(result_file: Path, key: str) -> dict | None:
    """The row of a fold that finished with the same settings and clips, or None."""
    old = read_finished_result(result_file, key)
    return None if old is None else {c: old.get(c) for c in CV_COLUMNS}


def _run_fold(folder: RenderFolder, fold: str, fold_dir: Path, made_folds, *, seed: int, progress: bool, force: bool,
              train_options: dict) -> dict:
    """Train with `fold` held out, then score the held-out clips: one row of ``cv.csv``.

    `made_folds` is the fold of every clip when the folds were made here (None: the data's own).

    A fold that fails gets its error in the row (NaN scores); an interruption stops everything
    (running again resumes the fold at its next epoch).
    """
    from ..learn.train import train_classifier

    start = time.time()
    try:
        # an interrupted fold resumes at its next epoch (same settings); force starts it over
        _, m = train_classifier(folder.path, fold_dir, test_fold=fold, seed=seed, folds=made_folds, progress=progress,
                                restart=force, **train_options)
        t = evaluate.evaluate_run(Run(fold_dir), progress=progress)
    except (KeyboardInterrupt, TrainingInterrupted):  # stop cv; running it again resumes this fold
        raise
    except (AudiospecError, ValueError, RuntimeError) as err:
        logger.warning("fold %s failed: %s: %s", fold, type(err).__name__, err)
        return {"fold": fold, **{c: np.nan for c in CV_COLUMNS[1:-1]}, "error": f"{type(err).__name__}: {err}"}
    return {"fold": fold, "accuracy": t["accuracy"], "map_at_3": t["map_at_3"], "macro_f1": t["macro_f1"],
            "n_train": m["n_train"], "n_valid": m["n_valid"], "n_test": t["n_scored"],
            "valid_accuracy": m["accuracy"], "seconds": round(time.time() - start, 1), "error": ""}


def cross_validate(source, out_dir, *, folds=None, k: int = 5, seed: int | None = None, params=None, n_jobs: int = -1,
                   progress: bool = True, force: bool = False, config: TrainingConfig | None = None,
                   **train_options) -> pd.DataFrame:
    """Train and test one model per fold; write ``cv.csv`` (with mean and std) and ``cv.png``.

    Parameters
    ----------
    source : str or os.PathLike
        A render folder (``manifest.csv``), or audio that is rendered first into
        ``OUT/spectrograms/`` with `params` (UrbanSound8K, ESC-50, a CSV with ``fold``, a folder
        per class...: see :func:`audiospec_utils.audio.datasets.load_source`).
    out_dir : str or os.PathLike
        Output folder: ``cv.csv``, ``cv.png``, ``folds.csv`` (the fold of every clip), one run folder
        per fold (``fold_<k>/``).
    folds : str or sequence or None
        The folds to hold out, e.g. ``"1,2,3"`` (default: every fold).
    k : int
        Number of grouped, stratified folds to make when the data has no ``fold`` column.
    seed : int or None
        Seed of the folds made here, of the validation split inside each fold and of training
        (default: the configuration's, 42).
    params : SpectrogramParams or None
        How audio is rendered (ignored for a render folder).
    n_jobs : int
        Rendering processes.
    progress : bool
        Progress bars.
    force : bool
        Train again folds that already have a result.
    config : TrainingConfig or None
        The training of every fold (:class:`~audiospec_utils.learn.config.TrainingConfig`).
    **train_options
        Fields of the configuration that replace its own (``recipe``, ``epochs``, ``img_size``,
        ``pretrained``, ``weights``, ``spec_augment``, ``mixup``...), passed to
        :func:`audiospec_utils.learn.train.train_classifier`.

    Returns
    -------
    pandas.DataFrame
        :data:`CV_COLUMNS`, one row per fold then ``mean`` and ``std`` (sample standard deviation
        over the folds that ran): ``accuracy``, ``map_at_3``, ``macro_f1`` on the held-out fold (per
        clip, windows averaged), ``valid_accuracy`` (the validation score inside that fold's
        training, for comparison), clip counts, ``seconds`` (training and testing), ``error``
        (empty when the fold ran). ``attrs["folds_from"]``: ``"data"`` or ``"made"``.

    Raises
    ------
    DatasetError
        The source has no usable images, or too few groups for `k` folds.
    ParameterError
        A fold that the data does not have, `k` < 2, or a training option out of range.
    """
    for bad in ("test_fold", "valid_fold", "folds", "spec_dir", "out_dir"):
        if bad in train_options or (config is not None and getattr(config, bad, None) is not None):
            raise ParameterError(f"{bad} is set by cross_validate itself; remove it from the training options")
    if config is not None:  # the options it sets, as keywords (a finished fold is known by them)
        default = TrainingConfig()
        train_options = {**{f: getattr(config, f) for f in default.to_dict() if getattr(config, f) != getattr(default, f)},
                         **train_options}
    seed = int(train_options.pop("seed", 42) if seed is None else seed)
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    folder = _render_folder_of(source, out, params, n_jobs=n_jobs, progress=progress)
    fold_of, folds_from = _fold_of_clips(folder, out, k=k, seed=seed)
    wanted = _chosen_folds(folds, fold_of, folder)
    settings = {**{k_: v for k_, v in train_options.items() if k_ != "progress"}, "seed": seed,
                "spec_dir": str(folder.path), "folds_from": folds_from}
    rows = []
    for fold in wanted:
        fold_dir = out / f"fold_{fold}"
        fold_clips = fold_of.index[fold_of == fold].tolist()
        key = _fold_key(settings, fold, fold_clips)
        row = None if force else _finished_fold(fold_dir / FOLD_RESULT, key)
        if row is not None:
            logger.info("fold %s: done before, read back from %s", fold, fold_dir / FOLD_RESULT)
        else:
            logger.info("fold %s: training on the other folds (%d clips held out)", fold, len(fold_clips))
            row = _run_fold(folder, fold, fold_dir, fold_of if folds_from == "made" else None, seed=seed,
                            progress=progress, force=force, train_options=train_options)
            if not row["error"]:
                write_json_atomic(fold_dir / FOLD_RESULT, {**row, "key": key}, default=float)
        rows.append(row)
        _write_cv_table(rows, out)
    table = _write_cv_table(rows, out)
    import matplotlib.pyplot as plt

    fig = plot_cv(table, out / CV_CHART)
    plt.close(fig)
    table.attrs["folds_from"] = folds_from
    return table


def _write_cv_table(rows: list[dict], out: Path) -> pd.DataFrame:
    """cv.csv with the fold rows, then mean and std over the folds that ran (written atomically)."""
    df = pd.DataFrame(rows, columns=CV_COLUMNS)
    ok = df[df["error"].fillna("") == ""]
    num = [c for c in CV_COLUMNS if c not in ("fold", "error")]
    summary = []
    if len(ok):
        summary.append({"fold": "mean", **ok[num].astype(float).mean().round(4).to_dict(), "error": ""})
        summary.append({"fold": "std", **ok[num].astype(float).std(ddof=1).round(4).to_dict(), "error": ""})
    table = pd.concat([df, pd.DataFrame(summary, columns=CV_COLUMNS)], ignore_index=True) if summary else df
    per_fold = ~table["fold"].astype(str).isin(["mean", "std"])
    for col in ("n_train", "n_valid", "n_test"):  # clip counts of a fold are whole numbers
        table[col] = pd.Series([int(v) if f and pd.notna(v) else v for f, v in zip(per_fold, table[col])],
                               index=table.index, dtype=object)
    write_csv_atomic(table, out / CV_TABLE)
    return table


def plot_cv(table: pd.DataFrame, save_to=None):
    """Per-fold held-out accuracy and MAP@3, with the mean and one standard deviation.

    Parameters
    ----------
    table : pandas.DataFrame
        What :func:`cross_validate` returns (or ``cv.csv`` read back).
    save_to : str or os.PathLike or None
        Save the figure there (PNG, 110 dpi).

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    folds = table[~table["fold"].astype(str).isin(["mean", "std"])]
    x = np.arange(len(folds))
    fig, ax = plt.subplots(figsize=(max(5, 0.6 * len(folds) + 2), 3.5), constrained_layout=True)
    for off, col, colour, name in ((-0.2, "accuracy", "#4c72b0", "accuracy"), (0.2, "map_at_3", "#dd8452", "MAP@3")):
        vals = pd.to_numeric(folds[col], errors="coerce").to_numpy()
        ax.bar(x + off, np.nan_to_num(vals), width=0.4, color=colour, label=name)
        if np.isfinite(vals).sum() >= 1:
            m = np.nanmean(vals)
            s = np.nanstd(vals, ddof=1) if np.isfinite(vals).sum() > 1 else 0.0
            ax.axhline(m, color=colour, lw=1)
            ax.axhspan(m - s, m + s, color=colour, alpha=0.12)
    ax.set_xticks(x, [str(f) for f in folds["fold"]])
    ax.set(ylim=(0, 1), xlabel="held-out fold", ylabel="score on the held-out fold",
           title="Cross-validation: each fold tested once (line: mean, band: +/- 1 std)")
    ax.legend(loc="lower right", fontsize=8)
    if save_to is not None:
        fig.savefig(save_to, dpi=110)
    return fig


#: What :func:`split_leakage` trains by default: small and short, from scratch (a lesson, not a model).
LEAKAGE_CONFIG = TrainingConfig(arch="resnet34", epochs=4, img_size=32, bs=32, pretrained=False)


def split_leakage(spec_dir, config: TrainingConfig | None = None, *, max_slices_per_clip: int | None = None,
                  progress: bool = False, **options) -> pd.DataFrame:
    """Why a per-clip split lies: the same model validated per slice, then by source recording.

    Each window image of a render folder made with ``clip_policy="windows"`` is taken as a clip of
    its own (a *slice*, as UrbanSound8K's slices are cut from longer recordings), with its source
    clip as its group. The same model is trained twice on the training slices: once validated on a
    share of slices drawn **per slice** (groups ignored: slices of one recording on both sides),
    once on a share drawn **by recording** (:func:`audiospec_utils.audio.splits.split_clips`). Both are
    then scored on the test split, recordings neither has heard (each test clip's windows averaged).

    Parameters
    ----------
    spec_dir : str or os.PathLike
        A render folder with ``clip_policy="windows"`` (several images per clip) and a ``test``
        split (FSDKaggle2018, the mini dataset, a folder with ``test/``).
    config : TrainingConfig or None
        The training, the same for both models (default :data:`LEAKAGE_CONFIG`: ResNet-34 from
        scratch, 4 epochs at 32 px); its ``valid_pct`` and ``seed`` make both validation splits.
    max_slices_per_clip : int or None
        Train and validate on at most the first this many slices of each clip (a 30 s clip gives
        thirty 1 s slices: the long clips would otherwise make most of the data and the time).
        Test clips are always scored on all their windows.
    progress : bool
        Progress bars.
    **options
        Fields of :class:`~audiospec_utils.learn.config.TrainingConfig` that replace the configuration's.

    Returns
    -------
    pandas.DataFrame
        Two rows, ``"per slice (groups ignored)"`` and ``"by recording (grouped)"``, with
        ``valid_accuracy`` (what training reports), ``test_accuracy`` (new recordings), ``gap``
        (their difference: how much the validation score overstates), ``n_valid`` (slices),
        ``n_valid_recordings`` and ``recordings_on_both_sides`` (recordings with slices in training
        and in validation: 0 for the grouped split).

    Raises
    ------
    DatasetError
        The render folder has one image per clip (render it with ``clip_policy="windows"``), or
        no test split.
    ParameterError
        `max_slices_per_clip` below 2 (a clip needs two slices to be on both sides).
    """
    config = (config or LEAKAGE_CONFIG).replace(**options)
    folder = as_render_folder(spec_dir)
    images = folder.training_images()
    if images.groupby("clip_id").size().max() < 2:
        raise DatasetError(f"{folder.path}: one image per clip; render it with clip_policy='windows' (e.g. "
                           f"--clip-policy windows --duration 1) so that each clip gives several slices")
    test = folder.images(split="test", labelled=True)
    if test.empty:
        raise DatasetError(f"{folder.path}: no labelled test clips to score the two models on")
    if max_slices_per_clip is not None:
        if int(max_slices_per_clip) < 2:
            raise ParameterError(f"max_slices_per_clip must be at least 2, got {max_slices_per_clip!r}")
        images = images[pd.to_numeric(images["window"]) < int(max_slices_per_clip)]
    slices = images.copy()
    slices["group"] = slices["clip_id"]  # the source recording of each slice
    slices["clip_id"] = slices["image"]  # every slice a clip of its own
    recording_of = slices.drop_duplicates("clip_id").set_index("clip_id")["group"]
    rows = []
    for name, table in (("per slice (groups ignored)", slices.assign(group="")),
                        ("by recording (grouped)", slices)):
        split = split_clips(table, valid_pct=config.valid_pct, seed=config.seed, warn=False)
        # an experiment: no resume state nor history written into the render folder
        clf = SpectrogramClassifier(config).fit(folder, table=table, split=split, progress=progress)
        vocab = clf.classes_
        valid = clf.predict_proba()
        test_preds = clf.predict_proba(test[test["label"].isin(vocab)])
        v_acc = clip_scores(valid, vocab)["accuracy"]  # every validation label is in the vocabulary
        t_acc = clip_scores(test_preds, vocab)["accuracy"]
        rows.append({"validation split": name, "valid_accuracy": round(v_acc, 3), "test_accuracy": round(t_acc, 3),
                     "gap": round(v_acc - t_acc, 3), "n_valid": int(len(valid)),
                     "n_valid_recordings": int(recording_of.reindex(split.valid_ids).nunique()),
                     "recordings_on_both_sides": int(len(set(recording_of.reindex(split.valid_ids))
                                                         & set(recording_of.reindex(split.train_ids))))})
    return pd.DataFrame(rows)
