"""Reading audio files into NumPy arrays, with one clear error per kind of bad file.

Every failure surfaces as :class:`~audiospec_utils.exceptions.AudioLoadError`, which carries the
file's path and a short reason, so a batch can record it and go on.
"""

from __future__ import annotations

import contextlib
import logging
import os
import struct
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import soundfile as sf

from ..exceptions import AudioLoadError, ParameterError

logger = logging.getLogger(__name__)

__all__ = ["AUDIO_EXTENSIONS", "load_audio", "audio_info", "is_audio_file", "most_common_rate"]

#: File extensions treated as audio when a folder is scanned (lower case, with the dot).
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".oga", ".mp3", ".aiff", ".aif", ".au", ".opus", ".m4a")


def is_audio_file(path) -> bool:
    """Whether `path` has one of :data:`AUDIO_EXTENSIONS` (case-insensitive); the content is not read."""
    return Path(path).suffix.lower() in AUDIO_EXTENSIONS


def _check_readable(path: Path) -> None:
    try:
        st = path.stat()
    except FileNotFoundError:
        raise AudioLoadError(path, "file not found") from None
    except OSError as err:
        raise AudioLoadError(path, f"cannot access file ({err.strerror or err})") from None
    if not path.is_file():
        raise AudioLoadError(path, "not a regular file")
    if st.st_size == 0:
        raise AudioLoadError(path, "empty file (0 bytes)")
    if not os.access(path, os.R_OK):
        raise AudioLoadError(path, "permission denied (no read permission)")


#: First bytes of the containers whose decoders print nothing (WAV, FLAC, Ogg, AIFF).
_QUIET_MAGIC = (b"RIFF", b"RF64", b"fLaC", b"OggS", b"FORM")


@contextlib.contextmanager
def _native_stderr_silenced(path: Path):
    """Keep a C decoder's own chatter off the output (libmpg123: "Note: Trying to resync...").

    libsndfile's MPEG decoder writes to file descriptor 2 itself, past Python's ``sys.stderr``;
    for files that are not WAV/FLAC/Ogg/AIFF, descriptor 2 points at /dev/null while decoding. The
    reason a file cannot be read still comes back as the exception, with the file's name.
    """
    try:
        with open(path, "rb") as f:
            quiet = f.read(4) in _QUIET_MAGIC
    except OSError:
        quiet = True
    if quiet:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def _decode(path: Path) -> tuple[np.ndarray, int]:
    """Decode with libsndfile; fall back to librosa/audioread for formats it lacks."""
    with _native_stderr_silenced(path):
        return _decode_any(path)


def _fallback_decoder_errors(audioread) -> tuple[type[BaseException], ...]:
    """What audioread's backends raise on a file they accepted and then cannot decode.

    Besides audioread's own DecodeError: its raw reader passes malformed headers through the
    standard library's wave/aifc/sunau readers, which raise EOFError, struct.error, OverflowError
    (an AIFF rate out of range) or audioop.error (a partial frame); ffmpeg's reader raises OSError,
    and a header's channel count that does not divide the samples, ValueError.
    """
    errors = [audioread.DecodeError, OSError, EOFError, ValueError, ArithmeticError, struct.error]
    audioop = sys.modules.get("audioop")  # loaded by the raw reader where this Python has it
    if audioop is not None:
        errors.append(audioop.error)
    return tuple(errors)


def _decode_any(path: Path) -> tuple[np.ndarray, int]:
    try:
        with sf.SoundFile(str(path)) as f:
            sr = int(f.samplerate)
            if f.subtype == "PCM_16":
                # 16-bit PCM (every FSDKaggle2018 clip): read the integers and scale them here, which
                # gives the values libsndfile's float conversion gives (x / 32768) in a fifth of the time
                data = f.read(dtype="int16", always_2d=True)
                return np.multiply(data, np.float32(1 / 32768), dtype=np.float32), sr
            return f.read(dtype="float32", always_2d=True), sr
    except PermissionError:
        raise AudioLoadError(path, "permission denied (no read permission)") from None
    except FileNotFoundError:
        raise AudioLoadError(path, "file not found (it disappeared while being read)") from None
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as err:
        sf_reason = str(err).split(":")[-1].strip() or type(err).__name__
    try:  # formats libsndfile cannot decode (e.g. AAC in .m4a), where a system decoder exists
        import audioread
    except ImportError:
        raise AudioLoadError(path, f"not a readable audio file ({sf_reason}; audioread, the fallback decoder, "
                                   f"is not installed)") from None
    try:
        with audioread.audio_open(str(path)) as f:
            sr, channels = int(f.samplerate), int(f.channels)
            raw = b"".join(f)  # 16-bit little-endian PCM, interleaved
        data = np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0
        return data.reshape(-1, max(channels, 1)), sr
    except FileNotFoundError:
        raise AudioLoadError(path, "file not found (it disappeared while being read)") from None
    except audioread.NoBackendError:  # every backend of audioread refused it too
        fallback = "no backend decodes it"
    except _fallback_decoder_errors(audioread) as err:  # a backend took the file, then failed on it: its reason
        fallback = f"{type(err).__name__}: {err}" if str(err) else type(err).__name__
    raise AudioLoadError(path, f"not a readable audio file ({sf_reason}; audioread: {fallback})")


