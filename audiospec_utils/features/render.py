"""Render a whole dataset to spectrogram images: parallel, resumable, never stopped by one bad clip.

The output is a render folder (:class:`audiospec_utils.features.folders.RenderFolder`, the one place that
knows its file names): the parameters it was rendered with, one image per clip (or per window), a
manifest with one row per image and one per failed clip with its reason, and a progress log while a
render runs (merged into the manifest at the end).

A second run with the same parameters renders only what is missing; a run with other parameters
is refused, so images made with different settings are never mixed. Parameters added to
:class:`~audiospec_utils.features.SpectrogramParams` later (``kind``, ``n_mfcc``, ``channels``,
``width``) take their defaults when an older parameters file lacks them, so a folder rendered before
still counts as rendered with the same parameters.

Memory stays flat as the dataset grows: the clips are streamed through the worker processes and
only a small record per clip (paths, duration, rate, error) comes back to the main process.

The workers are local processes (joblib) by default, or those of a ``dask.distributed`` cluster
(``client=`` a :class:`distributed.Client` or a scheduler address; ``audiospec render --scheduler``):
the same manifest, resume, failure records and atomic image writes either way. With a cluster the
workers read the clips and write the images themselves, so the audio and the output folder must be
paths that every worker sees (a shared file system mounted at the same path), and the workers must
be able to import ``audiospec_utils`` (the same environment: ``pip install "audiospec[dist]"``).
"""

from __future__ import annotations

import dataclasses
import errno
import json
import logging
import os
import sys
import uuid
from contextlib import nullcontext
from itertools import islice
from pathlib import Path

import numpy as np
import pandas as pd

from ..audio.clip_table import COLUMNS
from ..audio.datasets import load_source
from ..exceptions import AudioLoadError, AudiospecError, DatasetError, ParameterError
from ..progress import show_progress
from .folders import IMAGES, RenderFolder, as_render_folder
from .images import render_clip
from .params import AUTO_RATE, SpectrogramParams, warn_rate_dependent, with_fixed_rate

__all__ = ["render_spectrograms", "read_manifest", "image_name", "connect_scheduler", "RenderError",
           "MANIFEST_COLUMNS"]

logger = logging.getLogger(__name__)

MANIFEST_COLUMNS = COLUMNS + ["image", "window", "duration", "sr", "source_sr", "band_limited", "silent", "error",
                              "source_size", "source_mtime"]

#: The per-clip facts a render records (besides its images), in the manifest's order.
_RECORD_KEYS = ("duration", "sr", "source_sr", "band_limited", "silent", "error", "source_size", "source_mtime")


class RenderError(AudiospecError):
    """A render cannot go on at all (e.g. the disk is full); what was done is kept."""


def image_name(clip_id: str, window: int | None = None) -> str:
    """Relative image path for a clip (and window), safe inside the output folder.

    Parameters
    ----------
    clip_id : str
        The clip's id from the clip table, e.g. ``"train/00044347"``.
    window : int or None
        Window index for the ``"windows"`` clip policy (or segment index of a clip longer than
        ``segment_seconds``).

    Returns
    -------
    str
        ``"images/<clip_id>.png"`` or ``"images/<clip_id>__w003.png"``, with ``..`` and empty
        path parts neutralised so an image can never land outside ``images/``.
    """
    parts = [("__" if p == ".." else p) for p in str(clip_id).replace("\\", "/").split("/") if p not in ("", ".")]
    rel = "/".join(parts) or "_"
    suffix = "" if window is None else f"__w{window:03d}"
    return f"{IMAGES}/{rel}{suffix}.png"


def _source_stamp(path: str) -> tuple[int, float]:
    try:
        st = os.stat(path)
        return int(st.st_size), float(st.st_mtime)
    except OSError:
        return -1, -1.0


