"""Exceptions raised by :mod:`audiospec_utils`.

Every error the toolkit raises on purpose is a subclass of :class:`AudiospecError`, so that a
caller (the command line, a notebook, a batch loop) can catch the project's documented failures
without also swallowing programming errors.
"""

from __future__ import annotations

__all__ = [
    "AudiospecError",
    "ParameterError",
    "AudioLoadError",
    "DatasetError",
    "DownloadError",
    "WeightsUnavailableError",
    "TrainingInterrupted",
]


class AudiospecError(Exception):
    """Base class of every error raised on purpose by audiospec."""


class ParameterError(AudiospecError, ValueError):
    """A parameter is outside its allowed range.

    Raised before any work starts. The message names the parameter, the value given and the
    allowed range (as librosa's ``ParameterError`` does).
    """


class AudioLoadError(AudiospecError):
    """An audio file cannot be used: missing, unreadable, empty, corrupt or not audio.

    Parameters
    ----------
    path : str or os.PathLike
        The file that failed.
    reason : str
        A short human-readable reason, e.g. ``"empty file (0 bytes)"``.
    """

    def __init__(self, path, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class DatasetError(AudiospecError):
    """A dataset source (folder, CSV, FSDKaggle2018 root) is missing or malformed."""


class DownloadError(AudiospecError):
    """A download failed, or a downloaded file did not verify."""


class WeightsUnavailableError(AudiospecError):
    """Pretrained weights could neither be downloaded nor found locally."""


class TrainingInterrupted(AudiospecError):
    """Training was interrupted (Ctrl-C, a stopped kernel); the best checkpoint so far is kept."""