def load_audio(path, *, sr: int | None = None, mono: bool = True, with_source_rate: bool = False):
    """Load an audio file as floating-point samples.

    Parameters
    ----------
    path : str or os.PathLike
        Audio file: any format libsndfile reads (WAV, FLAC, OGG/Vorbis, MP3, AIFF, ...), whatever
        its extension says; other formats go through librosa/audioread when a decoder is present.
    sr : int > 0 or None
        Target sample rate in Hz. ``None`` (default) keeps the file's own rate; otherwise the
        audio is resampled with soxr (``librosa.resample(res_type="soxr_hq")``).
    mono : bool
        Average all channels into one (default). With ``False`` the result keeps its channels.
    with_source_rate : bool
        Also return the file's own rate (before resampling).

    Returns
    -------
    y : np.ndarray, dtype float32
        Samples in [-1, 1]; shape ``(n_samples,)`` when ``mono``, else ``(n_channels, n_samples)``.
    sr : int
        Sample rate of `y` in Hz.
    source_sr : int
        Only with `with_source_rate`: the file's own sample rate in Hz.

    Raises
    ------
    AudioLoadError
        The file is missing, not readable (permissions), empty (0 bytes), not decodable audio
        (random bytes, text, truncated header), holds no samples (header only), or contains NaN or
        infinite samples. The message names the file and the reason.
    ParameterError
        `sr` is not a positive integer.
    """
    if sr is not None and (not isinstance(sr, (int, np.integer)) or sr <= 0):
        raise ParameterError(f"sr must be a positive integer number of Hz or None, got {sr!r}")
    path = Path(path)
    _check_readable(path)
    data, native_sr = _decode(path)
    if native_sr <= 0:
        raise AudioLoadError(path, f"invalid sample rate in the header ({native_sr} Hz)")
    if data.shape[0] == 0:
        raise AudioLoadError(path, "no audio samples (header only or zero-length data)")
    if not np.isfinite(data).all():
        raise AudioLoadError(path, "contains NaN or infinite samples")
    y = (data[:, 0] if data.shape[1] == 1 else data.mean(axis=1)) if mono else data.T
    y = np.ascontiguousarray(y, dtype=np.float32)
    out_sr = native_sr
    if sr is not None and sr != native_sr:
        import librosa

        y = librosa.resample(y, orig_sr=native_sr, target_sr=int(sr), res_type="soxr_hq").astype(np.float32)
        out_sr = int(sr)
    return (y, out_sr, native_sr) if with_source_rate else (y, out_sr)


def most_common_rate(paths, *, max_files: int = 500, default: int = 22050) -> int:
    """The sample rate most of a dataset's files have, read from their headers.

    Parameters
    ----------
    paths : iterable of str or os.PathLike
        Audio files.
    max_files : int
        Look at no more than this many files, spread evenly over `paths` (headers only: about
        0.1 ms a WAV file).
    default : int
        Rate in Hz when no file's header can be read (22,050 Hz, ``librosa.load``'s default).

    Returns
    -------
    int
        Sample rate in Hz; on a tie, the higher rate (the wider frequency band).

    Notes
    -----
    Files libsndfile cannot parse (e.g. AAC) are decoded to learn their rate; unreadable files
    are skipped (the render records them as failed).
    """
    paths = list(paths)
    if len(paths) > max_files:
        paths = [paths[int(i)] for i in np.linspace(0, len(paths) - 1, max_files)]
    rates = Counter()
    for path in paths:
        try:
            rates[audio_info(path)["samplerate"]] += 1
        except AudioLoadError:
            try:
                rates[_decode(Path(path))[1]] += 1
            except AudioLoadError as err:  # unreadable: the render reports it, with this reason
                logger.debug("sample rate not known: %s", err)
                continue
    if not rates:
        return int(default)
    return int(max(rates.items(), key=lambda kv: (kv[1], kv[0]))[0])


def audio_info(path) -> dict:
    """Read an audio file's header without decoding it.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    dict
        ``samplerate`` (Hz), ``channels``, ``frames`` (samples per channel), ``duration`` (s),
        ``subtype`` (e.g. ``"PCM_16"``).

    Raises
    ------
    AudioLoadError
        The file is missing, empty, unreadable or not audio that libsndfile can parse.
    """
    path = Path(path)
    _check_readable(path)
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError) as err:
        raise AudioLoadError(path, f"not a readable audio file ({err})") from None
    return {
        "samplerate": int(info.samplerate),
        "channels": int(info.channels),
        "frames": int(info.frames),
        "duration": float(info.duration),
        "subtype": info.subtype,
    }