def _record(clip_id: str, path: str, error: str = "") -> dict:
    """A clip's record before rendering (or a failure record when `error` is given)."""
    size, mtime = _source_stamp(path)
    return {"clip_id": clip_id, "path": path, "images": [], "duration": np.nan, "sr": np.nan, "source_sr": np.nan,
            "band_limited": False, "silent": False, "error": error, "source_size": size, "source_mtime": mtime,
            "fatal": False}


def _render_one(clip_id: str, path: str, out_dir: str, params: SpectrogramParams) -> dict:
    """Worker: render one clip; every expected failure becomes a recorded reason."""
    rec = _record(clip_id, path)
    windowed = params.clip_policy == "windows"

    def paths(n):  # several images: "windows", or a clip longer than params.segment_seconds
        return [Path(out_dir) / image_name(clip_id, i if windowed or n > 1 else None) for i in range(n)]

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
        rec.update(sr=out["sr"], source_sr=out["source_sr"], band_limited=out["band_limited"],
                   duration=out["duration"], silent=out["silent"],
                   images=[Path(p).relative_to(out_dir).as_posix() for p in out["images"]])
    return rec


def _previous_records(folder: RenderFolder) -> dict:
    """Records of earlier (possibly interrupted) runs, keyed by clip_id."""
    recs = {}
    if folder.exists():
        df = folder.manifest()
        for cid, g in df.groupby("clip_id", sort=False):
            first = g.iloc[0]
            # RenderFolder.manifest gives every record column, those of older manifests filled in
            recs[cid] = {"clip_id": cid, "path": first["path"],
                         "images": [i for i in g["image"] if isinstance(i, str) and i],
                         **{k: first[k] for k in _RECORD_KEYS},
                         "silent": bool(first["silent"]), "band_limited": bool(first["band_limited"]),
                         "error": first["error"] if isinstance(first["error"], str) else ""}
    partial = folder.partial_file
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
    """Read ``manifest.csv`` of a render folder (:meth:`audiospec_utils.features.folders.RenderFolder.manifest`).

    Parameters
    ----------
    out_dir : str or os.PathLike
        A folder written by :func:`render_spectrograms`.

    Returns
    -------
    pandas.DataFrame
        One row per image (:data:`MANIFEST_COLUMNS` plus the clip table's other columns, ``group``
        and ``fold`` as str); failed clips have an empty ``image`` and their reason in ``error``.

    Raises
    ------
    DatasetError
        No manifest in `out_dir` (render first).
    """
    return RenderFolder(out_dir).manifest()


def _manifest_rows(table: pd.DataFrame, recs: dict) -> pd.DataFrame:
    rows = []
    extra = [c for c in table.columns if c not in COLUMNS]
    for row in table.itertuples(index=False):
        rec = recs[row.clip_id]
        base = {c: getattr(row, c) for c in COLUMNS + extra}
        meta = {k: rec.get(k) for k in _RECORD_KEYS}
        if meta["source_sr"] is None:  # a record of an older audiospec: the file's rate was the image's
            meta["source_sr"], meta["band_limited"] = meta["sr"], False
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
    bar = tqdm(total=len(todo), unit="clip", desc="Rendering", disable=not show_progress(progress))
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


_DASK_CHUNK = 16  # clips per dask task at most: fewer, larger tasks cost the scheduler less per clip
_DASK_CONNECT_TIMEOUT = 10.0  # seconds to reach the scheduler
_DASK_WORKER_WAIT = 30.0  # seconds to wait for a first worker when the scheduler has none


_malloc_tuned = False


