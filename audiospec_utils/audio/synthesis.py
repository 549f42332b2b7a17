"""Synthetic sounds of eight FSDKaggle2018 labels: one recipe per label, all from noise and oscillators.

Every clip made here is **synthetic**: generated from noise, oscillators and envelopes, not
recorded. Each label of :data:`MINI_LABELS` has its own recipe that looks on a log-mel spectrogram
roughly as the real label does, with per-clip variation in pitch, timing, duration (0.3 s to
10 s), level (peak -30 to -1 dBFS), room reverberation and background noise (SNR 10 to 40 dB);
some clips also hold a faint sound of another label. :func:`synthesize_clip` makes one clip; the
mini dataset (:mod:`audiospec_utils.audio.mini`) writes many of them in FSDKaggle2018's layout.

All randomness comes from the :class:`numpy.random.Generator` passed in: the same generator
state gives the same clip.
"""

from __future__ import annotations

import functools
import math
import operator
from collections.abc import Callable

import numpy as np
from scipy import fft as sp_fft
from scipy import signal as sps

from ..exceptions import ParameterError

__all__ = ["MINI_LABELS", "MINI_SR", "SYNTH_VERSION", "PEAK_LIMIT", "synthesize_clip", "check_int"]

#: Labels of the mini dataset: real FSDKaggle2018 label names, each with a synthesis recipe.
MINI_LABELS: tuple[str, ...] = ("Applause", "Bass_drum", "Cowbell", "Flute", "Hi-hat", "Knock", "Telephone",
                                "Violin_or_fiddle")

#: Sampling rate of the mini dataset's WAVs (Hz), as FSDKaggle2018's.
MINI_SR: int = 44100

#: Version of the recipes: bumped when a recipe changes, so that a dataset made by older code is not reused.
SYNTH_VERSION = 1

#: Largest absolute sample value of a synthesized clip.
PEAK_LIMIT = 0.99

_MIN_DURATION, _MAX_DURATION = 0.3, 30.0
_MIN_SR, _MAX_SR = 16000, 192000


def check_int(name: str, value, lo: int, hi: int | None = None) -> int:
    """`value` as an int in ``[lo, hi]``.

    Parameters
    ----------
    name : str
        The parameter's name, for the message.
    value : int-like
        Any integer type (numpy's too); bool, float and other types are refused.
    lo, hi : int, int or None
        The range (`hi` None: no upper bound).

    Returns
    -------
    int

    Raises
    ------
    ParameterError
        `value` is not an integer or is out of range (the message names `name`).
    """
    if isinstance(value, bool):
        value = None  # True/False are not counts
    try:
        v = operator.index(value)
    except TypeError:
        v = None
    rng_txt = f">= {lo}" if hi is None else f"between {lo} and {hi}"
    if v is None or v < lo or (hi is not None and v > hi):
        raise ParameterError(f"{name} must be an integer {rng_txt}, got {value!r}")
    return int(v)


# ----------------------------------------------------------------------------------------------
# Small signal helpers (float64 throughout; the result is cast to float32 at the very end)
# ----------------------------------------------------------------------------------------------

def _quantize_hz(f: float) -> float:
    """Round a frequency to a 1/48-octave grid (so that filter designs can be cached)."""
    return 2.0 ** (round(math.log2(max(float(f), 1.0)) * 48) / 48)


def _sos(kind: str, freq, sr: int, order: int = 4) -> np.ndarray:
    """Butterworth SOS filter with its edge(s) kept inside (10 Hz, 0.45 sr)."""
    if kind in ("lowpass", "highpass"):
        return _sos_cached(kind, _quantize_hz(freq), sr, order)
    return _sos_cached(kind, (_quantize_hz(freq[0]), _quantize_hz(freq[1])), sr, order)


@functools.lru_cache(maxsize=2048)
def _sos_cached(kind: str, freq, sr: int, order: int) -> np.ndarray:
    nyq = sr / 2.0
    hi_lim = 0.9 * nyq
    if kind in ("lowpass", "highpass"):
        wn = min(max(float(freq), 10.0), hi_lim) / nyq
    else:
        lo, hi = float(freq[0]), float(freq[1])
        hi = min(max(hi, 40.0), hi_lim)
        lo = min(max(lo, 10.0), 0.8 * hi)
        wn = (lo / nyq, hi / nyq)
    return sps.butter(order, wn, btype=kind, output="sos")


