"""Do the explanations point at the right place? Known-answer clips with distractors (issue 30, item 3).

The clips
---------
Two labels, ``low`` and ``high``, differ only by a tone burst at 500 Hz or 2 kHz, 0.5 to 1.5 s long,
placed anywhere in 4 s of reddish noise (white noise through a one-pole low-pass, plus a little
white, its level random over 20 dB), with distractors that both labels have: 2 to 5 clicks (3 ms
decaying noise bursts, as loud as the burst) and a 1 kHz "decoy" tone burst of 0.5 to 1.5 s at a
random time. Tones are scaled by the height of librosa's Slaney mel filter at their frequency (the
filters shrink as they widen), so that no grey level but the burst's place tells the labels apart.
The held-out clips put the burst's centre evenly over the whole clip (jittered), from flush with the
start to flush with the end, so a map stuck in the middle fails.

What is measured
----------------
A run is trained from scratch with a recipe's defaults (``quick``: ResNet-18, 48 px, 1 s crops, 15
epochs; ``full``: ResNet-34, 128 px, 4 s crops, 30 epochs, SpecAugment, mixup) on the training
clips; :func:`audiospec_utils.explain.explanation.explain_clip` explains each held-out clip for its true label
with each method asked for, and per method:

* ``time``: share of clips whose map's centre of mass in time is within 0.5 s of the burst's centre;
* ``freq``: share whose centre in Hz (along the mel rows) is within a factor 2 of the tone;
* ``energy``: share whose explained sound (:func:`~audiospec_utils.explain.explanation.explained_audio`) holds a
  larger share of its energy inside the burst than the clip does;
* ``seam``: mean absolute difference between adjacent frames of the map (averaged over rows) at the
  frames where a window starts or ends, divided by the same inside windows, pooled over the clips
  (1: no seam; the issue's target is at most 1.5).

Usage::

    python bench/explain_known_answer.py [--recipe quick] [--seed 0] [--n-train 100] [--n-held 40]
        [--method gradcam occlusion] [--work DIR] [--out result.json]

Prints (and with ``--out`` writes) one JSON object: the machine, the settings, the held-out accuracy
and the figures of each method. The generator (:func:`known_answer_clip`, :func:`make_clips`) is
imported by ``tests/test_explain.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

SECONDS = 4.0
TONES = {"low": 500.0, "high": 2000.0}
DECOY = 1000.0
BURSTS = (0.5, 1.5)        # shortest and longest burst, seconds


# ----------------------------------------------------------------------------------------------
# The clips


def _mel_height(sr: int, freq: float, params=None) -> float:
    """Peak height of librosa's Slaney mel filters of `params` (default: the default render) at `freq`."""
    from audiospec_utils.features import SpectrogramParams
    from audiospec_utils.features.kinds import mel_basis

    r = (params or SpectrogramParams(sr=sr)).resolve(sr)
    basis = mel_basis(sr, r["n_fft"], r["n_mels"], r["fmin"], r["fmax"])
    return float(basis[:, int(round(freq * r["n_fft"] / sr))].max())


def tone_gain(sr: int, freq: float, params=None) -> float:
    """Amplitude factor giving a tone at `freq` the same peak mel power as one at 500 Hz."""
    return float(np.sqrt(_mel_height(sr, TONES["low"], params) / _mel_height(sr, freq, params)))


def _burst(sr: int, freq: float, seconds: float, amp: float, phase: float, params=None) -> np.ndarray:
    t = np.arange(int(round(seconds * sr))) / sr
    env = np.minimum(1.0, np.minimum(t, seconds - t) / 0.01)          # 10 ms ramps
    return amp * tone_gain(sr, freq, params) * env * np.sin(2 * np.pi * freq * t + phase)