def _tune_malloc() -> None:
    """In a dask worker process, give back the malloc speed that dask's nanny takes away (once per process).

    The nanny starts its worker with ``MALLOC_TRIM_THRESHOLD_=65536`` so that freed memory goes
    back to the system at once. Setting it also pins glibc's mmap threshold at 128 KiB, so every
    STFT-sized array is mapped, page-faulted and unmapped again: rendering ran 2.4 times slower in
    such a process (measured on FSDKaggle2018 clips). Thresholds of 32 MiB give back the speed of
    a plain process; at most that much freed memory per malloc arena stays with the worker. Only
    that value of the nanny's is changed (a user's own setting is kept), and only with glibc.
    """
    global _malloc_tuned
    if _malloc_tuned:
        return
    _malloc_tuned = True
    if os.environ.get("MALLOC_TRIM_THRESHOLD_") != "65536" or not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-1, 32 << 20)  # M_TRIM_THRESHOLD
        libc.mallopt(-3, 32 << 20)  # M_MMAP_THRESHOLD
    except (OSError, AttributeError):  # not glibc
        pass


def _render_chunk(items: list, out_dir: str, params: SpectrogramParams) -> list[dict]:
    """Dask task: render a few ``(clip_id, path)``; stops after a fatal record (the rest wait for a later run)."""
    _tune_malloc()
    recs = []
    for clip_id, path in items:
        rec = _render_one(clip_id, path, out_dir, params)
        recs.append(rec)
        if rec["fatal"]:
            break
    return recs


def _probe_worker(probe: str, token: str, clip: str | None = None) -> str:
    """Run on every dask worker: ``""`` when it reads `token` in the file `probe` and sees `clip`, else why not."""
    try:
        with open(probe, encoding="utf-8") as f:
            if f.read() != token:
                return f"another file is at {probe} there"
    except OSError as err:
        return f"cannot read {probe}: {err.strerror or err}"
    if clip is not None and not os.path.isfile(clip):
        return f"no audio file at {clip} there"
    return ""


def connect_scheduler(address: str, timeout: float | None = None):
    """Connect to a ``dask.distributed`` scheduler.

    Parameters
    ----------
    address : str
        The scheduler's address as ``dask scheduler`` prints it, e.g. ``"tcp://10.0.0.5:8786"``.
    timeout : float or None
        Seconds to keep trying to reach it (``None``: 10).

    Returns
    -------
    distributed.Client
        A client of the scheduler (not made the default client); close it when done.

    Raises
    ------
    RenderError
        ``dask.distributed`` is not installed, `address` is not an address, or the scheduler
        cannot be reached within `timeout` seconds. The message names the address.
    """
    try:
        from distributed import Client
        from distributed.comm import get_address_host_port
    except ImportError:
        raise RenderError(f"rendering on the dask scheduler {address} needs dask.distributed: "
                          f'pip install "audiospec[dist]" (or "dask[distributed]")') from None
    try:
        get_address_host_port(address)  # checked first: a Client made with a bad address complains when collected
    except (ValueError, TypeError) as err:
        raise RenderError(f"{address!r} is not a dask scheduler address ({err}); give one such as "
                          f"tcp://127.0.0.1:8786, as `dask scheduler` prints it") from None
    try:
        return Client(address, timeout=_DASK_CONNECT_TIMEOUT if timeout is None else timeout, set_as_default=False)
    except Exception as err:  # OSError (refused, timed out), TimeoutError, a protocol mismatch...
        raise RenderError(f"cannot reach the dask scheduler at {address} ({type(err).__name__}: {err}); start it "
                          f"with `dask scheduler` and give the address it prints") from None


def _scheduler_address(client) -> str:
    return str(getattr(getattr(client, "scheduler", None), "address", None) or client)