def _filt(x: np.ndarray, kind: str, freq, sr: int, order: int = 4) -> np.ndarray:
    return sps.sosfilt(_sos(kind, freq, sr, order), x)


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x)))) if x.size else 0.0


def _db(v: float) -> float:
    """Amplitude ratio of `v` decibels."""
    return 10.0 ** (v / 20.0)


def _loguniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def _slow_noise(rng: np.random.Generator, n: int, sr: int, rate_hz: float) -> np.ndarray:
    """Smooth random curve (about N(0, 1)) changing `rate_hz` times a second; shape (n,)."""
    m = int(n / sr * rate_hz) + 2
    knots = rng.standard_normal(m)
    return np.interp(np.linspace(0.0, m - 1.0, n), np.arange(m), knots)


def _onsets(rng: np.random.Generator, dur: float, interval: float, *, jitter: float = 0.05,
            p_skip: float = 0.0, single: bool = False) -> np.ndarray:
    """Event times (s): the first one early in the clip, then about every `interval` s."""
    t = rng.uniform(0.0, min(0.15, 0.1 * dur))
    times = [t]
    if single:
        return np.array(times)
    while True:
        t += max(0.3 * interval, interval * (1.0 + jitter * rng.standard_normal()))
        if t >= dur - 0.02:
            break
        if rng.random() >= p_skip:
            times.append(t)
    return np.array(times)


def _place(n: int, sr: int, times: np.ndarray, event: Callable[[int, int], np.ndarray]) -> np.ndarray:
    """Sum of ``event(i, room)`` started at each of `times` (s); `room` is samples left."""
    out = np.zeros(n)
    for i, t in enumerate(times):
        s = int(t * sr)
        if s >= n:
            break
        ev = event(i, n - s)
        m = min(len(ev), n - s)
        out[s:s + m] += ev[:m]
    return out


def _odd_harmonic_square(phase: np.ndarray, f_max: float, sr: int, n_harm: int = 9) -> np.ndarray:
    """Band-limited square-like wave (odd harmonics 1/k) from a phase track."""
    out = np.zeros_like(phase)
    for k in range(1, n_harm + 1, 2):
        if k * f_max >= 0.45 * sr:
            break
        out += np.sin(k * phase) / k
    return out


# ----------------------------------------------------------------------------------------------
# One recipe per label: (rng, sr, n) -> float64 array of shape (n,), any scale
# ----------------------------------------------------------------------------------------------

def _hihat(rng: np.random.Generator, sr: int, n: int) -> np.ndarray:
    """Hi-hat: high-passed noise bursts with short decays (sometimes an open hat), choked."""
    dur = n / sr
    p_open = rng.uniform(0.0, 0.4)
    tau_closed = rng.uniform(0.012, 0.06)
    times = _onsets(rng, dur, rng.uniform(0.1, 0.5), jitter=0.03, p_skip=rng.uniform(0.0, 0.3),
                    single=rng.random() < 0.15)
    starts = (times * sr).astype(int)
    ends = np.append(starts[1:], n)
    accent = rng.uniform(0.3, 1.0)
    env = np.zeros(n)
    for i, (s, e) in enumerate(zip(starts, ends)):
        tau = rng.uniform(0.12, 0.45) if rng.random() < p_open else tau_closed * rng.uniform(0.8, 1.25)
        amp = rng.uniform(0.7, 1.0) * (1.0 if i % 2 == 0 else accent)
        m = min(e - s, int(6 * tau * sr) + 1)  # the next hit chokes the ring
        env[s:s + m] = amp * np.exp(-np.arange(m) / (tau * sr))
    src = rng.standard_normal(n)
    if rng.random() < 0.5:  # metallic tint: inharmonic square waves (as in analogue drum machines)
        t = np.arange(n) / sr
        freqs = rng.uniform(0.8, 1.3) * np.array([205.3, 304.4, 369.6, 522.7, 540.0, 800.0])
        metal = sum(np.sign(np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi))) for f in freqs)
        src = src + rng.uniform(0.2, 0.8) * metal / 2.5
    x = _filt(env * src, "highpass", rng.uniform(5000.0, 9000.0), sr, order=4)
    if rng.random() < 0.5:  # a brighter or darker "shell"
        x = x + rng.uniform(0.3, 1.0) * _filt(x, "bandpass", (rng.uniform(7000, 9000), rng.uniform(11000, 15000)), sr, order=2)
    return x


