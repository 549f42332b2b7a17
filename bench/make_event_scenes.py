"""Build a stand-in for recordings of events from real audio: short onsets placed in 4 s of other sound.

UrbanSound8K-like recordings (a bark, a horn, a gun shot inside 4 s of street noise) are mostly
intermittent events: a crop of 1 s often holds only the background. ../shared has no such data,
so this script makes some from the real FSDKaggle2018 clips of ``../shared/data/fsdkaggle2018-subset``
(300 clips, 10 labels, 30 source recordings each):

* **events**: the strongest onsets of each clip (``librosa.onset``), each cut from 20 ms before the
  onset for a random 0.4 to 1.5 s, with a 5 ms fade-in and a 50 ms fade-out;
* **scenes**: each event placed at a random time in 4 s of background, made of a random 4 s of a
  pink noise and a random 4 s of a clip of *another* label 6 dB below it (its label is not the
  scene's), the event at a random 3 to 15 dB above the background (RMS over the event's span);
* **folds**: scenes are grouped by the event's source recording (``fsID``), spread over 5 folds
  stratified by label (scikit-learn's ``StratifiedGroupKFold``), so that no recording is on both
  sides of a split. Backgrounds come from any fold: they carry no label of the scene.

Written in the UrbanSound8K layout at 22,050 Hz (``audio/fold<k>/<fsID>-<classID>-<scene>-<n>.wav``,
``metadata/UrbanSound8K.csv``), so that the toolkit reads it as that benchmark::

    python bench/make_event_scenes.py --out /tmp/fsd_events
    audiospec render /tmp/fsd_events --out /tmp/fsd_events_specs
    python bench/recipes.py /tmp/fsd_events_specs --out /tmp/recipes_events --cv --seeds 1 2 3 --configs quick

Nothing is written into the project. The clips keep their Creative Commons licences (``license``
column of FSDKaggle2018's metadata).
"""

from __future__ import annotations

import argparse
import io
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf

from make_grouped_slices import (  # bench/ is on sys.path when this script runs
    DEFAULT_SOURCE, _clips, print_summary, recording_folds, write_clip, write_metadata)


