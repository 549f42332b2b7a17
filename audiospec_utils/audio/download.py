"""Download, verify and extract the FSDKaggle2018 dataset from Zenodo (or a mirror).

FSDKaggle2018 (Fonseca et al., DCASE 2018 Task 2) is published on Zenodo as record
`2552860 <https://zenodo.org/records/2552860>`_, in four zip archives
(:data:`~audiospec_utils.audio.fsdkaggle2018.PARTS`):

===========  =================================  ==================================
part         archive                            extracted folder
===========  =================================  ==================================
``train``    ``FSDKaggle2018.audio_train.zip``  ``FSDKaggle2018.audio_train/`` (9,473 WAVs)
``test``     ``FSDKaggle2018.audio_test.zip``   ``FSDKaggle2018.audio_test/`` (1,600 WAVs)
``meta``     ``FSDKaggle2018.meta.zip``         ``FSDKaggle2018.meta/`` (the CSVs)
``doc``      ``FSDKaggle2018.doc.zip``          ``FSDKaggle2018.doc/``
===========  =================================  ==================================

:func:`download_fsdkaggle2018` is the entry point. It is safe to interrupt and to run
again: downloads resume where they stopped, archives are checked (size and MD5) before
anything is extracted, extraction goes through a hidden temporary folder so that a
half-extracted dataset never appears under its final name, and parts that are already
present are skipped without touching the network.

The MD5 checksums of the Zenodo archives are shipped in ``checksums/fsdkaggle2018.md5``
(``md5sum`` format) next to this module. Exact archive sizes are not known to this
module (see :data:`ARCHIVE_SIZES`); the MD5 check covers them.

This module decides what to fetch, from where, and checks the result's layout; the names of the
archives and folders are in :mod:`audiospec_utils.audio.fsdkaggle2018`, HTTP with resume and checksums
in :mod:`audiospec_utils.audio.http_download` (:func:`download_file`, :func:`read_md5sums`) and zip
extraction in :mod:`audiospec_utils.audio.unzip` (:func:`extract_zip`); those three functions can be
imported from here too.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import zipfile
from pathlib import Path
from typing import Iterable

import requests

from ..exceptions import DownloadError, ParameterError
from .fsdkaggle2018 import (
    APPROX_ARCHIVE_BYTES,
    ARCHIVE_SIZES,
    CHECKSUM_FILE,
    DEFAULT_PARTS,
    MIRROR_MD5SUMS,
    PARTS,
    ZENODO_BASE_URL,
    part_folder,
)
from .http_download import (  # noqa: F401
    check_transfer_settings,
    content_length,
    download_file,
    http_session,
    partial_path,
    read_md5sums,
    tell,
)
from .unzip import EXTRACT_PREFIX, extract_zip, member_parts

__all__ = ["download_fsdkaggle2018", "load_md5sums", "archive_url"]

logger = logging.getLogger(__name__)


def _gb(n_bytes: float) -> str:
    return f"{n_bytes / 1e9:.2f} GB"


def archive_url(name: str, mirror: str | None = None) -> str:
    """URL of one archive, on Zenodo or on a mirror.

    Parameters
    ----------
    name : str
        Archive name, e.g. ``"FSDKaggle2018.meta.zip"``.
    mirror : str or None
        ``None`` for Zenodo; otherwise the mirror's base URL, e.g.
        ``"http://host:8000/fsd/"`` (the trailing slash is optional).

    Returns
    -------
    str
        ``ZENODO_BASE_URL + name + "?download=1"`` or ``mirror + "/" + name``.
    """
    if mirror is None:
        return f"{ZENODO_BASE_URL}{name}?download=1"
    return mirror.rstrip("/") + "/" + name


# --------------------------------------------------------------------------- checksums
def load_md5sums(path: str | os.PathLike | None = None) -> dict[str, str]:
    """Read the shipped MD5 table (or another file in ``md5sum`` format).

    Parameters
    ----------
    path : str, os.PathLike or None
        The file to read; ``None`` reads :data:`CHECKSUM_FILE`.

    Returns
    -------
    dict[str, str]
        File name -> MD5. Empty (with a logged warning) when the file does not exist,
        e.g. in a broken installation; the downloads are then not verified by MD5.
    """
    path = Path(CHECKSUM_FILE if path is None else path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        logger.warning(
            "The checksum table %s is missing (incomplete installation?): downloads "
            "will not be verified by MD5.",
            path,
        )
        return {}
    return read_md5sums(text)


def _mirror_md5sums(session: requests.Session, mirror: str, timeout: float, progress: bool):
    """GET ``mirror/md5sums.txt``; its table, or ``None`` when the mirror has none."""
    url = archive_url(MIRROR_MD5SUMS, mirror)
    try:
        resp = session.get(url, timeout=timeout)
    except requests.RequestException as exc:
        logger.warning("Could not read %s (%s); using the checksums shipped with audiospec.", url, exc)
        return None
    with resp:
        if resp.status_code != 200:
            tell(
                logger,
                f"The mirror has no {MIRROR_MD5SUMS} (HTTP {resp.status_code}); "
                "using the checksums shipped with audiospec.",
                progress,
            )
            return None
        try:
            sums = read_md5sums(resp.text)
        except ParameterError as exc:
            raise DownloadError(
                f"The mirror's checksum file {url} is not in md5sum format ({exc}). "
                "Fix or remove that file on the mirror, then run again."
            ) from exc
    tell(logger, f"Using the checksums of the mirror ({url}) for: {', '.join(sorted(sums)) or 'no file'}.", progress)
    return sums


# --------------------------------------------------------------------------- disk space
def _existing_ancestor(path: Path) -> Path:
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _remote_size(session: requests.Session, url: str, timeout: float) -> int | None:
    try:
        resp = session.head(url, allow_redirects=True, timeout=timeout)
    except requests.RequestException as exc:
        logger.debug("HEAD %s failed: %s", url, exc)
        return None
    with resp:
        if resp.status_code != 200:
            return None
        return content_length(resp)


def _check_disk_space(dest, todo, sizes, session, mirror, timeout) -> None:
    need = 0
    for name in todo:
        archive = dest / name
        if archive.exists():
            size = archive.stat().st_size
            need += size  # nothing to download; the extracted files need about as much
            continue
        size = sizes.get(name)
        if size is None:
            size = _remote_size(session, archive_url(name, mirror), timeout)
        if size is None:
            size = APPROX_ARCHIVE_BYTES.get(name)
            logger.debug("Size of %s unknown; estimating it as %s bytes.", name, size)
        if size is None:
            continue
        partial = partial_path(archive)
        have = partial.stat().st_size if partial.exists() else 0
        need += max(size - have, 0) + size  # bytes to download + extracted (WAVs compress little)
    free = shutil.disk_usage(_existing_ancestor(dest)).free
    if free < need:
        raise DownloadError(
            f"Not enough free disk space in {dest}: the download and extraction need about "
            f"{_gb(need)}, but only {_gb(free)} is free. Free some space or choose another "
            "folder (dest), then run again."
        )
    logger.debug("Disk space: need about %s, %s free in %s.", _gb(need), _gb(free), dest)


# --------------------------------------------------------------------------- entry point
def _normalise_parts(parts) -> list[str]:
    if isinstance(parts, str):
        parts = (parts,)
    try:
        parts = list(parts)
    except TypeError:
        raise ParameterError(
            f"parts must be a list of part names among {sorted(PARTS)}, got {parts!r}"
        ) from None
    if not parts:
        raise ParameterError(f"parts is empty: choose at least one of {sorted(PARTS)}")
    unknown = [p for p in parts if not isinstance(p, str) or p not in PARTS]
    if unknown:
        raise ParameterError(
            f"unknown part(s) {unknown!r} in parts; allowed names: {', '.join(sorted(PARTS))}"
        )
    return list(dict.fromkeys(parts))  # drop duplicates, keep order


def download_fsdkaggle2018(
    dest: str | os.PathLike,
    parts: Iterable[str] = DEFAULT_PARTS,
    mirror: str | None = None,
    *,
    keep_archives: bool = False,
    retries: int = 5,
    timeout: float = 60.0,
    chunk_size: int = 1 << 20,
    progress: bool = True,
) -> Path:
    """Download, verify and extract the chosen parts of FSDKaggle2018 into ``dest``.

    Parameters
    ----------
    dest : str or os.PathLike
        The dataset root. After the call it holds ``FSDKaggle2018.audio_train/``,
        ``FSDKaggle2018.audio_test/``, ``FSDKaggle2018.meta/`` ... (one folder per part).
    parts : iterable of str
        Parts to fetch, among ``"train"`` (about 4.1 GB), ``"test"`` (about 0.5 GB),
        ``"meta"`` (the CSVs, about 150 KB) and ``"doc"``. A single name is accepted too.
    mirror : str or None
        ``None`` downloads from Zenodo. Otherwise the base URL of a mirror holding the
        archives under their Zenodo names, e.g. ``"http://fileserver:8000/fsd/"``. If the
        mirror also serves ``md5sums.txt`` (``md5sum`` format), its checksums are used for
        the archives it lists.
    keep_archives : bool
        Keep the zip archives after a successful extraction (default: delete them).
    retries : int >= 0
        Retries per archive for connection problems (see :func:`download_file`).
    timeout : float > 0
        Network timeout in seconds.
    chunk_size : int > 0
        Bytes read per step while streaming.
    progress : bool
        Show progress bars and print what happens.

    Returns
    -------
    pathlib.Path
        ``dest``.

    Raises
    ------
    ParameterError
        If ``parts`` is empty or holds an unknown name (the message lists the allowed
        names), or another parameter is out of range. Raised before any work.
    DownloadError
        If there is not enough free disk space (need and free are given in GB); if a
        download fails (see :func:`download_file`); if an archive does not verify (the bad
        copy is kept as ``<dest>/<archive>.corrupt``; nothing else in ``dest`` is touched);
        or if an archive holds an unsafe member path.

    Notes
    -----
    For each part, in order:

    1. If its folder already exists in ``dest``, the part is done: it is skipped without
       any network request (not even ``md5sums.txt``), and a line says so.
    2. The archive is downloaded to ``<dest>/<archive>.partial``, resuming a previous
       attempt if there is one, then checked (size when known, MD5) and only then renamed
       to ``<dest>/<archive>``. An archive already complete and verified is not
       downloaded again.
    3. It is extracted through the hidden ``<dest>/.extracting-<archive>/`` folder, then
       moved into place; leftovers of an interrupted extraction are removed first.
    4. Unless ``keep_archives``, the archive is deleted.

    Before any download, the free space of ``dest`` is compared with the sum, over the
    parts still to do, of the bytes still to download plus the extracted size
    (approximated by the archive size: WAV files compress little). Sizes come from
    :data:`ARCHIVE_SIZES` or, when unknown, from a ``HEAD`` request.

    Checksums come from ``checksums/fsdkaggle2018.md5`` shipped with the package (MD5s
    taken from a third-party script that checks the Zenodo archives; the exact byte
    sizes are not known, see :data:`ARCHIVE_SIZES`).

    Examples
    --------
    >>> from audiospec_utils.audio.download import download_fsdkaggle2018
    >>> root = download_fsdkaggle2018("data/fsdkaggle2018", parts=["meta"])  # doctest: +SKIP
    """
    part_names = _normalise_parts(parts)
    check_transfer_settings(retries, timeout, chunk_size)
    if mirror is not None and (not isinstance(mirror, str) or not re.match(r"^https?://", mirror)):
        raise ParameterError(f"mirror must be None or an http(s) URL, got {mirror!r}")
    dest = Path(dest).expanduser()
    if dest.exists() and not dest.is_dir():
        raise ParameterError(f"dest must be a folder, but {dest} is a file")

    if dest.exists():
        _clean_leftovers(dest, progress)
    todo = _archives_to_fetch(dest, part_names, progress)
    if not todo:
        return dest

    with http_session() as session:
        md5s, sizes = _expected_checksums(session, todo, mirror, timeout, progress)
        _check_disk_space(dest, todo, sizes, session, mirror, timeout)

    dest.mkdir(parents=True, exist_ok=True)
    for name in todo:
        _fetch_and_extract(dest, name, mirror, expected_size=sizes.get(name), expected_md5=md5s.get(name),
                           keep_archive=keep_archives, retries=retries, timeout=timeout, chunk_size=chunk_size,
                           progress=progress)
    return dest


def _archives_to_fetch(dest: Path, part_names: list[str], progress: bool) -> list[str]:
    """The archives of `part_names` whose folder is not in `dest` yet (a line says so for each one that is)."""
    todo: list[str] = []
    for part in part_names:
        name = PARTS[part]
        folder = dest / part_folder(name)
        if folder.is_dir():
            tell(logger, f"{folder.name} already present in {dest}: nothing to download.", progress)
        else:
            todo.append(name)
    return todo


def _expected_checksums(session, todo: list[str], mirror: str | None, timeout: float, progress: bool):
    """``(md5s, sizes)`` to check the archives in `todo` against: the shipped table, or the mirror's."""
    md5s = load_md5sums()
    sizes = {name: ARCHIVE_SIZES.get(name) for name in todo}
    if mirror is not None:
        mirror_sums = _mirror_md5sums(session, mirror, timeout, progress)
        if mirror_sums:
            for name in todo:
                if name in mirror_sums:
                    md5s[name] = mirror_sums[name]
                    sizes[name] = None  # the mirror's copy: rely on its MD5 only
    return md5s, sizes