def _bass_drum(rng: np.random.Generator, sr: int, n: int) -> np.ndarray:
    """Bass drum: low decaying pitch sweeps (about 150 -> 50 Hz) with an attack click."""
    dur = n / sr
    f_start, f_end = rng.uniform(100.0, 220.0), rng.uniform(40.0, 75.0)
    tau_f, tau_a = rng.uniform(0.015, 0.07), rng.uniform(0.08, 0.45)
    drive = rng.uniform(1.0, 4.0)
    m = int(min(6 * tau_a, 2.5) * sr) + 1
    t = np.arange(m) / sr
    freq = f_end + (f_start - f_end) * np.exp(-t / tau_f)
    body = np.sin(2 * np.pi * np.cumsum(freq) / sr) * np.exp(-t / tau_a)
    body = np.tanh(drive * body) / np.tanh(drive)
    k = int(0.015 * sr)
    click = _filt(rng.standard_normal(k) * np.exp(-np.arange(k) / (0.0015 * sr)), "lowpass",
                  rng.uniform(1500.0, 6000.0), sr, order=2)
    body[:k] += rng.uniform(0.05, 0.5) * click / (np.max(np.abs(click)) + 1e-12)
    times = _onsets(rng, dur, rng.uniform(0.3, 1.0), jitter=0.04, p_skip=rng.uniform(0.0, 0.3),
                    single=rng.random() < 0.3)
    amps = rng.uniform(0.6, 1.0, size=len(times))
    return _place(n, sr, times, lambda i, room: amps[i] * body)


def _knock(rng: np.random.Generator, sr: int, n: int) -> np.ndarray:
    """Knock: groups of a few low resonant wooden thuds."""
    dur = n / sr
    f_lo, tau_lo = rng.uniform(80.0, 220.0), rng.uniform(0.015, 0.06)
    f_mid, tau_mid = rng.uniform(300.0, 900.0), rng.uniform(0.006, 0.025)
    f_hi, tau_hi = rng.uniform(1200.0, 3500.0), rng.uniform(0.002, 0.008)
    a_mid, a_hi, a_noise = rng.uniform(0.3, 1.0), rng.uniform(0.1, 0.5), rng.uniform(0.1, 0.6)
    times = []
    t = rng.uniform(0.0, min(0.15, 0.1 * dur))
    while t < dur - 0.02:
        for _ in range(int(rng.integers(1, 6))):  # 1 to 5 knocks in a group
            if t >= dur - 0.02:
                break
            times.append(t)
            t += rng.uniform(0.1, 0.28)
        t += rng.uniform(0.6, 2.5)
    m = int(0.3 * sr)
    tt = np.arange(m) / sr
    sos_noise = _sos("bandpass", (500.0, 3000.0), sr, order=2)

    def knock(i: int, room: int) -> np.ndarray:
        j = rng.uniform(0.95, 1.05, size=3)
        ev = (np.sin(2 * np.pi * f_lo * j[0] * tt) * np.exp(-tt / tau_lo)
              + a_mid * np.sin(2 * np.pi * f_mid * j[1] * tt) * np.exp(-tt / tau_mid)
              + a_hi * np.sin(2 * np.pi * f_hi * j[2] * tt) * np.exp(-tt / tau_hi))
        ev += a_noise * sps.sosfilt(sos_noise, rng.standard_normal(m)) * np.exp(-tt / 0.003)
        return rng.uniform(0.5, 1.0) * ev

    return _place(n, sr, np.array(times), knock)


