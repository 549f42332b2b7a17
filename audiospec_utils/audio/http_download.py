"""Download one file over HTTP, resuming after an interruption, and verify it (size, MD5).

:func:`download_file` streams a URL into ``<path>.partial``, resumes an interrupted transfer with
an HTTP ``Range`` request (the ``.partial`` file grows until it holds the whole file: a resume
mechanism, not a temporary file), retries connection problems with exponential back-off, checks
the size and MD5 of the result and only then renames it to ``path``; a file that does not verify
is set aside as ``<path>.corrupt``. :func:`read_md5sums` parses checksums in ``md5sum`` format.

What to download and from where (FSDKaggle2018's archives, Zenodo, a mirror) is the concern of
:mod:`audiospec_utils.audio.download`; this module knows HTTP and checksums only.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import time
from pathlib import Path

import requests
from tqdm.auto import tqdm

from ..exceptions import DownloadError, ParameterError
from ..progress import show_progress
from .fsdkaggle2018 import CHECKSUM_FILE, MIRROR_MD5SUMS, ZENODO_PAGE

__all__ = [
    "RETRY_BASE_DELAY",
    "RETRY_MAX_DELAY",
    "download_file",
    "read_md5sums",
    "check_transfer_settings",
    "http_session",
    "content_length",
    "partial_path",
    "tell",
]

logger = logging.getLogger(__name__)

#: Back-off between retries: ``RETRY_BASE_DELAY * 2**(n - 1)`` seconds after the n-th
#: consecutive failure, capped at ``RETRY_MAX_DELAY``. Tests set the base near 0.
RETRY_BASE_DELAY = 1.0
RETRY_MAX_DELAY = 60.0

_USER_AGENT = "audiospec-downloader (python-requests/%s)" % requests.__version__
_MD5_RE = re.compile(r"^[0-9a-fA-F]{32}$")
_CONTENT_RANGE_RE = re.compile(r"^\s*bytes\s+(?:(\d+)-(\d+)|\*)/(\d+|\*)\s*$", re.IGNORECASE)


# --------------------------------------------------------------------------- helpers
def tell(log: logging.Logger, message: str, progress: bool) -> None:
    """Tell the learner something: a log record, plus a printed line when nobody listens.

    Parameters
    ----------
    log : logging.Logger
        The logger of the module that speaks; the message goes to it at INFO level.
    message : str
    progress : bool
        When true and INFO records of `log` would not be shown (the default in a notebook,
        where logging is not configured), the message is also printed with ``tqdm.write`` so
        that it does not break the progress bars.
    """
    log.info(message)
    if progress and not log.isEnabledFor(logging.INFO):
        tqdm.write(message)


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


def partial_path(path: Path) -> Path:
    """Where :func:`download_file` keeps the bytes of `path` received so far: ``<path>.partial``.

    Parameters
    ----------
    path : pathlib.Path
        The file being downloaded.

    Returns
    -------
    pathlib.Path
    """
    return path.with_name(path.name + ".partial")


def _corrupt_path(path: Path) -> Path:
    return path.with_name(path.name + ".corrupt")


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


def content_length(resp: requests.Response) -> int | None:
    """The ``Content-Length`` of an HTTP answer in bytes, or None when absent or not a number.

    Parameters
    ----------
    resp : requests.Response

    Returns
    -------
    int or None
    """
    value = resp.headers.get("Content-Length")
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def http_session() -> requests.Session:
    """A :class:`requests.Session` for downloads: audiospec's User-Agent, no content encoding.

    Returns
    -------
    requests.Session
        ``Accept-Encoding: identity``: byte offsets (``Range``) and byte counts
        (``Content-Length``) must refer to the file itself, not to a gzip-encoded transfer of it.
    """
    s = requests.Session()
    s.headers.update({"User-Agent": _USER_AGENT, "Accept-Encoding": "identity"})
    return s


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
            f"expected: compare with the MD5 shown on {ZENODO_PAGE} "
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
    check_transfer_settings(retries, timeout, chunk_size)
    path = Path(path)
    if expected_md5 is not None and not _MD5_RE.match(expected_md5):
        raise ParameterError(f"expected_md5 must be 32 hexadecimal digits, got {expected_md5!r}")
    if expected_size is not None and (not isinstance(expected_size, int) or expected_size < 0):
        raise ParameterError(f"expected_size must be a non-negative int or None, got {expected_size!r}")

    if path.exists():
        reason = _verify(path, expected_size, expected_md5, progress)
        if reason is not None:
            raise _set_aside(path, path, f"the existing copy has {reason}", url)
        tell(logger, f"{path.name} is already downloaded and verified: not downloading it again.", progress)
        return path

    partial = partial_path(path)
    with http_session() as session:
        _fetch(session, url, partial, expected_size, retries, timeout, chunk_size, progress)

    reason = _verify(partial, expected_size, expected_md5, progress)
    if reason is not None:
        raise _set_aside(partial, path, reason, url)
    os.replace(partial, path)
    return path


def check_transfer_settings(retries, timeout, chunk_size) -> None:
    """Check the transfer settings of :func:`download_file`.

    Parameters
    ----------
    retries : int >= 0
    timeout : float > 0
        Seconds.
    chunk_size : int > 0
        Bytes.

    Raises
    ------
    ParameterError
        A setting is out of range or of the wrong type (the message names it).
    """
    if not isinstance(retries, int) or isinstance(retries, bool) or retries < 0:
        raise ParameterError(f"retries must be an int >= 0, got {retries!r}")
    if not isinstance(timeout, (int, float)) or isinstance(timeout, bool) or not timeout > 0:
        raise ParameterError(f"timeout must be a number of seconds > 0, got {timeout!r}")
    if not isinstance(chunk_size, int) or isinstance(chunk_size, bool) or chunk_size <= 0:
        raise ParameterError(f"chunk_size must be an int > 0, got {chunk_size!r}")


def _truncate(partial: Path) -> None:
    with open(partial, "wb"):
        pass


class _Transfer:
    """One resumable transfer: the ``.partial`` file, its progress bar and the failures in a row."""

    def __init__(self, url: str, partial: Path, expected_size, retries: int, progress: bool):
        self.url, self.partial, self.expected_size, self.retries = url, partial, expected_size, retries
        self.name = partial.name[: -len(".partial")]
        self.failures = 0
        self.total: int | None = expected_size
        self.bar = tqdm(
            total=expected_size,
            unit="B",
            unit_scale=True,
            desc=self.name,
            disable=not show_progress(progress),
            dynamic_ncols=True,
        )

    def have(self) -> int:
        """Bytes in the ``.partial`` file now."""
        return self.partial.stat().st_size if self.partial.exists() else 0

    def resume_offset(self) -> int | None:
        """Where the next request starts; None when the ``.partial`` already has the expected size."""
        have = self.have()
        if self.expected_size is not None:
            if have == self.expected_size:
                return None
            if have > self.expected_size:
                logger.warning(
                    "%s is larger than the expected size; starting again from zero.", self.partial.name
                )
                _truncate(self.partial)
                have = 0
        return have

    def fail(self, message: str) -> None:
        """Count a failed attempt: wait the back-off, or raise DownloadError after `retries` retries."""
        self.failures += 1
        have_now = self.have()
        if self.failures > self.retries:
            self.bar.close()
            of_total = self.total if self.total is not None else "an unknown number of"
            kept = f", kept in {self.partial}" if have_now > 0 else ""
            raise DownloadError(
                f"Download of {self.url} failed after {self.failures} attempt(s) in a row: {message}. "
                f"Got {have_now} of {of_total} bytes so far{kept}. Check your internet "
                "connection (or the mirror) and run the same command again: the download "
                "resumes where it stopped."
            )
        delay = _backoff(self.failures)
        logger.warning(
            "%s: %s. Retrying in %.1f s (attempt %d of %d), resuming at byte %d.",
            self.name, message, delay, self.failures + 1, self.retries + 1, have_now,
        )
        time.sleep(delay)


def _fetch(session, url, partial: Path, expected_size, retries, timeout, chunk_size, progress):
    """Bring ``partial`` to the full length of the remote file (no verification)."""
    transfer = _Transfer(url, partial, expected_size, retries, progress)
    try:
        while True:
            have = transfer.resume_offset()
            if have is None:
                return
            headers = {"Range": f"bytes={have}-"} if have > 0 else {}
            try:
                resp = session.get(url, headers=headers, stream=True, timeout=timeout)
            except (requests.ConnectionError, requests.Timeout) as exc:
                transfer.fail(f"could not connect ({exc.__class__.__name__}: {exc})")
                continue
            with resp:
                if _receive(transfer, resp, have, chunk_size, progress):
                    return
    finally:
        transfer.bar.close()


def _receive(transfer: _Transfer, resp: requests.Response, have: int, chunk_size: int, progress: bool) -> bool:
    """Handle one answer to a GET: True when the ``.partial`` now holds the whole file, False to try again.

    Raises
    ------
    DownloadError
        An HTTP 4xx answer other than 408 and 429 (not a network glitch: not retried), or too
        many failures in a row.
    """
    status = resp.status_code
    if status == 416:
        return _range_not_satisfiable(transfer, resp, have)
    if 400 <= status < 500 and status not in (408, 429):  # 408, 429: "timeout", "too many requests": try later
        transfer.bar.close()
        raise DownloadError(
            f"Download of {transfer.url} failed: the server answered HTTP {status} "
            f"{resp.reason or ''}".rstrip()
            + ". Check the address (and the mirror, if you gave one); this is "
            "not a network glitch, so it was not retried."
        )
    if status not in (200, 206):
        transfer.fail(f"HTTP {status} {resp.reason or ''}".rstrip())
        return False
    start = _body_start(transfer, resp, have, progress)
    if start is None:
        return False
    mode, have, remote_total = start
    if remote_total is not None:
        transfer.total = remote_total
    transfer.bar.reset(total=transfer.total)
    transfer.bar.update(have)
    return _stream_body(transfer, resp, mode, chunk_size)


def _range_not_satisfiable(transfer: _Transfer, resp: requests.Response, have: int) -> bool:
    """HTTP 416: complete when the ``.partial`` already has the remote size, else start again from zero."""
    _, _, remote_total = _parse_content_range(resp.headers.get("Content-Range"))
    if have > 0 and remote_total is not None and remote_total == have:
        transfer.bar.reset(total=have)
        transfer.bar.update(have)
        return True  # the partial already holds the whole file
    logger.warning(
        "The server refused to resume %s (HTTP 416); starting again from zero.",
        transfer.partial.name,
    )
    _truncate(transfer.partial)
    transfer.fail("HTTP 416 Range Not Satisfiable")
    return False


def _body_start(transfer: _Transfer, resp: requests.Response, have: int, progress: bool):
    """Where a 200 or 206 answer's body goes: ``(file mode, bytes kept, remote total or None)``.

    None (after counting a failure, the ``.partial`` emptied) when a 206 answer resumes at
    another byte than asked.
    """
    if resp.status_code == 206:
        start, _, remote_total = _parse_content_range(resp.headers.get("Content-Range"))
        if start != have:
            logger.warning(
                "The server resumed %s at byte %s instead of %d; starting again from zero.",
                transfer.partial.name, start, have,
            )
            _truncate(transfer.partial)
            transfer.fail("unexpected Content-Range")
            return None
        if remote_total is None:
            length = content_length(resp)
            remote_total = have + length if length is not None else None
        return "ab", have, remote_total
    # 200: whole file from byte 0
    if have > 0:
        tell(logger, f"The server does not support resuming; downloading {transfer.name} again from the start.",
             progress)
    return "wb", 0, content_length(resp)


def _stream_body(transfer: _Transfer, resp: requests.Response, mode: str, chunk_size: int) -> bool:
    """Write the answer's body to the ``.partial``: True when it now holds the whole file."""
    received = 0
    try:
        with open(transfer.partial, mode) as fh:
            for block in resp.iter_content(chunk_size=chunk_size):
                if block:
                    fh.write(block)
                    received += len(block)
                    transfer.bar.update(len(block))
    except (
        requests.exceptions.ChunkedEncodingError,
        requests.exceptions.ConnectionError,
        requests.exceptions.Timeout,
        requests.exceptions.ContentDecodingError,
    ) as exc:
        if received > 0:
            transfer.failures = 0  # progress was made: the count starts again
        transfer.fail(f"the connection broke after {received} new bytes ({exc.__class__.__name__})")
        return False
    got = transfer.have()
    if transfer.total is not None and got < transfer.total:
        if received > 0:
            transfer.failures = 0
        transfer.fail(f"the transfer ended early ({got} of {transfer.total} bytes)")
        return False
    return True
