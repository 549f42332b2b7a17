"""How fast does audiospec render spectrogram images, compared with the matplotlib way?

Generates FSDKaggle2018-like clips (44.1 kHz, 16-bit, mono WAV; durations log-normal with a median
of 5 s, clipped to 0.3-30 s, as the real set; noise, tones and clicks), then in ONE run times

(b) the project's renderer, :func:`audiospec_utils.features.render.render_spectrograms` on all clips with
    all CPU cores (worker start-up included), with the peak resident memory of the render (the
    main process and its workers, sampled every 50 ms and summed: shared library pages count once
    per process, so the figure is an over-estimate);
(a) the matplotlib figure-per-clip way, timed last (its figures must not count in (b)'s memory),
    one process, on a subset, after one warm-up clip, in three styles (``--matplotlib-style``):
    ``bare`` (``librosa.load(sr=None)``, ``melspectrogram`` + ``power_to_db``, ``specshow`` into a
    4 x 2 inch figure, axes off, ``savefig(dpi=100, bbox_inches="tight", pad_inches=0)``),
    ``blog`` (the code of the fastai blog post the course follows: ``librosa.load`` at 22,050 Hz,
    a 0.72 x 0.72 inch figure, ``savefig(dpi=400, bbox_inches="tight")``) and ``labelled``
    (matplotlib's default 6.4 x 4.8 inch figure with time/mel axes and a dB colour bar);
floor: decode + STFT alone (no mel, no dB, no image), one process: the least CPU time per clip
    that any renderer with these parameters needs, hence the most clips/s the cores allow;

and prints clips/s of each (wall clock, and per CPU-second: the second does not depend on what
else runs on the machine), the ratios b/a, the floor, and the peak RSS of (b).

Usage::

    .venv/bin/python bench/render_speed.py                        # 11,073 clips, 30 per matplotlib style
    .venv/bin/python bench/render_speed.py --n-clips 1000         # quicker
    .venv/bin/python bench/render_speed.py --n-clips 0 --peak-memory-clips 10000   # memory only

``--peak-memory-clips N`` renders N clips into a fresh folder and reports the peak RSS (to show
that memory stays flat as the dataset grows); beyond ``--distinct`` clips the files are hard links
to the distinct ones (same bytes, another clip id), which keeps the temporary folder small.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

SR = 44100


def clip_durations(n: int, seed: int = 0) -> np.ndarray:
    """Log-normal durations in s: median 5 s, sigma 0.8 (mean about 6.9 s), clipped to 0.3-30 s."""
    rng = np.random.default_rng(seed)
    return np.clip(rng.lognormal(np.log(5.0), 0.8, n), 0.3, 30.0)


def synth_clip(seconds: float, rng: np.random.Generator) -> np.ndarray:
    """Noise, a few harmonic tones and clicks under an envelope: enough for a spectrogram."""
    n = max(1, int(seconds * SR))
    t = np.arange(n, dtype=np.float32) / SR
    y = rng.normal(0, 0.02, n).astype(np.float32)
    for _ in range(int(rng.integers(1, 4))):
        f0 = rng.uniform(80, 2000)
        for h in range(1, 4):
            y += np.float32(0.2 / h) * np.sin(np.float32(2 * np.pi * f0 * h) * t)
    clicks = rng.integers(0, n, size=int(rng.integers(0, 8)))
    y[clicks] += 0.8
    env = np.minimum(1.0, np.minimum(t, t[-1] - t + 1e-3) / 0.05).astype(np.float32)
    return np.clip(y * env * np.float32(rng.uniform(0.2, 0.9)), -1, 1)


def make_clips(root: Path, n: int, distinct: int, seed: int = 0) -> "pd.DataFrame":
    """Write `n` clips (the first `distinct` generated, the others hard links to them); a clip table."""
    import pandas as pd
    import soundfile as sf
    from joblib import Parallel, delayed

    durations = clip_durations(min(n, distinct), seed)

    def write(i, seconds):
        path = root / "audio" / f"label{i % 10}" / f"clip{i:05d}.wav"
        sf.write(path, synth_clip(seconds, np.random.default_rng([seed, i])), SR, subtype="PCM_16")
        return path

    for k in range(10):
        (root / "audio" / f"label{k}").mkdir(parents=True, exist_ok=True)
    paths = Parallel(n_jobs=-1)(delayed(write)(i, s) for i, s in enumerate(durations))
    for i in range(len(paths), n):
        link = root / "audio" / f"label{i % 10}" / f"clip{i:05d}.wav"
        if not link.exists():
            os.link(paths[i % len(paths)], link)
        paths.append(link)
    return pd.DataFrame({"clip_id": [f"{p.parent.name}/{p.stem}" for p in paths], "fname": [p.name for p in paths],
                         "path": [str(p) for p in paths], "label": [p.parent.name for p in paths],
                         "split": "train"})


class PeakRSS:
    """Peak summed RSS and total CPU time of this process and all its descendants (psutil, sampled)."""

    def __init__(self, interval: float = 0.05):
        self.interval, self.peak, self.cpu_seconds, self._stop = interval, 0, 0.0, threading.Event()
        self._cpu = {}

    def _sample_once(self):
        import psutil

        me = psutil.Process()
        total = 0
        for p in [me, *me.children(recursive=True)]:
            try:
                with p.oneshot():
                    total += p.memory_info().rss
                    t = p.cpu_times()
                self._cpu[p.pid] = t.user + t.system
            except psutil.Error:
                pass
        self.peak = max(self.peak, total)

    def _sample(self):
        while not self._stop.is_set():
            self._sample_once()
            self._stop.wait(self.interval)

    def __enter__(self):
        try:
            import psutil
        except ImportError:
            self._thread = None
            self._cpu0 = time.process_time()
            return self
        me = psutil.Process()
        self._cpu0 = {p.pid: sum(p.cpu_times()[:2]) for p in [me, *me.children(recursive=True)]}
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._sample_once()  # loky keeps its workers alive: their final CPU times are still readable
            self.cpu_seconds = sum(v - self._cpu0.get(pid, 0.0) for pid, v in self._cpu.items())
        else:  # no psutil: the largest single process (self or a finished child), not the sum
            ru = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                     resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
            self.peak = ru * (1 if sys.platform == "darwin" else 1024)
            self.cpu_seconds = float("nan")


def time_renderer(table, out: Path, n_jobs: int) -> tuple[float, int, float, dict]:
    """(b): wall seconds, peak RSS in bytes, CPU seconds (all processes) and the render's summary."""
    from audiospec_utils.features.render import render_spectrograms

    with PeakRSS() as mem:
        start = time.perf_counter()
        manifest = render_spectrograms(table, out, n_jobs=n_jobs, progress=False)
        seconds = time.perf_counter() - start
    return seconds, mem.peak, mem.cpu_seconds, manifest.attrs["summary"]