def _cowbell(rng: np.random.Generator, sr: int, n: int) -> np.ndarray:
    """Cowbell: two inharmonic square-ish partials near 540 and 800 Hz, decaying, band-passed."""
    dur = n / sr
    f1 = rng.uniform(470.0, 620.0)
    f2 = f1 * rng.uniform(1.42, 1.56)
    tau_fast, tau_slow = rng.uniform(0.008, 0.03), rng.uniform(0.08, 0.4)
    m = int(min(6 * tau_slow, 2.0) * sr) + 1
    t = np.arange(m) / sr
    tone = (_odd_harmonic_square(2 * np.pi * f1 * t, f1, sr)
            + rng.uniform(0.6, 1.0) * _odd_harmonic_square(2 * np.pi * f2 * t + 1.0, f2, sr))
    for _ in range(int(rng.integers(1, 4))):  # a few weak extra inharmonic modes
        tone += rng.uniform(0.05, 0.3) * np.sin(2 * np.pi * f1 * rng.uniform(2.2, 4.5) * t)
    w = rng.uniform(0.3, 0.7)
    env = w * np.exp(-t / tau_fast) + (1 - w) * np.exp(-t / tau_slow)
    hit = _filt(tone * env, "bandpass", (350.0, rng.uniform(3000.0, 6000.0)), sr, order=2)
    times = _onsets(rng, dur, rng.uniform(0.2, 0.8), jitter=0.03, p_skip=rng.uniform(0.0, 0.3),
                    single=rng.random() < 0.3)
    amps = rng.uniform(0.6, 1.0, size=len(times))
    return _place(n, sr, times, lambda i, room: amps[i] * hit)


def _gate(rng: np.random.Generator, sr: int, n: int, pattern: list[tuple[float, bool]]) -> np.ndarray:
    """0/1 on-off cadence repeating `pattern` (seconds, on?) from an early start; 5 ms ramps."""
    gate = np.zeros(n)
    t = rng.uniform(0.0, min(0.15, 0.1 * n / sr))
    while int(t * sr) < n:
        for length, on in pattern:
            s, e = int(t * sr), int((t + length) * sr)
            if on:
                gate[s:e] = 1.0
            t += length
    a = math.exp(-1.0 / (0.005 * sr))
    return sps.lfilter([1 - a], [1, -a], gate)


def _telephone(rng: np.random.Generator, sr: int, n: int) -> np.ndarray:
    """Telephone: two-tone rings with on/off cadence, bell ringers, warbles or DTMF digits."""
    t = np.arange(n) / sr
    kind = int(rng.integers(5))
    s = rng.uniform(0.97, 1.03)
    ring = [(rng.uniform(0.8, 2.0), True), (rng.uniform(1.0, 4.0), False)]
    if kind == 0:  # North-American ring: 440 + 480 Hz
        x = (np.sin(2 * np.pi * 440 * s * t) + np.sin(2 * np.pi * 480 * s * t)) * _gate(rng, sr, n, ring)
    elif kind == 1:  # British double ring: 400 + 450 Hz, 0.4 on 0.2 off 0.4 on 2 off
        k = rng.uniform(0.85, 1.15)
        pattern = [(0.4 * k, True), (0.2 * k, False), (0.4 * k, True), (rng.uniform(1.0, 2.0), False)]
        x = (np.sin(2 * np.pi * 400 * s * t) + np.sin(2 * np.pi * 450 * s * t)) * _gate(rng, sr, n, pattern)
    elif kind == 2:  # electromechanical bell: two bells struck 18-25 times a second
        fa = rng.uniform(700.0, 1200.0)
        fb = fa * rng.uniform(1.15, 1.45)
        bell = sum(np.sin(2 * np.pi * f * r * t) / (1 + 2 * i)
                   for i, r in enumerate((1.0, 2.76)) for f in (fa, fb))
        strike = np.exp(-((t * rng.uniform(18.0, 25.0)) % 1.0) / rng.uniform(0.2, 0.5))
        x = bell * strike * _gate(rng, sr, n, ring)
    elif kind == 3:  # electronic warble: two square-ish tones alternating 10-25 times a second
        fa = rng.uniform(700.0, 1100.0)
        fb = fa * rng.uniform(1.15, 1.35)
        sel = (np.sin(2 * np.pi * rng.uniform(10.0, 25.0) * t) > 0).astype(float)
        freq = fb + (fa - fb) * sel
        x = _odd_harmonic_square(2 * np.pi * np.cumsum(freq) / sr, fb, sr, n_harm=5) * _gate(rng, sr, n, ring)
    else:  # DTMF digits: one low + one high tone per key press
        lows, highs = (697.0, 770.0, 852.0, 941.0), (1209.0, 1336.0, 1477.0)
        x = np.zeros(n)
        tk = rng.uniform(0.0, min(0.15, 0.1 * n / sr))
        while int(tk * sr) < n:
            a, b = int(tk * sr), min(n, int((tk + rng.uniform(0.07, 0.25)) * sr))
            seg = np.arange(b - a) / sr
            tone = (np.sin(2 * np.pi * lows[rng.integers(4)] * s * seg)
                    + np.sin(2 * np.pi * highs[rng.integers(3)] * s * seg))
            ramp = np.minimum(1.0, np.minimum(seg, seg[::-1]) / 0.004)
            x[a:b] = tone * ramp
            tk += (b - a) / sr + (rng.uniform(0.05, 0.2) if rng.random() < 0.8 else rng.uniform(0.4, 1.2))
    if rng.random() < 0.5:  # heard through a phone line / small loudspeaker
        drive = rng.uniform(1.0, 3.0)
        x = _filt(np.tanh(drive * x / (np.max(np.abs(x)) + 1e-12)), "bandpass", (300.0, 3400.0), sr, order=3)
    return x


