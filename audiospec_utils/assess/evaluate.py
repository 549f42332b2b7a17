"""Score a trained run on a test split, per clip, and write a Kaggle submission.

FSDKaggle2018's competition ("Freesound General-Purpose Audio Tagging Challenge", Kaggle, 2018)
scored 1,600 test clips of 0.3-30 s by MAP@3: for each clip the submission lists three labels,
best first, and the true label earns 1, 1/2 or 1/3 by its rank (:func:`audiospec_utils.learn.metrics.map_at_k`).
The baseline scored 0.694, the winner 0.954.

:func:`evaluate_run` predicts every test clip (the probabilities of all windows of a clip are
averaged), scores the labelled ones (accuracy, MAP@3, per-label precision / recall / F1 with
scikit-learn), and writes ``submission.csv`` with one row for **every** test clip: a clip whose
audio could not be loaded or rendered (the real test set has three empty WAVs: 0b0427e2.wav,
6ea0099f.wav, b39975f5.wav) gets the three most frequent training labels, and a warning names it.

Which clips are the test set: a run trained with a held-out fold (``train --test-fold K``) is scored
on fold K (of its own render folder, or of the `source` given); otherwise the ``test`` split
(FSDKaggle2018's 1,600 scored clips, a folder's ``test/`` sub-folder); a source without either is
evaluated whole. The accuracy comes with a 95% interval from a bootstrap over groups (source
recordings), as the validation score does.
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from ..audio.datasets import load_source
from ..audio.fsdkaggle2018 import SCORED_USAGES
from ..exceptions import DatasetError
from ..explain.interpret import per_class_report
from ..features.folders import MANIFEST, RenderFolder, as_render_folder
from ..features.params import warn_rate_dependent
from ..features.render import render_spectrograms
from ..fileio import write_csv_atomic, write_json_atomic
from ..learn.inference import clip_predictions, image_probabilities
from ..learn.metrics import clip_score_intervals, clip_scores
from ..learn.run import Run, as_run
from ..ranking import top_k_labels

__all__ = ["load_test_split", "fallback_labels", "evaluate_run", "write_submission", "format_test_score",
           "format_interval", "per_class_table"]

logger = logging.getLogger(__name__)


def fallback_labels(run, vocab, k: int = 3) -> list[str]:
    """The `k` most frequent training labels of a run (ties: alphabetical).

    Taken from ``metrics.json["train_label_counts"]``; for runs trained before it was recorded,
    counted in the run's render folder train rows; as a last resort the first `k` labels of `vocab`.

    Parameters
    ----------
    run : Run or str or os.PathLike
    vocab : sequence of str
        The run's labels.
    k : int

    Returns
    -------
    list of str
        At most `k` labels, all in `vocab`.
    """
    run = as_run(run)
    vocab = list(vocab)
    metrics = run.metrics if run.file(Run.METRICS).is_file() else {}
    counts = metrics.get("train_label_counts")
    if not counts and metrics.get("spec_dir") and run.render_folder.exists():
        man = run.render_folder.images(split="train", labelled=True).drop_duplicates("clip_id")
        counts = man["label"].value_counts().to_dict()
    if not counts:
        return vocab[:k]
    ranked = sorted(((lab, n) for lab, n in counts.items() if lab in vocab), key=lambda kv: (-kv[1], kv[0]))
    labels = [lab for lab, _ in ranked][:k]
    return labels + [v for v in vocab if v not in labels][:k - len(labels)]


# ----------------------------------------------------------------------------------------------
# The test clips


def _test_rows(table, test_fold, where) -> tuple:
    """The test clips of a manifest or clip table: fold `test_fold`, else split "test", else all."""
    if test_fold is not None:
        if "fold" in table.columns and (table["fold"].astype(str) == str(test_fold)).any():
            return table[table["fold"].astype(str) == str(test_fold)], f"fold {test_fold}"
        raise DatasetError(f"{where}: the run held out fold {test_fold} for testing, but this data has no clip "
                           f"in fold {test_fold}")
    test = table[table["split"] == "test"]
    if test.empty:
        return None, "no test split"
    return test, "the test split"


def _same_folder(folder: RenderFolder, run: Run) -> bool:
    try:
        return run.render_folder.path == folder.path
    except DatasetError:
        return False


def _rendered_test_rows(folder: RenderFolder, run: Run, params, test_fold) -> tuple[pd.DataFrame, str]:
    """The test rows of a render folder's manifest, and which clips they are in words.

    The run's own render folder gives the clips its ``split.csv`` held out (folds made by ``cv``
    too); another render folder, its fold `test_fold` or its ``test`` split.
    """
    diff = folder.params_difference(params)
    if diff:
        said = ", ".join(f"{k} {theirs!r} (run: {ours!r})" for k, (theirs, ours) in diff.items())
        raise DatasetError(f"{folder.path}: rendered with other spectrogram parameters than the run ({said}); "
                           f"evaluate on the audio instead, it is rendered with the run's parameters")
    man = folder.manifest()
    if test_fold is not None and run.file(Run.SPLIT).is_file() and _same_folder(folder, run):
        split = run.split_table()
        held_out = set(split.loc[split["side"] == "test", "clip_id"])
        return man[man["clip_id"].isin(held_out)], f"fold {test_fold}"
    man, selected = _test_rows(man, test_fold, folder.manifest_file)
    if man is None:
        raise DatasetError(f"{folder.manifest_file}: no rows with split == 'test'; render a dataset with a "
                           f"test split (FSDKaggle2018, or a folder with test/<label>/ sub-folders), or train "
                           f"with --test-fold on data with folds")
    return man, selected


def _render_test_clips(source: Path, run: Run, params, test_fold, *, spec_out, n_jobs: int,
                       progress: bool) -> tuple[pd.DataFrame, str, RenderFolder]:
    """Render the test clips of an audio source with the run's parameters: (manifest, selected, folder)."""
    table = load_source(source)
    test, selected = _test_rows(table, test_fold, source)
    if test is None:
        logger.info("%s has no test split: evaluating all of its %d clips", source, len(table))
        test, selected = table, "all clips"
    spec_dir = Path(spec_out) if spec_out else run.path.parent / f"{run.path.name}_test_spectrograms" / (
        source.resolve().stem or "source")
    man = render_spectrograms(test.reset_index(drop=True), spec_dir, params, n_jobs=n_jobs, progress=progress)
    return man, selected, man.attrs["render_folder"]


