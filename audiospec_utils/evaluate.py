"""Score a trained run on a test split, per clip, and write a Kaggle submission.

FSDKaggle2018's competition ("Freesound General-Purpose Audio Tagging Challenge", Kaggle, 2018)
scored 1,600 test clips of 0.3-30 s by MAP@3: for each clip the submission lists three labels,
best first, and the true label earns 1, 1/2 or 1/3 by its rank (:func:`audiospec_utils.metrics.map_at_k`).
The baseline scored 0.694, the winner 0.954.

:func:`evaluate_run` predicts every test clip (the probabilities of all windows of a clip are
averaged), scores the labelled ones (accuracy, MAP@3, per-label precision / recall / F1 with
scikit-learn), and writes ``submission.csv`` with one row for **every** test clip: a clip whose
audio could not be loaded or rendered (the real test set has three empty WAVs: 0b0427e2.wav,
6ea0099f.wav, b39975f5.wav) gets the three most frequent training labels, and a warning names it.
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from .exceptions import DatasetError

__all__ = ["load_test_split", "fallback_labels", "evaluate_run", "write_submission"]

logger = logging.getLogger(__name__)


def fallback_labels(run_dir, vocab, k: int = 3) -> list[str]:
    """The `k` most frequent training labels of a run (ties: alphabetical).

    Taken from ``metrics.json["train_label_counts"]``; for runs trained before it was recorded,
    counted in the run's render folder (``spec_dir``) train rows; as a last resort the first `k`
    labels of `vocab`.

    Returns
    -------
    list of str
        At most `k` labels, all in `vocab`.
    """
    from .predict import run_metrics

    vocab = list(vocab)
    metrics = run_metrics(run_dir) if (Path(run_dir) / "metrics.json").is_file() else {}
    counts = metrics.get("train_label_counts")
    if not counts and metrics.get("spec_dir") and (Path(metrics["spec_dir"]) / "manifest.csv").is_file():
        from .render import read_manifest

        man = read_manifest(metrics["spec_dir"])
        man = man[(man["split"] == "train") & (man["image"] != "")].drop_duplicates("clip_id")
        counts = man["label"].value_counts().to_dict()
    if not counts:
        return vocab[:k]
    ranked = sorted(((lab, n) for lab, n in counts.items() if lab in vocab), key=lambda kv: (-kv[1], kv[0]))
    labels = [lab for lab, _ in ranked][:k]
    return labels + [v for v in vocab if v not in labels][:k - len(labels)]


def load_test_split(source, run_dir, *, spec_out=None, n_jobs: int = -1, progress: bool = True) -> tuple[pd.DataFrame, Path]:
    """The test split's manifest rows, rendering audio first when `source` is not a render folder.

    Parameters
    ----------
    source : str or os.PathLike
        A render folder (``manifest.csv``) whose rows with ``split == "test"`` are the test set;
        or an audio source (FSDKaggle2018 root, folder per class, CSV: see
        :func:`audiospec_utils.datasets.load_source`): its ``split == "test"`` clips (all clips
        when it has no test split) are rendered with the run's own spectrogram parameters.
    run_dir : str or os.PathLike
        The trained run.
    spec_out : str or os.PathLike or None
        Where audio is rendered; default ``<RUN_DIR>_test_spectrograms/<source name>`` next to
        the run folder. Rendering is resumable and skips what is already there.
    n_jobs, progress :
        Passed to :func:`audiospec_utils.render.render_spectrograms`.

    Returns
    -------
    manifest : pandas.DataFrame
        One row per image, plus one per clip that failed (``image == ""``, reason in
        ``error``); ``image_path`` is absolute (``""`` for failed clips).
    spec_dir : pathlib.Path
        The render folder used.

    Raises
    ------
    DatasetError
        No test clips, or a render folder made with spectrogram parameters other than the run's.
    """
    from .datasets import load_source
    from .predict import run_spectrogram_params
    from .render import _params_difference, read_manifest, render_spectrograms

    source, run_dir = Path(source), Path(run_dir)
    params = run_spectrogram_params(run_dir)
    if (source / "manifest.csv").is_file():
        spec_dir = source.resolve()
        diff = _params_difference(spec_dir, params)
        if diff:
            said = ", ".join(f"{k} {theirs!r} (run: {ours!r})" for k, (theirs, ours) in diff.items())
            raise DatasetError(f"{spec_dir}: rendered with other spectrogram parameters than the run ({said}); "
                               f"evaluate on the audio instead, it is rendered with the run's parameters")
        man = read_manifest(spec_dir)
        man = man[man["split"] == "test"]
        if man.empty:
            raise DatasetError(f"{spec_dir / 'manifest.csv'}: no rows with split == 'test'; render a dataset with a "
                               f"test split (FSDKaggle2018, or a folder with test/<label>/ sub-folders)")
    else:
        table = load_source(source)
        test = table[table["split"] == "test"]
        if test.empty:
            logger.info("%s has no test split: evaluating all of its %d clips", source, len(table))
            test = table
        spec_dir = Path(spec_out) if spec_out else run_dir.resolve().parent / f"{run_dir.name}_test_spectrograms" / (
            source.resolve().stem or "source")
        man = render_spectrograms(test.reset_index(drop=True), spec_dir, params, n_jobs=n_jobs, progress=progress)
        spec_dir = spec_dir.resolve()
    man = man.copy()
    man["image_path"] = [str(spec_dir / i) if i else "" for i in man["image"]]
    return man.reset_index(drop=True), spec_dir


def write_submission(clip_preds: pd.DataFrame, path, vocab, *, k: int = 3) -> pd.DataFrame:
    """Write a Kaggle submission: ``fname,label`` with the `k` best labels, space-separated.

    Parameters
    ----------
    clip_preds : pandas.DataFrame
        One row per clip: ``fname`` and one probability column per label of `vocab`.
    path : str or os.PathLike
        The CSV to write.
    vocab : sequence of str
    k : int
        Labels per row (3 for MAP@3).

    Returns
    -------
    pandas.DataFrame
        What was written (``fname``, ``label``), in the order of `clip_preds`.
    """
    from .metrics import top_k_labels

    vocab = list(vocab)
    top = top_k_labels(clip_preds[vocab].to_numpy(), k)
    sub = pd.DataFrame({"fname": clip_preds["fname"].to_numpy(),
                        "label": [" ".join(vocab[i] for i in row) for row in top]})
    tmp = Path(str(path) + ".tmp")
    sub.to_csv(tmp, index=False)
    os.replace(tmp, path)
    return sub


def evaluate_run(run_dir, source=None, *, spec_out=None, bs: int = 64, n_jobs: int = -1,
                 progress: bool = True) -> dict:
    """Evaluate a trained run on a test split: per-clip predictions, scores, Kaggle submission.

    Parameters
    ----------
    run_dir : str or os.PathLike
        Folder written by :func:`audiospec_utils.train.train_classifier`.
    source : str or os.PathLike or None
        The test data (see :func:`load_test_split`); ``None``: the run's own render folder
        (``metrics.json["spec_dir"]``), whose test rows were never trained on.
    spec_out : str or os.PathLike or None
        Render folder for an audio `source` (see :func:`load_test_split`).
    bs : int
        Batch size of the predictions.
    n_jobs, progress :
        Rendering workers and progress bars.

    Returns
    -------
    dict
        What ``RUN_DIR/test_metrics.json`` holds: ``accuracy``, ``error_rate``, ``map_at_3``
        (over the labelled clips whose label the model knows; a clip that failed to render is
        scored with its fallback prediction, as Kaggle would score it; ``None`` when no clip is
        labelled, e.g. the Kaggle layout's test set), ``n_clips``,
        ``n_scored``, ``n_failed``, ``failed`` (``[{"fname", "error"}]``), ``fallback_labels``,
        ``n_unknown_label`` (labelled clips with a label the model never saw, not scored),
        ``per_class`` (``{label: {precision, recall, f1, support}}``, scikit-learn), ``source``,
        ``spec_dir``, and the paths of ``submission.csv`` and ``test_predictions.csv``
        (per-clip probabilities).

    Raises
    ------
    DatasetError
        The run or the source cannot be used (see :func:`load_test_split`).

    Warns
    -----
    UserWarning
        Clips that could not be loaded or rendered, named, with the fallback labels they got.
    """
    from .interpret import per_class_report
    from .predict import load_model, predict_images, run_metrics
    from .train import _scores, clip_predictions

    run_dir = Path(run_dir)
    learn = load_model(run_dir)
    if source is None:
        source = run_metrics(run_dir).get("spec_dir")
        if not source:
            raise DatasetError(f"{run_dir}/metrics.json names no spec_dir: give the test SOURCE")
    man, spec_dir = load_test_split(source, run_dir, spec_out=spec_out, n_jobs=n_jobs, progress=progress)
    vocab = list(learn.dls.vocab)
    ok = man[man["image"] != ""].reset_index(drop=True)
    missing_img = [p for p in ok["image_path"] if not Path(p).is_file()]
    if missing_img:
        raise DatasetError(f"{spec_dir}: {len(missing_img)} image(s) listed in manifest.csv are missing, e.g. "
                           f"{missing_img[0]}; render again")
    probs = predict_images(learn, list(ok["image_path"]), bs=bs)
    preds = clip_predictions(probs, ok, vocab) if len(ok) else pd.DataFrame(columns=["clip_id", "label", *vocab, "pred"])
    clips = man.drop_duplicates("clip_id").reset_index(drop=True)
    failed = clips[~clips["clip_id"].isin(set(preds["clip_id"]))]
    fallback = fallback_labels(run_dir, vocab)
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
                      f"prediction {' '.join(fallback)} (the most frequent training labels): {names}", stacklevel=2)
    info = clips.set_index("clip_id")
    preds = preds.set_index("clip_id").loc[clips["clip_id"]].reset_index()  # the source's clip order
    preds.insert(1, "fname", info.loc[preds["clip_id"], "fname"].to_numpy())
    preds["failed"] = preds["clip_id"].isin(set(failed["clip_id"]))
    preds.to_csv(run_dir / "test_predictions.csv", index=False)
    sub = write_submission(preds, run_dir / "submission.csv", vocab)

    labelled = preds[preds["label"] != ""]
    scored = labelled[labelled["label"].isin(vocab)]
    y = scored["label"].map({c: i for i, c in enumerate(vocab)}).to_numpy()
    report = per_class_report(y, scored[vocab].to_numpy().argmax(1), vocab) if len(y) else pd.DataFrame()
    result = {
        **(_scores(scored, vocab) if len(y) else {"accuracy": None, "error_rate": None, "map_at_3": None}),
        "n_clips": int(len(clips)),
        "n_scored": int(len(scored)),
        "n_unlabelled": int(len(preds) - len(labelled)),
        "n_unknown_label": int(len(labelled) - len(scored)),
        "n_failed": int(len(failed)),
        "failed": [{"fname": r.fname, "error": r.error} for r in failed.itertuples()],
        "fallback_labels": fallback,
        "per_class": {lab: {k: (int(v) if k == "support" else float(v)) for k, v in row.items()}
                      for lab, row in report.iterrows()},
        "source": str(source),
        "spec_dir": str(spec_dir),
        "submission": str((run_dir / "submission.csv").resolve()),
        "predictions": str((run_dir / "test_predictions.csv").resolve()),
    }
    (run_dir / "test_metrics.json").write_text(json.dumps(result, indent=2))
    result["submission_rows"] = int(len(sub))
    if not len(y):
        logger.info("no labelled test clips: submission written, nothing to score")
    return result