def _prepare_workers(client, out_dir: Path, clip: str | None = None) -> int:
    """Wait for a worker; check that every worker runs audiospec_utils, sees `out_dir` and `clip`; their threads.

    Raises
    ------
    RenderError
        No worker came, a worker cannot import :mod:`audiospec_utils`, or a worker does not see the
        output folder or the audio (a path that is not shared).
    """
    address = _scheduler_address(client)
    if not client.nthreads():
        logger.info("waiting up to %.0f s for a worker of the dask scheduler at %s", _DASK_WORKER_WAIT, address)
        try:
            client.wait_for_workers(1, timeout=_DASK_WORKER_WAIT)
        except Exception:  # TimeoutError (asyncio's on Python 3.10)
            raise RenderError(f"the dask scheduler at {address} has no workers: start some with "
                              f"`dask worker {address}`") from None
    token = uuid.uuid4().hex
    probe = out_dir / f".dask-probe-{token}"
    probe.write_text(token, encoding="utf-8")
    try:
        seen = client.run(_probe_worker, str(probe), token, clip)
    except Exception as err:  # the workers cannot unpickle _probe_worker: no audiospec_utils there
        raise RenderError(f"the workers of the dask scheduler at {address} cannot run audiospec_utils "
                          f"({type(err).__name__}: {err}); start them from the environment audiospec is "
                          f'installed in (pip install "audiospec[dist]")') from None
    finally:
        probe.unlink(missing_ok=True)
    blind = {w: why for w, why in seen.items() if why}
    if blind:
        worker, why = next(iter(blind.items()))
        raise RenderError(f"{len(blind)} of {len(seen)} dask worker(s) do not see the output folder {out_dir} or "
                          f"the audio (e.g. {worker}: {why}); the workers read the clips and write the images "
                          f"themselves, so both must be paths that every worker sees (a shared file system "
                          f"mounted at the same path)")
    return max(1, sum(client.nthreads().values()))