#: The figure-per-clip styles timed as (a); "blog" is the code of the blog post the course follows.
MATPLOTLIB_STYLES = ("bare", "blog", "labelled")


def time_matplotlib(paths, out: Path, style: str = "bare") -> tuple[float, float]:
    """(a): seconds (wall, CPU) for the figure-per-clip way on `paths`, one process.

    ``style="bare"``: ``librosa.load(sr=None)``, a 4 x 2 inch figure, axes off, saved tight at dpi 100
    (an image for training); ``"blog"``: the code of the fastai blog post this course follows
    (``librosa.load`` at its default 22,050 Hz, a 0.72 x 0.72 inch figure without axes or frame,
    ``specshow`` with its defaults, ``savefig(dpi=400, bbox_inches="tight", pad_inches=0)``,
    ``plt.close("all")``); ``"labelled"``: matplotlib's default 6.4 x 4.8 inch figure with time/mel
    axes and a dB colour bar, dpi 100.
    """
    import matplotlib

    matplotlib.use("Agg")
    import librosa
    import librosa.display
    import matplotlib.pyplot as plt

    def one(path, png):
        if style == "blog":
            samples, sample_rate = librosa.load(path)
            fig = plt.figure(figsize=[0.72, 0.72])
            ax = fig.add_subplot(111)
            ax.axes.get_xaxis().set_visible(False)
            ax.axes.get_yaxis().set_visible(False)
            ax.set_frame_on(False)
            S = librosa.feature.melspectrogram(y=samples, sr=sample_rate)
            librosa.display.specshow(librosa.power_to_db(S, ref=np.max))
            plt.savefig(png, dpi=400, bbox_inches="tight", pad_inches=0)
            plt.close("all")
            return
        y, sr = librosa.load(path, sr=None)
        s_db = librosa.power_to_db(librosa.feature.melspectrogram(y=y, sr=sr, n_fft=2048, hop_length=512,
                                                                  n_mels=128, fmin=20), ref=np.max, top_db=80)
        if style == "bare":
            fig = plt.figure(figsize=(4, 2))
            librosa.display.specshow(s_db, sr=sr, hop_length=512, fmin=20, x_axis="time", y_axis="mel",
                                     cmap="gray")
            plt.axis("off")
            fig.savefig(png, dpi=100, bbox_inches="tight", pad_inches=0)
        else:
            fig = plt.figure()
            librosa.display.specshow(s_db, sr=sr, hop_length=512, fmin=20, x_axis="time", y_axis="mel")
            plt.colorbar(format="%+2.0f dB")
            fig.savefig(png, dpi=100)
        plt.close(fig)

    out.mkdir(parents=True, exist_ok=True)
    one(paths[0], out / "warm-up.png")  # first-call costs (caches, fonts) are not counted
    start, cpu = time.perf_counter(), time.process_time()
    for i, path in enumerate(paths):
        one(path, out / f"{i:05d}.png")
    return time.perf_counter() - start, time.process_time() - cpu


