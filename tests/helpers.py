"""Small audio helpers for the tests."""

from __future__ import annotations

import numpy as np
import soundfile as sf


def write_wav(path, y, sr=44100, subtype="PCM_16"):
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, np.asarray(y, dtype=np.float32), sr, subtype=subtype)
    return path


def tone(freq=440.0, seconds=1.0, sr=44100, amp=0.5):
    t = np.arange(int(seconds * sr)) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)