def _applause(rng: np.random.Generator, sr: int, n: int) -> np.ndarray:
    """Applause: dense random claps (short band-passed noise impulses) with a slow swell."""
    dur = n / sr
    t = np.arange(n) / sr
    rate = _loguniform(rng, 40.0, 600.0)  # claps per second
    rise = rng.uniform(0.05, 0.8)
    start = rng.uniform(0.0, 1.0) if rng.random() < 0.5 else 0.0  # starts mid-applause, or builds up
    env = (start + (1 - start) * (1 - np.exp(-t / rise))) * (1 + rng.uniform(0.1, 0.4) * _slow_noise(rng, n, sr, 2.0))
    if rng.random() < 0.5:  # dies down before the end
        fall_at = rng.uniform(0.4, 0.9) * dur
        env *= np.exp(-np.maximum(0.0, t - fall_at) / rng.uniform(0.2, 1.5))
    env = np.clip(env, 0.0, None)
    hits = np.flatnonzero(rng.random(n) < rate / sr * env)
    if hits.size < 3:  # a very short clip: still a few claps
        hits = np.sort(rng.integers(0, n, size=3))
    amps = rng.lognormal(0.0, 0.5, size=hits.size)
    who = rng.integers(0, 8, size=hits.size)  # 8 "clappers", each with its own hand resonance
    m = int(0.012 * sr)
    tk = np.arange(m) / sr
    center = rng.uniform(800.0, 2500.0)
    kernels = np.empty((8, m))
    for c in range(8):  # a clap: a burst of many damped modes in a band around the clapper's fc
        fc = center * rng.uniform(0.6, 1.6)
        freqs = np.exp(rng.uniform(np.log(fc / 1.8), np.log(fc * 1.8), size=16))
        modes = np.sin(2 * np.pi * freqs[:, None] * tk + rng.uniform(0, 2 * np.pi, size=(16, 1)))
        kernels[c] = (rng.standard_normal(16) @ modes) * np.exp(-tk / rng.uniform(0.001, 0.004))
    kernels /= np.max(np.abs(kernels), axis=1, keepdims=True)
    # overlap-add of every clap at once: (hits, m) positions and values, summed by bincount
    pos = (hits[:, None] + np.arange(m)).ravel()
    x = np.bincount(pos, weights=(amps[:, None] * kernels[who]).ravel(), minlength=n + m)[:n]
    wash = _filt(rng.standard_normal(n), "bandpass", (300.0, 6000.0), sr, order=2) * env
    return x + rng.uniform(0.05, 0.3) * _rms(x) / (_rms(wash) + 1e-12) * wash


