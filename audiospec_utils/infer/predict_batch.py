"""Prediction at the scale users bring: folders of clips, a CSV written as it goes, timelines of long recordings.

Both ways of predicting fit here behind one small interface (a *backend*):

* :class:`FastaiBackend`: the run's exported learner (:func:`audiospec_utils.infer.predict.predict_files`);
* :class:`OnnxBackend`: an exported ONNX model (:class:`audiospec_utils.infer.onnx_predict.OnnxClassifier`),
  without torch.

:func:`predict_paths` takes files and folders (searched recursively for the extensions in
:data:`audiospec_utils.audio.decode.AUDIO_EXTENSIONS`), shows a progress bar on stderr, writes one CSV row
per file as soon as it is known (so an interrupted run keeps what it did), records a bad file as an
error row and goes on, and with `timeline` writes one row per window of every file and a plot of
the label probabilities over time.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np

from ..audio.decode import is_audio_file, load_audio
from ..exceptions import AudiospecError, ParameterError
from ..features.params import segment_starts
from ..learn.inference import predict_windows
from ..learn.run import as_run
from ..ranking import top_labels
from .onnx_predict import OnnxClassifier
from .predict import error_reason, predict_files

__all__ = ["audio_inputs", "FastaiBackend", "OnnxBackend", "predict_paths", "plot_timeline", "TIMELINE_CSV"]

#: Name of the per-window table in a timeline folder.
TIMELINE_CSV = "timeline.csv"


def audio_inputs(paths) -> list[Path]:
    """The audio files named by `paths`: files as given, folders searched recursively.

    Parameters
    ----------
    paths : iterable of str or os.PathLike
        Files (kept whatever their extension, so that a file that is not audio gets its error row)
        and folders (every file below them whose extension is in
        :data:`audiospec_utils.audio.decode.AUDIO_EXTENSIONS`, case-insensitive, sorted by path).

    Returns
    -------
    list of pathlib.Path
        In the order given, each folder's files in sorted order. A path that does not exist is
        kept (it is reported as ``file not found``).
    """
    out = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            out.extend(sorted(f for f in p.rglob("*") if f.is_file() and is_audio_file(f)))
        else:
            out.append(p)
    return out


class OnnxBackend:
    """Predictions of an exported ONNX model (:class:`~audiospec_utils.infer.onnx_predict.OnnxClassifier`).

    Parameters
    ----------
    model : str or os.PathLike or OnnxClassifier
    """

    name = "onnx"

    def __init__(self, model):
        self.clf = model if isinstance(model, OnnxClassifier) else OnnxClassifier(model)
        self.labels = self.clf.labels

    def predict(self, path, k: int, *, windows: bool = False) -> dict:
        """One file's entry (see :func:`predict_paths`); raises :class:`AudiospecError` for a bad file."""
        y, sr = load_audio(path)
        a = self.clf.analyse(y, sr)
        entry = {"file": str(path), "top": self.clf.top(a["probs"], k), "duration": float(a["duration"]),
                 "n_windows": int(a["n_windows"]), "sr": int(sr), "band_limited": bool(sr < self.clf.sample_rate)}
        if windows:
            entry.update(window_probs=a["window_probs"], window_start=a["window_start"], window_end=a["window_end"])
        return entry