def _test_manifest(source, run: Run, *, spec_out=None, n_jobs: int = -1,
                   progress: bool = True) -> tuple[pd.DataFrame, RenderFolder]:
    """:func:`load_test_split` with the render folder as a :class:`RenderFolder`."""
    params = run.spec_params
    warn_rate_dependent(params, run.path)
    test_fold = run.test_fold
    folder = as_render_folder(source)
    if folder.exists():
        man, selected = _rendered_test_rows(folder, run, params, test_fold)
    else:
        man, selected, folder = _render_test_clips(Path(source), run, params, test_fold, spec_out=spec_out,
                                                   n_jobs=n_jobs, progress=progress)
    man = man.copy()
    man["image_path"] = [str(folder.path / i) if i else "" for i in man["image"]]
    man = man.reset_index(drop=True)
    man.attrs["selected"] = selected
    return man, folder


def load_test_split(source, run, *, spec_out=None, n_jobs: int = -1, progress: bool = True) -> tuple[pd.DataFrame, Path]:
    """The test clips' manifest rows, rendering audio first when `source` is not a render folder.

    Parameters
    ----------
    source : str or os.PathLike or RenderFolder
        A render folder (``manifest.csv``) or an audio source (FSDKaggle2018 root, UrbanSound8K,
        ESC-50, folder per class, CSV: see :func:`audiospec_utils.audio.datasets.load_source`). Its test
        clips are those of the run's held-out fold when the run has one (``--test-fold``), else
        its ``split == "test"`` rows; an audio source without either is evaluated whole. Audio is
        rendered with the run's own spectrogram parameters.
    run : Run or str or os.PathLike
        The trained run.
    spec_out : str or os.PathLike or None
        Where audio is rendered; default ``<RUN_DIR>_test_spectrograms/<source name>`` next to
        the run folder. Rendering is resumable and skips what is already there.
    n_jobs, progress :
        Passed to :func:`audiospec_utils.features.render.render_spectrograms`.

    Returns
    -------
    manifest : pandas.DataFrame
        One row per image, plus one per clip that failed (``image == ""``, reason in ``error``);
        ``image_path`` is absolute (``""`` for failed clips). ``attrs["selected"]`` says which
        clips were taken (``"fold 10"``, ``"the test split"``...).
    spec_dir : pathlib.Path
        The render folder used.

    Raises
    ------
    DatasetError
        No test clips, the held-out fold is not in the data, or a render folder made with
        spectrogram parameters other than the run's.
    """
    run = as_run(run)
    man, folder = _test_manifest(source, run, spec_out=spec_out, n_jobs=n_jobs, progress=progress)
    return man, folder.path