def _note_track(rng: np.random.Generator, sr: int, n: int, f_lo: float, f_hi: float,
                note_len: tuple[float, float], attack: tuple[float, float],
                rest_prob: float) -> tuple[np.ndarray, np.ndarray]:
    """A melody: per-sample fundamental (Hz) and amplitude envelope, both of shape (n,)."""
    dur = n / sr
    f0 = np.zeros(n)
    env = np.zeros(n)
    att = rng.uniform(*attack)
    pitch = _loguniform(rng, f_lo, f_hi)
    t = rng.uniform(0.0, min(0.15, 0.1 * dur))
    while t < dur:
        length = rng.uniform(*note_len)
        s, e = int(t * sr), min(n, int((t + length) * sr))
        f0[s:e] = pitch
        k = np.arange(e - s) / sr
        rel = min(0.08, 0.3 * length)
        shape = (1 - np.exp(-k / att)) * np.clip((length - k) / rel, 0.0, 1.0)
        env[s:e] = rng.uniform(0.6, 1.0) * shape * (1 + rng.uniform(-0.3, 0.3) * k / max(length, 1e-3))
        t += length + (rng.uniform(0.05, 0.3) if rng.random() < rest_prob else 0.0)
        step = int(rng.choice([-7, -5, -4, -3, -2, -1, 1, 2, 3, 4, 5, 7]))
        nxt = pitch * 2.0 ** (step / 12)
        pitch = nxt if f_lo <= nxt <= f_hi else pitch * 2.0 ** (-step / 12)
    # hold the pitch through rests, then glide between notes (one-pole on log-frequency)
    idx = np.maximum.accumulate(np.where(f0 > 0, np.arange(n), 0))
    f0 = f0[idx]
    f0[f0 == 0] = f0[np.flatnonzero(f0)[0]] if np.any(f0) else pitch
    a = math.exp(-1.0 / (rng.uniform(0.01, 0.04) * sr))
    logf = np.log(f0)
    logf = sps.lfilter([1 - a], [1, -a], logf, zi=[a * logf[0]])[0]
    return np.exp(logf), env


def _harmonics(f_inst: np.ndarray, amps: np.ndarray, sr: int, rng: np.random.Generator,
               cutoff: float) -> np.ndarray:
    """Sum of partials k * f_inst with amplitudes `amps`, each faded out above `cutoff` Hz."""
    phase = 2 * np.pi * np.cumsum(f_inst) / sr
    z1 = np.exp(1j * phase)
    zk = np.ones_like(z1)
    x = np.zeros_like(f_inst)
    f_min, f_max = float(np.min(f_inst)), float(np.max(f_inst))
    for k, a in enumerate(amps, start=1):
        if k * f_min >= cutoff:
            break
        zk *= z1  # exp(1j * k * phase), by recurrence: much cheaper than k calls to sin
        phi = rng.uniform(0, 2 * np.pi)
        partial = zk.imag * (a * math.cos(phi)) + zk.real * (a * math.sin(phi))  # a sin(k phase + phi)
        if k * f_max > cutoff - 500.0:
            partial *= np.clip((cutoff - k * f_inst) / 500.0, 0.0, 1.0)
        x += partial
    return x


def _flute(rng: np.random.Generator, sr: int, n: int) -> np.ndarray:
    """Flute: strong fundamental, few weak partials, light fast vibrato, breath noise."""
    t = np.arange(n) / sr
    f0, env = _note_track(rng, sr, n, 260.0, 1400.0, (0.25, 1.5), (0.02, 0.08), 0.35)
    rate, depth = rng.uniform(4.5, 7.0), rng.uniform(0.002, 0.01)
    vib = np.sin(2 * np.pi * rate * t + rng.uniform(0, 2 * np.pi))
    f_inst = f0 * (1 + depth * vib + 0.002 * _slow_noise(rng, n, sr, 3.0))
    amps = np.array([1.0, _db(-rng.uniform(8, 18)), _db(-rng.uniform(16, 28)),
                     _db(-rng.uniform(22, 36)), _db(-rng.uniform(30, 45))])
    tone = _harmonics(f_inst, amps, sr, rng, min(0.45 * sr, 12000.0))
    tone *= env * (1 + rng.uniform(0.05, 0.2) * vib)  # flute vibrato is partly loudness
    breath = _filt(rng.standard_normal(n), "bandpass", (rng.uniform(800, 2500), rng.uniform(5000, 10000)), sr, order=2)
    breath *= np.sqrt(env)  # louder at the onsets than the tone
    return tone + _db(-rng.uniform(16, 30)) * _rms(tone) / (_rms(breath) + 1e-12) * breath