class FastaiBackend:
    """Predictions of a run's exported learner, as :func:`audiospec_utils.infer.predict.predict_files` makes them.

    Parameters
    ----------
    run : Run or str or os.PathLike
        A trained run folder.

    Raises
    ------
    DatasetError
        No ``export.pkl`` or no spectrogram parameters.
    """

    name = "fastai"

    def __init__(self, run):
        self.run = as_run(run)
        self.learn = self.run.learner()
        self.params = self.run.spec_params
        self.labels = [str(v) for v in self.learn.dls.vocab]

    def predict(self, path, k: int, *, windows: bool = False) -> dict:
        """One file's entry (see :func:`predict_paths`); raises :class:`AudiospecError` for a bad file."""
        if not windows:
            entry = predict_files(self.run, [path], k=k, learn=self.learn, params=self.params)[0]
            if "error" in entry:
                raise _EntryError(entry["error"])
            return entry
        return self._with_windows(path, k)

    def _with_windows(self, path, k: int) -> dict:
        from ..learn.crops import window_starts

        predicted = predict_windows(self.learn, path, self.params)
        out, cfg = predicted.rendered, self.learn.dls.config
        sr, p = int(out["sr"]), self.params
        n_samples = int(round(out["duration"] * sr))
        offsets = segment_starts(n_samples, sr, p.clip_policy, p.duration, p.segment_seconds) / sr
        if p.clip_policy != "full":
            lengths = np.full(len(offsets), float(p.duration))
        else:  # the whole clip, or its segments (the last one holds what is left)
            lengths = np.diff(np.append(offsets, out["duration"]))
        starts, ends = [], []
        for offset, seg_seconds, width in zip(offsets, lengths, predicted.cache.widths):
            per_col = (seg_seconds / width) if p.width is not None else p.resolve(sr)["hop_length"] / sr
            s = window_starts(int(width), cfg["length"], cfg.get("overlap", 0.5)).astype(np.float64)
            starts.append(offset + s * per_col)
            seg_end = max(min(offset + seg_seconds, out["duration"]), per_col)  # a window ends in its segment
            ends.append(np.minimum(offset + (s + cfg["length"]) * per_col, seg_end))
        entry = {"file": str(path), "top": top_labels(predicted.probs, self.labels, k),
                 "duration": float(out["duration"]), "n_windows": int(len(predicted.window_probs))}
        if "source_sr" in out:
            entry.update(sr=int(out["source_sr"]), band_limited=bool(out.get("band_limited", False)))
        entry.update(window_probs=predicted.window_probs, window_start=np.concatenate(starts),
                     window_end=np.concatenate(ends))
        return entry


class _EntryError(AudiospecError):
    def __init__(self, reason):
        self.reason = reason
        super().__init__(reason)


def _csv_header(k: int) -> list[str]:
    cols = ["file", "duration", "n_windows"]
    for i in range(1, k + 1):
        cols += [f"label_{i}", f"probability_{i}"]
    return cols + ["error"]


def _csv_row(entry: dict, k: int) -> list:
    if "error" in entry:
        return [entry["file"], "", ""] + [""] * (2 * k) + [entry["error"]]
    row = [entry["file"], f"{entry['duration']:.3f}", entry["n_windows"]]
    for i in range(k):
        if i < len(entry["top"]):
            row += [entry["top"][i]["label"], f"{entry['top'][i]['probability']:.6f}"]
        else:
            row += ["", ""]
    return row + [""]


def _plot_name(path: Path, used: set) -> str:
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", path.stem) or "clip"
    name, i = f"{stem}.png", 1
    while name in used:
        i += 1
        name = f"{stem}-{i}.png"
    used.add(name)
    return name