def _fetch_and_extract(dest: Path, name: str, mirror: str | None, *, expected_size, expected_md5, keep_archive: bool,
                       retries: int, timeout: float, chunk_size: int, progress: bool) -> None:
    """Download archive `name` into `dest`, verify it, extract it, and delete it unless `keep_archive`."""
    folder = part_folder(name)
    archive = dest / name
    url = archive_url(name, mirror)
    tell(logger, f"Fetching {name} from {url}", progress)
    download_file(
        url,
        archive,
        expected_size=expected_size,
        expected_md5=expected_md5,
        retries=retries,
        timeout=timeout,
        chunk_size=chunk_size,
        progress=progress,
    )
    _check_layout(archive, folder)
    tell(logger, f"Extracting {name} into {dest}", progress)
    extract_zip(archive, dest, progress=progress)
    if not (dest / folder).is_dir():  # pragma: no cover - guarded by _check_layout
        raise DownloadError(f"Extracting {archive} did not produce {dest / folder}.")
    if not keep_archive:
        archive.unlink()
    tell(logger, f"{folder} is ready in {dest}.", progress)


def _clean_leftovers(dest: Path, progress: bool) -> None:
    """Remove hidden temporary folders left by an interrupted extraction."""
    for name in PARTS.values():
        tmp = dest / f"{EXTRACT_PREFIX}{name}"
        if tmp.exists():
            tell(logger, f"Removing {tmp}, left over by an interrupted extraction.", progress)
            shutil.rmtree(tmp, ignore_errors=True)


def _check_layout(archive: Path, folder: str) -> None:
    """The archive must contain the part's folder at its top level."""
    try:
        with zipfile.ZipFile(archive) as zf:
            names = zf.namelist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise DownloadError(
            f"{archive} is not a readable zip archive ({exc}). Delete it and run again."
        ) from exc
    tops = {(member_parts(n) or [""])[0] for n in names}
    if folder not in tops:
        raise DownloadError(
            f"{archive.name} does not contain the folder {folder}/ at its top level "
            f"(found: {', '.join(sorted(t for t in tops if t)) or 'nothing'}). It is not the "
            "FSDKaggle2018 archive expected; check the source (mirror)."
        )
