"""Render a whole dataset to spectrogram images: parallel, resumable, never stopped by one bad clip.

Output folder layout::

    out_dir/params.json          the SpectrogramParams the folder was rendered with
    out_dir/images/<clip_id>.png one image per clip (or <clip_id>__wNNN.png per window)
    out_dir/manifest.csv         one row per image (and one per failed clip, with its reason)
    out_dir/manifest.partial.jsonl  progress log while a render runs (merged into manifest.csv)

A second run with the same parameters renders only what is missing; a run with other parameters
is refused, so images made with different settings are never mixed. Parameters added to
:class:`~audiospec_utils.spectrogram.SpectrogramParams` later (``kind``, ``n_mfcc``, ``channels``,
``width``) take their defaults when an older ``params.json`` lacks them, so a folder rendered before
still counts as rendered with the same parameters.

Memory stays flat as the dataset grows: the clips are streamed through the worker processes and
only a small record per clip (paths, duration, rate, error) comes back to the main process.
"""

from __future__ import annotations

import errno
import json
import logging
import os
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import pandas as pd

from .datasets import COLUMNS, load_source
from .exceptions import AudioLoadError, AudiospecError, DatasetError, ParameterError
from .spectrogram import SpectrogramParams, render_clip

__all__ = ["render_spectrograms", "read_manifest", "image_name", "RenderError", "MANIFEST_COLUMNS"]

logger = logging.getLogger(__name__)

MANIFEST_COLUMNS = COLUMNS + ["image", "window", "duration", "sr", "silent", "error", "source_size", "source_mtime"]


class RenderError(AudiospecError):
    """A render cannot go on at all (e.g. the disk is full); what was done is kept."""


def image_name(clip_id: str, window: int | None = None) -> str:
    """Relative image path for a clip (and window), safe inside the output folder.

    Parameters
    ----------
    clip_id : str
        The clip's id from the clip table, e.g. ``"train/00044347"``.
    window : int or None
        Window index for the ``"windows"`` clip policy.

    Returns
    -------
    str
        ``"images/<clip_id>.png"`` or ``"images/<clip_id>__w003.png"``, with ``..`` and empty
        path parts neutralised so an image can never land outside ``images/``.
    """
    parts = [("__" if p == ".." else p) for p in str(clip_id).replace("\\", "/").split("/") if p not in ("", ".")]
    rel = "/".join(parts) or "_"
    suffix = "" if window is None else f"__w{window:03d}"
    return f"images/{rel}{suffix}.png"


def _source_stamp(path: str) -> tuple[int, float]:
    try:
        st = os.stat(path)
        return int(st.st_size), float(st.st_mtime)
    except OSError:
        return -1, -1.0


def _render_one(clip_id: str, path: str, out_dir: str, params: SpectrogramParams) -> dict:
    """Worker: render one clip; every expected failure becomes a recorded reason."""
    size, mtime = _source_stamp(path)
    rec = {"clip_id": clip_id, "path": path, "images": [], "duration": np.nan, "sr": np.nan,
           "silent": False, "error": "", "source_size": size, "source_mtime": mtime, "fatal": False}
    windowed = params.clip_policy == "windows"

    def paths(n):
        return [Path(out_dir) / image_name(clip_id, i if windowed else None) for i in range(n)]

    try:
        out = render_clip(path, paths, params)
    except AudioLoadError as err:
        rec["error"] = err.reason
    except ParameterError as err:
        rec["error"] = f"parameters do not fit this clip: {err}"
    except OSError as err:
        rec["error"] = f"could not write image: {err}"
        rec["fatal"] = err.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS)
    except Exception as err:  # a decoder bug must not stop the batch; record it
        rec["error"] = f"unexpected error: {type(err).__name__}: {err}"
    else:
        rec.update(sr=out["sr"], duration=out["duration"], silent=out["silent"],
                   images=[Path(p).relative_to(out_dir).as_posix() for p in out["images"]])
    return rec


def _params_difference(out_dir: Path, params: SpectrogramParams) -> dict | None:
    """How the folder's ``params.json`` differs from `params`: ``{key: (folder's, params')}``.

    ``None`` when the folder has no ``params.json``; ``{}`` when they are the same. Keys added since
    the folder was rendered take their defaults, which render what was rendered then.

    Raises
    ------
    ParameterError
        ``params.json`` is unreadable or not a JSON object.
    """
    pfile = out_dir / "params.json"
    if not pfile.exists():
        return None
    try:
        old = json.loads(pfile.read_text())
    except (OSError, ValueError) as err:
        raise ParameterError(f"{pfile}: unreadable ({err}); delete it or choose another output folder") from None
    if not isinstance(old, dict):
        raise ParameterError(f"{pfile}: not a JSON object of spectrogram parameters; delete it or choose "
                             f"another output folder")
    old = {**SpectrogramParams.defaults(), **old}
    new = json.loads(params.to_json())
    return {k: (old.get(k), v) for k, v in sorted(new.items()) if old.get(k) != v}


