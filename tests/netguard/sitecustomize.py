"""Network guard for the platform simulations (tests/test_course_platforms.py).

Put this folder on ``PYTHONPATH`` and every Python process started with that environment (pytest,
the notebook kernels nbval starts, their worker processes) imports it at start-up. From then on
any attempt to open a network connection to anything but the loopback interface (``127.0.0.0/8``,
``::1``, ``localhost``) fails with :class:`NetworkBlocked` (an ``OSError``, as a machine without
network would answer), whose message names the address, and is appended to the file named by
``AUDIOSPEC_NETGUARD_LOG`` (when set) with the process id and the calling code, so that a test can
fail on an attempt even when the code under test catches the error and goes on (e.g. falls back to
training from scratch).

Wrapped: ``socket.socket.connect``, ``socket.socket.connect_ex`` (so ``ssl``, ``http.client``,
``urllib``, ``requests`` and ``asyncio`` are covered), ``socket.create_connection`` (checked
before the host name is resolved) and ``socket.getaddrinfo`` (resolving any name but loopback and
this machine's own name is the first step of a connection: refused with :class:`NameBlocked`, a
``socket.gaierror``, so that the guard works the same whether DNS answers here or not). Unix
sockets are not touched.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import socket
import traceback

__all__ = ["NetworkBlocked", "NameBlocked", "is_loopback"]

_LOG = os.environ.get("AUDIOSPEC_NETGUARD_LOG")
_INET = {socket.AF_INET, socket.AF_INET6}


class NetworkBlocked(OSError):
    """A connection to a non-loopback address was refused by the test's network guard."""


class NameBlocked(socket.gaierror):
    """Resolving a non-loopback host name was refused by the test's network guard."""


def is_loopback(host) -> bool:
    """Whether `host` (a name or an address) is the loopback interface."""
    if host is None:
        return False
    host = host.decode() if isinstance(host, bytes) else str(host)
    host = host.strip("[]").split("%", 1)[0]
    if host.lower() in ("localhost", "localhost.localdomain", "ip6-localhost"):
        return True
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)
    return ip.is_loopback or bool(mapped and mapped.is_loopback)


def _refuse(address, how: str, error=None):
    message = (f"network guard (tests/netguard): {how} {address!r} blocked; these tests run offline "
               f"and only loopback (127.0.0.1, ::1, localhost) may be reached")
    if _LOG:
        frames = traceback.extract_stack()[:-2]
        # the project's frames and the notebook cell's say who tried; the innermost ones say how
        ours = [f for f in frames[:-4] if "audiospec_utils" in f.filename or f.filename.startswith("<")
                or "ipykernel_" in f.filename]
        stack = "".join(traceback.format_list(ours + frames[-4:]))
        try:
            with open(_LOG, "a", encoding="utf-8") as fh:
                fh.write(f"pid {os.getpid()}: {message}\n{stack}\n")
        except OSError:
            pass
    if error is not None:
        return error(socket.EAI_NONAME, message)
    return NetworkBlocked(errno.ENETUNREACH, message)


_connect = socket.socket.connect
_connect_ex = socket.socket.connect_ex
_create_connection = socket.create_connection
_getaddrinfo = socket.getaddrinfo


def _own_names() -> set:
    names = set()
    try:
        names.add(socket.gethostname().lower())
    except OSError:
        pass
    return names


_OWN = _own_names()


def _host(address):
    return address[0] if isinstance(address, tuple) and address else address


def _guarded_connect(self, address):
    if self.family in _INET and not is_loopback(_host(address)):
        raise _refuse(address, "connect to")
    return _connect(self, address)


def _guarded_connect_ex(self, address):
    if self.family in _INET and not is_loopback(_host(address)):
        raise _refuse(address, "connect_ex to")
    return _connect_ex(self, address)


def _guarded_create_connection(address, *args, **kwargs):
    if not is_loopback(_host(address)):
        raise _refuse(address, "create_connection to")
    return _create_connection(address, *args, **kwargs)


def _guarded_getaddrinfo(host, *args, **kwargs):
    name = host.decode() if isinstance(host, bytes) else host
    if name is not None and name != "" and not is_loopback(name) and str(name).lower() not in _OWN:
        try:
            ipaddress.ip_address(str(name).strip("[]").split("%", 1)[0])
        except ValueError:  # a name to resolve (a numeric address is checked when connecting)
            raise _refuse(name, "resolving", NameBlocked) from None
    return _getaddrinfo(host, *args, **kwargs)


socket.socket.connect = _guarded_connect
socket.socket.connect_ex = _guarded_connect_ex
socket.create_connection = _guarded_create_connection
socket.getaddrinfo = _guarded_getaddrinfo