def known_answer_clip(rng, label: str, *, sr: int = 22050, centre: float | None = None,
                      burst: float | None = None, seconds: float = SECONDS, params=None):
    """One clip of `label` (``"low"``, ``"high"``) with clicks and a decoy.

    Parameters
    ----------
    rng : numpy.random.Generator
    label : {"low", "high"}
    sr : int
        Sample rate in Hz.
    centre : float or None
        The burst's centre in seconds; default uniform over the clip (the burst inside it).
    burst : float or None
        The burst's length in seconds; default uniform in 0.5 to 1.5 s.
    seconds : float
        The clip's length.
    params : SpectrogramParams or None
        The render the tones are levelled for (mel filter heights); default the default render at `sr`.

    Returns
    -------
    y : np.ndarray, float32, shape (round(seconds * sr),)
    meta : dict
        ``label``, ``freq`` (Hz), ``centre`` and ``burst`` (s), ``decoy`` (its centre, s), ``clicks``
        (their times, s).
    """
    n = int(round(seconds * sr))
    burst = float(rng.uniform(*BURSTS)) if burst is None else float(burst)
    if centre is None:
        centre = float(rng.uniform(burst / 2, seconds - burst / 2))
    from scipy.signal import lfilter

    white = rng.standard_normal(n + sr // 10)
    red = lfilter([1.0], [1.0, -0.97], white)[sr // 10:]              # one-pole low-pass: -6 dB/octave above ~100 Hz
    noise = red / red.std() + 0.05 * white[sr // 10:]
    y = (0.1 * 10 ** -rng.uniform(0, 1)) * noise / noise.std()
    amp = float(rng.uniform(0.15, 0.3))
    # the decoy (1 kHz, both labels), then the label's burst
    d_len = float(rng.uniform(*BURSTS))
    d_centre = float(rng.uniform(d_len / 2, seconds - d_len / 2))
    for f, c, length in ((DECOY, d_centre, d_len), (TONES[label], centre, burst)):
        b = _burst(sr, f, length, amp, float(rng.uniform(0, 2 * np.pi)), params)
        s0 = int(round((c - length / 2) * sr))
        s0 = min(max(0, s0), n - len(b))
        y[s0:s0 + len(b)] += b
    clicks = np.sort(rng.uniform(0.0, seconds - 0.01, int(rng.integers(2, 6))))
    k = int(0.003 * sr)
    for t0 in clicks:
        s0 = int(t0 * sr)
        y[s0:s0 + k] += amp * 5.0 * rng.standard_normal(k) * np.exp(-np.arange(k) / (k / 4))
    y = np.clip(y, -1.0, 1.0).astype(np.float32)
    return y, {"label": label, "freq": TONES[label], "centre": float(centre), "burst": burst,
               "decoy": d_centre, "clicks": [float(c) for c in clicks]}


def make_clips(root, *, n_train: int, n_held: int, seed: int, sr: int = 22050, params=None):
    """Training clips in ``root/data/<label>/`` and held-out clips in ``root/held/``.

    Parameters
    ----------
    root : pathlib.Path
    n_train : int
        Training clips per label.
    n_held : int
        Held-out clips per label; their burst centres spread evenly over the clip (jittered within
        their share), lengths cycling through 0.5, 1.0 and 1.5 s, so that bursts flush with either
        end are among them.
    seed : int
    sr : int
    params : SpectrogramParams or None
        See :func:`known_answer_clip`.

    Returns
    -------
    list of SimpleNamespace
        The held-out clips: ``path``, ``label``, ``freq``, ``centre``, ``burst``, ``decoy``, ``clicks``.
    """
    import soundfile as sf

    rng = np.random.default_rng(seed)
    held = []
    for label in TONES:
        (root / "data" / label).mkdir(parents=True, exist_ok=True)
        (root / "held").mkdir(parents=True, exist_ok=True)
        for i in range(n_train):
            y, _ = known_answer_clip(rng, label, sr=sr, params=params)
            sf.write(root / "data" / label / f"{label}{i:03d}.wav", y, sr)
        for i in range(n_held):
            length = (0.5, 1.0, 1.5)[i % 3]
            lo, hi = length / 2, SECONDS - length / 2
            if i == 0:
                centre = lo                                            # flush with the start
            elif i == n_held - 1:
                centre = hi                                            # flush with the end
            else:
                edges = np.linspace(lo, hi, n_held + 1)
                centre = float(rng.uniform(edges[i], edges[i + 1]))
            y, meta = known_answer_clip(rng, label, sr=sr, centre=centre, burst=length, params=params)
            path = root / "held" / f"{label}{i:03d}.wav"
            sf.write(path, y, sr)
            held.append(SimpleNamespace(path=path, **meta))
    (root / "held.json").write_text(json.dumps([{**vars(h), "path": str(h.path)} for h in held]))
    return held


def load_held(root) -> list:
    """The held-out clips written by :func:`make_clips` in `root` (``held.json``)."""
    rows = json.loads((Path(root) / "held.json").read_text())
    return [SimpleNamespace(**{**h, "path": Path(h["path"])}) for h in rows]


# ----------------------------------------------------------------------------------------------
# The criteria


def burst_share(y: np.ndarray, sr: int, centre: float, burst: float) -> float:
    """Share of the energy of `y` inside the burst ``[centre - burst/2, centre + burst/2]``."""
    a, b = max(0, int((centre - burst / 2) * sr)), int((centre + burst / 2) * sr)
    y = y.astype(np.float64)
    total = float(np.sum(y ** 2))
    return float(np.sum(y[a:b] ** 2) / total) if total > 0 else 0.0


def window_edges(n_frames: int, length: int, overlap: float = 0.5) -> np.ndarray:
    """Frames where a window of the windows' layout starts or ends inside a map of `n_frames` frames."""
    from audiospec_utils.learn.crops import window_starts

    starts = window_starts(n_frames, length, overlap)
    edges = set(int(s) for s in starts) | set(int(s) + length for s in starts)
    return np.array(sorted(e for e in edges if 0 < e < n_frames), dtype=np.int64)


def seam_jumps(cam: np.ndarray, edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Jumps of a map between adjacent frames (mean over rows): (at window edges, inside windows).

    The jump "at" edge ``e`` is between frames ``e - 1`` and ``e``.
    """
    d = np.abs(np.diff(np.asarray(cam, np.float64), axis=1)).mean(axis=0)   # d[i]: frames i -> i + 1
    at = np.zeros(len(d), bool)
    at[edges - 1] = True
    return d[at], d[~at]


def criteria(explanations, held, length: int | None) -> dict:
    """The four figures of a method on the held-out clips (see the module docstring)."""
    from audiospec_utils.explain.explanation import explained_audio, map_stats

    t_ok, f_ok, e_ok, at, inside, centres = [], [], [], [], [], []
    for e, h in zip(explanations, held):
        s = map_stats(e.cam, e.times, e.freqs)
        t_ok.append(s["centre_s"] is not None and abs(s["centre_s"] - h.centre) <= 0.5)
        f_ok.append(s["centre_hz"] is not None and h.freq / 2 <= s["centre_hz"] <= 2 * h.freq)
        heard = explained_audio(e.y, e.sr, e.cam, e.params)
        e_ok.append(burst_share(heard, e.sr, h.centre, h.burst) > burst_share(e.y, e.sr, h.centre, h.burst))
        centres.append([round(h.centre, 2), None if s["centre_s"] is None else round(s["centre_s"], 2)])
        if length is not None and e.cam.shape[1] > length:
            a, b = seam_jumps(e.cam, window_edges(e.cam.shape[1], length))
            at.append(a)
            inside.append(b)
    seam = None
    if at:
        seam = float(np.concatenate(at).mean() / max(np.concatenate(inside).mean(), 1e-12))
    return {"n": len(held), "time": float(np.mean(t_ok)), "freq": float(np.mean(f_ok)),
            "energy": float(np.mean(e_ok)), "seam": seam, "centres": centres}


# ----------------------------------------------------------------------------------------------
# Running it


def machine() -> dict:
    """The CPU, its cores and its vector instructions, and the library versions."""
    import torch

    name, flags = platform.processor() or platform.machine(), set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and name in ("", platform.machine(), platform.processor()):
                name = line.split(":", 1)[1].strip()
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    simd = [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16") if f in flags]
    return {"cpu": name, "cores": os.cpu_count(), "simd": simd, "torch": torch.__version__,
            "python": platform.python_version()}


def parse_method(spec: str) -> tuple[str, dict]:
    """``"gradcam"``, ``"occlusion"`` or ``"NAME:key=value,key=value"`` -> (method, options)."""
    method, _, rest = spec.partition(":")
    opts = {}
    for kv in filter(None, re.split(r",(?![^\[]*\])", rest)):     # commas inside [...] belong to the value
        k, _, v = kv.partition("=")
        try:
            opts[k] = json.loads(v)
        except json.JSONDecodeError:
            opts[k] = v
    for k in ("patch", "stride"):
        if k in opts and isinstance(opts[k], list):
            opts[k] = tuple(opts[k])
    return method, opts


def train(root: Path, recipe: str, seed: int, **overrides):
    """Render ``root/data`` with the default parameters and train a run with `recipe`'s defaults."""
    from audiospec_utils.learn import Run
    from audiospec_utils.features.render import render_spectrograms
    from audiospec_utils.features import SpectrogramParams
    from audiospec_utils.learn.train import train_classifier

    render_spectrograms(root / "data", root / "specs", SpectrogramParams(), n_jobs=1, progress=False)
    train_classifier(root / "specs", root / "run", recipe=recipe, pretrained=False, progress=False, seed=seed,
                     **overrides)
    return Run(root / "run")


_SHARED = {"key": None, "maps": {}}


def share_window_maps() -> bool:
    """Compute each clip's window maps once for specs that differ only in how windows are combined.

    Wraps :func:`audiospec_utils.explain.explanation._window_maps` (where it exists) in a cache keyed by the clip
    and the method's options other than ``evidence`` and ``taper``: occlusion is costly, and the
    combinations compared then see the very same window maps. Returns whether it could.
    """
    from audiospec_utils.explain import explanation as explain

    if not hasattr(explain, "_window_maps") or getattr(explain._window_maps, "shared", False):
        return hasattr(explain, "_window_maps")
    inner = explain._window_maps

    def cached(*args, **kwargs):
        key = _SHARED["key"]
        if key is None:
            return inner(*args, **kwargs)
        if key not in _SHARED["maps"]:
            _SHARED["maps"][key] = inner(*args, **kwargs)
        return _SHARED["maps"][key]

    cached.shared = True
    explain._window_maps = cached
    return True


def evaluate(run, learn, held, methods, *, share: bool = False) -> dict:
    """Held-out accuracy, and the criteria of each method (``{spec: figures}``)."""
    from audiospec_utils.explain.explanation import explain_clip
    from audiospec_utils.infer.predict import predict_files

    share = share and share_window_maps()

    preds = predict_files(run, [h.path for h in held], learn=learn, k=1)
    acc = float(np.mean([p["top"][0]["label"] == h.label for p, h in zip(preds, held)]))
    length = int(learn.dls.config["length"])
    out = {"accuracy": acc, "window_frames": length, "methods": {}}
    for spec in methods:
        method, opts = parse_method(spec)
        if "layer" in opts and isinstance(opts["layer"], str) and not _knows_layer_names():
            opts["layer"] = _resnet_stage(learn.model, opts["layer"])
        t0 = time.perf_counter()
        expls = []
        for h in held:
            combo = {k: v for k, v in opts.items() if k not in ("evidence", "taper")}
            _SHARED["key"] = (str(h.path), method, repr(sorted(combo.items()))) if share else None
            expls.append(explain_clip(run, h.path, label=h.label, method=method, learn=learn, **opts))
        _SHARED["key"] = None
        secs = time.perf_counter() - t0
        fig = criteria(expls, held, length)
        fig["seconds_per_clip"] = round(secs / max(1, len(held)), 3)
        out["methods"][spec] = fig
        print(f"{spec}: {json.dumps({k: v for k, v in fig.items() if k != 'centres'})}", file=sys.stderr, flush=True)
    return out


def _knows_layer_names() -> bool:
    """Whether this version of explain_clip takes a stage's name for `layer` (it did not before issue 30)."""
    from audiospec_utils.explain import methods as explain_methods

    return hasattr(explain_methods, "resolve_layer")


def _resnet_stage(model, name: str):
    """``layer1`` to ``layer4`` of a fastai ResNet body (``model[0][4..7]``)."""
    return model[0][{"layer1": 4, "layer2": 5, "layer3": 6, "layer4": 7}[name]]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--recipe", default="quick", choices=["quick", "full"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--n-train", type=int, default=50, help="training clips per label")
    ap.add_argument("--n-held", type=int, default=20, help="held-out clips per label")
    ap.add_argument("--sr", type=int, default=22050)
    ap.add_argument("--epochs", type=int, default=None, help="default: the recipe's")
    ap.add_argument("--crop-seconds", type=float, default=None,
                    help="training crop and window in seconds (default: the recipe's choice; for these 4 s clips "
                         "of one burst, `quick` takes the whole clip averaged to 1 s of columns)")
    ap.add_argument("--method", nargs="+", default=["gradcam", "occlusion"],
                    help="one or more of gradcam, occlusion, or NAME:key=value,... (options of explain_clip)")
    # the spelling before issue 28 (the command line's one vocabulary), kept one release
    ap.add_argument("--methods", nargs="+", dest="method", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    ap.add_argument("--share-window-maps", action="store_true",
                    help="compute each clip's window maps once for specs differing only in evidence/taper "
                         "(seconds_per_clip then counts the first spec alone)")
    ap.add_argument("--limit", type=int, default=None,
                    help="explain only this many held-out clips (every k-th, so positions stay spread)")
    ap.add_argument("--work", default=None, help="working folder (default: a temporary one)")
    ap.add_argument("--out", default=None, help="also write the JSON here")
    args = ap.parse_args(argv)
    if any(a == "--methods" or a.startswith("--methods=") for a in (sys.argv[1:] if argv is None else argv)):
        print("explain_known_answer: warning: --methods is deprecated; use --method", file=sys.stderr)

    import tempfile
    import torch

    torch.manual_seed(args.seed)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.work) if args.work else Path(tmp)
        if (root / "run" / "export.pkl").is_file():
            from audiospec_utils.learn import Run

            held = load_held(root)
            run = Run(root / "run")
        else:
            held = make_clips(root, n_train=args.n_train, n_held=args.n_held, seed=args.seed, sr=args.sr)
            run = train(root, args.recipe, args.seed, epochs=args.epochs, crop_seconds=args.crop_seconds)
        t_train = time.perf_counter() - t0
        learn = run.learner()
        if args.limit is not None and args.limit < len(held):
            held = [held[int(i)] for i in np.linspace(0, len(held) - 1, args.limit).round()]
        res = evaluate(run, learn, held, args.method, share=args.share_window_maps)
    import subprocess
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=Path(__file__).parent).stdout.strip()
    result = {"machine": machine(), "commit": commit, "recipe": args.recipe, "seed": args.seed,
              "n_train_per_label": args.n_train, "n_held_per_label": args.n_held, "sr": args.sr,
              "crop_seconds": args.crop_seconds,
              "train_seconds": round(t_train, 1), **res}
    text = json.dumps(result, indent=1)
    print(text)
    if args.out:
        Path(args.out).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
