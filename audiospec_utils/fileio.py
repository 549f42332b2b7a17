"""Atomic file writes: every file the toolkit writes appears whole or not at all.

A render, a training or a download can be killed at any moment (Ctrl-C, a notebook restart, a
Colab or Kaggle session running out of time). Each writer here first writes to a temporary file
with a unique name beside the target (same folder, so same file system), then renames it over the
target with :func:`os.replace`, which is atomic on POSIX and Windows. A reader therefore sees the
old file or the new one, never half of one, and two processes writing the same file never share a
temporary name (the name carries the process id and a random part). A failed write removes its
temporary file and leaves the target as it was.

This module is in the base layer: it imports nothing from the package.
"""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from pathlib import Path

__all__ = ["temporary_name", "atomic_path", "read_finished_result", "write_bytes_atomic", "write_text_atomic", "write_json_atomic", "write_csv_atomic"]


def temporary_name(path) -> Path:
    """A hidden, unique temporary name beside `path`: ``.NAME.<pid>.<random>.tmp``.

    Parameters
    ----------
    path : str or os.PathLike
        The file that will be written.

    Returns
    -------
    pathlib.Path
        In the same folder as `path`; no two calls return the same name.
    """
    path = Path(path)
    return path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")


@contextlib.contextmanager
def atomic_path(path, *, mkdir: bool = True):
    """A temporary path to write to; renamed over `path` when the block ends without an error.

    For writers that take a file name (``torch.save``, ``np.save``, ``onnx.save``, ``DataFrame.to_csv``)::

        with atomic_path(run / "export.onnx") as tmp:
            onnx.save(model, tmp)

    Parameters
    ----------
    path : str or os.PathLike
        The file to write.
    mkdir : bool
        Create the parent folder first when it is missing.

    Yields
    ------
    pathlib.Path
        A unique temporary name beside `path` (:func:`temporary_name`).

    Raises
    ------
    Exception
        Whatever the block raises: the temporary file is removed, `path` is left as it was.
    """
    path = Path(path)
    if mkdir:
        path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_name(path)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_bytes_atomic(path, data: bytes) -> Path:
    """Write `data` to `path` atomically (:func:`atomic_path`); returns `path` as a Path."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text_atomic(path, text: str, encoding: str = "utf-8") -> Path:
    """Write `text` to `path` atomically (:func:`atomic_path`); returns `path` as a Path."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding=encoding)
    return Path(path)


def write_json_atomic(path, obj, *, indent: int | None = 2, **dumps_kwargs) -> Path:
    """Write `obj` as JSON to `path` atomically; `dumps_kwargs` go to :func:`json.dumps`."""
    return write_text_atomic(path, json.dumps(obj, indent=indent, **dumps_kwargs) + "\n")


def write_csv_atomic(frame, path, **to_csv_kwargs) -> Path:
    """Write a pandas DataFrame as CSV to `path` atomically (``index=False`` unless given)."""
    to_csv_kwargs.setdefault("index", False)
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, **to_csv_kwargs)
    return Path(path)


def read_finished_result(path, key) -> dict | None:
    """A result saved by an earlier run of the same work, when it finished with the same `key`.

    ``cv`` (one JSON per fold) and ``compare`` (one per row) save each finished piece with the
    settings it was made with (``"key"``) so that running again skips it. This reads one back.

    Parameters
    ----------
    path : str or os.PathLike
        A JSON object written with :func:`write_json_atomic`.
    key : JSON-serialisable
        The settings the result must have been made with (compared after a JSON round trip, so
        tuples match lists).

    Returns
    -------
    dict or None
        The saved object; None when the file is missing or unreadable, was made with another
        key, or records an ``"error"``.
    """
    path = Path(path)
    if not path.is_file():
        return None
    try:
        old = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(old, dict) or old.get("key") != json.loads(json.dumps(key)) or old.get("error"):
        return None
    return old