def _run_dask(todo, out_dir: Path, params: SpectrogramParams, client, partial: Path, recs: dict, progress: bool):
    """Render `todo` on a dask cluster, logging each record to `partial` as it arrives; the fatal record, if any.

    Clips go out in tasks of a few clips, and only a few tasks per worker thread are in flight at a
    time, so memory stays flat however many clips there are. After a fatal record nothing more is
    sent and the tasks in flight are waited for (their records kept), so that no worker is writing
    when the caller tidies up.
    """
    from concurrent.futures import CancelledError

    from distributed import KilledWorker, as_completed
    from tqdm.auto import tqdm

    if not todo:
        return None
    address = _scheduler_address(client)
    visible = next((r.path for r in todo if os.path.isfile(r.path)), None)  # one that this machine sees
    threads = _prepare_workers(client, out_dir, visible)
    size = max(1, min(_DASK_CHUNK, len(todo) // (4 * threads)))
    chunks = ([(r.clip_id, r.path) for r in todo[i:i + size]] for i in range(0, len(todo), size))
    pending = {}
    done = as_completed(loop=client.loop)

    def submit(chunk):
        fut = client.submit(_render_chunk, chunk, str(out_dir), params, pure=False)
        pending[fut] = chunk
        done.add(fut)

    for chunk in islice(chunks, 2 * threads + 2):
        submit(chunk)
    fatal = None
    bar = tqdm(total=len(todo), unit="clip", desc="Rendering", disable=not show_progress(progress))
    try:
        with open(partial, "a", encoding="utf-8") as log:
            for fut in done:
                chunk = pending.pop(fut)
                try:
                    out = fut.result()
                except CancelledError:
                    raise RenderError(f"lost the dask scheduler at {address}: the {len(recs)} clips done so far "
                                      f"are kept; run again to continue") from None
                except (KilledWorker, MemoryError) as err:  # a clip that crashes or exhausts its worker
                    if len(chunk) > 1:  # which one? each again on its own
                        for item in chunk:
                            submit([item])
                        continue
                    out = [_record(*chunk[0], error=f"the dask worker died while rendering it "
                                                    f"({type(err).__name__}; out of memory or a decoder crash?)")]
                except Exception as err:  # not a clip's fault: the worker's environment
                    raise RenderError(f"a worker of the dask scheduler at {address} could not render "
                                      f"({type(err).__name__}: {err}); the workers need the same environment "
                                      f"as here (audiospec_utils importable)") from None
                finally:
                    fut.release()
                for rec in out:
                    if rec.pop("fatal"):
                        fatal = fatal or rec
                        continue
                    recs[rec["clip_id"]] = rec
                    log.write(json.dumps(rec, default=float) + "\n")
                    bar.update(1)
                log.flush()
                if fatal is None:
                    nxt = next(chunks, None)
                    if nxt is not None:
                        submit(nxt)
    finally:
        bar.close()
        if pending:
            try:
                client.cancel(list(pending))
            except Exception:  # the scheduler is gone: nothing left to cancel there
                pass
    return fatal


def _remove_stale_tmp(folder: RenderFolder) -> None:
    """Delete hidden temporary images left by a killed or aborted run (never taken as images)."""
    for stale in folder.images_dir.glob("**/.*.tmp"):
        stale.unlink(missing_ok=True)


def _concrete_params(params: SpectrogramParams, table: pd.DataFrame, folder: RenderFolder) -> SpectrogramParams:
    """`params` with the rate fixed: an existing folder's rate, else the most common one of the clips."""
    old = folder.read_params_dict()
    if params.sr == AUTO_RATE and old is not None and old.get("sr") != AUTO_RATE:
        if old.get("sr") is None:  # rendered before the rate was fixed: continue as it was made
            return dataclasses.replace(params, sr=None)
        params = dataclasses.replace(params, sr=int(old["sr"]))
    explicit_fmax = params.fmax is not None
    params = with_fixed_rate(params, table["path"])
    if not explicit_fmax and old is not None and old.get("fmax") is None and old.get("sr") == params.sr:
        params = dataclasses.replace(params, fmax=None)  # an older folder at a fixed rate: fmax was left implicit
    return params


def render_spectrograms(source, out_dir, params: SpectrogramParams | None = None, *, n_jobs: int = -1,
                        progress: bool = True, retry_failed: bool = False, client=None) -> pd.DataFrame:
    """Render every clip of a source to spectrogram images, in parallel, resumably.

    Parameters
    ----------
    source : pandas.DataFrame or str or os.PathLike
        A clip table (:mod:`audiospec_utils.audio.datasets`) or a path for
        :func:`~audiospec_utils.audio.datasets.load_source` (folder per class, CSV, FSDKaggle2018 root).
    out_dir : str or os.PathLike
        Output folder (created): a :class:`~audiospec_utils.features.folders.RenderFolder`, which keeps the
        parameters it was made with.
    params : SpectrogramParams or None
        How clips become images; defaults when ``None``. ``sr="auto"`` (the default) takes the
        rate of an existing `out_dir`, else the most common rate of the source's files
        (:func:`~audiospec_utils.features.with_fixed_rate`); every clip is resampled to it and
        the rate and ``fmax`` are recorded in ``params.json``.
    n_jobs : int
        Worker processes (joblib); ``-1`` = all CPU cores. Small batches run in-process.
        Not used with `client`.
    progress : bool
        Show a tqdm progress bar (on stderr).
    retry_failed : bool
        Try again clips that failed before even if their file did not change.
    client : distributed.Client or str or None
        Render on a ``dask.distributed`` cluster instead of local processes: a client of its
        scheduler, or the scheduler's address (e.g. ``"tcp://10.0.0.5:8786"``, connected to and
        closed again here). The workers read the clips and write the images themselves: the
        clips' paths and `out_dir` must be paths that every worker sees, and the workers must
        import ``audiospec_utils`` (the same environment).

    Returns
    -------
    pandas.DataFrame
        The manifest (also written into the folder): one row per image, with the
        clip's columns, ``image`` (path relative to `out_dir`), ``window``, ``duration`` (s),
        ``sr`` (Hz, the images'), ``source_sr`` (Hz, the file's own), ``band_limited`` (the file's
        rate is below the folder's: its top bands are empty), ``silent``, and ``error`` (reason;
        empty when rendered). Its ``attrs``
        hold a ``summary`` dict: ``n_clips``, ``rendered``, ``already_done``, ``failed``,
        ``silent``, and ``render_folder``: the :class:`~audiospec_utils.features.folders.RenderFolder`
        written (pass it along to training rather than its path).

    Raises
    ------
    ParameterError
        `out_dir` was rendered with other parameters, or a parameter is out of range.
    DatasetError
        The source is malformed (no audio, bad CSV, duplicate clip ids).
    RenderError
        The disk filled up or became read-only; everything rendered so far is kept and a
        later run continues from there. With `client`, also: the scheduler cannot be reached
        (the message names its address), it has no worker, a worker does not see `out_dir` or
        the audio or cannot import ``audiospec_utils``, or the scheduler was lost during the
        render (what was done is kept).

    Notes
    -----
    One bad clip never stops the batch: it gets a row with its ``error`` and the batch goes on.
    Progress is appended to ``manifest.partial.jsonl`` as each clip finishes, so an interrupted
    render (Ctrl-C, a killed kernel) loses nothing: run it again to continue. Images are written
    under a temporary name and renamed, so no half-written image ever carries a final name.

    On a dask cluster the clips go out in small tasks, a few per worker thread at a time, and the
    records are logged as they come back, so memory stays flat and an interruption loses nothing
    there either; a clip that kills its worker gets a record with the reason, like any bad clip.

    Examples
    --------
    >>> from distributed import Client  # doctest: +SKIP
    >>> with Client("tcp://10.0.0.5:8786") as client:  # doctest: +SKIP
    ...     render_spectrograms("/shared/sounds", "/shared/specs", client=client)
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
    folder = as_render_folder(out_dir)
    out_dir = folder.path
    params = _concrete_params(params, table, folder)
    folder.claim(params)  # ParameterError when it was rendered with other parameters
    warn_rate_dependent(params, out_dir)
    _remove_stale_tmp(folder)  # left by a killed run
    recs = _previous_records(folder)
    todo = [row for row in table.itertuples(index=False)
            if not _is_done(recs.get(row.clip_id), row, out_dir, retry_failed)]
    n_done_before = len(table) - len(todo)
    partial = folder.partial_file
    if client is not None:
        own_client = isinstance(client, str)
        client = connect_scheduler(client) if own_client else client
        try:
            fatal = _run_dask(todo, out_dir, params, client, partial, recs, progress)
        finally:
            if own_client:
                client.close()
    else:
        n_jobs = 1 if len(todo) <= 16 else n_jobs
        # in-process, small BLAS products are fastest on one thread (threads only wait for each other)
        blas_limit = threadpool_limits(limits=1, user_api="blas") if todo and n_jobs == 1 else nullcontext()
        with blas_limit:
            fatal = _run(todo, out_dir, params, n_jobs, partial, recs, progress)
    if fatal is not None:
        _remove_stale_tmp(folder)  # workers stopped half way through writing an image
        raise RenderError(f"{out_dir}: {fatal['error']} (while writing the image of {fatal['path']}). "
                          f"Free some space and run again: the {len(recs)} clips done so far are kept.")
    manifest = _manifest_rows(table, recs)
    folder.write_manifest(manifest)
    partial.unlink(missing_ok=True)
    clips = manifest.drop_duplicates("clip_id")
    failed = clips[clips["error"].astype(bool)]
    summary = {"n_clips": len(clips), "rendered": len(todo) - int(failed["clip_id"].isin([r.clip_id for r in todo]).sum()),
               "already_done": n_done_before, "failed": len(failed), "silent": int(clips["silent"].sum()),
               "n_images": int(manifest["image"].astype(bool).sum())}
    manifest.attrs["summary"] = summary
    manifest.attrs["render_folder"] = folder
    if len(failed):
        logger.warning("%d of %d clips skipped: see %s (column 'error'), e.g. %s: %s", len(failed), len(clips),
                       folder.manifest_file, failed.iloc[0]["path"], failed.iloc[0]["error"])
    return manifest