# ----------------------------------------------------------------------------------------------
# Predictions, fallbacks, the submission


def _test_clip_predictions(learn, folder: RenderFolder, man: pd.DataFrame, vocab, *, bs: int,
                           progress: bool) -> pd.DataFrame:
    """Clip predictions of the test images of `man` (:mod:`audiospec_utils.learn.inference`)."""
    ok = man[man["image"] != ""].reset_index(drop=True)
    missing_img = [p for p in ok["image_path"] if not Path(p).is_file()]
    if missing_img:
        raise DatasetError(f"{folder.path}: {len(missing_img)} image(s) listed in {MANIFEST} are missing, e.g. "
                           f"{missing_img[0]}; render again")
    if not len(ok):
        return pd.DataFrame(columns=["clip_id", "label", *vocab, "pred"])
    cache = folder.cache(learn.dls.config["height"], progress=progress)
    probs = image_probabilities(learn, cache, cache.rows(ok["image"]), bs=bs)
    return clip_predictions(probs, ok, vocab)


def _with_fallbacks(preds: pd.DataFrame, clips: pd.DataFrame, vocab, fallback) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every test clip's prediction in the source's order: the clips without one get the fallback labels.

    Returns
    -------
    preds : pandas.DataFrame
        One row per clip of `clips`, with ``fname`` and ``failed``.
    failed : pandas.DataFrame
        The rows of `clips` that had no prediction (a warning names them).
    """
    failed = clips[~clips["clip_id"].isin(set(preds["clip_id"]))]
    if len(failed):
        fb = np.zeros((len(failed), len(vocab)))
        for rank, lab in enumerate(fallback):  # decreasing pseudo-probabilities keep the order
            fb[:, vocab.index(lab)] = (len(fallback) - rank) / 10.0
        fb_frame = pd.DataFrame(fb, columns=vocab)
        fb_frame.insert(0, "label", failed["label"].to_numpy())
        fb_frame.insert(0, "clip_id", failed["clip_id"].to_numpy())
        fb_frame["pred"] = fallback[0]
        preds = pd.concat([preds, fb_frame], ignore_index=True)
        names = ", ".join(f"{r.fname} ({r.error})" for r in failed.itertuples())
        warnings.warn(f"{len(failed)} test clip(s) could not be loaded or rendered and get the fallback "
                      f"prediction {' '.join(fallback)} (the most frequent training labels): {names}", stacklevel=3)
    info = clips.set_index("clip_id")
    preds = preds.set_index("clip_id").loc[clips["clip_id"]].reset_index()  # the source's clip order
    preds.insert(1, "fname", info.loc[preds["clip_id"], "fname"].to_numpy())
    preds["failed"] = preds["clip_id"].isin(set(failed["clip_id"]))
    return preds, failed


def write_submission(clip_preds: pd.DataFrame, path, vocab, *, k: int = 3) -> pd.DataFrame:
    """Write a Kaggle submission: ``fname,label`` with the `k` best labels, space-separated.

    Parameters
    ----------
    clip_preds : pandas.DataFrame
        One row per clip: ``fname`` and one probability column per label of `vocab`.
    path : str or os.PathLike
        The CSV to write (atomically: :func:`audiospec_utils.fileio.write_csv_atomic`).
    vocab : sequence of str
    k : int
        Labels per row (3 for MAP@3).

    Returns
    -------
    pandas.DataFrame
        What was written (``fname``, ``label``), in the order of `clip_preds`.
    """
    vocab = list(vocab)
    top = top_k_labels(clip_preds[vocab].to_numpy(), k)
    sub = pd.DataFrame({"fname": clip_preds["fname"].to_numpy(),
                        "label": [" ".join(vocab[i] for i in row) for row in top]})
    write_csv_atomic(sub, path)
    return sub


# ----------------------------------------------------------------------------------------------
# Scores


def _scores_by_usage(scored: pd.DataFrame, info: pd.DataFrame, vocab) -> dict:
    """Accuracy and MAP@3 per ``usage`` (FSDKaggle2018: the Public and Private leaderboards)."""
    if "usage" not in info.columns or not len(scored):
        return {}
    usage = info.loc[scored["clip_id"], "usage"].to_numpy()
    out = {}
    for name in sorted(set(usage) - {""}):
        part = scored[usage == name]
        out[str(name)] = {**clip_scores(part, vocab), "n_scored": int(len(part))}
    return out


def _scored_on(preds: pd.DataFrame, scored: pd.DataFrame, info: pd.DataFrame) -> str:
    """Which clips the scores are over, in words."""
    n_other = len(preds) - len(scored)
    if not len(scored):
        return (f"none: the {len(preds)} test clips have no labels here (the Kaggle layout without "
                f"test_post_competition.csv, or an unlabelled source); the submission has a row for each")
    usage = info.loc[scored["clip_id"], "usage"] if "usage" in info.columns else pd.Series(dtype=str)
    if len(usage) and usage.isin(SCORED_USAGES).all():
        counts = usage.value_counts()
        said = " and ".join(f"{int(counts.get(u, 0))} {u}" for u in SCORED_USAGES)
        return (f"the {len(scored)} clips the competition scored ({said}, labels from test_post_competition.csv"
                f"{', or its Zenodo copy' if not n_other else ''})"
                + (f"; the other {n_other} (Ignored, unlabelled or failed) are in the submission only" if n_other
                   else ""))
    return f"the {len(scored)} labelled clips" + (f"; {n_other} others are not scored" if n_other else "")


def _test_scores(preds: pd.DataFrame, info: pd.DataFrame, vocab) -> dict:
    """Scores of the test clips whose label the model knows, and the counts of the others.

    Returns
    -------
    dict
        ``accuracy``, ``error_rate``, ``map_at_3`` (:func:`audiospec_utils.learn.metrics.clip_scores`),
        ``interval``, ``macro_f1``, ``n_scored``, ``n_unlabelled``, ``n_unknown_label``,
        ``per_class``, ``by_usage``, ``scored_on``; the scores are None with no labelled clip.
    """
    labelled = preds[preds["label"] != ""]
    scored = labelled[labelled["label"].isin(vocab)]
    if len(scored):
        y = scored["label"].map({c: i for i, c in enumerate(vocab)}).to_numpy()
        predicted = scored[vocab].to_numpy().argmax(1)
        report = per_class_report(y, predicted, vocab)
        groups = info["group"] if "group" in info.columns else None
        scores = {**clip_scores(scored, vocab, macro_f1=True, f1_over="present"),
                  "interval": clip_score_intervals(scored, vocab, groups)}
    else:
        report = pd.DataFrame()
        scores = {"accuracy": None, "error_rate": None, "map_at_3": None, "interval": None, "macro_f1": None}
    return {**scores,
            "n_scored": int(len(scored)),
            "n_unlabelled": int(len(preds) - len(labelled)),
            "n_unknown_label": int(len(labelled) - len(scored)),
            "per_class": {lab: {k: (int(v) if k == "support" else float(v)) for k, v in row.items()}
                          for lab, row in report.iterrows()},
            "by_usage": _scores_by_usage(scored, info, vocab),
            "scored_on": _scored_on(preds, scored, info)}


def evaluate_run(run, source=None, *, spec_out=None, bs: int = 64, n_jobs: int = -1, progress: bool = True) -> dict:
    """Evaluate a trained run on its test clips: per-clip predictions, scores, Kaggle submission.

    Parameters
    ----------
    run : Run or str or os.PathLike
        Folder written by :func:`audiospec_utils.learn.train.train_classifier`.
    source : str or os.PathLike or RenderFolder or None
        The test data (see :func:`load_test_split`); ``None``: the run's own render folder, whose
        test clips (held-out fold or test split) were never trained on.
    spec_out : str or os.PathLike or None
        Render folder for an audio `source` (see :func:`load_test_split`).
    bs : int
        Windows per batch.
    n_jobs, progress :
        Rendering workers and progress bars.

    Returns
    -------
    dict
        What ``RUN_DIR/test_metrics.json`` holds: ``accuracy``, ``error_rate``, ``map_at_3``
        (over the labelled clips whose label the model knows; a clip that failed to render is
        scored with its fallback prediction, as Kaggle would score it; ``None`` when no clip is
        labelled, e.g. the Kaggle layout's test set), ``interval`` (95% intervals from a
        bootstrap over groups), ``selected`` (which clips: ``"fold 10"``, ``"the test split"``),
        ``test_fold``, ``n_clips``, ``n_scored``, ``n_failed``, ``failed`` (``[{"fname",
        "error"}]``), ``fallback_labels``, ``n_unknown_label`` (labelled clips with a label the
        model never saw, not scored), ``per_class`` (``{label: {precision, recall, f1,
        support}}``, scikit-learn), ``macro_f1``, ``source``, ``spec_dir``, and the paths of
        ``submission.csv`` and ``test_predictions.csv`` (per-clip probabilities).

    Raises
    ------
    DatasetError
        The run or the source cannot be used (see :func:`load_test_split`).

    Warns
    -----
    UserWarning
        Clips that could not be loaded or rendered, named, with the fallback labels they got.
    """
    run = as_run(run)
    learn = run.learner()
    if source is None:
        source = run.render_folder
    man, folder = _test_manifest(source, run, spec_out=spec_out, n_jobs=n_jobs, progress=progress)
    vocab = list(learn.dls.vocab)
    preds = _test_clip_predictions(learn, folder, man, vocab, bs=bs, progress=progress)
    clips = man.drop_duplicates("clip_id").reset_index(drop=True)
    fallback = fallback_labels(run, vocab)
    preds, failed = _with_fallbacks(preds, clips, vocab, fallback)
    write_csv_atomic(preds, run.file(Run.TEST_PREDICTIONS))
    sub = write_submission(preds, run.file(Run.SUBMISSION), vocab)
    scores = _test_scores(preds, clips.set_index("clip_id"), vocab)
    result = {
        "accuracy": scores["accuracy"], "error_rate": scores["error_rate"], "map_at_3": scores["map_at_3"],
        "interval": scores["interval"], "macro_f1": scores["macro_f1"],
        "selected": man.attrs.get("selected", ""),
        "test_fold": run.test_fold,
        "n_clips": int(len(clips)),
        "n_scored": scores["n_scored"], "n_unlabelled": scores["n_unlabelled"],
        "n_unknown_label": scores["n_unknown_label"],
        "n_failed": int(len(failed)),
        "failed": [{"fname": r.fname, "error": r.error} for r in failed.itertuples()],
        "fallback_labels": fallback,
        "per_class": scores["per_class"], "by_usage": scores["by_usage"], "scored_on": scores["scored_on"],
        "source": os.fspath(source),
        "spec_dir": str(folder.path),
        "submission": str(run.file(Run.SUBMISSION)),
        "predictions": str(run.file(Run.TEST_PREDICTIONS)),
    }
    write_json_atomic(run.file(Run.TEST_METRICS), result, default=str)
    result["submission_rows"] = int(len(sub))
    if not result["n_scored"]:
        logger.info("no labelled test clips: submission written, nothing to score")
    return result


# ----------------------------------------------------------------------------------------------
# In words


def format_interval(interval: dict | None, key: str = "accuracy", *, groups: bool = True) -> str:
    """A score's 95% interval in words: ``"95% interval 0.61-0.78 over 12 groups"``, or ``""``.

    Parameters
    ----------
    interval : dict or None
        As :func:`audiospec_utils.learn.metrics.clip_score_intervals` gives it (``metrics.json["valid_interval"]``,
        ``test_metrics.json["interval"]``): ``{score: [low, high], "n_groups": int, ...}``.
    key : str
        The score (``"accuracy"``, ``"map_at_3"``).
    groups : bool
        Say over how many groups the bootstrap resampled (when `interval` says it).

    Returns
    -------
    str
        Bounds with two decimals; ``""`` when `interval` is missing, has no `key`, or a bound is
        None or NaN (fewer than two groups).
    """
    if not interval or key not in interval or any(v is None or v != v for v in interval[key]):
        return ""
    lo, hi = interval[key]
    over = f" over {interval['n_groups']} groups" if groups and "n_groups" in interval else ""
    return f"95% interval {lo:.2f}-{hi:.2f}{over}"


def format_test_score(result: dict) -> str:
    """One readable paragraph of :func:`evaluate_run`'s result, labelled or not.

    Parameters
    ----------
    result : dict
        What :func:`evaluate_run` returns (or ``test_metrics.json`` holds).

    Returns
    -------
    str
        The accuracy with its 95% interval, MAP@3 and macro F1 and which clips they are over; the
        scores per ``usage`` (Kaggle's Public and Private leaderboards) when known; or, with no
        labelled clip, a plain sentence saying so and where the submission is.
    """
    sub = f"submission ({result.get('submission_rows', result['n_clips'])} rows): {result['submission']}"
    if not result.get("n_scored"):
        return f"test: {result.get('scored_on') or 'no labelled clips: nothing to score'}.\n{sub}"
    interval = format_interval(result.get("interval"), groups=False)
    ci = f" ({interval})" if interval else ""
    lines = [f"test ({result['selected']}): accuracy {result['accuracy']:.3f}{ci}, MAP@3 {result['map_at_3']:.3f}, "
             f"macro F1 {result['macro_f1']:.3f}",
             f"scored on {result.get('scored_on') or str(result['n_scored']) + ' clips'}"]
    for usage, sc in (result.get("by_usage") or {}).items():
        lines.append(f"  {usage}: MAP@3 {sc['map_at_3']:.3f}, accuracy {sc['accuracy']:.3f} ({sc['n_scored']} clips)")
    if result.get("n_failed"):
        lines.append(f"{result['n_failed']} clip(s) failed to render and got the fallback prediction")
    return "\n".join(lines + [sub])


def per_class_table(result: dict) -> pd.DataFrame:
    """Precision, recall, F1 and support per label of :func:`evaluate_run`'s result, worst F1 first.

    Returns
    -------
    pandas.DataFrame
        Index the labels; columns ``precision, recall, f1, support``; empty (with those columns)
        when no test clip is labelled.
    """
    cols = ["precision", "recall", "f1", "support"]
    table = pd.DataFrame(result.get("per_class") or {}, index=cols).T
    return table[cols].sort_values("f1") if len(table) else pd.DataFrame(columns=cols)