def _violin(rng: np.random.Generator, sr: int, n: int) -> np.ndarray:
    """Violin: rich sawtooth-like partials, body resonances, slower wider vibrato, bow noise."""
    t = np.arange(n) / sr
    f0, env = _note_track(rng, sr, n, 196.0, 1050.0, (0.2, 2.0), (0.04, 0.15), 0.2)
    rate, depth = rng.uniform(4.0, 6.0), rng.uniform(0.008, 0.025)
    vib = np.sin(2 * np.pi * rate * t + rng.uniform(0, 2 * np.pi))
    f_inst = f0 * (1 + depth * vib + 0.002 * _slow_noise(rng, n, sr, 3.0))
    k = np.arange(1, 41)
    amps = k ** -rng.uniform(0.8, 1.2) * _db(rng.uniform(-3, 3, size=k.size))
    raw = _harmonics(f_inst, amps, sr, rng, min(0.45 * sr, 10000.0)) * env
    x = 0.3 * raw
    for lo, hi in ((250, 320), (420, 520), (900, 1200), (2200, 3200)):  # body and bridge modes
        fc = rng.uniform(lo, hi)
        x += rng.uniform(0.5, 1.5) * _filt(raw, "bandpass", (fc / 1.25, fc * 1.25), sr, order=2)
    x = _filt(x, "lowpass", rng.uniform(5000.0, 9000.0), sr, order=4)
    bow = _filt(rng.standard_normal(n), "bandpass", (1500.0, 8000.0), sr, order=2)
    bow *= env * (1 + 0.5 * _slow_noise(rng, n, sr, 4.0))
    return x + _db(-rng.uniform(22, 32)) * _rms(x) / (_rms(bow) + 1e-12) * bow


_RECIPES: dict[str, Callable[[np.random.Generator, int, int], np.ndarray]] = {
    "Applause": _applause,
    "Bass_drum": _bass_drum,
    "Cowbell": _cowbell,
    "Flute": _flute,
    "Hi-hat": _hihat,
    "Knock": _knock,
    "Telephone": _telephone,
    "Violin_or_fiddle": _violin,
}

# Median duration (s) per label: percussion short, sustained sounds longer, as in FSDKaggle2018.
_MEDIAN_DURATION = {
    "Applause": 3.5, "Bass_drum": 1.3, "Cowbell": 1.3, "Flute": 3.0, "Hi-hat": 1.1,
    "Knock": 1.6, "Telephone": 3.0, "Violin_or_fiddle": 3.0,
}


# ----------------------------------------------------------------------------------------------
# Room, background and level: shared by all labels
# ----------------------------------------------------------------------------------------------

def _draw_duration(label: str, rng: np.random.Generator) -> float:
    d = _MEDIAN_DURATION[label] * math.exp(0.8 * rng.standard_normal())
    if d < 0.3:  # spread the tails over the ends of the range instead of piling them up
        d = rng.uniform(0.3, 0.5)
    elif d > 10.0:
        d = rng.uniform(6.0, 10.0)
    return float(d)


def _background(rng: np.random.Generator, sr: int, n: int) -> np.ndarray:
    """Background noise of unit RMS: coloured (white to brown) noise, sometimes mains hum."""
    m = sp_fft.next_fast_len(n, real=True)
    spec = sp_fft.rfft(rng.standard_normal(m))
    f = np.maximum(sp_fft.rfftfreq(m, 1.0 / sr), 20.0)
    spec *= (f / 1000.0) ** (-rng.uniform(0.3, 2.0) / 2)
    noise = sp_fft.irfft(spec, m)[:n]
    noise *= 1 + rng.uniform(0.0, 0.4) * _slow_noise(rng, n, sr, 1.0)
    noise /= _rms(noise) + 1e-12
    if rng.random() < 0.2:
        t = np.arange(n) / sr
        mains = 50.0 if rng.random() < 0.5 else 60.0
        hum = sum(np.sin(2 * np.pi * mains * h * t + rng.uniform(0, 2 * np.pi)) / h for h in (1, 2, 3, 5))
        noise += rng.uniform(0.3, 1.0) * hum / _rms(hum)
        noise /= _rms(noise)
    return noise