def _check_params(out_dir: Path, params: SpectrogramParams) -> None:
    diff = _params_difference(out_dir, params)
    if diff:
        said = ", ".join(f"{k} {a!r} -> {b!r}" for k, (a, b) in diff.items())
        raise ParameterError(
            f"{out_dir} holds spectrograms rendered with other parameters ({said}). Images made "
            f"with different settings are never mixed: choose another output folder (e.g. "
            f"{out_dir.name}_{'_'.join(diff)}) or delete this one.")
    if diff is None:
        pfile = out_dir / "params.json"
        out_dir.mkdir(parents=True, exist_ok=True)
        tmp = pfile.with_suffix(".json.tmp")
        tmp.write_text(params.to_json())
        os.replace(tmp, pfile)


def _previous_records(out_dir: Path) -> dict:
    """Records of earlier (possibly interrupted) runs, keyed by clip_id."""
    recs = {}
    man = out_dir / "manifest.csv"
    if man.exists():
        df = read_manifest(out_dir)
        for cid, g in df.groupby("clip_id", sort=False):
            first = g.iloc[0]
            recs[cid] = {"clip_id": cid, "path": first["path"],
                         "images": [i for i in g["image"] if isinstance(i, str) and i],
                         "duration": first["duration"], "sr": first["sr"], "silent": bool(first["silent"]),
                         "error": first["error"] if isinstance(first["error"], str) else "",
                         "source_size": first["source_size"], "source_mtime": first["source_mtime"]}
    partial = out_dir / "manifest.partial.jsonl"
    if partial.exists():
        with open(partial, encoding="utf-8") as f:
            for line in f:
                try:
                    rec = json.loads(line)
                    recs[rec["clip_id"]] = rec
                except (ValueError, KeyError):
                    continue  # a line cut by an interruption
    return recs


def _is_done(rec: dict | None, row, out_dir: Path, retry_failed: bool) -> bool:
    if rec is None or rec.get("path") != row.path:
        return False
    if rec.get("error"):
        return not retry_failed and _source_stamp(row.path) == (int(rec["source_size"]), float(rec["source_mtime"]))
    return bool(rec["images"]) and all((out_dir / i).is_file() for i in rec["images"])


def read_manifest(out_dir) -> pd.DataFrame:
    """Read ``manifest.csv`` of a render folder.

    Parameters
    ----------
    out_dir : str or os.PathLike
        A folder written by :func:`render_spectrograms`.

    Returns
    -------
    pandas.DataFrame
        One row per image (:data:`MANIFEST_COLUMNS` plus the clip table's other columns);
        failed clips have an empty ``image`` and their reason in ``error``.

    Raises
    ------
    DatasetError
        No manifest in `out_dir` (render first).
    """
    man = Path(out_dir) / "manifest.csv"
    if not man.is_file():
        raise DatasetError(f"{out_dir}: no manifest.csv; render spectrograms into it first "
                           f"(audiospec render SOURCE --out {out_dir})")
    df = pd.read_csv(man, dtype={"clip_id": str, "fname": str, "label": str, "image": str, "error": str,
                                 "split": str, "path": str}, keep_default_na=False)
    for col in ("duration", "sr", "source_mtime"):
        df[col] = pd.to_numeric(df[col], errors="coerce")
    df["silent"] = df["silent"].astype(str).str.lower().isin(("true", "1"))
    return df


def _manifest_rows(table: pd.DataFrame, recs: dict) -> pd.DataFrame:
    rows = []
    extra = [c for c in table.columns if c not in COLUMNS]
    for row in table.itertuples(index=False):
        rec = recs[row.clip_id]
        base = {c: getattr(row, c) for c in COLUMNS + extra}
        meta = {k: rec.get(k) for k in ("duration", "sr", "silent", "error", "source_size", "source_mtime")}
        images = rec.get("images") or [""]
        windowed = len(images) > 1 or "__w" in images[0]
        for i, img in enumerate(images):
            rows.append({**base, "image": img, "window": i if windowed else 0, **meta})
    return pd.DataFrame(rows, columns=MANIFEST_COLUMNS + extra)


def _run(todo, out_dir: Path, params: SpectrogramParams, n_jobs: int, partial: Path, recs: dict, progress: bool):
    """Render `todo`, logging each record to `partial` as it arrives; the fatal record, if any."""
    from joblib import Parallel, delayed
    from tqdm.auto import tqdm

    fatal = None
    if not todo:
        return None
    jobs = (delayed(_render_one)(row.clip_id, row.path, str(out_dir), params) for row in todo)
    results = Parallel(n_jobs=n_jobs, return_as="generator_unordered")(jobs) if n_jobs != 1 else \
        (_render_one(row.clip_id, row.path, str(out_dir), params) for row in todo)
    bar = tqdm(total=len(todo), unit="clip", desc="Rendering", disable=not progress)
    try:
        with open(partial, "a", encoding="utf-8") as log:
            for rec in results:
                is_fatal = rec.pop("fatal")
                if is_fatal:
                    fatal = rec
                    break
                recs[rec["clip_id"]] = rec
                log.write(json.dumps(rec, default=float) + "\n")
                log.flush()
                bar.update(1)
    finally:
        bar.close()
        if fatal is not None and hasattr(results, "close"):
            results.close()  # stop the workers still rendering before the caller tidies up
    return fatal