def plot_timeline(entry: dict, labels, out, *, n_labels: int = 5) -> Path:
    """Plot the probabilities of the most likely labels over time, one step per window.

    Parameters
    ----------
    entry : dict
        A successful entry with ``window_probs`` (n_windows, n_classes), ``window_start`` and
        ``window_end`` (s), as :func:`predict_paths` makes with a timeline.
    labels : sequence of str
        Column names of ``window_probs``.
    out : str or os.PathLike
        PNG file to write.
    n_labels : int
        The labels shown: those of highest probability in any window, at most this many.

    Returns
    -------
    pathlib.Path
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    wp, start, end = entry["window_probs"], entry["window_start"], entry["window_end"]
    order = np.argsort(-wp.max(axis=0), kind="stable")[:n_labels]
    centre = (start + end) / 2
    fig, ax = plt.subplots(figsize=(10, 3.2))
    for j in order:
        ax.plot(centre, wp[:, j], marker="o" if len(centre) < 40 else None, ms=3, label=str(labels[j]))
    ax.set_xlim(0, max(entry["duration"], float(end.max()) if len(end) else 1.0))
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("time (s, window centre)")
    ax.set_ylabel("probability")
    ax.set_title(f"{Path(entry['file']).name}: {len(wp)} windows", fontsize=9)
    ax.legend(fontsize=7, loc="upper right", ncol=min(len(order), 5))
    fig.tight_layout()
    out = Path(out)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def predict_paths(backend, paths, *, k: int = 3, csv_path=None, timeline=None, progress: bool = True,
                  plots: bool = True) -> list[dict]:
    """Top-`k` labels of every audio file under `paths`, never stopped by one bad file.

    Parameters
    ----------
    backend : FastaiBackend or OnnxBackend
    paths : iterable of str or os.PathLike
        Files and folders (:func:`audio_inputs`).
    k : int >= 1
        Labels per file.
    csv_path : str or os.PathLike or None
        Write ``file, duration, n_windows, label_1, probability_1, ... label_k, probability_k,
        error`` here, one row per file, each written (and flushed) as soon as it is known.
    timeline : str or os.PathLike or None
        A folder: ``timeline.csv`` gets one row per window of every file (``file, window, start_s,
        end_s, label_1, probability_1, ...``), and with `plots` each file gets a PNG of its label
        probabilities over time.
    progress : bool
        A progress bar on stderr (tqdm), when stderr is a terminal.
    plots : bool
        Draw the timeline plots.

    Returns
    -------
    list of dict
        One entry per file in order: ``{"file", "top", "duration", "n_windows", ...}`` or
        ``{"file", "error"}``; with a timeline, successful entries also name their ``plot``.

    Raises
    ------
    ParameterError
        `k` < 1, or no input at all.
    OSError
        The CSV or timeline folder cannot be written.
    """
    from tqdm.auto import tqdm

    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ParameterError(f"k must be a positive integer, got {k!r}")
    files = audio_inputs(paths)
    if not files:
        raise ParameterError(f"no audio files in {', '.join(str(p) for p in paths) or 'the inputs'} (extensions "
                             f"looked for: see audiospec_utils.audio.decode.AUDIO_EXTENSIONS)")
    k = min(k, len(backend.labels))
    out_f = tl_f = None
    results = []
    used_names: set = set()
    try:
        if csv_path is not None:
            Path(csv_path).parent.mkdir(parents=True, exist_ok=True)
            out_f = open(csv_path, "w", newline="")
            writer = csv.writer(out_f)
            writer.writerow(_csv_header(k))
            out_f.flush()
        if timeline is not None:
            tdir = Path(timeline)
            tdir.mkdir(parents=True, exist_ok=True)
            tl_f = open(tdir / TIMELINE_CSV, "w", newline="")
            tl_writer = csv.writer(tl_f)
            tl_writer.writerow(["file", "window", "start_s", "end_s"]
                               + [c for i in range(1, k + 1) for c in (f"label_{i}", f"probability_{i}")])
        for f in tqdm(files, desc=f"predict ({backend.name})", unit="file", disable=None if progress else True,
                      leave=False):
            try:
                entry = backend.predict(f, k, windows=timeline is not None)
            except Exception as err:  # one bad file (or a decoder bug) must not stop the other files
                entry = {"file": str(f), "error": error_reason(err)}
            if tl_f is not None and "error" not in entry:
                wp = entry.pop("window_probs")
                start, end = entry.pop("window_start"), entry.pop("window_end")
                for w in range(len(wp)):
                    order = np.argsort(-wp[w], kind="stable")[:k]
                    tl_writer.writerow([entry["file"], w, f"{start[w]:.3f}", f"{end[w]:.3f}"]
                                       + [v for j in order for v in (backend.labels[j], f"{wp[w, j]:.6f}")])
                tl_f.flush()
                if plots:
                    try:
                        full = dict(entry, window_probs=wp, window_start=start, window_end=end)
                        entry["plot"] = str(plot_timeline(full, backend.labels, tdir / _plot_name(Path(f), used_names)))
                    except Exception as err:  # a plot must not stop the predictions
                        entry["plot_error"] = f"{type(err).__name__}: {err}"
            if out_f is not None:
                writer.writerow(_csv_row(entry, k))
                out_f.flush()
            results.append(entry)
    finally:
        for fh in (out_f, tl_f):
            if fh is not None:
                fh.close()
    return results
