"""Download, verify and extract the FSDKaggle2018 dataset from Zenodo (or a mirror).

FSDKaggle2018 (Fonseca et al., DCASE 2018 Task 2) is published on Zenodo as record
`2552860 <https://zenodo.org/records/2552860>`_, in four zip archives:

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
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import time
import zipfile
from pathlib import Path
from typing import Iterable

import requests
from tqdm.auto import tqdm

from audiospec_utils.exceptions import DownloadError, ParameterError
from audiospec_utils.progress import show_progress

__all__ = [
    "ZENODO_RECORD",
    "ZENODO_BASE_URL",
    "PARTS",
    "ARCHIVE_SIZES",
    "CHECKSUM_FILE",
    "download_fsdkaggle2018",
    "download_file",
    "extract_zip",
    "read_md5sums",
    "load_md5sums",
    "archive_url",
]

logger = logging.getLogger(__name__)

ZENODO_RECORD = 2552860
ZENODO_BASE_URL = "https://zenodo.org/records/2552860/files/"

#: Part name -> archive name on Zenodo.
PARTS = {
    "train": "FSDKaggle2018.audio_train.zip",
    "test": "FSDKaggle2018.audio_test.zip",
    "meta": "FSDKaggle2018.meta.zip",
    "doc": "FSDKaggle2018.doc.zip",
}

#: Exact archive sizes in bytes, as published by Zenodo. ``None`` = not known to this
#: module: no exact value could be sourced when this table was written, so the size
#: check is skipped and the MD5 check (which implies the size) does the work. Fill in a
#: value only from Zenodo itself (``https://zenodo.org/api/records/2552860``, ``size``).
ARCHIVE_SIZES: dict[str, int | None] = {
    "FSDKaggle2018.audio_train.zip": None,
    "FSDKaggle2018.audio_test.zip": None,
    "FSDKaggle2018.meta.zip": None,
    "FSDKaggle2018.doc.zip": None,
}

#: Rough archive sizes, used ONLY to estimate the disk space needed when neither
#: :data:`ARCHIVE_SIZES` nor the server (``HEAD`` / ``Content-Length``) gives the size.
#: Never used to verify a file.
_APPROX_ARCHIVE_BYTES: dict[str, int | None] = {
    "FSDKaggle2018.audio_train.zip": 4_100_000_000,
    "FSDKaggle2018.audio_test.zip": 500_000_000,
    "FSDKaggle2018.meta.zip": 150_000,
    "FSDKaggle2018.doc.zip": None,
}

#: The MD5 table shipped with the package (``md5sum`` format).
CHECKSUM_FILE = Path(__file__).resolve().parent / "checksums" / "fsdkaggle2018.md5"

#: Name of the checksum file looked up on a mirror.
MIRROR_MD5SUMS = "md5sums.txt"

#: Back-off between retries: ``RETRY_BASE_DELAY * 2**(n - 1)`` seconds after the n-th
#: consecutive failure, capped at ``RETRY_MAX_DELAY``. Tests set the base near 0.
RETRY_BASE_DELAY = 1.0
RETRY_MAX_DELAY = 60.0

_EXTRACT_PREFIX = ".extracting-"
_USER_AGENT = "audiospec-downloader (python-requests/%s)" % requests.__version__
_MD5_RE = re.compile(r"^[0-9a-fA-F]{32}$")
_CONTENT_RANGE_RE = re.compile(r"^\s*bytes\s+(?:(\d+)-(\d+)|\*)/(\d+|\*)\s*$", re.IGNORECASE)


# --------------------------------------------------------------------------- helpers
def _say(message: str, progress: bool) -> None:
    """Tell the learner something: a log record, plus a printed line when nobody listens.

    The message always goes to :data:`logger` at INFO level. When ``progress`` is true and
    INFO records of this logger would not be shown (the default in a notebook, where
    logging is not configured), it is also printed with ``tqdm.write`` so that it does not
    break the progress bars.
    """
    logger.info(message)
    if progress and not logger.isEnabledFor(logging.INFO):
        tqdm.write(message)


def _gb(n_bytes: float) -> str:
    return f"{n_bytes / 1e9:.2f} GB"


def _new_md5():
    try:
        return hashlib.md5(usedforsecurity=False)
    except TypeError:  # pragma: no cover - Python builds without the keyword
        return hashlib.md5()


def _file_md5(path: Path, chunk_size: int = 1 << 20, progress: bool = False) -> str:
    """MD5 of a file, read in chunks (never the whole file in memory)."""
    digest = _new_md5()
    size = path.stat().st_size
    with open(path, "rb") as fh, tqdm(
        total=size,
        unit="B",
        unit_scale=True,
        desc=f"checking {path.name}",
        disable=not show_progress(progress),
        leave=False,
    ) as bar:
        for block in iter(lambda: fh.read(chunk_size), b""):
            digest.update(block)
            bar.update(len(block))
    return digest.hexdigest()


def _partial_path(path: Path) -> Path:
    return path.with_name(path.name + ".partial")


def _corrupt_path(path: Path) -> Path:
    return path.with_name(path.name + ".corrupt")


def _folder_name(archive_name: str) -> str:
    return archive_name[: -len(".zip")] if archive_name.endswith(".zip") else archive_name


def _backoff(n_failures: int) -> float:
    return min(RETRY_BASE_DELAY * (2 ** max(n_failures - 1, 0)), RETRY_MAX_DELAY)


def _parse_content_range(value: str | None):
    """Parse ``Content-Range``: ``(start, end, total)``, each ``None`` when absent/``*``."""
    if not value:
        return None, None, None
    m = _CONTENT_RANGE_RE.match(value)
    if not m:
        return None, None, None
    start = int(m.group(1)) if m.group(1) is not None else None
    end = int(m.group(2)) if m.group(2) is not None else None
    total = int(m.group(3)) if m.group(3) not in (None, "*") else None
    return start, end, total


def _content_length(resp: requests.Response) -> int | None:
    value = resp.headers.get("Content-Length")
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _session() -> requests.Session:
    s = requests.Session()
    # identity: byte offsets (Range) and byte counts (Content-Length) must refer to the
    # file itself, not to a gzip-encoded transfer of it.
    s.headers.update({"User-Agent": _USER_AGENT, "Accept-Encoding": "identity"})
    return s


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
def read_md5sums(text: str) -> dict[str, str]:
    """Parse checksums in ``md5sum`` format.

    Parameters
    ----------
    text : str
        The content of an ``md5sum`` output: one ``<md5>  <name>`` per line (``<md5>
        *<name>`` for binary mode is accepted too). Blank lines and lines starting with
        ``#`` are ignored. A leading ``./`` in a name is dropped.

    Returns
    -------
    dict[str, str]
        File name -> lower-case hexadecimal MD5.

    Raises
    ------
    ParameterError
        If a line is not in that format (the message gives the line number and the line).

    Examples
    --------
    >>> read_md5sums("f16828ac8be0e5285b9175a12f90d784  FSDKaggle2018.meta.zip\\n")
    {'FSDKaggle2018.meta.zip': 'f16828ac8be0e5285b9175a12f90d784'}
    """
    sums: dict[str, str] = {}
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(None, 1)
        if len(parts) != 2 or not _MD5_RE.match(parts[0]):
            raise ParameterError(
                f"checksum line {lineno} is not in md5sum format "
                f"('<32 hex digits>  <file name>'): {raw!r}"
            )
        digest, name = parts[0].lower(), parts[1].strip()
        if name.startswith("*"):
            name = name[1:]
        while name.startswith("./"):
            name = name[2:]
        if not name:
            raise ParameterError(f"checksum line {lineno} has no file name: {raw!r}")
        sums[name] = digest
    return sums


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
            _say(
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
    _say(f"Using the checksums of the mirror ({url}) for: {', '.join(sorted(sums)) or 'no file'}.", progress)
    return sums


# --------------------------------------------------------------------------- verification
def _verify(path: Path, expected_size: int | None, expected_md5: str | None, progress: bool):
    """Check size then MD5 of ``path``; return ``None`` if fine, else a reason string."""
    name = path.name
    if expected_md5 is None:
        logger.warning(
            "No MD5 checksum known for %s: its content cannot be verified%s.",
            name,
            "" if expected_size is None else " (only its size is checked)",
        )
    elif expected_size is None:
        logger.debug("No exact size known for %s; relying on the MD5 check.", name)
    got_size = path.stat().st_size
    if expected_size is not None and got_size != expected_size:
        return f"size {got_size} bytes, expected {expected_size} bytes"
    if expected_md5 is not None:
        got_md5 = _file_md5(path, progress=progress)
        if got_md5 != expected_md5.lower():
            return f"MD5 {got_md5}, expected {expected_md5.lower()}"
    return None


def _set_aside(src: Path, final: Path, reason: str, url: str | None) -> DownloadError:
    """Rename the bad file ``src`` to ``<final>.corrupt`` and build the error to raise."""
    corrupt = _corrupt_path(final)
    os.replace(src, corrupt)  # overwrites an older .corrupt
    advice = f"Delete {corrupt} and run again to download {final.name} afresh"
    if url:
        advice += (
            f". If it fails again with the same MD5, the copy at {url} differs from the one "
            f"expected: compare with the MD5 shown on https://zenodo.org/records/{ZENODO_RECORD} "
            f"(the expected values come from {MIRROR_MD5SUMS} on a mirror, else from "
            f"{CHECKSUM_FILE.name} shipped with audiospec)"
        )
    return DownloadError(
        f"{final.name} did not verify: {reason}. The bad copy was kept aside as {corrupt} "
        f"(nothing else was changed). {advice}."
    )


# --------------------------------------------------------------------------- download
def download_file(
    url: str,
    path: str | os.PathLike,
    *,
    expected_size: int | None = None,
    expected_md5: str | None = None,
    retries: int = 5,
    timeout: float = 60.0,
    chunk_size: int = 1 << 20,
    progress: bool = True,
) -> Path:
    """Download one file, resumably, and verify it.

    The bytes go to ``<path>.partial``; only once the file is complete and verified is it
    renamed to ``path``. Running the function again after an interruption resumes the
    download with an HTTP ``Range`` request.

    Parameters
    ----------
    url : str
        The file's URL (``http`` or ``https``).
    path : str or os.PathLike
        Where the complete file is to be stored. Its folder must exist.
    expected_size : int or None
        Exact size in bytes, checked after the download; ``None`` skips that check.
    expected_md5 : str or None
        Hexadecimal MD5, checked after the download; ``None`` skips that check (with a
        logged warning).
    retries : int >= 0
        How many consecutive failed attempts (connection refused or cut, timeout, HTTP
        5xx) are retried, with exponential back-off, before giving up. The count starts
        again whenever an attempt brings new bytes.
    timeout : float > 0
        Seconds to wait for the server to connect or to send more data.
    chunk_size : int > 0
        Bytes read per step while streaming.
    progress : bool
        Show a tqdm progress bar (bytes, rate).

    Returns
    -------
    pathlib.Path
        ``path``, complete and verified.

    Raises
    ------
    DownloadError
        At once for an HTTP 4xx answer (e.g. 404, 403), naming the URL and the status
        (408 and 429, "try later", are retried like connection problems);
        after ``retries`` retries for connection problems, naming the URL and the bytes
        received so far (kept in ``<path>.partial``: run again to resume); when the file
        does not verify: the bad copy is renamed to ``<path>.corrupt`` and the message
        gives the expected and actual values.
    ParameterError
        If ``retries``, ``timeout`` or ``chunk_size`` is out of range.

    Notes
    -----
    - An already existing ``path`` is verified and returned without any network request;
      if it does not verify it is set aside as ``<path>.corrupt`` and
      :class:`DownloadError` is raised.
    - A server that answers ``206 Partial Content`` is appended to; one that ignores the
      ``Range`` header (``200 OK``) makes the download start again from zero; ``416``
      with a ``.partial`` of the full size counts as complete.
    - The back-off after the n-th consecutive failure is
      ``min(RETRY_BASE_DELAY * 2**(n-1), RETRY_MAX_DELAY)`` seconds.
    """
    _check_common(retries, timeout, chunk_size)
    path = Path(path)
    if expected_md5 is not None and not _MD5_RE.match(expected_md5):
        raise ParameterError(f"expected_md5 must be 32 hexadecimal digits, got {expected_md5!r}")
    if expected_size is not None and (not isinstance(expected_size, int) or expected_size < 0):
        raise ParameterError(f"expected_size must be a non-negative int or None, got {expected_size!r}")

    if path.exists():
        reason = _verify(path, expected_size, expected_md5, progress)
        if reason is not None:
            raise _set_aside(path, path, f"the existing copy has {reason}", url)
        _say(f"{path.name} is already downloaded and verified: not downloading it again.", progress)
        return path

    partial = _partial_path(path)
    with _session() as session:
        _fetch(session, url, partial, expected_size, retries, timeout, chunk_size, progress)

    reason = _verify(partial, expected_size, expected_md5, progress)
    if reason is not None:
        raise _set_aside(partial, path, reason, url)
    os.replace(partial, path)
    return path


def _check_common(retries, timeout, chunk_size) -> None:
    if not isinstance(retries, int) or isinstance(retries, bool) or retries < 0:
        raise ParameterError(f"retries must be an int >= 0, got {retries!r}")
    if not isinstance(timeout, (int, float)) or isinstance(timeout, bool) or not timeout > 0:
        raise ParameterError(f"timeout must be a number of seconds > 0, got {timeout!r}")
    if not isinstance(chunk_size, int) or isinstance(chunk_size, bool) or chunk_size <= 0:
        raise ParameterError(f"chunk_size must be an int > 0, got {chunk_size!r}")


def _truncate(partial: Path) -> None:
    with open(partial, "wb"):
        pass


def _fetch(session, url, partial: Path, expected_size, retries, timeout, chunk_size, progress):
    """Bring ``partial`` to the full length of the remote file (no verification)."""
    failures = 0
    total: int | None = expected_size
    bar = tqdm(
        total=expected_size,
        unit="B",
        unit_scale=True,
        desc=partial.name[: -len(".partial")],
        disable=not show_progress(progress),
        dynamic_ncols=True,
    )

    def fail(message: str) -> None:
        nonlocal failures
        failures += 1
        have_now = partial.stat().st_size if partial.exists() else 0
        if failures > retries:
            bar.close()
            of_total = total if total is not None else "an unknown number of"
            kept = f", kept in {partial}" if have_now > 0 else ""
            raise DownloadError(
                f"Download of {url} failed after {failures} attempt(s) in a row: {message}. "
                f"Got {have_now} of {of_total} bytes so far{kept}. Check your internet "
                "connection (or the mirror) and run the same command again: the download "
                "resumes where it stopped."
            )
        delay = _backoff(failures)
        logger.warning(
            "%s: %s. Retrying in %.1f s (attempt %d of %d), resuming at byte %d.",
            partial.name[: -len(".partial")], message, delay, failures + 1, retries + 1, have_now,
        )
        time.sleep(delay)

    try:
        while True:
            have = partial.stat().st_size if partial.exists() else 0
            if expected_size is not None:
                if have == expected_size:
                    return
                if have > expected_size:
                    logger.warning(
                        "%s is larger than the expected size; starting again from zero.", partial.name
                    )
                    _truncate(partial)
                    have = 0
            headers = {"Range": f"bytes={have}-"} if have > 0 else {}
            try:
                resp = session.get(url, headers=headers, stream=True, timeout=timeout)
            except (requests.ConnectionError, requests.Timeout) as exc:
                fail(f"could not connect ({exc.__class__.__name__}: {exc})")
                continue

            with resp:
                status = resp.status_code
                if status == 416:
                    _, _, remote_total = _parse_content_range(resp.headers.get("Content-Range"))
                    if have > 0 and remote_total is not None and remote_total == have:
                        bar.reset(total=have)
                        bar.update(have)
                        return  # the partial already holds the whole file
                    logger.warning(
                        "The server refused to resume %s (HTTP 416); starting again from zero.",
                        partial.name,
                    )
                    _truncate(partial)
                    fail("HTTP 416 Range Not Satisfiable")
                    continue
                if status in (408, 429):  # "timeout" / "too many requests": try later
                    fail(f"HTTP {status} {resp.reason or ''}".rstrip())
                    continue
                if 400 <= status < 500:
                    bar.close()
                    raise DownloadError(
                        f"Download of {url} failed: the server answered HTTP {status} "
                        f"{resp.reason or ''}".rstrip()
                        + ". Check the address (and the mirror, if you gave one); this is "
                        "not a network glitch, so it was not retried."
                    )
                if status >= 500 or status not in (200, 206):
                    fail(f"HTTP {status} {resp.reason or ''}".rstrip())
                    continue

                if status == 206:
                    start, _, remote_total = _parse_content_range(resp.headers.get("Content-Range"))
                    if start != have:
                        logger.warning(
                            "The server resumed %s at byte %s instead of %d; starting again from zero.",
                            partial.name, start, have,
                        )
                        _truncate(partial)
                        fail("unexpected Content-Range")
                        continue
                    mode = "ab"
                    if remote_total is None:
                        length = _content_length(resp)
                        remote_total = have + length if length is not None else None
                else:  # 200: whole file from byte 0
                    if have > 0:
                        _say(
                            f"The server does not support resuming; downloading "
                            f"{partial.name[: -len('.partial')]} again from the start.",
                            progress,
                        )
                    mode = "wb"
                    have = 0
                    remote_total = _content_length(resp)
                if remote_total is not None:
                    total = remote_total
                bar.reset(total=total)
                bar.update(have)

                received = 0
                try:
                    with open(partial, mode) as fh:
                        for block in resp.iter_content(chunk_size=chunk_size):
                            if block:
                                fh.write(block)
                                received += len(block)
                                bar.update(len(block))
                except (
                    requests.exceptions.ChunkedEncodingError,
                    requests.exceptions.ConnectionError,
                    requests.exceptions.Timeout,
                    requests.exceptions.ContentDecodingError,
                ) as exc:
                    if received > 0:
                        failures = 0  # progress was made: the count starts again
                    fail(f"the connection broke after {received} new bytes ({exc.__class__.__name__})")
                    continue

            got = partial.stat().st_size if partial.exists() else 0
            if total is not None and got < total:
                if received > 0:
                    failures = 0
                fail(f"the transfer ended early ({got} of {total} bytes)")
                continue
            return
    finally:
        bar.close()


# --------------------------------------------------------------------------- extraction
_WINDOWS_DRIVE = re.compile(r"^[A-Za-z]:")


def _safe_parts(name: str) -> list[str] | None:
    """Path components of a zip member name, or ``None`` if it could escape the folder."""
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
        members = zf.infolist()
        plan: list[tuple[zipfile.ZipInfo, list[str]]] = []
        for info in members:
            parts = _safe_parts(info.filename)
            if parts is None:
                raise DownloadError(
                    f"Refusing to extract {archive.name}: member {info.filename!r} would be "
                    f"written outside {dest}. The archive is damaged or malicious; delete it "
                    "and download it again from a trusted source."
                )
            if parts:
                plan.append((info, parts))

        dest.mkdir(parents=True, exist_ok=True)
        tmp = dest / f"{_EXTRACT_PREFIX}{archive.name}"
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir()
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

    for entry in sorted(tmp.iterdir()):
        final = dest / entry.name
        if final.exists():
            logger.warning("%s already exists: left as it is (not overwritten by %s).", final, archive.name)
            continue
        os.replace(entry, final)
    shutil.rmtree(tmp, ignore_errors=True)
    return dest


def _clean_leftovers(dest: Path, progress: bool) -> None:
    """Remove hidden temporary folders left by an interrupted extraction."""
    for name in PARTS.values():
        tmp = dest / f"{_EXTRACT_PREFIX}{name}"
        if tmp.exists():
            _say(f"Removing {tmp}, left over by an interrupted extraction.", progress)
            shutil.rmtree(tmp, ignore_errors=True)


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
        return _content_length(resp)


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
            size = _APPROX_ARCHIVE_BYTES.get(name)
            logger.debug("Size of %s unknown; estimating it as %s bytes.", name, size)
        if size is None:
            continue
        partial = _partial_path(archive)
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
    parts: Iterable[str] = ("train", "test", "meta"),
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
    >>> from audiospec_utils.download import download_fsdkaggle2018
    >>> root = download_fsdkaggle2018("data/fsdkaggle2018", parts=["meta"])  # doctest: +SKIP
    """
    part_names = _normalise_parts(parts)
    _check_common(retries, timeout, chunk_size)
    if mirror is not None and (not isinstance(mirror, str) or not re.match(r"^https?://", mirror)):
        raise ParameterError(f"mirror must be None or an http(s) URL, got {mirror!r}")
    dest = Path(dest).expanduser()
    if dest.exists() and not dest.is_dir():
        raise ParameterError(f"dest must be a folder, but {dest} is a file")

    if dest.exists():
        _clean_leftovers(dest, progress)

    todo: list[str] = []
    for part in part_names:
        name = PARTS[part]
        folder = dest / _folder_name(name)
        if folder.is_dir():
            _say(f"{folder.name} already present in {dest}: nothing to download.", progress)
        else:
            todo.append(name)
    if not todo:
        return dest

    with _session() as session:
        md5s = load_md5sums()
        sizes = {name: ARCHIVE_SIZES.get(name) for name in todo}
        if mirror is not None:
            mirror_sums = _mirror_md5sums(session, mirror, timeout, progress)
            if mirror_sums:
                for name in todo:
                    if name in mirror_sums:
                        md5s[name] = mirror_sums[name]
                        sizes[name] = None  # the mirror's copy: rely on its MD5 only
        _check_disk_space(dest, todo, sizes, session, mirror, timeout)

    dest.mkdir(parents=True, exist_ok=True)
    for name in todo:
        folder = _folder_name(name)
        archive = dest / name
        url = archive_url(name, mirror)
        _say(f"Fetching {name} from {url}", progress)
        download_file(
            url,
            archive,
            expected_size=sizes.get(name),
            expected_md5=md5s.get(name),
            retries=retries,
            timeout=timeout,
            chunk_size=chunk_size,
            progress=progress,
        )
        _check_layout(archive, folder)
        _say(f"Extracting {name} into {dest}", progress)
        extract_zip(archive, dest, progress=progress)
        if not (dest / folder).is_dir():  # pragma: no cover - guarded by _check_layout
            raise DownloadError(f"Extracting {archive} did not produce {dest / folder}.")
        if not keep_archives:
            archive.unlink()
        _say(f"{folder} is ready in {dest}.", progress)
    return dest


def _check_layout(archive: Path, folder: str) -> None:
    """The archive must contain the part's folder at its top level."""
    try:
        with zipfile.ZipFile(archive) as zf:
            names = zf.namelist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise DownloadError(
            f"{archive} is not a readable zip archive ({exc}). Delete it and run again."
        ) from exc
    tops = {(_safe_parts(n) or [""])[0] for n in names}
    if folder not in tops:
        raise DownloadError(
            f"{archive.name} does not contain the folder {folder}/ at its top level "
            f"(found: {', '.join(sorted(t for t in tops if t)) or 'nothing'}). It is not the "
            "FSDKaggle2018 archive expected; check the source (mirror)."
        )