def _remove_stale_tmp(out_dir: Path) -> None:
    """Delete hidden temporary images left by a killed or aborted run (never taken as images)."""
    for stale in (out_dir / "images").glob("**/.*.tmp"):
        stale.unlink(missing_ok=True)


def render_spectrograms(source, out_dir, params: SpectrogramParams | None = None, *, n_jobs: int = -1,
                        progress: bool = True, retry_failed: bool = False) -> pd.DataFrame:
    """Render every clip of a source to spectrogram images, in parallel, resumably.

    Parameters
    ----------
    source : pandas.DataFrame or str or os.PathLike
        A clip table (:mod:`audiospec_utils.datasets`) or a path for
        :func:`~audiospec_utils.datasets.load_source` (folder per class, CSV, FSDKaggle2018 root).
    out_dir : str or os.PathLike
        Output folder (created). It keeps the parameters it was made with in ``params.json``.
    params : SpectrogramParams or None
        How clips become images; defaults when ``None``.
    n_jobs : int
        Worker processes (joblib); ``-1`` = all CPU cores. Small batches run in-process.
    progress : bool
        Show a tqdm progress bar.
    retry_failed : bool
        Try again clips that failed before even if their file did not change.

    Returns
    -------
    pandas.DataFrame
        The manifest (also written to ``out_dir/manifest.csv``): one row per image, with the
        clip's columns, ``image`` (path relative to `out_dir`), ``window``, ``duration`` (s),
        ``sr`` (Hz), ``silent``, and ``error`` (reason; empty when rendered). Its ``attrs``
        hold a ``summary`` dict: ``n_clips``, ``rendered``, ``already_done``, ``failed``,
        ``silent``.

    Raises
    ------
    ParameterError
        `out_dir` was rendered with other parameters, or a parameter is out of range.
    DatasetError
        The source is malformed (no audio, bad CSV, duplicate clip ids).
    RenderError
        The disk filled up or became read-only; everything rendered so far is kept and a
        later run continues from there.

    Notes
    -----
    One bad clip never stops the batch: it gets a row with its ``error`` and the batch goes on.
    Progress is appended to ``manifest.partial.jsonl`` as each clip finishes, so an interrupted
    render (Ctrl-C, a killed kernel) loses nothing: run it again to continue. Images are written
    under a temporary name and renamed, so no half-written image ever carries a final name.
    """
    from threadpoolctl import threadpool_limits

    params = params or SpectrogramParams()
    table = load_source(source) if isinstance(source, (str, os.PathLike)) else source.copy()
    missing = [c for c in COLUMNS if c not in table.columns]
    if missing:
        raise DatasetError(f"clip table lacks column(s) {', '.join(missing)}")
    dup = table["clip_id"][table["clip_id"].duplicated()]
    if len(dup):
        raise DatasetError(f"{len(dup)} clip id(s) occur twice, e.g. {dup.iloc[0]!r}: file names must be unique")
    out_dir = Path(out_dir).resolve()
    _check_params(out_dir, params)
    _remove_stale_tmp(out_dir)  # left by a killed run
    recs = _previous_records(out_dir)
    todo = [row for row in table.itertuples(index=False)
            if not _is_done(recs.get(row.clip_id), row, out_dir, retry_failed)]
    n_done_before = len(table) - len(todo)
    partial = out_dir / "manifest.partial.jsonl"
    n_jobs = 1 if len(todo) <= 16 else n_jobs
    # in-process, small BLAS products are fastest on one thread (threads only wait for each other)
    blas_limit = threadpool_limits(limits=1, user_api="blas") if todo and n_jobs == 1 else nullcontext()
    with blas_limit:
        fatal = _run(todo, out_dir, params, n_jobs, partial, recs, progress)
    if fatal is not None:
        _remove_stale_tmp(out_dir)  # workers stopped half way through writing an image
        raise RenderError(f"{out_dir}: {fatal['error']} (while writing the image of {fatal['path']}). "
                          f"Free some space and run again: the {len(recs)} clips done so far are kept.")
    manifest = _manifest_rows(table, recs)
    tmp = out_dir / "manifest.csv.tmp"
    manifest.to_csv(tmp, index=False)
    os.replace(tmp, out_dir / "manifest.csv")
    partial.unlink(missing_ok=True)
    clips = manifest.drop_duplicates("clip_id")
    failed = clips[clips["error"].astype(bool)]
    summary = {"n_clips": len(clips), "rendered": len(todo) - int(failed["clip_id"].isin([r.clip_id for r in todo]).sum()),
               "already_done": n_done_before, "failed": len(failed), "silent": int(clips["silent"].sum()),
               "n_images": int(manifest["image"].astype(bool).sum())}
    manifest.attrs["summary"] = summary
    if len(failed):
        logger.warning("%d of %d clips skipped: see %s (column 'error'), e.g. %s: %s", len(failed), len(clips),
                       out_dir / "manifest.csv", failed.iloc[0]["path"], failed.iloc[0]["error"])
    return manifest
