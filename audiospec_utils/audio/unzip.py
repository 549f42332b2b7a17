"""Extract a zip archive safely ("zip slip" refused) and atomically per top-level entry.

:func:`extract_zip` checks every member's path before writing anything, writes the members into a
hidden folder ``<dest>/.extracting-<archive name>/`` and only then moves each top-level entry into
``dest`` with :func:`os.replace`: an interrupted extraction leaves only that hidden folder, never a
half-filled folder under its final name. Moving a whole extracted folder is a rename of a folder,
which :mod:`audiospec_utils.fileio` (one file through a temporary name) does not cover.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import zipfile
from pathlib import Path

from tqdm.auto import tqdm

from ..exceptions import DownloadError
from ..progress import show_progress

__all__ = ["EXTRACT_PREFIX", "extract_zip", "member_parts"]

logger = logging.getLogger(__name__)

#: Prefix of the hidden folder an extraction writes to: ``<dest>/.extracting-<archive name>/``.
EXTRACT_PREFIX = ".extracting-"

_WINDOWS_DRIVE = re.compile(r"^[A-Za-z]:")


def member_parts(name: str) -> list[str] | None:
    """Path components of a zip member name, or ``None`` if it could escape the folder.

    Parameters
    ----------
    name : str
        A member name as stored in the archive.

    Returns
    -------
    list of str or None
        The components, without empty ones and ``.`` (``[]`` for the archive's root); None
        for an empty name, an absolute path, a Windows drive letter or a ``..`` component.
    """
    if not name or name.startswith(("/", "\\")) or _WINDOWS_DRIVE.match(name):
        return None
    parts = [p for p in re.split(r"[\\/]+", name) if p not in ("", ".")]
    if any(p == ".." for p in parts):
        return None
    return parts


def _write_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path) -> None:
    """Write one zip member (file or folder) to ``target``."""
    if info.is_dir():
        target.mkdir(parents=True, exist_ok=True)
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    with zf.open(info) as src, open(target, "wb") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)


def extract_zip(archive: str | os.PathLike, dest: str | os.PathLike, *, progress: bool = False) -> Path:
    """Extract a zip archive into ``dest`` safely and atomically per top-level entry.

    Parameters
    ----------
    archive : str or os.PathLike
        The zip file.
    dest : str or os.PathLike
        The folder to extract into (created if needed).
    progress : bool
        Show a tqdm progress bar (one step per member).

    Returns
    -------
    pathlib.Path
        ``dest``.

    Raises
    ------
    DownloadError
        If ``archive`` is not a readable zip file, or if any member would land outside
        ``dest`` (absolute path, drive letter, ``..`` component: "zip slip"). Every member
        is checked before anything is written, so a refused archive writes nothing.

    Notes
    -----
    Members are first written to the hidden folder ``<dest>/.extracting-<archive name>/``;
    then each top-level entry is moved into ``dest`` with :func:`os.replace`. An
    interrupted extraction therefore leaves only that hidden folder (removed by the next
    call), never a half-filled folder under its final name. A top-level entry that already
    exists in ``dest`` is left untouched (with a logged warning).
    """
    archive = Path(archive)
    dest = Path(dest)
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as exc:
        raise DownloadError(
            f"{archive} is not a readable zip archive ({exc}). Delete it and download it again."
        ) from exc
    with zf:
        plan = _extraction_plan(zf, archive, dest)
        dest.mkdir(parents=True, exist_ok=True)
        tmp = dest / f"{EXTRACT_PREFIX}{archive.name}"
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir()
        _write_plan(zf, plan, tmp, archive, dest, progress)
    _move_into_place(tmp, dest, archive)
    return dest


def _extraction_plan(zf: zipfile.ZipFile, archive: Path, dest: Path) -> list[tuple[zipfile.ZipInfo, list[str]]]:
    """Every member with its path components; DownloadError (nothing written) if one is unsafe."""
    plan: list[tuple[zipfile.ZipInfo, list[str]]] = []
    for info in zf.infolist():
        parts = member_parts(info.filename)
        if parts is None:
            raise DownloadError(
                f"Refusing to extract {archive.name}: member {info.filename!r} would be "
                f"written outside {dest}. The archive is damaged or malicious; delete it "
                "and download it again from a trusted source."
            )
        if parts:
            plan.append((info, parts))
    return plan


def _write_plan(zf: zipfile.ZipFile, plan, tmp: Path, archive: Path, dest: Path, progress: bool) -> None:
    """Write the planned members under the hidden folder `tmp`."""
    tmp_resolved = tmp.resolve()
    for info, parts in tqdm(plan, desc=f"extracting {archive.name}", unit="file", disable=not show_progress(progress)):
        target = tmp.joinpath(*parts)
        # Belt and braces: the resolved path must stay inside the temporary folder.
        if not target.resolve().is_relative_to(tmp_resolved):
            shutil.rmtree(tmp, ignore_errors=True)
            raise DownloadError(
                f"Refusing to extract {archive.name}: member {info.filename!r} would be "
                f"written outside {dest}."
            )
        _write_member(zf, info, target)


def _move_into_place(tmp: Path, dest: Path, archive: Path) -> None:
    """Move each top-level entry of `tmp` into `dest` (existing ones are left alone), then remove `tmp`."""
    for entry in sorted(tmp.iterdir()):
        final = dest / entry.name
        if final.exists():
            logger.warning("%s already exists: left as it is (not overwritten by %s).", final, archive.name)
            continue
        os.replace(entry, final)
    shutil.rmtree(tmp, ignore_errors=True)