def _pink(rng: np.random.Generator, n: int) -> np.ndarray:
    """Pink (1/f power) noise of `n` samples, unit RMS."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    f = np.arange(len(spectrum), dtype=np.float64)
    f[0] = 1.0
    y = np.fft.irfft(spectrum / np.sqrt(f), n)
    return (y / (np.sqrt(np.mean(y ** 2)) + 1e-12)).astype(np.float32)


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)) + 1e-12))


def _events(y: np.ndarray, sr: int, rng: np.random.Generator, count: int) -> list[np.ndarray]:
    """The `count` strongest onsets of `y`, each cut to a random 0.4 to 1.5 s with fades."""
    import librosa

    strength = librosa.onset.onset_strength(y=y, sr=sr)
    frames = librosa.onset.onset_detect(onset_envelope=strength, sr=sr, units="frames")
    if len(frames) == 0:
        frames = np.array([int(np.argmax(strength))])
    frames = frames[np.argsort(strength[frames])[::-1]][:count]
    out = []
    for frame in frames:
        start = max(0, int(librosa.frames_to_samples(frame)) - int(0.02 * sr))
        piece = y[start:start + int(rng.uniform(0.4, 1.5) * sr)].copy()
        if len(piece) < int(0.1 * sr):  # an onset at the very end: take the clip's last 0.25 s
            piece = y[-int(0.25 * sr):].copy()
        fade_in, fade_out = min(len(piece), int(0.005 * sr)), min(len(piece), int(0.05 * sr))
        piece[:fade_in] *= np.linspace(0, 1, fade_in, dtype=np.float32)
        piece[len(piece) - fade_out:] *= np.linspace(1, 0, fade_out, dtype=np.float32)
        out.append(piece)
    while len(out) < count:  # fewer onsets than scenes wanted: reuse them
        out.append(out[len(out) % max(1, len(frames))])
    return out


def make_event_scenes(source=DEFAULT_SOURCE, out_dir="/tmp/fsd_events", *, scenes_per_recording: int = 4,
                      scene_seconds: float = 4.0, sr: int = 22050, n_folds: int = 5, seed: int = 0) -> pd.DataFrame:
    """Write scenes of one event each in the UrbanSound8K layout.

    Parameters
    ----------
    source : path-like
        Folder with the three FSDKaggle2018 Zenodo archives.
    out_dir : path-like
        Output root: ``audio/fold<k>/<fsID>-<classID>-<scene>-0.wav`` (16-bit PCM at `sr` Hz) and
        ``metadata/UrbanSound8K.csv``.
    scenes_per_recording : int
        Scenes made from each source recording (one onset each, the strongest first).
    scene_seconds : float
        Length of a scene, seconds.
    sr : int
        Sample rate of the scenes, Hz (the clips are resampled with soxr).
    n_folds : int
        Folds, source recordings stratified by label.
    seed : int
        Seed of the events' lengths, places and levels, the backgrounds and the folds.

    Returns
    -------
    pandas.DataFrame
        The metadata written (``slice_file_name, fsID, start, end, salience, fold, classID, class``;
        ``start``/``end``: where the event lies in the scene, seconds).
    """
    import soxr

    rng = np.random.default_rng(seed)
    source, out_dir = Path(source), Path(out_dir)
    clips = _clips(source)
    labels = sorted({c[1] for c in clips})
    audio, archives = [], {}
    for _fname, _label, _fsid, _split, zip_path, member in clips:
        archive = archives.setdefault(zip_path, zipfile.ZipFile(zip_path))
        y, rate = sf.read(io.BytesIO(archive.read(member)), dtype="float32", always_2d=False)
        audio.append(soxr.resample(y, rate, sr).astype(np.float32))
    y_lab = np.array([labels.index(c[1]) for c in clips])
    fold_of = recording_folds(clips, n_folds, seed)
    n = int(round(scene_seconds * sr))
    rows = []
    for i, (_fname, label, fsid, *_rest) in enumerate(clips):
        for scene, event in enumerate(_events(audio[i], sr, rng, scenes_per_recording)):
            event = event[:n]
            other = rng.choice(np.flatnonzero(y_lab != y_lab[i]))
            bg = np.resize(audio[other], max(n, len(audio[other])))  # repeated when shorter than a scene
            start = rng.integers(0, len(bg) - n + 1)
            bg = bg[start:start + n]
            bg = _pink(rng, n) + bg / _rms(bg) * 10 ** (-6 / 20)
            at = int(rng.integers(0, n - len(event) + 1))
            snr_db = rng.uniform(3.0, 15.0)
            gain = _rms(bg[at:at + len(event)]) / _rms(event) * 10 ** (snr_db / 20)
            mix = bg.copy()
            mix[at:at + len(event)] += gain * event
            mix *= 10 ** (rng.uniform(-30, -12) / 20) / (np.max(np.abs(mix)) + 1e-12)  # random level, no clipping
            fold = fold_of[fsid]
            name = f"{fsid}-{labels.index(label)}-{scene}-0.wav"
            write_clip(out_dir, fold, name, mix.astype(np.float32), sr)
            rows.append({"slice_file_name": name, "fsID": fsid, "start": round(at / sr, 3),
                         "end": round((at + len(event)) / sr, 3), "salience": 1, "fold": fold,
                         "classID": labels.index(label), "class": label})
    return write_metadata(rows, out_dir)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--source", default=str(DEFAULT_SOURCE), help="folder with the three FSDKaggle2018 Zenodo archives")
    p.add_argument("--out", default="/tmp/fsd_events", help="output folder (UrbanSound8K layout)")
    p.add_argument("--scenes-per-recording", type=int, default=4)
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    meta = make_event_scenes(args.source, args.out, scenes_per_recording=args.scenes_per_recording,
                             n_folds=args.folds, seed=args.seed)
    print_summary(meta, "scenes", args.out)
    print(f"event {float((meta['end'] - meta['start']).mean()):.2f} s on average")


if __name__ == "__main__":
    main()
