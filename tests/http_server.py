"""A small, real HTTP file server for tests (127.0.0.1, free port, background thread).

It serves the files of one folder and can misbehave on purpose, so that download code can
be tested against real sockets rather than mocks:

- ``Range: bytes=N-`` (and ``bytes=N-M``) requests get ``206 Partial Content`` with a
  ``Content-Range`` header; ``N`` past the end gets ``416`` with ``Content-Range: bytes */size``.
- ``HEAD`` is answered with the same headers as ``GET`` and no body.
- :attr:`ServerState.ignore_range`: always answer ``200`` with the full body.
- :attr:`ServerState.cut_after_bytes`: send the headers with the full ``Content-Length``,
  then only that many body bytes, then close the connection; this happens for the first
  :attr:`ServerState.cut_requests` matching ``GET`` requests only, so that a retry can
  finish.
- :attr:`ServerState.fail_status`: answer that HTTP status (e.g. 429, 403) to the first
  :attr:`ServerState.fail_requests` matching ``GET`` requests.
- :attr:`ServerState.bytes_per_second`: send bodies at about this rate (in 16 KiB pieces), so
  that a client process can be killed half way through a download.
- :attr:`ServerState.log`: one :class:`Request` (method, path, range header) per request.
- Quiet: nothing is written to stderr.

Use :func:`serve_directory` (a context manager) or the :func:`http_server` pytest fixture;
both give ``(base_url, state)`` where ``base_url`` ends with ``/`` and ``state.root`` is
the folder served.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

import pytest

__all__ = ["Request", "ServerState", "serve_directory", "http_server"]

_RANGE_RE = re.compile(r"^\s*bytes\s*=\s*(\d+)\s*-\s*(\d*)\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class Request:
    """One request as the server saw it."""

    method: str
    path: str  # URL path without the query string, e.g. "/FSDKaggle2018.meta.zip"
    range: str | None  # the Range header, e.g. "bytes=1024-", or None


@dataclass
class ServerState:
    """Switches and request log of one server. Change the switches at any time."""

    root: Path
    ignore_range: bool = False
    cut_after_bytes: int | None = None
    cut_requests: int = 1
    cut_suffix: str = ".zip"  # only GETs of paths ending with this are cut or failed
    fail_status: int | None = None
    fail_requests: int = 1
    bytes_per_second: float | None = None
    log: list[Request] = field(default_factory=list)
    _cuts_done: int = 0
    _fails_done: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, request: Request) -> None:
        with self._lock:
            self.log.append(request)

    def clear_log(self) -> None:
        with self._lock:
            self.log.clear()

    def requests(self, method: str | None = None, path_suffix: str | None = None) -> list[Request]:
        """The logged requests, optionally only one method and/or paths ending so."""
        with self._lock:
            return [
                r
                for r in self.log
                if (method is None or r.method == method)
                and (path_suffix is None or r.path.endswith(path_suffix))
            ]

    def take_fail(self, method: str, path: str) -> int | None:
        """HTTP status to answer instead of the file, or ``None`` to serve it."""
        with self._lock:
            if (
                method == "GET"
                and self.fail_status is not None
                and path.endswith(self.cut_suffix)
                and self._fails_done < self.fail_requests
            ):
                self._fails_done += 1
                return self.fail_status
            return None

    def take_cut(self, method: str, path: str) -> int | None:
        """Bytes to send before cutting this response, or ``None`` not to cut it."""
        with self._lock:
            if (
                method == "GET"
                and self.cut_after_bytes is not None
                and path.endswith(self.cut_suffix)
                and self._cuts_done < self.cut_requests
            ):
                self._cuts_done += 1
                return self.cut_after_bytes
            return None


class _Handler(BaseHTTPRequestHandler):
    server_version = "audiospec-test-server/1.0"
    # HTTP/1.0: one request per connection, so cutting a connection is unambiguous.
    protocol_version = "HTTP/1.0"

    @property
    def state(self) -> ServerState:
        return self.server.state  # type: ignore[attr-defined]

    def log_message(self, format, *args):  # noqa: A002 - quiet: no stderr spam
        pass

    def do_GET(self):
        self._serve(body=True)

    def do_HEAD(self):
        self._serve(body=False)

    def _resolve(self, url_path: str) -> Path | None:
        rel = urllib.parse.unquote(url_path).lstrip("/")
        root = self.state.root.resolve()
        target = (root / rel).resolve()
        if not target.is_relative_to(root) or not target.is_file():
            return None
        return target

    def _serve(self, body: bool) -> None:
        url_path = urllib.parse.urlsplit(self.path).path
        range_header = self.headers.get("Range")
        self.state.record(Request(self.command, url_path, range_header))

        target = self._resolve(url_path)
        status = self.state.take_fail(self.command, url_path) if target is not None else None
        if target is None or status is not None:
            payload = b"no\n"
            self.send_response(status or 404)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if body:
                self.wfile.write(payload)
            return

        data = target.read_bytes()
        size = len(data)
        start, end = 0, size - 1
        status = 200
        match = _RANGE_RE.match(range_header) if range_header else None
        if match and not self.state.ignore_range:
            start = int(match.group(1))
            if match.group(2):
                end = min(int(match.group(2)), size - 1)
            if start >= size or start > end:
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{size}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            status = 206
        chunk = data[start : end + 1]

        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Accept-Ranges", "none" if self.state.ignore_range else "bytes")
        self.send_header("Content-Length", str(len(chunk)))
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.end_headers()
        if not body:
            return
        cut = self.state.take_cut(self.command, url_path)
        if cut is not None and cut < len(chunk):
            self.wfile.write(chunk[:cut])
            self.wfile.flush()
            self.close_connection = True
            # Close now: the client sees fewer bytes than Content-Length announced.
            with contextlib.suppress(OSError):
                self.connection.shutdown(2)
            return
        if self.state.bytes_per_second:
            piece = 16 * 1024
            for i in range(0, len(chunk), piece):
                self.wfile.write(chunk[i:i + piece])
                time.sleep(piece / self.state.bytes_per_second)
            return
        self.wfile.write(chunk)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):  # quiet: clients hang up on purpose
        pass


@contextlib.contextmanager
def serve_directory(root: str | os.PathLike) -> Iterator[tuple[str, ServerState]]:
    """Serve ``root`` on ``127.0.0.1`` (free port) in a background thread.

    Parameters
    ----------
    root : str or os.PathLike
        The folder whose files are served (``GET /name`` -> ``root/name``).

    Yields
    ------
    (str, ServerState)
        The base URL (``http://127.0.0.1:<port>/``) and the server's state.
    """
    state = ServerState(root=Path(root))
    server = _Server(("127.0.0.1", 0), _Handler)
    server.state = state  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        host, port = server.server_address[:2]
        yield f"http://{host}:{port}/", state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def http_server(tmp_path_factory) -> Iterator[tuple[str, ServerState]]:
    """Pytest fixture: a server over a fresh empty folder; yields ``(base_url, state)``.

    Put the files to serve into ``state.root``.
    """
    root = tmp_path_factory.mktemp("served")
    with serve_directory(root) as served:
        yield served
