"""Reading what a trained classifier learned: confusion matrix, top losses, t-SNE, per-class report.

:func:`interpret_run` does all of it for a run folder written by
:func:`audiospec_utils.learn.train.train_classifier` and saves each figure there; the plotting
functions can also be used one by one in a notebook.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from ..exceptions import DatasetError
from ..features.folders import write_json
from ..features.image_cache import SpectrogramCache
from ..features.images import read_image
from ..learn.inference import mean_per_image
from ..learn.metrics import map_at_k
from ..learn.run import Run
from .display import show_image
from .explanation import explain_validation

__all__ = [
    "load_run",
    "predict_with_embeddings",
    "clip_embeddings",
    "confusion_table",
    "plot_confusion_matrix",
    "most_confused",
    "per_class_report",
    "plot_per_class",
    "plot_top_losses",
    "top_losses",
    "plot_tsne",
    "tsne_style",
    "windows_dataloader",
    "interpret_run",
]

logger = logging.getLogger(__name__)


def load_run(run, spec_dir=None):
    """Load a run folder's exported learner and validation items.

    Parameters
    ----------
    run : Run or str or os.PathLike
        Folder written by :func:`audiospec_utils.learn.train.train_classifier`.
    spec_dir : str or os.PathLike or None
        The render folder the run was trained on, when it has moved since: the validation images
        are then looked up there by their paths relative to it (the manifest's ``image``
        column). ``None`` (default): where they were at training time.

    Returns
    -------
    learn : fastai.learner.Learner
        On the GPU when there is one, else the CPU.
    valid : pandas.DataFrame
        One row per validation window (``image_path``, ``window_start``, ``label``, ``clip_id``...).

    Raises
    ------
    DatasetError
        The run lacks ``export.pkl`` or ``valid_items.csv`` (train first), the learner cannot be
        loaded, or validation images are missing (the message says how many, names one and says to
        pass the render folder's new place as `spec_dir`).
    """
    run = Run(run, spec_dir=spec_dir)
    if spec_dir is not None and not Path(spec_dir).is_dir():
        raise DatasetError(f"{Path(spec_dir).resolve()}: no such render folder")
    valid = run.valid_items()
    learn = run.learner()
    missing = sorted({p for p in valid["image_path"] if not Path(p).is_file()})
    if missing:
        where = f"in {Path(spec_dir).resolve()}" if spec_dir is not None else "where they were rendered"
        n_images = valid["image_path"].nunique()
        raise DatasetError(f"{run.path}: {len(missing)} of {n_images} validation image(s) missing {where}, "
                           f"e.g. {missing[0]}. If the render folder was moved, pass its new place "
                           f"(audiospec interpret {run.path} --spec-dir NEW_PLACE); if it was deleted, render "
                           f"it again with the run's params.json.")
    return learn, valid


def _items_cache(learn, items: pd.DataFrame):
    """The images of `items` decoded at the learner's height, and each row's position in that cache."""
    paths = list(dict.fromkeys(items["image_path"]))
    arrays = [read_image(p) for p in paths]
    cache = SpectrogramCache.from_arrays(arrays, learn.dls.config["height"])
    pos = {p: i for i, p in enumerate(paths)}
    return cache, np.array([pos[p] for p in items["image_path"]], dtype=np.int64)


def predict_with_embeddings(learn, items: pd.DataFrame, bs: int = 64):
    """Predictions, losses and penultimate-layer embeddings of labelled crops (one per row of `items`).

    Parameters
    ----------
    learn : fastai.learner.Learner
        A vision learner whose head ends with a ``Linear`` layer.
    items : pandas.DataFrame
        Rows with ``image_path``, ``label`` and ``window_start`` (first frame of the crop; 0 when
        absent), e.g. the validation windows of :func:`load_run`.
    bs : int
        Batch size.

    Returns
    -------
    probs : np.ndarray, shape (n_rows, n_classes), float32
    targets : np.ndarray, shape (n_rows,), int64
        Index of each true label in ``learn.dls.vocab``.
    losses : np.ndarray, shape (n_rows,), float32
        Cross-entropy of each crop.
    embeddings : np.ndarray, shape (n_rows, n_features), float32
        Input of the last linear layer (512 values for fastai's default head).
    """
    import torch

    vocab = list(learn.dls.vocab)
    targets = items["label"].map({c: i for i, c in enumerate(vocab)}).fillna(-1).astype(int).to_numpy()
    cache, rows = _items_cache(learn, items)
    starts = items["window_start"].to_numpy() if "window_start" in items.columns else np.zeros(len(items), np.int64)
    dl = learn.dls.crops_dl(cache, rows, starts, targets, bs=bs)
    linear = [m for m in learn.model.modules() if isinstance(m, torch.nn.Linear)][-1]
    feats = []
    handle = linear.register_forward_hook(lambda m, inp, out: feats.append(inp[0].detach().float().cpu()))
    try:
        with learn.no_bar():
            probs, _ = learn.get_preds(dl=dl)
    finally:
        handle.remove()
    probs = probs.float().numpy()
    p_true = probs[np.arange(len(probs)), targets.clip(min=0)]
    losses = np.where(targets >= 0, -np.log(np.clip(p_true, 1e-12, 1.0)), np.nan).astype(np.float32)
    return probs, targets.astype(np.int64), losses, torch.cat(feats).numpy() if feats else np.zeros((0, 0), np.float32)


def windows_dataloader(learn, items: pd.DataFrame, bs: int = 64):
    """A labelled DataLoader of the windows of `items`, with ``vocab``: what fastai's interpretation tools take.

    fastai's ``ClassificationInterpretation.from_learner(learn, dl=dl)`` runs the model over `dl`
    and reads ``dl.vocab``; the exported learner of a run has no data of its own.

    Parameters
    ----------
    learn : fastai.learner.Learner
    items : pandas.DataFrame
        One row per window (``image_path``, ``label``, ``window_start``), e.g. from :func:`load_run`.
    bs : int

    Returns
    -------
    audiospec_utils.learn.dataloaders.SpectrogramDL
        Normalised as in training, never augmented, in the order of `items`; one item per window
        (not per clip: a clip with three windows counts three times). ``dl.vocab`` is
        ``[labels]``, the form fastai's ``Interpretation`` unpacks.
    """
    vocab = list(learn.dls.vocab)
    targets = items["label"].map({c: i for i, c in enumerate(vocab)}).fillna(-1).astype(int).to_numpy()
    cache, rows = _items_cache(learn, items)
    starts = items["window_start"].to_numpy() if "window_start" in items.columns else np.zeros(len(items), np.int64)
    dl = learn.dls.crops_dl(cache, rows, starts, targets, bs=bs)
    # fastai's interpretation reads ``dl.vocab[-1]`` when the vocab is a list (inputs', targets'): the targets'
    dl.vocab = [list(learn.dls.vocab)]
    return dl


def clip_embeddings(learn, items: pd.DataFrame, bs: int = 64):
    """:func:`predict_with_embeddings` averaged per clip: what the model says of each clip as a whole.

    A clip's probabilities and embedding are the means over its windows, and its loss is the
    cross-entropy of that mean prediction (``-log p(true label)``).

    Parameters
    ----------
    learn : fastai.learner.Learner
    items : pandas.DataFrame
        One row per window (``clip_id``, ``image_path``, ``label``, ``window_start``).
    bs : int

    Returns
    -------
    clips : pandas.DataFrame
        One row per clip (its first window's row), in order of first appearance.
    probs : np.ndarray, shape (n_clips, n_classes), float32
    targets : np.ndarray, shape (n_clips,), int64
    losses : np.ndarray, shape (n_clips,), float32
    embeddings : np.ndarray, shape (n_clips, n_features), float32
    """
    probs, targets, _, emb = predict_with_embeddings(learn, items, bs=bs)
    codes, uniques = pd.factorize(items["clip_id"])
    n = len(uniques)
    clip_probs, clip_emb = mean_per_image(probs, codes, n), mean_per_image(emb, codes, n)  # each clip's windows
    first = items.drop_duplicates("clip_id").reset_index(drop=True)
    clip_targets = np.zeros(n, np.int64)
    clip_targets[codes] = targets
    p_true = clip_probs[np.arange(n), clip_targets.clip(min=0)]
    losses = np.where(clip_targets >= 0, -np.log(np.clip(p_true, 1e-12, 1.0)), np.nan).astype(np.float32)
    return first, clip_probs, clip_targets, losses, clip_emb


def confusion_table(y_true, y_pred, classes, normalize: bool = True) -> pd.DataFrame:
    """Confusion matrix as a labelled table (rows: true label, columns: predicted label).

    Parameters
    ----------
    y_true, y_pred : array-like of int, shape (n,)
    classes : sequence of str
    normalize : bool
        Divide each row by its number of clips (recall on the diagonal).

    Returns
    -------
    pandas.DataFrame, shape (n_classes, n_classes)
    """
    from sklearn.metrics import confusion_matrix

    cm = confusion_matrix(y_true, y_pred, labels=range(len(classes)),
                          normalize="true" if normalize else None)
    return pd.DataFrame(np.nan_to_num(cm), index=list(classes), columns=list(classes))


def plot_confusion_matrix(y_true, y_pred, classes, *, normalize: bool = True, ax=None):
    """Seaborn heatmap of the confusion matrix, normalised per true label.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt
    import seaborn as sns

    cm = confusion_table(y_true, y_pred, classes, normalize)
    n = len(classes)
    if ax is None:
        _, ax = plt.subplots(figsize=(max(5, 0.45 * n + 3), max(4, 0.45 * n + 2)), constrained_layout=True)
    sns.heatmap(cm, annot=n <= 20, fmt=".2f" if normalize else "d", cmap="Blues", vmin=0,
                vmax=1 if normalize else None, square=True, cbar_kws={"label": "fraction of true label" if normalize else "clips"},
                ax=ax, xticklabels=True, yticklabels=True)
    ax.set(xlabel="predicted label", ylabel="true label", title="Confusion matrix" + (" (row-normalised)" if normalize else ""))
    return ax.figure


def most_confused(y_true, y_pred, classes, min_count: int = 1) -> pd.DataFrame:
    """Pairs of (true, predicted) labels that are confused most often.

    Returns
    -------
    pandas.DataFrame
        Columns ``true``, ``predicted``, ``count``, sorted by count (descending).
    """
    cm = confusion_table(y_true, y_pred, classes, normalize=False)
    pairs = [(t, p, int(cm.loc[t, p])) for t in cm.index for p in cm.columns if t != p and cm.loc[t, p] >= min_count]
    return pd.DataFrame(pairs, columns=["true", "predicted", "count"]).sort_values(
        ["count", "true", "predicted"], ascending=[False, True, True], ignore_index=True)


def per_class_report(y_true, y_pred, classes) -> pd.DataFrame:
    """Precision, recall, F1 and support per label (scikit-learn), worst F1 first.

    Returns
    -------
    pandas.DataFrame
        Index: label; columns ``precision``, ``recall``, ``f1``, ``support``.
    """
    from sklearn.metrics import precision_recall_fscore_support

    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=range(len(classes)), zero_division=0)
    report = pd.DataFrame({"precision": p, "recall": r, "f1": f, "support": s}, index=pd.Index(list(classes), name="label"))
    return report.sort_values(["f1", "support"], ascending=[True, False])


def plot_per_class(report: pd.DataFrame):
    """Horizontal bar chart of F1 per label (from :func:`per_class_report`)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, max(2.5, 0.3 * len(report) + 1)), constrained_layout=True)
    ax.barh(report.index, report["f1"], color="tab:blue")
    ax.set(xlim=(0, 1), xlabel="F1", title="F1 per label (validation)")
    return fig


def _worst_first(losses, k: int) -> np.ndarray:
    """Indices of the `k` highest losses, highest first; ties keep the items' order."""
    return np.argsort(-np.asarray(losses), kind="stable")[:k]


def plot_top_losses(items: pd.DataFrame, probs, targets, losses, classes, k: int = 9, *, params=None):
    """The `k` validation images the model got most wrong.

    Each panel shows the spectrogram image, and above it predicted / true label, the loss and the
    probability given to the true label.

    Parameters
    ----------
    items : pandas.DataFrame
        The clips' rows (``image_path``; ``sr`` for the time axis), aligned with the arrays.
    probs, targets, losses, classes :
        As :func:`clip_embeddings` returns them, and the labels.
    k : int
        Panels.
    params : SpectrogramParams or None
        The render's parameters (``Run(...).spec_params``): with them the panels have time (s) and
        frequency (Hz) axes (:func:`audiospec_utils.explain.display.show_image`); without, bare pixels.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    order = _worst_first(losses, k)
    n_cols = min(3, max(1, len(order)))
    n_rows = max(1, -(-len(order) // n_cols))
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(4 * n_cols, 3.2 * n_rows), squeeze=False, constrained_layout=True)
    for ax, i in zip(axes.flat, order):
        pixels = read_image(items["image_path"].iloc[i])
        sr = pd.to_numeric(pd.Series([items["sr"].iloc[i]]), errors="coerce").iloc[0] if "sr" in items else np.nan
        if params is not None and np.isfinite(sr):
            show_image(pixels, int(sr), params, ax=ax, n_ticks=4)
            ax.set_xlabel(f"time (s) of {Path(items['image_path'].iloc[i]).stem}", fontsize=8)
        else:
            ax.imshow(pixels, cmap="magma" if pixels.ndim == 2 else None, aspect="auto")
            ax.set(xticks=[], yticks=[], xlabel=Path(items["image_path"].iloc[i]).stem)
        pred = int(np.argmax(probs[i]))
        ax.set_title(f"{classes[pred]} / {classes[targets[i]]}\nloss {losses[i]:.2f}, p(true) {probs[i][targets[i]]:.2f}",
                     fontsize=9)
    for ax in list(axes.flat)[len(order):]:
        ax.axis("off")
    fig.suptitle("Top losses: predicted / true")
    return fig


def top_losses(items: pd.DataFrame, probs, targets, losses, classes, k: int = 9) -> pd.DataFrame:
    """The `k` validation images with the highest loss, as a table (worst first).

    Parameters
    ----------
    items : pandas.DataFrame
        The images' rows (``image_path``, ``path`` (audio), ``fname``), aligned with the arrays.
    probs : np.ndarray, shape (n_images, n_classes)
    targets : np.ndarray, shape (n_images,), int
    losses : np.ndarray, shape (n_images,)
    classes : sequence of str
    k : int

    Returns
    -------
    pandas.DataFrame
        Columns ``fname``, ``path``, ``image_path``, ``true``, ``predicted``, ``loss``, ``p_true``
        (probability given to the true label), ``p_pred``.
    """
    probs, targets, losses = np.asarray(probs), np.asarray(targets), np.asarray(losses)
    order = _worst_first(losses, k)
    pred = probs.argmax(1)
    return pd.DataFrame({
        "fname": items["fname"].to_numpy()[order] if "fname" in items else [Path(p).name for p in items["path"].to_numpy()[order]],
        "path": items["path"].to_numpy()[order],
        "image_path": items["image_path"].to_numpy()[order],
        "true": [classes[t] for t in targets[order]],
        "predicted": [classes[i] for i in pred[order]],
        "loss": losses[order].astype(float),
        "p_true": probs[order, targets[order]].astype(float),
        "p_pred": probs[order, pred[order]].astype(float),
    })


#: Marker shapes cycled with the colours, so that 41 labels get 41 distinct (colour, marker) pairs.
TSNE_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")


def tsne_style(labels) -> dict:
    """A distinct (colour, marker) per label: 10 colours x up to 8 markers, enough for 80 labels.

    Parameters
    ----------
    labels : iterable of str

    Returns
    -------
    dict
        Label -> ``(colour, marker)``, in sorted label order (colour first changes, then marker).
    """
    import matplotlib.pyplot as plt

    names = sorted(set(labels))
    colours = plt.get_cmap("tab10").colors
    return {name: (colours[i % 10], TSNE_MARKERS[(i // 10) % len(TSNE_MARKERS)]) for i, name in enumerate(names)}


def plot_tsne(features, labels, *, title: str = "t-SNE of penultimate-layer embeddings", seed: int = 0,
              annotate: bool | None = None):
    """2-D t-SNE (scikit-learn) of feature vectors, one point per clip, each label its colour and marker.

    Parameters
    ----------
    features : np.ndarray, shape (n, d)
    labels : sequence of str, length n
    title : str
    seed : int
    annotate : bool or None
        Write each label's name at the centre (median) of its points; None: when there are more
        than 10 labels (where colours alone cannot be told apart).

    Returns
    -------
    matplotlib.figure.Figure
        The legend names every label with its (colour, marker) pair (:func:`tsne_style`: 10
        colours times up to 8 markers). With a message instead of points when there is nothing to
        embed: fewer than 5 points, non-finite features (a diverged model), or fewer than 5 distinct
        rows (a model that gives every clip the same output).
    """
    import matplotlib.pyplot as plt
    from sklearn.manifold import TSNE

    features = np.asarray(features, dtype=np.float32)
    labels = [str(v) for v in labels]
    n = len(features)
    n_labels = len(set(labels))
    fig, ax = plt.subplots(figsize=(9 if n_labels > 14 else 8, 6), constrained_layout=True)
    finite = np.isfinite(features).all(axis=1)
    distinct = len(np.unique(np.round(features[finite], 5), axis=0)) if finite.any() else 0
    reason = (f"too few points for t-SNE ({n})" if n < 5
              else f"{n - finite.sum()} of {n} points are not finite (NaN or inf): the model diverged"
              if not finite.all()
              else f"only {distinct} distinct points of {n}: the model gives (nearly) every clip the same output,\n"
                   "which happens when it is barely trained; train longer to see structure" if distinct < 5
              else None)
    if reason is not None:  # scikit-learn's PCA initialisation divides by zero (and has crashed) on such input
        ax.text(0.5, 0.5, reason, ha="center", va="center", wrap=True)
        ax.set(title=title, xticks=[], yticks=[])
        return fig
    perplexity = float(min(30, max(2, (n - 1) / 3)))
    xy = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(features)
    style = tsne_style(labels)
    lab = np.asarray(labels)
    annotate = n_labels > 10 if annotate is None else annotate
    for name, (colour, marker) in style.items():
        pts = xy[lab == name]
        ax.scatter(pts[:, 0], pts[:, 1], s=20, color=colour, marker=marker, label=name, alpha=0.85,
                   edgecolors="none")
        if annotate and len(pts):
            cx, cy = np.median(pts, axis=0)
            ax.annotate(name, (cx, cy), fontsize=7, ha="center", va="center",
                        bbox=dict(boxstyle="round,pad=0.15", fc="white", ec=colour, alpha=0.8))
    ax.legend(fontsize=7, ncol=1 + n_labels // 21, bbox_to_anchor=(1.01, 1), loc="upper left", markerscale=1.2)
    ax.set(title=title, xticks=[], yticks=[])
    return fig


def _params_or_none(run):
    """The run's spectrogram parameters, or None when they cannot be read (the figures lose their axes only)."""
    try:
        return run.spec_params
    except (DatasetError, OSError) as err:  # an older run without params.json, or one that cannot be read
        logger.warning("the top-losses figure has no time and frequency axes: %s", err)
        return None


def interpret_run(run, *, k: int = 9, show: bool = False, spec_dir=None, cam: bool = False,
                  cam_method: str = "gradcam") -> dict:
    """Interpret a trained run per validation clip; save every figure and table in the run folder.

    Parameters
    ----------
    run : Run or str or os.PathLike
        Folder written by :func:`audiospec_utils.learn.train.train_classifier`.
    k : int
        Number of top losses shown.
    show : bool
        Keep the figures open (in a notebook they display); otherwise they are closed after saving.
    spec_dir : str or os.PathLike or None
        The run's render folder if it has moved since training (see :func:`load_run`).
    cam : bool
        Also the maps of what the model listens to (:func:`audiospec_utils.explain.explanation.explain_validation`):
        the top `k` losses in ``RUN/cam/top_losses/`` and a mean map per label over the correctly
        predicted validation clips (``RUN/cam/mean_maps.*``). Needs the clips' audio files.
    cam_method : {"gradcam", "occlusion"}
        The maps' method (:func:`audiospec_utils.explain.explanation.explain_clip`).

    Returns
    -------
    dict
        ``figures`` (name -> path), ``tables`` (name -> DataFrame: ``per_class``,
        ``most_confused``), ``accuracy`` and ``map_at_3`` of the validation clips (windows
        averaged, as in ``metrics.json``), ``n_valid_clips``; with `cam`, ``cam`` (what
        :func:`~audiospec_utils.explain.explanation.explain_validation` returns).

    Notes
    -----
    Writes ``confusion_matrix.png``, ``top_losses.png``, ``tsne_embeddings.png``,
    ``tsne_probabilities.png``, ``per_class_f1.png``, ``per_class.csv``, ``most_confused.csv``
    and ``interpretation.json``.
    """
    import matplotlib.pyplot as plt

    run = Run(run, spec_dir=spec_dir)
    learn, valid = load_run(run, spec_dir=spec_dir)
    classes = list(learn.dls.vocab)
    clips, probs, targets, losses, emb = clip_embeddings(learn, valid)
    known = targets >= 0
    y_true, y_pred = targets[known], probs[known].argmax(1)
    report = per_class_report(y_true, y_pred, classes)
    confused = most_confused(y_true, y_pred, classes)
    report.to_csv(run.file("per_class.csv"))
    confused.to_csv(run.file("most_confused.csv"), index=False)
    labels = [classes[t] for t in targets[known]]
    figures = {
        "confusion_matrix": plot_confusion_matrix(y_true, y_pred, classes),
        "top_losses": plot_top_losses(clips[known].reset_index(drop=True), probs[known], targets[known], losses[known],
                                      classes, k=k, params=_params_or_none(run)),
        "tsne_embeddings": plot_tsne(emb[known], labels),
        "tsne_probabilities": plot_tsne(probs[known], labels, title="t-SNE of predicted probabilities"),
        "per_class_f1": plot_per_class(report),
    }
    paths = {}
    for name, fig in figures.items():
        paths[name] = str(run.file(f"{name}.png"))
        fig.savefig(paths[name], dpi=110)
        if not show:
            plt.close(fig)
    scores = {"accuracy": float((y_true == y_pred).mean()) if len(y_true) else float("nan"),
              "map_at_3": map_at_k(y_true, probs[known], 3), "n_valid_clips": int(len(clips))}
    maps = {}
    if cam:  # what the model listens to: maps of the top losses, a mean map per label (audiospec_utils.explain.explanation)
        maps["cam"] = explain_validation(run, learn, clips[known].reset_index(drop=True), probs[known],
                                         targets[known], losses[known], k=k, method=cam_method)
    write_json(run.file(Run.INTERPRETATION), {**scores, "figures": paths,
                                              "most_confused": confused.head(10).to_dict("records"), **maps})
    return {"figures": paths, "tables": {"per_class": report, "most_confused": confused}, **scores, **maps}