def _reverb(rng: np.random.Generator, sr: int, x: np.ndarray) -> np.ndarray:
    """Add a synthetic room: exponentially decaying noise tail (RT60 0.15-0.9 s)."""
    rt60 = rng.uniform(0.15, 0.9)
    m = int(rt60 * sr)
    tt = np.arange(m) / sr
    ir = _filt(rng.standard_normal(m), "lowpass", rng.uniform(3000.0, 10000.0), sr, order=2)
    ir *= np.exp(-6.9 * tt / rt60)
    ir[: int(0.005 * sr)] = 0.0  # early gap before the diffuse tail
    wet = sps.oaconvolve(x, ir)[: x.size]
    return x + rng.uniform(0.1, 0.5) * _rms(x) / (_rms(wet) + 1e-12) * wet


def _check_label(label) -> str:
    if not isinstance(label, str) or label not in _RECIPES:
        raise ParameterError(
            f"label must be one of {', '.join(_RECIPES)}; got {label!r}"
        )
    return label


def synthesize_clip(label: str, rng: np.random.Generator, sr: int = MINI_SR, *,
                    duration: float | None = None) -> np.ndarray:
    """Synthesize one clip of `label`.

    The sound follows the label's recipe (see the module docstring), with random pitch, timing,
    length, room reverberation, level and background noise drawn from `rng`, so every call
    gives a different clip of the same class.

    Parameters
    ----------
    label : str
        One of :data:`MINI_LABELS`.
    rng : numpy.random.Generator
        Source of all randomness; the same generator state gives the same clip.
    sr : int
        Sampling rate in Hz, 16000 to 192000. Default :data:`MINI_SR` (44,100 Hz).
    duration : float or None
        Length in seconds, 0.3 to 30. ``None`` (default) draws one from a label-dependent
        log-normal distribution clipped to [0.3, 10] s (median about 1 s for percussion, 2.5-3 s
        for sustained sounds).

    Returns
    -------
    numpy.ndarray
        Mono signal, dtype ``float32``, shape ``(n_samples,)`` with
        ``n_samples = round(duration * sr)``. Values lie in [-0.99, 0.99]; the peak is between
        about -30 and -1 dBFS.

    Raises
    ------
    ParameterError
        `label` is unknown (the message lists the known labels), `rng` is not a
        :class:`numpy.random.Generator`, or `sr` or `duration` is out of range.

    Examples
    --------
    >>> y = synthesize_clip("Flute", np.random.default_rng(0))
    >>> y.dtype, y.ndim, float(np.abs(y).max()) <= 0.99
    (dtype('float32'), 1, True)
    """
    _check_label(label)
    if not isinstance(rng, np.random.Generator):
        raise ParameterError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    sr = check_int("sr", sr, _MIN_SR, _MAX_SR)
    if duration is None:
        duration = _draw_duration(label, rng)
    else:
        try:
            duration = float(duration)
        except (TypeError, ValueError):
            raise ParameterError(f"duration must be a number of seconds or None, got {duration!r}") from None
        if not _MIN_DURATION <= duration <= _MAX_DURATION:
            raise ParameterError(
                f"duration must be between {_MIN_DURATION} and {_MAX_DURATION} s, got {duration}"
            )
    n = max(1, int(round(duration * sr)))

    x = _RECIPES[label](rng, sr, n)
    if rng.random() < 0.5:
        x = _reverb(rng, sr, x)
    x /= _rms(x) + 1e-12
    if rng.random() < 0.12:  # a faint sound of another label somewhere in the clip
        other = list(_RECIPES)[int(rng.integers(len(_RECIPES)))]
        if other != label:
            m = min(n, int(rng.uniform(0.3, 1.5) * sr))
            ev = _RECIPES[other](rng, sr, m)
            ev *= _db(-rng.uniform(14.0, 24.0)) / (_rms(ev) + 1e-12)
            s = int(rng.integers(0, n - m + 1))
            x[s:s + m] += ev
    snr_db = rng.uniform(10.0, 40.0)
    y = x + _db(-snr_db) * _background(rng, sr, n)
    fade = min(n // 2, int(0.002 * sr))
    if fade > 0:
        ramp = np.linspace(0.0, 1.0, fade, endpoint=False)
        y[:fade] *= ramp
        y[n - fade:] *= ramp[::-1]
    peak = float(np.max(np.abs(y)))
    target = _db(rng.uniform(-30.0, -1.0))
    y = y * (target / peak) if peak > 0 else y
    return np.clip(y, -PEAK_LIMIT, PEAK_LIMIT).astype(np.float32)