def time_stft_floor(paths) -> float:
    """CPU seconds per clip for the least any renderer must do: decode, window, one real FFT per frame.

    The renderer's own first stage and nothing after it: :func:`audiospec_utils.audio.decode.load_audio`
    and the blocks of squared STFT parts from :mod:`audiospec_utils.features` at its default
    parameters (44.1 kHz: n_fft 2048, hop_length 512); no mel projection, no dB, no image, no file
    written. One process, after one warm-up clip.
    """
    from audiospec_utils.audio.decode import load_audio
    from audiospec_utils.features import SpectrogramParams
    from audiospec_utils.features.kinds import squared_pair_blocks

    params = SpectrogramParams()

    def one(path):
        y, sr = load_audio(path)
        r = params.resolve(sr)
        for _ in squared_pair_blocks(y, r["n_fft"], r["hop_length"]):
            pass

    one(paths[0])
    cpu = time.process_time()
    for path in paths:
        one(path)
    return (time.process_time() - cpu) / len(paths)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n-clips", type=int, default=11073,
                    help="clips rendered by (b), whose peak RSS is reported too (default 11073, the size of "
                         "FSDKaggle2018; 0: skip)")
    ap.add_argument("--matplotlib-clips", type=int, default=30, help="clips rendered by (a) (default 30)")
    ap.add_argument("--matplotlib-style", choices=(*MATPLOTLIB_STYLES, "all"), default="all",
                    help="(a)'s figure: bare = 4x2 in, axes off, saved tight at dpi 100; blog = the fastai "
                         "blog post's code (22,050 Hz, 0.72x0.72 in at dpi 400); labelled = default 6.4x4.8 in "
                         "figure with axes and a dB colour bar; all = each of them, in turn (default)")
    ap.add_argument("--peak-memory-clips", type=int, default=0,
                    help="also render this many clips (e.g. 10000) and report the peak RSS (default: skip)")
    ap.add_argument("--distinct", type=int, default=2000,
                    help="distinct audio files; more clips are hard links to them (default 2000)")
    ap.add_argument("--jobs", type=int, default=-1, help="worker processes for (b) (default -1: all cores)")
    ap.add_argument("--workdir", default=None, help="where the clips and images go (default: a temporary folder)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    work = Path(args.workdir or tempfile.mkdtemp(prefix="audiospec_bench_"))
    print(f"{os.cpu_count()} CPU(s), load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} "
          f"{os.getloadavg()[2]:.2f}; working in {work}")
    try:
        n_total = max(args.n_clips, args.peak_memory_clips, args.matplotlib_clips)
        start = time.perf_counter()
        table = make_clips(work, n_total, args.distinct, args.seed)
        dur = clip_durations(max(1, min(n_total, args.distinct)), args.seed)
        print(f"generated {min(n_total, args.distinct)} distinct clips (44.1 kHz 16-bit mono; durations "
              f"median {np.median(dur):.1f} s, mean {dur.mean():.1f} s, {dur.min():.1f}-{dur.max():.1f} s) "
              f"for {n_total} clip ids in {time.perf_counter() - start:.0f} s")
        rate_b = cpu_b = None
        if args.n_clips:
            sub = table.iloc[:args.n_clips]
            seconds, peak, cpu, summary = time_renderer(sub, work / "render_b", args.jobs)
            assert summary["rendered"] == len(sub) and summary["failed"] == 0, summary
            rate_b, cpu_b = len(sub) / seconds, len(sub) / cpu
            print(f"(b) audiospec render_spectrograms, {args.jobs if args.jobs > 0 else os.cpu_count()} "
                  f"workers: {len(sub)} clips in {seconds:.1f} s = {rate_b:.0f} clips/s; "
                  f"{cpu:.1f} CPU-s = {cpu_b:.0f} clips per CPU-second; peak RSS {peak / 2**20:.0f} MiB")
        if args.peak_memory_clips:
            sub = table.iloc[:args.peak_memory_clips]
            seconds, peak, cpu, summary = time_renderer(sub, work / "render_memory", args.jobs)
            print(f"memory: {len(sub)} clips in {seconds:.1f} s ({len(sub) / seconds:.0f} clips/s), "
                  f"peak RSS {peak / 2**20:.0f} MiB")
        if args.matplotlib_clips:
            paths = list(table["path"].iloc[:args.matplotlib_clips])
            styles = MATPLOTLIB_STYLES if args.matplotlib_style == "all" else (args.matplotlib_style,)
            rates_a = {}
            for style in styles:
                seconds, cpu = time_matplotlib(paths, work / f"render_a_{style}", style)
                rate_a, cpu_a = len(paths) / seconds, len(paths) / cpu
                rates_a[style] = rate_a
                ratio = (f"; ratio b/a: {rate_b / rate_a:.0f}x (wall clock), {cpu_b / cpu_a:.0f}x (per CPU-second)"
                         if rate_b else "")
                print(f"(a) matplotlib, {style} figure, 1 process: {len(paths)} clips in {seconds:.1f} s = "
                      f"{rate_a:.1f} clips/s; {cpu_a:.1f} clips per CPU-second{ratio}")
            floor = time_stft_floor(paths)
            n_cores = args.jobs if args.jobs > 0 else os.cpu_count()
            fastest = max(rates_a, key=rates_a.get)
            best = rates_a[fastest]
            print(f"floor: decode + STFT alone (no mel, dB or image) {floor * 1000:.1f} ms of CPU per clip, so "
                  f"at most {n_cores / floor:.0f} clips/s on {n_cores} cores = {n_cores / floor / best:.0f}x the "
                  f"fastest (a) ({fastest}); 50x that (a) would need {50 * best:.0f} clips/s")
        print(f"load average now {os.getloadavg()[0]:.2f}")
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
